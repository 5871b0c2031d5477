// fashion_mnist_train — trains an MLP 784-256-128-10 on Fashion-MNIST with
// every precision recipe of mixprec and shows whether mixed precision matches
// FP32: a progress line per epoch and recipe, then the numerics report, the
// summary table, CSV files and a PNG of the loss curves.
//
//   fashion_mnist_train                       # the default demo: every recipe
//   fashion_mnist_train --quick               # one epoch on a subset, with pass/fail thresholds
//   fashion_mnist_train --recipes fp32,fp8 --epochs 5 --out results
//   fashion_mnist_train --device cuda         # the same recipes on the GPU (builds with CUDA)
//   fashion_mnist_train --device cuda --timing --hidden 4096,4096,4096 --batch 4096 --recipes bf16,fp8
//
// Run with --help for every option.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_path.hpp"
#include "idx_reader.hpp"
#include "numerics.hpp"
#include "recipes.hpp"
#include "training_setup.hpp"
#if defined(MIXPREC_FASHION_MNIST_CUDA)
#include "device_path.hpp"
#endif

#ifndef MIXPREC_FASHION_MNIST_DEFAULT_DIR
#define MIXPREC_FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#endif
#ifndef MIXPREC_FASHION_MNIST_PLOT_SCRIPT
#define MIXPREC_FASHION_MNIST_PLOT_SCRIPT "plot_losses.gp"
#endif

namespace fs = std::filesystem;
using namespace fashion_mnist;

namespace {

constexpr int exit_threshold_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_skipped = 77;  // CTest's SKIP_RETURN_CODE

struct command_line {
  std::string recipes;
  bool recipes_given = false;  // --recipes "" is an error, not "all"
  std::string data = MIXPREC_FASHION_MNIST_DEFAULT_DIR;
  std::string out = "fashion_mnist_results";
  std::string device = "cpu";
  std::string plot_script = MIXPREC_FASHION_MNIST_PLOT_SCRIPT;
  bool quick = false;
  bool check = false;
  bool skip_if_no_data = false;
  bool plot = true;
  std::size_t train_limit = 0;  // 0: all
  std::size_t test_limit = 0;
  std::size_t jobs = 0;         // 0: one per core
  std::vector<std::size_t> hidden = {256, 128};
  bool timing = false;          // --device cuda only: time training steps, no training run
  std::size_t timed_steps = 50;
  std::size_t warmup_steps = 10;
  training_options training;
  bool epochs_given = false;
  bool batch_given = false;
  bool checkpoint = false;        // --checkpoint: a checkpoint per recipe in --out after every epoch
  std::string resume;             // --resume DIR: continue from DIR's checkpoints (empty: a fresh run)
  std::size_t stop_after = 0;     // --stop-after N: stop after epoch N (0: run every epoch)
};

void print_help() {
  std::cout <<
      R"(fashion_mnist_train: an MLP 784-256-128-10 on Fashion-MNIST with every precision recipe.

Options:
  --recipes a,b,c     recipes to run (default: all): fp32, bf16, fp16, fp16-noscale,
                      fp8, fp8-current, fp8-block, mxfp8, mxfp4, nvfp4 (the last three
                      on the CPU path only; --device cuda defaults to the others)
  --epochs N          epochs per recipe (default 10; --quick: 1)
  --quick             one epoch (batch 64) on the first 12000 training and 5000 test
                      images; checks that every
                      recipe beats 0.75 test accuracy and that bf16/fp16/fp8/mxfp8 are
                      within 2 points of fp32 (mxfp4 and nvfp4: within 5), and exits 1
                      when a check fails (the CTest test)
  --check             exit 1 when a full run misses the targets (every recipe: finite
                      loss, test accuracy >= 0.88; within 0.5 points of fp32); a run
                      whose loss becomes NaN or inf exits 1 with or without --check
  --out DIR           where the CSV files and the plot go (default fashion_mnist_results)
  --data DIR          the gzip'd IDX files (default )" MIXPREC_FASHION_MNIST_DEFAULT_DIR R"()
  --device cpu|cuda   cpu: every GEMM through the CPU reference (default); cuda: the same
                      recipes on the GPU (cast kernels, cuBLASLt GEMMs, device loss scaler,
                      delayed scaling and fused optimizer; batch and hidden widths multiples
                      of 16); without a GPU it prints SKIPPED and exits 77
  --hidden a,b,...    hidden widths (default 256,128; other widths with --device cuda only)
  --timing            with --device cuda: no training run; time --steps training steps of
                      each recipe (CUDA events, after --warmup steps, synthetic data) and
                      print ms/step and the ratio to bf16
  --steps N           timed steps per recipe (default 50)
  --warmup N          untimed steps before them (default 10)
  --optimizer NAME    adamw (default) or sgd (momentum 0.9)
  --lr X              peak learning rate (default 2e-3 for adamw, 0.05 for sgd), cosine decay
  --batch N           mini-batch size (default 128)
  --seed N            seed of initialisation and shuffling (default 20240501)
  --jobs N            recipes trained at once (default: one per core)
  --report-step N     global step of the numerics report (default: last step of epoch 1)
  --train-limit N     use the first N training images (default: all 60000)
  --test-limit N      use the first N test images (default: all 10000)
  --no-plot           do not run gnuplot
  --plot-script FILE  the gnuplot script (default )" MIXPREC_FASHION_MNIST_PLOT_SCRIPT R"()
  --skip-if-no-data   exit 77 (CTest: skipped) when the data set is not installed
  --checkpoint        after every epoch, write checkpoint-RECIPE.bin into --out (CPU path):
                      optimizer, loss scaler and FP8 scale states, counters and the records
                      so far, versioned and CRC-32 checked; replaced atomically
  --resume DIR        continue each recipe from DIR/checkpoint-RECIPE.bin after its last
                      finished epoch (implies --checkpoint); the tables and CSV files equal
                      the uninterrupted run's (wall times aside). Checkpoints of a run with
                      other arguments (recipes, seed, batch, epochs, limits, optimizer, lr)
                      are rejected before any training
  --stop-after N      stop after epoch N of --epochs (the schedule stays that of --epochs),
                      with --checkpoint or --resume: an interrupted run to --resume later
)";
}

// A decimal count, digits only: std::stoull would skip leading spaces and
// wrap a sign (" -1" becomes 2^64 - 1), so every character is checked here
// and a value above `largest` is rejected, never wrapped.
std::uint64_t parse_count(const std::string& option, const std::string& text,
                          std::uint64_t largest = std::numeric_limits<std::uint64_t>::max()) {
  const bool digits_only =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  mixprec::require(digits_only, option, " expects a non-negative integer (digits only), got '", text, "'");
  std::uint64_t value = 0;
  for (char ch : text) {
    const auto digit = static_cast<std::uint64_t>(ch - '0');
    mixprec::require(value <= (largest - digit) / 10, option, " ", text, " is too large: at most ", largest);
    value = value * 10 + digit;
  }
  return value;
}

std::size_t parse_size(const std::string& option, const std::string& text, std::size_t largest) {
  return static_cast<std::size_t>(parse_count(option, text, largest));
}

// A positive finite number in C syntax ("2e-3", "0.05"); std::stof would skip
// leading spaces and accept "inf" and "nan", so the first character must be a
// digit or a point.
float parse_float(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  float value = 0;
  const bool starts_like_a_number = !text.empty() && ((text[0] >= '0' && text[0] <= '9') || text[0] == '.');
  try {
    if (starts_like_a_number) value = std::stof(text, &used);
  } catch (const std::exception&) {
    used = 0;  // out of float's range, or no number at all
  }
  mixprec::require(starts_like_a_number && used == text.size() && std::isfinite(value) && value > 0, option,
                   " expects a positive finite number, got '", text, "'");
  return value;
}

// "4096,4096,4096" -> {4096, 4096, 4096}.
std::vector<std::size_t> parse_widths(const std::string& option, const std::string& list) {
  constexpr std::size_t max_width = 65536;  // a 784 x 65536 FP32 layer is 205 MB already
  std::vector<std::size_t> widths;
  std::string::size_type start = 0;
  while (true) {
    const std::string::size_type comma = list.find(',', start);
    const std::size_t width = parse_size(
        option, list.substr(start, comma == std::string::npos ? std::string::npos : comma - start), max_width);
    mixprec::require(width >= 1, option, " ", list, ": a layer needs at least one unit");
    widths.push_back(width);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return widths;
}

// Upper bounds of the counts: far above any sensible run, low enough that
// no product of them (steps = epochs x images / batch) can overflow.
constexpr std::size_t max_epochs = 100000;
constexpr std::size_t max_images = std::size_t{1} << 32;
constexpr std::size_t max_jobs = 4096;
constexpr std::size_t max_timed_steps = 1000000;

command_line parse(int argc, char** argv) {
  command_line c;
  bool lr_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      mixprec::require(i + 1 < argc, arg, " needs a value; see --help");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      print_help();
      std::exit(0);
    } else if (arg == "--recipes") {
      c.recipes = value();
      c.recipes_given = true;
    } else if (arg == "--epochs") {
      c.training.epochs = parse_size(arg, value(), max_epochs);
      mixprec::require(c.training.epochs >= 1, "--epochs must be at least 1");
      c.epochs_given = true;
    } else if (arg == "--quick") c.quick = true;
    else if (arg == "--check") c.check = true;
    else if (arg == "--out") c.out = value();
    else if (arg == "--data") c.data = value();
    else if (arg == "--device") c.device = value();
    else if (arg == "--optimizer") c.training.optimizer.name = value();
    else if (arg == "--lr") {
      c.training.optimizer.learning_rate = parse_float(arg, value());
      lr_given = true;
    } else if (arg == "--batch") {
      c.training.batch_size = parse_size(arg, value(), max_images);
      mixprec::require(c.training.batch_size >= 1, "--batch must be at least 1");
      c.batch_given = true;
    } else if (arg == "--seed") c.training.seed = parse_count(arg, value());
    else if (arg == "--jobs") c.jobs = parse_size(arg, value(), max_jobs);
    else if (arg == "--report-step")
      c.training.report_step =
          static_cast<std::int64_t>(parse_count(arg, value(), std::numeric_limits<std::int64_t>::max()));
    else if (arg == "--train-limit") c.train_limit = parse_size(arg, value(), max_images);
    else if (arg == "--test-limit") c.test_limit = parse_size(arg, value(), max_images);
    else if (arg == "--no-plot") c.plot = false;
    else if (arg == "--plot-script") c.plot_script = value();
    else if (arg == "--skip-if-no-data") c.skip_if_no_data = true;
    else if (arg == "--hidden") c.hidden = parse_widths(arg, value());
    else if (arg == "--timing") c.timing = true;
    else if (arg == "--steps") {
      c.timed_steps = parse_size(arg, value(), max_timed_steps);
      mixprec::require(c.timed_steps >= 1, "--steps must be at least 1");
    } else if (arg == "--warmup") c.warmup_steps = parse_size(arg, value(), max_timed_steps);
    else if (arg == "--checkpoint") c.checkpoint = true;
    else if (arg == "--resume") {
      c.resume = value();
      mixprec::require(!c.resume.empty(), "--resume needs the directory of the interrupted run's checkpoints");
      c.checkpoint = true;
    } else if (arg == "--stop-after") {
      c.stop_after = parse_size(arg, value(), max_epochs);
      mixprec::require(c.stop_after >= 1, "--stop-after must be at least 1");
    } else throw mixprec::error("unknown option '" + arg + "'; see --help");
  }
  mixprec::require(c.training.optimizer.name == "adamw" || c.training.optimizer.name == "sgd", "--optimizer '",
                   c.training.optimizer.name, "' is not adamw or sgd");
  if (!lr_given && c.training.optimizer.name == "sgd") c.training.optimizer.learning_rate = 0.05f;
  mixprec::require(c.device == "cpu" || c.device == "cuda", "--device '", c.device, "' is not cpu or cuda");
  mixprec::require(c.device == "cuda" || !c.timing, "--timing measures device steps; add --device cuda");
  mixprec::require(!c.checkpoint || c.device == "cpu", "--checkpoint and --resume run on the CPU path only (",
                   "the device trainer has no checkpoint yet); drop --device cuda");
  mixprec::require(c.stop_after == 0 || c.checkpoint, "--stop-after ", c.stop_after,
                   " without --checkpoint (or --resume) would lose the run; add --checkpoint");
  if (c.quick) {
    if (!c.epochs_given) c.training.epochs = 1;
    if (!c.batch_given) c.training.batch_size = 64;
    if (c.train_limit == 0) c.train_limit = 12000;
    if (c.test_limit == 0) c.test_limit = 5000;
  }
  // The recipes against the device and the batch, before any data is read
  // (and, for --device cuda, before the GPU is probed).
  const std::vector<recipe> chosen = c.recipes_given ? parse_recipes(c.recipes) : default_recipes(c.device);
  require_runnable(chosen, c.device);
  for (const recipe& r : chosen) require_batch_fits(r, c.training.batch_size);
  return c;
}

// Creates `dir` if needed and proves it writable by creating and removing a
// probe file, so an unwritable --out fails in a second instead of after the run.
void require_writable_directory(const fs::path& dir) {
  std::error_code error;
  mixprec::require(!fs::exists(dir, error) || fs::is_directory(dir, error), "--out ", dir.string(),
                   " exists and is not a directory; pass a directory. Nothing was run");
  fs::create_directories(dir, error);
  mixprec::require(!error, "--out ", dir.string(), ": cannot create the output directory (", error.message(),
                   "); pass a writable --out DIR. Nothing was run");
  const fs::path probe = dir / ".fashion_mnist_train_write_probe";
  bool written = false;
  {
    std::ofstream out(probe);
    out << "probe\n";
    out.flush();
    written = static_cast<bool>(out);
  }
  fs::remove(probe, error);
  mixprec::require(written, "--out ", dir.string(), ": the output directory is not writable; pass a writable --out DIR. ",
                   "Nothing was run");
}

// The first `limit` images of a split (0: all of them); a limit above what
// the split holds is an error, not silently cut.
prepared_split prepare(const image_set& set, std::size_t limit, const char* option, const char* split_name,
                       const std::string& data_dir) {
  mixprec::require(limit <= set.count, option, " ", limit, " asks for more ", split_name, " images than the ",
                   set.count, " in ", data_dir, "; give at most ", set.count, " (or omit it to use all)");
  prepared_split split;
  split.count = limit == 0 ? set.count : limit;
  split.images.resize(split.count * image_size);
  for (std::size_t i = 0; i < split.images.size(); ++i) split.images[i] = static_cast<float>(set.pixels[i]) / 255.0f;
  split.labels.assign(set.labels.begin(), set.labels.begin() + static_cast<std::ptrdiff_t>(split.count));
  return split;
}

std::string percent(double fraction, int digits = 2) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << 100.0 * fraction << " %";
  return out.str();
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// "2 min 05 s", "40 s".
std::string duration_text(double seconds) {
  const auto whole = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  std::ostringstream out;
  if (whole >= 60) out << whole / 60 << " min " << std::setw(2) << std::setfill('0') << whole % 60 << " s";
  else out << whole << " s";
  return out.str();
}

std::string general(double value) {
  std::ostringstream out;
  out << std::setprecision(6) << value;
  return out.str();
}
// Most figures are floats (losses, scales, accuracies): widened exactly.
std::string general(float value) { return general(static_cast<double>(value)); }

// A plain text table: the first row is the header; columns left-aligned
// except numbers, right-aligned.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out << "| ";
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      if (c == 0) out << std::left;
      else out << std::right;
      out << std::setw(static_cast<int>(width[c])) << rows[r][c] << " | ";
    }
    out << '\n';
    if (r == 0) {
      out << '|';
      for (std::size_t c = 0; c < width.size(); ++c) out << std::string(width[c] + 2, '-') << '|';
      out << '\n';
    }
  }
  out << std::left;
}

const run_result* find(const std::vector<run_result>& results, const std::string& name) {
  for (const run_result& r : results)
    if (r.which.name == name) return &r;
  return nullptr;
}

// A full disk or a directory removed mid-run must not pass silently.
void require_written(std::ofstream& out, const fs::path& path) {
  out.flush();
  if (!out) throw mixprec::error("writing " + path.string() + " failed (disk full, or --out removed during the run?)");
}

void write_csv_files(const fs::path& dir, const std::vector<run_result>& results) {
  // Trailing mean over the last 50 steps: the curves the plot draws. Every
  // recipe sees the same batches in the same order, so the difference of the
  // smoothed curves to fp32's isolates the effect of the numerics.
  auto smooth = [](const run_result& r) {
    std::vector<double> smoothed(r.steps.size());
    double window_sum = 0;
    const std::size_t window = 50;
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
      window_sum += static_cast<double>(r.steps[i].loss);
      if (i >= window) window_sum -= static_cast<double>(r.steps[i - window].loss);
      smoothed[i] = window_sum / static_cast<double>(std::min(i + 1, window));
    }
    return smoothed;
  };
  const run_result* fp32 = find(results, "fp32");
  const std::vector<double> fp32_smoothed = fp32 != nullptr ? smooth(*fp32) : std::vector<double>();
  std::ofstream steps(dir / "steps.csv");
  steps << "recipe,step,epoch,loss,loss_smoothed,loss_smoothed_minus_fp32,loss_scale,skipped\n";
  for (const run_result& r : results) {
    const std::vector<double> smoothed = smooth(r);
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
      const step_record& s = r.steps[i];
      steps << r.which.name << ',' << s.step << ',' << s.epoch << ',' << general(s.loss) << ',' << general(smoothed[i])
            << ',' << (i < fp32_smoothed.size() ? general(smoothed[i] - fp32_smoothed[i]) : std::string("NaN")) << ','
            << general(s.loss_scale) << ',' << (s.skipped ? 1 : 0) << '\n';
    }
  }
  require_written(steps, dir / "steps.csv");
  std::ofstream epochs(dir / "epochs.csv");
  epochs << "recipe,epoch,train_loss,train_accuracy,test_accuracy,skipped_steps,loss_scale,seconds\n";
  for (const run_result& r : results)
    for (const epoch_record& e : r.epochs)
      epochs << r.which.name << ',' << e.epoch << ',' << general(e.train_loss) << ',' << general(e.train_accuracy) << ','
             << general(e.test_accuracy) << ',' << e.skipped_steps << ',' << general(e.loss_scale) << ','
             << fixed(e.seconds, 3) << '\n';
  require_written(epochs, dir / "epochs.csv");
  std::ofstream report(dir / "numerics_report.csv");
  report << "recipe,step,layer,tensor,amax,scale,format,nonzero,flushed_to_zero,subnormal,saturated\n";
  for (const run_result& r : results)
    for (const tensor_report& t : r.report)
      for (std::size_t f = 0; f < t.formats.size(); ++f) {
        const cast_census& c = t.formats[f];
        report << r.which.name << ',' << r.report_step << ',' << t.layer << ',' << t.tensor << ',' << general(t.amax) << ','
               << t.scale << ',' << report_formats()[f].name << ',' << c.nonzero << ',' << general(c.fraction(c.flushed))
               << ',' << general(c.fraction(c.subnormal)) << ',' << general(c.fraction(c.saturated)) << '\n';
      }
  // Microscaling recipes: one more line per tensor, the cast in use.
  for (const run_result& r : results)
    for (const tensor_report& t : r.report)
      if (!t.own_format.empty())
        report << r.which.name << ',' << r.report_step << ',' << t.layer << ',' << t.tensor << ',' << general(t.amax)
               << ',' << t.scale << ',' << t.own_format << ',' << t.own.nonzero << ','
               << general(t.own.fraction(t.own.flushed)) << ',' << general(t.own.fraction(t.own.subnormal)) << ','
               << general(t.own.fraction(t.own.saturated)) << '\n';
  require_written(report, dir / "numerics_report.csv");
}

std::vector<std::vector<std::string>> summary_rows(const std::vector<run_result>& results) {
  std::vector<std::vector<std::string>> rows = {{"recipe", "test accuracy", "vs fp32", "final train loss",
                                                 "skipped steps", "final loss scale", "grad -> 0 unscaled",
                                                 "s / epoch"}};
  const run_result* fp32 = find(results, "fp32");
  for (const run_result& r : results) {
    std::string versus = "-";
    if (fp32 != nullptr && &r != fp32) {
      const double points = 100.0 * (r.test_accuracy() - fp32->test_accuracy());
      versus = (points >= 0 ? "+" : "") + fixed(points, 2);
    }
    const double flushed = r.gradient_nonzero == 0 ? 0.0
                                                   : static_cast<double>(r.gradient_flushed) /
                                                         static_cast<double>(r.gradient_nonzero);
    rows.push_back({r.which.name, fixed(r.test_accuracy(), 4), versus, fixed(r.final_train_loss, 4),
                    std::to_string(r.skipped_steps),
                    r.which.loss == loss_scaling::dynamic ? general(r.final_loss_scale) : "-",
                    percent(flushed, 3) + " " + gradient_format_name(r.which), fixed(r.seconds_per_epoch(), 1)});
  }
  return rows;
}

void write_summary_csv(const fs::path& dir, const std::vector<run_result>& results) {
  std::ofstream out(dir / "summary.csv");
  out << "recipe,test_accuracy,final_train_loss,skipped_steps,final_loss_scale,gradient_format,"
         "gradient_flushed_unscaled,seconds_per_epoch\n";
  for (const run_result& r : results) {
    const double flushed = r.gradient_nonzero == 0 ? 0.0
                                                   : static_cast<double>(r.gradient_flushed) /
                                                         static_cast<double>(r.gradient_nonzero);
    out << r.which.name << ',' << general(r.test_accuracy()) << ',' << general(r.final_train_loss) << ','
        << r.skipped_steps << ',' << general(r.final_loss_scale) << ',' << gradient_format_name(r.which) << ','
        << general(flushed) << ',' << fixed(r.seconds_per_epoch(), 3) << '\n';
  }
  require_written(out, dir / "summary.csv");
}

void print_numerics_report(const run_result& r) {
  if (r.report.empty()) {
    std::cout << "\nNumerics report: " << r.which.name << ": none, step " << r.report_step << " is beyond the run's "
              << r.steps.size() << " steps (--report-step)\n";
    return;
  }
  std::cout << "\nNumerics report: " << r.which.name << ", step " << r.report_step
            << " (share of non-zero values a cast at the scale in use makes subnormal / zero / saturated)\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"tensor", "amax", "scale"};
  for (const format_limits& f : report_formats()) header.push_back(f.name + " sub/zero/sat");
  // Microscaling recipes: the cast in use, in its own format at its block scales.
  const bool own = std::any_of(r.report.begin(), r.report.end(), [](const tensor_report& t) { return !t.own_format.empty(); });
  if (own) header.push_back("in use: sub/zero/sat");
  rows.push_back(header);
  for (const tensor_report& t : r.report) {
    std::vector<std::string> row = {"L" + std::to_string(t.layer) + " " + t.tensor, general(t.amax), t.scale};
    for (const cast_census& c : t.formats) {
      auto p = [&](std::uint64_t n) { return fixed(100.0 * c.fraction(n), 1); };
      row.push_back(p(c.subnormal) + "/" + p(c.flushed) + "/" + p(c.saturated) + " %");
    }
    if (own) {
      const cast_census& c = t.own;
      auto p = [&](std::uint64_t n) { return fixed(100.0 * c.fraction(n), 1); };
      row.push_back(t.own_format.empty() ? std::string("-")
                                         : t.own_format + " " + p(c.subnormal) + "/" + p(c.flushed) + "/" +
                                               p(c.saturated) + " %");
    }
    rows.push_back(row);
  }
  print_table(std::cout, rows);
}

// Runs a program with these arguments, without a shell (so no argument is
// ever parsed as shell code), its output to /dev/null when `quiet`; returns
// whether it exited 0.
bool run_program(const std::vector<std::string>& arguments, bool quiet) {
  std::vector<char*> argv;
  for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  if (posix_spawn_file_actions_init(&actions) != 0) return false;
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  pid_t child = 0;
  const int spawned = posix_spawnp(&child, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return false;
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// gnuplot -c SCRIPT DATAFILE OUTFILE RECIPES: the paths reach the script as
// the string variables ARG1..ARG3, data that gnuplot never parses as code
// (pasting --out into a -e command would run `--out "x'; system('...'); y='"`).
void plot(const command_line& c, const fs::path& dir, const std::vector<run_result>& results) {
  if (!c.plot) return;
  if (!run_program({"gnuplot", "--version"}, true)) {
    std::cout << "plot: skipped, gnuplot is not installed (Debian: apt-get install gnuplot-nox); the data is in "
              << (dir / "steps.csv").string() << '\n';
    return;
  }
  if (!fs::exists(c.plot_script)) {
    std::cout << "plot: skipped, the gnuplot script " << c.plot_script << " is missing (--plot-script FILE)\n";
    return;
  }
  std::string names;
  for (const run_result& r : results) names += (names.empty() ? "" : " ") + r.which.name;
  const fs::path png = dir / "losses.png";
  const std::vector<std::string> command = {"gnuplot",
                                            "-c",
                                            c.plot_script,
                                            (dir / "steps.csv").string(),
                                            (dir / "epochs.csv").string(),
                                            png.string(),
                                            names};
  if (run_program(command, false)) std::cout << "plot: " << png.string() << '\n';
  else std::cout << "plot: gnuplot failed on " << c.plot_script << "; the data is in " << (dir / "steps.csv").string()
                 << '\n';
}

// The checks of --quick (always fatal) and the targets of a full run
// (fatal with --check). Returns whether everything held.
bool check_results(const command_line& c, const std::vector<run_result>& results) {
  bool ok = true;
  auto verdict = [&](bool held, const std::string& what) {
    std::cout << (held ? "  [ok]   " : "  [FAIL] ") << what << '\n';
    ok = ok && held;
  };
  const run_result* fp32 = find(results, "fp32");
  if (c.quick) {
    std::cout << "\nQuick-mode checks (fixed seed, " << c.training.epochs << " epoch on " << c.train_limit
              << " training images):\n";
    for (const run_result& r : results) {
      verdict(std::isfinite(r.final_train_loss) && r.test_accuracy() >= 0.75,
              r.which.name + ": test accuracy " + fixed(r.test_accuracy(), 4) + " >= 0.75");
      // FP4 recipes (E2M1: one mantissa bit) get 5 points after one epoch.
      const bool fp4 = r.which.name == "mxfp4" || r.which.name == "nvfp4";
      const double points = fp4 ? 5.0 : 2.0;
      if (fp32 != nullptr && &r != fp32 && r.which.name != "fp16-noscale")
        verdict(std::fabs(r.test_accuracy() - fp32->test_accuracy()) <= points / 100.0,
                r.which.name + ": within " + fixed(points, 0) + " points of fp32 (" +
                    fixed(100 * (r.test_accuracy() - fp32->test_accuracy()), 2) + " points)");
    }
    return ok;
  }
  std::cout << "\nTargets (every recipe: a finite training loss and test accuracy >= 0.88; every recipe but fp32: "
               "within 0.5 points of fp32):\n";
  for (const run_result& r : results) {
    const std::string& name = r.which.name;
    verdict(std::isfinite(r.final_train_loss), name + ": final training loss " + general(r.final_train_loss) +
                                                   " is finite");
    verdict(r.test_accuracy() >= 0.88, name + ": test accuracy " + fixed(r.test_accuracy(), 4) + " >= 0.88");
    if (fp32 != nullptr && &r != fp32)
      verdict(std::fabs(r.test_accuracy() - fp32->test_accuracy()) <= 0.005,
              name + ": within 0.5 points of fp32 (" + fixed(100 * (r.test_accuracy() - fp32->test_accuracy()), 2) +
                  " points)");
  }
  return ok;
}

// A run whose training loss became NaN or infinite has diverged (e.g. a far
// too large --lr): that fails the run with or without --check.
bool some_run_diverged(const std::vector<run_result>& results) {
  bool diverged = false;
  for (const run_result& r : results)
    if (!std::isfinite(r.final_train_loss)) {
      std::cout << "fashion_mnist_train: " << r.which.name << " diverged: its final training loss is "
                << general(r.final_train_loss) << " (lower --lr?)\n";
      diverged = true;
    }
  return diverged;
}

// {784, hidden..., 10}.
std::vector<std::size_t> layer_widths(const command_line& c) {
  std::vector<std::size_t> widths = {image_size};
  widths.insert(widths.end(), c.hidden.begin(), c.hidden.end());
  widths.push_back(class_count);
  return widths;
}

std::string where_gemms_run(const command_line& c) {
#if defined(MIXPREC_FASHION_MNIST_CUDA)
  if (c.device == "cuda") return "every GEMM through cuBLASLt on " + cuda_device_description();
#else
  (void)c;
#endif
  return "every GEMM on the CPU reference";
}

// Where --checkpoint writes recipe r's checkpoint, and --resume reads it.
fs::path checkpoint_path(const fs::path& dir, const recipe& r) { return dir / ("checkpoint-" + r.name + ".bin"); }

// Writes `bytes` to `path` through a temporary file renamed over it, so a
// run killed mid-write leaves the previous epoch's checkpoint intact.
void write_checkpoint_file(const fs::path& path, const std::vector<unsigned char>& bytes) {
  const fs::path partial = path.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    mixprec::require(static_cast<bool>(out), "writing the checkpoint ", partial.string(),
                     " failed (disk full, or --out removed during the run?)");
  }
  std::error_code error;
  fs::rename(partial, path, error);
  mixprec::require(!error, "renaming ", partial.string(), " to ", path.string(), " failed: ", error.message());
}

// --resume: recipe r's checkpoint in `dir`, parsed and fully validated
// against this run (a trainer restores it and is discarded), before any
// training.
recipe_checkpoint read_and_check_checkpoint(const command_line& c, const fs::path& dir, const recipe& r,
                                            const prepared_split& train, const prepared_split& test) {
  const fs::path path = checkpoint_path(dir, r);
  std::error_code error;
  mixprec::require(fs::is_regular_file(path, error), "--resume ", dir.string(), ": no checkpoint for recipe ", r.name,
                   " (", path.string(), " is missing; was ", r.name,
                   " in the interrupted run's --recipes, with --checkpoint?). Nothing was run");
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  mixprec::require(!in.bad(), "--resume: reading ", path.string(), " failed");
  recipe_checkpoint checkpoint = checkpoint_from_bytes(bytes, "--resume: " + path.string());
  try {
    check_checkpoint_fits(checkpoint, r, c.training, train.count, test.count);
  } catch (const mixprec::error& e) {
    throw mixprec::error("--resume: " + path.string() + ": " + e.what() + ". Nothing was run");
  }
  return checkpoint;
}

run_result train_recipe(const command_line& c, const std::vector<std::size_t>& widths, const recipe& r,
                        const prepared_split& train, const prepared_split& test, const progress_callback& progress,
                        const recipe_checkpoint* resume) {
#if defined(MIXPREC_FASHION_MNIST_CUDA)
  if (c.device == "cuda") return train_on_device(r, c.training, widths, train, test, progress);
#else
  (void)widths;
#endif
  checkpoint_hooks checkpoints;
  if (c.checkpoint) {
    const fs::path path = checkpoint_path(fs::path(c.out), r);
    checkpoints.save = [path](const std::vector<unsigned char>& bytes) { write_checkpoint_file(path, bytes); };
  }
  checkpoints.resume = resume;
  checkpoints.stop_after_epochs = c.stop_after;
  return train_on_host(r, c.training, train, test, progress, checkpoints);
}

#if defined(MIXPREC_FASHION_MNIST_CUDA)
// --timing: the step time of each recipe on the device, in one run, on
// synthetic batches (uniform pixels, uniform labels from the seed: a step's
// work does not depend on the values, and no data set is needed).
int run_timing(const command_line& c, const std::vector<std::size_t>& widths) {
  const std::vector<recipe> recipes = c.recipes_given ? parse_recipes(c.recipes) : default_recipes(c.device);
  const std::size_t batch = c.training.batch_size;
  prepared_split data;
  data.count = 4 * batch;  // four distinct batches, visited in turn
  data.images.resize(data.count * image_size);
  data.labels.resize(data.count);
  random_stream values(c.training.seed);
  for (float& pixel : data.images) pixel = values.uniform();
  for (std::uint8_t& label : data.labels) label = static_cast<std::uint8_t>(values.below(class_count));
  std::cout << "Step timing on " << cuda_device_description() << ": MLP " << describe_widths(widths) << ", batch "
            << batch << ", " << c.training.optimizer.name << ", synthetic data; " << c.warmup_steps
            << " warm-up steps, then " << c.timed_steps
            << " timed steps per recipe (CUDA events; forward, backward, loss scaling / FP8 scale updates and the "
               "optimizer step; no host synchronisation inside the timed steps)\n";
  std::vector<double> ms(recipes.size());
  for (std::size_t i = 0; i < recipes.size(); ++i) {
    ms[i] = time_device_steps(recipes[i], c.training, widths, data, c.warmup_steps, c.timed_steps);
    std::cout << "  " << std::left << std::setw(13) << recipes[i].name << fixed(ms[i], 3) << " ms/step" << std::endl;
  }
  const auto bf16 = std::find_if(recipes.begin(), recipes.end(), [](const recipe& r) { return r.name == "bf16"; });
  const double bf16_ms = bf16 != recipes.end() ? ms[static_cast<std::size_t>(bf16 - recipes.begin())] : 0.0;
  std::vector<std::vector<std::string>> rows = {{"recipe", "ms / step", "images / s", "time / bf16 time"}};
  for (std::size_t i = 0; i < recipes.size(); ++i)
    rows.push_back({recipes[i].name, fixed(ms[i], 3), fixed(1e3 * static_cast<double>(batch) / ms[i], 0),
                    bf16_ms > 0 ? fixed(ms[i] / bf16_ms, 3) : std::string("-")});
  std::cout << '\n';
  print_table(std::cout, rows);
  for (std::size_t i = 0; i < recipes.size(); ++i) {
    if (bf16_ms <= 0 || !mixprec::gemm::is_fp8(recipes[i].forward_type)) continue;
    std::cout << recipes[i].name << " / bf16 step time: " << fixed(ms[i] / bf16_ms, 3) << " (" << recipes[i].name
              << " runs " << fixed(bf16_ms / ms[i], 2) << "x as fast as bf16)\n";
  }
  if (bf16_ms <= 0) std::cout << "(add bf16 to --recipes for the FP8 / BF16 ratio)\n";
  return 0;
}
#endif

int run(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  const command_line c = parse(argc, argv);
  const std::vector<std::size_t> widths = layer_widths(c);
  if (c.device == "cpu") {
    mixprec::require(widths == default_layer_widths(), "--hidden ", describe_widths(widths),
                     ": the CPU path trains 784-256-128-10; other widths run with --device cuda");
  } else {
#if defined(MIXPREC_FASHION_MNIST_CUDA)
    const std::string problem = cuda_device_problem();
    if (!problem.empty()) {
      std::cout << "SKIPPED: no CUDA device: " << problem
                << " (--device cuda needs a GPU; --device cpu runs every recipe on the CPU reference)\n";
      return exit_skipped;
    }
    check_device_shapes(widths, c.training.batch_size);
    if (c.timing) return run_timing(c, widths);
#else
    std::cerr << "fashion_mnist_train: --device cuda: the GPU path is not available in this build (it was "
                 "configured without CUDA; reconfigure with -DMIXPREC_CUDA=ON where nvcc is installed). The demo "
                 "runs on the CPU reference only (--device cpu). Nothing was run.\n";
    return exit_usage;
#endif
  }
  const std::vector<recipe> recipes = c.recipes_given ? parse_recipes(c.recipes) : default_recipes(c.device);
  // Before the data is read or anything trained: results that cannot be
  // written must not cost a run.
  const fs::path out_dir(c.out);
  require_writable_directory(out_dir);

  if (c.skip_if_no_data && !fs::exists(fs::path(c.data) / "train-images-idx3-ubyte.gz")) {
    std::cout << "SKIPPED: Fashion-MNIST is not installed in " << c.data
              << " (Debian: apt-get install dataset-fashion-mnist, or pass --data DIR)\n";
    return exit_skipped;
  }
  const dataset data = read_dataset(c.data);
  const prepared_split train = prepare(data.train, c.train_limit, "--train-limit", "training", c.data);
  const prepared_split test = prepare(data.test, c.test_limit, "--test-limit", "test", c.data);
  mixprec::require(train.count >= c.training.batch_size, "--train-limit ", train.count,
                   " leaves less than one batch of ", c.training.batch_size);
  // The run has (images / batch) steps per epoch (the last partial batch is
  // dropped); a report step beyond them would silently report nothing.
  const std::size_t total_steps = train.count / c.training.batch_size * c.training.epochs;
  mixprec::require(c.training.report_step < 0 || static_cast<std::size_t>(c.training.report_step) < total_steps,
                   "--report-step ", c.training.report_step, " is beyond the run's ", total_steps, " steps (",
                   train.count / c.training.batch_size, " per epoch x ", c.training.epochs,
                   " epochs); give a step from 0 to ", total_steps - 1);

  mixprec::require(c.stop_after <= c.training.epochs, "--stop-after ", c.stop_after, " is beyond --epochs ",
                   c.training.epochs);
  std::vector<recipe_checkpoint> resumed;
  if (!c.resume.empty())
    for (const recipe& r : recipes) resumed.push_back(read_and_check_checkpoint(c, fs::path(c.resume), r, train, test));

  const std::size_t cores = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  // One GPU: the device path trains the recipes one after the other.
  const std::size_t jobs = c.device == "cuda" ? 1 : std::min(recipes.size(), c.jobs == 0 ? cores : c.jobs);
  std::cout << "Fashion-MNIST from " << c.data << ": " << train.count << " training, " << test.count
            << " test images; MLP " << describe_widths(widths) << ", " << c.training.optimizer.name << " lr "
            << c.training.optimizer.learning_rate
            << " (cosine), batch " << c.training.batch_size << ", " << c.training.epochs << " epoch"
            << (c.training.epochs == 1 ? "" : "s") << ", seed " << c.training.seed << "; " << recipes.size()
            << " recipes, " << jobs << " at a time; " << where_gemms_run(c) << "\n";

  std::vector<run_result> results(recipes.size());
  std::vector<std::exception_ptr> failures(recipes.size());
  // Longest first (BF16/FP16 operands cost the most to decode), so the two
  // workers finish together; results stay in the order given.
  std::vector<std::size_t> order(recipes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto is_16_bit = [&](std::size_t i) { return mixprec::gemm::size_of(recipes[i].forward_type) == 2; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return is_16_bit(a) && !is_16_bit(b); });
  std::atomic<std::size_t> next{0};
  std::mutex print_lock;
  // Time left: the epochs still to train at the rate measured so far (epochs
  // finished per wall second, over every worker), so it adapts to the
  // machine and to what else runs on it.
  // (--resume: the epochs still to train; --stop-after: up to that epoch.)
  const std::size_t last_epoch = c.stop_after != 0 ? c.stop_after : c.training.epochs;
  std::size_t total_epochs = 0;
  for (std::size_t i = 0; i < recipes.size(); ++i) {
    const std::size_t done = resumed.empty() ? 0 : static_cast<std::size_t>(resumed[i].epochs_done);
    total_epochs += last_epoch > done ? last_epoch - done : 0;
  }
  std::size_t finished_epochs = 0;
  const auto training_started = std::chrono::steady_clock::now();
  std::cout << "Training " << total_epochs << " epochs (" << recipes.size() << " recipes x " << c.training.epochs
            << (c.resume.empty() ? std::string() : ", resumed from " + c.resume) << "); a line per finished epoch "
            << "with the time left" << std::endl;
  auto progress = [&](const recipe& r, const epoch_record& e, std::size_t epochs) {
    std::lock_guard<std::mutex> lock(print_lock);
    ++finished_epochs;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - training_started).count();
    const double left = elapsed / static_cast<double>(finished_epochs) *
                        static_cast<double>(total_epochs - finished_epochs);
    std::cout << std::left << std::setw(13) << r.name << " epoch " << std::right << std::setw(2) << e.epoch << '/'
              << epochs << "  loss " << fixed(e.train_loss, 4) << "  train acc " << fixed(e.train_accuracy, 4)
              << "  test acc " << fixed(e.test_accuracy, 4) << "  loss scale " << std::setw(7)
              << (r.loss == loss_scaling::dynamic ? general(e.loss_scale) : "-") << "  skipped " << e.skipped_steps
              << "  " << fixed(e.seconds, 1) << " s  [" << finished_epochs << '/' << total_epochs << " epochs, "
              << (finished_epochs == total_epochs ? std::string("done") : "about " + duration_text(left) + " left")
              << ']' << std::endl;
  };
  auto worker = [&]() {
    for (std::size_t n = next++; n < recipes.size(); n = next++) {
      const std::size_t i = order[n];
      try {
        results[i] = train_recipe(c, widths, recipes[i], train, test, progress,
                                  resumed.empty() ? nullptr : &resumed[i]);
      } catch (...) {
        failures[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t j = 1; j < jobs; ++j) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  // A recipe that failed (an exception: a CUDA or cuBLASLt error, a shape the
  // device refuses) does not lose the others: their files, tables and checks
  // are still written, the failures are printed, and the run exits non-zero.
  std::vector<std::string> failed;
  {
    std::vector<run_result> finished;
    std::exception_ptr first_failure;
    for (std::size_t i = 0; i < recipes.size(); ++i) {
      if (!failures[i]) {
        finished.push_back(std::move(results[i]));
        continue;
      }
      if (!first_failure) first_failure = failures[i];
      try {
        std::rethrow_exception(failures[i]);
      } catch (const std::exception& e) {
        failed.push_back(recipes[i].name + ": " + e.what());
      } catch (...) {
        failed.push_back(recipes[i].name + ": an exception that is not a std::exception");
      }
    }
    if (finished.empty()) std::rethrow_exception(first_failure);  // nothing to report
    results = std::move(finished);
  }
  for (const std::string& failure : failed) std::cerr << "fashion_mnist_train: recipe " << failure << '\n';
  if (c.stop_after != 0 && c.stop_after < c.training.epochs) {
    // An interrupted run: its checkpoints are the result; the tables and
    // checks belong to the finished run.
    std::cout << "Stopped after epoch " << c.stop_after << " of " << c.training.epochs << " (--stop-after); "
              << "checkpoints in " << out_dir.string() << "; continue with --resume " << out_dir.string() << '\n';
    return failed.empty() ? 0 : exit_threshold_failed;
  }

  write_csv_files(out_dir, results);
  write_summary_csv(out_dir, results);

  if (c.device == "cuda") {
    std::cout << "\nNumerics report: computed by the CPU path only (run with --device cpu)\n";
  } else {
    for (const run_result& r : results) print_numerics_report(r);
  }

  std::cout << "\nSummary (" << c.training.epochs << " epoch" << (c.training.epochs == 1 ? "" : "s") << ", "
            << train.count << " training images, " << test.count << " test images; vs fp32: test accuracy difference "
            << "in points; grad -> 0 unscaled: share of the non-zero output gradients dY of every layer and step that "
            << "a cast to the recipe's gradient format would flush to zero without any scaling)\n";
  print_table(std::cout, summary_rows(results));
  std::cout << "\nRecipes:\n";
  for (const run_result& r : results) std::cout << "  " << std::setw(13) << r.which.name << r.which.summary << '\n';
  std::cout << "\nFiles: " << (out_dir / "steps.csv").string() << " (per-step loss), "
            << (out_dir / "epochs.csv").string() << " (per-epoch accuracy), " << (out_dir / "summary.csv").string()
            << ", " << (out_dir / "numerics_report.csv").string() << '\n';
  plot(c, out_dir, results);

  const bool ok = check_results(c, results);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  double cpu = 0;
  std::string per_recipe;
  for (const run_result& r : results) {
    cpu += r.cpu_seconds;
    per_recipe += (per_recipe.empty() ? "" : ", ") + r.which.name + " " + fixed(r.cpu_seconds, 0);
  }
  std::cout << "\nTotal time " << fixed(seconds, 1) << " s wall on " << cores << " core" << (cores == 1 ? "" : "s")
            << ", " << jobs << " recipe" << (jobs == 1 ? "" : "s") << " at a time; training threads' CPU time "
            << fixed(cpu, 0) << " s (" << per_recipe << ")\n";
  if (!failed.empty()) {
    std::cout << "fashion_mnist_train: " << failed.size() << " of " << recipes.size()
              << " recipes failed (the messages are on stderr); the others' results are written above\n";
    return exit_threshold_failed;
  }
  if (some_run_diverged(results)) return exit_threshold_failed;
  if (!ok && (c.quick || c.check)) {
    std::cout << "fashion_mnist_train: a check failed (see [FAIL] above)\n";
    return exit_threshold_failed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const mixprec::error& e) {
    std::cerr << "fashion_mnist_train: " << e.what() << '\n';
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_train: " << e.what() << '\n';
    return exit_usage;
  }
}
