// 64-bit mixing functions of SplitMix64 (Steele, Lea & Flood 2014) that key the core's content- and seed-keyed draws, and a probe table for finding equal items by hash.
#ifndef FASTDMM_HASH_H
#define FASTDMM_HASH_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

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

// A double's bits as a word to hash: equal doubles (compared with ==, but for
// zeros of two signs and NaNs) have equal bits.
inline std::uint64_t double_bits(double x) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// An open-addressing table of item numbers for finding earlier items equal to a
// new one (exchangeable taxa, copies of tables made at one alpha): linear
// probing from a hash, at least twice as many slots as items it is sized for.
// find() returns the slot of the first item on the hash's probe sequence that
// `same` accepts, or the empty slot that ends the sequence, where enter() puts
// the new item; found() tells which, item() reads it.
class ProbeTable {
 public:
  ProbeTable() = default;
  explicit ProbeTable(std::size_t capacity) { reset(capacity); }

  // Empty, with room for `capacity` items at most half full.
  void reset(std::size_t capacity) {
    std::size_t slots = 1;
    while (slots < 2 * capacity) slots *= 2;
    slots_.assign(slots, 0);
    entered_ = 0;
  }

  template <class Same>
  std::uint32_t& find(std::uint64_t hash, Same&& same) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t s = hash & mask;; s = (s + 1) & mask) {
      if (slots_[s] == 0 || same(static_cast<std::size_t>(slots_[s] - 1))) return slots_[s];
    }
  }
  static bool found(std::uint32_t slot) { return slot != 0; }
  static std::size_t item(std::uint32_t slot) { return slot - 1; }
  void enter(std::uint32_t& slot, std::size_t item) {
    slot = static_cast<std::uint32_t>(item + 1);
    ++entered_;
  }
  // Whether one more item leaves the table at most half full (a table sized
  // for fewer items than may come stops taking them there).
  bool has_room() const { return 2 * (entered_ + 1) <= slots_.size(); }

 private:
  std::vector<std::uint32_t> slots_;  // item + 1; 0: empty
  std::size_t entered_ = 0;
};

}  // namespace fastdmm

#endif
