// The E-step: per-sample log evidence under each component, posteriors and the log likelihood.
#ifndef FASTDMM_EVIDENCE_H
#define FASTDMM_EVIDENCE_H

#include <cstddef>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// What one pass over the table at parameters (log_alpha, W) gives; each output is
// filled only when asked for. Matrices are sample-major: [i * K + k].
struct EStepOutputs {
  // e_ik = lgamma(A_k) - lgamma(A_k + J_i)
  //        + sum_{j: x_ij > 0} [lgamma(alpha_kj + x_ij) - lgamma(alpha_kj)]
  std::vector<double>* evidence = nullptr;
  // z_ik = W_k exp(e_ik - m) / sum_l W_l exp(e_il - m), m the largest e_il over
  // components of positive weight (a component of zero weight takes no mass).
  std::vector<double>* posterior = nullptr;
  // sum_i log sum_k pi_k exp(e_ik + m_i) with pi_k = W_k / sum W.
  double* log_likelihood = nullptr;
};

// Buffers an E-step fills and the next one reuses (no allocation, no page faults
// per iteration).
struct EStepWorkspace {
  std::vector<double> pair_table;   // [p * K + k]
  std::vector<double> depth_table;  // [d * K + k]
  std::vector<double> per_sample;   // log-likelihood terms
  // With keep_columns, the next E-step keeps the pair_table columns of components
  // whose lambda is the one they were made from. A column depends on lambda_k and
  // the table's pairs alone, so both are kept here and compared by value.
  // The depth_table's columns are kept with them: a column depends on lambda_k
  // (through A_k) and the table's depths alone.
  bool keep_columns = false;
  std::vector<double> table_log_alpha;  // [k * S + j]
  std::vector<std::size_t> table_pair_ptr;
  std::vector<double> table_pair_value;
  std::vector<double> table_depth_value;
};

// One pass over the table in tiles of samples (DESIGN.md section 7): per-pair and
// per-depth lgamma tables, then each tile's rows of K sums filled taxon by taxon,
// then its posteriors and log-likelihood terms. Every sample sums its taxa in
// increasing order and the log-likelihood sums samples in order, so the result is
// the same for any executor. log_alpha is [k * S + j]; `weights` may be empty
// when only the evidence is asked for.
void expectation(const Counts& counts, const std::vector<double>& log_alpha,
                 const std::vector<double>& weights, std::size_t n_components,
                 const Executor& executor, const EStepOutputs& outputs,
                 EStepWorkspace* workspace = nullptr);

// The evidence alone, [i * K + k].
void log_evidence(const Counts& counts, const std::vector<double>& log_alpha,
                  std::size_t n_components, const Executor& executor,
                  std::vector<double>& evidence);

// The hyperprior's part of the NLE:
// S K lgamma(eta) - eta S K log(nu) + nu sum alpha - eta sum lambda.
double neg_log_prior(const std::vector<double>& log_alpha, std::size_t n_taxa,
                     std::size_t n_components);

}  // namespace fastdmm

#endif
