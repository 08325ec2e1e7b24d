// The initialisation's random stream: GSL's default generator (MT19937) and its uniform_int.
#ifndef FASTDMM_RNG_H
#define FASTDMM_RNG_H

#include <cstdint>
#include <random>

namespace fastdmm {

// Reproduces gsl_rng_mt19937 seeded by gsl_rng_set(seed) and gsl_rng_uniform_int(),
// which is what DirichletMultinomial draws its random start from (DESIGN.md section 1).
class ReferenceRng {
 public:
  explicit ReferenceRng(std::uint32_t seed) : engine_(seed == 0 ? 4357u : seed) {}

  std::uint32_t next_u32() { return static_cast<std::uint32_t>(engine_()); }

  // An integer uniform on 0..n-1 by rejection: scale = floor((2^32 - 1) / n),
  // k = floor(u / scale), redrawn while k >= n.
  std::uint32_t uniform_int(std::uint32_t n) {
    const std::uint32_t scale = 0xffffffffu / n;
    std::uint32_t k;
    do {
      k = next_u32() / scale;
    } while (k >= n);
    return k;
  }

 private:
  std::mt19937 engine_;
};

}  // namespace fastdmm

#endif
