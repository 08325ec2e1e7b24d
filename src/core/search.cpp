// Starts, em-EM screening and split-merge moves around the EM building block (design section 5).
#include "search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "evidence.h"
#include "build_counts.h"
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
                                     const std::vector<double>& evidence,
                                     const std::vector<double>& posterior,
                                     const std::vector<double>& saturated) {
  const std::size_t N = counts.n_samples, K = state.n_components;
  std::vector<std::pair<double, std::pair<std::size_t, std::size_t>>> merges;
  for (std::size_t a = 0; a < K; ++a) {
    for (std::size_t b = a + 1; b < K; ++b) {
      if (!(state.weights[a] > 0.0) || !(state.weights[b] > 0.0)) continue;
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
  std::vector<std::pair<double, std::size_t>> splits;
  for (std::size_t k = 0; k < K; ++k) {
    if (!(state.weights[k] > 0.0)) continue;
    double excess = 0.0;
    for (std::size_t i = 0; i < N; ++i) {
      excess += posterior[i * K + k] * (saturated[i] - evidence[i * K + k]);
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

namespace {

// Progress of one part of the search, reported as a share of the whole.
struct ProgressRange {
  const FitHooks* hooks;
  double from, to;
  void report(double fraction, const char* phase) const {
    hooks->progress(from + (to - from) * std::min(1.0, std::max(0.0, fraction)), phase);
  }
  ProgressRange part(double a, double b) const {
    return {hooks, from + (to - from) * a, from + (to - from) * b};
  }
};

// Runs EM as run_em() does, reporting each iteration as progress towards an end
// that is not known in advance (1 - 0.9^iterations of the range).
EmRun run_em_reporting(const Counts& counts, EmState& state, const EmSettings& settings,
                       const OptimiserOptions& options, const Executor& executor,
                       const FitHooks& hooks, const ProgressRange& progress,
                       const char* phase) {
  FitHooks reporting = hooks;
  int done = 0;
  reporting.check_interrupt = [&hooks, &progress, &done, phase] {
    hooks.check_interrupt();
    ++done;
    progress.report(1.0 - std::pow(0.9, done), phase);
  };
  return run_em(counts, state, settings, options, executor, reporting);
}

// What searching one table gives: its best state and the records of the way there
// (SearchResult without `fit`).
EmState search_table(const Counts& counts, const std::vector<StartSpec>& starts,
                     const SearchOptions& options, const Executor& executor,
                     const FitHooks& hooks, const ProgressRange& progress,
                     SearchResult& result) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = options.n_components;
  result.starts.assign(starts.size(), StartRecord());
  result.moves.clear();

  bool need_fingerprints = options.split_merge;
  for (const auto& start : starts) need_fingerprints |= start.kind == StartKind::kmeanspp;
  const std::vector<std::uint64_t> fingerprint =
      need_fingerprints ? sample_fingerprints(counts, executor) : std::vector<std::uint64_t>();
  const SquareRootProportions roots =
      need_fingerprints ? SquareRootProportions(counts) : SquareRootProportions(Counts());
  hooks.check_interrupt();
  const bool single = starts.size() == 1;
  const int max_iterations = options.em.max_iterations;

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
        HellingerPartition partition = hellinger_kmeans(counts, roots, {}, fingerprint, K,
                                                        start.seed, executor, 100,
                                                        hooks.check_interrupt);
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

  // max_iter bounds every EM run of the search: a start's screening and
  // continuation together, and each split-merge trial.
  EmSettings full = options.em;
  full.verbose_iterations = single;
  EmSettings screen = options.em;
  screen.max_iterations = std::min(options.screen_iterations, max_iterations);
  screen.verbose_iterations = false;
  const bool screening = starts.size() > options.n_continue;
  const double nan = std::nan("");
  const ProgressRange screening_progress = progress.part(0.0, screening ? 0.4 : 0.0);
  const ProgressRange continuing = progress.part(screening ? 0.4 : 0.0, 0.75);
  const ProgressRange moving = progress.part(0.75, 1.0);

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
      screening_progress.report((s + 1.0) / starts.size(), "screening starts");
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
    race.max_iterations = max_iterations - candidate.run.iterations;
    if (c > 0) race.target = kept[best].state.nle;
    const std::vector<double>& trace = candidate.run.nle_trace;
    const std::size_t n = trace.size();
    const ProgressRange this_run = continuing.part(static_cast<double>(c) / kept.size(),
                                                   (c + 1.0) / kept.size());
    if (c > 0 && n >= 3 &&
        aitken_limit(trace[n - 3], trace[n - 2], trace[n - 1]) >
            race.target + convergence_threshold(full, race.target)) {
      record.abandoned = true;
    } else if (!candidate.run.converged && race.max_iterations > 0) {
      EmRun more = run_em_reporting(counts, candidate.state, race, options.optimiser, executor,
                                    hooks, this_run, "running starts on");
      record.abandoned = more.abandoned;
      candidate.run.iterations += more.iterations;
      candidate.run.converged = more.converged;
      candidate.run.extrapolations += more.extrapolations;
      candidate.run.nle_trace.insert(candidate.run.nle_trace.end(), more.nle_trace.begin(),
                                     more.nle_trace.end());
      result.total_em_iterations += more.iterations;
    }
    this_run.report(1.0, "running starts on");
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
      const std::vector<double> posterior = state.next_posterior;
      std::vector<double> evidence;
      log_evidence(counts, state.log_alpha, K, executor, evidence);
      const std::vector<Triplet> triplets =
          candidate_moves(counts, state, evidence, posterior, saturated);
      evidence = std::vector<double>();
      int tried = 0;
      for (const Triplet& move : triplets) {
        if (tried >= options.max_tries) break;
        const std::size_t a = move.merge_first, b = move.merge_second, k = move.split;
        // Split k's members (z_ik >= 1/2) by 2-means in Hellinger geometry; the
        // rest of its mass follows the nearer half.
        std::vector<std::uint32_t> members;
        for (std::size_t i = 0; i < N; ++i) {
          if (posterior[i * K + k] >= 0.5) members.push_back(static_cast<std::uint32_t>(i));
        }
        if (members.size() < 2) continue;
        ++tried;
        ++tries;
        moving.report((accepted_moves * options.max_tries + tried - 1.0) /
                          (std::max(1, options.max_moves) * options.max_tries),
                      "trying split-merge moves");
        const HellingerPartition halves = hellinger_kmeans(
            counts, roots, members, fingerprint, 2,
            mix64(options.seed ^ mix64(static_cast<std::uint64_t>(tries))), executor, 100,
            hooks.check_interrupt);
        const HellingerCentres half_centres(halves.centres, 2, S);
        std::vector<int> half(N, -1);
        for (std::size_t m = 0; m < members.size(); ++m) {
          half[members[m]] = static_cast<int>(halves.label[m]);
        }
        EmState trial;
        trial.workspace = state.workspace;
        trial.n_components = K;
        trial.posterior = posterior;
        std::size_t first_half = 0;
        for (std::size_t i = 0; i < N; ++i) {
          trial.posterior[i * K + a] = posterior[i * K + a] + posterior[i * K + b];
          const double z = posterior[i * K + k];
          int h = 0;
          if (z > 0.0) {
            h = half[i] >= 0 ? half[i] : static_cast<int>(half_centres.nearest(counts, roots, i));
          }
          trial.posterior[i * K + b] = h == 0 ? z : 0.0;
          trial.posterior[i * K + k] = h == 0 ? 0.0 : z;
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
        if (trial.nle < state.nle - threshold && !run.converged &&
            run.iterations < max_iterations) {
          EmSettings rest = options.em;
          rest.verbose_iterations = false;
          rest.target = state.nle;
          rest.max_iterations = max_iterations - run.iterations;
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
  progress.report(1.0, "search done");
  return state;
}

// The samples the search works on (design section 7): those whose keys
// mix64(fingerprint ^ seed key) are among the `size` smallest, in increasing row
// order. Keys follow content, so the same samples are chosen whatever the order
// of the rows; identical samples share a key and are taken or left together.
std::vector<std::uint32_t> choose_subsample(const std::vector<std::uint64_t>& fingerprint,
                                            std::size_t size, std::uint32_t seed) {
  const std::size_t N = fingerprint.size();
  const std::uint64_t seed_key = mix64(0x5ab5a3b1e5ULL ^ static_cast<std::uint64_t>(seed));
  std::vector<std::uint64_t> keys(N);
  for (std::size_t i = 0; i < N; ++i) keys[i] = mix64(fingerprint[i] ^ seed_key);
  std::vector<std::uint64_t> sorted = keys;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(size - 1),
                   sorted.end());
  const std::uint64_t cut = sorted[size - 1];
  std::vector<std::uint32_t> rows;
  rows.reserve(size);
  for (std::size_t i = 0; i < N; ++i) {
    if (keys[i] <= cut) rows.push_back(static_cast<std::uint32_t>(i));
  }
  return rows;
}

}  // namespace

SearchResult search_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                        const SearchOptions& options, const Executor& executor,
                        const FitHooks& hooks) {
  const std::size_t N = counts.n_samples, K = options.n_components;
  SearchResult result;
  const ProgressRange whole{&hooks, 0.0, 1.0};
  // nstart = 1 from the reference's (or a given) start is the reference's
  // algorithm on every sample; any other search works on a subsample when the
  // table has at least twice as many samples, then refines on all of them.
  const bool plain_start = starts.size() == 1 && starts[0].kind != StartKind::kmeanspp;
  const bool subsample = !plain_start && options.subsample_size > 0 &&
                         N >= 2 * options.subsample_size;
  result.search.samples = N;
  if (!subsample) {
    result.search.subsample = N;
    EmState state = search_table(counts, starts, options, executor, hooks,
                                 whole.part(0.0, 0.95), result);
    if (hooks.verbose) hooks.message("  Hessian");
    result.fit = finish_fit(counts, std::move(state), options.reference_hessian, executor);
    hooks.progress(1.0, "done");
    return result;
  }

  const std::vector<std::uint32_t> rows =
      choose_subsample(sample_fingerprints(counts, executor), options.subsample_size, options.seed);
  hooks.check_interrupt();
  const Counts part = subset_table(counts, rows, executor);
  hooks.check_interrupt();
  std::vector<StartSpec> part_starts = starts;
  for (StartSpec& start : part_starts) {
    if (start.kind != StartKind::given) continue;
    std::vector<double> posterior(rows.size() * K);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::copy(&start.posterior[rows[r] * K], &start.posterior[rows[r] * K] + K,
                &posterior[r * K]);
    }
    start.posterior = std::move(posterior);
  }
  if (hooks.verbose) {
    hooks.message(format_line("  searching a subsample of %.0f of %.0f samples",
                              static_cast<double>(rows.size()), static_cast<double>(N)));
  }
  EmState found = search_table(part, part_starts, options, executor, hooks,
                               whole.part(0.0, 0.6), result);
  result.search.subsample = rows.size();
  result.search.subsample_nle = found.nle;
  result.search.subsample_converged = result.converged;

  // Refinement on every sample from the subsample's parameters, weights scaled to
  // the whole table: with deep samples the full-data posteriors are settled by the
  // first E-step, so few iterations remain.
  EmState state;
  state.n_components = K;
  state.log_alpha = std::move(found.log_alpha);
  state.weights = std::move(found.weights);
  for (double& w : state.weights) w *= static_cast<double>(N) / static_cast<double>(rows.size());
  found = EmState();
  evaluate_state(counts, state, executor);
  hooks.check_interrupt();
  if (hooks.verbose) {
    hooks.message(format_line("  refining on all %.0f samples from NLE %.4f",
                              static_cast<double>(N), state.nle));
  }
  EmSettings refine = options.em;
  refine.verbose_iterations = false;
  const EmRun run = run_em_reporting(counts, state, refine, options.optimiser, executor, hooks,
                                     whole.part(0.6, 0.95), "refining on all samples");
  result.search.refine_iterations = run.iterations;
  result.total_em_iterations += run.iterations;
  result.nle_trace = run.nle_trace;
  result.em_iterations = run.iterations;
  result.extrapolations = run.extrapolations;
  result.converged = run.converged;
  if (hooks.verbose) hooks.message("  Hessian");
  result.fit = finish_fit(counts, std::move(state), options.reference_hessian, executor);
  hooks.progress(1.0, "done");
  return result;
}

}  // namespace fastdmm
