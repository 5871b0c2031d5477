/// \file
/// The complete state of an optimizer, in memory and as a versioned,
/// self-describing byte string; shared by the host optimizer
/// (mixprec/training/optimizer.hpp) and the device one
/// (mixprec/cuda/optimizer.hpp), so a checkpoint written by either loads into
/// either.
///
/// Checkpoint/resume must continue bit for bit ("loss explodes after
/// reloading" is among the most reported problems of FP8 training stacks), so
/// the state holds everything a step reads: the optimizer options, every
/// group's hyper-parameters, and per parameter its FP32 master weights, its
/// state arrays, its progress (applied steps, momentum started), and the bytes
/// of its model copy (or of its BF16-only weights) as the last step wrote them;
/// plus the optimizer's applied-step count, which drives the
/// stochastic-rounding stream.
///
/// Byte format, version 1 (integers little-endian, floats as their IEEE 754
/// bits, bools as one byte 0/1):
/// \verbatim
///   "MIXPROPT"                          8 bytes of magic
///   u32 version                         1
///   u32 n, n bytes                      the rule's name ("mixprec::adamw", "mixprec::sgd")
///   u32 state_count, u32 field_count    the rule's state arrays and option fields
///   f32 max_grad_norm, u8 model_rounding, u8 bf16_only_rounding, u64 seed
///   i64 steps                           applied optimizer steps
///   u64 groups, then per group its option fields in Rule::for_each_field order
///   u64 parameters, then per parameter:
///     u64 group, u64 size, u8 kind, u8 model_type, i64 steps, u8 state_started,
///     u8 state_arrays, f32[size] master (not for bf16_only),
///     f32[state_arrays · size] states, model bytes[size · size_of(model_type)]
///     (not for master_only)
///   u32 CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
/// \endverbatim
/// A reader rejects, with a message and before allocating anything the input
/// cannot hold, wrong magic, version, rule, counts, truncation, trailing bytes
/// and a bad checksum.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {

/// How a parameter's weights are held.
enum class parameter_kind : std::uint8_t {
  master_only = 0,      ///< an FP32 master, no model copy
  master_and_copy = 1,  ///< an FP32 master and a low-precision (or FP32) model copy
  bf16_only = 2,        ///< BF16 weights updated in place, no master
};

/// One parameter's part of an optimizer checkpoint.
struct parameter_checkpoint {
  std::size_t group = 0;                            ///< its parameter group
  std::size_t size = 0;                             ///< elements
  parameter_kind kind = parameter_kind::master_only;  ///< master only, master and copy, or BF16 only
  scalar_type model_type = scalar_type::float32;    ///< the copy's type (bfloat16 for bf16_only; float32 without a copy)
  std::int64_t steps = 0;                           ///< steps applied to this parameter (PyTorch's state['step'])
  bool state_started = false;                       ///< SGD: the momentum buffer has been started
  std::vector<float> master;                        ///< size floats; empty for bf16_only
  std::size_t state_arrays = 0;                     ///< state arrays held (AdamW: 2, 3 with amsgrad; SGD: 1)
  std::vector<float> state;                         ///< state_arrays · size floats, array after array
  std::vector<unsigned char> model;                 ///< the copy's (or BF16 weights') bytes; empty for master_only
};

/// The complete state of an optimizer with update rule `Rule`.
template <class Rule>
struct optimizer_checkpoint {
  optimizer_options options;                    ///< clipping, rounding and seed
  std::vector<typename Rule::options> groups;   ///< every group's hyper-parameters
  std::vector<parameter_checkpoint> parameters; ///< in registration order
  std::int64_t steps = 0;                       ///< applied optimizer steps (the stochastic-rounding counter)
};

/// What a registered parameter looks like; a checkpoint must match it.
struct parameter_layout {
  std::size_t group = 0;                             ///< its parameter group
  std::size_t size = 0;                              ///< elements
  parameter_kind kind = parameter_kind::master_only; ///< how its weights are held
  scalar_type model_type = scalar_type::float32;     ///< the copy's type (bfloat16 for bf16_only; float32 without a copy)
};

namespace detail {

/// CRC-32 (IEEE 802.3 polynomial, reflected, as zlib, gzip and PNG use);
/// crc32_of("123456789") = 0xCBF43926.
inline std::uint32_t crc32_of(const unsigned char* data, std::size_t size) noexcept {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

constexpr char checkpoint_magic[8] = {'M', 'I', 'X', 'P', 'R', 'O', 'P', 'T'};
constexpr std::uint32_t checkpoint_version = 1;

/// Appends little-endian integers and float bits.
class byte_writer {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int k = 0; k < 4; ++k) bytes_.push_back(static_cast<unsigned char>(v >> (8 * k)));
  }
  void u64(std::uint64_t v) {
    for (int k = 0; k < 8; ++k) bytes_.push_back(static_cast<unsigned char>(v >> (8 * k)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f32(float v) { u32(mixprec::detail::bit_cast<std::uint32_t>(v)); }
  void floats(const std::vector<float>& v) {
    for (float x : v) f32(x);
  }
  void raw(const void* data, std::size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  std::vector<unsigned char>& bytes() noexcept { return bytes_; }

 private:
  std::vector<unsigned char> bytes_;
};

/// Reads what byte_writer wrote, bounds-checked: running past the end is a
/// mixprec::error naming the field ("truncated").
class byte_reader {
 public:
  byte_reader(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t left() const noexcept { return size_ - at_; }
  void need(std::size_t n, const char* field) const {
    require(n <= left(), "mixprec::optimizer checkpoint: truncated: ", field, " needs ", n, " bytes at offset ", at_,
            ", but only ", left(), " are left; the checkpoint is incomplete");
  }
  std::uint8_t u8(const char* field) {
    need(1, field);
    return data_[at_++];
  }
  std::uint32_t u32(const char* field) {
    need(4, field);
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(data_[at_++]) << (8 * k);
    return v;
  }
  std::uint64_t u64(const char* field) {
    need(8, field);
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(data_[at_++]) << (8 * k);
    return v;
  }
  std::int64_t i64(const char* field) {
    const std::uint64_t v = u64(field);
    std::int64_t out;
    std::memcpy(&out, &v, sizeof out);  // two's complement, no implementation-defined conversion
    return out;
  }
  float f32(const char* field) { return mixprec::detail::bit_cast<float>(u32(field)); }
  bool boolean(const char* field) {
    const std::uint8_t v = u8(field);
    require(v <= 1, "mixprec::optimizer checkpoint: ", field, " = ", static_cast<int>(v), " is not a bool (0 or 1)");
    return v == 1;
  }
  /// `count` elements of `element_bytes` each: checked against what is left
  /// before anything is allocated (overflow-safe).
  std::size_t count(std::uint64_t count, std::size_t element_bytes, const char* field) const {
    require(element_bytes == 0 || count <= left() / element_bytes, "mixprec::optimizer checkpoint: ", field,
            " claims ", count, " elements of ", element_bytes, " bytes, but only ", left(),
            " bytes are left; the checkpoint is truncated or corrupt");
    return static_cast<std::size_t>(count);
  }
  void floats(std::vector<float>& out, std::size_t n, const char* field) {
    count(n, 4, field);
    out.resize(n);
    for (float& x : out) x = f32(field);
  }
  void raw(std::vector<unsigned char>& out, std::size_t n, const char* field) {
    need(n, field);
    out.assign(data_ + at_, data_ + at_ + n);
    at_ += n;
  }

 private:
  const unsigned char* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

struct field_writer {
  byte_writer& out;
  void operator()(const char*, float v) const { out.f32(v); }
  void operator()(const char*, bool v) const { out.u8(v ? 1 : 0); }
};
struct field_reader {
  byte_reader& in;
  void operator()(const char* name, float& v) const { v = in.f32(name); }
  void operator()(const char* name, bool& v) const { v = in.boolean(name); }
};
struct field_counter {
  std::uint32_t& n;
  template <class T>
  void operator()(const char*, const T&) const { ++n; }
};

template <class Rule>
std::uint32_t option_field_count() {
  std::uint32_t n = 0;
  typename Rule::options o{};
  Rule::for_each_field(o, field_counter{n});
  return n;
}

/// Elements times bytes per element, or an error when the product overflows.
inline std::size_t checked_bytes(std::size_t elements, std::size_t element_bytes, const char* who) {
  require(element_bytes == 0 || elements <= std::numeric_limits<std::size_t>::max() / element_bytes, who,
          elements, " elements of ", element_bytes, " bytes overflow size_t");
  return elements * element_bytes;
}

}  // namespace detail

/// The version-1 byte string of `c` (see the file comment), ending in its
/// CRC-32. Throws std::bad_alloc only.
template <class Rule>
std::vector<unsigned char> to_bytes(const optimizer_checkpoint<Rule>& c) {
  detail::byte_writer out;
  out.raw(detail::checkpoint_magic, sizeof detail::checkpoint_magic);
  out.u32(detail::checkpoint_version);
  const std::string name = Rule::name;
  out.u32(static_cast<std::uint32_t>(name.size()));
  out.raw(name.data(), name.size());
  out.u32(static_cast<std::uint32_t>(Rule::state_count));
  out.u32(detail::option_field_count<Rule>());
  out.f32(c.options.max_grad_norm);
  out.u8(static_cast<std::uint8_t>(c.options.model_rounding));
  out.u8(static_cast<std::uint8_t>(c.options.bf16_only_rounding));
  out.u64(c.options.seed);
  out.i64(c.steps);
  out.u64(c.groups.size());
  for (const typename Rule::options& g : c.groups) Rule::for_each_field(g, detail::field_writer{out});
  out.u64(c.parameters.size());
  for (const parameter_checkpoint& p : c.parameters) {
    out.u64(p.group);
    out.u64(p.size);
    out.u8(static_cast<std::uint8_t>(p.kind));
    out.u8(static_cast<std::uint8_t>(p.model_type));
    out.i64(p.steps);
    out.u8(p.state_started ? 1 : 0);
    out.u8(static_cast<std::uint8_t>(p.state_arrays));
    out.floats(p.master);
    out.floats(p.state);
    out.raw(p.model.data(), p.model.size());
  }
  const std::uint32_t crc = detail::crc32_of(out.bytes().data(), out.bytes().size());
  out.u32(crc);
  return std::move(out.bytes());
}

/// Parses a version-1 byte string of `size` bytes at `data` (host memory,
/// not null), as written by to_bytes() for rule `Rule`.
/// Whether the checkpoint fits a particular optimizer is checked by its load().
/// \throws mixprec::error naming what does not fit — magic, version, rule,
/// state or field count, a truncated or over-long input, a bad checksum, an
/// invalid enum or bool — checking each claimed size against the bytes left
/// before allocating.
template <class Rule>
optimizer_checkpoint<Rule> checkpoint_from_bytes(const unsigned char* data, std::size_t size) {
  const char* who = "mixprec::optimizer checkpoint: ";
  require(data != nullptr || size == 0, who, "no data for ", size, " bytes");
  require(size >= sizeof detail::checkpoint_magic + 8, who, "only ", size,
          " bytes: too short to be an optimizer checkpoint (truncated?)");
  require(std::memcmp(data, detail::checkpoint_magic, sizeof detail::checkpoint_magic) == 0, who,
          "the first 8 bytes are not \"MIXPROPT\": not a mixprec optimizer checkpoint");
  const std::size_t body = size - 4;
  std::uint32_t stored_crc = 0;
  for (int k = 0; k < 4; ++k) stored_crc |= static_cast<std::uint32_t>(data[body + static_cast<std::size_t>(k)]) << (8 * k);
  const std::uint32_t crc = detail::crc32_of(data, body);
  require(crc == stored_crc, who, "checksum mismatch (stored CRC-32 ", stored_crc, ", computed ", crc,
          "): the checkpoint is corrupt or truncated");
  detail::byte_reader in(data + sizeof detail::checkpoint_magic, body - sizeof detail::checkpoint_magic);
  const std::uint32_t version = in.u32("version");
  require(version == detail::checkpoint_version, who, "version ", version, " is not supported; this build reads ",
          "version ", detail::checkpoint_version);
  const std::uint32_t name_size = in.u32("rule name length");
  std::vector<unsigned char> name_bytes;
  in.raw(name_bytes, in.count(name_size, 1, "rule name"), "rule name");
  const std::string name(name_bytes.begin(), name_bytes.end());
  require(name == Rule::name, who, "written by ", name, ", loaded into ", Rule::name,
          "; load it into the optimizer that wrote it");
  const std::uint32_t states = in.u32("state_count");
  require(states == static_cast<std::uint32_t>(Rule::state_count), who, "state_count = ", states, ", ", Rule::name,
          " has ", Rule::state_count);
  const std::uint32_t fields = in.u32("field_count");
  require(fields == detail::option_field_count<Rule>(), who, "field_count = ", fields, ", ", Rule::name, " options have ",
          detail::option_field_count<Rule>());
  optimizer_checkpoint<Rule> c;
  c.options.max_grad_norm = in.f32("max_grad_norm");
  c.options.model_rounding = static_cast<rounding>(in.u8("model_rounding"));
  c.options.bf16_only_rounding = static_cast<rounding>(in.u8("bf16_only_rounding"));
  c.options.seed = in.u64("seed");
  c.steps = in.i64("steps");
  const std::uint64_t group_count = in.u64("group count");
  c.groups.resize(in.count(group_count, fields, "groups"));
  for (typename Rule::options& g : c.groups) Rule::for_each_field(g, detail::field_reader{in});
  const std::uint64_t parameter_count = in.u64("parameter count");
  // 28 bytes: a parameter's fixed-size fields (group, size, kind, model type, steps, started, arrays).
  c.parameters.resize(in.count(parameter_count, 28, "parameters"));
  for (parameter_checkpoint& p : c.parameters) {
    const std::uint64_t group = in.u64("parameter group");
    const std::uint64_t elements = in.u64("parameter size");
    require(group <= std::numeric_limits<std::size_t>::max() && elements <= std::numeric_limits<std::size_t>::max(),
            who, "parameter group ", group, " or size ", elements, " does not fit size_t");
    p.group = static_cast<std::size_t>(group);
    p.size = static_cast<std::size_t>(elements);
    const std::uint8_t kind = in.u8("parameter kind");
    require(kind <= 2, who, "parameter kind ", static_cast<int>(kind), " is not master_only, master_and_copy or bf16_only");
    p.kind = static_cast<parameter_kind>(kind);
    const std::uint8_t type = in.u8("model type");
    p.model_type = static_cast<scalar_type>(type);
    require(size_of(p.model_type) != 0, who, "model type ", static_cast<int>(type), " is not a scalar_type");
    p.steps = in.i64("parameter steps");
    p.state_started = in.boolean("state_started");
    p.state_arrays = in.u8("state_arrays");
    require(p.state_arrays <= static_cast<std::size_t>(Rule::state_count), who, "state_arrays = ", p.state_arrays,
            " exceeds the rule's ", Rule::state_count);
    if (p.kind != parameter_kind::bf16_only) in.floats(p.master, in.count(p.size, 4, "master weights"), "master weights");
    in.floats(p.state, in.count(p.size, 4 * p.state_arrays, "states") * p.state_arrays, "states");
    if (p.kind != parameter_kind::master_only) {
      in.raw(p.model, in.count(p.size, size_of(p.model_type), "model copy") * size_of(p.model_type), "model copy");
    }
  }
  require(in.left() == 0, who, in.left(), " bytes after the last parameter: not a checkpoint of this format");
  return c;
}

/// Checks that `c` can be loaded into an optimizer of rule `Rule` with
/// `group_count` groups and the parameters `registered` (in registration
/// order); `who` prefixes the error message. The optimizers' load() calls it.
/// \throws mixprec::error, naming the first mismatch, unless `c` is a state
/// that an optimizer of rule `Rule` with these registered parameters could
/// have reached: valid options and group options, the same group and
/// parameter counts, each parameter's group, size, kind and model type, array
/// sizes that fit, step counts in [0, c.steps] with c.steps < INT64_MAX.
template <class Rule>
void validate_checkpoint(const optimizer_checkpoint<Rule>& c, std::size_t group_count,
                         const std::vector<parameter_layout>& registered, const char* who) {
  validate(c.options);
  require(c.groups.size() == group_count, who, "the checkpoint has ", c.groups.size(), " groups, this optimizer ",
          group_count, "; add the same groups before loading");
  for (const typename Rule::options& g : c.groups) Rule::validate(g);
  require(c.parameters.size() == registered.size(), who, "the checkpoint has ", c.parameters.size(),
          " parameters, this optimizer ", registered.size(), "; register the same parameters, in the same order");
  require(c.steps >= 0 && c.steps < std::numeric_limits<std::int64_t>::max(), who, "steps = ", c.steps,
          " must lie in [0, INT64_MAX)");
  for (std::size_t i = 0; i < registered.size(); ++i) {
    const parameter_checkpoint& p = c.parameters[i];
    const parameter_layout& r = registered[i];
    require(p.group == r.group && p.size == r.size && p.kind == r.kind && p.model_type == r.model_type, who,
            "parameter ", i, " is (group ", p.group, ", size ", p.size, ", kind ", static_cast<int>(p.kind), ", model ",
            to_string(p.model_type), ") in the checkpoint but (group ", r.group, ", size ", r.size, ", kind ",
            static_cast<int>(r.kind), ", model ", to_string(r.model_type), ") here");
    require(p.steps >= 0 && p.steps <= c.steps, who, "parameter ", i, " has steps = ", p.steps,
            ", outside [0, optimizer steps = ", c.steps, "]");
    const int needed = Rule::states_used(c.groups[p.group]);
    require(p.state_arrays >= static_cast<std::size_t>(needed) &&
                p.state_arrays <= static_cast<std::size_t>(Rule::state_count),
            who, "parameter ", i, " holds ", p.state_arrays, " state arrays; its group needs ", needed, " (at most ",
            Rule::state_count, ")");
    require(p.master.size() == (p.kind == parameter_kind::bf16_only ? 0 : p.size), who, "parameter ", i, " has ",
            p.master.size(), " master weights for ", p.size, " elements");
    require(p.state.size() == detail::checked_bytes(p.size, p.state_arrays, who), who, "parameter ", i, " has ",
            p.state.size(), " state values for ", p.state_arrays, " arrays of ", p.size);
    const std::size_t model_bytes =
        p.kind == parameter_kind::master_only ? 0 : detail::checked_bytes(p.size, size_of(p.model_type), who);
    require(p.model.size() == model_bytes, who, "parameter ", i, " has ", p.model.size(), " model-copy bytes, ",
            model_bytes, " expected");
  }
}

}  // namespace mixprec
