// The whole fit: soft k-means start, EM with parallel E- and M-steps, Hessian, criteria.
#ifndef FASTDMM_FIT_H
#define FASTDMM_FIT_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "counts.h"
#include "mstep.h"
#include "parallel.h"

namespace fastdmm {

struct FitOptions {
  std::size_t n_components = 1;
  std::uint32_t seed = 0;
  int max_iterations = 100;  // EM iterations
  double tolerance = 1e-6;   // |change in NLE| that stops EM
  bool reference_hessian = false;
  int kmeans_max_iterations = 1000;
  double kmeans_tolerance = 1e-6;
  OptimiserOptions optimiser;
};

// Hooks called on the calling thread only, between iterations.
struct FitHooks {
  bool verbose = false;
  std::function<void(const std::string&)> message = [](const std::string&) {};
  std::function<void()> check_interrupt = [] {};
};

// Components are in the order the initialisation produced (unsorted).
struct FitResult {
  std::size_t n_samples = 0, n_taxa = 0, n_components = 0;
  std::vector<double> log_alpha;  // [k * S + j]
  std::vector<double> weights;    // W_k = sum_i z_ik
  std::vector<double> posterior;  // [k * N + i], from the last E-step
  std::vector<double> lower;      // [k * S + j]
  std::vector<double> upper;      // [k * S + j]
  double nle = 0.0, log_det = 0.0, laplace = 0.0, bic = 0.0, aic = 0.0;
  double log_likelihood = 0.0;
  std::vector<double> nle_trace;  // NLE after each EM iteration
  int em_iterations = 0;
  int kmeans_iterations = 0;
  bool converged = false;
  int unconverged_msteps = 0;  // M-steps whose optimiser stopped above 1e-3
};

FitResult fit_dmm(const Counts& counts, const FitOptions& options, const Executor& executor,
                  const FitHooks& hooks);

}  // namespace fastdmm

#endif
