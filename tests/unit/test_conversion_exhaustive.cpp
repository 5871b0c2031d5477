// Every float input, converted to every format, bit for bit against two
// independent references (issue 2 §6):
//   (a) CUDA's host conversion functions, for the (format, mode, saturation)
//       combinations they implement;
//   (b) tests/support/independent_reference.hpp, which shares no code with
//       mixprec, for every combination.
// Both the scalar conversion (mixprec::convert) and the bulk one
// (mixprec::convert_n on each SIMD path of this machine, where the format and
// mode have a vector encoder) are held to (b) in the same pass: the expected
// codes are computed once per input for both.
// One TEST_CASE per (format, mode) so that `ctest -j` spreads the sweeps over
// the cores. MIXPREC_EXHAUSTIVE_STRIDE=s tests only every s-th input (the
// sanitizer run uses it).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mixprec/host/convert_n.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"
#include "support/exhaustive.hpp"
#include "support/independent_reference.hpp"
#include "support/reference_formats.hpp"

#if MIXPREC_HAVE_CUDA_HOST_HEADERS
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp6.h>
#include <cuda_fp8.h>
#endif

namespace {

using mixprec::rounding;
using mixprec::saturation;

using mixprec_test::exhaustive_stride;


using reference::spec_of;

constexpr reference::mode reference_mode(rounding r) {
  return r == rounding::nearest_even  ? reference::mode::nearest_even
         : r == rounding::toward_zero ? reference::mode::toward_zero
         : r == rounding::upward      ? reference::mode::upward
                                      : reference::mode::downward;
}

// Counts mismatches and keeps the first few for the failure message.
class mismatch_log {
 public:
  // Out of line and cold: the sweep's inner loop stays small.
  __attribute__((noinline, cold)) void add(const char* against, std::uint32_t input, std::uint32_t expected, std::uint32_t actual) {
    if (count_++ < 8) {
      char line[160];
      std::snprintf(line, sizeof line, "  %s: input 0x%08X (%.9g): expected 0x%04X, mixprec gave 0x%04X\n", against,
                    input, static_cast<double>(reference::float_from_bits(input)), expected, actual);
      first_ += line;
    }
  }
  std::uint64_t count() const { return count_; }
  std::string report() const { return first_; }

 private:
  std::uint64_t count_ = 0;
  std::string first_;
};

// ---- (a) CUDA's host functions, where they implement the combination -------
// The primary template: no CUDA function for this combination.
template <class T, rounding R, saturation S>
struct cuda_reference {
  static constexpr bool available = false;
  // True where CUDA's function takes no saturation argument, so the
  // saturation::none entry is the same call as the ::finite one (FP4, FP6).
  static constexpr bool same_call_as_finite = false;
  static constexpr const char* name = "";
  static bool covers(std::uint32_t) { return false; }
  static std::uint32_t convert(float) { return 0; }
};

#if MIXPREC_HAVE_CUDA_HOST_HEADERS
inline std::uint32_t raw(__half h) { return static_cast<__half_raw>(h).x; }
inline std::uint32_t raw(__nv_bfloat16 h) { return static_cast<__nv_bfloat16_raw>(h).x; }
inline bool is_infinite(std::uint32_t bits) { return (bits & 0x7FFFFFFFu) == 0x7F800000u; }

// __float2half_rn / __float2bfloat16_rn overflow to inf: saturation::none.
// __float2*_rz never pass max for finite input and keep ±inf: toward_zero
// with saturation::none everywhere, and with saturation::finite except ±inf
// (one call serves both where both cover the input).
// __float2*_ru / _rd are IEEE directed rounding with infinities: saturation::none.
#define MIXPREC_CUDA_REFERENCE_CALL(T, R, S, function, covered, same_call) \
  template <>                                                   \
  struct cuda_reference<T, R, S> {                              \
    static constexpr bool available = true;                     \
    static constexpr bool same_call_as_finite = same_call;      \
    static constexpr const char* name = #function;              \
    static bool covers(std::uint32_t bits) {                    \
      (void)bits;                                               \
      return covered;                                           \
    }                                                           \
    static std::uint32_t convert(float x) { return function; }  \
  };
#define MIXPREC_CUDA_REFERENCE(T, R, S, function, covered) \
  MIXPREC_CUDA_REFERENCE_CALL(T, R, S, function, covered, false)
MIXPREC_CUDA_REFERENCE(mixprec::float16, rounding::nearest_even, saturation::none, raw(__float2half_rn(x)), true)
MIXPREC_CUDA_REFERENCE_CALL(mixprec::float16, rounding::toward_zero, saturation::none, raw(__float2half_rz(x)), true,
                            true)
MIXPREC_CUDA_REFERENCE(mixprec::float16, rounding::toward_zero, saturation::finite, raw(__float2half_rz(x)),
                       !is_infinite(bits))
MIXPREC_CUDA_REFERENCE(mixprec::float16, rounding::upward, saturation::none, raw(__float2half_ru(x)), true)
MIXPREC_CUDA_REFERENCE(mixprec::float16, rounding::downward, saturation::none, raw(__float2half_rd(x)), true)
MIXPREC_CUDA_REFERENCE(mixprec::bfloat16, rounding::nearest_even, saturation::none, raw(__float2bfloat16_rn(x)), true)
MIXPREC_CUDA_REFERENCE_CALL(mixprec::bfloat16, rounding::toward_zero, saturation::none, raw(__float2bfloat16_rz(x)), true,
                            true)
MIXPREC_CUDA_REFERENCE(mixprec::bfloat16, rounding::toward_zero, saturation::finite, raw(__float2bfloat16_rz(x)),
                       !is_infinite(bits))
MIXPREC_CUDA_REFERENCE(mixprec::bfloat16, rounding::upward, saturation::none, raw(__float2bfloat16_ru(x)), true)
MIXPREC_CUDA_REFERENCE(mixprec::bfloat16, rounding::downward, saturation::none, raw(__float2bfloat16_rd(x)), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e4m3, rounding::nearest_even, saturation::finite,
                       __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e4m3, rounding::nearest_even, saturation::none,
                       __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e5m2, rounding::nearest_even, saturation::finite,
                       __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e5m2, rounding::nearest_even, saturation::none,
                       __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2), true)
// FP4 and FP6 (CUDA 12.8): round to nearest even or toward zero, always
// saturating (the formats have no inf or NaN), NaN to +max; mixprec gives the
// same under both of its saturation policies (one CUDA call serves both).
#define MIXPREC_CUDA_MICROSCALING_REFERENCE(T, R, function)                       \
  MIXPREC_CUDA_REFERENCE(T, R, saturation::finite, function, true)                \
  MIXPREC_CUDA_REFERENCE_CALL(T, R, saturation::none, function, true, true)
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float4_e2m1, rounding::nearest_even,
                                    __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest))
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float4_e2m1, rounding::toward_zero,
                                    __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundZero))
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float6_e2m3, rounding::nearest_even,
                                    __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundNearest))
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float6_e2m3, rounding::toward_zero,
                                    __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundZero))
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float6_e3m2, rounding::nearest_even,
                                    __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundNearest))
MIXPREC_CUDA_MICROSCALING_REFERENCE(mixprec::float6_e3m2, rounding::toward_zero,
                                    __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundZero))
#undef MIXPREC_CUDA_MICROSCALING_REFERENCE
// E8M0 (CUDA 12.8): |x| rounded toward zero (cudaRoundZero) or up
// (cudaRoundPosInf), with __NV_SATFINITE or __NV_NOSAT.
MIXPREC_CUDA_REFERENCE(mixprec::float8_e8m0, rounding::toward_zero, saturation::finite,
                       __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundZero), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e8m0, rounding::toward_zero, saturation::none,
                       __nv_cvt_float_to_e8m0(x, __NV_NOSAT, cudaRoundZero), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e8m0, rounding::upward, saturation::finite,
                       __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf), true)
MIXPREC_CUDA_REFERENCE(mixprec::float8_e8m0, rounding::upward, saturation::none,
                       __nv_cvt_float_to_e8m0(x, __NV_NOSAT, cudaRoundPosInf), true)
#undef MIXPREC_CUDA_REFERENCE
#undef MIXPREC_CUDA_REFERENCE_CALL
#endif

// What one sweep found.
struct sweep_result {
  mismatch_log against_reference;
  mismatch_log against_cuda;
  mismatch_log bulk_against_reference;
  std::uint64_t inputs = 0;
  std::uint64_t cuda_inputs = 0;
  std::uint64_t bulk_inputs = 0;  // per SIMD path and saturation
  std::string cuda_functions;
  std::string bulk_paths;
};

// (b) for convert_n: the inputs of a run share their expected codes (one per
// sign and saturation), so each run is converted in chunks on every SIMD path
// under both saturations and every element compared with that code. Formats
// and modes without a vector encoder run the scalar engine on every path
// (host/detail/dispatch.hpp): nothing to add there.
template <class T, rounding R>
class bulk_check {
 public:
  static constexpr bool enabled = mixprec::host::detail::has_vector_encoder<typename T::format>::value &&
                                  (R == rounding::nearest_even || R == rounding::toward_zero);

  explicit bulk_check(sweep_result& result)
      : result_(result), input_(chunk), expected_(chunk), actual_(chunk) {
    for (const mixprec::host::simd_path path : mixprec::host::available_simd_paths())
      if (enabled && path != mixprec::host::simd_path::portable) paths_.push_back(path);
    for (const mixprec::host::simd_path path : paths_)
      result_.bulk_paths += std::string(result_.bulk_paths.empty() ? "" : ", ") + mixprec::host::to_string(path);
  }

  // The stride-th magnitudes of [begin, end), each with both signs; expected
  // as in check_run. The loops are written to vectorise: this runs on every
  // float, like the scalar sweep. Out of line: inlined, it made check_run too
  // big for g++ to inline CUDA's __nv_cvt_float_to_fp8 there, which then ran
  // at a third of its speed (the E4M3/E5M2 sweeps took 60 s instead of 25 s).
  __attribute__((noinline)) void check_run(std::uint64_t begin, std::uint64_t end, std::uint32_t stride,
                                           const std::uint32_t (&expected)[2][2]) {
    if (paths_.empty()) return;
    const std::uint64_t first = (begin + stride - 1) / stride * stride;
    const std::uint64_t total = end > first ? (end - first + stride - 1) / stride : 0;
    for (int negative = 0; negative < 2; ++negative) {
      for (std::uint64_t done = 0; done < total;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - done));
        // Magnitudes stay below 2^31, so adding the sign bit is OR-ing it.
        const std::uint32_t base = static_cast<std::uint32_t>(first + done * stride) + (negative ? 0x80000000u : 0u);
        // An induction (an add per element), not i * stride: SSE2 has no
        // 32-bit vector multiply.
        std::uint32_t bits = base;
        for (std::size_t i = 0; i < n; ++i, bits += stride) input_[i] = reference::float_from_bits(bits);
        for (int policy = 0; policy < 2; ++policy) {
          expect(static_cast<storage>(expected[negative][policy]));
          for (const mixprec::host::simd_path path : paths_)
            compare(n, path, policy == 0 ? saturation::finite : saturation::none);
        }
        result_.bulk_inputs += n;
        done += n;
      }
    }
  }

 private:
  using storage = typename T::storage_type;
  // 4096 floats and their codes stay in L1 (16 Ki: ~11 % slower sweeps).
  static constexpr std::size_t chunk = std::size_t{1} << 12;
  // Fills the chunk of expected codes only when the code changes (a run's
  // codes alternate between at most four), and as integers: std::fill_n on
  // the value type stored one byte per iteration (10 % of a sweep).
  void expect(storage code) {
    if (expected_filled_ && expected_.front() == code) return;
    std::fill(expected_.begin(), expected_.end(), code);
    expected_filled_ = true;
  }
  void compare(std::size_t n, mixprec::host::simd_path path, saturation policy) {
    mixprec::convert_n(input_.data(), n, actual_.data(), R, policy, path);
    static_assert(sizeof(T) == sizeof(storage), "a value is its storage");
    if (std::memcmp(actual_.data(), expected_.data(), n * sizeof(T)) == 0) return;
    const std::string label = std::string("convert_n ") + mixprec::host::to_string(path) +
                              (policy == saturation::finite ? ", saturation::finite" : ", saturation::none");
    for (std::size_t i = 0; i < n; ++i)
      if (actual_[i].bits() != expected_[i])
        result_.bulk_against_reference.add(label.c_str(), reference::float_bits(input_[i]), expected_[i],
                                           actual_[i].bits());
  }
  sweep_result& result_;
  std::vector<mixprec::host::simd_path> paths_;
  std::vector<float> input_;
  std::vector<storage> expected_;
  bool expected_filled_ = false;
  std::vector<T> actual_;
};

// Checks every stride-th magnitude in [begin, end) (float bits, sign clear),
// each with both signs and both saturations, against the codes the reference
// expects for the whole run (expected[negative][0 = finite, 1 = none]) and,
// where CUDA implements the combination, against CUDA.
template <class T, rounding R>
void check_run(std::uint64_t begin, std::uint64_t end, std::uint32_t stride, const std::uint32_t (&expected)[2][2],
               sweep_result& result, bulk_check<T, R>& bulk) {
  using finite_cuda = cuda_reference<T, R, saturation::finite>;
  using none_cuda = cuda_reference<T, R, saturation::none>;
  static_assert(!finite_cuda::same_call_as_finite, "the saturation::finite entry is its own call");
  const std::uint32_t expected_finite[2] = {expected[0][0], expected[1][0]};
  const std::uint32_t expected_none[2] = {expected[0][1], expected[1][1]};
  std::uint64_t inputs = 0, cuda_inputs = 0;
  for (std::uint64_t magnitude = (begin + stride - 1) / stride * stride; magnitude < end; magnitude += stride) {
    for (int negative = 0; negative < 2; ++negative) {
      const std::uint32_t bits = static_cast<std::uint32_t>(magnitude) | (negative ? 0x80000000u : 0u);
      const float x = reference::float_from_bits(bits);
      const std::uint32_t finite = mixprec::convert<T>(x, R, saturation::finite).bits();
      const std::uint32_t none = mixprec::convert<T>(x, R, saturation::none).bits();
      if (finite != expected_finite[negative])
        result.against_reference.add("reference, saturation::finite", bits, expected_finite[negative], finite);
      if (none != expected_none[negative])
        result.against_reference.add("reference, saturation::none", bits, expected_none[negative], none);
      std::uint32_t finite_cuda_code = 0;
      bool finite_cuda_called = false;
      if constexpr (finite_cuda::available) {
        if (finite_cuda::covers(bits)) {
          finite_cuda_code = finite_cuda::convert(x);
          finite_cuda_called = true;
          if (finite != finite_cuda_code) result.against_cuda.add(finite_cuda::name, bits, finite_cuda_code, finite);
          ++cuda_inputs;
        }
      }
      if constexpr (none_cuda::available) {
        if (none_cuda::covers(bits)) {
          const std::uint32_t cuda =
              none_cuda::same_call_as_finite && finite_cuda_called ? finite_cuda_code : none_cuda::convert(x);
          if (none != cuda) result.against_cuda.add(none_cuda::name, bits, cuda, none);
          ++cuda_inputs;
        }
      }
      ++inputs;
    }
  }
  result.inputs += inputs;
  result.cuda_inputs += cuda_inputs;
  bulk.check_run(begin, end, stride, expected);
}

// Which float magnitudes a sweep tests: every dense_stride-th one in
// [dense_begin, dense_end) (float bits) and every sparse_stride-th one
// outside. A full sweep has one stride everywhere.
struct sweep_plan {
  std::uint64_t dense_begin = 0, dense_end = 0x80000000u;
  std::uint32_t dense_stride = 1, sparse_stride = 1;

  static std::uint64_t multiples(std::uint64_t begin, std::uint64_t end, std::uint32_t stride) {
    const auto up_to = [stride](std::uint64_t x) { return (x + stride - 1) / stride; };  // multiples below x
    return end > begin ? up_to(end) - up_to(begin) : 0;
  }
  // How many magnitudes the plan tests (each with both signs).
  std::uint64_t magnitudes() const {
    return multiples(0, dense_begin, sparse_stride) + multiples(dense_begin, dense_end, dense_stride) +
           multiples(dense_end, 0x80000000u, sparse_stride);
  }
};

// The float bits of a non-negative double that is a float or 2^128 (which
// sorts where +inf's bits are, 0x7F800000).
inline std::uint64_t sort_key(double magnitude) {
  if (magnitude >= 0x1p128) return 0x7F800000u;
  return reference::float_bits(static_cast<float>(magnitude));
}

// Sweeps the float magnitudes 0x00000000..0x7FFFFFFF (increasing magnitude,
// then inf, then the NaNs), each with both signs. Float bit order is value
// order, so the sweep walks the reference's grid: between consecutive grid
// values `lower` and `upper`, the rounding depends only on the comparison
// with `lower`, their midpoint and `upper`, so the expected codes are
// computed once per run of floats with the same comparison results (the
// reference classifies one representative of each run) and the inner loop
// only calls mixprec.
template <class T, rounding R>
sweep_result sweep(const sweep_plan& plan) {
  const reference::rounder& ref = reference::rounder_for(spec_of<T>());
  const reference::mode m = reference_mode(R);
  sweep_result result;
  result.cuda_functions = std::string(cuda_reference<T, R, saturation::finite>::name) + " " +
                          cuda_reference<T, R, saturation::none>::name;

  bulk_check<T, R> bulk(result);
  std::uint32_t expected[2][2] = {};  // [negative][0 = finite, 1 = none]
  // Checks the magnitudes of [begin, end) that the plan selects.
  const auto check_planned = [&](std::uint64_t begin, std::uint64_t end) {
    check_run<T, R>(begin, std::min(end, plan.dense_begin), plan.sparse_stride, expected, result, bulk);
    check_run<T, R>(std::max(begin, plan.dense_begin), std::min(end, plan.dense_end), plan.dense_stride, expected,
                    result, bulk);
    check_run<T, R>(std::max(begin, plan.dense_end), end, plan.sparse_stride, expected, result, bulk);
  };
  const auto run = [&](std::size_t index, std::uint64_t begin, std::uint64_t end) {
    if (begin >= end) return;
    const double representative = static_cast<double>(reference::float_from_bits(static_cast<std::uint32_t>(begin)));
    const reference::location at = ref.locate_from(index, representative);
    for (int negative = 0; negative < 2; ++negative) {
      const std::size_t rounded = ref.rounded_index(at, m, negative != 0);
      expected[negative][0] = ref.encode_index(rounded, negative != 0, m, reference::overflow::finite);
      expected[negative][1] = ref.encode_index(rounded, negative != 0, m, reference::overflow::none);
    }
    check_planned(begin, end);
  };

  if (ref.grid_value(0) > 0) {
    // E8M0 has no zero: every magnitude below its smallest value gives that value.
    for (auto& row : expected) row[0] = row[1] = ref.below_grid_code();
    check_planned(0, sort_key(ref.grid_value(0)));
  }
  for (std::size_t i = 0; i < ref.grid_size(); ++i) {
    const double lower = ref.grid_value(i);
    const double upper = ref.upper_of(i);
    const std::uint64_t lower_key = sort_key(lower);
    const std::uint64_t midpoint_key = sort_key((lower + upper) / 2);
    // The last grid point's runs extend over every finite float above it.
    const std::uint64_t upper_key = i + 1 < ref.grid_size() ? sort_key(upper) : 0x7F800000u;
    run(i, lower_key, lower_key + 1);                          // exactly on the grid
    run(i, lower_key + 1, std::min(midpoint_key, upper_key));  // below the midpoint
    if (midpoint_key < upper_key) {
      run(i, midpoint_key, midpoint_key + 1);  // on the midpoint
      run(i, midpoint_key + 1, upper_key);     // above it (and beyond max, for the last point)
    }
  }
  for (int negative = 0; negative < 2; ++negative) {
    expected[negative][0] = ref.infinity_result(negative != 0, reference::overflow::finite);
    expected[negative][1] = ref.infinity_result(negative != 0, reference::overflow::none);
  }
  check_planned(0x7F800000u, 0x7F800001u);
  for (auto& row : expected) row[0] = row[1] = ref.nan_code();
  check_planned(0x7F800001u, 0x80000000u);
  return result;
}

template <class T, rounding R>
void require_sweep_clean(const sweep_plan& plan) {
  const sweep_result result = sweep<T, R>(plan);
  const std::string against = std::string(spec_of<T>().name) + " " + reference::name(reference_mode(R));
  INFO(against << ": " << result.inputs << " float inputs, each under saturation::finite and ::none\n"
               << "reference mismatches: " << result.against_reference.count() << "\n"
               << result.against_reference.report() << "CUDA (" << result.cuda_functions
               << ") comparisons: " << result.cuda_inputs << ", mismatches: " << result.against_cuda.count() << "\n"
               << result.against_cuda.report() << "convert_n (" << result.bulk_paths
               << ") inputs per path and saturation: " << result.bulk_inputs
               << ", mismatches: " << result.bulk_against_reference.count() << "\n"
               << result.bulk_against_reference.report());
  // The runs tile the float range: each selected magnitude was tested once.
  CHECK(result.inputs == 2 * plan.magnitudes());
  if (bulk_check<T, R>::enabled && !result.bulk_paths.empty()) {
    CHECK(result.bulk_inputs == result.inputs);
  } else if (bulk_check<T, R>::enabled) {
    WARN("no SIMD path on this machine or build: convert_n is the scalar engine itself; bulk check skipped");
  }
#if MIXPREC_HAVE_CUDA_HOST_HEADERS
  const bool cuda_expected =
      cuda_reference<T, R, saturation::finite>::available || cuda_reference<T, R, saturation::none>::available;
  CHECK((result.cuda_inputs > 0) == cuda_expected);
#endif
  REQUIRE(result.against_reference.count() == 0);
  REQUIRE(result.against_cuda.count() == 0);
  REQUIRE(result.bulk_against_reference.count() == 0);
}

// Every float input (every MIXPREC_EXHAUSTIVE_STRIDE-th one if set).
template <class T, rounding R>
void require_every_input_correct() {
  const std::uint32_t stride = exhaustive_stride();
  sweep_plan plan;
  plan.dense_stride = plan.sparse_stride = stride;
  require_sweep_clean<T, R>(plan);
}

// For upward and downward, which the issue does not require exhaustively and
// which would double the sweep time: every float whose magnitude lies in the
// format's range widened by two binades each way ([denorm_min / 4, 4 *
// beyond_max]), where the rounding decisions are, and every 97th float
// outside it (all of which underflow or overflow). bfloat16 spans the whole
// float range, so there every 5th float is tested. Strides are odd, so every
// pattern of the low bits occurs.
template <class T, rounding R>
void require_format_range_correct() {
  const std::uint32_t stride = exhaustive_stride();
  const reference::rounder& ref = reference::rounder_for(spec_of<T>());
  sweep_plan plan;
  plan.dense_begin = sort_key(ref.grid_value(1) / 4);
  plan.dense_end = ref.beyond_max() * 4 < 0x1p128 ? sort_key(ref.beyond_max() * 4) : 0x7F800000u;
  const bool whole_float_range = plan.dense_begin < 0x00800000u && plan.dense_end >= 0x7F000000u;
  plan.dense_stride = (whole_float_range ? 5 : 1) * stride;
  plan.sparse_stride = 97 * stride;
  require_sweep_clean<T, R>(plan);
}

}  // namespace

// ---- round to nearest even and toward zero: every float input ---------------
// Scalar and bulk (convert_n on every SIMD path): "every input" covers both.

TEST_CASE("exhaustive float to float16 nearest_even: every input, scalar and convert_n, matches the reference "
          "and __float2half_rn",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float16, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to float16 toward_zero: every input, scalar and convert_n, matches the reference "
          "and __float2half_rz",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float16, rounding::toward_zero>();
}
TEST_CASE("exhaustive float to bfloat16 nearest_even: every input, scalar and convert_n, matches the reference "
          "and __float2bfloat16_rn",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::bfloat16, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to bfloat16 toward_zero: every input, scalar and convert_n, matches the reference "
          "and __float2bfloat16_rz",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::bfloat16, rounding::toward_zero>();
}
TEST_CASE("exhaustive float to float8_e4m3 nearest_even: every input, scalar and convert_n, matches the "
          "reference and __nv_cvt_float_to_fp8",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e4m3, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to float8_e4m3 toward_zero: every input, scalar and convert_n, matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e4m3, rounding::toward_zero>();
}
TEST_CASE("exhaustive float to float8_e5m2 nearest_even: every input, scalar and convert_n, matches the "
          "reference and __nv_cvt_float_to_fp8",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e5m2, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to float8_e5m2 toward_zero: every input, scalar and convert_n, matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e5m2, rounding::toward_zero>();
}
TEST_CASE("exhaustive float to float8_e4m3fnuz nearest_even: every input, scalar and convert_n, matches the reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e4m3fnuz, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to float8_e4m3fnuz toward_zero: every input, scalar and convert_n, matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e4m3fnuz, rounding::toward_zero>();
}
TEST_CASE("exhaustive float to float8_e5m2fnuz nearest_even: every input, scalar and convert_n, matches the reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e5m2fnuz, rounding::nearest_even>();
}
TEST_CASE("exhaustive float to float8_e5m2fnuz toward_zero: every input, scalar and convert_n, matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_every_input_correct<mixprec::float8_e5m2fnuz, rounding::toward_zero>();
}

// ---- upward and downward (IEEE 754 roundTowardPositive / Negative) ----------
// Each of these two modes rounds one sign away from zero and the other
// towards it, so together they exercise both directions on both signs.
// Exhaustive over each format's range, sampled outside it (see
// require_format_range_correct); bfloat16 sampled throughout.

TEST_CASE("exhaustive float to float16 upward: every float in the format range matches the reference and "
          "__float2half_ru",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float16, rounding::upward>();
}
TEST_CASE("exhaustive float to float16 downward: every float in the format range matches the reference and "
          "__float2half_rd",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float16, rounding::downward>();
}
TEST_CASE("exhaustive float to bfloat16 upward: every float in the format range matches the reference and "
          "__float2bfloat16_ru",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::bfloat16, rounding::upward>();
}
TEST_CASE("exhaustive float to bfloat16 downward: every float in the format range matches the reference and "
          "__float2bfloat16_rd",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::bfloat16, rounding::downward>();
}
TEST_CASE("exhaustive float to float8_e4m3 upward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e4m3, rounding::upward>();
}
TEST_CASE("exhaustive float to float8_e4m3 downward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e4m3, rounding::downward>();
}
TEST_CASE("exhaustive float to float8_e5m2 upward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e5m2, rounding::upward>();
}
TEST_CASE("exhaustive float to float8_e5m2 downward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e5m2, rounding::downward>();
}
TEST_CASE("exhaustive float to float8_e4m3fnuz upward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e4m3fnuz, rounding::upward>();
}
TEST_CASE("exhaustive float to float8_e4m3fnuz downward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e4m3fnuz, rounding::downward>();
}
TEST_CASE("exhaustive float to float8_e5m2fnuz upward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e5m2fnuz, rounding::upward>();
}
TEST_CASE("exhaustive float to float8_e5m2fnuz downward: every float in the format range matches the "
          "reference",
          "[exhaustive][conversion]") {
  require_format_range_correct<mixprec::float8_e5m2fnuz, rounding::downward>();
}

// ---- The microscaling formats (issue 13 §1): every float, every mode --------
// FP4 and FP6 against CUDA's __nv_cvt_float_to_fp4 / _fp6 (nearest_even and
// toward_zero, the modes CUDA has) and the reference; E8M0 against CUDA's
// __nv_cvt_float_to_e8m0 (toward_zero and upward = cudaRoundZero and
// cudaRoundPosInf, with __NV_SATFINITE and __NV_NOSAT) and the reference.
// The modes CUDA lacks are held to the reference alone. convert_n's vector
// encoder (FP4 and FP6, nearest_even and toward_zero) is held to the
// reference on every input in the same sweeps.

#define MIXPREC_MICROSCALING_SWEEP(T, R, against)                                                               \
  TEST_CASE("exhaustive float to " #T " " #R ": every input matches the reference" against,                   \
            "[exhaustive][conversion][microscaling]") {                                                        \
    require_every_input_correct<mixprec::T, rounding::R>();                                                     \
  }
MIXPREC_MICROSCALING_SWEEP(float4_e2m1, nearest_even, " and __nv_cvt_float_to_fp4, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float4_e2m1, toward_zero, " and __nv_cvt_float_to_fp4, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float4_e2m1, upward, "")
MIXPREC_MICROSCALING_SWEEP(float4_e2m1, downward, "")
MIXPREC_MICROSCALING_SWEEP(float6_e2m3, nearest_even, " and __nv_cvt_float_to_fp6, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float6_e2m3, toward_zero, " and __nv_cvt_float_to_fp6, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float6_e2m3, upward, "")
MIXPREC_MICROSCALING_SWEEP(float6_e2m3, downward, "")
MIXPREC_MICROSCALING_SWEEP(float6_e3m2, nearest_even, " and __nv_cvt_float_to_fp6, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float6_e3m2, toward_zero, " and __nv_cvt_float_to_fp6, scalar and convert_n")
MIXPREC_MICROSCALING_SWEEP(float6_e3m2, upward, "")
MIXPREC_MICROSCALING_SWEEP(float6_e3m2, downward, "")
MIXPREC_MICROSCALING_SWEEP(float8_e8m0, nearest_even, "")
MIXPREC_MICROSCALING_SWEEP(float8_e8m0, toward_zero, " and __nv_cvt_float_to_e8m0")
MIXPREC_MICROSCALING_SWEEP(float8_e8m0, upward, " and __nv_cvt_float_to_e8m0")
MIXPREC_MICROSCALING_SWEEP(float8_e8m0, downward, "")
#undef MIXPREC_MICROSCALING_SWEEP
