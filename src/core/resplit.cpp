// Re-splits of pairs of components: pool, search the pool with two components, refit the pair on the whole table, keep what lowers the NLE.
#include "resplit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "evidence.h"
#include "hash.h"
#include "hellinger_kmeans.h"
#include "starts.h"

namespace fastdmm {

namespace {

// A key of the pool's members from their content (fingerprint, see
// hellinger_kmeans.h), whatever their order: a sum of hashes, so that the same
// samples in another row order give the same key and the same search.
std::uint64_t pool_key(const std::vector<std::uint32_t>& rows,
                       const std::vector<std::uint64_t>& fingerprint) {
  std::uint64_t h = splitmix64_first(rows.size());
  for (std::uint32_t r : rows) h += splitmix64_finalise(fingerprint[r]);
  return h;
}

// The pool's best two-component state: `starts` k-means++ starts on the pool's
// table, each run to convergence. (Moving them by transfers as well halved the
// speed for the same optima on mouseData: the whole table's transfers follow
// an accepted re-split anyway.)
struct PoolSplit {
  EmState state;
  bool found = false;
  int em_iterations = 0;
};

PoolSplit search_pool(const Counts& pool, std::uint64_t key, const ResplitSettings& settings,
                      const Executor& executor, const FitHooks& hooks) {
  const SquareRootProportions roots(pool);
  const std::vector<std::uint64_t> fingerprint = sample_fingerprints(pool, executor);
  StartSettings start_settings;
  start_settings.n_components = 2;
  start_settings.optimiser = settings.optimiser;
  EmSettings em = settings.em;
  em.verbose_iterations = false;
  FitHooks quiet = hooks;
  quiet.verbose = false;
  PoolSplit best;
  for (int s = 0; s < settings.starts; ++s) {
    StartSpec spec;
    spec.kind = StartKind::kmeanspp;
    spec.seed = static_cast<std::uint32_t>(
        splitmix64_first(key ^ (static_cast<std::uint64_t>(settings.seed) << 20) ^
                         static_cast<std::uint64_t>(s)));
    int kmeans_iterations = 0;
    EmState state = start_state(pool, spec, roots, fingerprint, start_settings, executor, quiet,
                                kmeans_iterations);
    const EmRun run = run_em(pool, state, em, settings.optimiser, executor, quiet);
    best.em_iterations += run.iterations;
    if (!best.found || state.nle < best.state.nle - 1e-9 * std::fabs(best.state.nle)) {
      best.state = std::move(state);
      best.found = true;
    }
    hooks.check_interrupt();
  }
  return best;
}

}  // namespace

ResplitResult resplit_moves(const Counts& counts, EmState& state, const ResplitSettings& settings,
                            const std::vector<std::uint64_t>& fingerprint,
                            std::vector<std::uint64_t>& tried, const Executor& executor,
                            const FitHooks& hooks, const KnownOptima* known) {
  const std::size_t K = state.n_components, S = counts.n_taxa, N = counts.n_samples;
  ResplitResult result;
  if (K < 2 || N < settings.min_pool) return result;
  if (fingerprint.size() != N) {
    throw std::logic_error("resplit_moves() needs one fingerprint per sample");
  }
  // The key of each pair's pool when it was last tried (0: never).
  tried.resize(K * K, 0);
  std::vector<std::size_t> label = arg_max_labels(state.next_posterior, K);
  std::vector<double> evidence;
  log_evidence(counts, state.log_alpha, K, executor, evidence);
  bool any = true;
  while (any) {
    any = false;
    for (std::size_t a = 0; a + 1 < K; ++a) {
      for (std::size_t b = a + 1; b < K; ++b) {
        std::vector<std::uint32_t> rows;
        for (std::size_t i = 0; i < N; ++i) {
          if (label[i] == a || label[i] == b) rows.push_back(static_cast<std::uint32_t>(i));
        }
        if (rows.size() < settings.min_pool) continue;
        const std::uint64_t key = pool_key(rows, fingerprint) | 1u;
        if (tried[a * K + b] == key) continue;
        tried[a * K + b] = key;
        const Counts pool = subset_table(counts, rows, executor);
        PoolSplit split = search_pool(pool, key, settings, executor, hooks);
        result.total_em_iterations += split.em_iterations;
        ResplitRecord record;
        record.first = static_cast<int>(a);
        record.second = static_cast<int>(b);
        record.samples = static_cast<int>(rows.size());
        record.pool_em_iterations = split.em_iterations;
        record.nle_before = record.nle_after = state.nle;
        // The pool's components go to a and b the way that keeps more samples where
        // they are.
        const std::vector<std::size_t> part = arg_max_labels(split.state.next_posterior, 2);
        std::size_t same = 0;
        for (std::size_t m = 0; m < rows.size(); ++m) same += (part[m] == 0) == (label[rows[m]] == a);
        const bool swap = 2 * same < rows.size();
        std::vector<std::uint32_t> to(rows.size());
        for (std::size_t m = 0; m < rows.size(); ++m) {
          to[m] = static_cast<std::uint32_t>((part[m] == 0) != swap ? a : b);
          record.changed += to[m] != label[rows[m]] ? 1 : 0;
        }
        if (record.changed == 0) {
          result.trials.push_back(record);
          continue;
        }
        // The refit of a and b starts from the pool's parameters, fitted to the
        // same members.
        std::vector<double> start(2 * S);
        const double* pool_alpha = split.state.log_alpha.data();
        const std::size_t first = swap ? 1 : 0;
        std::copy(pool_alpha + first * S, pool_alpha + (first + 1) * S, start.begin());
        std::copy(pool_alpha + (1 - first) * S, pool_alpha + (2 - first) * S, start.begin() + S);
        EmState trial;
        trial.workspace = state.workspace;
        int unconverged = 0;
        const double nle = try_reassignment(counts, state, evidence, a, b, rows, to,
                                            settings.optimiser, executor, trial, unconverged,
                                            start.data());
        record.accepted = keep_if_lower(counts, state, trial, nle, unconverged, settings.em,
                                        settings.optimiser, executor, hooks, result,
                                        record.nle_after, record.em_iterations);
        if (record.accepted) {
          result.total_em_iterations += record.em_iterations;
          if (hooks.verbose) {
            hooks.message(format_message("  re-split of components %.0f and %.0f: ", a + 1.0,
                                         b + 1.0) +
                          format_message("NLE %.4f -> %.4f", record.nle_before,
                                         record.nle_after));
          }
          label = arg_max_labels(state.next_posterior, K);
          log_evidence(counts, state.log_alpha, K, executor, evidence);
          any = true;
        }
        result.trials.push_back(record);
        if (record.accepted && reached_known_optimum(known, state, result)) return result;
        hooks.check_interrupt();
      }
    }
  }
  return result;
}

}  // namespace fastdmm
