// mixprec/core/config.hpp — compiler portability for every layer.
//
// The lowest layer: no other mixprec header, no CUDA header. Everything above
// it spells host/device qualification and compile-time bit casts through
// these macros so one definition serves g++, clang++ and nvcc.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define MIXPREC_HOST_DEVICE __host__ __device__
#else
#define MIXPREC_HOST_DEVICE
#endif

#if defined(__CUDA_ARCH__)
#define MIXPREC_DEVICE_COMPILATION 1
#else
#define MIXPREC_DEVICE_COMPILATION 0
#endif

#if defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
#define MIXPREC_HAS_BUILTIN_BIT_CAST 1
#endif
#endif
#if !defined(MIXPREC_HAS_BUILTIN_BIT_CAST) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define MIXPREC_HAS_BUILTIN_BIT_CAST 1
#endif
#if !defined(MIXPREC_HAS_BUILTIN_BIT_CAST)
#define MIXPREC_HAS_BUILTIN_BIT_CAST 0
#endif

// MIXPREC_CONSTEXPR_BITS marks functions that are constexpr exactly when the
// compiler can reinterpret float bits at compile time (g++ >= 11, clang >= 9,
// nvcc with either as host compiler). Elsewhere they are plain inline.
#if MIXPREC_HAS_BUILTIN_BIT_CAST
#define MIXPREC_CONSTEXPR_BITS constexpr
#else
#define MIXPREC_CONSTEXPR_BITS inline
#endif

namespace mixprec {
namespace detail {

template <class To, class From>
MIXPREC_HOST_DEVICE MIXPREC_CONSTEXPR_BITS To bit_cast(const From& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "bit_cast needs equal sizes");
  static_assert(std::is_trivially_copyable<To>::value && std::is_trivially_copyable<From>::value,
                "bit_cast needs trivially copyable types");
#if MIXPREC_HAS_BUILTIN_BIT_CAST
  return __builtin_bit_cast(To, from);
#else
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
#endif
}

}  // namespace detail
}  // namespace mixprec
