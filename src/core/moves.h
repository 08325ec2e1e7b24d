// Moves on a converged EM state until none of their kinds improves it: split-merge and transfers alternated (DESIGN.md section 8).
#ifndef FASTDMM_MOVES_H
#define FASTDMM_MOVES_H

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "counts.h"
#include "em.h"
#include "hellinger_kmeans.h"
#include "parallel.h"
#include "resplit.h"
#include "split_merge.h"
#include "transfer.h"

namespace fastdmm {

// The kinds of move. R's dmn_fit() reports them by these names (move_kinds in
// R/dmn_fit.R): a new kind is a new code there and here.
enum class MoveKind { split_merge = 0, transfer = 1, resplit = 2 };
constexpr int kMoveKinds = 3;

// One trial of either kind, in the order tried. Split-merge: `first` and
// `second` merged, `third` split (first == second: an empty slot filled);
// transfer: `samples` moved from `first` to `second` (third -1); re-split:
// `samples` pooled from `first` and `second` (third -1). Components are
// 0-based, as they were at the time.
struct MoveTrial {
  MoveKind kind = MoveKind::split_merge;
  int first = 0, second = 0, third = -1;
  int samples = 0;
  // Transfers: the change in NLE the ranking promised (TransferCandidate); NaN
  // for the other kinds.
  double predicted = std::numeric_limits<double>::quiet_NaN();
  double nle_before = 0.0, nle_after = 0.0;
  bool accepted = false;
  int em_iterations = 0;
};

struct LocalSearchSettings {
  bool split_merge = true;  // for k >= 3
  MoveSettings split_merge_settings;
  bool transfers = true;
  TransferSettings transfer_settings;
  bool resplits = true;
  ResplitSettings resplit_settings;
  int max_rounds = 1000;  // rounds of (split-merge, transfers), a guard only
};

struct LocalSearchResult : AcceptedMoves {
  std::vector<MoveTrial> trials;
  int total_em_iterations = 0;        // iterations of every trial
  bool any_accepted = false;
  int tried[kMoveKinds] = {0, 0, 0};  // by MoveKind
  int accepted[kMoveKinds] = {0, 0, 0};
};

// Rounds of split-merge moves (until a round accepts none, split_merge.h),
// transfers (until a ranking's trials all fail, transfer.h) and, once neither
// of those improves the state, re-splits (resplit.h) on `state`, in place, until
// a round ends with no kind improving it (within their candidate lists).
// `fingerprint` holds the samples' content fingerprints when split-merge or
// re-splits are on (sample_fingerprints()).
LocalSearchResult local_search(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint64_t>& fingerprint, EmState& state,
                               const LocalSearchSettings& settings, const Executor& executor,
                               const FitHooks& hooks, const ProgressRange& progress);

}  // namespace fastdmm

#endif
