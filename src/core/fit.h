// A fitted model from a converged EM state: Hessians, LogDet, criteria and bounds (design section 1, steps 3-5).
#ifndef FASTDMM_FIT_H
#define FASTDMM_FIT_H

#include <cstddef>
#include <vector>

#include "counts.h"
#include "em.h"
#include "parallel.h"

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
FitResult finish_fit(const Counts& counts, EmState state, bool reference_hessian,
                     const Executor& executor);

}  // namespace fastdmm

#endif
