// Starts, em-EM screening and split-merge moves around the EM building block (design section 5).
#include "search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "evidence.h"
#include "kmeans.h"
#include "start.h"

namespace fastdmm {

namespace {

const char* kind_name(StartKind kind) {
  switch (kind) {
    case StartKind::reference: return "reference";
    case StartKind::kmeanspp: return "kmeans++";
    case StartKind::given: return "given";
  }
  return "?";
}

std::string format_line(const char* format, double a, double b = 0.0, double c = 0.0) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, format, a, b, c);
  return buffer;
}

// True when `candidate` is lower than `incumbent` by more than rounding: NLEs
// within 1e-9 relative are ties, which go to the earlier candidate.
bool clearly_lower(double candidate, double incumbent) {
  return candidate < incumbent - 1e-9 * std::fabs(incumbent);
}

struct Candidate {
  std::size_t start = 0;
  EmState state;
  EmRun run;
};

// Sum over samples of x_ij log(x_ij / J_i): the log-likelihood of the saturated
// multinomial, against which a component's fit of a sample is measured.
std::vector<double> saturated_log_likelihood(const Counts& counts, const Executor& executor) {
  std::vector<double> saturated(counts.n_samples);
  executor.parallel_for(counts.n_samples, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      double sum = 0.0;
      for (std::size_t e = counts.row_ptr[i]; e < counts.row_ptr[i + 1]; ++e) {
        const double x = counts.row_count(e);
        sum += x * std::log(x / counts.depth[i]);
      }
      saturated[i] = sum;
    }
  }, kSampleGrain);
  return saturated;
}

struct Triplet {
  std::size_t merge_first, merge_second, split;
  std::size_t merge_rank, split_rank;
};

// Candidate moves in Ueda et al.'s order. Merging a and b costs about
// min(sum_i z_ia (e_ia - e_ib), sum_i z_ib (e_ib - e_ia)): the NLE rise of
// scoring the smaller side's samples with the other's parameters; the lowest
// cost merges first. A component's split score is its members' mean excess
// sum_i z_ik (s_i - e_ik) / W_k over the saturated multinomial s_i (a local
// Kullback-Leibler divergence); the worst fit splits first. Triplets are ordered
// by the sum of the two ranks.
std::vector<Triplet> candidate_moves(const Counts& counts, const EmState& state,
                                     const std::vector<double>& posterior,
                                     const std::vector<double>& saturated) {
  const std::size_t N = counts.n_samples, K = state.n_components;
  std::vector<std::pair<double, std::pair<std::size_t, std::size_t>>> merges;
  for (std::size_t a = 0; a < K; ++a) {
    for (std::size_t b = a + 1; b < K; ++b) {
      if (!(state.weights[a] > 0.0) || !(state.weights[b] > 0.0)) continue;
      double a_to_b = 0.0, b_to_a = 0.0;
      for (std::size_t i = 0; i < N; ++i) {
        const double difference = state.evidence[a * N + i] - state.evidence[b * N + i];
        a_to_b += posterior[a * N + i] * difference;
        b_to_a -= posterior[b * N + i] * difference;
      }
      merges.push_back({std::min(a_to_b, b_to_a), {a, b}});
    }
  }
  std::stable_sort(merges.begin(), merges.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::pair<double, std::size_t>> splits;
  for (std::size_t k = 0; k < K; ++k) {
    if (!(state.weights[k] > 0.0)) continue;
    double excess = 0.0;
    for (std::size_t i = 0; i < N; ++i) {
      excess += posterior[k * N + i] * (saturated[i] - state.evidence[k * N + i]);
    }
    splits.push_back({excess / state.weights[k], k});
  }
  std::stable_sort(splits.begin(), splits.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<Triplet> triplets;
  for (std::size_t m = 0; m < merges.size(); ++m) {
    for (std::size_t s = 0; s < splits.size(); ++s) {
      const std::size_t k = splits[s].second;
      const auto& pair = merges[m].second;
      if (k == pair.first || k == pair.second) continue;
      triplets.push_back({pair.first, pair.second, k, m, s});
    }
  }
  std::stable_sort(triplets.begin(), triplets.end(), [](const Triplet& x, const Triplet& y) {
    const std::size_t rx = x.merge_rank + x.split_rank, ry = y.merge_rank + y.split_rank;
    return rx != ry ? rx < ry : x.merge_rank < y.merge_rank;
  });
  return triplets;
}

}  // namespace

SearchResult search_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                        const SearchOptions& options, const Executor& executor,
                        const FitHooks& hooks) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = options.n_components;
  SearchResult result;
  result.starts.resize(starts.size());

  bool need_fingerprints = options.split_merge;
  for (const auto& start : starts) need_fingerprints |= start.kind == StartKind::kmeanspp;
  const std::vector<std::uint64_t> fingerprint =
      need_fingerprints ? sample_fingerprints(counts, executor) : std::vector<std::uint64_t>();
  const SquareRootProportions roots =
      need_fingerprints ? SquareRootProportions(counts) : SquareRootProportions(Counts());
  const bool single = starts.size() == 1;

  const auto initialise = [&](const StartSpec& start, StartRecord& record) {
    std::vector<double> posterior, centres;
    if (start.kind == StartKind::reference) {
      if (hooks.verbose && single) hooks.message("  Soft kmeans");
      KmeansResult soft = soft_kmeans(
          counts, K, start.seed, executor, options.kmeans_max_iterations,
          options.kmeans_tolerance, [&](int iteration, double change) {
            if (hooks.verbose && single && iteration % 10 == 0) {
              hooks.message(format_line("    iteration %.0f change %f", iteration, change));
            }
            hooks.check_interrupt();
          });
      record.kmeans_iterations = soft.iterations;
      posterior = std::move(soft.posterior);
      centres = std::move(soft.centres);
    } else {
      if (start.kind == StartKind::kmeanspp) {
        HellingerPartition partition =
            hellinger_kmeans(counts, roots, {}, fingerprint, K, start.seed, executor);
        record.kmeans_iterations = partition.iterations;
        posterior = posterior_from_labels(partition.label, K);
      } else {
        posterior = start.posterior;
      }
      centres = proportion_centres(counts, posterior, K, executor);
    }
    hooks.check_interrupt();
    if (hooks.verbose && single) hooks.message("  Expectation Maximization setup");
    EmState state = state_from_posterior(counts, K, std::move(posterior), centres,
                                         options.optimiser, executor);
    record.start_nle = state.nle;
    hooks.check_interrupt();
    return state;
  };

  EmSettings full = options.em;
  full.verbose_iterations = single;
  EmSettings screen = options.em;
  screen.max_iterations = options.screen_iterations;
  screen.verbose_iterations = false;
  const bool screening = starts.size() > options.n_continue;
  const double nan = std::nan("");

  // Screening keeps only the n_continue best states in memory.
  std::vector<Candidate> kept;
  for (std::size_t s = 0; s < starts.size(); ++s) {
    StartRecord& record = result.starts[s];
    record.kind = starts[s].kind;
    record.seed = starts[s].seed;
    record.screen_nle = nan;
    record.final_nle = nan;
    Candidate candidate;
    candidate.start = s;
    candidate.state = initialise(starts[s], record);
    if (screening) {
      // A start whose NLE cannot fall below the last kept start's stops early.
      // A start whose NLE cannot fall below the best start's so far stops early:
      // the best one's NLE only falls further.
      EmSettings race = screen;
      if (!kept.empty()) race.target = kept.front().state.nle;
      candidate.run = run_em(counts, candidate.state, race, options.optimiser, executor, hooks);
      record.abandoned = candidate.run.abandoned;
      record.screen_nle = candidate.state.nle;
      record.em_iterations = candidate.run.iterations;
      record.converged = candidate.run.converged;
      result.total_em_iterations += candidate.run.iterations;
      if (hooks.verbose) {
        hooks.message(format_line("  start %.0f: NLE %.4f after screening", s + 1.0,
                                  candidate.state.nle) +
                      " (" + kind_name(starts[s].kind) + ")");
      }
      // Drop the histograms: the next E-step rebuilds them.
      candidate.state.histograms.clear();
      std::size_t position = kept.size();
      while (position > 0 && clearly_lower(candidate.state.nle, kept[position - 1].state.nle)) {
        --position;
      }
      if (position < options.n_continue) {
        kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(position), std::move(candidate));
        if (kept.size() > options.n_continue) kept.pop_back();
      }
    } else {
      kept.push_back(std::move(candidate));
    }
  }

  if (hooks.verbose && single) hooks.message("  Expectation Maximization");
  std::size_t best = 0;
  for (std::size_t c = 0; c < kept.size(); ++c) {
    Candidate& candidate = kept[c];
    StartRecord& record = result.starts[candidate.start];
    record.continued = true;
    // The best screened start runs to convergence; the others only while they
    // can still end below the best so far (kept is in order of screened NLE).
    EmSettings race = full;
    if (c > 0) race.target = kept[best].state.nle;
    const std::vector<double>& trace = candidate.run.nle_trace;
    const std::size_t n = trace.size();
    if (c > 0 && n >= 3 &&
        aitken_limit(trace[n - 3], trace[n - 2], trace[n - 1]) >
            race.target + convergence_threshold(full, race.target)) {
      record.abandoned = true;
    } else if (!(screening && candidate.run.converged)) {
      EmRun more = run_em(counts, candidate.state, race, options.optimiser, executor, hooks);
      record.abandoned = more.abandoned;
      candidate.run.iterations += more.iterations;
      candidate.run.converged = more.converged;
      candidate.run.extrapolations += more.extrapolations;
      candidate.run.nle_trace.insert(candidate.run.nle_trace.end(), more.nle_trace.begin(),
                                     more.nle_trace.end());
      result.total_em_iterations += more.iterations;
    }
    record.final_nle = candidate.state.nle;
    record.em_iterations = candidate.run.iterations;
    record.converged = candidate.run.converged;
    if (hooks.verbose && !single) {
      hooks.message(format_line("  start %.0f: NLE %.4f after %.0f iterations",
                                candidate.start + 1.0, candidate.state.nle,
                                candidate.run.iterations));
    }
    // Ties go to the earlier start.
    if (c > 0) {
      const Candidate& incumbent = kept[best];
      const bool lower = clearly_lower(candidate.state.nle, incumbent.state.nle);
      const bool tie = !lower && !clearly_lower(incumbent.state.nle, candidate.state.nle);
      if (lower || (tie && candidate.start < incumbent.start)) best = c;
    }
  }
  Candidate chosen = std::move(kept[best]);
  kept.clear();
  result.best_start = chosen.start;
  result.kmeans_iterations = result.starts[chosen.start].kmeans_iterations;
  result.nle_trace = std::move(chosen.run.nle_trace);
  result.em_iterations = chosen.run.iterations;
  result.extrapolations = chosen.run.extrapolations;
  result.converged = chosen.run.converged;
  EmState state = std::move(chosen.state);

  if (options.split_merge && K >= 3) {
    const std::vector<double> saturated = saturated_log_likelihood(counts, executor);
    int accepted_moves = 0, tries = 0;
    bool improved = true;
    while (improved && accepted_moves < options.max_moves) {
      improved = false;
      std::vector<double> posterior;
      posterior_from_evidence(state.evidence, state.weights, N, executor, posterior);
      const std::vector<Triplet> triplets = candidate_moves(counts, state, posterior, saturated);
      int tried = 0;
      for (const Triplet& move : triplets) {
        if (tried >= options.max_tries) break;
        const std::size_t a = move.merge_first, b = move.merge_second, k = move.split;
        // Split k's members (z_ik >= 1/2) by 2-means in Hellinger geometry; the
        // rest of its mass follows the nearer half.
        std::vector<std::uint32_t> members;
        for (std::size_t i = 0; i < N; ++i) {
          if (posterior[k * N + i] >= 0.5) members.push_back(static_cast<std::uint32_t>(i));
        }
        if (members.size() < 2) continue;
        ++tried;
        ++tries;
        const HellingerPartition halves = hellinger_kmeans(
            counts, roots, members, fingerprint, 2,
            mix64(options.seed ^ mix64(static_cast<std::uint64_t>(tries))), executor);
        const HellingerCentres half_centres(halves.centres, 2, S);
        std::vector<int> half(N, -1);
        for (std::size_t m = 0; m < members.size(); ++m) {
          half[members[m]] = static_cast<int>(halves.label[m]);
        }
        EmState trial;
        trial.n_components = K;
        trial.posterior = posterior;
        std::size_t first_half = 0;
        for (std::size_t i = 0; i < N; ++i) {
          trial.posterior[a * N + i] = posterior[a * N + i] + posterior[b * N + i];
          const double z = posterior[k * N + i];
          int h = 0;
          if (z > 0.0) {
            h = half[i] >= 0 ? half[i] : static_cast<int>(half_centres.nearest(counts, roots, i));
          }
          trial.posterior[b * N + i] = h == 0 ? z : 0.0;
          trial.posterior[k * N + i] = h == 0 ? 0.0 : z;
          first_half += (half[i] == 0) ? 1 : 0;
        }
        MoveRecord record;
        record.merge_first = static_cast<int>(a);
        record.merge_second = static_cast<int>(b);
        record.split = static_cast<int>(k);
        record.nle_before = state.nle;
        if (first_half == 0 || first_half == members.size()) {
          record.nle_after = nan;
          result.moves.push_back(record);
          continue;
        }
        // The merged component starts from the heavier one's parameters, both
        // halves from the split one's; the three are refitted, the rest kept.
        trial.log_alpha = state.log_alpha;
        const std::size_t heavier = state.weights[a] >= state.weights[b] ? a : b;
        std::copy(&state.log_alpha[heavier * S], &state.log_alpha[heavier * S] + S,
                  &trial.log_alpha[a * S]);
        std::copy(&state.log_alpha[k * S], &state.log_alpha[k * S] + S, &trial.log_alpha[b * S]);
        trial.histograms = component_weights(counts, trial.posterior, K, executor);
        trial.weights.resize(K);
        for (std::size_t c = 0; c < K; ++c) trial.weights[c] = trial.histograms[c].total;
        std::vector<bool> refit(K, false);
        refit[a] = refit[b] = refit[k] = true;
        trial.unconverged_msteps = state.unconverged_msteps;
        trial.unconverged_msteps += run_msteps(counts, trial.histograms, trial.log_alpha,
                                               options.optimiser, executor, refit);
        evaluate_state(counts, trial, executor);
        trial.histograms.clear();
        // A trial stops as soon as it cannot end below the current NLE.
        EmSettings race = screen;
        race.target = state.nle;
        EmRun run = run_em(counts, trial, race, options.optimiser, executor, hooks);
        const double threshold = convergence_threshold(options.em, state.nle);
        if (trial.nle < state.nle - threshold && !run.converged) {
          EmSettings rest = options.em;
          rest.verbose_iterations = false;
          rest.target = state.nle;
          EmRun more = run_em(counts, trial, rest, options.optimiser, executor, hooks);
          run.iterations += more.iterations;
          run.converged = more.converged;
          run.extrapolations += more.extrapolations;
        }
        result.total_em_iterations += run.iterations;
        record.nle_after = trial.nle;
        record.em_iterations = run.iterations;
        record.accepted = trial.nle < state.nle - threshold;
        result.moves.push_back(record);
        if (hooks.verbose) {
          hooks.message(format_line("  merge %.0f+%.0f", a + 1.0, b + 1.0) +
                        format_line(", split %.0f: NLE %.4f -> %.4f", k + 1.0, state.nle,
                                    trial.nle) +
                        (record.accepted ? " (accepted)" : " (rejected)"));
        }
        if (record.accepted) {
          state = std::move(trial);
          result.nle_trace.push_back(state.nle);
          result.em_iterations += run.iterations;
          result.extrapolations += run.extrapolations;
          result.converged = run.converged;
          ++accepted_moves;
          improved = true;
          break;
        }
      }
    }
  }

  if (hooks.verbose) hooks.message("  Hessian");
  result.fit = finish_fit(counts, std::move(state), options.reference_hessian, executor);
  return result;
}

}  // namespace fastdmm
