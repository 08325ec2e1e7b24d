// EM for the Dirichlet-multinomial mixture, following the reference step for step (design section 1).
#include "fit.h"

#include <cmath>
#include <cstdio>

#include "evidence.h"
#include "kmeans.h"

namespace fastdmm {

namespace {

std::string iteration_line(int iteration, double change) {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "    iteration %d change %f", iteration, change);
  return buffer;
}

// Components are independent: with at least two per thread, or too few taxa to
// split, each runs its own optimiser on one thread; otherwise they run one after
// another with the taxa split across threads. Either way the sums are the same.
const Executor& taxon_executor(std::size_t n_components, std::size_t n_taxa,
                               const Executor& executor, const Executor& serial,
                               bool* by_component) {
  const std::size_t threads = static_cast<std::size_t>(executor.threads());
  const std::size_t n_blocks = (n_taxa + kTaxonBlock - 1) / kTaxonBlock;
  *by_component = n_components >= 2 * threads || n_blocks < 2 * threads;
  return *by_component ? serial : executor;
}

int run_msteps(const Counts& counts, const std::vector<ComponentWeights>& weights,
               std::vector<double>& log_alpha, const OptimiserOptions& options,
               const Executor& executor) {
  const std::size_t K = weights.size(), S = counts.n_taxa;
  std::vector<OptimiserReport> reports(K);
  const SerialExecutor serial;
  bool by_component = true;
  const Executor& inner = taxon_executor(K, S, executor, serial, &by_component);
  const auto optimise = [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) {
      reports[k] = optimise_component(counts, weights[k], &log_alpha[k * S], options, inner);
    }
  };
  if (by_component) {
    executor.parallel_for(K, optimise);
  } else {
    optimise(0, K);
  }
  int unconverged = 0;
  for (const auto& report : reports) unconverged += report.converged ? 0 : 1;
  return unconverged;
}

}  // namespace

FitResult fit_dmm(const Counts& counts, const FitOptions& options, const Executor& executor,
                  const FitHooks& hooks) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = options.n_components;
  FitResult result;
  result.n_samples = N;
  result.n_taxa = S;
  result.n_components = K;

  if (hooks.verbose) hooks.message("  Soft kmeans");
  KmeansResult start = soft_kmeans(
      counts, K, options.seed, executor, options.kmeans_max_iterations,
      options.kmeans_tolerance, [&](int iteration, double change) {
        if (hooks.verbose && iteration % 10 == 0) hooks.message(iteration_line(iteration, change));
        hooks.check_interrupt();
      });
  result.kmeans_iterations = start.iterations;

  // Initial lambda: log of the centres, -10 where a centre is zero.
  std::vector<double>& log_alpha = result.log_alpha;
  log_alpha.resize(K * S);
  for (std::size_t c = 0; c < K * S; ++c) {
    log_alpha[c] = start.centres[c] > 0.0 ? std::log(start.centres[c]) : -10.0;
  }
  std::vector<double>& posterior = result.posterior;
  posterior = std::move(start.posterior);
  std::vector<double> weights = std::move(start.weights);

  if (hooks.verbose) hooks.message("  Expectation Maximization setup");
  result.unconverged_msteps += run_msteps(
      counts, component_weights(counts, posterior, K, executor), log_alpha,
      options.optimiser, executor);
  hooks.check_interrupt();

  if (hooks.verbose) hooks.message("  Expectation Maximization");
  std::vector<double> evidence;
  log_evidence(counts, log_alpha, K, executor, evidence);
  double nle = 0.0, change = 1.0e9;
  int iteration = 0;
  // The histograms of the last E-step's posteriors also serve the Hessian below
  // (max_iterations >= 1, so the loop runs at least once).
  std::vector<ComponentWeights> component;
  while (change > options.tolerance && iteration < options.max_iterations) {
    posterior_from_evidence(evidence, weights, N, executor, posterior);
    component = component_weights(counts, posterior, K, executor);
    result.unconverged_msteps += run_msteps(counts, component, log_alpha, options.optimiser, executor);
    for (std::size_t k = 0; k < K; ++k) weights[k] = component[k].total;

    // The evidence behind this NLE is exactly what the next E-step needs.
    log_evidence(counts, log_alpha, K, executor, evidence);
    result.log_likelihood = log_likelihood(counts, evidence, weights, executor);
    const double next = -result.log_likelihood + neg_log_prior(log_alpha, S, K);
    change = std::fabs(nle - next);
    nle = next;
    result.nle_trace.push_back(nle);
    ++iteration;
    hooks.check_interrupt();
    if (hooks.verbose && iteration % 10 == 0) hooks.message(iteration_line(iteration, change));
  }
  result.em_iterations = iteration;
  result.converged = change <= options.tolerance;
  result.weights = weights;
  result.nle = nle;

  if (hooks.verbose) hooks.message("  Hessian");
  std::vector<HessianSummary> hessians(K);
  {
    const SerialExecutor serial;
    bool by_component = true;
    const Executor& inner = taxon_executor(K, S, executor, serial, &by_component);
    const auto summarise = [&](std::size_t begin, std::size_t end) {
      for (std::size_t k = begin; k < end; ++k) {
        ComponentDerivatives d;
        if (options.reference_hessian) {
          const std::vector<double> pair_counts =
              nonzero_posterior_pair_counts(counts, &posterior[k * N]);
          component_derivatives(counts, component[k], &log_alpha[k * S], inner, d, true,
                                &pair_counts);
        } else {
          component_derivatives(counts, component[k], &log_alpha[k * S], inner, d);
        }
        hessians[k] = summarise_hessian(d);
      }
    };
    if (by_component) {
      executor.parallel_for(K, summarise);
    } else {
      summarise(0, K);
    }
  }

  // LogDet adds 2 log N - log W_k for every component but the first in the
  // initialisation's order: the reference's convention (design section 1, step 4).
  double log_det = 0.0;
  for (std::size_t k = 0; k < K; ++k) {
    if (k > 0) log_det += 2.0 * std::log(static_cast<double>(N)) - std::log(weights[k]);
    log_det += hessians[k].log_abs_det;
  }
  const double n_parameters = static_cast<double>(K * S + K - 1);
  result.log_det = log_det;
  result.laplace = nle + 0.5 * log_det - 0.5 * n_parameters * std::log(2.0 * M_PI);
  result.bic = nle + 0.5 * std::log(static_cast<double>(N)) * n_parameters;
  result.aic = nle + n_parameters;

  // Lower/Upper = exp(lambda -/+ 2 sd), undefined (NaN) where the variance from the
  // inverse Hessian is negative or its square root reaches 100, as the reference.
  result.lower.assign(K * S, std::nan(""));
  result.upper.assign(K * S, std::nan(""));
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t j = 0; j < S; ++j) {
      const double variance = hessians[k].inverse_diagonal[j];
      if (variance >= 0.0) {
        const double sd = std::sqrt(variance);
        if (sd < 100.0) {
          result.lower[k * S + j] = std::exp(log_alpha[k * S + j] - 2.0 * sd);
          result.upper[k * S + j] = std::exp(log_alpha[k * S + j] + 2.0 * sd);
        }
      }
    }
  }
  return result;
}

}  // namespace fastdmm
