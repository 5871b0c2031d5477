// examples/fashion_mnist/recipes.hpp — the precision recipes of the demo.
//
// A recipe says, for the three GEMMs of every linear layer (forward, dgrad,
// wgrad; mixprec/gemm/problem.hpp maps them onto one GEMM shape), which
// format each operand is cast to and how its scale is chosen, in which
// format the weight gradient is stored, and whether the loss is scaled.
// Everything else — model, data order, initialisation, optimizer, schedule —
// is identical across recipes, so differences in the results come from the
// numerics alone.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mixprec/cast/rules.hpp"
#include "mixprec/core/error.hpp"
#include "mixprec/gemm/problem.hpp"
#include "mixprec/scaling/block_recipes.hpp"
#include "mixprec/types.hpp"

namespace fashion_mnist {

using mixprec::gemm::element_type;
using mixprec::gemm::scale_mode;

// How an operand's scale is chosen.
enum class operand_scaling {
  none,     // cast as is (FP32, BF16, FP16 operands)
  delayed,  // per tensor, from the amax history of earlier steps (TransformerEngine's DelayedScaling)
  current,  // per tensor, from this step's amax
  block,    // per 1x128 or 128x128 block, from the block's own amax (DeepSeek-V3's fine-grained FP8)
  microscaling,  // MX or NVFP4 blocks, operand by operand as recipe::blocks says (CPU path only)
};

enum class loss_scaling { none, dynamic };

struct recipe {
  std::string name;
  element_type forward_type;          // activations and weights (X, W)
  element_type gradient_type;         // output gradients (dY)
  element_type weight_gradient_type;  // wgrad's output: the gradient the optimizer reads
  operand_scaling scaling;
  loss_scaling loss;
  std::string summary;  // one line for the table's legend
  // microscaling only: each GEMM operand's quantizer, element type, block
  // shape, scale rule and rounding (mixprec/scaling/block_recipes.hpp); the
  // element types above then only name the formats where gemm::element_type
  // has them (FP4 recipes say float32 there and use none of the three).
  std::optional<mixprec::block_scaling_recipe> blocks = std::nullopt;
};

inline const std::vector<recipe>& all_recipes() {
  static const std::vector<recipe> recipes = {
      {"fp32", element_type::float32, element_type::float32, element_type::float32, operand_scaling::none,
       loss_scaling::none, "FP32 everywhere: the baseline"},
      {"bf16", element_type::bfloat16, element_type::bfloat16, element_type::bfloat16, operand_scaling::none,
       loss_scaling::none, "BF16 operands and weight gradients, FP32 accumulation and master weights, no loss scaling"},
      {"fp16", element_type::float16, element_type::float16, element_type::float16, operand_scaling::none,
       loss_scaling::dynamic, "FP16 operands and weight gradients, dynamic loss scaling (GradScaler defaults)"},
      {"fp16-noscale", element_type::float16, element_type::float16, element_type::float16, operand_scaling::none,
       loss_scaling::none, "as fp16 without loss scaling: small gradients flush to zero"},
      {"fp8", element_type::float8_e4m3, element_type::float8_e5m2, element_type::float32, operand_scaling::delayed,
       loss_scaling::none, "E4M3 X and W, E5M2 dY, per-tensor delayed scaling (amax history 1024), dW in FP32"},
      {"fp8-current", element_type::float8_e4m3, element_type::float8_e5m2, element_type::float32,
       operand_scaling::current, loss_scaling::none, "as fp8, with current (just-in-time) per-tensor scaling"},
      {"fp8-block", element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
       operand_scaling::block, loss_scaling::none,
       "E4M3 everywhere, a scale per 1x128 block (X, dY) and 128x128 block (W), dW in FP32"},
      {"mxfp8", element_type::float8_e4m3, element_type::float8_e4m3, element_type::float32,
       operand_scaling::microscaling, loss_scaling::none,
       "MXFP8: E4M3 everywhere, an E8M0 scale per 1x32 block along K (rceil rule), dW in FP32",
       mixprec::mxfp8_block_scaling()},
      {"mxfp4", element_type::float32, element_type::float32, element_type::float32,
       operand_scaling::microscaling, loss_scaling::none,
       "MXFP4: E2M1 everywhere, an E8M0 scale per 1x32 block along K (OCP floor rule), nearest even, dW in FP32",
       mixprec::mxfp4_block_scaling()},
      {"nvfp4", element_type::float32, element_type::float32, element_type::float32,
       operand_scaling::microscaling, loss_scaling::none,
       "NVFP4 (TE's recipe): E2M1, E4M3 scale per 16x16 (W) / 1x16 (X, dY) block and FP32 tensor scale, SR on dY, "
       "RHT on the wgrad operands, dW in FP32",
       mixprec::nvfp4_block_scaling()},
  };
  return recipes;
}

inline const recipe& find_recipe(const std::string& name) {
  for (const recipe& r : all_recipes())
    if (r.name == name) return r;
  std::string known;
  for (const recipe& r : all_recipes()) known += (known.empty() ? "" : ", ") + r.name;
  throw mixprec::error(mixprec::detail::make_message("unknown recipe '", name, "'; the recipes are: ", known));
}

// "fp32,bf16,fp8" -> the recipes, in the order given.
inline std::vector<recipe> parse_recipes(const std::string& list) {
  std::vector<recipe> result;
  std::string::size_type start = 0;
  while (start <= list.size()) {
    const std::string::size_type comma = list.find(',', start);
    const std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) {
      const recipe& r = find_recipe(name);
      for (const recipe& seen : result)
        mixprec::require(seen.name != r.name, "recipe '", name, "' is listed twice in --recipes ", list);
      result.push_back(r);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  mixprec::require(!result.empty(), "--recipes '", list, "' names no recipe");
  return result;
}

// Whether the recipe runs on `device` ("cpu" or "cuda"): the microscaling
// recipes run on the CPU reference only (their GEMM needs Blackwell).
inline bool runs_on(const recipe& r, const std::string& device) {
  return device == "cpu" || r.scaling != operand_scaling::microscaling;
}

// The recipes --recipes defaults to on `device`: all that run there.
inline std::vector<recipe> default_recipes(const std::string& device) {
  std::vector<recipe> result;
  for (const recipe& r : all_recipes())
    if (runs_on(r, device)) result.push_back(r);
  return result;
}

// Rejects a recipe list that names a recipe `device` cannot run.
inline void require_runnable(const std::vector<recipe>& recipes, const std::string& device) {
  for (const recipe& r : recipes)
    mixprec::require(runs_on(r, device), "recipe '", r.name, "' runs on the CPU reference only (--device cpu): ",
                     "its block-scaled GEMMs need an sm_100 (Blackwell) GPU; drop it from --recipes for --device ",
                     device);
}

// Rejects a batch that recipe r cannot train with: the random Hadamard
// transform runs along the batch (the wgrad GEMM's K) in blocks of 16.
inline void require_batch_fits(const recipe& r, std::size_t batch) {
  if (!r.blocks) return;
  for (const mixprec::block_operand_recipe& operand : r.blocks->operands)
    mixprec::require(!operand.random_hadamard || batch % mixprec::hadamard_size == 0, "recipe ", r.name,
                     " applies the 16-point random Hadamard transform along the batch (the wgrad GEMM's K), so "
                     "--batch must be a multiple of 16, but it is ", batch);
}

// The short name of a block element type, for tables.
inline const char* short_name(mixprec::gemm::block_element element) {
  using mixprec::gemm::block_element;
  switch (element) {
    case block_element::float8_e4m3: return "E4M3";
    case block_element::float8_e5m2: return "E5M2";
    case block_element::float6_e2m3: return "E2M3";
    case block_element::float6_e3m2: return "E3M2";
    case block_element::float4_e2m1: return "E2M1";
  }
  return "?";
}

// The short name of a format, for tables.
inline const char* short_name(element_type type) {
  switch (type) {
    case element_type::float32: return "FP32";
    case element_type::bfloat16: return "BF16";
    case element_type::float16: return "FP16";
    case element_type::float8_e4m3: return "E4M3";
    case element_type::float8_e5m2: return "E5M2";
  }
  return "?";
}

// The name of the format the recipe casts dY to, for tables.
inline std::string gradient_format_name(const recipe& r) {
  if (r.blocks) return short_name(r.blocks->operand(mixprec::linear_operand::dgrad_gradient).element);
  return short_name(r.gradient_type);
}

// Calls f(T{}) with the C++ type of an element type (float or a mixprec
// type): the library's one switch over run-time types.
template <class F>
decltype(auto) with_type(element_type type, F&& f) {
  return mixprec::visit_scalar_type(type, std::forward<F>(f));
}

// How a cast rounds, on either device: nearest even; FP8 saturates
// (satfinite, as the cast kernels and cuBLASLt do), BF16/FP16 overflow to
// inf, so that a loss-scaled gradient that overflows reaches the loss
// scaler's inf check.
inline mixprec::quantize_options cast_options(element_type type) {
  mixprec::quantize_options o;
  o.policy = mixprec::gemm::is_fp8(type) ? mixprec::saturation::finite : mixprec::saturation::none;
  return o;
}

}  // namespace fashion_mnist
