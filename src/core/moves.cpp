// The local search: split-merge moves and transfers alternated until a round of transfers accepts none.
#include "moves.h"

#include <utility>

namespace fastdmm {

LocalSearchResult local_search(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint64_t>& fingerprint, EmState& state,
                               const LocalSearchSettings& settings, const Executor& executor,
                               const FitHooks& hooks, const ProgressRange& progress) {
  LocalSearchResult result;
  const std::size_t K = state.n_components;
  const bool split_merge = settings.split_merge && K >= 3;
  const bool transfers = settings.transfers && K >= 2;
  for (int round = 0; round < settings.max_rounds; ++round) {
    if (split_merge) {
      MovesResult moves = split_merge_moves(counts, roots, fingerprint, state,
                                            settings.split_merge_settings, executor, hooks,
                                            progress.part(0.0, 0.5));
      result.total_em_iterations += moves.total_em_iterations;
      std::size_t accepted_seen = 0;
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
        result.trials.push_back(t);
        ++result.tried[0];
        if (m.accepted) {
          ++result.accepted[0];
          ++accepted_seen;
        }
      }
      if (accepted_seen > 0) {
        result.accepted_nle.insert(result.accepted_nle.end(), moves.accepted_nle.begin(),
                                   moves.accepted_nle.end());
        result.em_iterations += moves.em_iterations;
        result.extrapolations += moves.extrapolations;
        result.converged = moves.converged;
        result.any_accepted = true;
      }
    }
    if (!transfers) break;
    const TransferResult moved =
        transfer_moves(counts, state, settings.transfer_settings, executor, hooks);
    std::size_t accepted_here = 0;
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
      result.trials.push_back(t);
      ++result.tried[1];
      result.total_em_iterations += r.em_iterations;
      if (r.accepted) {
        ++result.accepted[1];
        ++accepted_here;
      }
    }
    if (accepted_here > 0) {
      result.accepted_nle.insert(result.accepted_nle.end(), moved.accepted_nle.begin(),
                                 moved.accepted_nle.end());
      result.em_iterations += moved.em_iterations;
      result.extrapolations += moved.extrapolations;
      result.converged = moved.converged;
      result.any_accepted = true;
    }
    progress.report(1.0 - 1.0 / (round + 2.0), "trying moves");
    // Split-merge ran to exhaustion just before, and transfers ran until a
    // ranking's trials all failed: when they accepted none, or there is no
    // split-merge to try again after them, neither kind improves the state.
    if (accepted_here == 0 || !split_merge) break;
  }
  return result;
}

}  // namespace fastdmm
