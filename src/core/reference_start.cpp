// The reference's start, soft k-means over the non-zeros only (tile by tile): O(nnz K) per iteration.
#include "reference_start.h"

#include <algorithm>
#include <cmath>

#include "memory.h"
#include "rng.h"
#include "hellinger_kmeans.h"
#include "width.h"

namespace fastdmm {

namespace {
constexpr double kSoftness = 50.0;
}

namespace {

// One taxon's centres mu_kj (k = 0..K-1) and their squares, held in registers when
// K = W is known at compile time, for adding (y - mu_kj)^2 - mu_kj^2 to a
// sample's K sums, two components at a time.
template <std::size_t W>
class Centre {
 public:
  Centre(const double* mu, std::size_t) {
    for (std::size_t h = 0; h < W / 2; ++h) {
      mu_[h] = load2(mu + 2 * h);
      square_[h] = mu_[h] * mu_[h];
    }
    if (W % 2 != 0) {
      last_mu_ = mu[W - 1];
      last_square_ = last_mu_ * last_mu_;
    }
  }
  void add_distance_terms(double y, double* distance2) const {
    const Double2 y2 = {y, y};
    FASTDMM_UNROLL_COMPONENTS
    for (std::size_t h = 0; h < W / 2; ++h) {
      const Double2 difference = mu_[h] - y2;
      store2(distance2 + 2 * h, load2(distance2 + 2 * h) + (difference * difference - square_[h]));
    }
    if (W % 2 != 0) {
      const double difference = last_mu_ - y;
      distance2[W - 1] += difference * difference - last_square_;
    }
  }

 private:
  Double2 mu_[W / 2 > 0 ? W / 2 : 1];
  Double2 square_[W / 2 > 0 ? W / 2 : 1];
  double last_mu_ = 0.0, last_square_ = 0.0;
};

// K known at run time only.
template <>
class Centre<0> {
 public:
  Centre(const double* mu, std::size_t K) : mu_(mu), K_(K) {}
  void add_distance_terms(double y, double* distance2) const {
    for (std::size_t k = 0; k < K_; ++k) {
      const double difference = mu_[k] - y;
      distance2[k] += difference * difference - mu_[k] * mu_[k];
    }
  }

 private:
  const double* mu_;
  std::size_t K_;
};

// z_ik proportional to exp(-50 ||y_i - mu_k||) for every sample, from centres laid
// out by taxon (centre_by_taxon[j * K + k]) with their squared norms:
// ||y_i - mu_k||^2 = ||mu_k||^2 + sum_{j: y_ij > 0} [(y_ij - mu_kj)^2 - mu_kj^2].
// Tile by tile, the sums accumulate in z's rows themselves, taxon by taxon, so
// each sample adds its non-zeros in taxon order, as a walk along it would.
template <std::size_t W>
void soft_assign(const Counts& counts, std::size_t K, const std::vector<double>& centre_by_taxon,
                 const std::vector<double>& centre_norm2, const Executor& executor,
                 std::vector<double>& z) {
  const std::size_t k_count = W ? W : K;
  const std::size_t N = counts.n_samples, S = counts.n_taxa;
  executor.parallel_for(counts.n_tiles(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) {
      const std::size_t first = t * counts.tile_size, n = std::min(counts.tile_size, N - first);
      double* rows = &z[first * k_count];
      for (std::size_t r = 0; r < n; ++r) {
        for (std::size_t k = 0; k < k_count; ++k) rows[r * k_count + k] = centre_norm2[k];
      }
      with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
        const std::size_t* tile_ptr = &counts.tile_ptr[t * S];
        const std::uint16_t* tile_row = counts.tile_row.data();
        const double* depth = &counts.depth[first];
        for (std::size_t j = 0; j < S; ++j) {
          Centre<W> centre(&centre_by_taxon[j * k_count], k_count);
          const std::size_t first_pair = base[j];
          for (std::size_t e = tile_ptr[j]; e < tile_ptr[j + 1]; ++e) {
            const std::size_t r = tile_row[e];
            // y_ij = x_ij / J_i, divided as the reference divides (so the same value).
            const double y = counts.pair_value[first_pair + pairs[e]] / depth[r];
            centre.add_distance_terms(y, &rows[r * k_count]);
          }
        }
      });
      for (std::size_t r = 0; r < n; ++r) {
        double* row = &rows[r * k_count];
        double normaliser = 0.0;
        for (std::size_t k = 0; k < k_count; ++k) {
          // Rounding can leave a tiny negative value where the distance is zero.
          row[k] = std::exp(-kSoftness * std::sqrt(std::max(row[k], 0.0)));
          normaliser += row[k];
        }
        for (std::size_t k = 0; k < k_count; ++k) row[k] /= normaliser;
      }
    }
  });
}

}  // namespace

KmeansResult soft_kmeans(const Counts& counts, std::size_t n_components, std::uint32_t seed,
                         const Executor& executor, int max_iterations, double tolerance,
                         const std::function<void(int, double)>& progress) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  KmeansResult result;
  auto& z = result.posterior;
  auto& centres = result.centres;
  resize_for_overwrite(z, N * K);
  std::fill(z.begin(), z.end(), 0.0);
  centres.assign(K * S, 0.0);

  ReferenceRng rng(seed);
  for (std::size_t i = 0; i < N; ++i) {
    z[i * K + rng.uniform_int(static_cast<std::uint32_t>(K))] = 1.0;
  }

  std::vector<double> weights(K), new_centres, centre_norm2(K), centre_by_taxon(S * K);
  double max_change = 1.0e9;
  int iteration = 0;
  while (max_change > tolerance && iteration < max_iterations) {
    new_centres = proportion_centres(counts, z, K, executor, &weights);
    max_change = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      // A component no sample belongs to has no mean; the reference divides by zero
      // here and returns NaN. Its centre stays where it was (the origin at first),
      // which keeps its distances finite so it can regain members.
      if (!(weights[k] > 0.0)) continue;
      double change = 0.0;
      for (std::size_t j = 0; j < S; ++j) {
        const double difference = new_centres[k * S + j] - centres[k * S + j];
        change += difference * difference;
        centres[k * S + j] = new_centres[k * S + j];
      }
      change = std::sqrt(change);
      if (change > max_change) max_change = change;
    }
    for (std::size_t k = 0; k < K; ++k) {
      double norm2 = 0.0;
      for (std::size_t j = 0; j < S; ++j) {
        norm2 += centres[k * S + j] * centres[k * S + j];
        centre_by_taxon[j * K + k] = centres[k * S + j];
      }
      centre_norm2[k] = norm2;
    }
    with_width(K, [&](auto width) {
      soft_assign<decltype(width)::value>(counts, K, centre_by_taxon, centre_norm2, executor, z);
    });
    ++iteration;
    progress(iteration, max_change);
  }

  result.weights.assign(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t k = 0; k < K; ++k) result.weights[k] += z[i * K + k];
  }
  result.iterations = iteration;
  return result;
}

}  // namespace fastdmm
