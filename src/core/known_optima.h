// The local optima one start's searches have ended at, so that a kicked descent that comes back to one of them can stop there (DESIGN.md section 8).
#ifndef FASTDMM_KNOWN_OPTIMA_H
#define FASTDMM_KNOWN_OPTIMA_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "em.h"

namespace fastdmm {

// States identified by their hard partition (each sample's arg-max component,
// the components numbered in order of their first sample, so that renumbered
// components are the same partition) and their NLE to within `tolerance`,
// relative: the tolerance at which the replicated search counts two starts as
// one optimum. A state where local_search() ended with every kind of move
// exhausted (LocalSearchResult::at_local_optimum) is a local optimum of every
// move it tries; a later descent that reaches its partition again would repeat
// the end of the descent that certified it, and end there.
class KnownOptima {
 public:
  explicit KnownOptima(double tolerance) : tolerance_(tolerance) {}

  void add(const EmState& state) {
    if (!contains(state)) optima_.push_back({partition_of(state), state.nle});
  }

  bool contains(const EmState& state) const {
    if (optima_.empty()) return false;
    const std::vector<std::uint32_t> partition = partition_of(state);
    for (const Optimum& o : optima_) {
      if (std::fabs(o.nle - state.nle) <= tolerance_ * std::fabs(o.nle) &&
          o.partition == partition) {
        return true;
      }
    }
    return false;
  }

 private:
  struct Optimum {
    std::vector<std::uint32_t> partition;
    double nle;
  };

  static std::vector<std::uint32_t> partition_of(const EmState& state) {
    const std::size_t K = state.n_components;
    const std::vector<double>& z = state.next_posterior;
    const std::size_t N = z.size() / K;
    std::vector<std::uint32_t> renumbered(K, static_cast<std::uint32_t>(K)), partition(N);
    std::uint32_t used = 0;
    for (std::size_t i = 0; i < N; ++i) {
      std::size_t best = 0;
      for (std::size_t k = 1; k < K; ++k) {
        if (z[i * K + k] > z[i * K + best]) best = k;
      }
      if (renumbered[best] == K) renumbered[best] = used++;
      partition[i] = renumbered[best];
    }
    return partition;
  }

  double tolerance_;
  std::vector<Optimum> optima_;
};

}  // namespace fastdmm

#endif
