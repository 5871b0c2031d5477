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
          "gradient ", index, " is ", to_string(g.type), "; gradients are float32, bfloat16 or float16");
  require(g.data != nullptr || g.size == 0, who, "gradient ", index, " has size ", g.size, " but no data");
}

}  // namespace detail

/// Host counterpart of the device unscale kernel: found_inf and the squared
/// global norm of gradient · inverse_scale (each product rounded in FP32, as
/// the optimizer's effective gradient), without modifying the gradients.
/// Empty gradients contribute nothing. All gradients are host memory.
/// \throws mixprec::error for a bad view (a type other than float32,
/// bfloat16 or float16, or null data with size > 0) or an inverse_scale that
/// is not finite and > 0.
inline gradient_check check_gradients(const std::vector<const_tensor_view>& gradients, float inverse_scale = 1.0f) {
  require(std::isfinite(inverse_scale) && inverse_scale > 0.0f, "mixprec::check_gradients: inverse_scale = ",
          inverse_scale, " must be finite and > 0 (1 / the loss scale)");
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    detail::check_gradient_view(gradients[t], t, "mixprec::check_gradients: ");
  }
  gradient_check result;
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    visit_scalar_type(gradients[t].type, [&](auto zero) {
      using G = decltype(zero);
      const G* g = static_cast<const G*>(gradients[t].data);
      double sum = 0.0;
      bool bad = false;
      for (std::size_t i = 0; i < gradients[t].size; ++i) {
        const float x = detail::mul_rn(detail::widen(g[i]), inverse_scale);
        bad |= !std::isfinite(x);
        sum += static_cast<double>(x) * static_cast<double>(x);
      }
      result.found_inf |= bad;
      result.squared_norm += sum;
    });
  }
  return result;
}

}  // namespace mixprec
