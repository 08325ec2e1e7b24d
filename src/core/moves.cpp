// The local search: split-merge moves, transfers and re-splits in rounds until none improves the state.
#include "moves.h"

#include <utility>

namespace fastdmm {

namespace {

// Adds one trial to `result`, counted by its kind.
void add_trial(LocalSearchResult& result, const MoveTrial& trial) {
  const int kind = static_cast<int>(trial.kind);
  result.trials.push_back(trial);
  ++result.tried[kind];
  if (trial.accepted) ++result.accepted[kind];
}

// Adds what a kind's accepted moves did to the state (when it accepted any).
void add_accepted(LocalSearchResult& result, std::size_t accepted,
                  const std::vector<double>& accepted_nle, int em_iterations, int extrapolations,
                  bool converged) {
  if (accepted == 0) return;
  result.accepted_nle.insert(result.accepted_nle.end(), accepted_nle.begin(), accepted_nle.end());
  result.em_iterations += em_iterations;
  result.extrapolations += extrapolations;
  result.converged = converged;
  result.any_accepted = true;
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
  for (int round = 0; round < settings.max_rounds; ++round) {
    if (split_merge) {
      MovesResult moves = split_merge_moves(counts, roots, fingerprint, state,
                                            settings.split_merge_settings, executor, hooks,
                                            progress.part(0.0, 0.5));
      result.total_em_iterations += moves.total_em_iterations;
      std::size_t accepted = 0;
      for (const MoveRecord& m : moves.moves) {
        MoveTrial t;
        t.kind = MoveKind::split_merge;
        t.first = m.merge_first;
        t.second = m.merge_second;
        t.third = m.split;
        t.nle_before = m.nle_before;
        t.nle_after = m.nle_after;
        t.accepted = m.accepted;
        t.em_iterations = m.em_iterations;
        add_trial(result, t);
        accepted += m.accepted ? 1 : 0;
      }
      add_accepted(result, accepted, moves.accepted_nle, moves.em_iterations,
                   moves.extrapolations, moves.converged);
    }
    std::size_t transferred = 0;
    if (transfers) {
      const TransferResult moved =
          transfer_moves(counts, state, settings.transfer_settings, executor, hooks);
      for (const TransferRecord& r : moved.trials) {
        MoveTrial t;
        t.kind = MoveKind::transfer;
        t.first = r.from;
        t.second = r.to;
        t.samples = r.samples;
        t.nle_before = r.nle_before;
        t.nle_after = r.nle_after;
        t.accepted = r.accepted;
        t.em_iterations = r.em_iterations;
        add_trial(result, t);
        result.total_em_iterations += r.em_iterations;
        transferred += r.accepted ? 1 : 0;
      }
      add_accepted(result, transferred, moved.accepted_nle, moved.em_iterations,
                   moved.extrapolations, moved.converged);
    }
    progress.report(1.0 - 1.0 / (round + 2.0), "trying moves");
    // Split-merge ran to exhaustion just before, and transfers ran until a
    // ranking's trials all failed: when transfers changed the state, split-merge
    // may find new moves on it.
    if (transferred > 0 && split_merge) continue;
    if (!resplits) break;
    const ResplitResult resplit =
        resplit_moves(counts, state, settings.resplit_settings, executor, hooks);
    result.total_em_iterations += resplit.total_em_iterations;
    std::size_t accepted = 0;
    for (const ResplitRecord& r : resplit.trials) {
      MoveTrial t;
      t.kind = MoveKind::resplit;
      t.first = r.first;
      t.second = r.second;
      t.samples = r.samples;
      t.nle_before = r.nle_before;
      t.nle_after = r.nle_after;
      t.accepted = r.accepted;
      t.em_iterations = r.em_iterations;
      add_trial(result, t);
      accepted += r.accepted ? 1 : 0;
    }
    add_accepted(result, accepted, resplit.accepted_nle, resplit.em_iterations,
                 resplit.extrapolations, resplit.converged);
    // No re-split improves the state, and the other kinds ran to exhaustion on it.
    if (accepted == 0) break;
  }
  return result;
}

}  // namespace fastdmm
