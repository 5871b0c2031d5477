# examples/fashion_mnist/plot_losses.gp — small multiples: one row per recipe against fp32.
#
# fashion_mnist_train runs it after training, passing every path as data (gnuplot's -c
# arguments ARG1..ARG4 are string variables, never parsed as code); by hand:
#   gnuplot -c examples/fashion_mnist/plot_losses.gp out/demo/steps.csv out/demo/epochs.csv \
#     out/demo/losses.png "fp32 bf16 fp8"
# steps.csv: recipe, step, epoch, loss, loss_smoothed (trailing mean of 50 steps), ...
# epochs.csv: recipe, epoch, train_loss, train_accuracy, test_accuracy, ...
#
# Row r: left, recipe r's smoothed training loss over fp32's (grey); middle, the difference of
# the two (recipe minus fp32: above 0 is worse); right, its test accuracy after every epoch over
# fp32's, with both final values. Every recipe sees the same batches in the same order from the
# same initial weights, so any gap between the two lines is the effect of the numerics alone.
# Every row shares the same axes, so rows compare at a glance.

stepsfile = ARGC >= 1 ? ARG1 : 'out/demo/steps.csv'
epochsfile = ARGC >= 2 ? ARG2 : 'out/demo/epochs.csv'
outfile = ARGC >= 3 ? ARG3 : 'out/demo/losses.png'
recipes = ARGC >= 4 ? ARG4 : 'fp32 bf16 fp16 fp16-noscale fp8 fp8-current fp8-block mxfp8 mxfp4 nvfp4'

set datafile separator comma
# The rows to draw: every recipe but fp32 (fp32 is the grey line of each), or fp32 alone.
has_fp32 = 0
others = ''
do for [i = 1:words(recipes)] {
  if (word(recipes, i) eq 'fp32') { has_fp32 = 1 } else { others = others . ' ' . word(recipes, i) }
}
rows = words(others) > 0 ? words(others) : 1
if (words(others) == 0) { others = 'fp32'; has_fp32 = 0 }

# Shared ranges: loss from just below its lowest smoothed value up to 1 (the first steps'
# 2.3 would squash the part that matters), log scale; accuracy over every epoch's values.
stats stepsfile using 5 skip 1 nooutput
loss_low = STATS_min * 0.92
loss_high = STATS_min < 0.9 ? 1.0 : STATS_max * 1.05
stats stepsfile using 2 skip 1 nooutput
last_step = STATS_max
# The difference's range: symmetric about 0, from every recipe's largest gap after the first
# 50 steps (the trailing mean's window).
# Without an fp32 run there is no difference to draw (column 6 is NaN): keep a default range.
gap = 0.01
if (has_fp32) {
  first_step = last_step > 200 ? 50 : 0
  undefine STATS_*
  stats stepsfile using (strcol(1) ne 'fp32' && column(2) >= first_step ? abs(column(6)) : NaN) skip 1 nooutput
  if (exists("STATS_max") && STATS_max > 0) { gap = STATS_max * 1.1 }
  # Capped, so that one recipe far off (mxfp4: about +2) does not flatten every
  # other row to a line at 0; such a recipe's row leaves the panel, and its loss
  # panel shows how far.
  if (gap > 0.1) { gap = 0.1 }
}
stats epochsfile using 5 skip 1 nooutput
accuracy_low = STATS_min - 0.1 * (STATS_max - STATS_min) - 0.002
accuracy_high = STATS_max + 0.3 * (STATS_max - STATS_min) + 0.002  # room for the labels
stats epochsfile using 2 skip 1 nooutput
last_epoch = STATS_max

height = 150 + 210 * rows
set terminal pngcairo size 1500, height enhanced font 'DejaVu Sans,10'
set output outfile
set multiplot layout rows, 3 columnsfirst downwards \
  title "Fashion-MNIST, MLP 784-256-128-10: each recipe (colour) against fp32 (grey), same seed, initial weights and batches\n{/*0.9 left: training loss, trailing mean of 50 steps (log scale); middle: that loss minus fp32's (above 0: worse than fp32); right: test accuracy after each epoch}" \
  margins 0.06, 0.98, 60.0 / height, 1.0 - 60.0 / height spacing 0.06, 0.05
set grid lc rgb '#e0e0e0'
set key top right opaque box lc rgb '#cccccc' samplen 2 font ',10'
fp32_colour = '#9a9a9a'
colours = '#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b #e377c2 #17becf #bcbd22 #393b79'

# Left column: loss.
set logscale y
set yrange [loss_low:loss_high]
set xrange [0:last_step]
set ytics (0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0)
do for [r = 1:rows] {
  name = word(others, r)
  set ylabel 'loss'
  if (r == rows) { set xlabel 'training step' } else { unset xlabel }
  set title name . (has_fp32 ? ' vs fp32' : '') . ': training loss' offset 0, -0.6
  if (has_fp32) {
    plot stepsfile skip 1 using 2:(strcol(1) eq 'fp32' ? column(5) : NaN) title 'fp32' with lines lw 4 lc rgb fp32_colour, \
         stepsfile skip 1 using 2:(strcol(1) eq name ? column(5) : NaN) title name with lines lw 1.5 lc rgb word(colours, r)
  } else {
    plot stepsfile skip 1 using 2:(strcol(1) eq name ? column(5) : NaN) title name with lines lw 1.5 lc rgb word(colours, r)
  }
}

# Middle column: the recipe's smoothed loss minus fp32's.
unset logscale y
set yrange [-gap:gap]
set ytics auto
set format y '%+.3f'
do for [r = 1:rows] {
  name = word(others, r)
  set ylabel 'loss - fp32 loss'
  if (r == rows) { set xlabel 'training step' } else { unset xlabel }
  set title name . (has_fp32 ? ' minus fp32: training loss' : ': no fp32 run to compare with') offset 0, -0.6
  plot 0 notitle with lines lw 2 lc rgb fp32_colour, \
       stepsfile skip 1 using 2:(strcol(1) eq name ? column(6) : NaN) title name with lines lw 1.2 lc rgb word(colours, r)
}

# Right column: test accuracy per epoch, with both final values.
set yrange [accuracy_low:accuracy_high]
set xrange [0.8:last_epoch + 0.2]
set xtics 1
set ytics auto
set format y '%.3f'
set key bottom right
do for [r = 1:rows] {
  name = word(others, r)
  set ylabel 'test accuracy'
  if (r == rows) { set xlabel 'epoch' } else { unset xlabel }
  set title name . (has_fp32 ? ' vs fp32' : '') . ': test accuracy' offset 0, -0.6
  if (has_fp32) {
    plot epochsfile skip 1 using 2:(strcol(1) eq 'fp32' ? column(5) : NaN) title 'fp32' with linespoints lw 4 pt 7 ps 0.8 lc rgb fp32_colour, \
         epochsfile skip 1 using 2:(strcol(1) eq name ? column(5) : NaN) title name with linespoints lw 1.5 pt 7 ps 0.6 lc rgb word(colours, r), \
         epochsfile skip 1 using 2:(strcol(1) eq 'fp32' && column(2) == last_epoch ? column(5) : NaN):(sprintf('fp32 %.4f', column(5))) \
           notitle with labels right offset -1, 1.3 tc rgb '#707070', \
         epochsfile skip 1 using 2:(strcol(1) eq name && column(2) == last_epoch ? column(5) : NaN):(sprintf('%s %.4f', name, column(5))) \
           notitle with labels right offset -1, -1.5 tc rgb word(colours, r)
  } else {
    plot epochsfile skip 1 using 2:(strcol(1) eq name ? column(5) : NaN) title name with linespoints lw 1.5 pt 7 ps 0.6 lc rgb word(colours, r)
  }
}
unset multiplot
