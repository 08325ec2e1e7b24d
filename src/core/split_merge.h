// Split-merge moves on a converged EM state (Ueda et al. 2000): split plans, candidate moves and their trials (DESIGN.md section 5).
#ifndef FASTDMM_SPLIT_MERGE_H
#define FASTDMM_SPLIT_MERGE_H

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "counts.h"
#include "em.h"
#include "hellinger_kmeans.h"
#include "known_optima.h"
#include "mstep.h"
#include "parallel.h"

namespace fastdmm {

struct MoveSettings {
  EmSettings em;               // the fit's EM settings; max_iterations bounds each trial
  int screen_iterations = 10;  // a trial's first run, before it must look promising
  int max_moves = 0;           // accepted moves at most
  int max_tries = 5;           // candidates per round; a round without success ends the moves
  std::uint32_t seed = 0;      // keys the 2-means draws of the split plans
  OptimiserOptions optimiser;
};

struct MoveRecord {
  int merge_first = 0, merge_second = 0, split = 0;  // components, 0-based, at the time
  double nle_before = 0.0, nle_after = 0.0;           // nle_after: the trial's NLE
  bool accepted = false;
  int em_iterations = 0;
};

// What the moves did: every trial, and the accepted ones' contribution to the
// state's history.
struct MovesResult : AcceptedMoves {
  std::vector<MoveRecord> moves;
  int total_em_iterations = 0;       // iterations of every trial
};

// Rounds of moves on `state` (in place) until a round accepts none or max_moves
// are accepted. Each round plans a split of every component, ranks merge-split
// triplets by the NLE change they promise and tries at most max_tries of them;
// the first that lowers the NLE is accepted. With `known`, the moves stop
// when an accepted one reaches one of those optima (at_known_optimum). `roots` and `fingerprint` are the
// table's (hellinger_kmeans.h). `progress` receives the share of max_moves tried.
// With `failed`, a trial whose three components and split halves have the
// members of one that failed before (its key is in `failed`) is not run again:
// it counts as tried and failed, as the transfers' memo does (transfer.h); the
// keys of the trials that fail are added. The caller keeps it for one start's
// descent and kicks.
MovesResult split_merge_moves(const Counts& counts, const SquareRootProportions& roots,
                              const std::vector<std::uint64_t>& fingerprint, EmState& state,
                              const MoveSettings& settings, const Executor& executor,
                              const FitHooks& hooks, const ProgressRange& progress,
                              const KnownOptima* known = nullptr,
                              std::unordered_set<std::uint64_t>* failed = nullptr);

}  // namespace fastdmm

#endif
