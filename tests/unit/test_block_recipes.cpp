// Block-scaling recipes (issue 13 §3): mixprec/scaling/block_recipes.hpp.
// Each recipe's operand settings are checked against the published recipes
// (TransformerEngine's MXFP8BlockScaling and NVFP4BlockScaling, OCP MX), the
// quantizer options they produce field by field, every rejection, and an
// end-to-end linear layer (forward, dgrad and wgrad GEMMs of operands each
// quantized from the high-precision tensors) against a float64 GEMM of those
// tensors, within an error bound derived from each element format's spacing
// and scale rule (not from the code under test). The demo's emulation
// (dequantize, then the FP32 reference GEMM) is checked bit for bit against
// reference::block_scaled_gemm.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/reference/block_scaled_gemm.hpp"
#include "mixprec/reference/scaled_gemm.hpp"
#include "mixprec/scaling/block_recipes.hpp"
#include "mixprec/types.hpp"
#include "support/catch.hpp"

namespace {

using mixprec::block_operand_recipe;
using mixprec::block_quantizer;
using mixprec::block_scaling_recipe;
using mixprec::linear_operand;
using mixprec::mx_orientation;
using mixprec::mx_scale_rule;
using mixprec::rounding;
using mixprec::gemm::block_element;

constexpr linear_operand every_operand[] = {linear_operand::forward_input,  linear_operand::forward_weight,
                                            linear_operand::dgrad_gradient, linear_operand::dgrad_weight,
                                            linear_operand::wgrad_gradient, linear_operand::wgrad_input};

bool is_gradient(linear_operand o) { return o == linear_operand::dgrad_gradient || o == linear_operand::wgrad_gradient; }
bool is_weight(linear_operand o) { return o == linear_operand::forward_weight || o == linear_operand::dgrad_weight; }
bool is_wgrad(linear_operand o) { return o == linear_operand::wgrad_gradient || o == linear_operand::wgrad_input; }

TEST_CASE("Block recipes: operand orientations follow the three GEMMs of a linear layer", "[block_recipes]") {
  // forward X·Wᵀ and dgrad dY·W read X, W, dY along their rows; dgrad's W
  // and both wgrad operands (dYᵀ·X) run K down the columns.
  CHECK(mixprec::orientation_of(linear_operand::forward_input) == mx_orientation::rowwise);
  CHECK(mixprec::orientation_of(linear_operand::forward_weight) == mx_orientation::rowwise);
  CHECK(mixprec::orientation_of(linear_operand::dgrad_gradient) == mx_orientation::rowwise);
  CHECK(mixprec::orientation_of(linear_operand::dgrad_weight) == mx_orientation::columnwise);
  CHECK(mixprec::orientation_of(linear_operand::wgrad_gradient) == mx_orientation::columnwise);
  CHECK(mixprec::orientation_of(linear_operand::wgrad_input) == mx_orientation::columnwise);
  CHECK(std::string(mixprec::to_string(linear_operand::wgrad_input)) == "wgrad_input");
  CHECK(std::string(mixprec::to_string(static_cast<linear_operand>(9))) == "invalid");
}

TEST_CASE("mxfp8 recipe: E4M3 everywhere, 1x32 blocks, rceil scales, nearest even; E5M2 gradients on request",
          "[block_recipes]") {
  const block_scaling_recipe r = mixprec::mxfp8_block_scaling();
  CHECK(std::string(r.name) == "mxfp8");
  for (linear_operand which : every_operand) {
    INFO(mixprec::to_string(which));
    const block_operand_recipe& o = r.operand(which);
    CHECK(o.quantizer == block_quantizer::mx);
    CHECK(o.element == block_element::float8_e4m3);
    CHECK(o.block_lines == 1);
    CHECK(o.block_length == 32);
    CHECK(o.scale_rule == mx_scale_rule::rceil);
    CHECK(o.mode == rounding::nearest_even);
    CHECK_FALSE(o.random_hadamard);
    const mixprec::mx_options options = mixprec::mx_options_for(o, 7, 99);
    CHECK(options.rule == mx_scale_rule::rceil);
    CHECK(options.mode == rounding::nearest_even);
    CHECK(options.seed == 7);
    CHECK(options.offset == 99);
    CHECK(options.scale_layout == mixprec::gemm::block_scale_layout::compact);
  }
  mixprec::mxfp8_recipe_options e5m2;
  e5m2.gradient_element = block_element::float8_e5m2;
  e5m2.scale_rule = mx_scale_rule::floor;
  const block_scaling_recipe hybrid = mixprec::mxfp8_block_scaling(e5m2);
  for (linear_operand which : every_operand) {
    INFO(mixprec::to_string(which));
    CHECK(hybrid.operand(which).element == (is_gradient(which) ? block_element::float8_e5m2 : block_element::float8_e4m3));
    CHECK(hybrid.operand(which).scale_rule == mx_scale_rule::floor);
  }
}

TEST_CASE("mxfp4 recipe: E2M1 everywhere, 1x32 blocks, OCP floor scales by default, nearest even",
          "[block_recipes]") {
  const block_scaling_recipe r = mixprec::mxfp4_block_scaling();
  const block_scaling_recipe rceil = mixprec::mxfp4_block_scaling(mx_scale_rule::rceil);
  for (linear_operand which : every_operand) {
    INFO(mixprec::to_string(which));
    const block_operand_recipe& o = r.operand(which);
    CHECK(o.quantizer == block_quantizer::mx);
    CHECK(o.element == block_element::float4_e2m1);
    CHECK(o.block_lines == 1);
    CHECK(o.block_length == 32);
    CHECK(o.scale_rule == mx_scale_rule::floor);
    CHECK(o.mode == rounding::nearest_even);
    CHECK_FALSE(o.random_hadamard);
    CHECK(rceil.operand(which).scale_rule == mx_scale_rule::rceil);
  }
}

TEST_CASE("nvfp4 recipe: TransformerEngine's NVFP4BlockScaling (16x16 W, 1x16 X and dY, SR on dY, RHT on wgrad)",
          "[block_recipes]") {
  const block_scaling_recipe r = mixprec::nvfp4_block_scaling();
  CHECK(std::string(r.name) == "nvfp4");
  for (linear_operand which : every_operand) {
    INFO(mixprec::to_string(which));
    const block_operand_recipe& o = r.operand(which);
    CHECK(o.quantizer == block_quantizer::nvfp4);
    CHECK(o.element == block_element::float4_e2m1);
    CHECK(o.block_length == 16);
    CHECK(o.block_lines == (is_weight(which) ? 16 : 1));
    CHECK(o.mode == (is_gradient(which) ? rounding::stochastic : rounding::nearest_even));
    CHECK(o.random_hadamard == is_wgrad(which));
    const mixprec::nvfp4_options options = mixprec::nvfp4_options_for(o, 5, 1u << 20);
    CHECK(options.mode == o.mode);
    CHECK(options.seed == 5);
    CHECK(options.offset == (1u << 20));
    CHECK(options.two_dimensional_blocks == is_weight(which));
    CHECK(options.random_hadamard == is_wgrad(which));
    CHECK(options.hadamard_signs == 0xD7E8);  // TE's get_wgrad_sign_vector as a mask
    CHECK(options.scale_layout == mixprec::gemm::block_scale_layout::compact);
  }
  mixprec::nvfp4_recipe_options plain;
  plain.two_dimensional_weights = false;
  plain.stochastic_gradients = false;
  plain.random_hadamard_wgrad = false;
  const block_scaling_recipe p = mixprec::nvfp4_block_scaling(plain);
  for (linear_operand which : every_operand) {
    CHECK(p.operand(which).block_lines == 1);
    CHECK(p.operand(which).mode == rounding::nearest_even);
    CHECK_FALSE(p.operand(which).random_hadamard);
  }
}

TEST_CASE("Block recipes reject what no quantizer can do, naming the constraint", "[block_recipes]") {
  mixprec::mxfp8_recipe_options fp4_gradients;
  fp4_gradients.gradient_element = block_element::float4_e2m1;
  MIXPREC_REQUIRE_ERROR(mixprec::mxfp8_block_scaling(fp4_gradients), "float8_e4m3 (the default) or float8_e5m2");
  mixprec::mxfp8_recipe_options bad_rule;
  bad_rule.scale_rule = static_cast<mx_scale_rule>(7);
  MIXPREC_REQUIRE_ERROR(mixprec::mxfp8_block_scaling(bad_rule), "scale_rule = 7");
  MIXPREC_REQUIRE_ERROR(mixprec::mxfp4_block_scaling(static_cast<mx_scale_rule>(3)), "rule = 3");
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_block_scaling().operand(static_cast<linear_operand>(6)),
                        "linear_operand 6 is not an enumerator");

  const block_operand_recipe mx = mixprec::mxfp8_block_scaling().operand(linear_operand::forward_input);
  const block_operand_recipe nv = mixprec::nvfp4_block_scaling().operand(linear_operand::wgrad_input);
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_options_for(mx), "quantizer is mx; call mx_options_for");
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(nv), "quantizer is nvfp4; call nvfp4_options_for");
  block_operand_recipe r = mx;
  r.block_length = 16;
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "an MX block is 1x32 (OCP MX v1.0 §5), but the recipe says 1x16");
  r = mx;
  r.random_hadamard = true;
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "random_hadamard is set on an MX operand");
  r = mx;
  r.mode = static_cast<rounding>(42);
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "mode = 42");
  r = mx;
  r.element = static_cast<block_element>(9);
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "element = 9");
  r = mx;
  r.quantizer = static_cast<block_quantizer>(5);
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "no block_quantizer enumerator");
  r = nv;
  r.element = block_element::float8_e4m3;
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_options_for(r), "NVFP4 elements are float4_e2m1");
  r = nv;
  r.block_lines = 8;
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_options_for(r), "an NVFP4 block is 1x16 or 16x16, but the recipe says 8x16");
  r = nv;
  r.block_lines = 16;  // and random_hadamard, as the wgrad operand has
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_options_for(r), "random_hadamard with 16x16 blocks");
}

// ---- End to end: one linear layer's three GEMMs ------------------------------

// One operand quantized by its recipe: element codes [lines, length] and
// compact scale codes, as a block_scaled_operand reads them.
struct quantized {
  std::vector<std::uint8_t> codes, scales;
  float tensor_scale = 1.0f;  // NVFP4's S
  std::int64_t lines = 0, length = 0;
  block_element type = block_element::float8_e4m3;
  mixprec::gemm::block_scaled_operand view() const {
    mixprec::gemm::block_scaled_operand v;
    v.type = type;
    v.data = codes.data();
    v.ld = length;
    v.scales = scales.data();
    return v;
  }
};

template <class T, class S>
void copy_codes(const std::vector<T>& from, std::vector<S>& to_unused, std::vector<std::uint8_t>& to) {
  (void)to_unused;
  to.resize(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) to[i] = static_cast<std::uint8_t>(from[i].bits());
}

template <class Element>
void quantize_mx_into(const std::vector<float>& x, std::int64_t rows, std::int64_t cols, const mixprec::mx_options& o,
                      mx_orientation orientation, quantized& q) {
  std::vector<Element> elements(x.size());
  std::vector<mixprec::float8_e8m0> scales(static_cast<std::size_t>(q.lines * ((q.length + 31) / 32)));
  mixprec::reference::quantize_mx(x.data(), rows, cols, elements.data(), scales.data(), o, orientation);
  copy_codes(elements, scales, q.codes);
  copy_codes(scales, elements, q.scales);
}

quantized quantize_operand(const std::vector<float>& x, std::int64_t rows, std::int64_t cols,
                           const block_scaling_recipe& recipe, linear_operand which) {
  const block_operand_recipe& o = recipe.operand(which);
  const mx_orientation orientation = mixprec::orientation_of(which);
  quantized q;
  q.type = o.element;
  q.lines = orientation == mx_orientation::rowwise ? rows : cols;
  q.length = orientation == mx_orientation::rowwise ? cols : rows;
  if (o.quantizer == block_quantizer::nvfp4) {
    std::vector<mixprec::float4_e2m1> elements(x.size());
    std::vector<mixprec::float8_e4m3> scales(static_cast<std::size_t>(q.lines * ((q.length + 15) / 16)));
    q.tensor_scale = mixprec::reference::quantize_nvfp4(x.data(), rows, cols, elements.data(), scales.data(),
                                                        mixprec::nvfp4_options_for(o, 11, 0), orientation);
    copy_codes(elements, scales, q.codes);
    copy_codes(scales, elements, q.scales);
    return q;
  }
  const mixprec::mx_options options = mixprec::mx_options_for(o, 11, 0);
  switch (o.element) {
    case block_element::float8_e4m3: quantize_mx_into<mixprec::float8_e4m3>(x, rows, cols, options, orientation, q); break;
    case block_element::float8_e5m2: quantize_mx_into<mixprec::float8_e5m2>(x, rows, cols, options, orientation, q); break;
    case block_element::float6_e2m3: quantize_mx_into<mixprec::float6_e2m3>(x, rows, cols, options, orientation, q); break;
    case block_element::float6_e3m2: quantize_mx_into<mixprec::float6_e3m2>(x, rows, cols, options, orientation, q); break;
    case block_element::float4_e2m1: quantize_mx_into<mixprec::float4_e2m1>(x, rows, cols, options, orientation, q); break;
  }
  return q;
}

// The largest error of one element relative to the largest magnitude of its
// block, from the element format's spacing and the scale rule alone:
//  - MX rceil: amax / X in (max / 2, max]; the error is at most half the
//    spacing of the top binade (E4M3: 16 with amax / X > 224, so 1/14;
//    E5M2: 4096 / 28672 = 1/7; E2M1: 1 / 3).
//  - MX floor: amax / X in [2^emax, 2^(emax+1)); clamping to max costs up to
//    2^(emax+1) − max (E4M3: 64 / 256 = 1/4; E2M1: 2 / 4 = 1/2).
//  - NVFP4: the E4M3 block scale is within 2^−4 of amax · S / 6, so amax · S
//    / d lies in [6 / (1 + 1/16), 6 / (1 − 1/16)]; an element's error is at
//    most 1 (half E2M1's top spacing of 2; clamping costs at most 0.4) in
//    units of d / S <= amax / 5.647, so 0.178; stochastic rounding errs by
//    less than a whole spacing: 0.355.
// 2% on top covers the float rounding of the transformed values.
double relative_element_error(const block_operand_recipe& o) {
  double c = 0;
  if (o.quantizer == block_quantizer::nvfp4) {
    c = o.mode == rounding::stochastic ? 2.0 / 5.647 : 1.0 / 5.647;
  } else if (o.scale_rule == mx_scale_rule::rceil) {
    c = o.element == block_element::float8_e4m3 ? 1.0 / 14 : o.element == block_element::float8_e5m2 ? 1.0 / 7 : 1.0 / 3;
  } else {
    c = o.element == block_element::float8_e4m3 ? 0.25 : o.element == block_element::float8_e5m2 ? 0.25 : 0.5;
  }
  return 1.02 * c;
}

// For the quantized operand [lines, length] of x (element (l, p) is x[l][p]
// row-wise, x[p][l] column-wise): a bound on each value's magnitude as the
// GEMM sees it, and on its error. Without the transform: |x| and c · amax of
// its block (1x16, 1x32 or its 16x16 tile). With the random Hadamard
// transform the GEMM sees transformed values, each at most the 2-norm of its
// 16-block (the transform is orthogonal), and errs by at most c times that.
void operand_bounds(const std::vector<float>& x, std::int64_t cols, const block_operand_recipe& o,
                    mx_orientation orientation, std::int64_t lines, std::int64_t length, std::vector<double>& magnitude,
                    std::vector<double>& error) {
  const auto at = [&](std::int64_t l, std::int64_t p) {
    return static_cast<double>(x[static_cast<std::size_t>(orientation == mx_orientation::rowwise ? l * cols + p
                                                                                                : p * cols + l)]);
  };
  const double c = relative_element_error(o);
  magnitude.assign(static_cast<std::size_t>(lines * length), 0.0);
  error.assign(magnitude.size(), 0.0);
  for (std::int64_t l = 0; l < lines; ++l)
    for (std::int64_t p = 0; p < length; ++p) {
      const std::int64_t begin = p / o.block_length * o.block_length;
      const std::int64_t end = std::min(begin + o.block_length, length);
      const std::int64_t first_line = l / o.block_lines * o.block_lines;
      const std::int64_t last_line = std::min(first_line + o.block_lines, lines);
      double amax = 0, sum_of_squares = 0;
      for (std::int64_t ll = first_line; ll < last_line; ++ll)
        for (std::int64_t pp = begin; pp < end; ++pp) {
          amax = std::max(amax, std::fabs(at(ll, pp)));
          sum_of_squares += at(ll, pp) * at(ll, pp);
        }
      const std::size_t i = static_cast<std::size_t>(l * length + p);
      magnitude[i] = o.random_hadamard ? std::sqrt(sum_of_squares) : std::fabs(at(l, p));
      error[i] = c * (o.random_hadamard ? std::sqrt(sum_of_squares) : amax);
    }
}

struct gemm_check {
  std::int64_t beyond_bound = 0;
  double largest_ratio = 0;  // max |D - D64| / bound
  double squared_error = 0, squared_exact = 0;  // Σ (D - D64)², Σ D64²
  double relative_error() const { return std::sqrt(squared_error / squared_exact); }
};

// D = A · Bᵀ of the quantized operands by reference::block_scaled_gemm,
// against the float64 product of the high-precision tensors (exact(i, j)).
template <class Exact>
gemm_check check_gemm(const block_scaling_recipe& recipe, linear_operand a_role, const std::vector<float>& a_source,
                      std::int64_t a_rows, std::int64_t a_cols, linear_operand b_role,
                      const std::vector<float>& b_source, std::int64_t b_rows, std::int64_t b_cols, Exact exact) {
  const quantized a = quantize_operand(a_source, a_rows, a_cols, recipe, a_role);
  const quantized b = quantize_operand(b_source, b_rows, b_cols, recipe, b_role);
  REQUIRE(a.length == b.length);
  const bool nvfp4 = recipe.operand(a_role).quantizer == block_quantizer::nvfp4;
  mixprec::gemm::block_scaled_problem p;
  p.m = a.lines;
  p.n = b.lines;
  p.k = a.length;
  p.scaling = nvfp4 ? mixprec::gemm::block_scaling::nvfp4_vec16_ue4m3 : mixprec::gemm::block_scaling::mx_vec32_ue8m0;
  p.a = a.view();
  p.b = b.view();
  std::vector<float> d(static_cast<std::size_t>(p.m * p.n));
  p.d.type = mixprec::gemm::element_type::float32;
  p.d.data = d.data();
  p.d.ld = p.n;
  p.alpha = nvfp4 ? mixprec::gemm::nvfp4_alpha(a.tensor_scale, b.tensor_scale) : 1.0f;
  mixprec::reference::block_scaled_gemm(p);

  std::vector<double> a_magnitude, a_error, b_magnitude, b_error;
  operand_bounds(a_source, a_cols, recipe.operand(a_role), mixprec::orientation_of(a_role), a.lines, a.length,
                 a_magnitude, a_error);
  operand_bounds(b_source, b_cols, recipe.operand(b_role), mixprec::orientation_of(b_role), b.lines, b.length,
                 b_magnitude, b_error);
  const double accumulation = static_cast<double>(p.k + 3) * std::ldexp(1.0, -24);  // FP32 sums and alpha
  gemm_check result;
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      double bound = 0;
      for (std::int64_t k = 0; k < p.k; ++k) {
        const std::size_t ia = static_cast<std::size_t>(i * p.k + k), ib = static_cast<std::size_t>(j * p.k + k);
        bound += a_error[ia] * b_magnitude[ib] + a_magnitude[ia] * b_error[ib] + a_error[ia] * b_error[ib] +
                 accumulation * (a_magnitude[ia] + a_error[ia]) * (b_magnitude[ib] + b_error[ib]);
      }
      const double truth = exact(i, j);
      const double difference = std::fabs(static_cast<double>(d[static_cast<std::size_t>(i * p.n + j)]) - truth);
      result.squared_error += difference * difference;
      result.squared_exact += truth * truth;
      result.beyond_bound += difference <= bound ? 0 : 1;
      result.largest_ratio = std::max(result.largest_ratio, difference / bound);
    }
  return result;
}

struct linear_layer_data {
  std::int64_t batch = 48, in = 64, out = 40;  // K = 64, 40 (a partial MX block) and 48 (three RHT blocks)
  std::vector<float> x, w, dy;
  linear_layer_data() {
    std::mt19937 generator(20240501);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const auto fill = [&](std::vector<float>& v, std::size_t n, float spread) {
      v.resize(n);
      for (float& value : v) value = normal(generator) * spread;
    };
    fill(x, static_cast<std::size_t>(batch * in), 2.0f);
    fill(w, static_cast<std::size_t>(out * in), 0.05f);
    fill(dy, static_cast<std::size_t>(batch * out), 1e-3f);
  }
  double X(std::int64_t r, std::int64_t c) const { return static_cast<double>(x[static_cast<std::size_t>(r * in + c)]); }
  double W(std::int64_t r, std::int64_t c) const { return static_cast<double>(w[static_cast<std::size_t>(r * in + c)]); }
  double dY(std::int64_t r, std::int64_t c) const {
    return static_cast<double>(dy[static_cast<std::size_t>(r * out + c)]);
  }
};

// The three GEMMs of a recipe; returns the number of entries beyond their
// bounds, the largest |error| / bound and the wgrad GEMM's relative error.
std::int64_t check_linear_layer(const block_scaling_recipe& recipe, double& largest_ratio,
                                double& wgrad_relative_error) {
  const linear_layer_data t;
  // forward Y[b, o] = Σ_i X[b, i] W[o, i]
  const gemm_check forward = check_gemm(
      recipe, linear_operand::forward_input, t.x, t.batch, t.in, linear_operand::forward_weight, t.w, t.out, t.in,
      [&](std::int64_t b, std::int64_t o) {
        double s = 0;
        for (std::int64_t i = 0; i < t.in; ++i) s += t.X(b, i) * t.W(o, i);
        return s;
      });
  // dgrad dX[b, i] = Σ_o dY[b, o] W[o, i]
  const gemm_check dgrad = check_gemm(
      recipe, linear_operand::dgrad_gradient, t.dy, t.batch, t.out, linear_operand::dgrad_weight, t.w, t.out, t.in,
      [&](std::int64_t b, std::int64_t i) {
        double s = 0;
        for (std::int64_t o = 0; o < t.out; ++o) s += t.dY(b, o) * t.W(o, i);
        return s;
      });
  // wgrad dW[o, i] = Σ_b dY[b, o] X[b, i]
  const gemm_check wgrad = check_gemm(
      recipe, linear_operand::wgrad_gradient, t.dy, t.batch, t.out, linear_operand::wgrad_input, t.x, t.batch, t.in,
      [&](std::int64_t o, std::int64_t i) {
        double s = 0;
        for (std::int64_t b = 0; b < t.batch; ++b) s += t.dY(b, o) * t.X(b, i);
        return s;
      });
  largest_ratio = std::max({forward.largest_ratio, dgrad.largest_ratio, wgrad.largest_ratio});
  wgrad_relative_error = wgrad.relative_error();
  return forward.beyond_bound + dgrad.beyond_bound + wgrad.beyond_bound;
}

TEST_CASE("Block recipes end to end: forward, dgrad and wgrad GEMMs within the formats' bounds of float64",
          "[block_recipes]") {
  mixprec::mxfp8_recipe_options e5m2;
  e5m2.gradient_element = block_element::float8_e5m2;
  const block_scaling_recipe recipes[] = {mixprec::mxfp8_block_scaling(), mixprec::mxfp8_block_scaling(e5m2),
                                          mixprec::mxfp4_block_scaling(),
                                          mixprec::mxfp4_block_scaling(mx_scale_rule::rceil),
                                          mixprec::nvfp4_block_scaling()};
  for (const block_scaling_recipe& r : recipes) {
    INFO(r.name << ", gradients " << r.operand(linear_operand::dgrad_gradient).element);
    double largest_ratio = 0, wgrad_error = 0;
    CHECK(check_linear_layer(r, largest_ratio, wgrad_error) == 0);
    // The bounds are not vacuous: the worst entry uses a fair share of its bound.
    CHECK(largest_ratio > 0.01);
    CHECK(wgrad_error < 0.25);
  }
}

TEST_CASE("Block recipes end to end: the RHT on only one wgrad operand breaks the product (negative control)",
          "[block_recipes]") {
  // Without the same transform on both sides of K, Σ (Ha)_k b_k is no longer
  // Σ a_k b_k: the wgrad GEMM then misses float64 by as much as its size,
  // where the recipe's (both sides transformed) stays well within 25 %.
  block_scaling_recipe r = mixprec::nvfp4_block_scaling();
  r.operands[static_cast<std::size_t>(linear_operand::wgrad_input)].random_hadamard = false;
  double largest_ratio = 0, wgrad_error = 0;
  (void)check_linear_layer(r, largest_ratio, wgrad_error);
  CHECK(wgrad_error > 0.5);
}

TEST_CASE("Block recipes: dequantize then the FP32 reference GEMM equals the block-scaled GEMM bit for bit",
          "[block_recipes]") {
  // The Fashion-MNIST demo's emulation: each product of two dequantized
  // values is exact in float and is the product the block-scaled GEMM forms;
  // the FP32 sums in K order and the final alpha then agree bit for bit.
  const linear_layer_data t;
  for (const block_scaling_recipe& recipe :
       {mixprec::mxfp8_block_scaling(), mixprec::mxfp4_block_scaling(), mixprec::nvfp4_block_scaling()}) {
    INFO(recipe.name);
    const bool nvfp4 = recipe.operand(linear_operand::wgrad_gradient).quantizer == block_quantizer::nvfp4;
    // The wgrad GEMM: both operands column-wise (with the RHT under nvfp4).
    const quantized a = quantize_operand(t.dy, t.batch, t.out, recipe, linear_operand::wgrad_gradient);
    const quantized b = quantize_operand(t.x, t.batch, t.in, recipe, linear_operand::wgrad_input);
    mixprec::gemm::block_scaled_problem p;
    p.m = a.lines;
    p.n = b.lines;
    p.k = a.length;
    p.scaling = nvfp4 ? mixprec::gemm::block_scaling::nvfp4_vec16_ue4m3 : mixprec::gemm::block_scaling::mx_vec32_ue8m0;
    p.a = a.view();
    p.b = b.view();
    std::vector<float> block_result(static_cast<std::size_t>(p.m * p.n));
    p.d.type = mixprec::gemm::element_type::float32;
    p.d.data = block_result.data();
    p.d.ld = p.n;
    p.alpha = nvfp4 ? mixprec::gemm::nvfp4_alpha(a.tensor_scale, b.tensor_scale) : 1.0f;
    mixprec::reference::block_scaled_gemm(p);

    // Dequantized: element · block scale (NVFP4 without 1 / S, which goes
    // into the GEMM's per-tensor scale), decoded here from the codes.
    const auto dequantized = [&](const quantized& q) {
      std::vector<float> v(q.codes.size());
      const std::int64_t block = nvfp4 ? 16 : 32, blocks = (q.length + block - 1) / block;
      for (std::int64_t l = 0; l < q.lines; ++l)
        for (std::int64_t k = 0; k < q.length; ++k) {
          const std::uint8_t code = q.codes[static_cast<std::size_t>(l * q.length + k)];
          const std::uint8_t scale = q.scales[static_cast<std::size_t>(l * blocks + k / block)];
          const double element =
              q.type == block_element::float8_e4m3 ? static_cast<double>(mixprec::float8_e4m3::from_bits(code))
                                                   : static_cast<double>(mixprec::float4_e2m1::from_bits(code));
          const double factor = nvfp4 ? static_cast<double>(mixprec::float8_e4m3::from_bits(scale))
                                      : static_cast<double>(mixprec::float8_e8m0::from_bits(scale));
          v[static_cast<std::size_t>(l * q.length + k)] = static_cast<float>(element * factor);  // exact
        }
      return v;
    };
    const std::vector<float> a_values = dequantized(a), b_values = dequantized(b);
    mixprec::gemm::problem g = mixprec::gemm::make_problem(p.m, p.n, p.k, mixprec::gemm::element_type::float32,
                                                           mixprec::gemm::element_type::float32,
                                                           mixprec::gemm::element_type::float32);
    const float a_scale = p.alpha;  // the per-tensor factor of the finished sum
    g.a.data = a_values.data();
    g.a.scale = &a_scale;
    g.b.data = b_values.data();
    std::vector<float> emulated(block_result.size());
    g.d.data = emulated.data();
    mixprec::reference::scaled_gemm(g);
    std::int64_t differing = 0;
    for (std::size_t i = 0; i < emulated.size(); ++i)
      differing += std::memcmp(&emulated[i], &block_result[i], sizeof(float)) == 0 ? 0 : 1;
    CHECK(differing == 0);
  }
}

}  // namespace

TEST_CASE("mx_options_for and nvfp4_options_for name a quantizer that is no enumerator by its value",
          "[block_recipes]") {
  block_operand_recipe r = mixprec::mxfp8_block_scaling().operand(linear_operand::forward_input);
  r.quantizer = static_cast<block_quantizer>(7);
  MIXPREC_REQUIRE_ERROR(mixprec::mx_options_for(r), "the operand's quantizer is no block_quantizer enumerator (7)");
  MIXPREC_REQUIRE_ERROR(mixprec::nvfp4_options_for(r), "no block_quantizer enumerator (7)");
}
