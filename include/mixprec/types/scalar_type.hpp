// mixprec/types/scalar_type.hpp — the run-time name of an element type.
//
// Buffers whose format is chosen at run time (a GEMM operand, a gradient, a
// model copy) carry a scalar_type beside their pointer. It is defined once,
// here, below every layer that needs it: the GEMM description calls it
// gemm::element_type, the training utilities use it as is, so a gradient
// produced by a GEMM is passed to an optimizer without translating its type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>

#include "mixprec/core/error.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec {

// The enumerators are named after the value types on purpose. GCC's -Wshadow
// reports each one as shadowing the type of the same name, although a scoped
// enumerator is only reachable as scalar_type::X and hides nothing; the
// warning is silenced for this declaration alone (clang does not raise it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
/// The run-time name of an element type: `float32` is plain float, the others
/// are mixprec's value types of the same name (scalar_type_of maps a C++ type
/// to it, visit_scalar_type back).
enum class scalar_type : std::uint8_t { float32, bfloat16, float16, float8_e4m3, float8_e5m2 };
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// True for the 8-bit float types.
constexpr bool is_fp8(scalar_type type) noexcept {
  return type == scalar_type::float8_e4m3 || type == scalar_type::float8_e5m2;
}

/// Bytes per element of `type`; 0 for a value outside the enumeration.
constexpr std::size_t size_of(scalar_type type) noexcept {
  switch (type) {
    case scalar_type::float32: return 4;
    case scalar_type::bfloat16:
    case scalar_type::float16: return 2;
    case scalar_type::float8_e4m3:
    case scalar_type::float8_e5m2: return 1;
  }
  return 0;
}

/// The type's name as in C++ ("float32", "bfloat16", ...); "unknown scalar_type" for a value outside the enumeration.
constexpr const char* to_string(scalar_type type) noexcept {
  switch (type) {
    case scalar_type::float32: return "float32";
    case scalar_type::bfloat16: return "bfloat16";
    case scalar_type::float16: return "float16";
    case scalar_type::float8_e4m3: return "float8_e4m3";
    case scalar_type::float8_e5m2: return "float8_e5m2";
  }
  return "unknown scalar_type";
}

/// Writes to_string(type).
inline std::ostream& operator<<(std::ostream& out, scalar_type type) { return out << to_string(type); }

/// The scalar_type of a C++ element type: float, or a mixprec value type.
template <class T>
struct scalar_type_of;
template <>
struct scalar_type_of<float> : std::integral_constant<scalar_type, scalar_type::float32> {};
template <>
struct scalar_type_of<bfloat16> : std::integral_constant<scalar_type, scalar_type::bfloat16> {};
template <>
struct scalar_type_of<float16> : std::integral_constant<scalar_type, scalar_type::float16> {};
template <>
struct scalar_type_of<float8_e4m3> : std::integral_constant<scalar_type, scalar_type::float8_e4m3> {};
template <>
struct scalar_type_of<float8_e5m2> : std::integral_constant<scalar_type, scalar_type::float8_e5m2> {};

/// Calls visit(T{}) with the C++ type of `type` (float, bfloat16, ...), so
/// run-time types reach templated code through one switch.
template <class Visitor>
decltype(auto) visit_scalar_type(scalar_type type, Visitor&& visit) {
  switch (type) {
    case scalar_type::float32: return visit(float{});
    case scalar_type::bfloat16: return visit(bfloat16{});
    case scalar_type::float16: return visit(float16{});
    case scalar_type::float8_e4m3: return visit(float8_e4m3{});
    case scalar_type::float8_e5m2: return visit(float8_e5m2{});
  }
  throw error(detail::make_message("mixprec: scalar_type ", static_cast<int>(type), " is not a valid scalar_type"));
}

}  // namespace mixprec
