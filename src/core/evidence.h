// The E-step: per-sample log evidence under each component, posteriors and the log likelihood.
#ifndef FASTDMM_EVIDENCE_H
#define FASTDMM_EVIDENCE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "counts.h"
#include "memory.h"
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

class ColumnCache;

// Buffers an E-step fills and the next one reuses (no allocation, no page faults
// per iteration). Every number of the tables is written before it is read, so
// they are OverwriteVectors: a search's E-steps alternate between two columns
// (trials) and all k, and growing back would zero-fill the difference every
// time.
struct EStepWorkspace {
  OverwriteVector<double> pair_table;   // [p * K + k]
  OverwriteVector<double> depth_table;  // [d * K + k]
  std::vector<double> per_sample;       // log-likelihood terms
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
  // With a cache that serves the table, E-steps take their columns from it
  // (and add the ones it lacks) instead of the above.
  std::shared_ptr<ColumnCache> cache;
};

// One component's part of an E-step, made from its lambda (the key) alone: alpha
// = exp(lambda), bit for bit, and every sample's log evidence e_ik.
struct EvidenceColumn {
  std::vector<double> log_alpha, alpha, evidence;
  std::uint64_t used = 0;
};

// The E-step columns of a search's recent states, kept by the lambda they were
// made from (DESIGN.md section 2, "E-step columns kept by lambda"). A local
// search evaluates states that differ from the last in a component or two (a
// transfer's trial, the same trial evaluated whole once it promises, EM's
// steps after it, the ranking's evidence), so most of the columns an E-step
// needs were made for an earlier one. Each column depends on lambda_k and the
// table alone, so a column taken from here is the one an E-step would make,
// bit for bit. It serves one table (`counts`, compared by address and size,
// which cannot change while the search that made the cache runs). Not shared
// between threads: a search's start owns its cache, as it owns its states.
class ColumnCache {
 public:
  // Room for `capacity` columns (at least 1); an E-step's own columns are never
  // evicted while it runs, so one of K components may hold K.
  ColumnCache(const Counts& counts, std::size_t capacity);
  bool serves(const Counts& counts) const;
  // The column made from lambda (n_taxa values, compared bit for bit), or
  // nullptr; a column found is kept through the current pass.
  const EvidenceColumn* find(const double* log_alpha);
  // Adds the column made from lambda, alpha and the evidence
  // evidence[i * stride + offset]; evicts the least recently used column not
  // used in the current pass when the cache is full.
  const EvidenceColumn* add(const double* log_alpha, const double* alpha,
                            const std::vector<double>& evidence, std::size_t stride,
                            std::size_t offset);
  // Starts a pass (an E-step): its columns stay until the next pass starts.
  void next_pass() { ++clock_; }
  std::size_t capacity() const { return capacity_; }
  // The tables of the columns an E-step makes (scratch, reused).
  EStepWorkspace& scratch() { return *scratch_; }

 private:
  const Counts* counts_;
  std::size_t n_samples_, n_taxa_, n_pairs_;
  std::size_t capacity_;
  std::vector<std::unique_ptr<EvidenceColumn>> columns_;
  std::uint64_t clock_ = 1;
  std::unique_ptr<EStepWorkspace> scratch_;
};

// A cache for a search of `counts` with K components: 3 K + 4 columns, fewer
// when they would take more than kColumnCacheBytes (but at least K + 2); none
// (nullptr) when K + 2 would take more than four times that.
std::shared_ptr<ColumnCache> column_cache_for(const Counts& counts, std::size_t K);
constexpr double kColumnCacheBytes = 64.0 * 1024 * 1024;

// One pass over the table in tiles of samples (DESIGN.md section 7): per-pair and
// per-depth lgamma tables, then each tile's rows of K sums filled taxon by taxon,
// then its posteriors and log-likelihood terms. Every sample sums its taxa in
// increasing order and the log-likelihood sums samples in order, so the result is
// the same for any executor. log_alpha is [k * S + j]; `weights` may be empty
// when only the evidence is asked for. With a workspace whose cache serves the
// table, the pass makes only the columns the cache lacks, and the rest is
// assembled from its columns: the same numbers.
void expectation(const Counts& counts, const std::vector<double>& log_alpha,
                 const std::vector<double>& weights, std::size_t n_components,
                 const Executor& executor, const EStepOutputs& outputs,
                 EStepWorkspace* workspace = nullptr);

// The evidence alone, [i * K + k]; with a cache that serves the table, its
// columns are taken from there (and the missing ones added).
void log_evidence(const Counts& counts, const std::vector<double>& log_alpha,
                  std::size_t n_components, const Executor& executor,
                  std::vector<double>& evidence, ColumnCache* cache = nullptr);

// The hyperprior's part of the NLE:
// S K lgamma(eta) - eta S K log(nu) + nu sum alpha - eta sum lambda.
// With a cache, the alpha of components whose column it holds are its own
// (the same numbers, without their exp()).
double neg_log_prior(const std::vector<double>& log_alpha, std::size_t n_taxa,
                     std::size_t n_components, ColumnCache* cache = nullptr);

}  // namespace fastdmm

#endif
