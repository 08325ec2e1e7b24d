// The starts of EM: the reference's soft k-means, Hellinger k-means++ and a given posterior, each to a first EM state (DESIGN.md section 5).
#ifndef FASTDMM_STARTS_H
#define FASTDMM_STARTS_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "em.h"
#include "hellinger_kmeans.h"
#include "mstep.h"
#include "parallel.h"

namespace fastdmm {

// The kinds of start. R's dmn_fit() sends these codes by name (start_kind_codes
// in R/dmn_fit.R): a new kind is a new code there and here.
enum class StartKind { reference = 0, kmeanspp = 1, given = 2 };

// The kind's name as R's `init` spells it.
const char* start_kind_name(StartKind kind);

struct StartSpec {
  StartKind kind = StartKind::reference;
  std::uint32_t seed = 0;
  std::vector<double> posterior;  // kind == given: z[i * K + k], rows summing to 1
};

struct StartSettings {
  std::size_t n_components = 1;
  OptimiserOptions optimiser;
  int kmeans_max_iterations = 1000;  // the reference's soft k-means
  double kmeans_tolerance = 1e-6;
  bool report = false;  // the reference's verbose lines (a search of one start)
};

// The first EM state of one start: its posterior (the reference's soft k-means
// from its seed, Hellinger k-means++ labels, or the given posterior), then
// state_from_posterior() from the posterior's proportion centres. `roots` and
// `fingerprint` are needed by k-means++ starts only. `kmeans_iterations`
// receives the k-means iterations the start took (0 for a given one).
EmState start_state(const Counts& counts, const StartSpec& start,
                    const SquareRootProportions& roots,
                    const std::vector<std::uint64_t>& fingerprint,
                    const StartSettings& settings, const Executor& executor,
                    const FitHooks& hooks, int& kmeans_iterations);

}  // namespace fastdmm

#endif
