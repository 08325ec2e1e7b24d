// EM iterations for the Dirichlet-multinomial mixture: the reference's step, and SQUAREM on top of it.
#include "em.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "evidence.h"

namespace fastdmm {

namespace {

std::string iteration_line(int iteration, double change) {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "    iteration %d change %f", iteration, change);
  return buffer;
}

}  // namespace

std::string format_message(const char* format, double a, double b, double c) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, format, a, b, c);
  return buffer;
}

namespace {

// Largest |lambda| an extrapolation may reach. alpha = exp(lambda) beyond e^50 or
// below e^-50 is no Dirichlet parameter any data here supports; a step that far
// is a failed extrapolation and the plain EM steps are kept instead.
constexpr double kLargestExtrapolatedLogAlpha = 50.0;

// Share of the EM threshold left to the M-steps' inexactness (see run_em()).
constexpr double kMstepShare = 0.01;

// Parameters of the EM map as one vector theta = (lambda, log W): the space
// SQUAREM extrapolates in. Components of zero weight have no log weight; they
// keep weight zero (the E-step never gives them mass again).
std::vector<double> parameters_of(const EmState& state) {
  std::vector<double> theta = state.log_alpha;
  for (double w : state.weights) theta.push_back(w > 0.0 ? std::log(w) : 0.0);
  return theta;
}

// theta' = theta0 - 2 a r + a^2 v as a state (lambda and weights W_k rescaled to
// sum to N), evaluated; false when it leaves the range of sane parameters (no
// state is then made). Components of zero weight in any of the three states keep
// weight zero.
bool extrapolated_state(const Counts& counts, const std::vector<double>& theta0,
                        const std::vector<double>& r, const std::vector<double>& v, double step,
                        const std::vector<double>& weights0, const std::vector<double>& weights1,
                        const EmState& two, const Executor& executor, EmState& jump) {
  const std::size_t K = two.n_components, S = counts.n_taxa;
  jump.workspace = two.workspace;
  jump.n_components = K;
  jump.log_alpha.resize(K * S);
  jump.weights.resize(K);
  bool valid = true;
  for (std::size_t c = 0; c < K * S; ++c) {
    const double value = theta0[c] - 2.0 * step * r[c] + step * step * v[c];
    valid = valid && std::isfinite(value) && std::fabs(value) <= kLargestExtrapolatedLogAlpha;
    jump.log_alpha[c] = value;
  }
  double sum = 0.0;
  for (std::size_t k = 0; k < K; ++k) {
    const std::size_t c = K * S + k;
    const bool positive = weights0[k] > 0.0 && weights1[k] > 0.0 && two.weights[k] > 0.0;
    const double log_w = theta0[c] - 2.0 * step * r[c] + step * step * v[c];
    jump.weights[k] = positive ? std::exp(log_w) : 0.0;
    valid = valid && std::isfinite(jump.weights[k]);
    sum += jump.weights[k];
  }
  valid = valid && sum > 0.0 && std::isfinite(sum);
  if (!valid) return false;
  // Weights stay on the scale W_k = N pi_k that the E-step expects.
  const double total_weight = static_cast<double>(counts.n_samples);
  for (double& w : jump.weights) w *= total_weight / sum;
  // A component settled in `two` was not moved by either step (r = v = 0 there),
  // so its extrapolated lambda is the settled one, bit for bit: the jump keeps it
  // settled (components_to_refit() checks the lambda anyway) and reuses its
  // evidence columns.
  inherit_settled(two, jump);
  jump.near_optimum = two.near_optimum;
  evaluate_state(counts, jump, executor);
  jump.from_em = true;
  return true;
}

// How a SQUAREM cycle ended: after its first plain step (converged there, or the
// iterations ran out), or as a whole cycle.
enum class SquaremEnd { converged_after_one, out_of_iterations, cycle };

// One SQUAREM cycle (Varadhan & Roland 2008): theta1 = F(theta0), theta2 = F(theta1),
// r = theta1 - theta0, v = theta2 - 2 theta1 + theta0, step a = -|r| / |v|
// (at most -1; a = -1 is theta2 itself), theta' = theta0 - 2 a r + a^2 v,
// stabilised by one more F: the lower of F(theta') and theta2 is kept in `state`.
// `step_max`, the largest step length, grows fourfold when a step at the bound
// succeeds and shrinks when one fails.
SquaremEnd squarem_cycle(const Counts& counts, EmState& state, const EmSettings& settings,
                         const OptimiserOptions& options, const Executor& executor, bool first,
                         EmRun& run, double& step_max) {
  const double before = state.nle;
  const std::vector<double> theta0 = parameters_of(state);
  const std::vector<double> weights0 = state.weights;
  EmState one = std::move(state);
  em_step(counts, one, options, executor);
  ++run.iterations;
  if (std::fabs(before - one.nle) <= convergence_threshold(settings, one.nle) && !first) {
    state = std::move(one);
    return SquaremEnd::converged_after_one;
  }
  if (run.iterations >= settings.max_iterations) {
    state = std::move(one);
    return SquaremEnd::out_of_iterations;
  }
  const std::vector<double> theta1 = parameters_of(one);
  const std::vector<double> weights1 = one.weights;
  EmState two = std::move(one);
  em_step(counts, two, options, executor);
  ++run.iterations;
  const std::vector<double> theta2 = parameters_of(two);

  double r2 = 0.0, v2 = 0.0;
  std::vector<double> r(theta0.size()), v(theta0.size());
  for (std::size_t c = 0; c < r.size(); ++c) {
    r[c] = theta1[c] - theta0[c];
    v[c] = theta2[c] - 2.0 * theta1[c] + theta0[c];
    r2 += r[c] * r[c];
    v2 += v[c] * v[c];
  }
  const double raw_step = v2 > 0.0 ? -std::sqrt(r2 / v2) : -1.0;
  const bool at_bound = raw_step <= -step_max;
  const double step = std::max(-step_max, std::min(-1.0, raw_step));
  // A step held back by the bound lets the bound grow (a = -1 is the plain
  // step, which always holds).
  if (at_bound && step == -1.0) step_max *= 4.0;
  bool accepted = false;
  if (step < -1.0 && run.iterations < settings.max_iterations) {
    EmState jump;
    if (extrapolated_state(counts, theta0, r, v, step, weights0, weights1, two, executor, jump) &&
        std::isfinite(jump.nle)) {
      em_step(counts, jump, options, executor);
      ++run.iterations;
      if (std::isfinite(jump.nle) && jump.nle <= two.nle) {
        jump.unconverged_msteps += two.unconverged_msteps;
        jump.reused_msteps += two.reused_msteps;
        state = std::move(jump);
        accepted = true;
        ++run.extrapolations;
        if (at_bound) step_max *= 4.0;
      }
    }
    if (!accepted) step_max = std::max(1.0, step_max / 4.0);
  }
  if (!accepted) state = std::move(two);
  return SquaremEnd::cycle;
}

}  // namespace

void for_each_component(std::size_t n, std::size_t n_taxa, const Executor& executor,
                        const std::function<void(std::size_t, const Executor&)>& body) {
  const std::size_t threads = static_cast<std::size_t>(executor.threads());
  const std::size_t n_blocks = (n_taxa + kTaxonBlock - 1) / kTaxonBlock;
  const SerialExecutor serial;
  if (n >= 2 * threads || n_blocks < 2 * threads) {
    executor.parallel_for(n, [&](std::size_t begin, std::size_t end) {
      for (std::size_t c = begin; c < end; ++c) body(c, serial);
    });
  } else {
    for (std::size_t c = 0; c < n; ++c) body(c, executor);
  }
}

int run_msteps(const Counts& counts, const std::vector<ComponentHistograms>& histograms,
               std::vector<double>& log_alpha, const OptimiserOptions& options,
               const Executor& executor, const std::vector<bool>& optimise,
               std::vector<unsigned char>* converged,
               std::vector<unsigned char>* near_optimum) {
  const std::size_t S = counts.n_taxa, K = histograms.size();
  std::vector<std::size_t> chosen;
  for (std::size_t k = 0; k < K; ++k) {
    if (optimise.empty() || optimise[k]) chosen.push_back(k);
  }
  if (near_optimum != nullptr && near_optimum->size() != K) near_optimum->assign(K, 0);
  std::vector<OptimiserReport> reports(chosen.size());
  for_each_component(chosen.size(), S, executor, [&](std::size_t c, const Executor& inner) {
    const std::size_t k = chosen[c];
    const Start start =
        near_optimum != nullptr && (*near_optimum)[k] != 0 ? Start::near_optimum : Start::far;
    reports[c] =
        optimise_component(counts, histograms[k], &log_alpha[k * S], options, inner, start);
  });
  if (converged != nullptr) converged->assign(K, 0);
  int unconverged = 0;
  for (std::size_t c = 0; c < chosen.size(); ++c) {
    unconverged += reports[c].converged ? 0 : 1;
    if (converged != nullptr) (*converged)[chosen[c]] = reports[c].converged ? 1 : 0;
    if (near_optimum != nullptr) {
      (*near_optimum)[chosen[c]] = reports[c].start_needed_objective ? 0 : 1;
    }
  }
  return unconverged;
}

std::vector<bool> components_to_refit(const EmState& state, const std::vector<double>& posterior,
                                      double change, std::size_t n_taxa) {
  const std::size_t K = state.n_components, S = n_taxa;
  std::vector<bool> refit(K, true);
  if (change < 0.0 || state.settled.size() != K || posterior.empty() ||
      state.settled_posterior.size() != posterior.size() ||
      state.settled_log_alpha.size() != K * S || state.log_alpha.size() != K * S) {
    return refit;
  }
  const std::size_t N = posterior.size() / K;
  std::vector<double> moved(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t k = 0; k < K; ++k) {
      moved[k] += std::fabs(posterior[i * K + k] - state.settled_posterior[i * K + k]);
    }
  }
  for (std::size_t k = 0; k < K; ++k) {
    const double* now = &state.log_alpha[k * S];
    refit[k] = !(state.settled[k] && moved[k] <= change &&
                 std::equal(now, now + S, &state.settled_log_alpha[k * S]));
  }
  return refit;
}

void settle_components(EmState& state, const std::vector<bool>& refit,
                       const std::vector<unsigned char>& converged, std::size_t n_taxa) {
  const std::size_t K = state.n_components, S = n_taxa, N = state.posterior.size() / K;
  if (state.settled.size() != K || state.settled_posterior.size() != N * K ||
      state.settled_log_alpha.size() != K * S) {
    state.settled.assign(K, 0);
    state.settled_posterior.assign(N * K, 0.0);
    state.settled_log_alpha.assign(K * S, 0.0);
  }
  for (std::size_t k = 0; k < K; ++k) {
    if (!refit.empty() && !refit[k]) continue;
    state.settled[k] = converged[k];
    if (!converged[k]) continue;
    std::copy(&state.log_alpha[k * S], &state.log_alpha[k * S] + S,
              &state.settled_log_alpha[k * S]);
    for (std::size_t i = 0; i < N; ++i) {
      state.settled_posterior[i * K + k] = state.posterior[i * K + k];
    }
  }
}

void inherit_settled(const EmState& from, EmState& to) {
  to.settled = from.settled;
  to.settled_log_alpha = from.settled_log_alpha;
  to.settled_posterior = from.settled_posterior;
}

ColumnCache* column_cache(const EmState& state, const Counts& counts) {
  ColumnCache* cache = state.workspace != nullptr ? state.workspace->estep.cache.get() : nullptr;
  return cache != nullptr && cache->serves(counts) ? cache : nullptr;
}

void evaluate_state(const Counts& counts, EmState& state, const Executor& executor) {
  EStepOutputs outputs;
  outputs.posterior = &state.next_posterior;
  outputs.log_likelihood = &state.log_likelihood;
  // States that reuse M-steps (settled components) also reuse their evidence.
  state.workspace->estep.keep_columns = !state.settled.empty();
  expectation(counts, state.log_alpha, state.weights, state.n_components, executor, outputs,
              &state.workspace->estep);
  state.nle = -state.log_likelihood + neg_log_prior(state.log_alpha, counts.n_taxa,
                                                   state.n_components,
                                                   column_cache(state, counts));
}

std::vector<std::size_t> arg_max_labels(const std::vector<double>& posterior, std::size_t K) {
  const std::size_t N = posterior.size() / K;
  std::vector<std::size_t> label(N, 0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t k = 1; k < K; ++k) {
      if (posterior[i * K + k] > posterior[i * K + label[i]]) label[i] = k;
    }
  }
  return label;
}

EmState state_from_posterior(const Counts& counts, std::size_t n_components,
                             std::vector<double> posterior, const std::vector<double>& centres,
                             const OptimiserOptions& options, const Executor& executor) {
  const std::size_t S = counts.n_taxa, K = n_components;
  EmState state;
  state.n_components = K;
  state.log_alpha.resize(K * S);
  for (std::size_t c = 0; c < K * S; ++c) {
    state.log_alpha[c] = centres[c] > 0.0 ? std::log(centres[c]) : -10.0;
  }
  state.posterior = std::move(posterior);
  std::vector<ComponentHistograms> histograms;
  fill_component_histograms(counts, state.posterior, K, executor, histograms,
                         &state.workspace->histograms);
  state.weights.resize(K);
  for (std::size_t k = 0; k < K; ++k) state.weights[k] = histograms[k].total;
  state.unconverged_msteps += run_msteps(counts, histograms, state.log_alpha, options, executor);
  evaluate_state(counts, state, executor);
  return state;
}

namespace {

// The histograms of the components to be refitted (all when `refit` is empty),
// and every component's W_k. A component kept from the last M-step needs its
// weight alone: its histogram is left empty (finish_fit() makes any it needs).
// The refitted ones' histograms are made from their posterior columns alone,
// each pair's sum over the same samples in the same order as with all K: the
// same numbers.
void fill_refitted_histograms(const Counts& counts, const std::vector<double>& posterior,
                              std::size_t K, const std::vector<bool>& refit,
                              const Executor& executor, EmState& state) {
  std::size_t R = 0;
  for (bool r : refit) R += r ? 1 : 0;
  if (refit.empty() || R == K) {
    fill_component_histograms(counts, posterior, K, executor, state.histograms,
                              &state.workspace->histograms);
    return;
  }
  const std::size_t N = counts.n_samples;
  std::vector<std::size_t> chosen;
  for (std::size_t k = 0; k < K; ++k) {
    if (refit[k]) chosen.push_back(k);
  }
  // The refitted components' buffers are reused.
  state.histograms.resize(K);
  std::vector<ComponentHistograms> made(R);
  for (std::size_t r = 0; r < R; ++r) made[r] = std::move(state.histograms[chosen[r]]);
  if (R > 0) {
    std::vector<double> columns(N * R);
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t r = 0; r < R; ++r) columns[i * R + r] = posterior[i * K + chosen[r]];
    }
    fill_component_histograms(counts, columns, R, executor, made, &state.workspace->histograms);
  }
  std::vector<double> total(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t k = 0; k < K; ++k) {
      if (posterior[i * K + k] != 0.0) total[k] += posterior[i * K + k];
    }
  }
  for (std::size_t k = 0, r = 0; k < K; ++k) {
    if (r < R && chosen[r] == k) {
      state.histograms[k] = std::move(made[r++]);
    } else {
      state.histograms[k].pair.clear();
      state.histograms[k].depth.clear();
    }
    state.histograms[k].total = total[k];
  }
}

}  // namespace

void em_step(const Counts& counts, EmState& state, const OptimiserOptions& options,
             const Executor& executor) {
  const std::size_t K = state.n_components;
  // Settled components whose posteriors barely moved keep their M-step.
  const bool reuse = options.settled_change >= 0.0;
  std::vector<bool> refit;
  if (reuse) {
    refit = components_to_refit(state, state.next_posterior, options.settled_change,
                                counts.n_taxa);
  }
  state.posterior.swap(state.next_posterior);
  fill_refitted_histograms(counts, state.posterior, K, refit, executor, state);
  std::vector<unsigned char> converged;
  // Each component's start is guessed near its optimum when its last M-step in
  // EM started there: as EM converges, the posteriors, and with them the
  // M-steps' starts, move less and less (DESIGN.md section 2).
  state.unconverged_msteps +=
      run_msteps(counts, state.histograms, state.log_alpha, options, executor, refit,
                 reuse ? &converged : nullptr, &state.near_optimum);
  if (reuse) {
    settle_components(state, refit, converged, counts.n_taxa);
    state.reused_msteps += static_cast<int>(std::count(refit.begin(), refit.end(), false));
  }
  for (std::size_t k = 0; k < K; ++k) state.weights[k] = state.histograms[k].total;
  // The pass behind this NLE also makes the next E-step's posteriors.
  evaluate_state(counts, state, executor);
  state.from_em = true;
}

double aitken_limit(double n0, double n1, double n2) {
  const double d1 = n0 - n1, d2 = n1 - n2;
  if (!(d1 > 0.0) || !(d2 >= 0.0) || !(d2 < d1)) return -std::numeric_limits<double>::infinity();
  return n1 - d2 / (1.0 - d2 / d1);
}

void AcceptedMoves::add(double nle, const EmRun& run) {
  accepted_nle.push_back(nle);
  em_iterations += run.iterations;
  extrapolations += run.extrapolations;
  converged = run.converged;
}

void AcceptedMoves::add(const AcceptedMoves& other) {
  if (other.accepted_nle.empty()) return;
  accepted_nle.insert(accepted_nle.end(), other.accepted_nle.begin(), other.accepted_nle.end());
  em_iterations += other.em_iterations;
  extrapolations += other.extrapolations;
  converged = other.converged;
}

double convergence_threshold(const EmSettings& settings, double nle) {
  return std::max(settings.tolerance, settings.rel_tolerance * std::fabs(nle));
}

EmRun run_em(const Counts& counts, EmState& state, const EmSettings& settings,
             const OptimiserOptions& base_options, const Executor& executor,
             const FitHooks& hooks) {
  EmRun run;
  const std::size_t K = state.n_components;
  // SQUAREM's largest step length (see squarem_cycle()).
  double step_max = 1.0;
  double change = std::numeric_limits<double>::infinity();
  int reported = 0;  // the reference reports every tenth iteration

  const double initial_nle = state.nle;
  const auto after_iteration = [&](double before, bool first) {
    change = first ? std::numeric_limits<double>::infinity() : std::fabs(before - state.nle);
    run.nle_trace.push_back(state.nle);
    const std::size_t n = run.nle_trace.size();
    if (std::isfinite(settings.target) && n >= 2) {
      const double n0 = n >= 3 ? run.nle_trace[n - 3] : initial_nle;
      const double limit = aitken_limit(n0, run.nle_trace[n - 2], run.nle_trace[n - 1]);
      if (limit > settings.target + convergence_threshold(settings, settings.target)) {
        run.abandoned = true;
      }
    }
    hooks.check_interrupt();
    if (settings.verbose_iterations && hooks.verbose) {
      while (reported + 10 <= run.iterations) {
        reported += 10;
        hooks.message(iteration_line(reported, change));
      }
    }
    return change <= convergence_threshold(settings, state.nle);
  };
  const auto stop = [&](double before, bool first) {
    const bool converged = after_iteration(before, first);
    run.converged = converged;
    if (converged) run.abandoned = false;
    if (converged || run.abandoned) return true;
    return settings.stop_if && settings.stop_if(state);
  };

  while (run.iterations < settings.max_iterations) {
    const double before = state.nle;
    const bool first = !state.from_em;
    // Each M-step need only be exact to well below what the EM threshold can see
    // (a generalised EM step): its Newton iterations stop once the rest of the
    // decrease is under kMstepShare of the threshold, shared by the K components.
    OptimiserOptions options = base_options;
    options.objective_tolerance =
        kMstepShare * convergence_threshold(settings, state.nle) / static_cast<double>(K);
    if (!settings.accelerate) {
      em_step(counts, state, options, executor);
      ++run.iterations;
      if (stop(before, first)) break;
      continue;
    }

    const SquaremEnd end = squarem_cycle(counts, state, settings, options, executor, first,
                                         run, step_max);
    if (end == SquaremEnd::out_of_iterations) {
      stop(before, first);
      break;
    }
    if (stop(before, first)) break;
  }
  return run;
}

}  // namespace fastdmm
