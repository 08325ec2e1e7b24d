// The local search: split-merge moves, transfers and re-splits in rounds until none improves the state; kicks that restart it from a perturbed state.
#include "moves.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "hash.h"

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

// Index `draw` (mod K - 1) among the components other than `skip`.
std::size_t other_component(std::uint64_t draw, std::size_t skip, std::size_t K) {
  const std::size_t o = static_cast<std::size_t>(draw % (K - 1));
  return o >= skip ? o + 1 : o;
}

}  // namespace

void append_search(LocalSearchResult& into, const LocalSearchResult& later) {
  into.trials.insert(into.trials.end(), later.trials.begin(), later.trials.end());
  into.total_em_iterations += later.total_em_iterations;
  for (int kind = 0; kind < kMoveKinds; ++kind) {
    into.tried[kind] += later.tried[kind];
    into.accepted[kind] += later.accepted[kind];
  }
  if (later.any_accepted) {
    into.add(later);
    into.any_accepted = true;
  }
  into.at_local_optimum = later.at_local_optimum;
}

LocalSearchResult local_search(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint64_t>& fingerprint, EmState& state,
                               const LocalSearchSettings& settings, const Executor& executor,
                               const FitHooks& hooks, const ProgressRange& progress,
                               TransferMemo* transfers_failed, const KnownOptima* known) {
  LocalSearchResult result;
  const std::size_t K = state.n_components;
  const bool split_merge = settings.split_merge && K >= 3;
  const bool transfers = settings.transfers && K >= 2;
  const bool resplits = settings.resplits && K >= 3;
  // The pools re-splits tried, kept across rounds: an unchanged pool would be
  // divided the same way again.
  std::vector<std::uint64_t> resplit_tried;
  // The transfers that failed, kept across rounds for the same reason.
  TransferMemo own_failed;
  if (transfers_failed == nullptr) transfers_failed = &own_failed;
  // Transfers divide their groups' bisection trees in the samples' geometry.
  TransferSettings transfer_settings = settings.transfer_settings;
  transfer_settings.fingerprint = &fingerprint;
  transfer_settings.roots = &roots;
  for (int round = 0; round < settings.max_rounds; ++round) {
    // Whether every kind this round stopped because its candidates failed.
    bool exhausted = true;
    if (split_merge) {
      MovesResult moves = split_merge_moves(counts, roots, fingerprint, state,
                                            settings.split_merge_settings, executor, hooks,
                                            progress.part(0.0, 0.5), known,
                                            &transfers_failed->split_merge_failed);
      result.total_em_iterations += moves.total_em_iterations;
      add_trials(result, moves.moves, moves);
      const int most = settings.split_merge_settings.max_moves;
      exhausted = most <= 0 || static_cast<int>(moves.accepted_nle.size()) < most;
      if (moves.at_known_optimum) {
        result.at_known_optimum = true;
        break;
      }
    }
    std::size_t transferred = 0;
    if (transfers) {
      const TransferResult moved =
          transfer_moves(counts, state, transfer_settings, executor, hooks,
                         transfers_failed, known);
      for (const TransferRecord& r : moved.trials) result.total_em_iterations += r.em_iterations;
      transferred = add_trials(result, moved.trials, moved);
      exhausted = exhausted && moved.exhausted;
      if (moved.at_known_optimum) {
        result.at_known_optimum = true;
        break;
      }
    }
    progress.report(1.0 - 1.0 / (round + 2.0), "trying moves");
    // Split-merge ran to exhaustion just before, and transfers ran until a
    // ranking's trials all failed: when transfers changed the state, split-merge
    // may find new moves on it.
    if (transferred > 0 && split_merge) continue;
    if (!resplits) {
      result.at_local_optimum = exhausted;
      break;
    }
    const ResplitResult resplit =
        resplit_moves(counts, state, settings.resplit_settings, fingerprint, resplit_tried,
                      executor, hooks, known);
    result.total_em_iterations += resplit.total_em_iterations;
    const std::size_t accepted = add_trials(result, resplit.trials, resplit);
    if (resplit.at_known_optimum) {
      result.at_known_optimum = true;
      break;
    }
    // No re-split improves the state, and the other kinds ran to exhaustion on it.
    if (accepted == 0) {
      result.at_local_optimum = exhausted;
      break;
    }
  }
  return result;
}

void kick_search(const Counts& counts, const SquareRootProportions& roots,
                 const std::vector<std::uint64_t>& fingerprint, EmState& state,
                 const LocalSearchSettings& moves, const KickSettings& kicks,
                 const Executor& executor, const FitHooks& hooks, LocalSearchResult& result,
                 TransferMemo* transfers_failed, const AfterKick& after_kick) {
  const std::size_t K = state.n_components, N = counts.n_samples, S = counts.n_taxa;
  if (kicks.max_failures <= 0 || K < 2 || N < 2) return;
  const OptimiserOptions& optimiser = kicks.optimiser;
  const FitHooks quiet_hooks = [&hooks] {
    FitHooks quiet;
    quiet.check_interrupt = hooks.check_interrupt;
    return quiet;
  }();
  // The state and every kicked descent's end, where their searches ended at a
  // local optimum of the moves; a kicked descent that comes back to one stops
  // there.
  KnownOptima known(kicks.tolerance);
  if (result.at_local_optimum) known.add(state);
  int failures = 0;
  for (std::uint64_t j = 0; failures < kicks.max_failures; ++j) {
    hooks.check_interrupt();
    const std::uint64_t key = splitmix64_first(kicks.seed ^ splitmix64_first(j + 0x6b69636bULL));
    const std::size_t a = static_cast<std::size_t>(key % K);
    const std::size_t c = other_component(key >> 32, a, K);
    std::vector<std::size_t> label = arg_max_labels(state.next_posterior, K);
    const std::vector<std::size_t> before = label;
    for (std::size_t i = 0; i < N; ++i) {
      if (label[i] == a) label[i] = other_component(splitmix64_first(fingerprint[i] ^ key), a, K);
    }
    std::vector<std::uint32_t> pool;
    for (std::size_t i = 0; i < N; ++i) {
      if (label[i] == c) pool.push_back(static_cast<std::uint32_t>(i));
    }
    MoveTrial trial;
    trial.kind = MoveKind::kick;
    trial.first = static_cast<int>(a);
    trial.second = static_cast<int>(c);
    trial.nle_before = state.nle;
    trial.nle_after = std::numeric_limits<double>::quiet_NaN();  // a kick that split nothing
    bool split = false;
    if (pool.size() >= 2) {
      const HellingerPartition halves =
          hellinger_kmeans(counts, roots, pool, fingerprint, 2, splitmix64_first(key ^ 0x73706c6974ULL),
                           executor, kSplitLloydRounds, hooks.check_interrupt);
      std::size_t second = 0;
      for (std::size_t m = 0; m < pool.size(); ++m) {
        if (halves.label[m] == 1) {
          label[pool[m]] = a;
          ++second;
        }
      }
      split = second > 0 && second < pool.size();
    }
    std::vector<double> weights(K, 0.0);
    for (std::size_t i = 0; i < N; ++i) weights[label[i]] += 1.0;
    split = split && std::all_of(weights.begin(), weights.end(), [](double w) { return w > 0.0; });
    // The same partition again, or with a and c swapped, is no kick.
    const auto same_up_to = [&](std::size_t x, std::size_t y) {
      for (std::size_t i = 0; i < N; ++i) {
        const std::size_t was = before[i] == x ? y : before[i] == y ? x : before[i];
        if (label[i] != was) return false;
      }
      return true;
    };
    split = split && !same_up_to(a, a) && !same_up_to(a, c);
    if (split) {
      for (std::size_t i = 0; i < N; ++i) trial.samples += label[i] != before[i] ? 1 : 0;
      EmState kicked;
      kicked.workspace = state.workspace;
      kicked.n_components = K;
      kicked.posterior.assign(N * K, 0.0);
      for (std::size_t i = 0; i < N; ++i) kicked.posterior[i * K + label[i]] = 1.0;
      kicked.log_alpha = state.log_alpha;
      std::copy(&state.log_alpha[c * S], &state.log_alpha[c * S] + S, &kicked.log_alpha[a * S]);
      kicked.histograms = component_histograms(counts, kicked.posterior, K, executor);
      kicked.weights = weights;
      // Components the kick left as they were keep the state's settled M-steps.
      std::vector<bool> refit;
      if (optimiser.settled_change >= 0.0) {
        inherit_settled(state, kicked);
        refit = components_to_refit(kicked, kicked.posterior, optimiser.settled_change, S);
      }
      std::vector<unsigned char> converged;
      kicked.unconverged_msteps = run_msteps(counts, kicked.histograms, kicked.log_alpha,
                                             optimiser, executor, refit, &converged);
      if (optimiser.settled_change >= 0.0) settle_components(kicked, refit, converged, S);
      evaluate_state(counts, kicked, executor);
      kicked.histograms.clear();
      // Its parameters are M-steps on the kicked posteriors: an EM iterate.
      kicked.from_em = true;
      EmSettings quiet_em = kicks.em;
      quiet_em.verbose_iterations = false;
      const EmRun run = run_em(counts, kicked, quiet_em, optimiser, executor, quiet_hooks);
      const LocalSearchResult inner =
          known.contains(kicked)
              ? LocalSearchResult()
              : local_search(counts, roots, fingerprint, kicked, moves, executor, quiet_hooks,
                             ProgressRange{&quiet_hooks, 0.0, 1.0}, transfers_failed, &known);
      if (inner.at_local_optimum) known.add(kicked);
      trial.em_iterations = run.iterations + inner.em_iterations;
      result.total_em_iterations += run.iterations + inner.total_em_iterations;
      trial.nle_after = kicked.nle;
      if (kicked.nle < state.nle - kicks.tolerance * std::fabs(state.nle)) {
        trial.accepted = true;
        EmRun whole = run;
        whole.iterations += inner.em_iterations;
        whole.extrapolations += inner.extrapolations;
        whole.converged = inner.any_accepted ? inner.converged : run.converged;
        result.add(kicked.nle, whole);
        result.any_accepted = true;
        result.at_local_optimum = inner.at_local_optimum;
        state = std::move(kicked);
      }
    }
    result.trials.push_back(trial);
    ++result.tried[static_cast<int>(MoveKind::kick)];
    if (trial.accepted) {
      ++result.accepted[static_cast<int>(MoveKind::kick)];
      failures = 0;
    } else {
      ++failures;
    }
    if (after_kick && after_kick(state, result, trial.accepted)) return;
  }
}

}  // namespace fastdmm
