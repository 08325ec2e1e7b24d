// One start of EM: the reference's soft k-means, Hellinger k-means++ or a given posterior, to its first EM state.
#include "starts.h"

#include <utility>

#include "reference_start.h"

namespace fastdmm {

const char* start_kind_name(StartKind kind) {
  switch (kind) {
    case StartKind::reference: return "reference";
    case StartKind::kmeanspp: return "kmeans++";
    case StartKind::given: return "given";
  }
  return "?";
}

EmState start_state(const Counts& counts, const StartSpec& start,
                    const SquareRootProportions& roots,
                    const std::vector<std::uint64_t>& fingerprint,
                    const StartSettings& settings, const Executor& executor,
                    const FitHooks& hooks, int& kmeans_iterations) {
  const std::size_t K = settings.n_components;
  const bool report = hooks.verbose && settings.report;
  kmeans_iterations = 0;
  std::vector<double> posterior, centres;
  if (start.kind == StartKind::reference) {
    if (report) hooks.message("  Soft kmeans");
    KmeansResult soft = soft_kmeans(
        counts, K, start.seed, executor, settings.kmeans_max_iterations,
        settings.kmeans_tolerance, [&](int iteration, double change) {
          if (report && iteration % 10 == 0) {
            hooks.message(format_message("    iteration %.0f change %f", iteration, change));
          }
          hooks.check_interrupt();
        });
    kmeans_iterations = soft.iterations;
    posterior = std::move(soft.posterior);
    centres = std::move(soft.centres);
  } else {
    if (start.kind == StartKind::kmeanspp) {
      HellingerPartition partition = hellinger_kmeans(counts, roots, {}, fingerprint, K,
                                                      start.seed, executor, 100,
                                                      hooks.check_interrupt);
      kmeans_iterations = partition.iterations;
      posterior = posterior_from_labels(partition.label, K);
    } else {
      posterior = start.posterior;
    }
    centres = proportion_centres(counts, posterior, K, executor);
  }
  hooks.check_interrupt();
  if (report) hooks.message("  Expectation Maximization setup");
  EmState state = state_from_posterior(counts, K, std::move(posterior), centres,
                                       settings.optimiser, executor);
  hooks.check_interrupt();
  return state;
}

}  // namespace fastdmm
