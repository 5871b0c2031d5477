// The cast kernels (mixprec/cuda/cast.hpp) give the bits of the CPU reference
// (mixprec/reference/quantize.hpp) — itself checked against hand-worked
// values in tests/unit/test_reference_quantize.cpp — for every source and
// target type, rounding mode, length, alignment and block mode, on random and
// special inputs (NaN, inf, subnormals, ±0); amax included (slots are raised,
// never zeroed: each check starts from a zeroed slot, and one test checks the
// rule itself). Plus stream ordering: two streams, and a captured CUDA graph
// replayed with a new scale.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cuda/cast_kernels.hpp"
#include "cuda/device_buffer.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/reference/quantize.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"

using namespace mixprec_test;
using mixprec::quantize_options;
using mixprec::rounding;
using mixprec::saturation;

namespace {

const element_type sources[] = {element_type::float32, element_type::bfloat16, element_type::float16};
const element_type fp8_types[] = {element_type::float8_e4m3, element_type::float8_e5m2};

std::vector<quantize_options> option_sets() {
  std::vector<quantize_options> sets(5);
  sets[1].policy = saturation::none;
  sets[2].mode = rounding::toward_zero;
  sets[3].mode = rounding::stochastic;
  sets[3].seed = 7;
  sets[3].offset = 3;
  sets[4].power_of_two_scales = true;
  return sets;
}

std::uint32_t float_bits(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

// An amax slot holding 0, as the launchers expect before a step's first cast
// (they raise the slot; mixprec/cuda/cast.hpp).
void zero_slot(device_buffer& amax) { amax.fill(0); }

// n elements of `type` as bytes: a mix of specials (±0, ±inf, NaNs with
// payloads, float subnormals, FP8 maxima, midpoints and subnormals), random
// bit patterns and normally distributed values of the given spread.
std::vector<unsigned char> make_input(element_type type, std::size_t n, std::uint32_t seed, float spread = 100.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f,     -0.0f,   inf,     -inf,    std::nanf(""), -std::nanf("0x123"), 1e-40f, -1e-45f,
                            448.0f,   464.0f,  -480.0f, 57344.0f, 61440.0f, 0x1p-9f, 0x1p-10f, 0x1.8p-10f,
                            0x1p-16f, 0x1p-17f, 1.0625f, -2.75f};
  std::vector<unsigned char> bytes(n * mixprec::gemm::size_of(type));
  with_source(type, [&](auto tag) {
    using T = decltype(tag);
    T* values = reinterpret_cast<T*>(bytes.data());
    for (std::size_t i = 0; i < n; ++i) {
      float x;
      switch (rng() % 4) {
        case 0: x = specials[rng() % (sizeof(specials) / sizeof(specials[0]))]; break;
        case 1: {
          const std::uint32_t bits = static_cast<std::uint32_t>(rng());
          std::memcpy(&x, &bits, 4);
          break;
        }
        default: x = normal(rng);
      }
      if constexpr (std::is_same<T, float>::value) {
        values[i] = x;
      } else {
        values[i] = mixprec::convert<T>(x, rounding::toward_zero, saturation::none);
      }
    }
  });
  return bytes;
}

float reference_quantize(element_type source, element_type target, const void* x, std::size_t n, float scale,
                         void* out, const quantize_options& o) {
  float amax = 0;
  with_source(source, [&](auto s) {
    using S = decltype(s);
    with_fp8(target, [&](auto t) {
      using T = decltype(t);
      amax = mixprec::reference::quantize(static_cast<const S*>(x), n, scale, static_cast<T*>(out), o);
    });
  });
  return amax;
}

std::string describe(element_type source, element_type target, const quantize_options& o) {
  return std::string(mixprec::gemm::to_string(source)) + " -> " + mixprec::gemm::to_string(target) + " mode " +
         std::to_string(static_cast<int>(o.mode)) + " saturation " + std::to_string(static_cast<int>(o.policy)) +
         (o.power_of_two_scales ? " pow2" : "");
}

}  // namespace

TEST_CASE("quantize equals the reference: every type pair, rounding mode, length and alignment", "[cuda][cast]") {
  const std::size_t lengths[] = {0, 1, 15, 16, 17, 33, 1000, 100003};
  struct offsets {
    std::size_t x_elements, out_bytes;
  };
  const offsets placements[] = {{0, 0}, {1, 0}, {0, 5}, {3, 1}, {16, 16}};
  device_buffer scale(sizeof(float)), amax(sizeof(float));
  for (element_type source : sources) {
    for (element_type target : fp8_types) {
      for (const quantize_options& o : option_sets()) {
        for (std::size_t n : lengths) {
          for (const offsets& at : placements) {
            CAPTURE(describe(source, target, o), n, at.x_elements, at.out_bytes);
            const std::size_t size = mixprec::gemm::size_of(source);
            const std::vector<unsigned char> x = make_input(source, n + at.x_elements, static_cast<std::uint32_t>(n));
            const float s = 3.5f;
            device_buffer dx(x), dout(n + at.out_bytes + 1);
            dout.fill(0xAB);
            scale.upload(&s, sizeof(float));
            zero_slot(amax);
            device_quantize(source, target, dx.at<char>(at.x_elements * size), n, scale.at<float>(),
                            dout.at<char>(at.out_bytes), amax.at<float>(), o);
            std::vector<unsigned char> expected(n + at.out_bytes + 1, 0xAB);
            const float expected_amax =
                reference_quantize(source, target, x.data() + at.x_elements * size, n, s, expected.data() + at.out_bytes, o);
            REQUIRE(dout.download<unsigned char>(expected.size()) == expected);
            REQUIRE(float_bits(amax.download<float>(1)[0]) == float_bits(expected_amax));
          }
        }
      }
    }
  }
}

TEST_CASE("the paired cvt fast path equals the engine on every 257th float and every BF16 / FP16 code",
          "[cuda][cast]") {
  // Scale 1 (null pointer): the input values themselves are converted.
  const quantize_options o;  // nearest_even, saturation::finite: the fast path
  SECTION("float32") {
    const std::size_t n = (std::size_t{1} << 32) / 257 + 1;
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t bits = static_cast<std::uint32_t>(i * 257);
      std::memcpy(&x[i], &bits, 4);
    }
    device_buffer dx(x), dout(n), amax(sizeof(float));
    for (element_type target : fp8_types) {
      CAPTURE(target);
      zero_slot(amax);
      device_quantize(element_type::float32, target, dx.get(), n, nullptr, dout.get(), amax.at<float>(), o);
      std::vector<unsigned char> expected(n);
      reference_quantize(element_type::float32, target, x.data(), n, 1.0f, expected.data(), o);
      REQUIRE(dout.download<unsigned char>(n) == expected);
    }
  }
  SECTION("every BF16 and FP16 code") {
    std::vector<std::uint16_t> codes(65536);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint16_t>(i);
    device_buffer dx(codes), dout(codes.size());
    for (element_type source : {element_type::bfloat16, element_type::float16}) {
      for (element_type target : fp8_types) {
        CAPTURE(source, target);
        device_quantize(source, target, dx.get(), codes.size(), nullptr, dout.get(), nullptr, o);
        std::vector<unsigned char> expected(codes.size());
        reference_quantize(source, target, codes.data(), codes.size(), 1.0f, expected.data(), o);
        REQUIRE(dout.download<unsigned char>(codes.size()) == expected);
      }
    }
  }
}

TEST_CASE("cast-transpose equals the reference, out and outᵀ, any shape", "[cuda][cast]") {
  struct shape {
    std::int64_t rows, cols;
  };
  const shape shapes[] = {{1, 1}, {1, 17}, {17, 1}, {64, 64}, {65, 130}, {128, 96}, {300, 200}, {16, 48}};
  device_buffer scale(sizeof(float)), amax(sizeof(float));
  const float s = 0.75f;
  scale.upload(&s, sizeof(float));
  const std::vector<quantize_options> sets = option_sets();
  for (element_type source : sources) {
    for (element_type target : fp8_types) {
      for (const quantize_options& o : {sets[0], sets[3]}) {
        for (const shape& sh : shapes) {
          for (std::size_t x_offset : {std::size_t{0}, std::size_t{1}}) {
            CAPTURE(describe(source, target, o), sh.rows, sh.cols, x_offset);
            const std::size_t n = static_cast<std::size_t>(sh.rows * sh.cols), size = mixprec::gemm::size_of(source);
            const std::vector<unsigned char> x = make_input(source, n + x_offset, static_cast<std::uint32_t>(n + 5));
            device_buffer dx(x), dout(n), dout_t(n);
            dout.fill(0xAB);
            dout_t.fill(0xAB);
            zero_slot(amax);
            device_quantize_transpose(source, target, dx.at<char>(x_offset * size), sh.rows, sh.cols,
                                      scale.at<float>(), dout.get(), dout_t.get(), amax.at<float>(), o);
            std::vector<unsigned char> expected(n), expected_t(n);
            float expected_amax = 0;
            with_source(source, [&](auto st) {
              using S = decltype(st);
              with_fp8(target, [&](auto tt) {
                using T = decltype(tt);
                expected_amax = mixprec::reference::quantize(
                    reinterpret_cast<const S*>(x.data() + x_offset * size), sh.rows, sh.cols, s,
                    reinterpret_cast<T*>(expected.data()), reinterpret_cast<T*>(expected_t.data()), o);
              });
            });
            REQUIRE(dout.download<unsigned char>(n) == expected);
            REQUIRE(dout_t.download<unsigned char>(n) == expected_t);
            REQUIRE(float_bits(amax.download<float>(1)[0]) == float_bits(expected_amax));
            // Either output may be left out.
            dout_t.fill(0xAB);
            device_quantize_transpose(source, target, dx.at<char>(x_offset * size), sh.rows, sh.cols,
                                      scale.at<float>(), nullptr, dout_t.get(), nullptr, o);
            REQUIRE(dout_t.download<unsigned char>(n) == expected_t);
          }
        }
      }
    }
  }
}

TEST_CASE("row-wise and block scales equal the reference, in gemm::scale_layout", "[cuda][cast]") {
  struct shape {
    std::int64_t rows, cols;
  };
  const shape shapes[] = {{1, 1}, {1, 16}, {5, 300}, {17, 129}, {130, 260}, {256, 384}};
  const std::vector<quantize_options> sets = option_sets();
  // 1x128 runs twice: its own kernel, and the fused one that also writes the
  // transpose with the transpose's own 1x128 scales.
  struct variant {
    scale_mode mode;
    bool transposes;
  };
  const variant variants[] = {{scale_mode::per_tensor, true},
                              {scale_mode::row_wise, false},
                              {scale_mode::block_1x128, false},
                              {scale_mode::block_1x128, true},
                              {scale_mode::block_128x128, true}};
  for (const variant& v : variants) {
    const scale_mode mode = v.mode;
    const bool transposes = v.transposes;
    for (element_type source : sources) {
      for (element_type target : fp8_types) {
        for (const quantize_options& o : {sets[0], sets[3], sets[4]}) {
          for (const shape& sh : shapes) {
            CAPTURE(mode, transposes, describe(source, target, o), sh.rows, sh.cols);
            const std::size_t n = static_cast<std::size_t>(sh.rows * sh.cols);
            const std::vector<unsigned char> x =
                make_input(source, n, static_cast<std::uint32_t>(n + 9), /*spread=*/3.0f);
            const std::size_t scales = static_cast<std::size_t>(mixprec::gemm::scale_layout{mode, sh.rows, sh.cols}.count());
            const std::size_t scales_t =
                static_cast<std::size_t>(mixprec::gemm::scale_layout{mode, sh.cols, sh.rows}.count());
            device_buffer dx(x), dout(n), dout_t(n), dscale(scales * 4), dscale_t(scales_t * 4), amax(4);
            for (device_buffer* b : {&dout, &dout_t, &dscale, &dscale_t}) b->fill(0xAB);
            zero_slot(amax);
            device_quantize_blockwise(source, target, dx.get(), sh.rows, sh.cols, mode, dout.get(), dscale.at<float>(),
                                      transposes ? dout_t.get() : nullptr,
                                      transposes ? dscale_t.at<float>() : nullptr, amax.at<float>(), o);
            std::vector<unsigned char> expected(n, 0xAB), expected_t(n, 0xAB);
            std::vector<unsigned char> expected_scale(scales * 4, 0xAB), expected_scale_t(scales_t * 4, 0xAB);
            float expected_amax = 0;
            with_source(source, [&](auto st) {
              using S = decltype(st);
              with_fp8(target, [&](auto tt) {
                using T = decltype(tt);
                expected_amax = mixprec::reference::quantize_blockwise(
                    reinterpret_cast<const S*>(x.data()), sh.rows, sh.cols, mode, reinterpret_cast<T*>(expected.data()),
                    reinterpret_cast<float*>(expected_scale.data()),
                    transposes ? reinterpret_cast<T*>(expected_t.data()) : nullptr,
                    transposes ? reinterpret_cast<float*>(expected_scale_t.data()) : nullptr, o);
              });
            });
            REQUIRE(dout.download<unsigned char>(n) == expected);
            REQUIRE(dscale.download<unsigned char>(scales * 4) == expected_scale);  // padding untouched too
            if (transposes) {
              REQUIRE(dout_t.download<unsigned char>(n) == expected_t);
              REQUIRE(dscale_t.download<unsigned char>(scales_t * 4) == expected_scale_t);
            }
            REQUIRE(float_bits(amax.download<float>(1)[0]) == float_bits(expected_amax));
          }
        }
      }
    }
  }
}

TEST_CASE("dequantize equals the reference, per tensor and per block", "[cuda][cast]") {
  std::vector<std::uint8_t> codes(4096 + 7);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(i * 37 + (i >> 8));
  device_buffer dq(codes), dscale(sizeof(float));
  const float s = 0.37f;
  dscale.upload(&s, sizeof(float));
  for (element_type source : fp8_types) {
    for (element_type target : sources) {
      for (std::size_t q_offset : {std::size_t{0}, std::size_t{3}}) {
        CAPTURE(source, target, q_offset);
        const std::size_t n = 4096, size = mixprec::gemm::size_of(target);
        device_buffer dout(n * size);
        device_dequantize(source, target, dq.at<char>(q_offset), n, dscale.at<float>(), dout.get());
        std::vector<unsigned char> expected(n * size);
        with_fp8(source, [&](auto st) {
          using S = decltype(st);
          with_source(target, [&](auto tt) {
            using T = decltype(tt);
            mixprec::reference::dequantize(reinterpret_cast<const S*>(codes.data() + q_offset), n, s,
                                           reinterpret_cast<T*>(expected.data()));
          });
        });
        REQUIRE(dout.download<unsigned char>(expected.size()) == expected);
      }
      for (scale_mode mode : {scale_mode::row_wise, scale_mode::block_1x128, scale_mode::block_128x128}) {
        CAPTURE(source, target, mode);
        const std::int64_t rows = 33, cols = 124;
        const mixprec::gemm::scale_layout layout{mode, rows, cols};
        std::vector<float> scales(static_cast<std::size_t>(layout.count()));
        for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = 0.5f + 0.25f * static_cast<float>(i);
        const std::size_t size = mixprec::gemm::size_of(target);
        device_buffer dscales(scales), dout(static_cast<std::size_t>(rows * cols) * size);
        device_dequantize_blockwise(source, target, dq.get(), rows, cols, mode, dscales.at<float>(), dout.get());
        std::vector<unsigned char> expected(static_cast<std::size_t>(rows * cols) * size);
        with_fp8(source, [&](auto st) {
          using S = decltype(st);
          with_source(target, [&](auto tt) {
            using T = decltype(tt);
            mixprec::reference::dequantize_blockwise(reinterpret_cast<const S*>(codes.data()), rows, cols, mode,
                                                     scales.data(), reinterpret_cast<T*>(expected.data()));
          });
        });
        REQUIRE(dout.download<unsigned char>(expected.size()) == expected);
      }
    }
  }
}

TEST_CASE("amax alone: finite, inf and NaN tensors", "[cuda][cast]") {
  for (element_type source : sources) {
    for (std::size_t n : {std::size_t{1}, std::size_t{31}, std::size_t{4097}, std::size_t{1000001}}) {
      CAPTURE(source, n);
      const std::vector<unsigned char> x = make_input(source, n + 1, static_cast<std::uint32_t>(n));
      device_buffer dx(x), amax(sizeof(float));
      zero_slot(amax);
      const std::size_t size = mixprec::gemm::size_of(source);
      device_amax(source, dx.at<char>(size), n, amax.at<float>());
      float expected = 0;
      with_source(source, [&](auto st) {
        using S = decltype(st);
        expected = mixprec::reference::amax(reinterpret_cast<const S*>(x.data() + size), n);
      });
      REQUIRE(float_bits(amax.download<float>(1)[0]) == float_bits(expected));
    }
  }
  // A clean tensor: the largest magnitude, not NaN.
  const std::vector<float> clean = {1.0f, -7.5f, 3.0f, 0.0f};
  device_buffer dx(clean), amax(sizeof(float));
  zero_slot(amax);
  device_amax(element_type::float32, dx.get(), clean.size(), amax.at<float>());
  CHECK(amax.download<float>(1)[0] == 7.5f);
}

TEST_CASE("casts raise the amax slot, never zero it; per-tensor current scaling sets its own", "[cuda][cast]") {
  // TransformerEngine's rule (mixprec/cuda/cast.hpp): every cast that records
  // into a slot leaves max(slot, max |x|); the recipe's update resets slots.
  // The expected values are plain host maxima of the inputs.
  const std::int64_t rows = 64, cols = 256;
  const std::size_t n = static_cast<std::size_t>(rows * cols);
  auto tensor_with_max = [&](float largest, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(-0.5f, 0.5f);
    std::vector<float> x(n);
    for (float& v : x) v = uniform(rng);
    x[seed % n] = -largest;  // the one largest magnitude, negative: amax takes |x|
    return x;
  };
  const std::vector<float> small = tensor_with_max(3.0f, 11), large = tensor_with_max(7.0f, 12),
                           largest = tensor_with_max(100.0f, 13);
  device_buffer d_small(small), d_large(large), d_largest(largest), out(n), out_t(n), amax(sizeof(float)),
      scales(static_cast<std::size_t>(mixprec::gemm::scale_layout{scale_mode::block_1x128, rows, cols}.count()) * 4);
  const quantize_options o;
  const auto e4m3 = element_type::float8_e4m3, f32 = element_type::float32;
  auto slot = [&] { return amax.download<float>(1)[0]; };
  zero_slot(amax);
  device_quantize(f32, e4m3, d_small.get(), n, nullptr, out.get(), amax.at<float>(), o);
  CHECK(slot() == 3.0f);
  device_quantize(f32, e4m3, d_large.get(), n, nullptr, out.get(), amax.at<float>(), o);
  CHECK(slot() == 7.0f);  // raised by the second cast into the slot
  device_quantize(f32, e4m3, d_small.get(), n, nullptr, out.get(), amax.at<float>(), o);
  CHECK(slot() == 7.0f);  // a smaller tensor leaves it
  device_quantize_transpose(f32, e4m3, d_small.get(), rows, cols, nullptr, out.get(), out_t.get(), amax.at<float>(), o);
  CHECK(slot() == 7.0f);
  device_amax(f32, d_largest.get(), n, amax.at<float>());
  CHECK(slot() == 100.0f);
  device_quantize_blockwise(f32, e4m3, d_small.get(), rows, cols, scale_mode::block_1x128, out.get(),
                            scales.at<float>(), nullptr, nullptr, amax.at<float>(), o);
  CHECK(slot() == 100.0f);  // block modes raise too
  // Per-tensor current scaling: the slot is this tensor's amax, the scale's input.
  device_buffer scale_inv(sizeof(float));
  device_quantize_blockwise(f32, e4m3, d_small.get(), rows, cols, scale_mode::per_tensor, out.get(),
                            scale_inv.at<float>(), nullptr, nullptr, amax.at<float>(), o);
  CHECK(slot() == 3.0f);
  // NaN orders above every magnitude: once in the slot, it stays.
  std::vector<float> with_nan = small;
  with_nan[5] = std::nanf("");
  device_buffer d_nan(with_nan);
  device_amax(f32, d_nan.get(), n, amax.at<float>());
  CHECK(std::isnan(slot()));
  device_quantize(f32, e4m3, d_largest.get(), n, nullptr, out.get(), amax.at<float>(), o);
  CHECK(std::isnan(slot()));
}

TEST_CASE("stream order: two streams at once, a captured graph replayed with a new scale", "[cuda][cast]") {
  const std::size_t n = 1 << 20;
  const std::vector<unsigned char> x1 = make_input(element_type::float32, n, 1), x2 = make_input(element_type::float32, n, 2);
  device_buffer dx1(x1), dx2(x2), out1(n), out2(n), scale1(4), scale2(4), amax1(4), amax2(4), block_scales(64 * 4);
  zero_slot(amax1);
  zero_slot(amax2);
  const float s1 = 0.5f, s2 = 2.0f;
  scale1.upload(&s1, 4);
  scale2.upload(&s2, 4);
  cudaStream_t a = nullptr, b = nullptr;
  mixprec::cuda::check(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), "cudaStreamCreate");
  mixprec::cuda::check(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), "cudaStreamCreate");
  const quantize_options o;
  auto expect = [&](const std::vector<unsigned char>& x, float s, const device_buffer& out, const device_buffer& amax) {
    std::vector<unsigned char> expected(n);
    const float expected_amax =
        reference_quantize(element_type::float32, element_type::float8_e4m3, x.data(), n, s, expected.data(), o);
    REQUIRE(out.download<unsigned char>(n) == expected);
    REQUIRE(float_bits(amax.download<float>(1)[0]) == float_bits(expected_amax));
  };

  SECTION("two streams") {
    device_quantize(element_type::float32, element_type::float8_e4m3, dx1.get(), n, scale1.at<float>(), out1.get(),
                    amax1.at<float>(), o, a);
    device_quantize(element_type::float32, element_type::float8_e4m3, dx2.get(), n, scale2.at<float>(), out2.get(),
                    amax2.at<float>(), o, b);
    mixprec::cuda::check(cudaStreamSynchronize(a), "sync");
    mixprec::cuda::check(cudaStreamSynchronize(b), "sync");
    expect(x1, s1, out1, amax1);
    expect(x2, s2, out2, amax2);
  }
  SECTION("graph capture and replay") {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    mixprec::cuda::check(cudaStreamBeginCapture(a, cudaStreamCaptureModeGlobal), "begin capture");
    device_quantize(element_type::float32, element_type::float8_e4m3, dx1.get(), n, scale1.at<float>(), out1.get(),
                    amax1.at<float>(), o, a);
    device_quantize_blockwise(element_type::float32, element_type::float8_e4m3, dx2.get(), 1024, 1024,
                              scale_mode::block_128x128, out2.get(), block_scales.at<float>(), nullptr, nullptr, nullptr, o,
                              a);
    mixprec::cuda::check(cudaStreamEndCapture(a, &graph), "end capture");
    mixprec::cuda::check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    for (float s : {0.5f, 8.0f}) {
      scale1.upload(&s, 4);  // read by the replay on the device
      mixprec::cuda::check(cudaGraphLaunch(exec, a), "graph launch");
      mixprec::cuda::check(cudaStreamSynchronize(a), "sync");
      expect(x1, s, out1, amax1);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  cudaStreamDestroy(a);
  cudaStreamDestroy(b);
}

TEST_CASE("bad arguments are rejected before any launch", "[cuda][cast]") {
  device_buffer x(64), out(64), scales(64);
  const quantize_options o;
  MIXPREC_REQUIRE_ERROR(device_quantize(element_type::float32, element_type::float8_e4m3, nullptr, 16, nullptr,
                                        out.get(), nullptr, o),
                        "x and out must be device pointers");
  MIXPREC_REQUIRE_ERROR(device_quantize_blockwise(element_type::float32, element_type::float8_e4m3, x.get(), 2, 8,
                                                  scale_mode::row_wise, out.get(), scales.at<float>(), out.get(),
                                                  nullptr, nullptr, o),
                        "quantize the transpose on its own");
  MIXPREC_REQUIRE_ERROR(device_quantize_blockwise(element_type::float32, element_type::float8_e4m3, x.get(), 2, 8,
                                                  scale_mode::per_tensor, out.get(), scales.at<float>(), nullptr,
                                                  nullptr, nullptr, o),
                        "per_tensor current scaling needs amax");
  MIXPREC_REQUIRE_ERROR(device_quantize_transpose(element_type::float32, element_type::float8_e4m3, x.get(), -1, 8,
                                                  nullptr, out.get(), nullptr, nullptr, o),
                        "must not be negative");
}
