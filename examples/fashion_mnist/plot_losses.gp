# examples/fashion_mnist/plot_losses.gp — the loss curves of every recipe on one chart.
#
# fashion_mnist_train runs it after training; by hand:
#   gnuplot -e "datafile='fashion_mnist_results/steps.csv'; outfile='losses.png'; recipes='fp32 bf16 fp8'" \
#     examples/fashion_mnist/plot_losses.gp
# steps.csv columns: recipe, step, epoch, loss, loss_smoothed (trailing mean of 50 steps),
# loss_smoothed_minus_fp32, loss_scale, skipped.
#
# Top: the smoothed training loss of every recipe (they lie on top of each
# other when mixed precision matches FP32). Bottom: each recipe's smoothed loss
# minus fp32's at the same step (every recipe sees the same batches in the same
# order, so this difference is the effect of the numerics alone).

if (!exists("datafile")) datafile = 'fashion_mnist_results/steps.csv'
if (!exists("outfile")) outfile = 'losses.png'
if (!exists("recipes")) recipes = 'fp32 bf16 fp16 fp16-noscale fp8 fp8-current fp8-block'

set terminal pngcairo size 1100,900 enhanced font 'DejaVu Sans,11'
set output outfile
set datafile separator comma
set multiplot layout 2,1 title 'Fashion-MNIST, MLP 784-256-128-10: training loss per recipe (trailing mean of 50 steps)'

set xlabel 'step'
set ylabel 'cross-entropy loss'
set logscale y
set grid xtics ytics mytics lc rgb '#dddddd'
set key top right box opaque
plot for [i=1:words(recipes)] datafile \
     using 2:(strcol(1) eq word(recipes, i) ? column(5) : NaN) \
     title word(recipes, i) with lines linewidth 2 linecolor i

unset logscale y
set ylabel 'loss minus fp32 loss (colours as above)'
unset key
plot for [i=1:words(recipes)] datafile \
     using 2:(strcol(1) eq word(recipes, i) ? column(6) : NaN) \
     title word(recipes, i) with lines linewidth 1.5 linecolor i

unset multiplot
