// Completes a count table from its compressed columns (tile view, depths, multinomial coefficients); the table of a subset of samples.
#include "counts.h"

#include <algorithm>
#include <memory>

#include "build_counts.h"
#include "special.h"

namespace fastdmm {

// Blocks of taxa with about equal numbers of non-zeros, at least two per thread
// (fewer, longer sweeps over the posteriors). Each pair belongs to one block, so
// the blocks never write to the same histogram entry.
std::vector<std::size_t> taxon_blocks(const Counts& counts, int threads) {
  const std::size_t S = counts.n_taxa;
  const std::size_t wanted = 2 * static_cast<std::size_t>(threads < 1 ? 1 : threads);
  const double share = static_cast<double>(counts.nnz()) / static_cast<double>(wanted);
  std::vector<std::size_t> bounds{0};
  for (std::size_t j = 0; j < S; ++j) {
    const double before = static_cast<double>(counts.col_ptr[bounds.back()]);
    if (static_cast<double>(counts.col_ptr[j + 1]) - before >= share && j + 1 < S) {
      bounds.push_back(j + 1);
    }
  }
  bounds.push_back(S);
  return bounds;
}

namespace {

// The tile view (see counts.h), from each column in turn: the column's entries
// of one tile are a run of it (samples increase down a column), written to
// their tile-major place ordered by pair by a counting sort, which keeps them in
// sample order within a pair.
void build_tile_view(Counts& counts, const Executor& executor) {
  const std::size_t S = counts.n_taxa, nnz = counts.col_sample.size();
  const std::size_t n_tiles = counts.n_tiles(), T = counts.tile_size;
  counts.tile_ptr.assign(n_tiles * S + 1, 0);
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
        ++counts.tile_ptr[(counts.col_sample[e] / T) * S + j + 1];
      }
    }
  }, kTaxonGrain);
  for (std::size_t c = 0; c < n_tiles * S; ++c) counts.tile_ptr[c + 1] += counts.tile_ptr[c];
  counts.tile_row = Buffer<std::uint16_t>(nnz);
  if (counts.narrow_pairs) {
    counts.tile_rank = Buffer<std::uint16_t>(nnz);
  } else {
    counts.tile_pair = Buffer<std::uint32_t>(nnz);
  }
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> slot;
    for (std::size_t j = begin; j < end; ++j) {
      const std::size_t first_pair = counts.pair_ptr[j];
      slot.resize(counts.pair_ptr[j + 1] - first_pair);
      std::size_t e = counts.col_ptr[j];
      for (std::size_t t = 0; t < n_tiles; ++t) {
        const std::size_t from = e;
        const std::size_t to = e + (counts.tile_ptr[t * S + j + 1] - counts.tile_ptr[t * S + j]);
        if (from == to) continue;
        std::fill(slot.begin(), slot.end(), 0);
        for (e = from; e < to; ++e) ++slot[counts.col_pair[e] - first_pair];
        std::size_t position = counts.tile_ptr[t * S + j];
        for (std::size_t& place : slot) {
          const std::size_t n = place;
          place = position;
          position += n;
        }
        for (e = from; e < to; ++e) {
          const std::size_t out = slot[counts.col_pair[e] - first_pair]++;
          if (counts.narrow_pairs) {
            counts.tile_rank[out] = static_cast<std::uint16_t>(counts.col_pair[e] - first_pair);
          } else {
            counts.tile_pair[out] = counts.col_pair[e];
          }
          counts.tile_row[out] = static_cast<std::uint16_t>(counts.col_sample[e] - t * T);
        }
      }
    }
  }, kTaxonGrain);
}

// Depths and multinomial coefficients, each summed over its row in taxon order;
// lgamma(x + 1) once per distinct (taxon, count) pair. Then the distinct depths.
void fill_depths(Counts& counts, const Executor& executor) {
  const std::size_t N = counts.n_samples;
  std::vector<double> log_factorial(counts.n_pairs());
  executor.parallel_for(counts.n_pairs(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t p = begin; p < end; ++p) log_factorial[p] = log_gamma(counts.pair_value[p] + 1.0);
  }, kSampleGrain);
  // Each sample's sums accumulate per row of its tile, taxon by taxon: the order
  // of a walk along the sample. Tiles own disjoint samples.
  counts.depth.assign(N, 0.0);
  counts.log_multinomial.assign(N, 0.0);
  executor.parallel_for(counts.n_tiles(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) {
      const std::size_t first = t * counts.tile_size;
      double* depth = &counts.depth[first];
      double* log_factorials = &counts.log_multinomial[first];
      for_each_in_tile(counts, t, [&](std::size_t r, std::size_t, std::uint32_t pair) {
        depth[r] += counts.pair_value[pair];
        log_factorials[r] += log_factorial[pair];
      });
      const std::size_t n = std::min(counts.tile_size, N - first);
      for (std::size_t r = 0; r < n; ++r) {
        log_factorials[r] = log_gamma(depth[r] + 1.0) - log_factorials[r];
      }
    }
  });
  counts.depth_value = counts.depth;
  std::sort(counts.depth_value.begin(), counts.depth_value.end());
  counts.depth_value.erase(
      std::unique(counts.depth_value.begin(), counts.depth_value.end()),
      counts.depth_value.end());
  counts.sample_depth.resize(N);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      counts.sample_depth[i] = static_cast<std::uint32_t>(
          std::lower_bound(counts.depth_value.begin(), counts.depth_value.end(),
                           counts.depth[i]) -
          counts.depth_value.begin());
    }
  }, kSampleGrain);
}

}  // namespace

Counts assemble_counts(std::size_t n_samples, std::vector<std::size_t> col_ptr,
                       IndexArray col_sample, IndexArray col_pair,
                       std::vector<std::size_t> pair_ptr, std::vector<double> pair_value,
                       const Executor& executor, std::size_t tile_size, bool wide_pairs) {
  Counts counts;
  counts.tile_size = tile_size;
  counts.n_samples = n_samples;
  counts.n_taxa = col_ptr.empty() ? 0 : col_ptr.size() - 1;
  counts.col_ptr = std::move(col_ptr);
  counts.col_sample = std::move(col_sample);
  counts.col_pair = std::move(col_pair);
  counts.pair_ptr = std::move(pair_ptr);
  counts.pair_value = std::move(pair_value);
  // 16-bit ranks when every taxon has at most 65,536 distinct values.
  counts.narrow_pairs = !wide_pairs;
  for (std::size_t j = 0; j < counts.n_taxa && counts.narrow_pairs; ++j) {
    counts.narrow_pairs = counts.pair_ptr[j + 1] - counts.pair_ptr[j] <= 65536;
  }
  build_tile_view(counts, executor);
  fill_depths(counts, executor);
  return counts;
}

Counts subset_table(const Counts& counts, const std::vector<std::uint32_t>& rows,
                    const Executor& executor) {
  CountLayout layout = scan_rows(counts, rows, executor);
  std::vector<std::uint32_t> col_sample(layout.nnz()), col_pair(layout.nnz());
  fill_rows(counts, rows, layout, col_sample.data(), col_pair.data(), executor);
  return assemble_counts(rows.size(), std::move(layout.col_ptr), IndexArray(std::move(col_sample)),
                         IndexArray(std::move(col_pair)), std::move(layout.pair_ptr),
                         std::move(layout.pair_value), executor);
}

}  // namespace fastdmm
