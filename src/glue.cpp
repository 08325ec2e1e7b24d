// Rcpp glue: turns R objects into the core's plain arrays, runs the core, builds R results.
#include "glue.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/counts.h"
#include "core/evidence.h"
#include "core/fit.h"
#include "core/kmeans.h"
#include "core/mstep.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace {

using fastdmm_glue::RcppParallelExecutor;

Rcpp::NumericMatrix as_matrix(const std::vector<double>& values, std::size_t n_row,
                              std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

std::vector<double> log_alpha_from_matrix(const Rcpp::NumericMatrix& log_alpha) {
  // R's taxa x components matrix is column-major, i.e. [k * S + j]: the core's layout.
  return std::vector<double>(log_alpha.begin(), log_alpha.end());
}

}  // namespace

// [[Rcpp::export(.fit_dmn)]]
Rcpp::List fit_dmn(const Rcpp::List& counts, int k, int seed, int threads, int max_iter,
                   double tol, bool reference_hessian, bool verbose) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  fastdmm::FitOptions options;
  options.n_components = static_cast<std::size_t>(k);
  // As gsl_rng_set(), which receives the R integer converted to unsigned long.
  options.seed = static_cast<std::uint32_t>(seed);
  options.max_iterations = max_iter;
  options.tolerance = tol;
  options.reference_hessian = reference_hessian;

  fastdmm::FitHooks hooks;
  hooks.verbose = verbose;
  Rcpp::Function message("message");
  hooks.message = [&message](const std::string& line) { message(line); };
  hooks.check_interrupt = [] { Rcpp::checkUserInterrupt(); };

  const RcppParallelExecutor executor(threads);
  const fastdmm::FitResult fit = fastdmm::fit_dmm(data, options, executor, hooks);

  const std::size_t N = fit.n_samples, S = fit.n_taxa, K = fit.n_components;
  std::vector<double> estimate(K * S);
  for (std::size_t c = 0; c < K * S; ++c) estimate[c] = std::exp(fit.log_alpha[c]);
  return Rcpp::List::create(
      Rcpp::Named("goodness_of_fit") = Rcpp::NumericVector::create(
          Rcpp::Named("NLE") = fit.nle, Rcpp::Named("LogDet") = fit.log_det,
          Rcpp::Named("Laplace") = fit.laplace, Rcpp::Named("BIC") = fit.bic,
          Rcpp::Named("AIC") = fit.aic),
      Rcpp::Named("weights") = Rcpp::NumericVector(fit.weights.begin(), fit.weights.end()),
      Rcpp::Named("posterior") = as_matrix(fit.posterior, N, K),
      Rcpp::Named("estimate") = as_matrix(estimate, S, K),
      Rcpp::Named("lower") = as_matrix(fit.lower, S, K),
      Rcpp::Named("upper") = as_matrix(fit.upper, S, K),
      Rcpp::Named("log_likelihood") = fit.log_likelihood,
      Rcpp::Named("nle_trace") = Rcpp::NumericVector(fit.nle_trace.begin(), fit.nle_trace.end()),
      Rcpp::Named("em_iterations") = fit.em_iterations,
      Rcpp::Named("kmeans_iterations") = fit.kmeans_iterations,
      Rcpp::Named("converged") = fit.converged,
      Rcpp::Named("unconverged_msteps") = fit.unconverged_msteps);
}

// [[Rcpp::export(.log_evidence)]]
Rcpp::NumericMatrix log_evidence(const Rcpp::List& counts, const Rcpp::NumericMatrix& log_alpha,
                                 int threads) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::size_t K = static_cast<std::size_t>(log_alpha.ncol());
  std::vector<double> evidence;
  fastdmm::log_evidence(data, log_alpha_from_matrix(log_alpha), K,
                        RcppParallelExecutor(threads), evidence);
  return as_matrix(evidence, data.n_samples, K);
}

// Exposes one component's objective, gradient and Hessian summary, for tests against
// brute-force R computations.
// [[Rcpp::export(.component_terms)]]
Rcpp::List component_terms(const Rcpp::List& counts, const Rcpp::NumericVector& posterior,
                           const Rcpp::NumericVector& log_alpha, bool reference_hessian) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<double> z(posterior.begin(), posterior.end());
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  const std::vector<double> lambda(log_alpha.begin(), log_alpha.end());
  fastdmm::ComponentDerivatives d;
  const std::vector<double> pair_counts = fastdmm::nonzero_posterior_pair_counts(data, z.data());
  fastdmm::component_derivatives(data, weights[0], lambda.data(), fastdmm::SerialExecutor(), d,
                                 reference_hessian, &pair_counts);
  const fastdmm::HessianSummary hessian = fastdmm::summarise_hessian(d);
  return Rcpp::List::create(
      Rcpp::Named("objective") = fastdmm::component_objective(data, weights[0], lambda.data(),
                                                                    fastdmm::SerialExecutor()),
      Rcpp::Named("gradient") = Rcpp::NumericVector(d.gradient.begin(), d.gradient.end()),
      Rcpp::Named("diagonal") = Rcpp::NumericVector(d.diagonal.begin(), d.diagonal.end()),
      Rcpp::Named("rank_one") = d.rank_one,
      Rcpp::Named("log_abs_det") = hessian.log_abs_det,
      Rcpp::Named("inverse_diagonal") = Rcpp::NumericVector(hessian.inverse_diagonal.begin(),
                                                            hessian.inverse_diagonal.end()));
}

// Runs the M-step optimiser for one component from a start, for tests.
// [[Rcpp::export(.optimise_component)]]
Rcpp::List optimise_component(const Rcpp::List& counts, const Rcpp::NumericVector& posterior,
                              const Rcpp::NumericVector& log_alpha) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<double> z(posterior.begin(), posterior.end());
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  std::vector<double> lambda(log_alpha.begin(), log_alpha.end());
  const fastdmm::OptimiserReport report =
      fastdmm::optimise_component(data, weights[0], lambda.data(), fastdmm::OptimiserOptions(),
                                  fastdmm::SerialExecutor());
  return Rcpp::List::create(Rcpp::Named("log_alpha") = Rcpp::NumericVector(lambda.begin(), lambda.end()),
                            Rcpp::Named("iterations") = report.iterations,
                            Rcpp::Named("gradient_norm") = report.gradient_norm,
                            Rcpp::Named("converged") = report.converged);
}

// [[Rcpp::export(.soft_kmeans)]]
Rcpp::List soft_kmeans(const Rcpp::List& counts, int k, int seed, int threads) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::KmeansResult result =
      fastdmm::soft_kmeans(data, static_cast<std::size_t>(k), static_cast<std::uint32_t>(seed),
                           RcppParallelExecutor(threads), 1000, 1e-6, [](int, double) {});
  return Rcpp::List::create(
      Rcpp::Named("posterior") = as_matrix(result.posterior, data.n_samples, k),
      Rcpp::Named("centres") = as_matrix(result.centres, data.n_taxa, k),
      Rcpp::Named("weights") = Rcpp::NumericVector(result.weights.begin(), result.weights.end()),
      Rcpp::Named("iterations") = result.iterations);
}

// The first `n` raw 32-bit outputs of the reference generator and `n` draws of
// uniform_int(n_values) from a second generator with the same seed, for tests.
// [[Rcpp::export(.reference_stream)]]
Rcpp::List reference_stream(int seed, int n, int n_values) {
  fastdmm::ReferenceRng raw(static_cast<std::uint32_t>(seed));
  fastdmm::ReferenceRng draws(static_cast<std::uint32_t>(seed));
  Rcpp::NumericVector u32(n);
  Rcpp::IntegerVector k(n);
  for (int m = 0; m < n; ++m) {
    u32[m] = static_cast<double>(raw.next_u32());
    k[m] = static_cast<int>(draws.uniform_int(static_cast<std::uint32_t>(n_values)));
  }
  return Rcpp::List::create(Rcpp::Named("u32") = u32, Rcpp::Named("uniform_int") = k);
}

// Seeds for restarts 2..n derived from the user's seed by SplitMix64, so that every
// start of every k is reproducible from one seed; restart 1 uses the seed itself.
// [[Rcpp::export(.derive_seeds)]]
Rcpp::IntegerVector derive_seeds(int seed, int n) {
  Rcpp::IntegerVector seeds(n);
  std::uint64_t state = static_cast<std::uint32_t>(seed);
  for (int s = 0; s < n; ++s) {
    if (s == 0) {
      seeds[s] = seed;
      continue;
    }
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    // A non-negative R integer (NA_integer_ is INT_MIN, never produced here).
    seeds[s] = static_cast<int>(z & 0x7fffffffULL);
  }
  return seeds;
}
