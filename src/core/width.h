// Compile-time numbers of components for the kernels' innermost loops (DESIGN.md section 2).
#ifndef FASTDMM_WIDTH_H
#define FASTDMM_WIDTH_H

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace fastdmm {

// The largest number of components with a kernel of its own; larger k run the
// same kernel with the width read at run time.
constexpr std::size_t kLargestFixedWidth = 16;

template <std::size_t W>
using Width = std::integral_constant<std::size_t, W>;

// Placed before a loop over the k components of a fixed width: unrolled whole, its
// sums stay in registers instead of memory (GCC does not unroll such loops at -O2).
#if defined(__GNUC__) && !defined(__clang__)
#define FASTDMM_UNROLL_COMPONENTS _Pragma("GCC unroll 16")
#elif defined(__clang__)
#define FASTDMM_UNROLL_COMPONENTS _Pragma("unroll 16")
#else
#define FASTDMM_UNROLL_COMPONENTS
#endif

// Calls f(Width<K>()) for K <= kLargestFixedWidth, else f(Width<0>()): a kernel
// written as `const std::size_t k_count = W ? W : K;` then loops over a constant,
// which the compiler unrolls and vectorises. Every width sums in the same order.
template <class F>
void with_width(std::size_t K, F&& f) {
  switch (K) {
    case 1: f(Width<1>()); return;
    case 2: f(Width<2>()); return;
    case 3: f(Width<3>()); return;
    case 4: f(Width<4>()); return;
    case 5: f(Width<5>()); return;
    case 6: f(Width<6>()); return;
    case 7: f(Width<7>()); return;
    case 8: f(Width<8>()); return;
    case 9: f(Width<9>()); return;
    case 10: f(Width<10>()); return;
    case 11: f(Width<11>()); return;
    case 12: f(Width<12>()); return;
    case 13: f(Width<13>()); return;
    case 14: f(Width<14>()); return;
    case 15: f(Width<15>()); return;
    case 16: f(Width<16>()); return;
    default: f(Width<0>()); return;
  }
}

// Two doubles operated on lane by lane (GCC's and clang's vector extension: SSE2
// on x86-64, NEON on arm64). Each lane's arithmetic is exactly the scalar
// arithmetic, so a loop over components done two at a time gives the same bits.
typedef double Double2 __attribute__((vector_size(16)));

inline Double2 load2(const double* p) {
  Double2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store2(double* p, Double2 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace fastdmm

#endif
