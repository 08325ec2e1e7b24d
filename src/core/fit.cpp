// A fit: the search, then the best state's Hessians, criteria and bounds (DESIGN.md section 1).
#include "fit.h"

#include <algorithm>
#include <cmath>
#include <utility>


namespace fastdmm {

FittedSearch fit_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                     const FitOptions& options, const Executor& executor,
                     const FitHooks& hooks) {
  FittedSearch result;
  static_cast<SearchResult&>(result) =
      search_dmm(counts, starts, options.search, executor, hooks);
  if (hooks.verbose) hooks.message("  Hessian");
  result.fit = finish_fit(counts, std::move(result.state), options.hessian, executor);
  hooks.progress(1.0, "done");
  return result;
}

FitResult finish_fit(const Counts& counts, EmState state, Hessian hessian,
                     const Executor& executor) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = state.n_components;
  // A component an EM step kept from its last M-step has no histogram.
  const bool complete =
      state.histograms.size() == K &&
      std::all_of(state.histograms.begin(), state.histograms.end(),
                  [&](const ComponentHistograms& h) { return h.pair.size() == counts.n_pairs(); });
  if (!complete) {
    state.histograms = component_histograms(counts, state.posterior, K, executor);
  }
  FitResult result;
  result.n_samples = N;
  result.n_taxa = S;
  result.n_components = K;

  std::vector<HessianSummary> hessians(K);
  for_each_component(K, S, executor, [&](std::size_t k, const Executor& inner) {
    ComponentDerivatives d;
    if (hessian == Hessian::reference) {
      const std::vector<double> pair_counts =
          nonzero_posterior_pair_counts(counts, state.posterior, K, k);
      component_derivatives(counts, state.histograms[k], &state.log_alpha[k * S], inner, d,
                            Hessian::reference, &pair_counts);
    } else {
      component_derivatives(counts, state.histograms[k], &state.log_alpha[k * S], inner, d);
    }
    hessians[k] = summarise_hessian(d);
  });

  // LogDet adds 2 log N - log W_k for every component but the first in the
  // initialisation's order: the reference's convention (DESIGN.md section 1).
  const double nle = state.nle;
  double log_det = 0.0;
  for (std::size_t k = 0; k < K; ++k) {
    if (k > 0) log_det += 2.0 * std::log(static_cast<double>(N)) - std::log(state.weights[k]);
    log_det += hessians[k].log_abs_det;
  }
  const double n_parameters = static_cast<double>(K * S + K - 1);
  result.nle = nle;
  result.log_det = log_det;
  result.laplace = nle + 0.5 * log_det - 0.5 * n_parameters * std::log(2.0 * M_PI);
  result.bic = nle + 0.5 * std::log(static_cast<double>(N)) * n_parameters;
  result.aic = nle + n_parameters;
  result.log_likelihood = state.log_likelihood;
  result.unconverged_msteps = state.unconverged_msteps;

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
          result.lower[k * S + j] = std::exp(state.log_alpha[k * S + j] - 2.0 * sd);
          result.upper[k * S + j] = std::exp(state.log_alpha[k * S + j] + 2.0 * sd);
        }
      }
    }
  }
  result.log_alpha = std::move(state.log_alpha);
  result.weights = std::move(state.weights);
  result.posterior = std::move(state.posterior);
  return result;
}

}  // namespace fastdmm
