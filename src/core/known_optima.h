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
    return !optima_.empty() && contains(partition_of(state), state.nle);
  }

  // The same for a state known by its partition_of() and NLE.
  bool contains(const std::vector<std::uint32_t>& partition, double nle) const {
    for (const Optimum& o : optima_) {
      if (std::fabs(o.nle - nle) <= tolerance_ * std::fabs(o.nle) && o.partition == partition) {
        return true;
      }
    }
    return false;
  }

  static std::vector<std::uint32_t> partition_of(const EmState& state) {
    const std::size_t K = state.n_components;
    const std::vector<std::size_t> label = arg_max_labels(state.next_posterior, K);
    std::vector<std::uint32_t> renumbered(K, static_cast<std::uint32_t>(K)), partition(label.size());
    std::uint32_t used = 0;
    for (std::size_t i = 0; i < label.size(); ++i) {
      if (renumbered[label[i]] == K) renumbered[label[i]] = used++;
      partition[i] = renumbered[label[i]];
    }
    return partition;
  }

 private:
  struct Optimum {
    std::vector<std::uint32_t> partition;
    double nle;
  };

  double tolerance_;
  std::vector<Optimum> optima_;
};

// After a move kind accepted a move on `state`: whether `known` (none when
// null) holds the state, in which case `kind` says so (at_known_optimum) and
// the kind stops there.
inline bool reached_known_optimum(const KnownOptima* known, const EmState& state,
                                  AcceptedMoves& kind) {
  if (known == nullptr || !known->contains(state)) return false;
  kind.at_known_optimum = true;
  return true;
}

}  // namespace fastdmm

#endif
