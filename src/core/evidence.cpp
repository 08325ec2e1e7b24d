// The E-step over tiles of samples: lgamma tables per (taxon, count) pair, per-sample sums, posteriors; columns kept by lambda.
#include "evidence.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "hash.h"
#include "memory.h"
#include "model.h"
#include "special.h"
#include "width.h"

namespace fastdmm {

namespace {

// pair_table[p * K + k] = lgamma(alpha_kj + c_p) - lgamma(alpha_kj) for pair p of
// taxon j: one pair's values for all components sit together, as the tiles read
// them. depth_table[d * K + k] = lgamma(A_k + J_d) - lgamma(A_k). With
// `alpha_out` (the tables then keep no columns), alpha_out[k * S + j] =
// exp(lambda_kj), made once and used by both tables.
void evidence_tables(const Counts& counts, const std::vector<double>& log_alpha, std::size_t K,
                     const Executor& executor, EStepWorkspace& tables,
                     std::vector<double>* alpha_out = nullptr) {
  const std::size_t S = counts.n_taxa, n_depths = counts.n_depths();
  // Which columns must be made: all, unless the table holds columns for these
  // pairs and some components' lambda is the one a column was made from.
  std::vector<unsigned char> fresh(K, 1);
  const bool kept = tables.keep_columns && tables.pair_table.size() == K * counts.n_pairs() &&
                    tables.table_log_alpha.size() == K * S &&
                    tables.table_pair_ptr == counts.pair_ptr &&
                    tables.table_pair_value == counts.pair_value;
  if (kept) {
    for (std::size_t k = 0; k < K; ++k) {
      const double* now = &log_alpha[k * S];
      fresh[k] = std::equal(now, now + S, &tables.table_log_alpha[k * S]) ? 0 : 1;
    }
  }
  const bool depths_kept = kept && tables.depth_table.size() == K * n_depths &&
                           tables.table_depth_value == counts.depth_value;
  // Until its columns are made the table holds none that can be kept.
  tables.table_log_alpha.clear();
  if (tables.keep_columns) {
    if (!kept) {
      tables.table_pair_ptr = counts.pair_ptr;
      tables.table_pair_value = counts.pair_value;
    }
    if (!depths_kept) tables.table_depth_value = counts.depth_value;
  } else {
    tables.table_pair_ptr.clear();
    tables.table_pair_value.clear();
    tables.table_depth_value.clear();
  }
  resize_for_overwrite(tables.pair_table, K * counts.n_pairs());
  const bool any_fresh = std::find(fresh.begin(), fresh.end(), 1) != fresh.end();
  // Taxa with the same list of values (Counts::value_class) have equal columns
  // wherever a component gives them the same lambda, as the taxa its samples do
  // not count all have (the M-step's shared variable): the first taxon of each
  // class is made in a first pass, and the others copy its values where their
  // lambda is its lambda, in a second. The values are lgamma_differences()'s,
  // bit for bit, on any executor.
  // Other taxa of a class that share a lambda other than the first's (the
  // M-step's exchangeable taxa) copy the first of them made in the same task
  // (`made`: by class, component and lambda, open addressing).
  const bool classed = counts.value_class.size() == S;
  const auto make = [&](bool firsts) {
    executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
      std::vector<double> differences;
      std::vector<RepeatedExp> alpha_of(K);
      ProbeTable made(firsts ? 0 : end - begin);
      for (std::size_t j = begin; j < end; ++j) {
        const std::size_t c = classed ? counts.value_class[j] : j;
        if ((c == j) != firsts) continue;
        const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
        if (n == 0) continue;
        const std::size_t from = counts.pair_ptr[c];
        differences.resize(n);
        for (std::size_t k = 0; k < K; ++k) {
          if (!fresh[k]) continue;
          double* column = &tables.pair_table[first * K + k];
          const double lambda = log_alpha[k * S + j];
          if (c != j && lambda == log_alpha[k * S + c]) {
            const double* same = &tables.pair_table[from * K + k];
            for (std::size_t m = 0; m < n; ++m) column[m * K] = same[m * K];
            continue;
          }
          if (!firsts) {
            // (j itself, entered for an earlier component, is not made yet.)
            std::uint32_t& slot = made.find(
                splitmix64_finalise(double_bits(lambda) ^ splitmix64_first(c * K + k)),
                [&](std::size_t t) {
                  return t != j && counts.value_class[t] == c && log_alpha[k * S + t] == lambda;
                });
            if (ProbeTable::found(slot)) {
              const double* same =
                  &tables.pair_table[counts.pair_ptr[ProbeTable::item(slot)] * K + k];
              for (std::size_t m = 0; m < n; ++m) column[m * K] = same[m * K];
              continue;
            }
            // At most half the slots taken: past that, the rest is made.
            if (made.has_room()) made.enter(slot, j);
          }
          const double alpha = alpha_out != nullptr ? (*alpha_out)[k * S + j]
                                                    : alpha_of[k](log_alpha[k * S + j]);
          lgamma_differences(alpha, &counts.pair_value[first], n, differences.data());
          for (std::size_t m = 0; m < n; ++m) column[m * K] = differences[m];
        }
      }
    }, kTaxonGrain);
  };
  tables.depth_table.resize(K * n_depths);
  if (alpha_out != nullptr) resize_for_overwrite(*alpha_out, K * S);
  // The depth tables first: with alpha_out they make the alphas the pair
  // tables read.
  executor.parallel_for(K, [&](std::size_t begin, std::size_t end) {
    std::vector<double> differences(n_depths);
    for (std::size_t k = begin; k < end; ++k) {
      if (depths_kept && !fresh[k]) continue;
      double total_alpha = 0.0;
      RepeatedExp alpha_of;
      for (std::size_t j = 0; j < S; ++j) {
        const double alpha = alpha_of(log_alpha[k * S + j]);
        if (alpha_out != nullptr) (*alpha_out)[k * S + j] = alpha;
        total_alpha += alpha;
      }
      lgamma_differences(total_alpha, counts.depth_value.data(), n_depths, differences.data());
      for (std::size_t d = 0; d < n_depths; ++d) tables.depth_table[d * K + k] = differences[d];
    }
  });
  if (any_fresh) {
    make(true);
    if (classed) make(false);
  }
  if (tables.keep_columns) tables.table_log_alpha = log_alpha;
}

// The largest e_ik over components of positive weight: the offset of sample i's
// log-sum-exp. Leaving out components of zero weight keeps the normaliser away
// from underflow.
double largest_weighted(const double* e, const double* weights, std::size_t K) {
  double offset = -std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < K; ++k) {
    if (weights[k] > 0.0 && e[k] > offset) offset = e[k];
  }
  return offset;
}

// Posterior row z (if asked for) and the sample's log-likelihood term without its
// multinomial coefficient, from its evidence row e.
template <std::size_t W>
double finish_sample(const double* e, const double* weights, double total_weight,
                     std::size_t K, double* z) {
  const std::size_t k_count = W ? W : K;
  const double offset = largest_weighted(e, weights, k_count);
  double mixture = 0.0, normaliser = 0.0;
  for (std::size_t k = 0; k < k_count; ++k) {
    // exp() of anything below -746 is 0 in doubles; skipping the call (whose
    // underflow path is slow) changes nothing.
    const double difference = e[k] - offset;
    const double scaled = weights[k] > 0.0 && difference >= -746.0 ? std::exp(difference) : 0.0;
    mixture += weights[k] / total_weight * scaled;
    const double value = weights[k] * scaled;
    if (z != nullptr) z[k] = value;
    normaliser += value;
  }
  if (z != nullptr) {
    for (std::size_t k = 0; k < k_count; ++k) z[k] /= normaliser;
  }
  return std::log(mixture) + offset;
}

template <std::size_t W>
void expectation_tiles(const Counts& counts, const EStepWorkspace& tables,
                       const std::vector<double>& weights, std::size_t K,
                       const Executor& executor, const EStepOutputs& outputs,
                       std::vector<double>& per_sample) {
  const std::size_t k_count = W ? W : K;
  const std::size_t N = counts.n_samples, S = counts.n_taxa;
  double total_weight = 0.0;
  for (double w : weights) total_weight += w;
  const bool finish = outputs.posterior != nullptr || outputs.log_likelihood != nullptr;
  double* evidence = outputs.evidence != nullptr ? outputs.evidence->data() : nullptr;
  double* posterior = outputs.posterior != nullptr ? outputs.posterior->data() : nullptr;
  const std::uint16_t* tile_row = counts.tile_row.data();
  const double* pair_table = tables.pair_table.data();

  // tile_pairs[e] + pair_base[j] is entry e's pair (16-bit ranks or 32-bit pairs).
  with_tile_pairs(counts, [&](const auto* tile_pairs, const auto& pair_base) {
    executor.parallel_for(counts.n_tiles(), [&](std::size_t begin, std::size_t end) {
      Buffer<double> rows(counts.tile_size * k_count);
      double values[W ? W : 1];
      for (std::size_t t = begin; t < end; ++t) {
        const std::size_t first = t * counts.tile_size, n = std::min(counts.tile_size, N - first);
        for (std::size_t r = 0; r < n; ++r) {
          const double* depth = &tables.depth_table[counts.sample_depth[first + r] * k_count];
          for (std::size_t k = 0; k < k_count; ++k) rows[r * k_count + k] = -depth[k];
        }
        // The tile's entries in the tile view's order: every sample adds its
        // non-zeros in taxon order, and a pair's values are read once per run.
        for (std::size_t j = 0; j < S; ++j) {
          const std::size_t first_pair = pair_base[j];
          const std::size_t last = counts.tile_ptr[t * S + j + 1];
          for (std::size_t e = counts.tile_ptr[t * S + j]; e < last;) {
            const auto pair = tile_pairs[e];
            const double* table = &pair_table[(first_pair + pair) * k_count];
            if constexpr (W != 0) {
              for (std::size_t k = 0; k < k_count; ++k) values[k] = table[k];
              table = values;
            }
            do {
              double* row = &rows[static_cast<std::size_t>(tile_row[e]) * k_count];
              for (std::size_t k = 0; k < k_count; ++k) row[k] += table[k];
              ++e;
            } while (e < last && tile_pairs[e] == pair);
          }
        }
        if (evidence != nullptr) {
          std::copy(rows.data(), rows.data() + n * k_count, evidence + first * k_count);
        }
        if (finish) {
          for (std::size_t r = 0; r < n; ++r) {
            const std::size_t i = first + r;
            per_sample[i] =
                finish_sample<W>(&rows[r * k_count], weights.data(), total_weight, k_count,
                                 posterior != nullptr ? posterior + i * k_count : nullptr) +
                counts.log_multinomial[i];
          }
        }
      }
    });
  });
}

// expectation() with a cache that serves the table: the columns it lacks made
// in one pass of their own (their pair and depth tables, then the tiles for
// them alone; a column's sums do not depend on the other columns of its pass),
// added to the cache, and the outputs assembled from the columns. A sample's
// row is the one the tiles would hold, and it is finished and summed as there.
// When it lacks every column, the one pass finishes the rows as well.
void cached_expectation(const Counts& counts, const std::vector<double>& log_alpha,
                        const std::vector<double>& weights, std::size_t K,
                        const Executor& executor, const EStepOutputs& outputs,
                        std::vector<double>& per_sample, ColumnCache& cache) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa;
  cache.next_pass();
  std::vector<const EvidenceColumn*> column(K, nullptr);
  std::vector<std::size_t> missing;
  for (std::size_t k = 0; k < K; ++k) {
    column[k] = cache.find(&log_alpha[k * S]);
    if (column[k] == nullptr) missing.push_back(k);
  }
  if (!missing.empty()) {
    // When none is kept (EM on soft posteriors moves every component), the one
    // pass that makes the columns finishes the rows as well, as without a cache.
    const std::size_t M = missing.size();
    const bool all = M == K;
    std::vector<double> sub_alpha, alpha, evidence;
    if (!all) {
      sub_alpha.resize(M * S);
      for (std::size_t m = 0; m < M; ++m) {
        std::copy(&log_alpha[missing[m] * S], &log_alpha[missing[m] * S] + S, &sub_alpha[m * S]);
      }
    }
    const std::vector<double>& made = all ? log_alpha : sub_alpha;
    EStepWorkspace& tables = cache.scratch();
    tables.keep_columns = false;
    evidence_tables(counts, made, M, executor, tables, &alpha);
    resize_for_overwrite(evidence, N * M);
    EStepOutputs pass;
    pass.evidence = &evidence;
    std::vector<double> unused;
    if (all) {
      pass.posterior = outputs.posterior;
      pass.log_likelihood = outputs.log_likelihood;
      if (outputs.posterior != nullptr) resize_for_overwrite(*outputs.posterior, N * K);
    }
    with_width(M, [&](auto width) {
      expectation_tiles<decltype(width)::value>(counts, tables, all ? weights : unused, M,
                                                 executor, pass, all ? per_sample : unused);
    });
    // Two components with the same lambda (a kick copies one to another) share
    // a column.
    for (std::size_t m = 0; m < M; ++m) {
      const EvidenceColumn* known = cache.find(&made[m * S]);
      column[missing[m]] =
          known != nullptr ? known : cache.add(&made[m * S], &alpha[m * S], evidence, M, m);
    }
    if (all) {
      if (outputs.evidence != nullptr) outputs.evidence->swap(evidence);
      return;
    }
  }
  if (outputs.evidence != nullptr) {
    resize_for_overwrite(*outputs.evidence, N * K);
    double* out = outputs.evidence->data();
    for (std::size_t k = 0; k < K; ++k) {
      const double* e = column[k]->evidence.data();
      for (std::size_t i = 0; i < N; ++i) out[i * K + k] = e[i];
    }
  }
  if (outputs.posterior == nullptr && outputs.log_likelihood == nullptr) return;
  if (outputs.posterior != nullptr) resize_for_overwrite(*outputs.posterior, N * K);
  double total_weight = 0.0;
  for (double w : weights) total_weight += w;
  double* posterior = outputs.posterior != nullptr ? outputs.posterior->data() : nullptr;
  with_width(K, [&](auto width) {
    constexpr std::size_t W = decltype(width)::value;
    executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
      std::vector<double> row(K);
      for (std::size_t i = begin; i < end; ++i) {
        for (std::size_t k = 0; k < K; ++k) row[k] = column[k]->evidence[i];
        per_sample[i] = finish_sample<W>(row.data(), weights.data(), total_weight, K,
                                         posterior != nullptr ? posterior + i * K : nullptr) +
                        counts.log_multinomial[i];
      }
    }, kSampleGrain);
  });
}

}  // namespace

ColumnCache::ColumnCache(const Counts& counts, std::size_t capacity)
    : counts_(&counts),
      n_samples_(counts.n_samples),
      n_taxa_(counts.n_taxa),
      n_pairs_(counts.n_pairs()),
      capacity_(std::max<std::size_t>(1, capacity)),
      scratch_(new EStepWorkspace()) {}

bool ColumnCache::serves(const Counts& counts) const {
  return &counts == counts_ && counts.n_samples == n_samples_ && counts.n_taxa == n_taxa_ &&
         counts.n_pairs() == n_pairs_;
}

const EvidenceColumn* ColumnCache::find(const double* log_alpha) {
  const std::size_t bytes = n_taxa_ * sizeof(double);
  for (const std::unique_ptr<EvidenceColumn>& c : columns_) {
    if (std::memcmp(c->log_alpha.data(), log_alpha, bytes) == 0) {
      c->used = clock_;
      return c.get();
    }
  }
  return nullptr;
}

const EvidenceColumn* ColumnCache::add(const double* log_alpha, const double* alpha,
                                       const std::vector<double>& evidence, std::size_t stride,
                                       std::size_t offset) {
  // Made whole before it is placed, so that a failed allocation leaves no
  // column half made.
  std::unique_ptr<EvidenceColumn> made(new EvidenceColumn());
  made->log_alpha.assign(log_alpha, log_alpha + n_taxa_);
  made->alpha.assign(alpha, alpha + n_taxa_);
  made->evidence.resize(n_samples_);
  for (std::size_t i = 0; i < n_samples_; ++i) made->evidence[i] = evidence[i * stride + offset];
  made->used = clock_;
  std::unique_ptr<EvidenceColumn>* slot = nullptr;
  if (columns_.size() >= capacity_) {
    // The least recently used column not used in this pass.
    for (std::unique_ptr<EvidenceColumn>& c : columns_) {
      if (c->used != clock_ && (slot == nullptr || c->used < (*slot)->used)) slot = &c;
    }
  }
  if (slot == nullptr) {
    columns_.push_back(std::move(made));
    return columns_.back().get();
  }
  *slot = std::move(made);
  return slot->get();
}

std::shared_ptr<ColumnCache> column_cache_for(const Counts& counts, std::size_t K) {
  const double column_bytes =
      sizeof(double) * (2.0 * static_cast<double>(counts.n_taxa) + counts.n_samples);
  const double wanted = 3.0 * K + 4.0, least = K + 2.0;
  if (least * column_bytes > 4.0 * kColumnCacheBytes) return nullptr;
  const double affordable = std::floor(kColumnCacheBytes / column_bytes);
  const double capacity = std::min(wanted, std::max(least, affordable));
  return std::make_shared<ColumnCache>(counts, static_cast<std::size_t>(capacity));
}

void expectation(const Counts& counts, const std::vector<double>& log_alpha,
                 const std::vector<double>& weights, std::size_t n_components,
                 const Executor& executor, const EStepOutputs& outputs,
                 EStepWorkspace* workspace) {
  const std::size_t N = counts.n_samples, K = n_components;
  EStepWorkspace local;
  EStepWorkspace& tables = workspace != nullptr ? *workspace : local;
  if (tables.cache != nullptr && tables.cache->serves(counts)) {
    std::vector<double>& per_sample = tables.per_sample;
    const bool finish = outputs.log_likelihood != nullptr || outputs.posterior != nullptr;
    resize_for_overwrite(per_sample, finish ? N : 0);
    cached_expectation(counts, log_alpha, weights, K, executor, outputs, per_sample,
                       *tables.cache);
    if (outputs.log_likelihood != nullptr) {
      double total = 0.0;
      for (double value : per_sample) total += value;
      *outputs.log_likelihood = total;
    }
    return;
  }
  evidence_tables(counts, log_alpha, K, executor, tables);
  if (outputs.evidence != nullptr) resize_for_overwrite(*outputs.evidence, N * K);
  if (outputs.posterior != nullptr) resize_for_overwrite(*outputs.posterior, N * K);
  std::vector<double>& per_sample = tables.per_sample;
  resize_for_overwrite(per_sample,
                       outputs.log_likelihood != nullptr || outputs.posterior != nullptr ? N : 0);
  with_width(K, [&](auto width) {
    expectation_tiles<decltype(width)::value>(counts, tables, weights, K, executor, outputs,
                                               per_sample);
  });
  if (outputs.log_likelihood != nullptr) {
    double total = 0.0;
    for (double value : per_sample) total += value;
    *outputs.log_likelihood = total;
  }
}

void log_evidence(const Counts& counts, const std::vector<double>& log_alpha,
                  std::size_t n_components, const Executor& executor,
                  std::vector<double>& evidence, ColumnCache* cache) {
  EStepOutputs outputs;
  outputs.evidence = &evidence;
  if (cache != nullptr && cache->serves(counts)) {
    std::vector<double> unused;
    cached_expectation(counts, log_alpha, {}, n_components, executor, outputs, unused, *cache);
    return;
  }
  expectation(counts, log_alpha, {}, n_components, executor, outputs);
}

double neg_log_prior(const std::vector<double>& log_alpha, std::size_t n_taxa,
                     std::size_t n_components, ColumnCache* cache) {
  const std::size_t S = n_taxa;
  const double cells = static_cast<double>(n_taxa) * static_cast<double>(n_components);
  double sum_alpha = 0.0, sum_log_alpha = 0.0;
  RepeatedExp alpha_of;
  // Summed in the order of log_alpha whichever alpha come from the cache.
  for (std::size_t k = 0; k < n_components; ++k) {
    const EvidenceColumn* column = cache != nullptr ? cache->find(&log_alpha[k * S]) : nullptr;
    for (std::size_t j = 0; j < S; ++j) {
      const double lambda = log_alpha[k * S + j];
      sum_alpha += column != nullptr ? column->alpha[j] : alpha_of(lambda);
      sum_log_alpha += lambda;
    }
  }
  return cells * log_gamma(kPriorShape) - kPriorShape * cells * std::log(kPriorRate) +
         kPriorRate * sum_alpha - kPriorShape * sum_log_alpha;
}

}  // namespace fastdmm
