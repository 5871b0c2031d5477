/// \file
/// Block-scaling recipes: for each of the six GEMM operands of a linear layer,
/// which block quantizer, element type, block shape, scale rule and element
/// rounding it gets (TransformerEngine's MXFP8BlockScaling and
/// NVFP4BlockScaling recipes, and an MXFP4 one), beside the per-tensor FP8
/// recipes of fp8_scaling.hpp.
///
/// A linear layer Y = X · Wᵀ runs three GEMMs (mixprec/gemm/problem.hpp maps
/// them onto one shape), each reading two operands whose blocks run along that
/// GEMM's reduction dimension K:
///   forward  Y  = X · Wᵀ    forward_input  X  [batch, in]  row-wise (K = in)
///                           forward_weight W  [out, in]    row-wise (K = in)
///   dgrad    dX = dY · W    dgrad_gradient dY [batch, out] row-wise (K = out)
///                           dgrad_weight   Wᵀ: W column-wise (K = out)
///   wgrad    dW = dYᵀ · X   wgrad_gradient dYᵀ: dY column-wise (K = batch)
///                           wgrad_input    Xᵀ: X column-wise (K = batch)
/// Every operand is quantized from the high-precision tensor in its own
/// orientation (as TransformerEngine does: quantizing a quantized copy again
/// would round twice), with reference::quantize_mx or reference::quantize_nvfp4
/// and the options mx_options_for / nvfp4_options_for build from the recipe.
///
/// The recipes:
///  - mxfp8_block_scaling: OCP MX, 1x32 blocks, E8M0 scales by NVIDIA's rceil
///    rule (TransformerEngine's MXFP8 cast: amax / max rounded up to a power of
///    two, so nothing clamps), nearest-even elements; E4M3 everywhere by
///    default. E5M2 gradients are an option (TE's Format.HYBRID), but
///    TransformerEngine's MXFP8BlockScaling defaults to E4M3 everywhere
///    because MXFP8 training with E5M2 gradients has been reported to diverge
///    (NVIDIA, "Recipes for pre-training LLMs with MXFP8", 2025): the per-block
///    scale already gives the range that E5M2's extra exponent bit would.
///  - mxfp4_block_scaling: OCP MX with E2M1 everywhere, 1x32 blocks, OCP's
///    floor scale rule by default (the spec's, and torchao's default), nearest
///    even (no stochastic rounding, no transform: the plain MXFP4 baseline).
///  - nvfp4_block_scaling (TransformerEngine's NVFP4BlockScaling): E2M1
///    elements with E4M3 block scales and an FP32 tensor scale; 16x16 blocks
///    for the weight (both orientations then hold the same values, so the
///    dgrad operand Wᵀ is the exact transpose of the forward one), 1x16 blocks
///    for activations and gradients; stochastic rounding on the gradient
///    operands (dY in dgrad and wgrad); the 16-point random Hadamard transform
///    on both wgrad operands (along K = batch, with the same signs, so the
///    GEMM needs no inverse: (DH/4)(DH/4)ᵀ = I).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "mixprec/cast/mx_rules.hpp"
#include "mixprec/cast/nvfp4_rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/core/rounding.hpp"
#include "mixprec/gemm/block_scaled.hpp"
#include "mixprec/reference/mx_quantize.hpp"
#include "mixprec/reference/nvfp4_quantize.hpp"

namespace mixprec {

/// The block quantizer of an operand.
enum class block_quantizer {
  /// OCP Microscaling: one E8M0 scale per 32 elements (reference::quantize_mx).
  mx,
  /// NVFP4: E2M1, one E4M3 scale per 16 elements (or 16x16 tile) and an FP32
  /// tensor scale (reference::quantize_nvfp4).
  nvfp4,
};

/// The six GEMM operands of a linear layer Y = X · Wᵀ (see
/// mixprec/scaling/block_recipes.hpp for their shapes and orientations).
enum class linear_operand {
  forward_input,   ///< X, row-wise: the forward GEMM's A
  forward_weight,  ///< W, row-wise: the forward GEMM's B
  dgrad_gradient,  ///< dY, row-wise: the dgrad GEMM's A
  dgrad_weight,    ///< Wᵀ, W quantized column-wise: the dgrad GEMM's B
  wgrad_gradient,  ///< dYᵀ, dY quantized column-wise: the wgrad GEMM's A
  wgrad_input,     ///< Xᵀ, X quantized column-wise: the wgrad GEMM's B
};

/// The number of linear_operand enumerators.
constexpr std::size_t linear_operand_count = 6;

/// Whether `operand` is one of linear_operand's enumerators.
constexpr bool is_valid(linear_operand operand) noexcept {
  return static_cast<unsigned>(operand) < linear_operand_count;
}

/// The name of `operand` ("forward_input", ...; "invalid" for no enumerator).
constexpr const char* to_string(linear_operand operand) noexcept {
  switch (operand) {
    case linear_operand::forward_input: return "forward_input";
    case linear_operand::forward_weight: return "forward_weight";
    case linear_operand::dgrad_gradient: return "dgrad_gradient";
    case linear_operand::dgrad_weight: return "dgrad_weight";
    case linear_operand::wgrad_gradient: return "wgrad_gradient";
    case linear_operand::wgrad_input: return "wgrad_input";
  }
  return "invalid";
}

/// Which way an operand's blocks run through its source tensor: row-wise
/// (forward_input, forward_weight, dgrad_gradient: K is the tensor's column
/// dimension) or column-wise (dgrad_weight, wgrad_gradient, wgrad_input: the
/// quantized operand is the transpose).
constexpr mx_orientation orientation_of(linear_operand operand) noexcept {
  return operand == linear_operand::forward_input || operand == linear_operand::forward_weight ||
                 operand == linear_operand::dgrad_gradient
             ? mx_orientation::rowwise
             : mx_orientation::columnwise;
}

/// How one GEMM operand is quantized.
struct block_operand_recipe {
  /// MX or NVFP4.
  block_quantizer quantizer = block_quantizer::mx;
  /// The element type (MX: any; NVFP4: float4_e2m1 only).
  gemm::block_element element = gemm::block_element::float8_e4m3;
  /// Lines of the quantized operand that share a scale: 1 (1xN blocks), or 16
  /// for NVFP4's 16x16 weight tiles.
  std::int64_t block_lines = 1;
  /// Consecutive elements along K that share a scale: 32 for MX, 16 for NVFP4.
  std::int64_t block_length = static_cast<std::int64_t>(mx_block_size);
  /// MX only: how the E8M0 scale follows from the block's amax.
  mx_scale_rule scale_rule = mx_scale_rule::rceil;
  /// The element rounding (stochastic draws from the seed and offset the
  /// caller passes to mx_options_for / nvfp4_options_for).
  rounding mode = rounding::nearest_even;
  /// NVFP4 only: the 16-point random Hadamard transform along K first.
  bool random_hadamard = false;
};

/// A block-scaling recipe: the quantization of each of the six operands.
struct block_scaling_recipe {
  /// "mxfp8", "mxfp4" or "nvfp4" for the recipes below.
  const char* name = "";
  /// Indexed by linear_operand.
  block_operand_recipe operands[linear_operand_count] = {};

  /// The recipe of `which`.
  /// @throws mixprec::error when `which` is no linear_operand enumerator.
  const block_operand_recipe& operand(linear_operand which) const {
    require(is_valid(which), "mixprec::block_scaling_recipe::operand: linear_operand ", static_cast<int>(which),
            " is not an enumerator; pass forward_input, forward_weight, dgrad_gradient, dgrad_weight, "
            "wgrad_gradient or wgrad_input");
    return operands[static_cast<std::size_t>(which)];
  }
};

/// Options of mxfp8_block_scaling.
struct mxfp8_recipe_options {
  /// The element type of the gradient operands (dgrad_gradient,
  /// wgrad_gradient): float8_e4m3 (default, TransformerEngine's) or
  /// float8_e5m2 (reported to diverge under MXFP8).
  gemm::block_element gradient_element = gemm::block_element::float8_e4m3;
  /// The scale rule of every operand: rceil (TransformerEngine's, default) or
  /// OCP's floor.
  mx_scale_rule scale_rule = mx_scale_rule::rceil;
};

namespace detail {

inline bool is_gradient_operand(linear_operand operand) noexcept {
  return operand == linear_operand::dgrad_gradient || operand == linear_operand::wgrad_gradient;
}

inline bool is_weight_operand(linear_operand operand) noexcept {
  return operand == linear_operand::forward_weight || operand == linear_operand::dgrad_weight;
}

inline bool is_wgrad_operand(linear_operand operand) noexcept {
  return operand == linear_operand::wgrad_gradient || operand == linear_operand::wgrad_input;
}

// An MX recipe: `element` everywhere but the gradients, 1x32 blocks, `rule`,
// nearest even.
inline block_scaling_recipe mx_recipe(const char* name, gemm::block_element element,
                                      gemm::block_element gradient_element, mx_scale_rule rule) {
  block_scaling_recipe r;
  r.name = name;
  for (std::size_t i = 0; i < linear_operand_count; ++i) {
    block_operand_recipe& o = r.operands[i];
    o.quantizer = block_quantizer::mx;
    o.element = is_gradient_operand(static_cast<linear_operand>(i)) ? gradient_element : element;
    o.block_lines = 1;
    o.block_length = static_cast<std::int64_t>(mx_block_size);
    o.scale_rule = rule;
    o.mode = rounding::nearest_even;
    o.random_hadamard = false;
  }
  return r;
}

}  // namespace detail

/// The MXFP8 recipe (TransformerEngine's MXFP8BlockScaling): every operand
/// MX with 1x32 blocks and o.scale_rule, E4M3 elements, the gradients in
/// o.gradient_element, nearest even.
/// @throws mixprec::error when o.gradient_element is not float8_e4m3 or
///         float8_e5m2, or o.scale_rule is no enumerator.
inline block_scaling_recipe mxfp8_block_scaling(const mxfp8_recipe_options& o = {}) {
  require(o.gradient_element == gemm::block_element::float8_e4m3 ||
              o.gradient_element == gemm::block_element::float8_e5m2,
          "mixprec::mxfp8_block_scaling: gradient_element = ", static_cast<int>(o.gradient_element),
          " is not an FP8 element; MXFP8 gradients are float8_e4m3 (the default) or float8_e5m2");
  require(is_valid(o.scale_rule), "mixprec::mxfp8_block_scaling: scale_rule = ", static_cast<int>(o.scale_rule),
          " is not a mixprec::mx_scale_rule enumerator; pass rceil or floor");
  return detail::mx_recipe("mxfp8", gemm::block_element::float8_e4m3, o.gradient_element, o.scale_rule);
}

/// The MXFP4 recipe: every operand MX E2M1 with 1x32 blocks, `rule` (OCP's
/// floor by default), nearest even.
/// @throws mixprec::error when `rule` is no enumerator.
inline block_scaling_recipe mxfp4_block_scaling(mx_scale_rule rule = mx_scale_rule::floor) {
  require(is_valid(rule), "mixprec::mxfp4_block_scaling: rule = ", static_cast<int>(rule),
          " is not a mixprec::mx_scale_rule enumerator; pass floor or rceil");
  return detail::mx_recipe("mxfp4", gemm::block_element::float4_e2m1, gemm::block_element::float4_e2m1, rule);
}

/// Options of nvfp4_block_scaling; the defaults are TransformerEngine's
/// NVFP4BlockScaling recipe.
struct nvfp4_recipe_options {
  /// 16x16 blocks for both weight operands (else 1x16).
  bool two_dimensional_weights = true;
  /// Stochastic rounding on both gradient operands (else nearest even).
  bool stochastic_gradients = true;
  /// The random Hadamard transform on both wgrad operands.
  bool random_hadamard_wgrad = true;
};

/// The NVFP4 recipe: E2M1 elements, E4M3 scales per 16 elements along K
/// (16x16 tiles for the weights), an FP32 tensor scale, stochastic rounding
/// on the gradients and the RHT on the wgrad operands, each as `o` says.
inline block_scaling_recipe nvfp4_block_scaling(const nvfp4_recipe_options& o = {}) {
  block_scaling_recipe r;
  r.name = "nvfp4";
  for (std::size_t i = 0; i < linear_operand_count; ++i) {
    const auto which = static_cast<linear_operand>(i);
    block_operand_recipe& operand = r.operands[i];
    operand.quantizer = block_quantizer::nvfp4;
    operand.element = gemm::block_element::float4_e2m1;
    operand.block_length = static_cast<std::int64_t>(nvfp4_block_size);
    operand.block_lines =
        o.two_dimensional_weights && detail::is_weight_operand(which) ? static_cast<std::int64_t>(nvfp4_block_size) : 1;
    operand.mode = o.stochastic_gradients && detail::is_gradient_operand(which) ? rounding::stochastic
                                                                                : rounding::nearest_even;
    operand.random_hadamard = o.random_hadamard_wgrad && detail::is_wgrad_operand(which);
  }
  return r;
}

namespace detail {

// The checks mx_options_for and nvfp4_options_for share.
inline void validate_block_operand(const block_operand_recipe& r, block_quantizer expected, const char* who) {
  require(r.quantizer == expected, who, ": the operand's quantizer is ",
          r.quantizer == block_quantizer::mx ? "mx"
          : r.quantizer == block_quantizer::nvfp4
              ? "nvfp4"
              : "no block_quantizer enumerator (" + std::to_string(static_cast<int>(r.quantizer)) + ")",
          "; call ", r.quantizer == block_quantizer::nvfp4 ? "nvfp4_options_for" : "mx_options_for",
          " for it (or fix the recipe)");
  require(is_valid(r.mode), who, ": mode = ", static_cast<int>(r.mode), " is not a mixprec::rounding enumerator");
  if (expected == block_quantizer::mx) {
    require(gemm::is_valid(r.element), who, ": element = ", static_cast<int>(r.element),
            " is not a gemm::block_element enumerator");
    require(r.block_lines == 1 && r.block_length == static_cast<std::int64_t>(mx_block_size), who,
            ": an MX block is 1x32 (OCP MX v1.0 §5), but the recipe says ", r.block_lines, "x", r.block_length);
    require(is_valid(r.scale_rule), who, ": scale_rule = ", static_cast<int>(r.scale_rule),
            " is not a mixprec::mx_scale_rule enumerator");
    require(!r.random_hadamard, who,
            ": random_hadamard is set on an MX operand; the recipes apply the transform to NVFP4 operands only");
  } else {
    require(r.element == gemm::block_element::float4_e2m1, who, ": NVFP4 elements are float4_e2m1, but element = ",
            static_cast<int>(r.element));
    require((r.block_lines == 1 || r.block_lines == static_cast<std::int64_t>(nvfp4_block_size)) &&
                r.block_length == static_cast<std::int64_t>(nvfp4_block_size),
            who, ": an NVFP4 block is 1x16 or 16x16, but the recipe says ", r.block_lines, "x", r.block_length);
    require(!(r.random_hadamard && r.block_lines != 1), who,
            ": random_hadamard with 16x16 blocks; the transform runs along one dimension (TransformerEngine "
            "applies it to 1x16 column-wise operands only): choose one");
  }
}

}  // namespace detail

/// The reference::quantize_mx options of an MX operand: its scale rule and
/// rounding, stochastic draws from (seed, offset), compact scales.
/// @throws mixprec::error when the operand is not MX, or its element, block
///         shape (MX blocks are 1x32), rule or mode is invalid, or it asks
///         for the random Hadamard transform.
inline mx_options mx_options_for(const block_operand_recipe& r, std::uint64_t seed = 0, std::uint64_t offset = 0) {
  detail::validate_block_operand(r, block_quantizer::mx, "mixprec::mx_options_for");
  mx_options o;
  o.rule = r.scale_rule;
  o.mode = r.mode;
  o.seed = seed;
  o.offset = offset;
  return o;
}

/// The reference::quantize_nvfp4 options of an NVFP4 operand: its rounding
/// (stochastic draws from (seed, offset)), 16x16 tiles when block_lines is
/// 16, the transform with TransformerEngine's fixed signs when asked, compact
/// scales.
/// @throws mixprec::error when the operand is not NVFP4, its element is not
///         float4_e2m1, its block is neither 1x16 nor 16x16, its mode is
///         invalid, or it asks for the transform with 16x16 blocks.
inline nvfp4_options nvfp4_options_for(const block_operand_recipe& r, std::uint64_t seed = 0,
                                       std::uint64_t offset = 0) {
  detail::validate_block_operand(r, block_quantizer::nvfp4, "mixprec::nvfp4_options_for");
  nvfp4_options o;
  o.mode = r.mode;
  o.seed = seed;
  o.offset = offset;
  o.two_dimensional_blocks = r.block_lines != 1;
  o.random_hadamard = r.random_hadamard;
  o.hadamard_signs = transformer_engine_hadamard_signs;
  return o;
}

}  // namespace mixprec
