// mixprec::scalar_type — the run-time element type shared by the GEMM
// description (as gemm::element_type) and the training utilities. Checked
// against the C++ types it names: sizeof, the formats' parameters, names.
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>

#include "mixprec/gemm/problem.hpp"
#include "mixprec/training/optimizer.hpp"
#include "mixprec/types/scalar_type.hpp"
#include "support/catch.hpp"

using mixprec::scalar_type;

namespace {
const scalar_type every_type[] = {scalar_type::float32, scalar_type::bfloat16, scalar_type::float16,
                                  scalar_type::float8_e4m3, scalar_type::float8_e5m2};
}  // namespace

TEST_CASE("visit_scalar_type reaches the C++ type each value names", "[scalar_type]") {
  for (scalar_type type : every_type) {
    CAPTURE(mixprec::to_string(type));
    // The visited type maps back to the same value, and its size is size_of's.
    mixprec::visit_scalar_type(type, [&](auto zero) {
      using T = decltype(zero);
      CHECK(mixprec::scalar_type_of<T>::value == type);
      CHECK(sizeof(T) == mixprec::size_of(type));
      // FP8 exactly when the type has a 3- or 2-bit mantissa in one byte.
      CHECK(mixprec::is_fp8(type) == (sizeof(T) == 1));
    });
  }
  CHECK(std::string(mixprec::to_string(scalar_type::float8_e4m3)) == "float8_e4m3");
  std::ostringstream text;
  text << scalar_type::bfloat16;
  CHECK(text.str() == "bfloat16");
}

TEST_CASE("an out-of-range scalar_type is rejected with its value", "[scalar_type]") {
  scalar_type bogus;
  const unsigned char code = 9;
  std::memcpy(&bogus, &code, 1);
  MIXPREC_REQUIRE_ERROR(mixprec::visit_scalar_type(bogus, [](auto) { return 0; }), "scalar_type 9");
}

TEST_CASE("gemm::element_type is scalar_type: a GEMM's output type is an optimizer's gradient type", "[scalar_type]") {
  STATIC_REQUIRE(std::is_same<mixprec::gemm::element_type, scalar_type>::value);
  STATIC_REQUIRE(mixprec::gemm::element_type_of<mixprec::float16>::value == scalar_type::float16);
  const mixprec::bfloat16 gradient[2] = {};
  const mixprec::const_tensor_view view(gradient, 2);
  CHECK(view.type == mixprec::gemm::element_type::bfloat16);
}
