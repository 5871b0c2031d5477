// formats_tour — mixprec's formats side by side: their ranges, and how a few
// values round and saturate under each rounding mode and saturation policy.
//
//   ./build/examples/formats_tour
#include <mixprec/mixprec.hpp>

#include <cstdio>
#include <limits>
#include <string>

namespace {

template <class T>
void print_range(const char* name) {
  using limits = std::numeric_limits<T>;
  std::printf("%-16s %2d bits  %2d digits  max %-10g min normal %-12g min subnormal %-12g epsilon %-10g %s\n", name,
              static_cast<int>(8 * sizeof(T)), limits::digits, static_cast<double>(limits::max()),
              static_cast<double>(limits::min()), static_cast<double>(limits::denorm_min()),
              static_cast<double>(limits::epsilon()), limits::has_infinity ? "inf" : "no inf");
}

const char* rounding_name(mixprec::rounding mode) {
  switch (mode) {
    case mixprec::rounding::nearest_even: return "nearest_even";
    case mixprec::rounding::toward_zero: return "toward_zero";
    case mixprec::rounding::upward: return "upward";
    case mixprec::rounding::downward: return "downward";
    case mixprec::rounding::stochastic: return "stochastic";
  }
  return "?";
}

// One cell: the value x becomes in T, and its bits.
template <class T>
std::string cell(double x, mixprec::rounding mode, mixprec::saturation policy) {
  const T y = mixprec::convert<T>(x, mode, policy);
  char text[48];
  std::snprintf(text, sizeof text, "%g (0x%0*X)", static_cast<double>(y), static_cast<int>(2 * sizeof(T)),
                static_cast<unsigned>(y.bits()));
  return text;
}

template <class T>
void print_rounding_table(const char* name, const double* inputs, int count) {
  std::printf("\n%s\n%-26s", name, "input");
  const mixprec::rounding modes[] = {mixprec::rounding::nearest_even, mixprec::rounding::toward_zero};
  const mixprec::saturation policies[] = {mixprec::saturation::finite, mixprec::saturation::none};
  for (auto mode : modes)
    for (auto policy : policies)
      std::printf("%-24s", (std::string(rounding_name(mode)) + (policy == mixprec::saturation::finite ? "/finite" : "/none")).c_str());
  std::printf("\n");
  for (int i = 0; i < count; ++i) {
    std::printf("%-26.17g", inputs[i]);
    for (auto mode : modes)
      for (auto policy : policies) std::printf("%-24s", cell<T>(inputs[i], mode, policy).c_str());
    std::printf("\n");
  }
}

}  // namespace

int main() {
  std::printf("Ranges\n");
  print_range<mixprec::float16>("float16");
  print_range<mixprec::bfloat16>("bfloat16");
  print_range<mixprec::float8_e4m3>("float8_e4m3");
  print_range<mixprec::float8_e5m2>("float8_e5m2");
  print_range<mixprec::float8_e4m3fnuz>("float8_e4m3fnuz");
  print_range<mixprec::float8_e5m2fnuz>("float8_e5m2fnuz");

  const double infinity = std::numeric_limits<double>::infinity();
  const double e4m3_inputs[] = {0.3, 3.3, -17.0, 448.0, 460.0, 464.0, 470.0, 1e6, infinity, -431.99999999999994, 0.001};
  print_rounding_table<mixprec::float8_e4m3>("float8_e4m3 (max 448; overflow past 464 under nearest_even)",
                                              e4m3_inputs, static_cast<int>(sizeof e4m3_inputs / sizeof *e4m3_inputs));
  const double e5m2_inputs[] = {0.3, 3.3, 57344.0, 60000.0, 61440.0, 1e6, infinity, 1e-6};
  print_rounding_table<mixprec::float8_e5m2>("float8_e5m2 (max 57344, has inf)", e5m2_inputs,
                                              static_cast<int>(sizeof e5m2_inputs / sizeof *e5m2_inputs));
  const double half_inputs[] = {0.1, 65504.0, 65519.0, 65520.0, 1e-7, 1e-8};
  print_rounding_table<mixprec::float16>("float16 (max 65504; 65520 is the overflow tie)", half_inputs,
                                          static_cast<int>(sizeof half_inputs / sizeof *half_inputs));
  const double bf16_inputs[] = {0.1, 1.00390625, 1.01171875, 3.4e38, 1e-40};
  print_rounding_table<mixprec::bfloat16>("bfloat16 (float's range, 8 significant bits)", bf16_inputs,
                                           static_cast<int>(sizeof bf16_inputs / sizeof *bf16_inputs));

  // Stochastic rounding: the result is a neighbour of x, the upper one with
  // probability equal to how far x lies between them — so the mean is x.
  const float x = 0.3f;
  const float below = static_cast<float>(mixprec::convert<mixprec::float8_e4m3>(x, mixprec::rounding::downward));
  const float above = static_cast<float>(mixprec::convert<mixprec::float8_e4m3>(x, mixprec::rounding::upward));
  const int draws = 100000;
  double sum = 0;
  int up = 0;
  for (int i = 0; i < draws; ++i) {
    const auto y = mixprec::convert_stochastic<mixprec::float8_e4m3>(
        x, mixprec::stochastic_rounding_bits(42, 0, static_cast<std::uint64_t>(i)));
    sum += static_cast<double>(y);
    up += static_cast<float>(y) == above;
  }
  std::printf("\nStochastic rounding of %g to float8_e4m3 (neighbours %g and %g), %d draws:\n", static_cast<double>(x),
              static_cast<double>(below), static_cast<double>(above), draws);
  std::printf("  rounded up %.2f%% of the time (x lies %.2f%% of the way up); mean %.6f\n", 100.0 * up / draws,
              100.0 * (static_cast<double>(x) - static_cast<double>(below)) / static_cast<double>(above - below), sum / draws);

  std::printf("\nArithmetic rounds back with the type's default: float8_e4m3(448) + float8_e4m3(448) = %g "
              "(saturates); float16(65504) + float16(65504) = %g\n",
              static_cast<double>(mixprec::float8_e4m3(448.0f) + mixprec::float8_e4m3(448.0f)),
              static_cast<double>(mixprec::float16(65504.0f) + mixprec::float16(65504.0f)));
  return 0;
}
