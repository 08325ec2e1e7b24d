// Re-splits: the members of two components pooled and divided again by a two-component search of their own (DESIGN.md section 8).
#ifndef FASTDMM_RESPLIT_H
#define FASTDMM_RESPLIT_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "em.h"
#include "known_optima.h"
#include "mstep.h"
#include "parallel.h"
#include "transfer.h"

namespace fastdmm {

struct ResplitSettings {
  EmSettings em;               // the fit's EM settings: EM runs on from an accepted re-split
  OptimiserOptions optimiser;
  int starts = 3;              // k-means++ starts of each pool's two-component search
  std::size_t min_pool = 4;    // pools of fewer samples are left alone
  std::uint32_t seed = 0;      // keys the starts' draws (with the pool's members' content)
};

struct ResplitRecord {
  int first = 0, second = 0;   // the pair of components, 0-based, at the time
  int samples = 0;             // pooled
  int changed = 0;             // samples the pool's best split puts in the other component
  double nle_before = 0.0, nle_after = 0.0;  // nle_after: the trial's NLE (before EM runs on)
  bool accepted = false;
  int em_iterations = 0;       // EM run on after an accepted re-split
  int pool_em_iterations = 0;  // of the pool's search
};

struct ResplitResult : AcceptedMoves {
  std::vector<ResplitRecord> trials;
  int total_em_iterations = 0;       // every iteration, the pools' searches included
};

// Re-splits on `state` (in place). For each pair (a, b) of components, a < b,
// the samples whose arg-max component is a or b are pooled; the pool's table
// gets a two-component search of `starts` k-means++ starts, each run to
// convergence; the best of them divides the pool. When
// that division differs from the current one, a and b are refitted on the
// whole table from the pool's parameters, and the result is kept, and EM run
// on from it, when its NLE is lower by more than the EM threshold. Pairs are
// visited in turn until none whose pool changed since its last trial remains:
// the pool's search is keyed on the seed and the pool's members' content (so
// it does not depend on the order of the samples), and a pool tried before
// would be divided the same way again. `fingerprint` holds the samples'
// content fingerprints (sample_fingerprints()); `tried` (K x K, zeros at
// first) the key of each pair's pool when it was last tried, kept by the
// caller across calls on the same state's successors. With `known`, the
// re-splits stop when an accepted one reaches one of those optima
// (at_known_optimum).
ResplitResult resplit_moves(const Counts& counts, EmState& state, const ResplitSettings& settings,
                            const std::vector<std::uint64_t>& fingerprint,
                            std::vector<std::uint64_t>& tried, const Executor& executor,
                            const FitHooks& hooks, const KnownOptima* known = nullptr);

}  // namespace fastdmm

#endif
