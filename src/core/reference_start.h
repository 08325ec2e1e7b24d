// The reference's start: soft k-means on sample proportions from its random stream (DESIGN.md section 1).
#ifndef FASTDMM_REFERENCE_START_H
#define FASTDMM_REFERENCE_START_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

struct KmeansResult {
  std::vector<double> posterior;  // z[i * K + k]
  std::vector<double> centres;    // mu[k * S + j]
  std::vector<double> weights;    // W_k = sum_i z_ik of the final z
  int iterations = 0;
};

// Hard random start from the reference's stream, then soft assignments
// z_ik proportional to exp(-50 ||y_i - mu_k||) until no centre moves by more than
// `tolerance` (Euclidean) or `max_iterations` is reached. `progress(iteration,
// change)` is called on the calling thread every iteration.
KmeansResult soft_kmeans(const Counts& counts, std::size_t n_components, std::uint32_t seed,
                         const Executor& executor, int max_iterations, double tolerance,
                         const std::function<void(int, double)>& progress);

}  // namespace fastdmm

#endif
