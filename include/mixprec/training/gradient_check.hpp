/// \file
/// check_gradients: the host counterpart of the device unscale kernel —
/// whether any scaled gradient · inverse_scale is inf or NaN, and their
/// squared global norm — which basic_optimizer::step(gradients, scaler) and
/// clipping use (mixprec/training/optimizer.hpp includes this header), and
/// the gradient-view check every optimizer step applies first.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "mixprec/core/error.hpp"
#include "mixprec/core/exact_float.hpp"
#include "mixprec/training/detail/buffer_overlap.hpp"
#include "mixprec/training/tensor_view.hpp"
#include "mixprec/training/update_rules.hpp"
#include "mixprec/types.hpp"
#include "mixprec/types/scalar_type.hpp"

namespace mixprec {

/// The result of checking (and measuring) a set of scaled gradients.
struct gradient_check {
  bool found_inf = false;      ///< some gradient · inverse_scale is inf or NaN
  double squared_norm = 0.0;   ///< sum of (gradient · inverse_scale)², accumulated in double
};

namespace detail {

template <class Element>
inline float widen(Element x) noexcept {
  return static_cast<float>(x);
}
/// Rejects a gradient view of an unsupported type, or with elements but no data.
inline void check_gradient_view(const const_tensor_view& g, std::size_t index, const char* who) {
  require(g.type == scalar_type::float32 || g.type == scalar_type::bfloat16 || g.type == scalar_type::float16, who,
          "gradient ", index, " is ", to_string(g.type), " (scalar_type ", static_cast<int>(g.type),
          "); gradients are float32, bfloat16 or float16");
  require(g.data != nullptr || g.size == 0, who, "gradient ", index, " has size ", g.size, " but no data");
  // A size whose bytes pass the end of memory would be read out of bounds.
  (void)span_of(g.data, g.size, size_of(g.type), "gradient", index, who);
}

}  // namespace detail

/// Host counterpart of the device unscale kernel: found_inf and the squared
/// global norm of gradient · inverse_scale (each product rounded in FP32, as
/// the optimizer's effective gradient), without modifying the gradients.
/// Empty gradients contribute nothing. All gradients are host memory.
/// \throws mixprec::error for a bad view (a type other than float32,
/// bfloat16 or float16, null data with size > 0, or a size whose bytes reach
/// beyond the address space) or an inverse_scale that is not finite and > 0.
inline gradient_check check_gradients(const std::vector<const_tensor_view>& gradients, float inverse_scale = 1.0f) {
  require(mixprec::detail::is_finite_positive(inverse_scale),
          "mixprec::check_gradients: inverse_scale = ", inverse_scale, " must be finite and > 0 (1 / the loss scale)");
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    detail::check_gradient_view(gradients[t], t, "mixprec::check_gradients: ");
  }
  // The hardware arithmetic where MXCSR is in its default state (checked
  // once); else the same roundings to nearest in integer code: DAZ, FTZ and
  // fesetround change neither found_inf (toward zero, an overflowing product
  // would give FLT_MAX, not inf) nor the norm.
  const bool default_environment = mixprec::detail::default_float_environment();
  const auto add = [default_environment](double a, double b) {
    return default_environment ? a + b : mixprec::detail::add_nearest(a, b);
  };
  gradient_check result;
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    visit_scalar_type(gradients[t].type, [&](auto zero) {
      using G = decltype(zero);
      const G* g = static_cast<const G*>(gradients[t].data);
      double sum = 0.0;
      bool bad = false;
      for (std::size_t i = 0; i < gradients[t].size; ++i) {
        const float unscaled = detail::widen(g[i]);
        const float x = default_environment ? detail::mul_rn(unscaled, inverse_scale)
                                            : mixprec::detail::multiply_nearest(unscaled, inverse_scale);
        bad |= !std::isfinite(x);
        const double magnitude = default_environment ? static_cast<double>(x) : mixprec::detail::widen_exactly(x);
        sum = add(sum, magnitude * magnitude);  // the square is exact in double
      }
      result.found_inf |= bad;
      result.squared_norm = add(result.squared_norm, sum);
    });
  }
  return result;
}

}  // namespace mixprec
