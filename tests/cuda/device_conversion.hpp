// tests/cuda/device_conversion.hpp — host entry points of the kernels in
// device_conversion.cu: the engine run on the GPU over ranges of float inputs
// (x = bit pattern `first + i`) and over every code of a format.
#pragma once

#include <cstdint>

#include "mixprec/core/rounding.hpp"
#include "mixprec/types/basic_float.hpp"

namespace mixprec_test {

enum class format_id { float16, bfloat16, float8_e4m3, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz };
inline constexpr format_id all_formats[] = {format_id::float16,     format_id::bfloat16,
                                            format_id::float8_e4m3, format_id::float8_e5m2,
                                            format_id::float8_e4m3fnuz, format_id::float8_e5m2fnuz};

inline const char* name_of(format_id format) {
  switch (format) {
    case format_id::float16: return "float16";
    case format_id::bfloat16: return "bfloat16";
    case format_id::float8_e4m3: return "float8_e4m3";
    case format_id::float8_e5m2: return "float8_e5m2";
    case format_id::float8_e4m3fnuz: return "float8_e4m3fnuz";
    case format_id::float8_e5m2fnuz: return "float8_e5m2fnuz";
  }
  return "?";
}

// Calls visit(T{}) with the mixprec type of `format`.
template <class Visitor>
void with_type(format_id format, Visitor visit) {
  switch (format) {
    case format_id::float16: return visit(mixprec::float16{});
    case format_id::bfloat16: return visit(mixprec::bfloat16{});
    case format_id::float8_e4m3: return visit(mixprec::float8_e4m3{});
    case format_id::float8_e5m2: return visit(mixprec::float8_e5m2{});
    case format_id::float8_e4m3fnuz: return visit(mixprec::float8_e4m3fnuz{});
    case format_id::float8_e5m2fnuz: return visit(mixprec::float8_e5m2fnuz{});
  }
}

// Converts the floats with bit patterns first .. first + count - 1 on the
// device; writes the result codes (each of the format's storage size: 1 or 2
// bytes) to host_codes.
void encode_range_on_device(format_id format, mixprec::rounding mode, mixprec::saturation policy,
                            std::uint32_t first, std::uint32_t count, void* host_codes);
// Stochastic: element i uses stochastic_rounding_bits(seed, 0, first + i).
void encode_stochastic_range_on_device(format_id format, mixprec::saturation policy, std::uint64_t seed,
                                       std::uint32_t first, std::uint32_t count, void* host_codes);
// Decodes every code of the format (256 or 65536) on the device to float bits.
void decode_all_codes_on_device(format_id format, std::uint32_t* host_float_bits);

}  // namespace mixprec_test
