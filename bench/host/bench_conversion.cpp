// Host conversion benchmarks (issue 2 §7): mixprec's scalar and bulk
// conversions, each format and direction, beside what a user would otherwise
// call, in one run:
//   - CUDA's host conversion functions (__nv_cvt_float_to_fp8,
//     __nv_cvt_fp8_to_halfraw, __float2half_rn, __half2float,
//     __float2bfloat16_rn, __bfloat162float), scalar and in a loop;
//   - for FP16, the F16C instructions (_mm256_cvtps_ph / _mm256_cvtph_ps).
// Names read direction/format/kind/implementation[/elements]; every
// benchmark reports items (elements) per second, so ns/element is 1e9 over
// that figure. Bulk sizes: 16 Ki elements (in cache) and 4 Mi elements (in
// memory); bulk/mixprec is convert_n on the path it picks itself, the others
// force a path. Inputs: floats ~ N(0, 100^2), so that some overflow E4M3 and a
// few lie on the FP8 subnormal grid; encode/e4m3/bulk_tiny takes floats on
// E4M3's subnormal grid, the slowest case of the SIMD paths. The microscaling
// formats (FP4, FP6, E8M0; encode/e2m1x2 is the packed FP4 pair) take floats
// ~ N(0, 2^2), the range block-scaled elements have, beside a loop over
// CUDA's __nv_cvt_float_to_fp4 / _fp6 and __nv_cvt_float_to_e8m0 (rounding up).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "mixprec/host/convert_n.hpp"
#include "mixprec/types.hpp"

#if __has_include(<cuda_fp8.h>)
#define MIXPREC_BENCH_CUDA 1
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp6.h>
#include <cuda_fp8.h>
#else
#define MIXPREC_BENCH_CUDA 0
#endif

#if MIXPREC_HOST_SIMD
#include <immintrin.h>
#endif

namespace {

using mixprec::host::simd_path;

constexpr std::size_t in_cache = std::size_t{1} << 14;
constexpr std::size_t in_memory = std::size_t{1} << 22;
// Scalar benchmarks convert this many different inputs per iteration.
constexpr std::size_t scalar_batch = 1024;

const std::vector<float>& typical_floats() {
  static const std::vector<float> values = [] {
    std::vector<float> v(in_memory);
    std::mt19937 generator(2026);
    std::normal_distribution<float> normal(0.0f, 100.0f);
    for (float& x : v) x = normal(generator);
    return v;
  }();
  return values;
}

// Magnitudes below E4M3's smallest normal (2^-6): every vector has lanes on
// the subnormal grid.
const std::vector<float>& tiny_floats() {
  static const std::vector<float> values = [] {
    std::vector<float> v(in_cache);
    std::mt19937 generator(7);
    std::uniform_real_distribution<float> uniform(-0.015f, 0.015f);
    for (float& x : v) x = uniform(generator);
    return v;
  }();
  return values;
}

// Floats ~ N(0, 2^2): MX/NVFP4 elements after block scaling lie in this range.
const std::vector<float>& microscaling_floats() {
  static const std::vector<float> values = [] {
    std::vector<float> v(in_memory);
    std::mt19937 generator(2027);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (float& x : v) x = normal(generator);
    return v;
  }();
  return values;
}

template <class T>
const std::vector<T>& typical_codes() {
  static const std::vector<T> values = [] {
    const std::vector<float>& floats = typical_floats();
    std::vector<T> v(floats.size());
    mixprec::convert_n(floats.data(), floats.size(), v.data());
    return v;
  }();
  return values;
}

// The same codes as another library's type of the same format.
template <class Out, class T>
std::vector<Out> same_bits(const std::vector<T>& codes) {
  static_assert(sizeof(Out) == sizeof(T) && std::is_trivially_copyable<Out>::value, "a type of the same size");
  std::vector<Out> out(codes.size());
  std::memcpy(static_cast<void*>(out.data()), codes.data(), codes.size() * sizeof(T));
  return out;
}

void count_items(benchmark::State& state, std::size_t per_iteration) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(per_iteration));
}

// ---- Registration helpers ---------------------------------------------------

void add(const std::string& name, std::function<void(benchmark::State&)> body) {
  benchmark::RegisterBenchmark(name.c_str(), [body](benchmark::State& state) { body(state); });
}

// float[n] -> Out[n] by `convert`, for the two sizes.
template <class Out>
void add_bulk_encode(const std::string& name, std::function<void(const float*, std::size_t, Out*)> convert,
                     const std::vector<float>* inputs = nullptr, bool both_sizes = true) {
  for (std::size_t n : {in_cache, in_memory}) {
    if (!both_sizes && n != in_cache) continue;
    add(name + "/" + std::to_string(n), [convert, n, inputs](benchmark::State& state) {
      const std::vector<float>& in = inputs ? *inputs : typical_floats();
      std::vector<Out> out(n);
      for (auto _ : state) {
        convert(in.data(), n, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
      }
      count_items(state, n);
    });
  }
}

// In[n] -> float[n] by `convert`, for the two sizes.
template <class In>
void add_bulk_decode(const std::string& name, const std::vector<In>& inputs,
                     std::function<void(const In*, std::size_t, float*)> convert) {
  for (std::size_t n : {in_cache, in_memory}) {
    add(name + "/" + std::to_string(n), [convert, n, &inputs](benchmark::State& state) {
      std::vector<float> out(n);
      for (auto _ : state) {
        convert(inputs.data(), n, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
      }
      count_items(state, n);
    });
  }
}

// One conversion at a time over scalar_batch different inputs; every result
// is kept (DoNotOptimize), so each call is really made.
template <class In, class Convert>
void add_scalar(const std::string& name, const std::vector<In>& inputs, Convert convert) {
  add(name, [convert, &inputs](benchmark::State& state) {
    for (auto _ : state) {
      for (std::size_t i = 0; i < scalar_batch; ++i) {
        auto result = convert(inputs[i]);
        benchmark::DoNotOptimize(result);
      }
    }
    count_items(state, scalar_batch);
  });
}

// ---- mixprec ------------------------------------------------------------------

template <class T>
void add_mixprec(const std::string& format) {
  const std::vector<T>& codes = typical_codes<T>();
  add_scalar("encode/" + format + "/scalar/mixprec", typical_floats(),
             [](float x) { return mixprec::convert<T>(x).bits(); });
  add_scalar("decode/" + format + "/scalar/mixprec", codes, [](T x) { return static_cast<float>(x); });

  add_bulk_encode<T>("encode/" + format + "/bulk/mixprec",
                     [](const float* in, std::size_t n, T* out) { mixprec::convert_n(in, n, out); });
  add_bulk_decode<T>("decode/" + format + "/bulk/mixprec", codes,
                     [](const T* in, std::size_t n, float* out) { mixprec::convert_n(in, n, out); });
  for (simd_path path : mixprec::host::available_simd_paths()) {
    const std::string suffix = std::string("/bulk/mixprec_") + mixprec::host::to_string(path);
    add_bulk_encode<T>("encode/" + format + suffix, [path](const float* in, std::size_t n, T* out) {
      mixprec::convert_n(in, n, out, mixprec::rounding::nearest_even, T::default_saturation, path);
    });
    add_bulk_decode<T>("decode/" + format + suffix, codes,
                       [path](const T* in, std::size_t n, float* out) { mixprec::convert_n(in, n, out, path); });
  }
}

// The microscaling formats, from microscaling_floats(): bulk encode on every
// path (`mode`: nearest_even, or upward for E8M0 as CUDA's constructor),
// bulk decode.
template <class T>
void add_mixprec_microscaling(const std::string& format, mixprec::rounding mode) {
  static const std::vector<T> codes = [mode] {
    const std::vector<float>& floats = microscaling_floats();
    std::vector<T> v(floats.size());
    mixprec::convert_n(floats.data(), floats.size(), v.data(), mode, T::default_saturation);
    return v;
  }();
  for (simd_path path : mixprec::host::available_simd_paths()) {
    const std::string suffix = std::string("/bulk/mixprec_") + mixprec::host::to_string(path);
    add_bulk_encode<T>("encode/" + format + suffix,
                       [path, mode](const float* in, std::size_t n, T* out) {
                         mixprec::convert_n(in, n, out, mode, T::default_saturation, path);
                       },
                       &microscaling_floats());
  }
  add_bulk_decode<T>("decode/" + format + "/bulk/mixprec", codes,
                     [](const T* in, std::size_t n, float* out) { mixprec::convert_n(in, n, out); });
}

void add_mixprec_packed_fp4() {
  using mixprec::float4_e2m1x2;
  static const std::vector<float4_e2m1x2> pairs = [] {
    const std::vector<float>& floats = microscaling_floats();
    std::vector<float4_e2m1x2> v(floats.size() / 2);
    mixprec::convert_n(floats.data(), floats.size(), v.data());
    return v;
  }();
  for (simd_path path : mixprec::host::available_simd_paths())
    add_bulk_encode<float4_e2m1x2>(
        std::string("encode/e2m1x2/bulk/mixprec_") + mixprec::host::to_string(path),
        [path](const float* in, std::size_t n, float4_e2m1x2* out) {
          mixprec::convert_n(in, n, out, mixprec::rounding::nearest_even, mixprec::saturation::finite, path);
        },
        &microscaling_floats());
  add_bulk_decode<float4_e2m1x2>("decode/e2m1x2/bulk/mixprec", pairs,
                                 [](const float4_e2m1x2* in, std::size_t n, float* out) { mixprec::convert_n(in, n, out); });
}

// ---- Baselines ------------------------------------------------------------------

#if MIXPREC_BENCH_CUDA
inline __nv_fp8_storage_t cuda_to_fp8(float x, __nv_fp8_interpretation_t format) {
  return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, format);
}
inline float cuda_from_fp8(__nv_fp8_storage_t x, __nv_fp8_interpretation_t format) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(x, format)));
}

void add_cuda_fp8(const std::string& format, __nv_fp8_interpretation_t interpretation,
                  const std::vector<std::uint8_t>& codes) {
  add_scalar("encode/" + format + "/scalar/cuda", typical_floats(),
             [interpretation](float x) { return cuda_to_fp8(x, interpretation); });
  add_scalar("decode/" + format + "/scalar/cuda", codes,
             [interpretation](std::uint8_t x) { return cuda_from_fp8(x, interpretation); });
  add_bulk_encode<std::uint8_t>("encode/" + format + "/bulk/cuda_loop",
                                [interpretation](const float* in, std::size_t n, std::uint8_t* out) {
                                  for (std::size_t i = 0; i < n; ++i) out[i] = cuda_to_fp8(in[i], interpretation);
                                });
  add_bulk_decode<std::uint8_t>("decode/" + format + "/bulk/cuda_loop", codes,
                                [interpretation](const std::uint8_t* in, std::size_t n, float* out) {
                                  for (std::size_t i = 0; i < n; ++i) out[i] = cuda_from_fp8(in[i], interpretation);
                                });
}

// A loop over one of CUDA's microscaling conversions (float -> code).
template <class ToCode>
void add_cuda_microscaling(const std::string& format, ToCode to_code) {
  add_bulk_encode<std::uint8_t>("encode/" + format + "/bulk/cuda_loop",
                                [to_code](const float* in, std::size_t n, std::uint8_t* out) {
                                  for (std::size_t i = 0; i < n; ++i) out[i] = to_code(in[i]);
                                },
                                &microscaling_floats());
}

template <class Cuda, class ToCuda, class FromCuda>
void add_cuda_16(const std::string& format, const std::vector<Cuda>& codes, ToCuda to_cuda, FromCuda from_cuda) {
  add_scalar("encode/" + format + "/scalar/cuda", typical_floats(), to_cuda);
  add_scalar("decode/" + format + "/scalar/cuda", codes, from_cuda);
  add_bulk_encode<Cuda>("encode/" + format + "/bulk/cuda_loop", [to_cuda](const float* in, std::size_t n, Cuda* out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = to_cuda(in[i]);
  });
  add_bulk_decode<Cuda>("decode/" + format + "/bulk/cuda_loop", codes,
                        [from_cuda](const Cuda* in, std::size_t n, float* out) {
                          for (std::size_t i = 0; i < n; ++i) out[i] = from_cuda(in[i]);
                        });
}
#endif

#if MIXPREC_HOST_SIMD
// F16C, round to nearest even (the immediate, not MXCSR): what a user would
// write for float <-> FP16 on x86. Its NaN and saturation rules are IEEE's,
// not necessarily mixprec's; it is here for speed only.
__attribute__((target("avx2,f16c"))) void f16c_encode(const float* in, std::size_t n, std::uint16_t* out) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(in + i), 0));
  for (; i < n; ++i) out[i] = static_cast<std::uint16_t>(_mm_cvtsi128_si32(_mm_cvtps_ph(_mm_set_ss(in[i]), 0)));
}
__attribute__((target("avx2,f16c"))) void f16c_decode(const std::uint16_t* in, std::size_t n, float* out) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  for (; i < n; ++i) out[i] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(in[i])));
}
#endif

[[maybe_unused]] const bool registered = [] {
  add_mixprec<mixprec::float8_e4m3>("e4m3");
  add_mixprec<mixprec::float8_e5m2>("e5m2");
  add_mixprec<mixprec::float16>("fp16");
  add_mixprec<mixprec::bfloat16>("bf16");
  add_mixprec<mixprec::float8_e4m3fnuz>("e4m3fnuz");
  add_mixprec<mixprec::float8_e5m2fnuz>("e5m2fnuz");
  add_mixprec_microscaling<mixprec::float4_e2m1>("e2m1", mixprec::rounding::nearest_even);
  add_mixprec_microscaling<mixprec::float6_e2m3>("e2m3", mixprec::rounding::nearest_even);
  add_mixprec_microscaling<mixprec::float6_e3m2>("e3m2", mixprec::rounding::nearest_even);
  add_mixprec_microscaling<mixprec::float8_e8m0>("e8m0_up", mixprec::rounding::upward);
  add_mixprec_packed_fp4();
  for (simd_path path : mixprec::host::available_simd_paths())
    add_bulk_encode<mixprec::float8_e4m3>(
        std::string("encode/e4m3/bulk_tiny/mixprec_") + mixprec::host::to_string(path),
        [path](const float* in, std::size_t n, mixprec::float8_e4m3* out) {
          mixprec::convert_n(in, n, out, mixprec::rounding::nearest_even, mixprec::float8_e4m3::default_saturation, path);
        },
        &tiny_floats(), false);

#if MIXPREC_BENCH_CUDA
  static const auto e4m3 = same_bits<std::uint8_t>(typical_codes<mixprec::float8_e4m3>());
  static const auto e5m2 = same_bits<std::uint8_t>(typical_codes<mixprec::float8_e5m2>());
  static const auto halves = same_bits<__half>(typical_codes<mixprec::float16>());
  static const auto bhalves = same_bits<__nv_bfloat16>(typical_codes<mixprec::bfloat16>());
  add_cuda_fp8("e4m3", __NV_E4M3, e4m3);
  add_cuda_fp8("e5m2", __NV_E5M2, e5m2);
  add_cuda_microscaling("e2m1", [](float x) { return __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest); });
  add_cuda_microscaling("e2m3", [](float x) { return __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundNearest); });
  add_cuda_microscaling("e3m2", [](float x) { return __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundNearest); });
  add_cuda_microscaling("e8m0_up", [](float x) { return __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf); });
  add_cuda_16("fp16", halves, [](float x) { return __float2half_rn(x); }, [](__half x) { return __half2float(x); });
  add_cuda_16("bf16", bhalves, [](float x) { return __float2bfloat16_rn(x); },
              [](__nv_bfloat16 x) { return __bfloat162float(x); });
#endif

#if MIXPREC_HOST_SIMD
  // Every AVX2 CPU has F16C (Clang's __builtin_cpu_supports does not know "f16c").
  if (__builtin_cpu_supports("avx2")) {
    static const auto half_bits = same_bits<std::uint16_t>(typical_codes<mixprec::float16>());
    add_bulk_encode<std::uint16_t>("encode/fp16/bulk/f16c", f16c_encode);
    add_bulk_decode<std::uint16_t>("decode/fp16/bulk/f16c", half_bits, f16c_decode);
  }
#endif
  return true;
}();

}  // namespace
