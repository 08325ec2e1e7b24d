// Moves on a converged EM state until none of their kinds improves it (split-merge, transfers and re-splits alternated), and kicks that restart that search from a perturbed state (DESIGN.md section 8).
#ifndef FASTDMM_MOVES_H
#define FASTDMM_MOVES_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "counts.h"
#include "em.h"
#include "hellinger_kmeans.h"
#include "known_optima.h"
#include "parallel.h"
#include "resplit.h"
#include "split_merge.h"
#include "transfer.h"

namespace fastdmm {

// The kinds of move. R's dmn_fit() reports them by these names (move_kinds in
// R/dmn_fit.R): a new kind is a new code there and here.
enum class MoveKind { split_merge = 0, transfer = 1, resplit = 2, kick = 3 };
constexpr int kMoveKinds = 4;

// One trial of either kind, in the order tried. Split-merge: `first` and
// `second` merged, `third` split (first == second: an empty slot filled);
// transfer: `samples` moved from `first` to `second` (third -1); re-split:
// `samples` pooled from `first` and `second` (third -1); kick: `first` emptied,
// `second` split into itself and `first`, `samples` the samples whose
// component the kick changed (third -1; nle_after is the NLE once the local
// search has run on the kicked state). Components are 0-based, as they were at
// the time.
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
  // The search ended where no kind of move it tries improves the state: each
  // kind stopped because its candidates failed, not at a cap (split-merge's
  // max_moves, transfers' max_trials, the rounds' max_rounds) or at a known
  // optimum.
  bool at_local_optimum = false;
  int tried[kMoveKinds] = {};  // by MoveKind
  int accepted[kMoveKinds] = {};
};

// A later search's trials, counts and accepted moves added after those of
// `into`, which the later search ran on from where `into` left the state: its
// end (at_local_optimum) is the state's now.
void append_search(LocalSearchResult& into, const LocalSearchResult& later);

// Rounds of split-merge moves (until a round accepts none, split_merge.h),
// transfers (until a ranking's trials all fail, transfer.h) and, once neither
// of those improves the state, re-splits (resplit.h) on `state`, in place, until
// a round ends with no kind improving it (within their candidate lists).
// `fingerprint` holds the samples' content fingerprints when split-merge or
// re-splits are on (sample_fingerprints()). `transfers_failed`, when given,
// carries the transfers that failed from one search to the next (a start's
// descent and its kicks' descents share one); otherwise the search keeps its own.
// With `known`, the search stops as soon as a move it accepted reaches one of
// those optima (result.at_known_optimum): from there it would repeat the end of
// the descent that found it.
LocalSearchResult local_search(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint64_t>& fingerprint, EmState& state,
                               const LocalSearchSettings& settings, const Executor& executor,
                               const FitHooks& hooks, const ProgressRange& progress,
                               TransferMemo* transfers_failed = nullptr,
                               const KnownOptima* known = nullptr);

struct KickSettings {
  EmSettings em;  // the fit's EM settings: EM runs on from every kicked state
  OptimiserOptions optimiser;
  // Kicks in a row that fail to lower the NLE before the search ends (0: no kicks).
  int max_failures = 0;
  std::uint64_t seed = 0;  // keys the kicks' draws (with the samples' content)
  // A kicked state is kept when its NLE is lower by more than this, relative:
  // within it, it is the same optimum (the replicated search's tolerance).
  double tolerance = 1e-6;
};

// Iterated local search (Lourenco, Martin & Stuetzle 2003) with J-moves
// (Hansen & Mladenovic 2001) as kicks, on `state` (in place), which
// local_search() with `moves` left where no move improves it. A kick empties
// a component a (each member goes to one of the other components, drawn from
// the member's content fingerprint and the kick's key), splits another
// component c, with the members it received, by 2-means in Hellinger
// geometry (the second half taking a's place), refits every component by one
// M-step warm started from the current parameters, and runs EM and then
// local_search() on the result. The kicked state replaces `state` when its NLE
// is lower by more than kicks.tolerance relative. Kicks stop after
// kicks.max_failures kicks in a row have not. A kick that would give back the
// same partition (up to a and c swapped), or leave a component empty, is not
// run: it is recorded as failed, with samples 0 and nle_after NaN. a and c are
// drawn from the key and the kick's number, so the kicks depend on the seed
// and the samples' content, not on their order or the threads. Each kick is
// one trial of kind `kick` in `result`; the kicked searches' own trials count
// only in result.total_em_iterations. The kicked searches share
// `transfers_failed` (as local_search() takes it). A kicked search that comes
// back to the state it was kicked from, or to where an earlier kick's search
// ended, when those searches ended at a local optimum of the moves
// (result.at_local_optimum, KnownOptima), stops there. `after_kick`, when
// given, is called after each kick with the state, `result` and whether the
// kick was kept; the kicks stop when it returns true.
using AfterKick = std::function<bool(const EmState&, const LocalSearchResult&, bool)>;
void kick_search(const Counts& counts, const SquareRootProportions& roots,
                 const std::vector<std::uint64_t>& fingerprint, EmState& state,
                 const LocalSearchSettings& moves, const KickSettings& kicks,
                 const Executor& executor, const FitHooks& hooks, LocalSearchResult& result,
                 TransferMemo* transfers_failed = nullptr, const AfterKick& after_kick = {});

}  // namespace fastdmm

#endif
