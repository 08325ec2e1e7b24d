// The top layer: a fit runs the search, then finishes the best state with Hessians, LogDet, criteria and bounds (DESIGN.md section 1).
#ifndef FASTDMM_FIT_H
#define FASTDMM_FIT_H

#include <cstddef>
#include <vector>

#include "counts.h"
#include "em.h"
#include "mstep.h"
#include "parallel.h"
#include "search.h"

namespace fastdmm {

// Components are in the order the search left them (unsorted).
struct FitResult {
  std::size_t n_samples = 0, n_taxa = 0, n_components = 0;
  std::vector<double> log_alpha;  // [k * S + j]
  std::vector<double> weights;    // W_k = sum_i z_ik
  std::vector<double> posterior;  // [i * K + k], from the last E-step
  std::vector<double> lower;      // [k * S + j]
  std::vector<double> upper;      // [k * S + j]
  double nle = 0.0, log_det = 0.0, laplace = 0.0, bic = 0.0, aic = 0.0;
  double log_likelihood = 0.0;
  int unconverged_msteps = 0;  // M-steps whose optimiser stopped above 1e-3
};

// The Hessian of every component at the state's lambda with the histograms of its
// last E-step (recomputed from its posterior when absent), LogDet with the
// reference's convention, Laplace, BIC, AIC and the Lower/Upper bounds.
FitResult finish_fit(const Counts& counts, EmState state, Hessian hessian,
                     const Executor& executor);

struct FitOptions {
  SearchOptions search;
  Hessian hessian = Hessian::exact;
};

// The search's records and the finished fit of its best state (`state` is
// moved into `fit`).
struct FittedSearch : SearchResult {
  FitResult fit;
};

// One fit for one k: search_dmm(), then finish_fit() of the best state found.
FittedSearch fit_dmm(const Counts& counts, const std::vector<StartSpec>& starts,
                     const FitOptions& options, const Executor& executor,
                     const FitHooks& hooks);

}  // namespace fastdmm

#endif
