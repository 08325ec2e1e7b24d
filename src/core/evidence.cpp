// Log evidence of every sample under every component, from per-pair lgamma tables.
#include "evidence.h"

#include <cmath>
#include <limits>

#include "model.h"
#include "special.h"

namespace fastdmm {

namespace {

// The largest e_ik of sample i over components of positive weight: the offset of
// its log-sum-exp. A component of zero weight takes no mass, and leaving it out
// keeps the normaliser away from underflow.
double largest_weighted_evidence(const std::vector<double>& evidence,
                                 const std::vector<double>& weights, std::size_t n_samples,
                                 std::size_t i) {
  double offset = -std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < weights.size(); ++k) {
    if (weights[k] > 0.0 && evidence[k * n_samples + i] > offset) {
      offset = evidence[k * n_samples + i];
    }
  }
  return offset;
}

}  // namespace

void log_evidence(const Counts& counts, const std::vector<double>& log_alpha,
                  std::size_t n_components, const Executor& executor,
                  std::vector<double>& evidence) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  const std::size_t n_pairs = counts.n_pairs(), n_depths = counts.n_depths();

  // pair_table[p * K + k] = lgamma(alpha_kj + c_p) - lgamma(alpha_kj): one pair's
  // values for all components sit together, as the per-sample sums read them.
  std::vector<double> pair_table(K * n_pairs);
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<double> differences;
    for (std::size_t j = begin; j < end; ++j) {
      const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
      if (n == 0) continue;
      differences.resize(n);
      for (std::size_t k = 0; k < K; ++k) {
        lgamma_differences(std::exp(log_alpha[k * S + j]), &counts.pair_value[first], n,
                           differences.data());
        for (std::size_t m = 0; m < n; ++m) pair_table[(first + m) * K + k] = differences[m];
      }
    }
  }, kTaxonGrain);

  // depth_table[k * n_depths + d] = lgamma(A_k + J_d) - lgamma(A_k).
  std::vector<double> depth_table(K * n_depths);
  executor.parallel_for(K, [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) {
      double total_alpha = 0.0;
      for (std::size_t j = 0; j < S; ++j) total_alpha += std::exp(log_alpha[k * S + j]);
      lgamma_differences(total_alpha, counts.depth_value.data(), n_depths,
                         &depth_table[k * n_depths]);
    }
  });

  // Each component's sum runs over the sample's non-zeros in taxon order, as before
  // the table was laid out by pair.
  evidence.assign(K * N, 0.0);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    std::vector<double> sum(K);
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t first = counts.row_ptr[i], last = counts.row_ptr[i + 1];
      for (std::size_t k = 0; k < K; ++k) sum[k] = -depth_table[k * n_depths + counts.sample_depth[i]];
      for (std::size_t e = first; e < last; ++e) {
        const double* table = &pair_table[static_cast<std::size_t>(counts.row_pair[e]) * K];
        for (std::size_t k = 0; k < K; ++k) sum[k] += table[k];
      }
      for (std::size_t k = 0; k < K; ++k) evidence[k * N + i] = sum[k];
    }
  }, kSampleGrain);
}

double log_likelihood(const Counts& counts, const std::vector<double>& evidence,
                      const std::vector<double>& weights, const Executor& executor) {
  const std::size_t N = counts.n_samples, K = weights.size();
  double total_weight = 0.0;
  for (double w : weights) total_weight += w;
  std::vector<double> per_sample(N);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const double offset = largest_weighted_evidence(evidence, weights, N, i);
      double sum = 0.0;
      for (std::size_t k = 0; k < K; ++k) {
        if (weights[k] > 0.0) {
          sum += weights[k] / total_weight * std::exp(evidence[k * N + i] - offset);
        }
      }
      per_sample[i] = std::log(sum) + offset + counts.log_multinomial[i];
    }
  }, kSampleGrain);
  double total = 0.0;
  for (double value : per_sample) total += value;
  return total;
}

double neg_log_prior(const std::vector<double>& log_alpha, std::size_t n_taxa,
                     std::size_t n_components) {
  const double cells = static_cast<double>(n_taxa) * static_cast<double>(n_components);
  double sum_alpha = 0.0, sum_log_alpha = 0.0;
  for (double lambda : log_alpha) {
    sum_alpha += std::exp(lambda);
    sum_log_alpha += lambda;
  }
  return cells * log_gamma(kPriorShape) - kPriorShape * cells * std::log(kPriorRate) +
         kPriorRate * sum_alpha - kPriorShape * sum_log_alpha;
}

void posterior_from_evidence(const std::vector<double>& evidence,
                             const std::vector<double>& weights, std::size_t n_samples,
                             const Executor& executor, std::vector<double>& posterior) {
  const std::size_t N = n_samples, K = weights.size();
  posterior.assign(K * N, 0.0);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const double offset = largest_weighted_evidence(evidence, weights, N, i);
      double sum = 0.0;
      for (std::size_t k = 0; k < K; ++k) {
        const double value =
            weights[k] > 0.0 ? weights[k] * std::exp(evidence[k * N + i] - offset) : 0.0;
        posterior[k * N + i] = value;
        sum += value;
      }
      for (std::size_t k = 0; k < K; ++k) posterior[k * N + i] /= sum;
    }
  }, kSampleGrain);
}

}  // namespace fastdmm
