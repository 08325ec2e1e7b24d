// Completes a count table from its compressed columns: the row view, depths and multinomial coefficients.
#include "counts.h"

#include <algorithm>

#include "special.h"

namespace fastdmm {

namespace {

// Samples per block of the transposition: at least a task's worth, and few enough
// blocks that the per-block binary searches over every column stay cheap.
std::size_t transpose_block(std::size_t n_samples, int threads) {
  const std::size_t blocks = 8 * static_cast<std::size_t>(threads < 1 ? 1 : threads);
  return std::max(kSampleGrain, (n_samples + blocks - 1) / blocks);
}

// First entry of column j whose sample is >= `sample` (samples increase in a column).
std::size_t first_entry_from(const Counts& counts, std::size_t j, std::uint32_t sample) {
  const std::uint32_t* begin = counts.col_sample.data() + counts.col_ptr[j];
  const std::uint32_t* end = counts.col_sample.data() + counts.col_ptr[j + 1];
  return counts.col_ptr[j] + static_cast<std::size_t>(std::lower_bound(begin, end, sample) - begin);
}

}  // namespace

Counts assemble_counts(std::size_t n_samples, std::vector<std::size_t> col_ptr,
                       IndexArray col_sample, IndexArray col_pair,
                       std::vector<std::size_t> pair_ptr, std::vector<double> pair_value,
                       const Executor& executor, std::size_t tile_size) {
  Counts counts;
  counts.tile_size = tile_size;
  counts.n_samples = n_samples;
  counts.n_taxa = col_ptr.empty() ? 0 : col_ptr.size() - 1;
  counts.col_ptr = std::move(col_ptr);
  counts.col_sample = std::move(col_sample);
  counts.col_pair = std::move(col_pair);
  counts.pair_ptr = std::move(pair_ptr);
  counts.pair_value = std::move(pair_value);
  const std::size_t N = n_samples, S = counts.n_taxa, nnz = counts.col_sample.size();

  // Compressed rows: each block of samples finds its entries in every column and
  // writes only its own rows, walking taxa in order, so every row lists its entries
  // in increasing taxon order. The result is unique, hence the same on any threads.
  const std::size_t block = transpose_block(N, executor.threads());
  const std::size_t n_blocks = (N + block - 1) / block;
  counts.row_ptr.assign(N + 1, 0);
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    for (std::size_t b = begin; b < end; ++b) {
      const auto first = static_cast<std::uint32_t>(b * block);
      const auto last = static_cast<std::uint32_t>(std::min(N, (b + 1) * block));
      for (std::size_t j = 0; j < S; ++j) {
        for (std::size_t e = first_entry_from(counts, j, first);
             e < counts.col_ptr[j + 1] && counts.col_sample[e] < last; ++e) {
          ++counts.row_ptr[counts.col_sample[e] + 1];
        }
      }
    }
  });
  for (std::size_t i = 0; i < N; ++i) counts.row_ptr[i + 1] += counts.row_ptr[i];
  std::vector<std::uint32_t> row_taxon(nnz), row_pair(nnz);
  executor.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> next;
    for (std::size_t b = begin; b < end; ++b) {
      const auto first = static_cast<std::uint32_t>(b * block);
      const auto last = static_cast<std::uint32_t>(std::min(N, (b + 1) * block));
      next.assign(counts.row_ptr.begin() + first, counts.row_ptr.begin() + last);
      for (std::size_t j = 0; j < S; ++j) {
        for (std::size_t e = first_entry_from(counts, j, first);
             e < counts.col_ptr[j + 1] && counts.col_sample[e] < last; ++e) {
          const std::size_t slot = next[counts.col_sample[e] - first]++;
          row_taxon[slot] = static_cast<std::uint32_t>(j);
          row_pair[slot] = counts.col_pair[e];
        }
      }
    }
  });
  counts.row_taxon = IndexArray(std::move(row_taxon));
  counts.row_pair = IndexArray(std::move(row_pair));

  // The tile view: entries per (tile, taxon) counted down each column, laid out
  // tile-major, filled in sample order, then each segment ordered by pair (a
  // sample has one entry per taxon, so (pair, row) keys are distinct).
  const std::size_t n_tiles = counts.n_tiles();
  counts.tile_ptr.assign(n_tiles * S + 1, 0);
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
        ++counts.tile_ptr[(counts.col_sample[e] / counts.tile_size) * S + j + 1];
      }
    }
  }, kTaxonGrain);
  for (std::size_t c = 0; c < n_tiles * S; ++c) counts.tile_ptr[c + 1] += counts.tile_ptr[c];
  counts.tile_row.resize(nnz);
  counts.tile_pair.resize(nnz);
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint64_t> keys;
    for (std::size_t j = begin; j < end; ++j) {
      std::size_t e = counts.col_ptr[j];
      for (std::size_t t = 0; t < n_tiles; ++t) {
        const std::size_t first = counts.tile_ptr[t * S + j], last = counts.tile_ptr[t * S + j + 1];
        keys.clear();
        for (; e < counts.col_ptr[j + 1] && counts.col_sample[e] < (t + 1) * counts.tile_size; ++e) {
          keys.push_back((static_cast<std::uint64_t>(counts.col_pair[e]) << 16) |
                         (counts.col_sample[e] - t * counts.tile_size));
        }
        std::sort(keys.begin(), keys.end());
        for (std::size_t m = 0; m < last - first; ++m) {
          counts.tile_pair[first + m] = static_cast<std::uint32_t>(keys[m] >> 16);
          counts.tile_row[first + m] = static_cast<std::uint16_t>(keys[m] & 0xffffu);
        }
      }
    }
  }, kTaxonGrain);

  // Depths and multinomial coefficients, each summed over its row in taxon order.
  counts.depth.assign(N, 0.0);
  counts.log_multinomial.assign(N, 0.0);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      double depth = 0.0, log_factorials = 0.0;
      for (std::size_t e = counts.row_ptr[i]; e < counts.row_ptr[i + 1]; ++e) {
        const double x = counts.row_count(e);
        depth += x;
        log_factorials += log_gamma(x + 1.0);
      }
      counts.depth[i] = depth;
      counts.log_multinomial[i] = log_gamma(depth + 1.0) - log_factorials;
    }
  }, kSampleGrain);
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
  return counts;
}

}  // namespace fastdmm
