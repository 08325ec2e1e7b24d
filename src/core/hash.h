// 64-bit mixing functions of SplitMix64 (Steele, Lea & Flood 2014) that key the core's content- and seed-keyed draws.
#ifndef FASTDMM_HASH_H
#define FASTDMM_HASH_H

#include <cstdint>

namespace fastdmm {

// SplitMix64's increment (the golden ratio in 64 bits).
constexpr std::uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64's output function (Stafford's "Mix13" finaliser): a bijection of
// 64-bit words. The sampler's streams and the restart seeds use it on states
// they advance by kSplitMix64Gamma themselves.
inline std::uint64_t splitmix64_finalise(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The first output of a SplitMix64 generator seeded with z: the finaliser of
// z + kSplitMix64Gamma, also a bijection. The starts, the split plans and the
// subsample key their draws on it (a different function from
// splitmix64_finalise(): the two are not interchangeable without changing
// every draw).
inline std::uint64_t splitmix64_first(std::uint64_t z) {
  return splitmix64_finalise(z + kSplitMix64Gamma);
}

}  // namespace fastdmm

#endif
