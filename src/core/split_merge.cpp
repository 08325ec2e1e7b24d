// Split-merge moves: each component's split plan, merge-split candidates ranked by promise, and their trials.
#include "split_merge.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "evidence.h"
#include "hash.h"
#include "transfer.h"

namespace fastdmm {

namespace {

// How component k would split (DESIGN.md section 5): its members (z_ik >= 1/2) cut
// in two by 2-means in Hellinger geometry, each half's Dirichlet fitted to its
// members' posterior-weighted histogram (warm started from alpha_k), and the
// gain sum_i z_ik (e_i(half of i) - e_ik) in log-likelihood of scoring each
// member with its half's parameters. A component of two types gains far more
// than a homogeneous one, however deep or sparse its samples; gain is -inf for
// a component that cannot be split.
struct SplitPlan {
  std::vector<std::uint32_t> members;
  HellingerPartition halves;
  std::vector<double> log_alpha;  // the halves' lambda, [h * S + j]
  double gain = -std::numeric_limits<double>::infinity();
};

std::vector<SplitPlan> plan_splits(const Counts& counts, const SquareRootProportions& roots,
                                   const std::vector<std::uint64_t>& fingerprint,
                                   const EmState& state, const std::vector<double>& evidence,
                                   const std::vector<double>& posterior, std::uint64_t seed,
                                   const OptimiserOptions& optimiser, const Executor& executor,
                                   const FitHooks& hooks) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = state.n_components;
  std::vector<SplitPlan> plans(K);
  std::vector<bool> refit(2 * K, false);
  for (std::size_t k = 0; k < K; ++k) {
    SplitPlan& plan = plans[k];
    if (!(state.weights[k] > 0.0)) continue;
    for (std::size_t i = 0; i < N; ++i) {
      if (posterior[i * K + k] >= 0.5) plan.members.push_back(static_cast<std::uint32_t>(i));
    }
    if (plan.members.size() < 2) continue;
    plan.halves = hellinger_kmeans(counts, roots, plan.members, fingerprint, 2,
                                   splitmix64_first(seed ^ splitmix64_first(static_cast<std::uint64_t>(k))), executor,
                                   kSplitLloydRounds, hooks.check_interrupt);
    std::size_t first = 0;
    for (std::uint32_t h : plan.halves.label) first += h == 0 ? 1 : 0;
    if (first == 0 || first == plan.members.size()) continue;
    refit[2 * k] = refit[2 * k + 1] = true;
    hooks.check_interrupt();
  }
  if (std::none_of(refit.begin(), refit.end(), [](bool r) { return r; })) return plans;
  // Both halves of every component in one pass: components 2k and 2k + 1.
  std::vector<double> halves_posterior(N * 2 * K, 0.0);
  for (std::size_t k = 0; k < K; ++k) {
    if (!refit[2 * k]) continue;
    const SplitPlan& plan = plans[k];
    for (std::size_t m = 0; m < plan.members.size(); ++m) {
      const std::size_t i = plan.members[m];
      halves_posterior[i * 2 * K + 2 * k + plan.halves.label[m]] = posterior[i * K + k];
    }
  }
  std::vector<double> log_alpha(2 * K * S);
  for (std::size_t c = 0; c < 2 * K; ++c) {
    std::copy(&state.log_alpha[(c / 2) * S], &state.log_alpha[(c / 2) * S] + S,
              &log_alpha[c * S]);
  }
  {
    const std::vector<ComponentHistograms> histograms =
        component_histograms(counts, halves_posterior, 2 * K, executor);
    halves_posterior = std::vector<double>();
    run_msteps(counts, histograms, log_alpha, optimiser, executor, refit);
  }
  hooks.check_interrupt();
  // A half without a plan keeps its component's lambda, whose column the
  // start's cache holds; the cache takes the 2 K columns when it has room for
  // them beside the state's K.
  ColumnCache* cache = column_cache(state, counts);
  std::vector<double> halves_evidence;
  log_evidence(counts, log_alpha, 2 * K, executor, halves_evidence,
               cache != nullptr && cache->capacity() >= 3 * K ? cache : nullptr);
  for (std::size_t k = 0; k < K; ++k) {
    if (!refit[2 * k]) continue;
    SplitPlan& plan = plans[k];
    double gain = 0.0;
    for (std::size_t m = 0; m < plan.members.size(); ++m) {
      const std::size_t i = plan.members[m];
      gain += posterior[i * K + k] *
              (halves_evidence[i * 2 * K + 2 * k + plan.halves.label[m]] - evidence[i * K + k]);
    }
    plan.gain = gain;
    plan.log_alpha.assign(&log_alpha[2 * k * S], &log_alpha[2 * k * S] + 2 * S);
  }
  return plans;
}

struct Triplet {
  std::size_t merge_first, merge_second, split;
  double predicted;  // merge cost - split gain: the NLE change it promises
  std::size_t merge_rank;
};

// Candidate moves (Ueda et al.), most promising first. Merging a and b costs
// about min(sum_i z_ia (e_ia - e_ib), sum_i z_ib (e_ib - e_ia)): the NLE rise of
// scoring the smaller side's samples with the other's parameters. An empty
// component e is a free slot, "merged" with itself (a = b = e) at no cost, so
// that splitting a component into it is a move too. Splitting k gains
// plan.gain. Both are changes in NLE, so a triplet promises their difference,
// and triplets are tried in order of it (ties: the cheaper merge).
std::vector<Triplet> candidate_moves(const EmState& state, const std::vector<double>& evidence,
                                     const std::vector<double>& posterior,
                                     const std::vector<SplitPlan>& plans) {
  const std::size_t K = state.n_components, N = posterior.size() / K;
  std::vector<std::pair<double, std::pair<std::size_t, std::size_t>>> merges;
  for (std::size_t a = 0; a < K; ++a) {
    if (!(state.weights[a] > 0.0)) {
      merges.push_back({0.0, {a, a}});
      continue;
    }
    for (std::size_t b = a + 1; b < K; ++b) {
      if (!(state.weights[b] > 0.0)) continue;
      double a_to_b = 0.0, b_to_a = 0.0;
      for (std::size_t i = 0; i < N; ++i) {
        const double difference = evidence[i * K + a] - evidence[i * K + b];
        a_to_b += posterior[i * K + a] * difference;
        b_to_a -= posterior[i * K + b] * difference;
      }
      merges.push_back({std::min(a_to_b, b_to_a), {a, b}});
    }
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Triplet> triplets;
  for (std::size_t m = 0; m < merges.size(); ++m) {
    const auto& pair = merges[m].second;
    for (std::size_t k = 0; k < K; ++k) {
      if (k == pair.first || k == pair.second || !std::isfinite(plans[k].gain)) continue;
      triplets.push_back({pair.first, pair.second, k, merges[m].first - plans[k].gain, m});
    }
  }
  std::stable_sort(triplets.begin(), triplets.end(), [](const Triplet& x, const Triplet& y) {
    return x.predicted != y.predicted ? x.predicted < y.predicted : x.merge_rank < y.merge_rank;
  });
  return triplets;
}


// The trial state of `move`: a and b merged into a (the heavier one's
// parameters), k split into b and k (the plan's halves), the three (two for a
// free slot, a == b) refitted by one M-step and the rest kept, then evaluated.
// k's members (z_ik >= 1/2) split as planned; the rest of its mass follows the
// nearer half.
EmState trial_state(const Counts& counts, const SquareRootProportions& roots,
                    const EmState& state, const std::vector<double>& posterior,
                    const SplitPlan& plan, const Triplet& move, const MoveSettings& settings,
                    const Executor& executor) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = state.n_components;
  const std::size_t a = move.merge_first, b = move.merge_second, k = move.split;
  const HellingerCentres half_centres(plan.halves.centres, 2, S);
  std::vector<int> half(N, -1);
  for (std::size_t m = 0; m < plan.members.size(); ++m) {
    half[plan.members[m]] = static_cast<int>(plan.halves.label[m]);
  }
  EmState trial;
  trial.workspace = state.workspace;
  trial.n_components = K;
  trial.posterior = posterior;
  // The nearer half of every other sample with mass on k, in one pass.
  std::vector<std::uint32_t> others;
  for (std::size_t i = 0; i < N; ++i) {
    if (posterior[i * K + k] > 0.0 && half[i] < 0) others.push_back(static_cast<std::uint32_t>(i));
  }
  std::vector<std::uint32_t> nearer(others.size());
  half_centres.nearest(counts, roots, others, executor, nearer.data());
  for (std::size_t m = 0; m < others.size(); ++m) half[others[m]] = static_cast<int>(nearer[m]);
  const bool free_slot = a == b;
  for (std::size_t i = 0; i < N; ++i) {
    if (!free_slot) trial.posterior[i * K + a] = posterior[i * K + a] + posterior[i * K + b];
    const double z = posterior[i * K + k];
    int h = 0;
    if (z > 0.0) h = half[i];
    trial.posterior[i * K + b] = h == 0 ? z : 0.0;
    trial.posterior[i * K + k] = h == 0 ? 0.0 : z;
  }
  trial.log_alpha = state.log_alpha;
  const std::size_t heavier = state.weights[a] >= state.weights[b] ? a : b;
  std::copy(&state.log_alpha[heavier * S], &state.log_alpha[heavier * S] + S,
            &trial.log_alpha[a * S]);
  std::copy(plan.log_alpha.begin(), plan.log_alpha.begin() + S, &trial.log_alpha[b * S]);
  std::copy(plan.log_alpha.begin() + S, plan.log_alpha.end(), &trial.log_alpha[k * S]);
  trial.histograms = component_histograms(counts, trial.posterior, K, executor);
  trial.weights.resize(K);
  for (std::size_t c = 0; c < K; ++c) trial.weights[c] = trial.histograms[c].total;
  std::vector<bool> refit(K, false);
  refit[a] = refit[b] = refit[k] = true;
  trial.unconverged_msteps = state.unconverged_msteps;
  std::vector<unsigned char> converged;
  // The halves' lambdas are the plan's M-steps for (nearly) these members: expected
  // at their optimum. The merged component starts from the heavier one's.
  std::vector<unsigned char> near_optimum(K, 0);
  near_optimum[b] = near_optimum[k] = 1;
  trial.unconverged_msteps += run_msteps(counts, trial.histograms, trial.log_alpha,
                                         settings.optimiser, executor, refit, &converged,
                                         &near_optimum);
  if (settings.optimiser.settled_change >= 0.0) {
    // The kept components keep the state's settled M-steps.
    inherit_settled(state, trial);
    settle_components(trial, refit, converged, S);
  }
  evaluate_state(counts, trial, executor);
  trial.histograms.clear();
  // Every component's parameters are M-steps (the three refitted on the
  // trial's posteriors, the others the state's): nearly an EM iterate, from
  // which EM may stop at its first step if that step changes the NLE by at most
  // the threshold.
  trial.from_em = true;
  return trial;
}

// EM on a trial state: a screening run that stops as soon as the trial cannot
// end below `current_nle`, continued to convergence when it already lies below
// it. Every run keeps within the fit's max_iter.
EmRun run_trial(const Counts& counts, EmState& trial, double current_nle,
                const MoveSettings& settings, const Executor& executor, const FitHooks& hooks) {
  const int max_iterations = settings.em.max_iterations;
  EmSettings race = settings.em;
  race.max_iterations = std::min(settings.screen_iterations, max_iterations);
  race.verbose_iterations = false;
  race.target = current_nle;
  EmRun run = run_em(counts, trial, race, settings.optimiser, executor, hooks);
  const double threshold = convergence_threshold(settings.em, current_nle);
  if (trial.nle < current_nle - threshold && !run.converged && run.iterations < max_iterations) {
    EmSettings rest = settings.em;
    rest.verbose_iterations = false;
    rest.target = current_nle;
    rest.max_iterations = max_iterations - run.iterations;
    EmRun more = run_em(counts, trial, rest, settings.optimiser, executor, hooks);
    run.iterations += more.iterations;
    run.converged = more.converged;
    run.extrapolations += more.extrapolations;
  }
  return run;
}

}  // namespace

MovesResult split_merge_moves(const Counts& counts, const SquareRootProportions& roots,
                              const std::vector<std::uint64_t>& fingerprint, EmState& state,
                              const MoveSettings& settings, const Executor& executor,
                              const FitHooks& hooks, const ProgressRange& progress,
                              const KnownOptima* known,
                              std::unordered_set<std::uint64_t>* failed) {
  const std::size_t K = state.n_components;
  MovesResult result;
  int accepted_moves = 0, rounds = 0;
  bool improved = true;
  while (improved && accepted_moves < settings.max_moves) {
    improved = false;
    const std::vector<double> posterior = state.next_posterior;
    std::vector<double> evidence;
    log_evidence(counts, state.log_alpha, K, executor, evidence, column_cache(state, counts));
    const std::vector<SplitPlan> plans = plan_splits(
        counts, roots, fingerprint, state, evidence, posterior,
        splitmix64_first(settings.seed ^ splitmix64_first(static_cast<std::uint64_t>(++rounds))),
        settings.optimiser, executor, hooks);
    const std::vector<Triplet> triplets = candidate_moves(state, evidence, posterior, plans);
    evidence = std::vector<double>();
    // A trial's key: the members of its merged components and of the one it
    // splits, and the split's first half (sums of the members' keys, so that
    // the components' numbers do not matter).
    const std::vector<std::uint64_t> members_key =
        failed != nullptr ? member_keys(arg_max_labels(posterior, K), K)
                          : std::vector<std::uint64_t>();
    const auto trial_key = [&](const Triplet& move) {
      const SplitPlan& plan = plans[move.split];
      std::uint64_t half = 0;
      for (std::size_t m = 0; m < plan.members.size(); ++m) {
        if (plan.halves.label[m] == 0) half += splitmix64_first(plan.members[m]);
      }
      std::uint64_t h = splitmix64_finalise(members_key[move.merge_first] + 0x6d65726765ULL);
      h = splitmix64_finalise(h + (move.merge_first == move.merge_second
                                       ? 0 : members_key[move.merge_second]));
      h = splitmix64_finalise(h + members_key[move.split]);
      return splitmix64_finalise(h + half);
    };
    int tried = 0;
    for (const Triplet& move : triplets) {
      if (tried >= settings.max_tries) break;
      const std::size_t a = move.merge_first, b = move.merge_second, k = move.split;
      ++tried;
      progress.report((accepted_moves * settings.max_tries + tried - 1.0) /
                          (std::max(1, settings.max_moves) * settings.max_tries),
                      "trying split-merge moves");
      const std::uint64_t key = failed != nullptr ? trial_key(move) : 0;
      if (failed != nullptr && failed->count(key) != 0) continue;
      EmState trial = trial_state(counts, roots, state, posterior, plans[k], move, settings,
                                  executor);
      MoveRecord record;
      record.merge_first = static_cast<int>(a);
      record.merge_second = static_cast<int>(b);
      record.split = static_cast<int>(k);
      record.nle_before = state.nle;
      const EmRun run = run_trial(counts, trial, state.nle, settings, executor, hooks);
      const double threshold = convergence_threshold(settings.em, state.nle);
      result.total_em_iterations += run.iterations;
      record.nle_after = trial.nle;
      record.em_iterations = run.iterations;
      record.accepted = trial.nle < state.nle - threshold;
      result.moves.push_back(record);
      if (hooks.verbose) {
        hooks.message((a == b ? format_message("  empty %.0f", a + 1.0)
                              : format_message("  merge %.0f+%.0f", a + 1.0, b + 1.0)) +
                      format_message(", split %.0f: NLE %.4f -> %.4f", k + 1.0, state.nle,
                                     trial.nle) +
                      (record.accepted ? " (accepted)" : " (rejected)"));
      }
      if (!record.accepted && failed != nullptr) failed->insert(key);
      if (record.accepted) {
        state = std::move(trial);
        result.add(state.nle, run);
        ++accepted_moves;
        improved = true;
        if (reached_known_optimum(known, state, result)) return result;
        break;
      }
    }
  }
  return result;
}

}  // namespace fastdmm
