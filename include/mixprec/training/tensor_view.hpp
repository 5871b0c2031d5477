/// \file
/// The buffer views the optimizers take (mixprec/training/optimizer.hpp on
/// the host, mixprec/cuda/optimizer.hpp and mixprec/cuda/multi_tensor.hpp on
/// the device): tensor_view and const_tensor_view, n elements of one
/// scalar_type at a pointer, and model_copy, the low-precision copy a step
/// writes with its scale and amax slot. A concept of their own, shared by
/// host and device code, so they sit in their own header;
/// mixprec/training/optimizer.hpp includes it.
#pragma once

#include <cstddef>
#include <vector>

#include "mixprec/types/scalar_type.hpp"

namespace mixprec {

/// A non-owning view of n elements of one scalar type. The host optimizer
/// reads host memory through it; mixprec::cuda's gradient_set and
/// fused_optimizer take views of device memory. The viewed buffer must
/// outlive every use of the view.
struct tensor_view {
  void* data = nullptr;                     ///< the first element; null only for an empty view
  std::size_t size = 0;                     ///< number of elements (not bytes)
  scalar_type type = scalar_type::float32;  ///< the element type

  tensor_view() = default;
  /// n elements of type t at d.
  tensor_view(void* d, std::size_t n, scalar_type t) : data(d), size(n), type(t) {}
  /// n elements at d, the type deduced from T (float, bfloat16, float16, float8_e4m3, ...).
  template <class T, class = decltype(scalar_type_of<T>::value)>
  tensor_view(T* d, std::size_t n) : data(d), size(n), type(scalar_type_of<T>::value) {}
  /// All of `v` (host memory), the type deduced from T; `v` must not be resized while viewed.
  template <class T, class = decltype(scalar_type_of<T>::value)>
  tensor_view(std::vector<T>& v) : data(v.data()), size(v.size()), type(scalar_type_of<T>::value) {}  // NOLINT
};

/// A read-only tensor_view: how gradients are passed to the optimizers
/// (host memory for the host optimizer, device memory for mixprec::cuda). A
/// default-constructed (empty) view given as a gradient means "no gradient
/// this step" for that parameter.
struct const_tensor_view {
  const void* data = nullptr;               ///< the first element; null only for an empty view
  std::size_t size = 0;                     ///< number of elements (not bytes)
  scalar_type type = scalar_type::float32;  ///< the element type

  const_tensor_view() = default;
  /// n elements of type t at d.
  const_tensor_view(const void* d, std::size_t n, scalar_type t) : data(d), size(n), type(t) {}
  /// The same elements as `v`, read-only (implicit).
  const_tensor_view(const tensor_view& v) : data(v.data), size(v.size), type(v.type) {}  // NOLINT
  /// n elements at d, the type deduced from T.
  template <class T, class = decltype(scalar_type_of<T>::value)>
  const_tensor_view(const T* d, std::size_t n) : data(d), size(n), type(scalar_type_of<T>::value) {}
  /// All of `v` (host memory), the type deduced from T (implicit, so
  /// `optimizer.step({g1, g2}, ...)` accepts vectors).
  template <class T, class = decltype(scalar_type_of<T>::value)>
  const_tensor_view(const std::vector<T>& v)  // NOLINT(google-explicit-constructor)
      : data(v.data()), size(v.size()), type(scalar_type_of<T>::value) {}
};

/// Where the optimizer writes a parameter's low-precision copy after a step
/// (what the forward pass reads). For the host optimizer every pointer is host
/// memory; for mixprec::cuda::fused_optimizer every pointer is device memory.
struct model_copy {
  /// The copy: float32, bfloat16, float16, float8_e4m3 or float8_e5m2, with
  /// as many elements as the parameter. Empty: no copy (use the master
  /// weights directly).
  tensor_view target;
  /// BF16/FP16/FP8 copies store convert(w · *scale); required for FP8, ignored
  /// for FP32; null: scale 1. Read at every step (give the recipe's current
  /// scale), where it must be finite and > 0.
  const float* scale = nullptr;
  /// Optional (null: none): raised to max |w| of the updated weights at every
  /// applied step, never lowered; the caller resets it after handing it to
  /// its recipe.
  float* amax = nullptr;

  model_copy() = default;
  /// The copy `t` with scale `s` and amax output `a` (implicit from a tensor_view).
  model_copy(tensor_view t, const float* s = nullptr, float* a = nullptr) : target(t), scale(s), amax(a) {}  // NOLINT
  /// All of the host vector `v` as the copy, with scale `s` and amax output `a`.
  template <class T, class = decltype(scalar_type_of<T>::value)>
  model_copy(std::vector<T>& v, const float* s = nullptr, float* a = nullptr)  // NOLINT
      : target(v), scale(s), amax(a) {}
};

}  // namespace mixprec
