// tests/support/reference_formats.hpp — connects mixprec's types to the
// independent reference (which itself includes no mixprec header).
#pragma once

#include "mixprec/types.hpp"
#include "support/independent_reference.hpp"

namespace reference {

template <class T>
struct spec_for;
template <>
struct spec_for<mixprec::float16> {
  static const format_spec& get() { return float16_spec; }
};
template <>
struct spec_for<mixprec::bfloat16> {
  static const format_spec& get() { return bfloat16_spec; }
};
template <>
struct spec_for<mixprec::float8_e4m3> {
  static const format_spec& get() { return e4m3_spec; }
};
template <>
struct spec_for<mixprec::float8_e5m2> {
  static const format_spec& get() { return e5m2_spec; }
};
template <>
struct spec_for<mixprec::float8_e4m3fnuz> {
  static const format_spec& get() { return e4m3fnuz_spec; }
};
template <>
struct spec_for<mixprec::float8_e5m2fnuz> {
  static const format_spec& get() { return e5m2fnuz_spec; }
};

template <>
struct spec_for<mixprec::float4_e2m1> {
  static const format_spec& get() { return e2m1_spec; }
};
template <>
struct spec_for<mixprec::float6_e2m3> {
  static const format_spec& get() { return e2m3_spec; }
};
template <>
struct spec_for<mixprec::float6_e3m2> {
  static const format_spec& get() { return e3m2_spec; }
};
template <>
struct spec_for<mixprec::float8_e8m0> {
  static const format_spec& get() { return e8m0_spec; }
};

template <class T>
const format_spec& spec_of() {
  return spec_for<T>::get();
}
template <class T>
const rounder& rounder_of() {
  return rounder_for(spec_for<T>::get());
}

inline mode to_reference(mixprec::rounding r) {
  switch (r) {
    case mixprec::rounding::nearest_even: return mode::nearest_even;
    case mixprec::rounding::toward_zero: return mode::toward_zero;
    case mixprec::rounding::upward: return mode::upward;
    case mixprec::rounding::downward: return mode::downward;
    case mixprec::rounding::stochastic: break;
  }
  throw std::logic_error("the reference has no deterministic equivalent of rounding::stochastic");
}
inline overflow to_reference(mixprec::saturation s) {
  return s == mixprec::saturation::finite ? overflow::finite : overflow::none;
}

// The deterministic modes and the saturation policies, for loops.
inline constexpr mixprec::rounding deterministic_modes[] = {mixprec::rounding::nearest_even, mixprec::rounding::toward_zero,
                                                           mixprec::rounding::upward, mixprec::rounding::downward};
inline constexpr mixprec::saturation saturations[] = {mixprec::saturation::finite, mixprec::saturation::none};

// Calls f(T{}) for every microscaling (OCP MX) element and scale format T.
template <class F>
void for_each_microscaling_format(F&& f) {
  f(mixprec::float4_e2m1{});
  f(mixprec::float6_e2m3{});
  f(mixprec::float6_e3m2{});
  f(mixprec::float8_e8m0{});
}

// Calls f(T{}) for every mixprec format T.
template <class F>
void for_each_format(F&& f) {
  f(mixprec::float16{});
  f(mixprec::bfloat16{});
  f(mixprec::float8_e4m3{});
  f(mixprec::float8_e5m2{});
  f(mixprec::float8_e4m3fnuz{});
  f(mixprec::float8_e5m2fnuz{});
  for_each_microscaling_format(f);
}

}  // namespace reference
