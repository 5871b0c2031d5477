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
//   crc32_of) of every byte before it. The fields between the version and the
//   checksum are listed once (checkpoint_detail's *_fields functions), for
//   writing and reading alike.
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

// The file's fields are listed once, in file order, by the *_fields functions
// below, each a template on a visitor and on the record's constness: a
// record_writer appends each field, a record_reader reads it back into a
// mutable record, naming it in every error. Adding a field is one line there,
// and the two directions cannot drift apart. (The same idea as the optimizer
// checkpoint's Rule::for_each_field, mixprec/training/update_rules.hpp.)
// Each visitor method is one encoding:
//   u64, i64, f32       the byte_writer's integer and float encodings
//   f64                 a double as its IEEE 754 bits (u64)
//   size                a std::size_t stored as u64
//   i32                 an int32 stored as i64, read back range-checked
//   int_in_range        an int stored as i64, read back checked against [lo, hi]
//   boolean             u8 0 or 1
//   enumerator          u8, read back checked against the enum's last value
//                       (the field is named after its enum)
//   string, bytes       u64 length + the bytes
//   sequence            u64 count + each element; the reader checks the count
//                       against the bytes left (at least min_bytes an element)
//                       before allocating
//   after_read          a check on the record just read (the writer skips it)
class record_writer {
 public:
  explicit record_writer(byte_writer& out) : out_(out) {}
  void u64(const char*, std::uint64_t v) { out_.u64(v); }
  void size(const char*, std::size_t v) { out_.u64(v); }
  void i64(const char*, std::int64_t v) { out_.i64(v); }
  void i32(const char*, std::int32_t v) { out_.i64(v); }
  void int_in_range(const char*, int v, int, int) { out_.i64(v); }
  void f32(const char*, float v) { out_.f32(v); }
  void f64(const char*, double v) { out_.u64(mixprec::detail::bit_cast<std::uint64_t>(v)); }
  void boolean(const char*, bool v) { out_.u8(v ? 1 : 0); }
  template <class Enum>
  void enumerator(const char*, Enum v, Enum) {
    out_.u8(static_cast<std::uint8_t>(v));
  }
  void string(const char*, const std::string& s) {
    out_.u64(s.size());
    out_.raw(s.data(), s.size());
  }
  void bytes(const char*, const std::vector<unsigned char>& b) {
    out_.u64(b.size());
    out_.raw(b.data(), b.size());
  }
  template <class T, class Each>
  void sequence(const char*, std::size_t, const std::vector<T>& elements, Each each) {
    out_.u64(elements.size());
    for (const T& element : elements) each(element);
  }
  template <class Check>
  void after_read(Check&&) {}

 private:
  byte_writer& out_;
};

class record_reader {
 public:
  explicit record_reader(byte_reader& in) : in_(in) {}
  void u64(const char* field, std::uint64_t& v) { v = in_.u64(field); }
  void size(const char* field, std::size_t& v) { v = static_cast<std::size_t>(in_.u64(field)); }
  void i64(const char* field, std::int64_t& v) { v = in_.i64(field); }
  void i32(const char* field, std::int32_t& v) {
    const std::int64_t stored = in_.i64(field);
    mixprec::require(stored >= INT32_MIN && stored <= INT32_MAX, field, " = ", stored, " does not fit 32 bits");
    v = static_cast<std::int32_t>(stored);
  }
  void int_in_range(const char* field, int& v, int lowest, int highest) {
    const std::int64_t stored = in_.i64(field);
    mixprec::require(stored >= lowest && stored <= highest, field, " = ", stored, " is out of range");
    v = static_cast<int>(stored);
  }
  void f32(const char* field, float& v) { v = in_.f32(field); }
  void f64(const char* field, double& v) { v = mixprec::detail::bit_cast<double>(in_.u64(field)); }
  void boolean(const char* field, bool& v) { v = in_.boolean(field); }
  template <class Enum>
  void enumerator(const char* field, Enum& v, Enum last) {
    const std::uint8_t stored = in_.u8(field);
    mixprec::require(stored <= static_cast<std::uint8_t>(last), field, " = ", static_cast<int>(stored),
                     " is not an ", field, " value");
    v = static_cast<Enum>(stored);
  }
  void string(const char* field, std::string& s) {
    std::vector<unsigned char> raw;
    bytes(field, raw);
    s.assign(raw.begin(), raw.end());
  }
  void bytes(const char* field, std::vector<unsigned char>& b) { in_.raw(b, in_.count(in_.u64(field), 1, field), field); }
  template <class T, class Each>
  void sequence(const char* field, std::size_t min_bytes, std::vector<T>& elements, Each each) {
    elements.resize(in_.count(in_.u64(field), min_bytes, field));
    for (T& element : elements) each(element);
  }
  template <class Check>
  void after_read(Check&& check) {
    check();
  }

 private:
  byte_reader& in_;
};

// RunIdentity is run_identity (reading) or const run_identity (writing); so
// are the other *_fields functions' record types.
template <class Fields, class RunIdentity>
void identity_fields(Fields& v, RunIdentity& id) {
  v.string("recipe", id.recipe);
  v.u64("seed", id.seed);
  v.u64("batch", id.batch);
  v.u64("epochs", id.epochs);
  v.u64("training images", id.train_count);
  v.u64("test images", id.test_count);
  v.u64("evaluation batch", id.eval_batch);
  v.sequence("layer widths", 8, id.widths, [&](auto& width) { v.u64("layer width", width); });
  v.string("optimizer", id.optimizer);
  v.f32("learning rate", id.learning_rate);
  v.f32("weight decay", id.weight_decay);
  v.f32("momentum", id.momentum);
  v.f32("final learning-rate fraction", id.final_learning_rate_fraction);
  v.i64("report step", id.report_step);
}

template <class Fields, class DelayedState>
void delayed_fields(Fields& v, DelayedState& s) {
  v.size("history_len", s.options.history_len);
  v.enumerator("amax_algo", s.options.algo, mixprec::amax_algo::most_recent);
  v.int_in_range("margin", s.options.margin, 0, 1024);
  v.boolean("power_of_two", s.options.power_of_two);
  v.sequence("history", 4, s.history, [&](auto& amax) { v.f32("history", amax); });
  v.f32("scale", s.scale);
  v.f32("scale_inv", s.scale_inv);
  v.f32("amax", s.amax);
  // the recipe's load() validates the rest
}

template <class Fields, class ScalerState>
void scaler_fields(Fields& v, ScalerState& s) {
  v.f32("init_scale", s.options.init_scale);
  v.f64("growth_factor", s.options.growth_factor);
  v.f64("backoff_factor", s.options.backoff_factor);
  v.i64("growth_interval", s.options.growth_interval);
  v.i32("hysteresis", s.options.hysteresis);
  v.f32("min_scale", s.options.min_scale);
  v.f32("max_scale", s.options.max_scale);
  v.f32("scale", s.scale);
  v.i32("hysteresis_left", s.hysteresis_left);
  v.i64("growth_tracker", s.growth_tracker);
  v.i64("steps", s.steps);
  v.i64("skipped_steps", s.skipped_steps);
  v.i64("overflows_at_min_scale", s.overflows_at_min_scale);
  // The scaler's own rules: a state no update sequence produces is rejected.
  v.after_read([&s] { mixprec::validate(s); });
}

template <class Fields, class Census>
void census_fields(Fields& v, Census& c) {
  v.u64("census", c.nonzero);
  v.u64("census", c.flushed);
  v.u64("census", c.subnormal);
  v.u64("census", c.saturated);
}

// Every field of the records (training_setup.hpp's run_result, step_record,
// epoch_record, tensor_report): a field added there must be added here, or
// the resumed run's files differ (the fashion_mnist_resume test says which).
template <class Fields, class RunResult>
void records_fields(Fields& v, RunResult& r) {
  constexpr std::size_t step_bytes = 8 + 8 + 4 + 4 + 1, epoch_bytes = 8 * 4 + 8 + 4 + 8;
  constexpr std::size_t report_row_bytes = 8 + 8 + 4 + 8 + 8 + 8 + 32, census_bytes = 32;
  v.sequence("step records", step_bytes, r.steps, [&](auto& s) {
    v.i64("step", s.step);
    v.size("step's epoch", s.epoch);
    v.f32("loss", s.loss);
    v.f32("loss scale", s.loss_scale);
    v.boolean("skipped", s.skipped);
  });
  v.sequence("epoch records", epoch_bytes, r.epochs, [&](auto& e) {
    v.size("epoch", e.epoch);
    v.f64("train loss", e.train_loss);
    v.f64("train accuracy", e.train_accuracy);
    v.f64("test accuracy", e.test_accuracy);
    v.i64("skipped steps", e.skipped_steps);
    v.f32("loss scale", e.loss_scale);
    v.f64("seconds", e.seconds);
  });
  v.u64("gradient census", r.gradient_nonzero);
  v.u64("gradient census", r.gradient_flushed);
  v.i64("report step", r.report_step);
  v.sequence("report rows", report_row_bytes, r.report, [&](auto& t) {
    v.size("report layer", t.layer);
    v.string("report tensor", t.tensor);
    v.f32("report amax", t.amax);
    v.string("report scale", t.scale);
    v.sequence("report formats", census_bytes, t.formats, [&](auto& c) { census_fields(v, c); });
    v.string("report's own format", t.own_format);
    census_fields(v, t.own);
  });
  v.f64("seconds", r.seconds);
  v.f64("CPU seconds", r.cpu_seconds);
}

// Everything between the version and the checksum, in file order.
template <class Fields, class Checkpoint>
void checkpoint_fields(Fields& v, Checkpoint& c) {
  identity_fields(v, c.identity);
  v.u64("epochs done", c.epochs_done);
  v.i64("step", c.step);
  v.i64("skipped steps", c.skipped);
  v.bytes("optimizer bytes", c.optimizer);
  v.boolean("loss scaler present", c.has_scaler);
  if (c.has_scaler) scaler_fields(v, c.scaler);
  v.sequence("layers", 16, c.layers, [&](auto& l) {
    v.f32("copy scale", l.copy_scale);
    v.f32("copy scale written", l.copy_scale_written);
    v.sequence("scale slots", 8 + 1 + 8 + 1 + 8 + 12, l.delayed, [&](auto& d) { delayed_fields(v, d); });
  });
  records_fields(v, c.records);
}

}  // namespace checkpoint_detail

// The file's bytes, checksum included.
inline std::vector<unsigned char> to_bytes(const recipe_checkpoint& c) {
  using namespace checkpoint_detail;
  byte_writer out;
  out.raw(checkpoint_file_magic, sizeof checkpoint_file_magic);
  out.u32(checkpoint_file_version);
  record_writer fields(out);
  checkpoint_fields(fields, c);
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
    record_reader fields(in);
    checkpoint_fields(fields, c);
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
  differ("recipe", saved.recipe, now.recipe);
  differ("--seed", saved.seed, now.seed);
  differ("--batch", saved.batch, now.batch);
  differ("--epochs", saved.epochs, now.epochs);
  differ("training images", saved.train_count, now.train_count);
  differ("test images", saved.test_count, now.test_count);
  differ("evaluation batch", saved.eval_batch, now.eval_batch);
  differ("layer widths", describe_widths(saved.widths), describe_widths(now.widths));
  differ("--optimizer", saved.optimizer, now.optimizer);
  differ("--lr", saved.learning_rate, now.learning_rate);
  differ("weight decay", saved.weight_decay, now.weight_decay);
  differ("momentum", saved.momentum, now.momentum);
  differ("final learning-rate fraction", saved.final_learning_rate_fraction, now.final_learning_rate_fraction);
  differ("report step", saved.report_step, now.report_step);
  return out;
}

}  // namespace fashion_mnist
