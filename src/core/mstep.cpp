// M-step kernels: z-weighted histograms, f_k and its derivatives, damped Newton on lambda.
#include "mstep.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model.h"
#include "special.h"

namespace fastdmm {

std::vector<ComponentWeights> component_weights(const Counts& counts,
                                                const std::vector<double>& posterior,
                                                std::size_t n_components,
                                                const Executor& executor) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  std::vector<ComponentWeights> weights(K);
  for (auto& w : weights) {
    w.pair.assign(counts.n_pairs(), 0.0);
    w.depth.assign(counts.n_depths(), 0.0);
  }
  // Taxa own disjoint runs of pairs, so blocks of taxa can be filled concurrently;
  // each pair's sum runs in sample order whatever the split.
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      for (std::size_t k = 0; k < K; ++k) {
        const double* z = &posterior[k * N];
        double* pair = weights[k].pair.data();
        for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
          pair[counts.col_pair[e]] += z[counts.col_sample[e]];
        }
      }
    }
  }, kTaxonGrain);
  executor.parallel_for(K, [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) {
      const double* z = &posterior[k * N];
      double total = 0.0;
      for (std::size_t i = 0; i < N; ++i) {
        weights[k].depth[counts.sample_depth[i]] += z[i];
        total += z[i];
      }
      weights[k].total = total;
    }
  });
  return weights;
}

std::vector<double> nonzero_posterior_pair_counts(const Counts& counts,
                                                  const double* posterior_k) {
  std::vector<double> pair_counts(counts.n_pairs(), 0.0);
  for (std::size_t e = 0; e < counts.nnz(); ++e) {
    if (posterior_k[counts.col_sample[e]] != 0.0) pair_counts[counts.col_pair[e]] += 1.0;
  }
  return pair_counts;
}

double component_objective(const Counts& counts, const ComponentWeights& weights,
                           const double* log_alpha, const Executor& executor,
                           double* magnitude) {
  const std::size_t S = counts.n_taxa;
  const std::size_t n_blocks = (S + kTaxonBlock - 1) / kTaxonBlock;
  std::vector<double> block_alpha(n_blocks), block_lambda(n_blocks), block_taxa(n_blocks);
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      double total_alpha = 0.0, sum_lambda = 0.0, taxa_term = 0.0;
      for (std::size_t j = b * kTaxonBlock; j < std::min(S, (b + 1) * kTaxonBlock); ++j) {
        const double alpha = std::exp(log_alpha[j]);
        total_alpha += alpha;
        sum_lambda += log_alpha[j];
        const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
        if (n > 0) {
          taxa_term += weighted_lgamma_difference(alpha, &counts.pair_value[first],
                                                  &weights.pair[first], n);
        }
      }
      block_alpha[b] = total_alpha;
      block_lambda[b] = sum_lambda;
      block_taxa[b] = taxa_term;
    }
  });
  double total_alpha = 0.0, sum_lambda = 0.0, taxa_term = 0.0;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    total_alpha += block_alpha[b];
    sum_lambda += block_lambda[b];
    taxa_term += block_taxa[b];
  }
  const double depth_term = weighted_lgamma_difference(
      total_alpha, counts.depth_value.data(), weights.depth.data(), counts.n_depths());
  if (magnitude != nullptr) {
    *magnitude = std::fabs(depth_term) + std::fabs(taxa_term) + kPriorRate * total_alpha +
                 kPriorShape * std::fabs(sum_lambda);
  }
  return depth_term - taxa_term + kPriorRate * total_alpha - kPriorShape * sum_lambda;
}

void component_derivatives(const Counts& counts, const ComponentWeights& weights,
                           const double* log_alpha, const Executor& executor,
                           ComponentDerivatives& out, bool variant_reference,
                           const std::vector<double>* reference_pair_counts) {
  const std::size_t S = counts.n_taxa;
  const std::size_t n_blocks = (S + kTaxonBlock - 1) / kTaxonBlock;
  out.alpha.resize(S);
  out.gradient.resize(S);
  out.diagonal.resize(S);
  std::vector<double> block_alpha(n_blocks);
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      double total = 0.0;
      for (std::size_t j = b * kTaxonBlock; j < std::min(S, (b + 1) * kTaxonBlock); ++j) {
        out.alpha[j] = std::exp(log_alpha[j]);
        total += out.alpha[j];
      }
      block_alpha[b] = total;
    }
  });
  double total_alpha = 0.0;
  for (double partial : block_alpha) total_alpha += partial;
  // Q = sum_i z_i [psi(A + J_i) - psi(A)], T1 = sum_i z_i [psi1(A + J_i) - psi1(A)].
  const PolygammaSums depth = weighted_polygamma_differences(
      total_alpha, counts.depth_value.data(), weights.depth.data(), counts.n_depths());
  const double unweighted_excess =
      static_cast<double>(counts.n_samples) - weights.total;
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin * kTaxonBlock; j < std::min(S, end * kTaxonBlock); ++j) {
      const double alpha = out.alpha[j];
      const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
      PolygammaSums taxon;
      if (n > 0) {
        taxon = weighted_polygamma_differences(alpha, &counts.pair_value[first],
                                               &weights.pair[first], n);
      }
      const double g = depth.digamma + kPriorRate - taxon.digamma;
      out.gradient[j] = alpha * g - kPriorShape;
      if (!variant_reference) {
        out.diagonal[j] = alpha * g - alpha * alpha * taxon.trigamma;
      } else {
        // The reference sums psi(alpha_j + x_ij) over every sample with z_ik != 0
        // and x_ij != 0 unweighted, and psi(alpha_j) over all other samples, then
        // subtracts W psi(alpha_j): per taxon that is
        // sum_c count_c [psi(alpha_j + c) - psi(alpha_j)] + (N - W) psi(alpha_j),
        // and the same with psi1 (design section 1, step 3).
        PolygammaSums unweighted;
        if (n > 0) {
          unweighted = weighted_polygamma_differences(
              alpha, &counts.pair_value[first], &(*reference_pair_counts)[first], n);
        }
        const double c0 = unweighted.digamma + unweighted_excess * digamma(alpha);
        const double c1 = unweighted.trigamma + unweighted_excess * trigamma(alpha);
        out.diagonal[j] = alpha * (depth.digamma + kPriorRate - c0) - alpha * alpha * c1;
      }
    }
  });
  out.rank_one = depth.trigamma;
}

namespace {

double euclidean_norm(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

// direction = -(H + mu I)^-1 g for the smallest mu in 0, 1e-8 s, 1e-7 s, ... that
// makes H + mu I positive definite (Levenberg-Marquardt damping; s is the scale of
// H), solved by Sherman-Morrison. Falls back to steepest descent. Returns whether
// the step is the undamped Newton step.
bool damped_newton_direction(const ComponentDerivatives& d, std::vector<double>& direction) {
  const std::size_t S = d.alpha.size();
  const double c = d.rank_one;
  double scale = 0.0, largest_alpha2 = 0.0;
  for (std::size_t j = 0; j < S; ++j) {
    scale = std::max(scale, std::fabs(d.diagonal[j]));
    largest_alpha2 = std::max(largest_alpha2, d.alpha[j] * d.alpha[j]);
  }
  scale += std::fabs(c) * largest_alpha2;
  double mu = 0.0;
  for (int attempt = 0; attempt < 40; ++attempt) {
    bool positive = true;
    double s = 0.0, sg = 0.0;
    for (std::size_t j = 0; j < S && positive; ++j) {
      const double dj = d.diagonal[j] + mu;
      if (!(dj > 0.0)) {
        positive = false;
        break;
      }
      s += d.alpha[j] * d.alpha[j] / dj;
      sg += d.alpha[j] * d.gradient[j] / dj;
    }
    const double denominator = 1.0 + c * s;
    if (positive && denominator > 0.0 && std::isfinite(denominator)) {
      for (std::size_t j = 0; j < S; ++j) {
        direction[j] = -(d.gradient[j] - c * d.alpha[j] * sg / denominator) /
                       (d.diagonal[j] + mu);
      }
      return mu == 0.0;
    }
    mu = (mu == 0.0) ? std::max(1e-8 * scale, 1e-12) : mu * 10.0;
  }
  for (std::size_t j = 0; j < S; ++j) direction[j] = -d.gradient[j];
  return false;
}

}  // namespace

OptimiserReport optimise_component(const Counts& counts, const ComponentWeights& weights,
                                   double* log_alpha, const OptimiserOptions& options,
                                   const Executor& executor) {
  const std::size_t S = counts.n_taxa;
  OptimiserReport report;
  ComponentDerivatives d;
  std::vector<double> direction(S), trial(S), previous(S);
  double magnitude = 0.0;
  double f = component_objective(counts, weights, log_alpha, executor, &magnitude);
  double previous_gradient_norm = std::numeric_limits<double>::infinity();
  bool unverified_step = false;
  for (int iteration = 0;; ++iteration) {
    component_derivatives(counts, weights, log_alpha, executor, d);
    const double gradient_norm = euclidean_norm(d.gradient);
    if (unverified_step && !(gradient_norm < previous_gradient_norm)) {
      // The last step was taken on the gradient's word alone and did not shrink
      // it: undo it and stop, this is the optimum to working precision.
      std::copy(previous.begin(), previous.end(), log_alpha);
      report.converged = previous_gradient_norm <= 1e-3;
      break;
    }
    report.iterations = iteration;
    report.gradient_norm = gradient_norm;
    report.objective = f;
    if (gradient_norm <= options.gradient_tolerance) {
      report.converged = true;
      break;
    }
    if (iteration >= options.max_iterations) break;

    const bool pure_newton = damped_newton_direction(d, direction);
    double slope = 0.0, largest = 0.0;
    for (std::size_t j = 0; j < S; ++j) {
      slope += d.gradient[j] * direction[j];
      largest = std::max(largest, std::fabs(direction[j]));
    }
    if (!(slope < 0.0) || !std::isfinite(largest)) {
      for (std::size_t j = 0; j < S; ++j) direction[j] = -d.gradient[j];
      slope = -gradient_norm * gradient_norm;
      largest = 0.0;
      for (double x : direction) largest = std::max(largest, std::fabs(x));
    }
    if (largest > options.max_step) {
      const double shrink = options.max_step / largest;
      for (double& x : direction) x *= shrink;
      slope *= shrink;
    }

    // f is a difference of sums far larger than itself; below this its rounding
    // hides any decrease, and only the gradient can tell a step is good.
    const double noise = 1e-12 * magnitude;
    unverified_step = false;
    if (-slope <= noise) {
      if (!pure_newton || largest > options.max_step) {
        report.converged = gradient_norm <= 1e-3;
        break;
      }
      std::copy(log_alpha, log_alpha + S, previous.begin());
      for (std::size_t j = 0; j < S; ++j) log_alpha[j] += direction[j];
      f = component_objective(counts, weights, log_alpha, executor, &magnitude);
      previous_gradient_norm = gradient_norm;
      unverified_step = true;
      continue;
    }
    // Armijo backtracking.
    bool accepted = false;
    double step = 1.0, f_trial = f, trial_magnitude = magnitude;
    for (int halving = 0; halving < 40; ++halving) {
      for (std::size_t j = 0; j < S; ++j) trial[j] = log_alpha[j] + step * direction[j];
      f_trial = component_objective(counts, weights, trial.data(), executor, &trial_magnitude);
      if (std::isfinite(f_trial) && f_trial <= f + 1e-4 * step * slope + noise) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      // No decrease is measurable: the optimum as far as doubles can tell.
      report.converged = gradient_norm <= 1e-3;
      break;
    }
    std::copy(trial.begin(), trial.end(), log_alpha);
    f = f_trial;
    magnitude = trial_magnitude;
  }
  return report;
}

HessianSummary summarise_hessian(const ComponentDerivatives& d) {
  const std::size_t S = d.alpha.size();
  HessianSummary summary;
  summary.inverse_diagonal.resize(S);
  double log_abs_det = 0.0, s = 0.0;
  for (std::size_t j = 0; j < S; ++j) {
    log_abs_det += std::log(std::fabs(d.diagonal[j]));
    s += d.alpha[j] * d.alpha[j] / d.diagonal[j];
  }
  // det(D + c a a^T) = det(D) (1 + c a^T D^-1 a).
  const double denominator = 1.0 + d.rank_one * s;
  summary.log_abs_det = log_abs_det + std::log(std::fabs(denominator));
  for (std::size_t j = 0; j < S; ++j) {
    const double ratio = d.alpha[j] / d.diagonal[j];
    summary.inverse_diagonal[j] =
        1.0 / d.diagonal[j] - d.rank_one * ratio * ratio / denominator;
  }
  return summary;
}

}  // namespace fastdmm
