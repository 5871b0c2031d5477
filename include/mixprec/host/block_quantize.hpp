/// \file
/// mixprec/host/block_quantize.hpp — fast host MX and NVFP4 block
/// quantization, byte for byte the CPU reference's.
///
/// ~~~~
///   host::quantize_mx(x, rows, cols, out, scales, options, orientation)          = reference::quantize_mx
///   host::quantize_nvfp4(x, rows, cols, out, block_scales, options, orientation) = reference::quantize_nvfp4
///   host::quantize_nvfp4_packed(...)  = reference::quantize_nvfp4_packed (two elements per byte)
/// ~~~~
///
/// Same signatures, options, results and errors as reference::quantize_mx,
/// reference::quantize_nvfp4 and quantize_nvfp4_packed (mixprec/reference/mx_quantize.hpp,
/// nvfp4_quantize.hpp): every element byte, every scale byte (padding
/// included) and the NVFP4 tensor scale are the reference's, for every element
/// type, rounding mode, orientation, scale layout and option; the argument
/// checks are the same function (cast::detail::check_mx_quantize,
/// check_nvfp4_quantize), so the same calls are rejected with the same message
/// (naming mixprec::host::...) before anything is written.
///
/// How: blocks are processed a panel at a time (up to 1024 elements of a line,
/// or, column-wise, one block of rows of 256 columns). Column-wise panels are
/// read as they lie in x, a row at a time, with the SIMD lanes across columns:
/// each lane holds one block, so amax, scale and pre-scaling are per lane and
/// only the 1-byte codes are transposed into out's lines (under the Hadamard
/// transform, which works along y's lines, the panel is gathered by 8x8 float
/// transposes instead). Block amax
/// is a maximum of magnitude bit patterns; the scales follow the rules of
/// mixprec/cast/ (MX's E8M0 code from amax's fields, NVFP4's d through the
/// E4M3 encoder); each element is pre-scaled into a float that rounds as the
/// exact quotient does (MX: x · 2^−k exactly, by integer exponent arithmetic;
/// NVFP4: x · S / d in double as the reference computes it, rounded to odd into
/// float), and convert_n's encoder (the engine, vectorised on AVX-512 or AVX2
/// where the CPU has them, mixprec/host/convert_n.hpp) rounds the panel. The
/// loops are compiled for the CPU's best path, chosen at run time; the
/// overloads taking a host::simd_path run a given one (tests and benchmarks).
/// Element modes other than nearest_even and toward_zero (stochastic, upward,
/// downward) take the reference's per-element rule (cast::mx_encode,
/// cast::nvfp4_encode) with the fast scales; NVFP4's random Hadamard transform
/// is cast::random_hadamard_transform on each gathered block. The packed NVFP4
/// form packs each panel's codes two per byte as it stores them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/cast/nvfp4_rules.hpp"
#include "mixprec/core/engine.hpp"
#include "mixprec/core/random.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scale_layout.hpp"
#include "mixprec/host/cpu_features.hpp"
#include "mixprec/host/detail/block_quantize_kernels.hpp"
#include "mixprec/host/detail/dispatch.hpp"
#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"

namespace mixprec {
namespace host {
namespace detail {

static_assert(rounds_below_float_normals_to_zero<formats::e4m3>() && rounds_below_float_normals_to_zero<formats::e5m2>() &&
                  rounds_below_float_normals_to_zero<formats::e2m3>() &&
                  rounds_below_float_normals_to_zero<formats::e3m2>() &&
                  rounds_below_float_normals_to_zero<formats::e2m1>(),
              "mx_unscaled_bits may flush quotients below 2^-126 to zero");
// The clamps of nvfp4_block_values and nvfp4_prescale change no code: rounding
// is monotone, so the bounds' codes are those of everything beyond them.
static_assert(engine::encode<formats::e4m3>(static_cast<float>(nvfp4_block_value_low), rounding::nearest_even,
                                            saturation::finite) == 0 &&
                  engine::encode<formats::e4m3>(static_cast<float>(nvfp4_block_value_high), rounding::nearest_even,
                                                saturation::finite) == formats::e4m3::max_finite_magnitude &&
                  engine::encode<formats::e4m3>(448.0f, rounding::nearest_even, saturation::finite) ==
                      formats::e4m3::max_finite_magnitude,
              "E4M3 gives 0 up to the low clamp and 448 from 448 up");
static_assert(engine::encode<formats::e2m1>(static_cast<float>(nvfp4_element_low), rounding::nearest_even,
                                            saturation::finite) == 0 &&
                  engine::encode<formats::e2m1>(static_cast<float>(nvfp4_element_low), rounding::toward_zero,
                                                saturation::finite) == 0 &&
                  engine::encode<formats::e2m1>(static_cast<float>(nvfp4_element_high), rounding::nearest_even,
                                                saturation::finite) == formats::e2m1::max_finite_magnitude &&
                  engine::encode<formats::e2m1>(static_cast<float>(nvfp4_element_high), rounding::toward_zero,
                                                saturation::finite) == formats::e2m1::max_finite_magnitude &&
                  engine::encode<formats::e2m1>(6.0f, rounding::toward_zero, saturation::finite) ==
                      formats::e2m1::max_finite_magnitude,
              "E2M1 gives 0 up to the low clamp and 6 from 6 up");

// Whether the vector encoder rounds this mode (the others take the
// reference's per-element rule).
inline bool encoder_has_mode(rounding mode) noexcept {
  return mode == rounding::nearest_even || mode == rounding::toward_zero;
}

// A loaded panel of y: element (line, p) at data[line · stride + p]
// (line-major: y's lines contiguous; row-wise panels, and column-wise ones
// gathered for the Hadamard transform) or at data[p · stride + line]
// (position-major: a column-wise panel read as it lies in x, a row of x per
// position; see "Column-wise panels read in place" in
// block_quantize_kernels.hpp). The two agree when the panel has one line.
struct panel_view {
  const float* data;
  std::size_t stride;
  bool position_major;
  // data + i · stride: line i of a line-major panel, the row of position i of a
  // position-major one.
  const float* row(std::size_t i) const noexcept { return data + i * stride; }
  float at(std::size_t line, std::size_t p) const noexcept {
    return position_major ? data[p * stride + line] : data[line * stride + p];
  }
};

// The quantized tensor y (x rowwise, xᵀ columnwise; optionally each 16-block
// of a line through the random Hadamard transform), read a panel at a time:
// lines [first_line, first_line + lines) × positions [first, first + count).
template <class Source>
class block_source {
 public:
  block_source(const Source* x, std::size_t cols, bool rowwise, bool hadamard, std::uint16_t signs, simd_path path)
      : x_(x), cols_(cols), rowwise_(rowwise), hadamard_(hadamard), signs_(signs), path_(path) {}

  // The index in x of y's element (line, position): what the stochastic
  // rounding bits count, as in the reference.
  std::size_t source_index(std::size_t line, std::size_t position) const noexcept {
    return rowwise_ ? line * cols_ + position : position * cols_ + line;
  }

  // The SIMD path the panels are loaded on.
  simd_path path() const noexcept { return path_; }

  // Whether the panels are position-major (column-wise, untransformed).
  bool position_major() const noexcept { return !rowwise_ && !hadamard_; }

  // The floats `buffer` must hold for panels of `capacity` elements: none
  // where x holds floats read in place.
  std::size_t buffer_size(std::size_t capacity) const noexcept {
    return std::is_same<Source, float>::value && !hadamard_ ? 0 : capacity;
  }

  // The panel, straight from x where it holds floats in the panel's layout,
  // else decoded or gathered into `buffer` (lines · count floats).
  // Column-wise it is position-major (x's rows as they lie), except under
  // the transform, which works along y's lines: then it is gathered.
  panel_view panel(std::size_t first_line, std::size_t lines, std::size_t first, std::size_t count,
                   float* buffer) const {
    constexpr bool floats = std::is_same<Source, float>::value;
    if (rowwise_) {
      if constexpr (floats)
        if (!hadamard_) return {x_ + first_line * cols_ + first, cols_, false};
      for (std::size_t line = 0; line < lines; ++line)
        load_floats(x_ + (first_line + line) * cols_ + first, count, buffer + line * count);
      return {finish(lines, count, buffer), count, false};
    }
    const Source* corner = x_ + first * cols_ + first_line;  // x's row `first`, column `first_line`
    if (!hadamard_) {
      if constexpr (floats) return {corner, cols_, true};
      for (std::size_t p = 0; p < count; ++p) load_floats(corner + p * cols_, lines, buffer + p * lines);
      return {buffer, lines, true};
    }
    // Gathered: x's rows [first, first + count), columns [first_line,
    // first_line + lines), transposed; read along x's rows, 16 columns at
    // a time so that the buffer lines being filled stay in L1.
#if MIXPREC_HOST_SIMD
    if constexpr (floats) {
      if (path_ != simd_path::portable) {
        transpose_floats_avx2(corner, cols_, count, lines, buffer, count);
        return {finish(lines, count, buffer), count, false};
      }
    }
#endif
    constexpr std::size_t columns_at_once = 16;
    for (std::size_t group = 0; group < lines; group += columns_at_once) {
      const std::size_t group_end = group + columns_at_once < lines ? group + columns_at_once : lines;
      for (std::size_t position = 0; position < count; ++position) {
        const Source* row = corner + position * cols_;
        for (std::size_t line = group; line < group_end; ++line)
          buffer[line * count + position] = static_cast<float>(row[line]);
      }
    }
    return {finish(lines, count, buffer), count, false};
  }

 private:
  // n consecutive elements of x as floats.
  void load_floats(const Source* from, std::size_t n, float* to) const {
    if constexpr (std::is_same<Source, float>::value)
      std::memcpy(to, from, n * sizeof(float));
    else
      decode_dispatch(from, n, to, path_);
  }

  // The transform of the buffered panel, where asked; its positions are
  // whole 16-blocks (the length is a multiple of 16).
  const float* finish(std::size_t lines, std::size_t count, float* buffer) const {
    if (hadamard_)
      for (std::size_t begin = 0; begin < lines * count; begin += hadamard_size)
        cast::random_hadamard_transform(buffer + begin, buffer + begin, signs_, false);
    return buffer;
  }

  const Source* x_;
  std::size_t cols_;
  bool rowwise_, hadamard_;
  std::uint16_t signs_;
  simd_path path_;
};

// How y is cut into panels: row-wise, `lines` lines (1, or 16 for NVFP4's
// tiles) by up to 1024 positions; column-wise, 256 lines (columns of x) by
// one block of positions (rows of x), so that every line of the panel holds
// one block. (256 columns: each row of x is read 1 KiB at a time; with 64,
// rows a power of two apart in memory evicted each other from L1 between
// column groups and the gathered column-wise MX ran at a third of the speed.)
struct panel_shape {
  std::size_t lines = 1;
  std::size_t positions = 1024;
};
inline panel_shape panel_shape_for(bool rowwise, std::size_t block, std::size_t rowwise_lines) {
  return rowwise ? panel_shape{rowwise_lines, 1024} : panel_shape{256, block};
}

// Calls body(first_line, panel_lines, first, count) for every panel of y
// [lines, length]. Column-wise, the blocks of rows advance slowest: each
// strip of x's rows is then read left to right, once.
template <class Body>
void for_each_panel(std::size_t lines, std::size_t length, const panel_shape& panel, bool rowwise, Body&& body) {
  const auto visit = [&](std::size_t first_line, std::size_t first) {
    body(first_line, lines - first_line < panel.lines ? lines - first_line : panel.lines, first,
         length - first < panel.positions ? length - first : panel.positions);
  };
  if (rowwise) {
    for (std::size_t first_line = 0; first_line < lines; first_line += panel.lines)
      for (std::size_t first = 0; first < length; first += panel.positions) visit(first_line, first);
  } else {
    for (std::size_t first = 0; first < length; first += panel.positions)
      for (std::size_t first_line = 0; first_line < lines; first_line += panel.lines) visit(first_line, first);
  }
}

// Calls kernel(line_begin, count, block_length, line) for the blocks of a
// line-major panel: the whole panel at once where it is contiguous and each
// line one block or the panel one line, else line by line.
template <class Call>
void for_panel_lines(const panel_view& y, std::size_t lines, std::size_t count, std::size_t block, Call&& call) {
  if (lines == 1 || (y.stride == count && count <= block)) {
    call(y.data, lines * count, lines == 1 ? block : count, std::size_t{0});
  } else {
    for (std::size_t line = 0; line < lines; ++line) call(y.row(line), count, block, line);
  }
}

// amax[line · blocks + b] = the magnitude pattern of block b of the panel's
// line `line` (blocks = ceil(count / Block); one per line where the panel is
// position-major, whose lines hold one block each).
template <std::size_t Block>
void panel_block_amax(const panel_view& y, std::size_t lines, std::size_t count, simd_path path,
                      std::uint32_t* amax) {
  if (y.position_major)
    return run_kernel<column_magnitude_max>(path, y.data, y.stride, count, lines, amax);
  for_panel_lines(y, lines, count, Block, [&](const float* line_y, std::size_t n, std::size_t b, std::size_t line) {
    run_kernel<block_magnitude_max<Block>>(path, line_y, n, b, amax + line * ((count + Block - 1) / Block));
  });
}

// Stores a panel's codes (lines · count, in the panel's layout) into out's
// lines [first_line, first_line + lines) from position `first` on (y's
// element (line, p) is out element line · length + p): byte for byte where
// out holds one code per byte, two per byte into float4_e2m1x2 (length,
// first and count even there, so each panel line fills whole bytes).
// Position-major codes are transposed on the way (transpose_bytes); packed,
// their row pairs are first packed in place (pack_nibble_rows: row t is
// written after rows 2t and 2t + 1 are read).
template <class Element>
void store_panel(Element* codes, std::size_t lines, std::size_t count, bool position_major, Element* out,
                 std::size_t first_line, std::size_t length, std::size_t first, simd_path path) {
  static_assert(sizeof(Element) == 1, "codes are single bytes");
  if (position_major)
    return run_kernel<transpose_bytes>(path, reinterpret_cast<const std::uint8_t*>(codes), lines, count, lines,
                                       reinterpret_cast<std::uint8_t*>(out + first_line * length + first), length);
  for (std::size_t line = 0; line < lines; ++line)
    std::memcpy(out + (first_line + line) * length + first, codes + line * count, count * sizeof(Element));
}
inline void store_panel(float4_e2m1* codes, std::size_t lines, std::size_t count, bool position_major,
                        float4_e2m1x2* out, std::size_t first_line, std::size_t length, std::size_t first,
                        simd_path path) {
  static_assert(sizeof(float4_e2m1) == 1 && sizeof(float4_e2m1x2) == 1, "codes and pairs are single bytes");
  auto* const bytes = reinterpret_cast<std::uint8_t*>(codes);
  auto* const out_bytes = reinterpret_cast<std::uint8_t*>(out);
  if (position_major) {
    run_kernel<pack_nibble_rows>(path, static_cast<const std::uint8_t*>(bytes), count / 2, lines, bytes);
    return run_kernel<transpose_bytes>(path, static_cast<const std::uint8_t*>(bytes), lines, count / 2, lines,
                                       out_bytes + (first_line * length + first) / 2, length / 2);
  }
  for (std::size_t line = 0; line < lines; ++line)
    run_kernel<pack_nibble_pairs>(path, static_cast<const std::uint8_t*>(bytes + line * count), count / 2,
                                  out_bytes + ((first_line + line) * length + first) / 2);
}

// Encodes a line-major panel of pre-scaled floats (lines · count) on `path`
// into out's lines (see store_panel): a one-line panel straight into out
// where out holds one code per byte, else through `codes` (lines · count).
template <class Element, class Storage>
void encode_panel(const float* pre, std::size_t lines, std::size_t count, Storage* out, std::size_t first_line,
                  std::size_t length, std::size_t first, rounding mode, simd_path path, std::vector<Element>& codes) {
  if constexpr (std::is_same<Element, Storage>::value)
    if (lines == 1)
      return encode_on_path(pre, count, out + first_line * length + first, mode, saturation::finite, path);
  encode_on_path(pre, lines * count, codes.data(), mode, saturation::finite, path);
  store_panel(codes.data(), lines, count, false, out, first_line, length, first, path);
}

// The same for a position-major panel, a few rows of x at a time so that
// the pre-scaled floats stay in L1: prescale_row(i, pre) writes the `lines`
// floats of the panel's row i (position i) into pre, which are encoded into
// row i of `codes` (count · lines, position-major), stored at the end.
// pre holds rows_per_encode rows: the rows of codes are contiguous, so the
// group is encoded by one call (one call per row of 256 floats cost the
// encoder's entry and tail about a third of its time).
constexpr std::size_t rows_per_encode = 4;
template <class Element, class Storage, class PrescaleRow>
void encode_panel_by_rows(std::size_t lines, std::size_t count, Storage* out, std::size_t first_line,
                          std::size_t length, std::size_t first, rounding mode, simd_path path, float* pre,
                          std::vector<Element>& codes, PrescaleRow&& prescale_row) {
  for (std::size_t i = 0; i < count; i += rows_per_encode) {
    const std::size_t rows = count - i < rows_per_encode ? count - i : rows_per_encode;
    for (std::size_t r = 0; r < rows; ++r) prescale_row(i + r, pre + r * lines);
    encode_on_path(pre, rows * lines, codes.data() + i * lines, mode, saturation::finite, path);
  }
  store_panel(codes.data(), lines, count, true, out, first_line, length, first, path);
}

// The modes without a vector encoder (stochastic, upward, downward): the
// reference's rule element by element. encode_one(value, line, p, random_bits)
// returns the code of element p of the panel's line `line`; stochastic
// rounding reads the bits of the element's index in x, as the references do.
// Codes go straight into out where it holds one per byte and the panel is
// line-major, else through `codes` (lines · count, in the panel's layout)
// and store_panel.
template <class Element, class Storage, class Source, class Options, class EncodeOne>
void encode_panel_elementwise(const block_source<Source>& source, const panel_view& y, std::size_t lines,
                              std::size_t count, Storage* out, std::size_t first_line, std::size_t length,
                              std::size_t first, const Options& o, std::vector<Element>& codes,
                              EncodeOne&& encode_one) {
  constexpr bool one_per_byte = std::is_same<Element, Storage>::value;
  const bool direct = one_per_byte && !y.position_major;
  // Force-inlined: both loops below call it, and g++ otherwise keeps it out
  // of line, a call per element (30 % slower stochastic NVFP4).
  const auto encode_at = [&](std::size_t line, std::size_t p) MIXPREC_LAMBDA_INLINE {
    const std::size_t index = source.source_index(first_line + line, first + p);
    const std::uint32_t random_bits =
        o.mode == rounding::stochastic ? stochastic_rounding_bits(o.seed, o.offset, index) : 0u;
    const Element code = encode_one(y.at(line, p), line, p, random_bits);
    if constexpr (one_per_byte)
      if (direct) {
        out[(first_line + line) * length + first + p] = code;
        return;
      }
    codes[y.position_major ? p * lines + line : line * count + p] = code;
  };
  if (y.position_major) {
    for (std::size_t p = 0; p < count; ++p)
      for (std::size_t line = 0; line < lines; ++line) encode_at(line, p);
  } else {
    for (std::size_t line = 0; line < lines; ++line)
      for (std::size_t p = 0; p < count; ++p) encode_at(line, p);
  }
  if (!direct) store_panel(codes.data(), lines, count, y.position_major, out, first_line, length, first, source.path());
}

template <class Element, class Source>
void quantize_mx_on_path(const Source* x, std::int64_t rows, std::int64_t cols, Element* out, float8_e8m0* scales,
                         const mx_options& o, mx_orientation orientation, simd_path path, const char* who) {
  static_assert(is_mx_element<Element>::value, "MX elements are E4M3, E5M2, E2M3, E3M2 or E2M1");
  static_assert(has_vector_encoder<typename Element::format>::value, "every MX element has a vector encoder");
  const cast::detail::block_quantize_shape shape = cast::detail::check_mx_quantize(x, rows, cols, out, scales, o, orientation, who);
  require_supported(path, who);
  if (shape.elements == 0) return;
  const auto lines = static_cast<std::size_t>(shape.lines), length = static_cast<std::size_t>(shape.length);
  constexpr std::size_t block = mx_block_size;
  for (std::size_t i = 0; i < shape.scale_count; ++i) scales[i] = float8_e8m0::from_bits(0);  // tile padding
  const block_source<Source> source(x, static_cast<std::size_t>(cols), shape.rowwise, false, 0, path);
  const panel_shape panel = panel_shape_for(shape.rowwise, block, 1);
  const std::size_t capacity = panel.lines * panel.positions, blocks_capacity = capacity / block + panel.lines;
  // pre: a panel, or rows_per_encode rows of a position-major one (encode_panel_by_rows).
  std::vector<float> buffer(source.buffer_size(capacity)),
      pre(source.position_major() ? rows_per_encode * panel.lines : capacity);
  std::vector<Element> codes(panel.lines == 1 ? 0 : capacity);
  std::vector<std::uint32_t> amax(blocks_capacity);
  std::vector<std::uint8_t> scale_codes(blocks_capacity);
  std::vector<std::uint32_t> unscales(shape.rowwise ? 0 : panel.lines);  // per column, position-major panels
  const bool vector_mode = encoder_has_mode(o.mode);
  for_each_panel(lines, length, panel, shape.rowwise, [&](std::size_t first_line, std::size_t panel_lines,
                                                         std::size_t first, std::size_t count) {
      const std::size_t blocks = (count + block - 1) / block;  // per line of the panel
      const panel_view y = source.panel(first_line, panel_lines, first, count, buffer.data());
      panel_block_amax<block>(y, panel_lines, count, path, amax.data());
      for (std::size_t line = 0; line < panel_lines; ++line)
        for (std::size_t b = 0; b < blocks; ++b) {
          const std::uint8_t code = mx_scale_code<Element>(amax[line * blocks + b], o.rule);
          scale_codes[line * blocks + b] = code;
          scales[gemm::block_scale_offset(o.scale_layout, first_line + line, first / block + b, shape.blocks)] =
              float8_e8m0::from_bits(code);
        }
      if (vector_mode) {
        if (y.position_major) {
          for (std::size_t line = 0; line < panel_lines; ++line) unscales[line] = mx_unscale_bits(scale_codes[line]);
          encode_panel_by_rows(panel_lines, count, out, first_line, length, first, o.mode, path, pre.data(), codes,
                               [&](std::size_t i, float* pre_row) {
                                 run_kernel<mx_unscale_columns>(path, y.row(i), panel_lines, unscales.data(), pre_row);
                               });
        } else {
          for_panel_lines(y, panel_lines, count, block, [&](const float* line_y, std::size_t n, std::size_t b, std::size_t line) {
            run_kernel<mx_unscale>(path, line_y, n, b, scale_codes.data() + line * blocks, pre.data() + line * count);
          });
          encode_panel(pre.data(), panel_lines, count, out, first_line, length, first, o.mode, path, codes);
        }
        return;
      }
      encode_panel_elementwise(source, y, panel_lines, count, out, first_line, length, first, o, codes,
                               [&](float value, std::size_t line, std::size_t p, std::uint32_t random_bits) {
                                 return cast::mx_encode<Element>(
                                     value, float8_e8m0::from_bits(scale_codes[line * blocks + p / block]), o.mode,
                                     random_bits);
                               });
  });
}

// quantize_nvfp4 (Storage float4_e2m1) and quantize_nvfp4_packed
// (float4_e2m1x2): the same panels, scales and encoders; the packed form
// packs each panel's codes as it stores them (store_panel).
template <class Source, class Storage>
float quantize_nvfp4_on_path(const Source* x, std::int64_t rows, std::int64_t cols, Storage* out,
                             float8_e4m3* block_scales, const nvfp4_options& o, mx_orientation orientation,
                             simd_path path, const char* who) {
  const cast::detail::block_quantize_shape shape =
      cast::detail::check_nvfp4_quantize(x, rows, cols, out, block_scales, o, orientation, who);
  require_supported(path, who);
  if (shape.elements == 0) return 1.0f;  // an empty tensor: amax 0, as the reference
  const auto lines = static_cast<std::size_t>(shape.lines), length = static_cast<std::size_t>(shape.length);
  constexpr std::size_t block = nvfp4_block_size;
  const block_source<Source> source(x, static_cast<std::size_t>(cols), shape.rowwise, o.random_hadamard,
                                    o.hadamard_signs, path);
  // Tiles of 16x16: 16 lines per row-wise panel; the column-wise panels'
  // 256 lines are 16 tiles wide.
  const std::size_t tile_lines = o.two_dimensional_blocks ? block : 1;
  const panel_shape panel = panel_shape_for(shape.rowwise, block, tile_lines);
  const std::size_t capacity = panel.lines * panel.positions, blocks_capacity = capacity / block + panel.lines;
  std::vector<float> buffer(source.buffer_size(capacity)),
      pre(source.position_major() ? rows_per_encode * panel.lines : capacity);
  std::vector<float> values(blocks_capacity), block_scale_values(blocks_capacity);
  nvfp4_column_scales column_scales(source.position_major() ? panel.lines : 0);
  constexpr bool packed = std::is_same<Storage, float4_e2m1x2>::value;
  std::vector<float4_e2m1> codes(panel.lines == 1 && !packed ? 0 : capacity);
  std::vector<float8_e4m3> scale_codes(blocks_capacity);
  std::vector<std::uint32_t> amax(blocks_capacity);

  const auto for_each_loaded_panel = [&](auto&& body) {
    for_each_panel(lines, length, panel, shape.rowwise, [&](std::size_t first_line, std::size_t panel_lines,
                                                           std::size_t first, std::size_t count) {
      body(first_line, panel_lines, first, count, source.panel(first_line, panel_lines, first, count, buffer.data()));
    });
  };

  // The tensor amax, of y (x itself unless transformed: the same magnitudes).
  std::uint32_t tensor_amax = 0;
  bool amax_done = false;
  if constexpr (std::is_same<Source, float>::value) {
    if (!o.random_hadamard) {  // one pass over x, the whole tensor as one block
      run_kernel<block_magnitude_max<block>>(path, x, shape.elements, shape.elements, &tensor_amax);
      amax_done = true;
    }
  }
  if (!amax_done) {
    for_each_loaded_panel([&](std::size_t, std::size_t panel_lines, std::size_t, std::size_t count, const panel_view& y) {
      // Each contiguous run of the panel (a line, or a row of x) as one block.
      const std::size_t runs = y.position_major ? count : panel_lines, run = y.position_major ? panel_lines : count;
      for (std::size_t r = 0; r < runs; ++r) {
        std::uint32_t run_amax = 0;
        run_kernel<block_magnitude_max<block>>(path, y.row(r), run, run, &run_amax);
        tensor_amax = run_amax > tensor_amax ? run_amax : tensor_amax;
      }
    });
  }
  const float tensor_scale = cast::nvfp4_tensor_scale(float_of(tensor_amax));

  for (std::size_t i = 0; i < shape.scale_count; ++i) block_scales[i] = float8_e4m3::from_bits(0);  // tile padding
  const bool vector_mode = encoder_has_mode(o.mode);
  for_each_loaded_panel([&](std::size_t first_line, std::size_t panel_lines, std::size_t first, std::size_t count,
                            const panel_view& y) {
    const std::size_t blocks = (count + block - 1) / block;  // per line of the panel
    const std::size_t panel_blocks = panel_lines * blocks;
    panel_block_amax<block>(y, panel_lines, count, path, amax.data());
    if (o.two_dimensional_blocks)  // a tile's amax over its 16 lines (panels start on a tile)
      for (std::size_t tile = 0; tile < panel_lines; tile += tile_lines)
        for (std::size_t b = 0; b < blocks; ++b) {
          const std::size_t end = tile + tile_lines < panel_lines ? tile + tile_lines : panel_lines;
          std::uint32_t tile_amax = 0;
          for (std::size_t line = tile; line < end; ++line)
            tile_amax = amax[line * blocks + b] > tile_amax ? amax[line * blocks + b] : tile_amax;
          for (std::size_t line = tile; line < end; ++line) amax[line * blocks + b] = tile_amax;
        }
    run_kernel<nvfp4_block_values>(path, amax.data(), panel_blocks, tensor_scale, values.data());
    encode_on_path(values.data(), panel_blocks, scale_codes.data(), rounding::nearest_even, saturation::finite, path);
    // One loop over the panel's blocks (k = line · blocks + b): nested, a
    // position-major panel (one block per line) paid the outer loop's
    // overhead for every block.
    for (std::size_t k = 0, line = 0, b = 0; k < panel_blocks; ++k) {
      const float8_e4m3 d = scale_codes[k];
      block_scale_values[k] = static_cast<float>(d);
      block_scales[gemm::block_scale_offset(o.scale_layout, first_line + line, first / block + b, shape.blocks)] = d;
      if (++b == blocks) {
        b = 0;
        ++line;
      }
    }
    if (vector_mode) {
      if (y.position_major) {
        column_scales.set(block_scale_values.data(), panel_lines);
        encode_panel_by_rows(panel_lines, count, out, first_line, length, first, o.mode, path, pre.data(), codes,
                             [&](std::size_t i, float* pre_row) {
                               run_kernel<nvfp4_prescale_columns>(path, y.row(i), panel_lines, &column_scales,
                                                                  tensor_scale, pre_row);
                             });
      } else {
        for_panel_lines(y, panel_lines, count, block, [&](const float* line_y, std::size_t n, std::size_t b, std::size_t line) {
          run_kernel<nvfp4_prescale>(path, line_y, n, b, block_scale_values.data() + line * blocks, tensor_scale,
                                     pre.data() + line * count);
        });
        encode_panel(pre.data(), panel_lines, count, out, first_line, length, first, o.mode, path, codes);
      }
      return;
    }
    encode_panel_elementwise(source, y, panel_lines, count, out, first_line, length, first, o, codes,
                             [&](float value, std::size_t line, std::size_t p, std::uint32_t random_bits) {
                               return cast::nvfp4_encode(value, scale_codes[line * blocks + p / block], tensor_scale,
                                                         o.mode, random_bits);
                             });
  });
  return tensor_scale;
}

}  // namespace detail

/// reference::quantize_mx, fast: quantizes x ([rows, cols], row-major; float
/// or a mixprec value type) to MX elements of type Element (float8_e4m3,
/// float8_e5m2, float6_e2m3, float6_e3m2, float4_e2m1, one per byte) with one
/// float8_e8m0 scale per block of 32 consecutive elements along
/// `orientation` (rowwise: out [rows, cols], scales [rows, ceil(cols / 32)];
/// columnwise: out [cols, rows] = xᵀ quantized, scales [cols, ceil(rows /
/// 32)]), in o.scale_layout. Every byte written equals reference::quantize_mx's
/// (rules: mixprec/cast/mx_rules.hpp), on the CPU's best SIMD path.
/// \throws mixprec::error, before writing anything, in exactly the cases and
///         with the messages of reference::quantize_mx (negative rows or cols
///         or a product that overflows, a null x, out or scales with
///         elements, options whose rule, mode or layout is no enumerator, an
///         orientation that is no enumerator, arrays that overlap or reach
///         beyond the address space).
template <class Element, class Source>
void quantize_mx(const Source* x, std::int64_t rows, std::int64_t cols, Element* out, float8_e8m0* scales,
                 const mx_options& o = {}, mx_orientation orientation = mx_orientation::rowwise) {
  detail::quantize_mx_on_path(x, rows, cols, out, scales, o, orientation, best_simd_path(), "mixprec::host::quantize_mx");
}

/// The same on a given path (the same bytes on every path).
/// \throws mixprec::error as above, and when this CPU cannot run `path`.
template <class Element, class Source>
void quantize_mx(const Source* x, std::int64_t rows, std::int64_t cols, Element* out, float8_e8m0* scales,
                 const mx_options& o, mx_orientation orientation, simd_path path) {
  detail::quantize_mx_on_path(x, rows, cols, out, scales, o, orientation, path, "mixprec::host::quantize_mx");
}

/// reference::quantize_nvfp4, fast: quantizes x ([rows, cols], row-major;
/// float or a mixprec value type) to NVFP4 — E2M1 elements (one per byte) in
/// `out`, E4M3 block scales in `block_scales` (ceil(length / 16) per line, in
/// o.scale_layout) — and returns the FP32 tensor scale S (decode: x ≈ q · d /
/// S). rowwise: out [rows, cols]; columnwise: out [cols, rows] = xᵀ quantized.
/// Every byte written and S equal reference::quantize_nvfp4's (rules:
/// mixprec/cast/nvfp4_rules.hpp; 16x16 tiles and the random Hadamard
/// transform included), on the CPU's best SIMD path.
/// \throws mixprec::error, before writing anything, in exactly the cases and
///         with the messages of reference::quantize_nvfp4 (negative rows or
///         cols or sizes that overflow, a null x, out or block_scales with
///         elements, a mode, layout or orientation that is no enumerator,
///         random_hadamard with two_dimensional_blocks or with a quantized
///         dimension that is no multiple of 16, arrays that overlap or reach
///         beyond the address space).
template <class Source>
float quantize_nvfp4(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1* out, float8_e4m3* block_scales,
                     const nvfp4_options& o = {}, mx_orientation orientation = mx_orientation::rowwise) {
  return detail::quantize_nvfp4_on_path(x, rows, cols, out, block_scales, o, orientation, best_simd_path(),
                                        "mixprec::host::quantize_nvfp4");
}

/// The same on a given path (the same bytes on every path).
/// \throws mixprec::error as above, and when this CPU cannot run `path`.
template <class Source>
float quantize_nvfp4(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1* out, float8_e4m3* block_scales,
                     const nvfp4_options& o, mx_orientation orientation, simd_path path) {
  return detail::quantize_nvfp4_on_path(x, rows, cols, out, block_scales, o, orientation, path,
                                        "mixprec::host::quantize_nvfp4");
}

/// reference::quantize_nvfp4_packed, fast: host::quantize_nvfp4 writing the
/// elements packed two per byte (float4_e2m1x2: element 2t of a line in the
/// low nibble of byte t, each line starting on a byte; out holds lines ·
/// length / 2 bytes), the storage of cuBLASLt's CUDA_R_4F_E2M1 operands and
/// PyTorch's float4_e2m1fn_x2. Every element byte, block scale and S equal
/// reference::quantize_nvfp4_packed's, on the CPU's best SIMD path; each
/// panel's codes are packed as they are stored (no unpacked copy of the
/// tensor).
/// \throws mixprec::error, before writing anything, in exactly the cases and
///         with the messages of reference::quantize_nvfp4_packed (an odd
///         quantized dimension, a null out with elements, and every error of
///         quantize_nvfp4, overlaps included).
template <class Source>
float quantize_nvfp4_packed(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1x2* out,
                            float8_e4m3* block_scales, const nvfp4_options& o = {},
                            mx_orientation orientation = mx_orientation::rowwise) {
  return detail::quantize_nvfp4_on_path(x, rows, cols, out, block_scales, o, orientation, best_simd_path(),
                                        "mixprec::host::quantize_nvfp4_packed");
}

/// The same on a given path (the same bytes on every path).
/// \throws mixprec::error as above, and when this CPU cannot run `path`.
template <class Source>
float quantize_nvfp4_packed(const Source* x, std::int64_t rows, std::int64_t cols, float4_e2m1x2* out,
                            float8_e4m3* block_scales, const nvfp4_options& o, mx_orientation orientation,
                            simd_path path) {
  return detail::quantize_nvfp4_on_path(x, rows, cols, out, block_scales, o, orientation, path,
                                        "mixprec::host::quantize_nvfp4_packed");
}

}  // namespace host
}  // namespace mixprec
