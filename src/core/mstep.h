// The M-step kernel: each component's negative log posterior in lambda = log(alpha), its derivatives (diagonal-plus-rank-one Hessian) and a damped Newton optimiser.
#ifndef FASTDMM_MSTEP_H
#define FASTDMM_MSTEP_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "memory.h"
#include "parallel.h"

namespace fastdmm {

// The z-weighted histograms a component's objective needs (DESIGN.md section 2):
// pair[p] = sum of z_ik over the samples whose count of p's taxon equals p's value,
// depth[d] = sum of z_ik over the samples of depth J_d, total = W_k. Made
// afresh for every trial and ranking and written in full: OverwriteVectors.
struct ComponentHistograms {
  OverwriteVector<double> pair;
  OverwriteVector<double> depth;
  double total = 0.0;
};

// The posteriors of every sample that the per-pair histograms add (all but the
// negligible ones, see mstep.cpp), and room for the histograms' sums, kept from
// one EM iteration to the next. With deep samples a sample's posteriors are
// nearly always one 1 and the rest negligible, so a histogram entry costs one
// addition instead of k: sample i's row is `single[i]` when it has one such
// posterior; otherwise its k posteriors (the negligible ones 0) are
// dense[start[i] * k .. (start[i] + 1) * k].
struct PosteriorRow {
  double value;
  std::uint32_t component;
  std::uint32_t count;  // non-zeros in the row; 1: `value` and `component` say it all
};

struct HistogramWorkspace {
  std::vector<PosteriorRow> single;
  std::vector<std::size_t> start;
  OverwriteVector<double> dense;
  OverwriteVector<double> sums;  // [p * K + k]
};

// Histograms of every component from posterior[i * K + k], O(nnz K): one pass over
// the tiles per block of taxa, adding each taxon's entries of a tile; each sum
// runs in sample order.
// `weights` is resized and overwritten (its storage reused).
void fill_component_histograms(const Counts& counts, const std::vector<double>& posterior,
                            std::size_t n_components, const Executor& executor,
                            std::vector<ComponentHistograms>& weights,
                            HistogramWorkspace* workspace = nullptr);

std::vector<ComponentHistograms> component_histograms(const Counts& counts,
                                                const std::vector<double>& posterior,
                                                std::size_t n_components,
                                                const Executor& executor);

// For the reference's Hessian: per pair, the number of samples with that count whose
// posterior z_ik is not exactly zero (unweighted, as the reference's C sums them).
std::vector<double> nonzero_posterior_pair_counts(const Counts& counts,
                                                  const std::vector<double>& posterior,
                                                  std::size_t n_components, std::size_t k);

// f_k(lambda) = sum_i z_ik [lgamma(A + J_i) - lgamma(A)]
//             - sum_ij z_ik [lgamma(alpha_j + x_ij) - lgamma(alpha_j)]
//             + nu sum_j alpha_j - eta sum_j lambda_j
// Sums over taxa run in fixed blocks of kTaxonBlock taxa (in parallel when the
// executor has threads), combined in block order: the same result for any executor.
constexpr std::size_t kTaxonBlock = 256;

// `magnitude`, if given, receives the sum of the absolute values of its terms: the
// scale of its rounding error.
double component_objective(const Counts& counts, const ComponentHistograms& weights,
                           const double* log_alpha, const Executor& executor,
                           double* magnitude = nullptr);

// Gradient and Hessian of f_k: gradient_j = alpha_j G_j - eta and
// H = diag(diagonal) + rank_one * alpha alpha^T (DESIGN.md section 1).
struct ComponentDerivatives {
  // Resized and written in full at every evaluation: OverwriteVectors.
  OverwriteVector<double> alpha;
  OverwriteVector<double> gradient;
  OverwriteVector<double> diagonal;
  double rank_one = 0.0;
};

// Which Hessian the fit reports: the exact one, or DirichletMultinomial's
// (R's hessian = "reference"), whose per-taxon sums drop the weights.
enum class Hessian { exact, reference };

// With Hessian::reference, `reference_pair_counts` is used; the gradient is exact
// either way.
void component_derivatives(const Counts& counts, const ComponentHistograms& weights,
                           const double* log_alpha, const Executor& executor,
                           ComponentDerivatives& out, Hessian hessian = Hessian::exact,
                           const std::vector<double>* reference_pair_counts = nullptr);

struct OptimiserOptions {
  double gradient_tolerance = 1e-6;  // Euclidean norm of the gradient in lambda
  // Stop once a full Newton step would lower f by no more than this (the Newton
  // decrement); EM sets it from its own threshold. 0: the gradient alone decides.
  double objective_tolerance = 0.0;
  int max_iterations = 1000;
  double max_step = 5.0;  // largest change of any lambda_j in one step
  // em_step() reuses a component's M-step while its lambda is a converged M-step
  // for posteriors that differ from the E-step's new ones by at most this much,
  // summed over samples (EmState::settled, em.h); negative: never.
  double settled_change = -1.0;
};

struct OptimiserReport {
  int iterations = 0;
  // Where the derivatives were last evaluated: the end point, or the start of
  // a last Newton step taken without evaluating its end (which the bound on
  // the decrement after it allows only with objective_tolerance > 0).
  double gradient_norm = 0.0;
  bool converged = false;
  // Whether f had to be computed at the start: false when the start was
  // converged or in Newton's region, where the derivatives alone decide.
  bool start_needed_objective = false;
};

// Where an M-step starts. `near_optimum` says that the start is expected to be
// converged or in Newton's region (for example because the last M-step of the
// same component, on nearly the same posteriors, started there): the start
// then gets its derivatives alone, and f only if a line search follows.
// Otherwise f and the derivatives come in one walk, which costs less than two
// when a line search follows, as it does from most starts. Either way the
// iterates are the same; only the work differs.
enum class Start { far, near_optimum };

// Minimises f_k over lambda from the given start (warm start), in place.
OptimiserReport optimise_component(const Counts& counts, const ComponentHistograms& weights,
                                   double* log_alpha, const OptimiserOptions& options,
                                   const Executor& executor, Start start = Start::far);

// log|det H| by the matrix determinant lemma and diag(H^-1) by Sherman-Morrison,
// both O(S), for H = diag(diagonal) + rank_one * alpha alpha^T.
struct HessianSummary {
  double log_abs_det = 0.0;
  std::vector<double> inverse_diagonal;
};
HessianSummary summarise_hessian(const ComponentDerivatives& derivatives);

}  // namespace fastdmm

#endif
