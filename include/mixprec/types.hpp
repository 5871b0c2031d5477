// mixprec/types.hpp — the value types: float16, bfloat16, float8_e4m3,
// float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0, float6_e2m3,
// float6_e3m2, float4_e2m1 (and the packed pair float4_e2m1x2), with convert<T>() and the
// numeric-type operations. Host-only or CUDA; no CUDA header needed.
#pragma once

#include "mixprec/types/basic_float.hpp"
#include "mixprec/types/convert.hpp"
#include "mixprec/types/float4_e2m1x2.hpp"
#include "mixprec/types/operations.hpp"
