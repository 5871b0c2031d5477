#include <mixprec/mixprec.hpp>

#include <cstdio>

int main() {
  const auto x = mixprec::convert<mixprec::float8_e4m3>(500.0f);  // saturates to 448
  std::printf("float8_e4m3(500) = %g (0x%02X)\n", static_cast<double>(static_cast<float>(x)), x.bits());
  return x.bits() == 0x7E ? 0 : 1;
}
