// examples/fashion_mnist/checkpoint_file.hpp — the demo's per-recipe
// checkpoint (--checkpoint, --resume): everything one recipe's CPU training
// run needs to continue after a finished epoch as if it had never stopped.
//
// A resumed run must reproduce the uninterrupted run bit for bit (issue 12:
// "loss explodes after reloading" is among the most reported problems of FP8
// training stacks), so the file holds every piece of state a step reads:
//   - the run's identity (recipe, seed, batch, epochs, data counts, widths,
//     optimizer settings, schedule, report step): a checkpoint of another run
//     is rejected before any training, naming the field and both values;
//   - the optimizer's own checkpoint bytes (mixprec/training/checkpoint.hpp:
//     masters, moments, progress, model-copy bytes, the stochastic-rounding
//     counter), the dynamic loss scaler's state and every delayed-scaling
//     recipe's state (history, scale, scale_inv, amax), the weight copies'
//     scales;
//   - the step and skipped-step counters and the epochs done; the batch order
//     is not stored: it is replayed (one Fisher-Yates shuffle per finished
//     epoch from the seed, training_setup.hpp's batch_order);
//   - the records so far (steps, epochs, gradient census, numerics report,
//     timings), so the resumed run's tables and CSV files are the whole run's.
// Current scaling carries no state across steps (each cast takes its scale
// from its own amax) and block scaling none at all.
//
// Byte format, version 1, with mixprec's checkpoint byte helpers (integers
// little-endian, floats and doubles as their IEEE 754 bits):
//   "MIXFMNST" 8 bytes, u32 version, the identity, u64 epochs done,
//   i64 step, i64 skipped steps, u64 n + n optimizer bytes, the loss scaler
//   (u8 present + its fields), u64 layers + per layer two copy scales and three
//   delayed-scaling states, the records, then u32 CRC-32 (checkpoint.hpp's
//   crc32_of) of every byte before it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/scaling/fp8_scaling.hpp"
#include "mixprec/scaling/loss_scaler.hpp"
#include "mixprec/training/checkpoint.hpp"
#include "training_setup.hpp"

namespace fashion_mnist {

constexpr char checkpoint_file_magic[8] = {'M', 'I', 'X', 'F', 'M', 'N', 'S', 'T'};
constexpr std::uint32_t checkpoint_file_version = 1;

// What a checkpoint must agree with: a resumed run with other arguments would
// silently train something else.
struct run_identity {
  std::string recipe;
  std::uint64_t seed = 0, batch = 0, epochs = 0, train_count = 0, test_count = 0, eval_batch = 0;
  std::vector<std::uint64_t> widths;
  std::string optimizer;
  float learning_rate = 0, weight_decay = 0, momentum = 0, final_learning_rate_fraction = 0;
  std::int64_t report_step = 0;  // as resolved (-1 replaced by the last step of epoch 1)
};

// The state of one delayed or current per-tensor scale slot of a layer.
struct layer_checkpoint {
  float copy_scale = 1, copy_scale_written = 1;
  std::vector<mixprec::delayed_scaling_state> delayed;  // input, weight, gradient
};

// Everything in one file.
struct recipe_checkpoint {
  run_identity identity;
  std::uint64_t epochs_done = 0;
  std::int64_t step = 0, skipped = 0;
  std::vector<unsigned char> optimizer;
  bool has_scaler = false;
  mixprec::dynamic_loss_scaler_state scaler;
  std::vector<layer_checkpoint> layers;
  run_result records;  // which is not stored (the recipe's name is in the identity)
};

// What trainer::run does with checkpoints (--checkpoint, --resume, --stop-after).
struct checkpoint_hooks {
  std::function<void(const std::vector<unsigned char>&)> save;  // called after every epoch; empty: none
  const recipe_checkpoint* resume = nullptr;                     // continue after its last epoch
  std::size_t stop_after_epochs = 0;                             // 0: train every epoch
};

namespace checkpoint_detail {

using mixprec::detail::byte_reader;
using mixprec::detail::byte_writer;

inline void write_string(byte_writer& out, const std::string& s) {
  out.u64(s.size());
  out.raw(s.data(), s.size());
}
inline std::string read_string(byte_reader& in, const char* field) {
  std::vector<unsigned char> bytes;
  in.raw(bytes, in.count(in.u64(field), 1, field), field);
  return std::string(bytes.begin(), bytes.end());
}
inline void write_f64(byte_writer& out, double v) { out.u64(mixprec::detail::bit_cast<std::uint64_t>(v)); }
inline double read_f64(byte_reader& in, const char* field) {
  return mixprec::detail::bit_cast<double>(in.u64(field));
}

inline void write_identity(byte_writer& out, const run_identity& id) {
  write_string(out, id.recipe);
  for (std::uint64_t v : {id.seed, id.batch, id.epochs, id.train_count, id.test_count, id.eval_batch}) out.u64(v);
  out.u64(id.widths.size());
  for (std::uint64_t w : id.widths) out.u64(w);
  write_string(out, id.optimizer);
  for (float v : {id.learning_rate, id.weight_decay, id.momentum, id.final_learning_rate_fraction}) out.f32(v);
  out.i64(id.report_step);
}
inline run_identity read_identity(byte_reader& in) {
  run_identity id;
  id.recipe = read_string(in, "recipe");
  id.seed = in.u64("seed");
  id.batch = in.u64("batch");
  id.epochs = in.u64("epochs");
  id.train_count = in.u64("training images");
  id.test_count = in.u64("test images");
  id.eval_batch = in.u64("evaluation batch");
  id.widths.resize(in.count(in.u64("layer widths"), 8, "layer widths"));
  for (std::uint64_t& w : id.widths) w = in.u64("layer width");
  id.optimizer = read_string(in, "optimizer");
  id.learning_rate = in.f32("learning rate");
  id.weight_decay = in.f32("weight decay");
  id.momentum = in.f32("momentum");
  id.final_learning_rate_fraction = in.f32("final learning-rate fraction");
  id.report_step = in.i64("report step");
  return id;
}

inline void write_delayed(byte_writer& out, const mixprec::delayed_scaling_state& s) {
  out.u64(s.options.history_len);
  out.u8(static_cast<std::uint8_t>(s.options.algo));
  out.i64(s.options.margin);
  out.u8(s.options.power_of_two ? 1 : 0);
  out.u64(s.history.size());
  out.floats(s.history);
  out.f32(s.scale);
  out.f32(s.scale_inv);
  out.f32(s.amax);
}
inline mixprec::delayed_scaling_state read_delayed(byte_reader& in) {
  mixprec::delayed_scaling_state s;
  s.options.history_len = static_cast<std::size_t>(in.u64("history_len"));
  const std::uint8_t algo = in.u8("amax_algo");
  mixprec::require(algo <= static_cast<std::uint8_t>(mixprec::amax_algo::most_recent), "amax_algo = ",
                   static_cast<int>(algo), " is not an amax_algo value");
  s.options.algo = static_cast<mixprec::amax_algo>(algo);
  const std::int64_t margin = in.i64("margin");
  mixprec::require(margin >= 0 && margin <= 1024, "margin = ", margin, " is out of range");
  s.options.margin = static_cast<int>(margin);
  s.options.power_of_two = in.boolean("power_of_two");
  in.floats(s.history, in.count(in.u64("history"), 4, "history"), "history");
  s.scale = in.f32("scale");
  s.scale_inv = in.f32("scale_inv");
  s.amax = in.f32("amax");
  return s;  // the recipe's load() validates the rest
}

inline void write_scaler(byte_writer& out, const mixprec::dynamic_loss_scaler_state& s) {
  out.f32(s.options.init_scale);
  write_f64(out, s.options.growth_factor);
  write_f64(out, s.options.backoff_factor);
  out.i64(s.options.growth_interval);
  out.i64(s.options.hysteresis);
  out.f32(s.options.min_scale);
  out.f32(s.options.max_scale);
  out.f32(s.scale);
  out.i64(s.hysteresis_left);
  out.i64(s.growth_tracker);
  out.i64(s.steps);
  out.i64(s.skipped_steps);
  out.i64(s.overflows_at_min_scale);
}
inline std::int32_t read_i32(byte_reader& in, const char* field) {
  const std::int64_t v = in.i64(field);
  mixprec::require(v >= INT32_MIN && v <= INT32_MAX, field, " = ", v, " does not fit 32 bits");
  return static_cast<std::int32_t>(v);
}
inline mixprec::dynamic_loss_scaler_state read_scaler(byte_reader& in) {
  mixprec::dynamic_loss_scaler_state s;
  s.options.init_scale = in.f32("init_scale");
  s.options.growth_factor = read_f64(in, "growth_factor");
  s.options.backoff_factor = read_f64(in, "backoff_factor");
  s.options.growth_interval = in.i64("growth_interval");
  s.options.hysteresis = read_i32(in, "hysteresis");
  s.options.min_scale = in.f32("min_scale");
  s.options.max_scale = in.f32("max_scale");
  s.scale = in.f32("scale");
  s.hysteresis_left = read_i32(in, "hysteresis_left");
  s.growth_tracker = in.i64("growth_tracker");
  s.steps = in.i64("steps");
  s.skipped_steps = in.i64("skipped_steps");
  s.overflows_at_min_scale = in.i64("overflows_at_min_scale");
  mixprec::validate(s);  // the scaler's own rules: a state no update sequence produces is rejected
  return s;
}

inline void write_census(byte_writer& out, const cast_census& c) {
  for (std::uint64_t v : {c.nonzero, c.flushed, c.subnormal, c.saturated}) out.u64(v);
}
inline cast_census read_census(byte_reader& in) {
  cast_census c;
  c.nonzero = in.u64("census");
  c.flushed = in.u64("census");
  c.subnormal = in.u64("census");
  c.saturated = in.u64("census");
  return c;
}

// Every field of the records (training_setup.hpp's run_result, step_record,
// epoch_record, tensor_report): a field added there must be added here, or
// the resumed run's files differ (the fashion_mnist_resume test says which).
inline void write_records(byte_writer& out, const run_result& r) {
  out.u64(r.steps.size());
  for (const step_record& s : r.steps) {
    out.i64(s.step);
    out.u64(s.epoch);
    out.f32(s.loss);
    out.f32(s.loss_scale);
    out.u8(s.skipped ? 1 : 0);
  }
  out.u64(r.epochs.size());
  for (const epoch_record& e : r.epochs) {
    out.u64(e.epoch);
    write_f64(out, e.train_loss);
    write_f64(out, e.train_accuracy);
    write_f64(out, e.test_accuracy);
    out.i64(e.skipped_steps);
    out.f32(e.loss_scale);
    write_f64(out, e.seconds);
  }
  out.u64(r.gradient_nonzero);
  out.u64(r.gradient_flushed);
  out.i64(r.report_step);
  out.u64(r.report.size());
  for (const tensor_report& t : r.report) {
    out.u64(t.layer);
    write_string(out, t.tensor);
    out.f32(t.amax);
    write_string(out, t.scale);
    out.u64(t.formats.size());
    for (const cast_census& c : t.formats) write_census(out, c);
    write_string(out, t.own_format);
    write_census(out, t.own);
  }
  write_f64(out, r.seconds);
  write_f64(out, r.cpu_seconds);
}
inline void read_records(byte_reader& in, run_result& r) {
  constexpr std::size_t step_bytes = 8 + 8 + 4 + 4 + 1, epoch_bytes = 8 * 4 + 8 + 4 + 8;
  r.steps.resize(in.count(in.u64("step records"), step_bytes, "step records"));
  for (step_record& s : r.steps) {
    s.step = in.i64("step");
    s.epoch = static_cast<std::size_t>(in.u64("step's epoch"));
    s.loss = in.f32("loss");
    s.loss_scale = in.f32("loss scale");
    s.skipped = in.boolean("skipped");
  }
  r.epochs.resize(in.count(in.u64("epoch records"), epoch_bytes, "epoch records"));
  for (epoch_record& e : r.epochs) {
    e.epoch = static_cast<std::size_t>(in.u64("epoch"));
    e.train_loss = read_f64(in, "train loss");
    e.train_accuracy = read_f64(in, "train accuracy");
    e.test_accuracy = read_f64(in, "test accuracy");
    e.skipped_steps = in.i64("skipped steps");
    e.loss_scale = in.f32("loss scale");
    e.seconds = read_f64(in, "seconds");
  }
  r.gradient_nonzero = in.u64("gradient census");
  r.gradient_flushed = in.u64("gradient census");
  r.report_step = in.i64("report step");
  r.report.resize(in.count(in.u64("report rows"), 8 + 8 + 4 + 8 + 8 + 8 + 32, "report rows"));
  for (tensor_report& t : r.report) {
    t.layer = static_cast<std::size_t>(in.u64("report layer"));
    t.tensor = read_string(in, "report tensor");
    t.amax = in.f32("report amax");
    t.scale = read_string(in, "report scale");
    t.formats.resize(in.count(in.u64("report formats"), 32, "report formats"));
    for (cast_census& c : t.formats) c = read_census(in);
    t.own_format = read_string(in, "report's own format");
    t.own = read_census(in);
  }
  r.seconds = read_f64(in, "seconds");
  r.cpu_seconds = read_f64(in, "CPU seconds");
}

}  // namespace checkpoint_detail

// The file's bytes, checksum included.
inline std::vector<unsigned char> to_bytes(const recipe_checkpoint& c) {
  using namespace checkpoint_detail;
  byte_writer out;
  out.raw(checkpoint_file_magic, sizeof checkpoint_file_magic);
  out.u32(checkpoint_file_version);
  write_identity(out, c.identity);
  out.u64(c.epochs_done);
  out.i64(c.step);
  out.i64(c.skipped);
  out.u64(c.optimizer.size());
  out.raw(c.optimizer.data(), c.optimizer.size());
  out.u8(c.has_scaler ? 1 : 0);
  if (c.has_scaler) write_scaler(out, c.scaler);
  out.u64(c.layers.size());
  for (const layer_checkpoint& l : c.layers) {
    out.f32(l.copy_scale);
    out.f32(l.copy_scale_written);
    out.u64(l.delayed.size());
    for (const mixprec::delayed_scaling_state& d : l.delayed) write_delayed(out, d);
  }
  write_records(out, c.records);
  std::vector<unsigned char>& bytes = out.bytes();
  const std::uint32_t crc = mixprec::detail::crc32_of(bytes.data(), bytes.size());
  out.u32(crc);
  return std::move(out.bytes());
}

// Parses a file's bytes; `where` names it in every message.
// Throws mixprec::error for wrong magic, version, checksum, truncation,
// trailing bytes or a field out of range.
inline recipe_checkpoint checkpoint_from_bytes(const std::vector<unsigned char>& bytes, const std::string& where) {
  using namespace checkpoint_detail;
  try {
    mixprec::require(bytes.size() >= sizeof checkpoint_file_magic + 8 &&
                         std::equal(checkpoint_file_magic, checkpoint_file_magic + sizeof checkpoint_file_magic,
                                    bytes.begin()),
                     "not a fashion_mnist_train checkpoint (the file does not start with MIXFMNST)");
    const std::size_t body = bytes.size() - 4;
    byte_reader crc_reader(bytes.data() + body, 4);
    const std::uint32_t stored = crc_reader.u32("checksum");
    const std::uint32_t computed = mixprec::detail::crc32_of(bytes.data(), body);
    mixprec::require(stored == computed, "CRC-32 mismatch (stored ", stored, ", computed ", computed,
                     "): the file is damaged or was cut short");
    byte_reader in(bytes.data() + sizeof checkpoint_file_magic, body - sizeof checkpoint_file_magic);
    const std::uint32_t version = in.u32("version");
    mixprec::require(version == checkpoint_file_version, "version ", version, "; this program reads version ",
                     checkpoint_file_version);
    recipe_checkpoint c;
    c.identity = read_identity(in);
    c.epochs_done = in.u64("epochs done");
    c.step = in.i64("step");
    c.skipped = in.i64("skipped steps");
    in.raw(c.optimizer, in.count(in.u64("optimizer bytes"), 1, "optimizer bytes"), "optimizer bytes");
    c.has_scaler = in.boolean("loss scaler present");
    if (c.has_scaler) c.scaler = read_scaler(in);
    c.layers.resize(in.count(in.u64("layers"), 16, "layers"));
    for (layer_checkpoint& l : c.layers) {
      l.copy_scale = in.f32("copy scale");
      l.copy_scale_written = in.f32("copy scale written");
      l.delayed.resize(in.count(in.u64("scale slots"), 8 + 1 + 8 + 1 + 8 + 12, "scale slots"));
      for (mixprec::delayed_scaling_state& d : l.delayed) d = read_delayed(in);
    }
    read_records(in, c.records);
    mixprec::require(in.left() == 0, in.left(), " trailing bytes after the records");
    return c;
  } catch (const mixprec::error& e) {
    throw mixprec::error(where + ": " + e.what() + "; delete it to start afresh");
  }
}

// Every difference between a checkpoint's identity and this run's, as
// "field: checkpoint X, this run Y" (empty: they match).
inline std::string identity_differences(const run_identity& saved, const run_identity& now) {
  std::string out;
  auto differ = [&](const char* field, const auto& a, const auto& b) {
    if (a == b) return;
    out += mixprec::detail::make_message(out.empty() ? "" : "; ", field, ": checkpoint ", a, ", this run ", b);
  };
  auto widths = [](const std::vector<std::uint64_t>& w) {
    std::string text;
    for (std::uint64_t x : w) text += (text.empty() ? "" : "-") + std::to_string(x);
    return text;
  };
  differ("recipe", saved.recipe, now.recipe);
  differ("--seed", saved.seed, now.seed);
  differ("--batch", saved.batch, now.batch);
  differ("--epochs", saved.epochs, now.epochs);
  differ("training images", saved.train_count, now.train_count);
  differ("test images", saved.test_count, now.test_count);
  differ("evaluation batch", saved.eval_batch, now.eval_batch);
  differ("layer widths", widths(saved.widths), widths(now.widths));
  differ("--optimizer", saved.optimizer, now.optimizer);
  differ("--lr", saved.learning_rate, now.learning_rate);
  differ("weight decay", saved.weight_decay, now.weight_decay);
  differ("momentum", saved.momentum, now.momentum);
  differ("final learning-rate fraction", saved.final_learning_rate_fraction, now.final_learning_rate_fraction);
  differ("report step", saved.report_step, now.report_step);
  return out;
}

}  // namespace fashion_mnist
