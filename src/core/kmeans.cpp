// Soft k-means initialisation over the non-zeros only: O(nnz K) per iteration.
#include "kmeans.h"

#include <algorithm>
#include <cmath>

#include "rng.h"
#include "start.h"

namespace fastdmm {

namespace {
constexpr double kSoftness = 50.0;
}

KmeansResult soft_kmeans(const Counts& counts, std::size_t n_components, std::uint32_t seed,
                         const Executor& executor, int max_iterations, double tolerance,
                         const std::function<void(int, double)>& progress) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  KmeansResult result;
  auto& z = result.posterior;
  auto& centres = result.centres;
  z.assign(K * N, 0.0);
  centres.assign(K * S, 0.0);

  // Proportions y_ij = x_ij / J_i are computed where they are used, one row at a
  // time, so that the start needs no memory per non-zero.
  const auto row_proportions = [&counts](std::size_t i, std::vector<double>& y) {
    y.resize(counts.row_ptr[i + 1] - counts.row_ptr[i]);
    for (std::size_t e = counts.row_ptr[i]; e < counts.row_ptr[i + 1]; ++e) {
      y[e - counts.row_ptr[i]] = counts.row_count(e) / counts.depth[i];
    }
  };

  ReferenceRng rng(seed);
  for (std::size_t i = 0; i < N; ++i) {
    z[rng.uniform_int(static_cast<std::uint32_t>(K)) * N + i] = 1.0;
  }

  std::vector<double> weights(K), new_centres, centre_norm2(K);
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
      for (std::size_t j = 0; j < S; ++j) norm2 += centres[k * S + j] * centres[k * S + j];
      centre_norm2[k] = norm2;
    }
    // ||y_i - mu_k||^2 = ||mu_k||^2 + sum_{j: y_ij > 0} [(y_ij - mu_kj)^2 - mu_kj^2].
    executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
      std::vector<double> kernel(K), y;
      for (std::size_t i = begin; i < end; ++i) {
        row_proportions(i, y);
        const std::size_t first = counts.row_ptr[i];
        double normaliser = 0.0;
        for (std::size_t k = 0; k < K; ++k) {
          const double* mu = &centres[k * S];
          double distance2 = centre_norm2[k];
          for (std::size_t e = counts.row_ptr[i]; e < counts.row_ptr[i + 1]; ++e) {
            const double m = mu[counts.row_taxon[e]];
            const double difference = m - y[e - first];
            distance2 += difference * difference - m * m;
          }
          // Rounding can leave a tiny negative value where the distance is zero.
          const double distance = std::sqrt(std::max(distance2, 0.0));
          kernel[k] = std::exp(-kSoftness * distance);
          normaliser += kernel[k];
        }
        for (std::size_t k = 0; k < K; ++k) z[k * N + i] = kernel[k] / normaliser;
      }
    }, kSampleGrain);
    ++iteration;
    progress(iteration, max_change);
  }

  result.weights.assign(K, 0.0);
  for (std::size_t k = 0; k < K; ++k) {
    double w = 0.0;
    for (std::size_t i = 0; i < N; ++i) w += z[k * N + i];
    result.weights[k] = w;
  }
  result.iterations = iteration;
  return result;
}

}  // namespace fastdmm
