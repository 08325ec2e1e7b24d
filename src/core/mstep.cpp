// M-step kernels: z-weighted histograms, f_k and its derivatives, damped Newton on lambda.
#include "mstep.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "hash.h"
#include "memory.h"
#include "model.h"
#include "special.h"
#include "width.h"

namespace fastdmm {

namespace {

// Posteriors below this are left out of the per-pair histograms (not of W_k or
// the depth histograms). With deep samples most posteriors that are not 0 or 1
// are far below it (a sample 100 log units worse under a component has z ~ 1e-44),
// and leaving them out makes a histogram entry one addition instead of k. What
// they would add to a component's objective is at most N * 1e-30 times its
// largest lgamma difference, far below the rounding of its prior terms (eta
// lambda_j per taxon), so no fit can tell.
constexpr double kNegligiblePosterior = 1e-30;
// Newton's region (optimise_component()): where the squared Newton decrement
// lambda^2 = -g . d is at most this, a full Newton step is taken without a line
// search. (1 - 2a)^2 / 16 with the Armijo constant a = 1e-4 is the bound of
// Newton's quadratically convergent phase for self-concordant functions (Boyd &
// Vandenberghe 2004, section 9.6.4), where backtracking would accept the full step.
constexpr double kNewtonRegion = (1.0 - 2e-4) * (1.0 - 2e-4) / 16.0;

// A bound on half the squared Newton decrement after a full Newton step from a
// point whose squared decrement is `decrement2` (< 1): for self-concordant
// functions the decrement after the step is at most (lambda / (1 - lambda))^2
// (Nesterov 2004, theorem 4.1.14; Boyd & Vandenberghe 2004, section 9.6.4).
// Where this is below the M-step's objective tolerance, the step is its last.
double decrement_after_full_step(double decrement2) {
  const double lambda = std::sqrt(decrement2);
  const double ratio = lambda / (1.0 - lambda);
  const double after = ratio * ratio;
  return 0.5 * after * after;
}

void nonzero_posteriors(const double* posterior, std::size_t N, std::size_t K,
                        const Executor& executor, HistogramWorkspace& nz) {
  resize_for_overwrite(nz.single, N);
  resize_for_overwrite(nz.start, N + 1);
  nz.start[0] = 0;
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      PosteriorRow row{0.0, 0, 0};
      for (std::size_t k = 0; k < K; ++k) {
        const double z = posterior[i * K + k];
        if (!(z >= kNegligiblePosterior)) continue;
        if (row.count == 0) {
          row.value = z;
          row.component = static_cast<std::uint32_t>(k);
        }
        ++row.count;
      }
      nz.single[i] = row;
      nz.start[i + 1] = row.count > 1 ? 1 : 0;
    }
  }, kSampleGrain);
  // Rows of several posteriors are copied whole, negligible ones as 0 (adding
  // +0.0 changes no sum), so that they are added k at a time.
  for (std::size_t i = 0; i < N; ++i) nz.start[i + 1] += nz.start[i];
  resize_for_overwrite(nz.dense, nz.start[N] * K);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      if (nz.start[i] == nz.start[i + 1]) continue;
      double* row = &nz.dense[nz.start[i] * K];
      for (std::size_t k = 0; k < K; ++k) {
        const double z = posterior[i * K + k];
        row[k] = z >= kNegligiblePosterior ? z : 0.0;
      }
    }
  }, kSampleGrain);
}

// sum[k] += z_ik for sample i's posteriors that are not negligible.
template <std::size_t W>
inline void add_posterior_row(const HistogramWorkspace& nz, std::size_t i, std::size_t K,
                              double* sum) {
  const PosteriorRow& row = nz.single[i];
  if (row.count == 1) {
    sum[row.component] += row.value;
    return;
  }
  if (row.count == 0) return;
  const std::size_t k_count = W ? W : K;
  const double* z = &nz.dense[nz.start[i] * k_count];
  FASTDMM_UNROLL_COMPONENTS
  for (std::size_t k = 0; k < k_count; ++k) sum[k] += z[k];
}

template <std::size_t W>
void fill_histograms(const Counts& counts, const double* posterior, std::size_t K,
                     const Executor& executor, std::vector<ComponentHistograms>& weights,
                     HistogramWorkspace& nz) {
  const std::size_t N = counts.n_samples;
  resize_for_overwrite(nz.sums, counts.n_pairs() * K);
  const std::vector<std::size_t> blocks = taxon_blocks(counts, executor.threads());
  const std::size_t n_blocks = blocks.size() - 1;
  const std::size_t S = counts.n_taxa;
  const std::uint16_t* tile_row = counts.tile_row.data();
  // Task n_blocks sums the depth histograms and totals over samples in order;
  // the others walk their taxa's entries tile after tile, so that a tile's
  // posteriors stay in a core's cache while every taxon of the block adds its
  // entries of that tile. A pair's samples increase within a tile, and tiles
  // follow each other in sample order: each pair's sum runs in sample order.
  with_tile_pairs(counts, [&](const auto* tile_pairs, const auto& pair_base) {
  executor.parallel_for(n_blocks + 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      if (b == n_blocks) {
        // Every posterior, however small: W_k decides which components are empty.
        std::vector<double> total(K, 0.0), depth(K * counts.n_depths(), 0.0);
        for (std::size_t i = 0; i < N; ++i) {
          const double* z = &posterior[i * K];
          double* depth_row = &depth[counts.sample_depth[i] * K];
          for (std::size_t k = 0; k < K; ++k) {
            if (z[k] == 0.0) continue;
            depth_row[k] += z[k];
            total[k] += z[k];
          }
        }
        for (std::size_t k = 0; k < K; ++k) {
          weights[k].total = total[k];
          for (std::size_t d = 0; d < counts.n_depths(); ++d) weights[k].depth[d] = depth[d * K + k];
        }
        continue;
      }
      const std::size_t j0 = blocks[b], j1 = blocks[b + 1];
      const std::size_t p0 = counts.pair_ptr[j0], n_pairs = counts.pair_ptr[j1] - p0;
      double* sums = &nz.sums[p0 * K];
      std::fill(sums, sums + n_pairs * K, 0.0);
      for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
        const std::size_t first = t * counts.tile_size;
        for (std::size_t j = j0; j < j1; ++j) {
          const std::size_t base = pair_base[j];
          const std::size_t last = counts.tile_ptr[t * S + j + 1];
          for (std::size_t e = counts.tile_ptr[t * S + j]; e < last; ++e) {
            // The pair's place among the block's (never below p0).
            const std::size_t m = base + tile_pairs[e] - p0;
            add_posterior_row<W>(nz, first + tile_row[e], K, &sums[m * K]);
          }
        }
      }
      // Each component's histogram, one after another (a contiguous write each).
      const std::size_t k_count = W ? W : K;
      for (std::size_t k = 0; k < k_count; ++k) {
        double* out = weights[k].pair.data() + p0;
        const double* in = sums + k;
        for (std::size_t m = 0; m < n_pairs; ++m) out[m] = in[m * k_count];
      }
    }
  });
  });
}

}  // namespace

void fill_component_histograms(const Counts& counts, const std::vector<double>& posterior,
                            std::size_t n_components, const Executor& executor,
                            std::vector<ComponentHistograms>& weights,
                            HistogramWorkspace* workspace) {
  const std::size_t K = n_components;
  // Every entry is written below: sizes only, no zeroing.
  weights.resize(K);
  for (auto& w : weights) {
    resize_for_overwrite(w.pair, counts.n_pairs());
    resize_for_overwrite(w.depth, counts.n_depths());
  }
  HistogramWorkspace local;
  HistogramWorkspace& nz = workspace != nullptr ? *workspace : local;
  nonzero_posteriors(posterior.data(), counts.n_samples, K, executor, nz);
  with_width(K, [&](auto width) {
    fill_histograms<decltype(width)::value>(counts, posterior.data(), K, executor, weights, nz);
  });
}

std::vector<ComponentHistograms> component_histograms(const Counts& counts,
                                                const std::vector<double>& posterior,
                                                std::size_t n_components,
                                                const Executor& executor) {
  std::vector<ComponentHistograms> weights;
  fill_component_histograms(counts, posterior, n_components, executor, weights);
  return weights;
}

std::vector<double> nonzero_posterior_pair_counts(const Counts& counts,
                                                  const std::vector<double>& posterior,
                                                  std::size_t n_components, std::size_t k) {
  // Whole numbers: exact in any order.
  std::vector<double> pair_counts(counts.n_pairs(), 0.0);
  for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
    const std::size_t first = t * counts.tile_size;
    for_each_in_tile(counts, t, [&](std::size_t r, std::size_t, std::uint32_t pair) {
      if (posterior[(first + r) * n_components + k] != 0.0) pair_counts[pair] += 1.0;
    });
  }
  return pair_counts;
}

namespace {

// The variables of f_k as the optimiser sees them. Variable v < n_unit is one
// taxon, whose (value, weight) pairs are [pair_ptr[v], pair_ptr[v + 1]) of
// pair_value and pair_weight. With shared > 0, variable n_unit stands for that
// many taxa that no sample of the component counts (every weight on their pairs
// is zero), all at one lambda: each of their terms of f_k is
// nu alpha - eta lambda plus its share of A, the same function for all of them,
// so every stationary point has them equal and one variable of that multiplicity
// takes their place exactly (DESIGN.md section 2, "The M-step on a component's
// support"). Sums over the taxa then count it `shared` times (scaled()).
struct ComponentProblem {
  std::size_t n_unit = 0;
  double shared = 0.0;
  // Taxa per variable v < n_unit when some variable stands for several
  // (exchangeable taxa, SupportProblem); nullptr when each is one taxon.
  const double* multiplicity = nullptr;
  const std::size_t* pair_ptr = nullptr;
  const double* pair_value = nullptr;
  const double* pair_weight = nullptr;
  const double* depth_value = nullptr;
  const double* depth_weight = nullptr;
  std::size_t n_depths = 0;

  std::size_t size() const { return n_unit + (shared > 0.0 ? 1 : 0); }
  // Variable v's term x of a sum over taxa, times the taxa it stands for: x
  // itself for a taxon's own variable (what multiplying by 1 gives, bit for
  // bit, without the multiplication), shared * x for the shared one.
  double scaled(std::size_t v, double x) const {
    return v < n_unit ? (multiplicity != nullptr ? multiplicity[v] * x : x) : shared * x;
  }
};

// Every taxon a variable of its own, its pairs those of the table (zero weights
// are skipped by the walks).
ComponentProblem whole_problem(const Counts& counts, const ComponentHistograms& weights) {
  ComponentProblem problem;
  problem.n_unit = counts.n_taxa;
  problem.pair_ptr = counts.pair_ptr.data();
  problem.pair_value = counts.pair_value.data();
  problem.pair_weight = weights.pair.data();
  problem.depth_value = counts.depth_value.data();
  problem.depth_weight = weights.depth.data();
  problem.n_depths = counts.n_depths();
  return problem;
}

// The component's support: the taxa some of its samples count, each with its
// pairs of non-zero weight only, and one shared variable for the other taxa.
// Counted taxa whose (value, weight) pairs are the same are exchangeable: their
// terms of f_k are the same function of their own lambda, so the stationary
// points the optimiser reaches from equal values keep them equal, and one
// variable of that multiplicity stands for them all, as the shared one does for
// the uncounted taxa. With 0/1 posteriors most counted taxa of a wide table
// are counted by one member, a few times, and fall into few such classes
// (soilrep at k = 4: 30,577 counted taxa in 1,640 classes over the components).
// When every taxon is counted and most pairs carry weight (shallow tables, soft
// posteriors), copying would save little: the problem is then the whole one.
struct SupportProblem {
  std::vector<std::uint32_t> taxon;  // the counted taxa, increasing; empty: all
  // Each counted taxon's variable when some variable stands for several taxa
  // (else empty, and counted taxon u is variable u); the multiplicities.
  std::vector<std::uint32_t> variable_of;
  std::vector<double> multiplicity;
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value, pair_weight;
  ComponentProblem problem;  // points into the vectors above: not copyable

  SupportProblem(const SupportProblem&) = delete;
  SupportProblem& operator=(const SupportProblem&) = delete;
  // One pass over the table's pairs collects the counted ones; a component
  // that counts every taxon and most pairs keeps the whole problem instead
  // (its walks skip the zero weights), and the collection is dropped.
  SupportProblem(const Counts& counts, const ComponentHistograms& weights) {
    const std::size_t S = counts.n_taxa, P = counts.n_pairs();
    problem = whole_problem(counts, weights);
    // The pairs of non-zero weight, found a block at a time without a branch
    // per pair (with 0/1 posteriors most of a component's pairs have none, at
    // no predictable place), then walked with their taxa: the taxon cursor
    // passes every taxon once, and a taxon none of whose pairs is found adds
    // nothing.
    constexpr std::size_t kBlock = 256;
    std::size_t found[kBlock];
    pair_ptr.push_back(0);
    std::size_t j = 0;
    for (std::size_t first = 0; first < P; first += kBlock) {
      const std::size_t last = std::min(P, first + kBlock);
      std::size_t n_found = 0;
      for (std::size_t p = first; p < last; ++p) {
        found[n_found] = p;
        n_found += weights.pair[p] != 0.0 ? 1 : 0;
      }
      for (std::size_t m = 0; m < n_found; ++m) {
        const std::size_t p = found[m];
        if (p >= counts.pair_ptr[j + 1]) {
          // Past taxon j: its pairs end here when it was counted.
          if (!taxon.empty() && taxon.back() == j) pair_ptr.push_back(pair_value.size());
          while (p >= counts.pair_ptr[j + 1]) ++j;
        }
        if (taxon.empty() || taxon.back() != j) taxon.push_back(static_cast<std::uint32_t>(j));
        pair_value.push_back(counts.pair_value[p]);
        pair_weight.push_back(weights.pair[p]);
      }
    }
    if (!taxon.empty()) pair_ptr.push_back(pair_value.size());
    const std::size_t counted = taxon.size();
    if (counted == S && 2 * pair_value.size() > P) {
      taxon.clear();
      return;
    }
    const std::size_t n_variables = merge_exchangeable();
    problem.n_unit = n_variables;
    problem.shared = static_cast<double>(S - counted);
    problem.multiplicity = multiplicity.empty() ? nullptr : multiplicity.data();
    problem.pair_ptr = pair_ptr.data();
    problem.pair_value = pair_value.data();
    problem.pair_weight = pair_weight.data();
  }

  bool whole() const { return problem.shared == 0.0 && taxon.empty(); }

  // The variables from a component's lambda: a class of exchangeable taxa
  // starts at their mean lambda (their common one when they agree, as they do
  // when the last M-step saw the same pairs), the shared one at the smallest
  // lambda among the taxa it stands for (those that were uncounted before too
  // sit at one value, and a taxon just left uncounted comes down to it). The
  // uncounted taxa are the runs between counted ones.
  OverwriteVector<double> variables(const double* log_alpha, std::size_t S) const {
    if (whole()) return OverwriteVector<double>(log_alpha, log_alpha + S);
    const std::size_t U = taxon.size(), V = problem.n_unit;
    OverwriteVector<double> x(problem.size());
    // A class's first lambda, and the sum of all of them once one differs.
    std::vector<double> sum;
    std::vector<unsigned char> seen, differ;
    if (!variable_of.empty()) {
      sum.assign(V, 0.0);
      seen.assign(V, 0);
      differ.assign(V, 0);
    }
    double shared = std::numeric_limits<double>::infinity();
    std::size_t j = 0;
    for (std::size_t u = 0; u < U; ++u) {
      for (; j < taxon[u]; ++j) shared = std::min(shared, log_alpha[j]);
      const double lambda = log_alpha[j++];
      if (variable_of.empty()) {
        x[u] = lambda;
        continue;
      }
      const std::size_t v = variable_of[u];
      if (!seen[v]) {
        x[v] = lambda;
        seen[v] = 1;
      } else if (lambda != x[v]) {
        differ[v] = 1;
      }
      sum[v] += lambda;
    }
    for (; j < S; ++j) shared = std::min(shared, log_alpha[j]);
    for (std::size_t v = 0; v < sum.size(); ++v) {
      if (differ[v]) x[v] = sum[v] / multiplicity[v];
    }
    if (x.size() > V) x[V] = shared;
    return x;
  }

  // Every uncounted taxon gets the shared variable, every counted one its own
  // (its class's).
  void write_back(const OverwriteVector<double>& x, double* log_alpha, std::size_t S) const {
    if (whole()) {
      std::copy(x.begin(), x.end(), log_alpha);
      return;
    }
    const std::size_t U = taxon.size(), V = problem.n_unit;
    if (x.size() > V) std::fill(log_alpha, log_alpha + S, x[V]);
    if (variable_of.empty()) {
      for (std::size_t u = 0; u < U; ++u) log_alpha[taxon[u]] = x[u];
    } else {
      for (std::size_t u = 0; u < U; ++u) log_alpha[taxon[u]] = x[variable_of[u]];
    }
  }

 private:
  // Groups the counted taxa by their (value, weight) pairs, compared exactly,
  // in order of each class's first taxon, and keeps one copy of each class's
  // pairs. Returns the number of variables for counted taxa; leaves
  // variable_of and multiplicity empty when every class has one taxon.
  std::size_t merge_exchangeable() {
    const std::size_t U = taxon.size();
    if (U < 2) return U;
    ProbeTable classes(U);
    std::vector<std::uint32_t> representative;  // each class's first taxon u
    std::vector<std::uint32_t> of(U);
    const auto same_pairs = [&](std::size_t a, std::size_t b) {
      const std::size_t na = pair_ptr[a + 1] - pair_ptr[a];
      if (na != pair_ptr[b + 1] - pair_ptr[b]) return false;
      for (std::size_t m = 0; m < na; ++m) {
        if (pair_value[pair_ptr[a] + m] != pair_value[pair_ptr[b] + m] ||
            pair_weight[pair_ptr[a] + m] != pair_weight[pair_ptr[b] + m]) {
          return false;
        }
      }
      return true;
    };
    for (std::size_t u = 0; u < U; ++u) {
      std::uint64_t h = pair_ptr[u + 1] - pair_ptr[u];
      for (std::size_t p = pair_ptr[u]; p < pair_ptr[u + 1]; ++p) {
        h = splitmix64_finalise(h ^ double_bits(pair_value[p]));
        h = splitmix64_finalise(h ^ double_bits(pair_weight[p]));
      }
      std::uint32_t& slot =
          classes.find(h, [&](std::size_t c) { return same_pairs(representative[c], u); });
      if (!ProbeTable::found(slot)) {
        classes.enter(slot, representative.size());
        representative.push_back(static_cast<std::uint32_t>(u));
      }
      of[u] = static_cast<std::uint32_t>(ProbeTable::item(slot));
    }
    const std::size_t V = representative.size();
    if (V == U) return U;
    // Each class's pairs moved down to its place (representatives increase,
    // so every copy goes to or below where it is read).
    std::size_t out = 0;
    std::vector<std::size_t> ptr(V + 1);
    for (std::size_t v = 0; v < V; ++v) {
      const std::size_t u = representative[v];
      ptr[v] = out;
      for (std::size_t p = pair_ptr[u]; p < pair_ptr[u + 1]; ++p, ++out) {
        pair_value[out] = pair_value[p];
        pair_weight[out] = pair_weight[p];
      }
    }
    ptr[V] = out;
    pair_value.resize(out);
    pair_weight.resize(out);
    pair_ptr.swap(ptr);
    multiplicity.assign(V, 0.0);
    for (std::size_t u = 0; u < U; ++u) multiplicity[of[u]] += 1.0;
    variable_of.swap(of);
    return V;
  }
};

// f_k (with the scale of its rounding error) and/or its derivatives at lambda, in
// one walk over each variable's values: alpha and sum_j alpha_j first (fixed
// blocks of kTaxonBlock variables, summed in block order), then the depth sums,
// then every variable's lgamma, psi and psi1 sums together.
template <bool kObjective, bool kDerivatives>
void evaluate_component(const ComponentProblem& problem, const double* log_alpha,
                        const Executor& executor, double* objective, double* magnitude,
                        ComponentDerivatives* derivatives) {
  const std::size_t V = problem.size();
  const std::size_t n_blocks = (V + kTaxonBlock - 1) / kTaxonBlock;
  OverwriteVector<double> alpha_storage;
  OverwriteVector<double>& alpha = kDerivatives ? derivatives->alpha : alpha_storage;
  alpha.resize(V);
  std::vector<double> block_alpha(n_blocks), block_lambda(n_blocks), block_taxa(n_blocks);
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      double total = 0.0, sum_lambda = 0.0;
      for (std::size_t v = b * kTaxonBlock; v < std::min(V, (b + 1) * kTaxonBlock); ++v) {
        alpha[v] = std::exp(log_alpha[v]);
        total += problem.scaled(v, alpha[v]);
        sum_lambda += problem.scaled(v, log_alpha[v]);
      }
      block_alpha[b] = total;
      block_lambda[b] = sum_lambda;
    }
  });
  double total_alpha = 0.0, sum_lambda = 0.0;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    total_alpha += block_alpha[b];
    sum_lambda += block_lambda[b];
  }
  // sum_i z_i [lgamma(A + J_i) - lgamma(A)]; Q = sum_i z_i [psi(A + J_i) - psi(A)];
  // T1 = sum_i z_i [psi1(A + J_i) - psi1(A)].
  const GammaSums depth = weighted_gamma_differences<kObjective, kDerivatives>(
      total_alpha, problem.depth_value, problem.depth_weight, problem.n_depths);
  if (kDerivatives) {
    derivatives->gradient.resize(V);
    derivatives->diagonal.resize(V);
    derivatives->rank_one = depth.trigamma;
  }
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      double taxa_term = 0.0;
      for (std::size_t v = b * kTaxonBlock; v < std::min(V, (b + 1) * kTaxonBlock); ++v) {
        GammaSums taxon;
        if (v < problem.n_unit) {
          const std::size_t first = problem.pair_ptr[v], n = problem.pair_ptr[v + 1] - first;
          if (n > 0) {
            taxon = weighted_gamma_differences<kObjective, kDerivatives>(
                alpha[v], &problem.pair_value[first], &problem.pair_weight[first], n);
          }
        }
        taxa_term += problem.scaled(v, taxon.lgamma);
        if (kDerivatives) {
          const double g = depth.digamma + kPriorRate - taxon.digamma;
          derivatives->gradient[v] = alpha[v] * g - kPriorShape;
          derivatives->diagonal[v] = alpha[v] * g - alpha[v] * alpha[v] * taxon.trigamma;
        }
      }
      block_taxa[b] = taxa_term;
    }
  });
  if (kObjective) {
    double taxa_term = 0.0;
    for (double partial : block_taxa) taxa_term += partial;
    if (magnitude != nullptr) {
      *magnitude = std::fabs(depth.lgamma) + std::fabs(taxa_term) + kPriorRate * total_alpha +
                   kPriorShape * std::fabs(sum_lambda);
    }
    *objective = depth.lgamma - taxa_term + kPriorRate * total_alpha - kPriorShape * sum_lambda;
  }
}

}  // namespace

double component_objective(const Counts& counts, const ComponentHistograms& weights,
                           const double* log_alpha, const Executor& executor,
                           double* magnitude) {
  double objective = 0.0;
  evaluate_component<true, false>(whole_problem(counts, weights), log_alpha, executor,
                                  &objective, magnitude, nullptr);
  return objective;
}

void component_derivatives(const Counts& counts, const ComponentHistograms& weights,
                           const double* log_alpha, const Executor& executor,
                           ComponentDerivatives& out, Hessian hessian,
                           const std::vector<double>* reference_pair_counts) {
  evaluate_component<false, true>(whole_problem(counts, weights), log_alpha, executor, nullptr,
                                  nullptr, &out);
  if (hessian != Hessian::reference) return;
  // The reference sums psi(alpha_j + x_ij) over every sample with z_ik != 0 and
  // x_ij != 0 unweighted, and psi(alpha_j) over all other samples, then subtracts
  // W psi(alpha_j): per taxon that is
  // sum_c count_c [psi(alpha_j + c) - psi(alpha_j)] + (N - W) psi(alpha_j),
  // and the same with psi1 (DESIGN.md section 1). Its diagonal is
  // alpha_j (Q + nu - C0_j) - alpha_j^2 C1_j; the gradient stays exact.
  const std::size_t S = counts.n_taxa;
  // A = sum_j alpha_j as evaluate_component() sums it, and Q at A.
  double total_alpha = 0.0;
  for (std::size_t b = 0; b * kTaxonBlock < S; ++b) {
    double block = 0.0;
    for (std::size_t j = b * kTaxonBlock; j < std::min(S, (b + 1) * kTaxonBlock); ++j) {
      block += out.alpha[j];
    }
    total_alpha += block;
  }
  const double q = weighted_gamma_differences<false, true>(total_alpha, counts.depth_value.data(),
                                                           weights.depth.data(),
                                                           counts.n_depths()).digamma;
  const double unweighted_excess = static_cast<double>(counts.n_samples) - weights.total;
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      const double alpha = out.alpha[j];
      const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
      GammaSums unweighted;
      if (n > 0) {
        unweighted = weighted_gamma_differences<false, true>(
            alpha, &counts.pair_value[first], &(*reference_pair_counts)[first], n);
      }
      const double c0 = unweighted.digamma + unweighted_excess * digamma(alpha);
      const double c1 = unweighted.trigamma + unweighted_excess * trigamma(alpha);
      out.diagonal[j] = alpha * (q + kPriorRate - c0) - alpha * alpha * c1;
    }
  }, kTaxonGrain);
}

namespace {

// direction = -(H + mu I)^-1 g for the smallest mu in 0, 1e-8 s, 1e-7 s, ... that
// makes H + mu I positive definite (Levenberg-Marquardt damping; s is the scale of
// H), solved by Sherman-Morrison. Falls back to steepest descent. Returns whether
// the step is the undamped Newton step. A shared variable's direction is that of
// each taxon it stands for, so it enters the rank-one sums once per taxon.
bool damped_newton_direction(const ComponentProblem& problem, const ComponentDerivatives& d,
                             OverwriteVector<double>& direction) {
  const std::size_t V = d.alpha.size();
  const double c = d.rank_one;
  double scale = 0.0, largest_alpha2 = 0.0;
  for (std::size_t v = 0; v < V; ++v) {
    scale = std::max(scale, std::fabs(d.diagonal[v]));
    largest_alpha2 = std::max(largest_alpha2, d.alpha[v] * d.alpha[v]);
  }
  scale += std::fabs(c) * largest_alpha2;
  double mu = 0.0;
  for (int attempt = 0; attempt < 40; ++attempt) {
    bool positive = true;
    double s = 0.0, sg = 0.0;
    for (std::size_t v = 0; v < V && positive; ++v) {
      const double dv = d.diagonal[v] + mu;
      if (!(dv > 0.0)) {
        positive = false;
        break;
      }
      const double m_alpha = problem.scaled(v, d.alpha[v]);
      s += m_alpha * d.alpha[v] / dv;
      sg += m_alpha * d.gradient[v] / dv;
    }
    const double denominator = 1.0 + c * s;
    if (positive && denominator > 0.0 && std::isfinite(denominator)) {
      for (std::size_t v = 0; v < V; ++v) {
        direction[v] = -(d.gradient[v] - c * d.alpha[v] * sg / denominator) /
                       (d.diagonal[v] + mu);
      }
      return mu == 0.0;
    }
    mu = (mu == 0.0) ? std::max(1e-8 * scale, 1e-12) : mu * 10.0;
  }
  for (std::size_t v = 0; v < V; ++v) direction[v] = -d.gradient[v];
  return false;
}

// a . b over all taxa: a shared variable counts as the taxa it stands for (the
// slope g . direction, and the gradient's squared norm).
double dot_over_taxa(const ComponentProblem& problem, const OverwriteVector<double>& a,
                     const OverwriteVector<double>& b) {
  double sum = 0.0;
  for (std::size_t v = 0; v < a.size(); ++v) sum += problem.scaled(v, a[v]) * b[v];
  return sum;
}

double largest_of(const OverwriteVector<double>& direction) {
  double largest = 0.0;
  for (double x : direction) largest = std::max(largest, std::fabs(x));
  return largest;
}

// The search direction from derivatives d: the damped Newton direction, or
// steepest descent when that is no descent direction (or not finite). Sets
// `slope` (g . direction) and `largest` (max |direction_j|); returns whether it is
// the undamped Newton step.
bool descent_direction(const ComponentProblem& problem, const ComponentDerivatives& d,
                       double gradient_norm, OverwriteVector<double>& direction, double& slope,
                       double& largest) {
  const bool pure_newton = damped_newton_direction(problem, d, direction);
  slope = dot_over_taxa(problem, d.gradient, direction);
  largest = largest_of(direction);
  if (!(slope < 0.0) || !std::isfinite(largest)) {
    for (std::size_t v = 0; v < direction.size(); ++v) direction[v] = -d.gradient[v];
    slope = -gradient_norm * gradient_norm;
    largest = largest_of(direction);
  }
  return pure_newton;
}

// The step is taken in alpha rather than lambda: lambda_j + log(1 + d_j), which
// moves alpha_j by alpha_j d_j, as the Newton step d_j does to first order. For a
// taxon whose f_j is dominated by c alpha - b log(alpha) (the prior and rare or
// absent counts: most taxa in most components) that is the exact minimiser,
// where the Newton step in lambda shrinks alpha by at most a factor e per
// iteration. Near the optimum the two agree to second order, so convergence
// stays quadratic. Kept only when it is a descent direction. Then no lambda_j
// moves by more than options.max_step. `scratch` is a buffer of as many values.
void step_in_alpha(const ComponentProblem& problem, const ComponentDerivatives& d,
                   const OptimiserOptions& options, OverwriteVector<double>& direction,
                   OverwriteVector<double>& scratch, double& slope, double& largest) {
  const std::size_t V = d.alpha.size();
  {
    const double floor = std::expm1(-options.max_step);
    for (std::size_t v = 0; v < V; ++v) scratch[v] = std::log1p(std::max(direction[v], floor));
    const double alpha_slope = dot_over_taxa(problem, d.gradient, scratch);
    const double alpha_largest = largest_of(scratch);
    if (alpha_slope < 0.0 && std::isfinite(alpha_largest)) {
      direction.swap(scratch);
      slope = alpha_slope;
      largest = alpha_largest;
    }
  }
  if (largest > options.max_step) {
    const double shrink = options.max_step / largest;
    for (double& x : direction) x *= shrink;
    slope *= shrink;
  }
}

// Armijo backtracking from x along `direction` (slope g . direction < 0),
// halving the step up to 40 times until f falls by 1e-4 step |slope| (less the
// rounding `noise`). On success the point is in `trial`, with its f, magnitude and
// derivatives (one walk gives all three); false when no decrease is measurable.
bool armijo_search(const ComponentProblem& problem, const OverwriteVector<double>& x,
                   const OverwriteVector<double>& direction, double slope, double f, double noise,
                   const Executor& executor, OverwriteVector<double>& trial, double& f_trial,
                   double& trial_magnitude, ComponentDerivatives& trial_d) {
  const std::size_t V = direction.size();
  double step = 1.0;
  for (int halving = 0; halving < 40; ++halving) {
    for (std::size_t v = 0; v < V; ++v) trial[v] = x[v] + step * direction[v];
    evaluate_component<true, true>(problem, trial.data(), executor, &f_trial, &trial_magnitude,
                                   &trial_d);
    if (std::isfinite(f_trial) && f_trial <= f + 1e-4 * step * slope + noise) return true;
    step *= 0.5;
  }
  return false;
}

}  // namespace

OptimiserReport optimise_component(const Counts& counts, const ComponentHistograms& weights,
                                   double* log_alpha, const OptimiserOptions& options,
                                   const Executor& executor, Start start) {
  const std::size_t S = counts.n_taxa;
  // The optimiser works on the component's support (its counted taxa and one
  // shared variable for the rest): the same minimum, at a cost in the taxa and
  // pairs the component's samples count rather than in the table's.
  const SupportProblem support(counts, weights);
  const ComponentProblem& problem = support.problem;
  OverwriteVector<double> x = support.variables(log_alpha, S);
  const std::size_t V = x.size();
  OptimiserReport report;
  ComponentDerivatives d, trial_d;
  OverwriteVector<double> direction(V), trial(V), previous(V);
  // f is needed only by the line search: the derivatives decide convergence,
  // and steps in Newton's region are checked by their gradient. Every trial
  // point of a line search gets f and the derivatives in one walk, and so does
  // a start expected far from the optimum (most M-steps start with a line
  // search); a start expected near it and a step in Newton's region get the
  // derivatives alone, and f is computed there only if a line search follows
  // (`have_f`).
  double f = std::numeric_limits<double>::quiet_NaN(), magnitude = 0.0;
  bool have_f = start == Start::far;
  if (have_f) {
    evaluate_component<true, true>(problem, x.data(), executor, &f, &magnitude, &d);
  } else {
    evaluate_component<false, true>(problem, x.data(), executor, nullptr, nullptr, &d);
  }
  double previous_gradient_norm = std::numeric_limits<double>::infinity();
  bool unverified_step = false;
  for (int iteration = 0;; ++iteration) {
    const double gradient_norm = std::sqrt(dot_over_taxa(problem, d.gradient, d.gradient));
    if (unverified_step && !(gradient_norm < previous_gradient_norm)) {
      // The last step was taken on the gradient's word alone and did not shrink
      // it: undo it and stop, this is the optimum to working precision.
      x = previous;
      report.converged = previous_gradient_norm <= 1e-3;
      break;
    }
    report.iterations = iteration;
    report.gradient_norm = gradient_norm;
    if (gradient_norm <= options.gradient_tolerance) {
      report.converged = true;
      break;
    }
    if (iteration >= options.max_iterations) break;

    double slope = 0.0, largest = 0.0;
    const bool pure_newton =
        descent_direction(problem, d, gradient_norm, direction, slope, largest);
    // The Newton decrement: a full Newton step would lower f by about -slope / 2.
    // Below `objective_tolerance` the rest of the M-step is worth less than the
    // EM threshold can see (DESIGN.md section 2): stop here.
    if (pure_newton && largest <= options.max_step &&
        -0.5 * slope <= options.objective_tolerance) {
      report.converged = true;
      break;
    }
    // Newton's region: the undamped step, uncapped, promises a decrease (the
    // squared Newton decrement -slope) of at most kNewtonRegion. There the full
    // step is taken and kept if the gradient it lands on is smaller, as it is
    // where Newton's method converges quadratically; f is not needed.
    const bool newton_region =
        pure_newton && largest <= options.max_step && -slope <= kNewtonRegion;
    // In the region a full step's successor would itself stop the M-step (its
    // decrement below the tolerance) by the bound above: then the step is taken
    // as the last, without the walk that would only confirm it.
    const bool last_step =
        newton_region && decrement_after_full_step(-slope) <= options.objective_tolerance;
    step_in_alpha(problem, d, options, direction, trial, slope, largest);
    unverified_step = false;
    if (newton_region && largest <= options.max_step) {
      for (std::size_t v = 0; v < V; ++v) trial[v] = x[v] + direction[v];
      if (last_step) {
        x.swap(trial);
        report.iterations = iteration + 1;
        report.converged = true;
        break;
      }
      evaluate_component<false, true>(problem, trial.data(), executor, nullptr, nullptr,
                                      &trial_d);
      const double trial_norm =
          std::sqrt(dot_over_taxa(problem, trial_d.gradient, trial_d.gradient));
      if (trial_norm < gradient_norm) {
        x.swap(trial);
        std::swap(d, trial_d);
        have_f = false;
        continue;
      }
      // Not where the quadratic model holds after all: the line search decides.
    }
    if (!have_f) {
      evaluate_component<true, false>(problem, x.data(), executor, &f, &magnitude, nullptr);
      have_f = true;
    }

    if (iteration == 0) report.start_needed_objective = true;
    // f is a difference of sums far larger than itself; below this its rounding
    // hides any decrease, and only the gradient can tell a step is good.
    const double noise = 1e-12 * magnitude;
    if (-slope <= noise) {
      if (!pure_newton || largest > options.max_step) {
        report.converged = gradient_norm <= 1e-3;
        break;
      }
      previous = x;
      for (std::size_t v = 0; v < V; ++v) x[v] += direction[v];
      evaluate_component<true, true>(problem, x.data(), executor, &f, &magnitude, &d);
      previous_gradient_norm = gradient_norm;
      unverified_step = true;
      continue;
    }
    double f_trial = f, trial_magnitude = magnitude;
    if (!armijo_search(problem, x, direction, slope, f, noise, executor, trial, f_trial,
                       trial_magnitude, trial_d)) {
      // No decrease is measurable: the optimum as far as doubles can tell.
      report.converged = gradient_norm <= 1e-3;
      break;
    }
    x.swap(trial);
    std::swap(d, trial_d);
    f = f_trial;
    magnitude = trial_magnitude;
  }
  support.write_back(x, log_alpha, S);
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
