// Per-sample log evidence under each component, the log likelihood and the E-step posteriors.
#ifndef FASTDMM_EVIDENCE_H
#define FASTDMM_EVIDENCE_H

#include <cstddef>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// e[k * N + i] = lgamma(A_k) - lgamma(A_k + J_i)
//               + sum_{j: x_ij > 0} [lgamma(alpha_kj + x_ij) - lgamma(alpha_kj)]
// for log_alpha laid out as log_alpha[k * S + j]. Costs O(pairs K + nnz K).
void log_evidence(const Counts& counts, const std::vector<double>& log_alpha,
                  std::size_t n_components, const Executor& executor,
                  std::vector<double>& evidence);

// sum_i log sum_k pi_k exp(e_ik + m_i) with pi_k = W_k / N; components with zero
// weight contribute nothing.
double log_likelihood(const Counts& counts, const std::vector<double>& evidence,
                      const std::vector<double>& weights, const Executor& executor);

// The hyperprior's part of the NLE:
// S K lgamma(eta) - eta S K log(nu) + nu sum alpha - eta sum lambda.
double neg_log_prior(const std::vector<double>& log_alpha, std::size_t n_taxa,
                     std::size_t n_components);

// z_ik = W_k exp(e_ik - m) / sum_l W_l exp(e_il - m), m the largest e_il over
// components of positive weight. Written to posterior[k * N + i].
void posterior_from_evidence(const std::vector<double>& evidence,
                             const std::vector<double>& weights, std::size_t n_samples,
                             const Executor& executor, std::vector<double>& posterior);

}  // namespace fastdmm

#endif
