// The local search: split-merge moves, transfers and re-splits in rounds until none improves the state.
#include "moves.h"

#include <utility>

namespace fastdmm {

namespace {

// Each kind's record of a trial as a MoveTrial: the fields all kinds share,
// then each kind's own.
template <typename Record>
MoveTrial shared_fields(MoveKind kind, int first, int second, const Record& r) {
  MoveTrial t;
  t.kind = kind;
  t.first = first;
  t.second = second;
  t.nle_before = r.nle_before;
  t.nle_after = r.nle_after;
  t.accepted = r.accepted;
  t.em_iterations = r.em_iterations;
  return t;
}

MoveTrial as_trial(const MoveRecord& m) {
  MoveTrial t = shared_fields(MoveKind::split_merge, m.merge_first, m.merge_second, m);
  t.third = m.split;
  return t;
}

MoveTrial as_trial(const TransferRecord& r) {
  MoveTrial t = shared_fields(MoveKind::transfer, r.from, r.to, r);
  t.samples = r.samples;
  t.predicted = r.predicted;
  return t;
}

MoveTrial as_trial(const ResplitRecord& r) {
  MoveTrial t = shared_fields(MoveKind::resplit, r.first, r.second, r);
  t.samples = r.samples;
  return t;
}

// Adds one kind's trials to `result`, counted by kind, and what its accepted
// moves did to the state; returns how many it accepted.
template <typename Record>
std::size_t add_trials(LocalSearchResult& result, const std::vector<Record>& records,
                       const AcceptedMoves& kept) {
  std::size_t accepted = 0;
  for (const Record& record : records) {
    const MoveTrial trial = as_trial(record);
    const int kind = static_cast<int>(trial.kind);
    result.trials.push_back(trial);
    ++result.tried[kind];
    if (trial.accepted) {
      ++result.accepted[kind];
      ++accepted;
    }
  }
  if (accepted > 0) {
    result.add(kept);
    result.any_accepted = true;
  }
  return accepted;
}

}  // namespace

LocalSearchResult local_search(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint64_t>& fingerprint, EmState& state,
                               const LocalSearchSettings& settings, const Executor& executor,
                               const FitHooks& hooks, const ProgressRange& progress) {
  LocalSearchResult result;
  const std::size_t K = state.n_components;
  const bool split_merge = settings.split_merge && K >= 3;
  const bool transfers = settings.transfers && K >= 2;
  const bool resplits = settings.resplits && K >= 3;
  // The pools re-splits tried, kept across rounds: an unchanged pool would be
  // divided the same way again.
  std::vector<std::uint64_t> resplit_tried;
  // The transfers that failed, kept across rounds for the same reason.
  TransferMemo transfers_failed;
  for (int round = 0; round < settings.max_rounds; ++round) {
    if (split_merge) {
      MovesResult moves = split_merge_moves(counts, roots, fingerprint, state,
                                            settings.split_merge_settings, executor, hooks,
                                            progress.part(0.0, 0.5));
      result.total_em_iterations += moves.total_em_iterations;
      add_trials(result, moves.moves, moves);
    }
    std::size_t transferred = 0;
    if (transfers) {
      const TransferResult moved =
          transfer_moves(counts, state, settings.transfer_settings, executor, hooks,
                         &transfers_failed);
      for (const TransferRecord& r : moved.trials) result.total_em_iterations += r.em_iterations;
      transferred = add_trials(result, moved.trials, moved);
    }
    progress.report(1.0 - 1.0 / (round + 2.0), "trying moves");
    // Split-merge ran to exhaustion just before, and transfers ran until a
    // ranking's trials all failed: when transfers changed the state, split-merge
    // may find new moves on it.
    if (transferred > 0 && split_merge) continue;
    if (!resplits) break;
    const ResplitResult resplit =
        resplit_moves(counts, state, settings.resplit_settings, fingerprint, resplit_tried,
                      executor, hooks);
    result.total_em_iterations += resplit.total_em_iterations;
    const std::size_t accepted = add_trials(result, resplit.trials, resplit);
    // No re-split improves the state, and the other kinds ran to exhaustion on it.
    if (accepted == 0) break;
  }
  return result;
}

}  // namespace fastdmm
