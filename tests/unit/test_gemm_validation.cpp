// Every rule of mixprec::gemm::validate and validate_for_cublaslt: a valid
// problem passes, and each broken rule is rejected with a message that names
// the constraint and the values. Validation never dereferences a pointer, so
// the matrices here are disjoint, suitably aligned slices of one arena.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/gemm/scale_layout.hpp"
#include "mixprec/gemm/validate.hpp"
#include "support/catch.hpp"

using namespace mixprec::gemm;

namespace {

alignas(256) unsigned char arena[1 << 20];
alignas(16) float scales[4096];  // block-mode scales must start 16-byte aligned: use multiples of 4

// Slice i of the arena: 64 KiB apart, 256-byte aligned.
void* slice(int i) { return arena + i * 65536; }

const device_capabilities hopper{9, 0, 130100};

// A valid 64 x 64 x 64 E4M3 x E4M3 -> BF16 problem, every pointer set.
problem fp8_problem(element_type d_type = element_type::bfloat16) {
  problem p = make_problem(64, 64, 64, element_type::float8_e4m3, element_type::float8_e4m3, d_type);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  p.a.scale = &scales[0];
  p.b.scale = &scales[4];
  if (is_fp8(d_type)) {
    p.d.scale = &scales[2];
    p.d.amax = &scales[3];
  }
  return p;
}

}  // namespace

TEST_CASE("make_problem pairs C and bias types as cuBLASLt does", "[gemm][validation]") {
  CHECK(make_problem(16, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::bfloat16)
            .c.type == element_type::bfloat16);
  CHECK(make_problem(16, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float8_e4m3)
            .c.type == element_type::bfloat16);
  CHECK(make_problem(16, 16, 16, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32)
            .bias.type == element_type::bfloat16);
  CHECK(make_problem(16, 16, 16, element_type::bfloat16, element_type::bfloat16, element_type::float32)
            .bias.type == element_type::float32);
  const problem p = make_problem(3, 5, 7, element_type::bfloat16, element_type::bfloat16, element_type::bfloat16);
  CHECK(p.a.ld == 7);
  CHECK(p.b.ld == 7);
  CHECK(p.c.ld == 5);
  CHECK(p.d.ld == 5);
}

TEST_CASE("valid problems pass both validators", "[gemm][validation]") {
  for (element_type d : {element_type::bfloat16, element_type::float16, element_type::float32,
                         element_type::float8_e4m3}) {
    CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(d), hopper));
  }
  problem e5m2_e4m3 = fp8_problem(element_type::float8_e5m2);
  e5m2_e4m3.a.type = element_type::float8_e5m2;
  CHECK_NOTHROW(validate_for_cublaslt(e5m2_e4m3, hopper));

  problem bf16 = make_problem(1, 8, 8, element_type::bfloat16, element_type::bfloat16, element_type::bfloat16);
  bf16.a.data = slice(0);
  bf16.b.data = slice(1);
  bf16.d.data = slice(2);
  CHECK_NOTHROW(validate_for_cublaslt(bf16, hopper));

  // The reference takes shapes cuBLASLt does not (the last layer of an MLP: N = 10).
  problem odd = fp8_problem();
  odd.m = 3;
  odd.n = 10;
  odd.k = 20;
  odd.a.ld = odd.b.ld = 20;
  odd.d.ld = 10;
  CHECK_NOTHROW(validate(odd));
  CHECK_THROWS_AS(validate_for_cublaslt(odd, hopper), mixprec::error);
}

TEST_CASE("shapes must be positive", "[gemm][validation]") {
  problem p = fp8_problem();
  p.m = 0;
  MIXPREC_REQUIRE_ERROR(validate(p), "M, N and K must be positive; got M=0 N=64 K=64");
  p = fp8_problem();
  p.k = -16;
  MIXPREC_REQUIRE_ERROR(validate(p), "K=-16");
}

TEST_CASE("leading dimensions cover a row", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.ld = 32;
  MIXPREC_REQUIRE_ERROR(validate(p), "lda=32 is shorter than a row of A (K=64)");
  p = fp8_problem();
  p.b.ld = 63;
  MIXPREC_REQUIRE_ERROR(validate(p), "ldb=63");
  p = fp8_problem();
  p.d.ld = 1;
  MIXPREC_REQUIRE_ERROR(validate(p), "ldd=1 is shorter than a row of D (N=64)");
  p = fp8_problem();
  p.beta = 1.0f;
  p.c.data = slice(3);
  p.c.ld = 8;
  MIXPREC_REQUIRE_ERROR(validate(p), "ldc=8 is shorter than a row of C (N=64)");
}

TEST_CASE("A, B and D need data", "[gemm][validation]") {
  problem p = fp8_problem();
  p.b.data = nullptr;
  MIXPREC_REQUIRE_ERROR(validate(p), "A, B and D need data pointers");
}

TEST_CASE("beta != 0 needs C", "[gemm][validation]") {
  problem p = fp8_problem();
  p.beta = 0.5f;
  MIXPREC_REQUIRE_ERROR(validate(p), "beta=0.5 reads C, but c.data is null");
  p.c.data = slice(3);
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("C may not alias an FP8 D", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float8_e4m3);
  p.beta = 1.0f;
  p.c.data = p.d.data;
  MIXPREC_REQUIRE_ERROR(validate(p), "an FP8 D cannot be updated in place");
  // Partial overlap counts too: C starts inside D.
  p.c.data = static_cast<unsigned char*>(p.d.data) + 64;
  MIXPREC_REQUIRE_ERROR(validate(p), "an FP8 D cannot be updated in place");
}

TEST_CASE("in-place accumulation needs C == D exactly", "[gemm][validation]") {
  problem p = fp8_problem(element_type::bfloat16);
  p.beta = 1.0f;
  p.c.data = p.d.data;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  p.c.data = static_cast<unsigned char*>(p.d.data) + 32;
  MIXPREC_REQUIRE_ERROR(validate(p), "C and D overlap without being the same matrix");
}

TEST_CASE("vector and block scale modes need their scale pointers", "[gemm][validation]") {
  for (scale_mode mode : {scale_mode::row_wise, scale_mode::block_1x128, scale_mode::block_128x128}) {
    problem p = fp8_problem();
    p.a.scaling = mode;
    p.a.scale = nullptr;
    MIXPREC_REQUIRE_ERROR(validate(p), std::string("A uses ") + to_string(mode) + " scales but A.scale is null");
    p = fp8_problem();
    p.b.scaling = mode;
    p.b.scale = nullptr;
    MIXPREC_REQUIRE_ERROR(validate(p), std::string("B uses ") + to_string(mode) + " scales but B.scale is null");
  }
  // The message says how many floats the layout holds: 1x128 of A[64, 64] is 1 x 64.
  problem p = fp8_problem();
  p.a.scaling = scale_mode::block_1x128;
  p.a.scale = nullptr;
  MIXPREC_REQUIRE_ERROR(validate(p), "pass 64 floats");
  // A per-tensor scale may be left out: it means 1.
  p = fp8_problem();
  p.a.scale = nullptr;
  p.b.scale = nullptr;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("an FP8 output needs its scale", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float8_e4m3);
  p.d.scale = nullptr;
  MIXPREC_REQUIRE_ERROR(validate(p), "the output D is float8_e4m3 but d.scale is null");
}

TEST_CASE("amax and the output scale belong to FP8 outputs", "[gemm][validation]") {
  problem p = fp8_problem(element_type::bfloat16);
  p.d.amax = &scales[3];
  MIXPREC_REQUIRE_ERROR(validate(p), "d.amax is set but D is bfloat16");
  p = fp8_problem(element_type::float32);
  p.d.scale = &scales[2];
  MIXPREC_REQUIRE_ERROR(validate(p), "d.scale is set but D is float32");
}

TEST_CASE("a bias exactly with the bias epilogues", "[gemm][validation]") {
  problem p = fp8_problem();
  p.epilogue_op = epilogue::bias_gelu;
  MIXPREC_REQUIRE_ERROR(validate(p), "epilogue bias_gelu adds a bias but bias.data is null: pass N=64 bfloat16");
  p.bias.data = slice(4);
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  p.epilogue_op = epilogue::relu;
  MIXPREC_REQUIRE_ERROR(validate(p), "bias.data is set but epilogue relu adds no bias");
}

TEST_CASE("E5M2 x E5M2 is rejected", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.type = p.b.type = element_type::float8_e5m2;
  CHECK_NOTHROW(validate(p));
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "A and B are both float8_e5m2");
}

TEST_CASE("E4M3 x E4M3 cannot produce E5M2", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float8_e5m2);
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "E4M3 x E4M3 cannot produce a float8_e5m2 D");
  p.a.type = element_type::float8_e5m2;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("FP8 operands come in pairs and non-FP8 operands match", "[gemm][validation]") {
  problem p = fp8_problem();
  p.b.type = element_type::bfloat16;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "A is float8_e4m3 and B is bfloat16");
  p = make_problem(16, 16, 16, element_type::bfloat16, element_type::float16, element_type::bfloat16);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "non-FP8 GEMMs need equal operand types");
}

TEST_CASE("non-FP8 operands give their own type or FP32", "[gemm][validation]") {
  problem p = make_problem(16, 16, 16, element_type::float16, element_type::float16, element_type::bfloat16);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "float16 operands cannot produce a bfloat16 D");
  p = make_problem(16, 16, 16, element_type::float16, element_type::float16, element_type::float32);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("the C type follows the output type", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float8_e4m3);
  p.c.type = element_type::float32;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "an FP8 D pairs with a bfloat16 or float16 C");
  p.c.type = element_type::float16;
  p.bias.type = element_type::float16;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  p = fp8_problem(element_type::float32);
  p.c.type = element_type::bfloat16;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "C is bfloat16 but D is float32");
}

TEST_CASE("the bias type follows the output and C types", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float32);
  p.epilogue_op = epilogue::bias;
  p.bias.data = slice(4);
  p.bias.type = element_type::float32;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "takes a bfloat16 bias");
  p = fp8_problem(element_type::float8_e4m3);
  p.c.type = element_type::float16;
  p.epilogue_op = epilogue::bias_relu;
  p.bias.data = slice(4);
  p.bias.type = element_type::bfloat16;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "takes a float16 bias");
}

TEST_CASE("operand scales belong to FP8 operands", "[gemm][validation]") {
  problem p = make_problem(16, 16, 16, element_type::bfloat16, element_type::bfloat16, element_type::bfloat16);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  p.a.scale = &scales[0];
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                        "cuBLASLt applies operand scales to FP8 operands only");
}

TEST_CASE("scale modes come in the pairs cuBLASLt offers", "[gemm][validation]") {
  const scale_mode modes[] = {scale_mode::per_tensor, scale_mode::row_wise, scale_mode::block_1x128,
                              scale_mode::block_128x128};
  for (scale_mode a : modes) {
    for (scale_mode b : modes) {
      problem p = fp8_problem();
      p.a.scaling = a;
      p.b.scaling = b;
      const bool offered = a == b ? a != scale_mode::block_128x128 : is_block(a) && is_block(b);
      CAPTURE(a, b);
      if (offered) {
        CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
      } else {
        MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "are not a pair cuBLASLt offers");
      }
      CHECK_NOTHROW(validate(p));  // the reference computes every pair
    }
  }
}

TEST_CASE("block scales rule out fast accumulation", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.scaling = scale_mode::block_1x128;
  p.b.scaling = scale_mode::block_128x128;
  p.fast_accumulation = true;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "fast_accumulation is not available with block scales");
  p.a.scaling = p.b.scaling = scale_mode::row_wise;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("FP8 needs K and N multiples of 16", "[gemm][validation]") {
  problem p = fp8_problem();
  p.k = 40;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "K=40 must be a multiple of 16 for FP8 operands; pad K "
                                                          "with zeros (both operands) to 48");
  p = fp8_problem();
  p.n = 10;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "N=10 must be a multiple of 16");
  // M is free: M = 1 and 17 are fine.
  for (std::int64_t m : {1, 17}) {
    p = fp8_problem();
    p.m = m;
    CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  }
}

TEST_CASE("matrices are 16-byte aligned", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.data = arena + 8;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "is not 16-byte aligned");
  p = fp8_problem();
  p.d.data = arena + 3 * 65536 + 2;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "D=");
  p = fp8_problem();
  p.beta = 1.0f;
  p.c.data = arena + 3 * 65536 + 4;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "C=");
}

TEST_CASE("leading dimensions are multiples of 16 bytes", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.ld = 72;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                        "the leading dimension of A (72 float8_e4m3 = 72 bytes) must be a multiple of 16 bytes; "
                        "round it up to 80");
  p = fp8_problem(element_type::bfloat16);
  p.d.ld = 68;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "the leading dimension of D (68 bfloat16 = 136 bytes)");
  p.d.ld = 72;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("FP8 needs compute capability 8.9", "[gemm][validation]") {
  const device_capabilities ampere{8, 0, 130100};
  const device_capabilities ada{8, 9, 130100};
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(fp8_problem(), ampere),
                        "FP8 GEMMs need compute capability 8.9 (Ada) or 9.0 (Hopper); this device is 8.0");
  CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(), ada));
}

TEST_CASE("row-wise and block scales run on Hopper only", "[gemm][validation]") {
  const device_capabilities ada{8, 9, 130100};
  const device_capabilities blackwell{10, 0, 130100};
  const device_capabilities blackwell_geforce{12, 0, 130100};
  for (scale_mode mode : {scale_mode::row_wise, scale_mode::block_1x128}) {
    problem p = fp8_problem();
    p.a.scaling = p.b.scaling = mode;
    CAPTURE(mode);
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, ada),
                          std::string(to_string(mode)) + " scales run on Hopper (compute capability 9.x) only in "
                                                         "cuBLASLt; this device is 8.9");
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell), "this device is 10.0");
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, blackwell_geforce), "this device is 12.0");
    CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
    // Per-tensor scales stay available on all three.
    p.a.scaling = p.b.scaling = scale_mode::per_tensor;
    CHECK_NOTHROW(validate_for_cublaslt(p, ada));
    CHECK_NOTHROW(validate_for_cublaslt(p, blackwell));
    CHECK_NOTHROW(validate_for_cublaslt(p, blackwell_geforce));
  }
}

TEST_CASE("row-wise and block scales give no FP8 output", "[gemm][validation]") {
  struct pair {
    scale_mode a, b;
  };
  for (const pair& modes : {pair{scale_mode::row_wise, scale_mode::row_wise},
                            pair{scale_mode::block_1x128, scale_mode::block_1x128},
                            pair{scale_mode::block_128x128, scale_mode::block_1x128}}) {
    CAPTURE(modes.a, modes.b);
    problem p = fp8_problem(element_type::float8_e4m3);
    p.a.scaling = modes.a;
    p.b.scaling = modes.b;
    CHECK_NOTHROW(validate(p));  // the reference quantizes any output
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                          std::string("the output D is float8_e4m3 but scale modes A=") + to_string(modes.a) +
                              " B=" + to_string(modes.b) + " give bfloat16, float16 or float32 outputs only");
    // E5M2 outputs too.
    p.a.type = element_type::float8_e5m2;
    p.d.type = element_type::float8_e5m2;
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "the output D is float8_e5m2");
    // The nearest valid variants: a high-precision D with the same scales,
    // with C and a bias epilogue (cuBLAS states no limit on either).
    for (element_type d : {element_type::bfloat16, element_type::float16, element_type::float32}) {
      problem q = fp8_problem(d);
      q.a.scaling = modes.a;
      q.b.scaling = modes.b;
      q.beta = 1.0f;
      q.c.data = slice(3);
      q.epilogue_op = epilogue::bias_gelu;
      q.bias.data = slice(4);
      CAPTURE(d);
      CHECK_NOTHROW(validate_for_cublaslt(q, hopper));
    }
  }
  // Per-tensor scales keep the FP8 output.
  CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(element_type::float8_e4m3), hopper));
}

TEST_CASE("block scales need M a multiple of 4", "[gemm][validation]") {
  for (scale_mode b : {scale_mode::block_1x128, scale_mode::block_128x128}) {
    problem p = fp8_problem();
    p.a.scaling = scale_mode::block_1x128;
    p.b.scaling = b;
    p.m = 17;
    CAPTURE(b);
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                          std::string("M=17 must be a multiple of 4 with block scales (A=block_1x128 B=") +
                              to_string(b) + "); pad A and D with zero rows to M=20");
    CHECK_NOTHROW(validate(p));  // the reference takes any M
    p.m = 1;
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "M=1 must be a multiple of 4");
    p.m = 20;
    CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  }
  // Row-wise scales take any M.
  problem p = fp8_problem();
  p.a.scaling = p.b.scaling = scale_mode::row_wise;
  p.m = 17;
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("block scales start 16-byte aligned", "[gemm][validation]") {
  problem p = fp8_problem();
  p.a.scaling = p.b.scaling = scale_mode::block_1x128;
  p.a.scale = &scales[1];
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "A.scale=");
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                        "is not 16-byte aligned, but cuBLASLt reads block_1x128 scales from a 16-byte aligned start");
  p.a.scale = &scales[8];
  p.b.scaling = scale_mode::block_128x128;
  p.b.scale = &scales[2];
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "B.scale=");
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), "reads block_128x128 scales");
  p.b.scale = &scales[12];
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
  // Row-wise scales only need float alignment.
  p.a.scaling = p.b.scaling = scale_mode::row_wise;
  p.a.scale = &scales[1];
  p.b.scale = &scales[2];
  CHECK_NOTHROW(validate_for_cublaslt(p, hopper));
}

TEST_CASE("cuBLASLt must be new enough for the scale mode", "[gemm][validation]") {
  const device_capabilities old_runtime{9, 0, 120800};
  CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(), old_runtime));
  problem p = fp8_problem();
  p.a.scaling = p.b.scaling = scale_mode::row_wise;
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, old_runtime),
                        "scale mode row_wise needs cuBLASLt 120900 (CUDA 12.9) or newer; this runtime is 120800");
  const device_capabilities ancient{9, 0, 110500};
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(fp8_problem(), ancient), "predates FP8 matmul");
}

TEST_CASE("describe names what was asked", "[gemm][validation]") {
  problem p = fp8_problem(element_type::float8_e4m3);
  p.a.scaling = scale_mode::block_1x128;
  p.epilogue_op = epilogue::bias;
  CHECK(describe(p) ==
        "M=64 N=64 K=64 A=float8_e4m3/block_1x128 (lda=64) B=float8_e4m3/per_tensor (ldb=64) D=float8_e4m3 "
        "(ldd=64) epilogue=bias bias=bfloat16");
}

// ---- Issue 12: enum values, non-finite factors, overflow, D aliasing ------

TEST_CASE("enum fields must hold enumerators: an invalid element type is rejected, not divided by",
          "[gemm][validation]") {
  // Before: validate_for_cublaslt built its alignment message eagerly and
  // divided by size_of(element_type(9)) = 0 (SIGFPE); validate() accepted it.
  problem all_invalid = fp8_problem();
  all_invalid.a.type = all_invalid.b.type = all_invalid.c.type = all_invalid.d.type = all_invalid.bias.type =
      static_cast<element_type>(9);
  all_invalid.a.scale = all_invalid.b.scale = nullptr;  // as the probe had it: every other rule then passes
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(all_invalid, hopper), "a.type = 9 is not a mixprec::scalar_type");
  MIXPREC_REQUIRE_ERROR(validate(all_invalid), "a.type = 9");

  struct field_case {
    const char* text;
    void (*spoil)(problem&);
  };
  const field_case cases[] = {
      {"a.type = 9", [](problem& p) { p.a.type = static_cast<element_type>(9); }},
      {"b.type = 200", [](problem& p) { p.b.type = static_cast<element_type>(200); }},
      {"c.type = 5", [](problem& p) { p.c.type = static_cast<element_type>(5); }},
      {"d.type = 9", [](problem& p) { p.d.type = static_cast<element_type>(9); }},
      {"bias.type = 9", [](problem& p) { p.bias.type = static_cast<element_type>(9); }},
      {"a.scaling = 9 is not a gemm::scale_mode", [](problem& p) { p.a.scaling = static_cast<scale_mode>(9); }},
      {"b.scaling = 4", [](problem& p) { p.b.scaling = static_cast<scale_mode>(4); }},
      {"epilogue_op = 6 is not a gemm::epilogue", [](problem& p) { p.epilogue_op = static_cast<epilogue>(6); }},
  };
  for (const field_case& c : cases) {
    CAPTURE(c.text);
    problem p = fp8_problem();
    c.spoil(p);
    MIXPREC_REQUIRE_ERROR(validate(p), c.text);
    MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper), c.text);
  }
}

TEST_CASE("alpha and beta must be finite", "[gemm][validation]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float bad : {inf, -inf, nan}) {
    problem p = fp8_problem();
    p.alpha = bad;
    MIXPREC_REQUIRE_ERROR(validate(p), "must be finite");
    p = fp8_problem();
    p.beta = bad;
    p.c.data = slice(3);
    MIXPREC_REQUIRE_ERROR(validate(p), "must be finite");
  }
  problem zero = fp8_problem();
  zero.alpha = 0.0f;  // D = beta · C: a zero alpha is a computation
  CHECK_NOTHROW(validate(zero));
}

TEST_CASE("sizes and extents are computed without overflow", "[gemm][validation]") {
  const std::int64_t big = std::int64_t{1} << 32;
  // Before: (M - 1) · ldc + N overflowed a signed product and was accepted.
  problem p = make_problem(big, big, big, element_type::bfloat16, element_type::bfloat16, element_type::bfloat16);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  p.c.data = slice(3);
  p.beta = 1.0f;
  MIXPREC_REQUIRE_ERROR(validate(p), "A (4294967296 x 4294967296 bfloat16, ld=4294967296");
  MIXPREC_REQUIRE_ERROR(validate(p), "overflows or reaches beyond the address space; check M, K and lda");

  // N = K = 2^32 with M = 1: B's extent overflows.
  p = make_problem(1, big, big, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  MIXPREC_REQUIRE_ERROR(validate(p), "check N, K and ldb");

  // lda = INT64_MAX: (M - 1) · lda overflows.
  p = fp8_problem();
  p.a.ld = INT64_MAX;
  MIXPREC_REQUIRE_ERROR(validate(p), "check M, K and lda");
  // With one row the leading dimension is never stepped over: the extent is K.
  p.m = 1;
  CHECK_NOTHROW(validate(p));
  // ... but cuBLASLt's byte stride would overflow (BF16: 2 bytes an element).
  problem bf16 = make_problem(1, 8, 8, element_type::bfloat16, element_type::bfloat16, element_type::bfloat16);
  bf16.a.data = slice(0);
  bf16.b.data = slice(1);
  bf16.d.data = slice(2);
  bf16.a.ld = INT64_MAX;
  CHECK_NOTHROW(validate(bf16));
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(bf16, hopper), "times the element size overflows");

  // A matrix that would wrap around the end of the address space.
  problem high = make_problem(1, 16, 64, element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32);
  high.a.data = reinterpret_cast<const void*>(UINTPTR_MAX - 31);
  high.b.data = slice(1);
  high.d.data = slice(2);
  MIXPREC_REQUIRE_ERROR(validate(high), "check M, K and lda");
}

TEST_CASE("D must not overlap A, B, their scales, the bias or d.scale and d.amax", "[gemm][validation]") {
  // Before: only C/D overlap was detected; D = A gave 384 of 512 wrong outputs.
  problem p = make_problem(16, 32, 16, element_type::float32, element_type::float32, element_type::float32);
  p.a.data = slice(0);
  p.b.data = slice(1);
  p.d.data = slice(2);
  CHECK_NOTHROW(validate(p));
  p.d.data = slice(0);
  MIXPREC_REQUIRE_ERROR(validate(p), "overlaps A");
  MIXPREC_REQUIRE_ERROR(validate(p), "write D to a buffer of its own");
  // D's last byte is B's first (D is 16 x 32 floats = 2048 bytes).
  p.d.data = static_cast<unsigned char*>(slice(1)) - 2047;
  MIXPREC_REQUIRE_ERROR(validate(p), "overlaps B");
  // Adjacent is fine.
  p.d.data = static_cast<unsigned char*>(slice(1)) - 2048;
  CHECK_NOTHROW(validate(p));

  problem q = fp8_problem(element_type::float8_e4m3);
  q.a.scale = static_cast<const float*>(q.d.data) + 3;
  MIXPREC_REQUIRE_ERROR(validate(q), "overlaps a.scale");
  q = fp8_problem(element_type::float8_e4m3);
  q.b.scaling = scale_mode::row_wise;
  q.b.scale = reinterpret_cast<const float*>(static_cast<unsigned char*>(q.d.data) - 8);  // 64 floats reach into D
  MIXPREC_REQUIRE_ERROR(validate(q), "overlaps b.scale");
  q = fp8_problem(element_type::float8_e4m3);
  q.d.amax = static_cast<float*>(q.d.data);
  MIXPREC_REQUIRE_ERROR(validate(q), "overlaps d.amax");
  q = fp8_problem(element_type::float8_e4m3);
  q.d.scale = static_cast<const float*>(q.d.data) + 1;
  MIXPREC_REQUIRE_ERROR(validate(q), "overlaps d.scale");
  q = fp8_problem();
  q.epilogue_op = epilogue::bias;
  q.bias.data = static_cast<unsigned char*>(q.d.data) + 100;
  MIXPREC_REQUIRE_ERROR(validate(q), "overlaps bias");
}

TEST_CASE("hostile device capabilities are compared as pairs, never as major * 10 + minor", "[gemm][validation]") {
  // major * 10 + minor overflowed int (undefined behaviour; in practice a
  // negative capability that refused any device).
  constexpr int largest = std::numeric_limits<int>::max();
  CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(), device_capabilities{largest, largest, 130100}));
  CHECK_NOTHROW(validate_for_cublaslt(fp8_problem(), device_capabilities{8, largest, 130100}));
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(fp8_problem(), device_capabilities{8, 8, 130100}), "this device is 8.8");
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(fp8_problem(), device_capabilities{9, -1, 130100}),
                        "compute capability 9.-1 is not a device's: both numbers must be >= 0");
  MIXPREC_REQUIRE_ERROR(
      validate_for_cublaslt(fp8_problem(), device_capabilities{std::numeric_limits<int>::min(), 0, 1}),
      "compute capability -2147483648.0 is not a device's");
}

TEST_CASE("a leading dimension with no 16-byte multiple in 64 bits is named, not rounded to -1", "[gemm][validation]") {
  problem p = fp8_problem();
  p.m = 1;  // A spans K bytes whatever lda is
  p.a.ld = std::numeric_limits<std::int64_t>::max();
  CHECK_NOTHROW(validate(p));
  MIXPREC_REQUIRE_ERROR(validate_for_cublaslt(p, hopper),
                        "the leading dimension of A (9223372036854775807 float8_e4m3 = 9223372036854775807 bytes) "
                        "must be a multiple of 16 bytes, and no such multiple this large fits a 64-bit byte count");
}
