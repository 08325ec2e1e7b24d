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

// A split plan is an estimate, so its 2-means stops after this many Lloyd
// rounds: a component of two types separates at once (D^2 seeding puts the two
// centres in different types), while further rounds only move the arbitrary cut
// through a homogeneous component (20-60 rounds to a fixed point at 2,000
// members).
constexpr int kPlanLloydRounds = 10;

// How component k would split (design section 5): its members (z_ik >= 1/2) cut
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
                                   mix64(seed ^ mix64(static_cast<std::uint64_t>(k))), executor,
                                   kPlanLloydRounds, hooks.check_interrupt);
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
    const std::vector<ComponentWeights> histograms =
        component_weights(counts, halves_posterior, 2 * K, executor);
    halves_posterior = std::vector<double>();
    run_msteps(counts, histograms, log_alpha, optimiser, executor, refit);
  }
  hooks.check_interrupt();
  std::vector<double> halves_evidence;
  log_evidence(counts, log_alpha, 2 * K, executor, halves_evidence);
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
    int accepted_moves = 0, rounds = 0;
    bool improved = true;
    while (improved && accepted_moves < options.max_moves) {
      improved = false;
      const std::vector<double> posterior = state.next_posterior;
      std::vector<double> evidence;
      log_evidence(counts, state.log_alpha, K, executor, evidence);
      const std::vector<SplitPlan> plans =
          plan_splits(counts, roots, fingerprint, state, evidence, posterior,
                      mix64(options.seed ^ mix64(static_cast<std::uint64_t>(++rounds))),
                      options.optimiser, executor, hooks);
      const std::vector<Triplet> triplets = candidate_moves(state, evidence, posterior, plans);
      evidence = std::vector<double>();
      int tried = 0;
      for (const Triplet& move : triplets) {
        if (tried >= options.max_tries) break;
        const std::size_t a = move.merge_first, b = move.merge_second, k = move.split;
        // k's members (z_ik >= 1/2) split as planned; the rest of its mass
        // follows the nearer half.
        const std::vector<std::uint32_t>& members = plans[k].members;
        const HellingerPartition& halves = plans[k].halves;
        ++tried;
        moving.report((accepted_moves * options.max_tries + tried - 1.0) /
                          (std::max(1, options.max_moves) * options.max_tries),
                      "trying split-merge moves");
        const HellingerCentres half_centres(halves.centres, 2, S);
        std::vector<int> half(N, -1);
        for (std::size_t m = 0; m < members.size(); ++m) {
          half[members[m]] = static_cast<int>(halves.label[m]);
        }
        EmState trial;
        trial.workspace = state.workspace;
        trial.n_components = K;
        trial.posterior = posterior;
        const bool free_slot = a == b;
        for (std::size_t i = 0; i < N; ++i) {
          if (!free_slot) trial.posterior[i * K + a] = posterior[i * K + a] + posterior[i * K + b];
          const double z = posterior[i * K + k];
          int h = 0;
          if (z > 0.0) {
            h = half[i] >= 0 ? half[i] : static_cast<int>(half_centres.nearest(counts, roots, i));
          }
          trial.posterior[i * K + b] = h == 0 ? z : 0.0;
          trial.posterior[i * K + k] = h == 0 ? 0.0 : z;
        }
        MoveRecord record;
        record.merge_first = static_cast<int>(a);
        record.merge_second = static_cast<int>(b);
        record.split = static_cast<int>(k);
        record.nle_before = state.nle;
        // The merged component starts from the heavier one's parameters, the
        // halves from the plan's; the three (two for a free slot) are refitted,
        // the rest kept.
        trial.log_alpha = state.log_alpha;
        const std::size_t heavier = state.weights[a] >= state.weights[b] ? a : b;
        std::copy(&state.log_alpha[heavier * S], &state.log_alpha[heavier * S] + S,
                  &trial.log_alpha[a * S]);
        std::copy(plans[k].log_alpha.begin(), plans[k].log_alpha.begin() + S,
                  &trial.log_alpha[b * S]);
        std::copy(plans[k].log_alpha.begin() + S, plans[k].log_alpha.end(),
                  &trial.log_alpha[k * S]);
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
          hooks.message((free_slot ? format_line("  empty %.0f", a + 1.0)
                                   : format_line("  merge %.0f+%.0f", a + 1.0, b + 1.0)) +
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
