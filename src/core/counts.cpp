// Completes a count table from its tile layout and entries (depths, multinomial coefficients); the layout's offsets and pair order; its row view; the table of a subset of samples.
#include "counts.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

#include "build_counts.h"
#include "hash.h"
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
    const double before = static_cast<double>(counts.taxon_ptr[bounds.back()]);
    if (static_cast<double>(counts.taxon_ptr[j + 1]) - before >= share && j + 1 < S) {
      bounds.push_back(j + 1);
    }
  }
  bounds.push_back(S);
  return bounds;
}

void finish_tile_layout(TileLayout& layout, std::vector<std::size_t> tile_count, bool wide_pairs) {
  const std::size_t S = layout.n_taxa, cells = layout.n_tiles() * S;
  if (tile_count.size() != cells) throw std::logic_error("tile counts of the wrong size");
  layout.taxon_ptr.assign(S + 1, 0);
  layout.tile_ptr.assign(cells + 1, 0);
  for (std::size_t c = 0; c < cells; ++c) {
    layout.tile_ptr[c + 1] = layout.tile_ptr[c] + tile_count[c];
    layout.taxon_ptr[c % S + 1] += tile_count[c];
  }
  for (std::size_t j = 0; j < S; ++j) layout.taxon_ptr[j + 1] += layout.taxon_ptr[j];
  // 16-bit ranks when every taxon has at most 65,536 distinct values.
  layout.narrow_pairs = !wide_pairs;
  for (std::size_t j = 0; j < S && layout.narrow_pairs; ++j) {
    layout.narrow_pairs = layout.pair_ptr[j + 1] - layout.pair_ptr[j] <= 65536;
  }
}

void sort_tile_entries(const TileLayout& layout, const TileEntries& entries,
                       const Executor& executor) {
  const std::size_t S = layout.n_taxa, n_tiles = layout.n_tiles();
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> slot;
    std::vector<std::uint16_t> rows;
    std::vector<std::uint32_t> keys;
    std::vector<std::uint32_t> order;
    for (std::size_t j = begin; j < end; ++j) {
      const std::size_t first_pair = layout.pair_ptr[j];
      const std::size_t n_pairs = layout.pair_ptr[j + 1] - first_pair;
      // Entry e's rank among its taxon's pairs.
      auto key = [&](std::size_t e) -> std::uint32_t {
        return layout.narrow_pairs ? entries.rank[e]
                                   : static_cast<std::uint32_t>(entries.pair[e] - first_pair);
      };
      for (std::size_t t = 0; t < n_tiles; ++t) {
        const std::size_t from = layout.tile_ptr[t * S + j], to = layout.tile_ptr[t * S + j + 1];
        const std::size_t n = to - from;
        bool sorted = true;
        for (std::size_t e = from + 1; e < to && sorted; ++e) sorted = key(e - 1) <= key(e);
        if (sorted) continue;
        rows.assign(entries.row + from, entries.row + to);
        keys.resize(n);
        for (std::size_t m = 0; m < n; ++m) keys[m] = key(from + m);
        auto put = [&](std::size_t out, std::size_t m) {
          entries.row[out] = rows[m];
          if (layout.narrow_pairs) {
            entries.rank[out] = static_cast<std::uint16_t>(keys[m]);
          } else {
            entries.pair[out] = static_cast<std::uint32_t>(first_pair + keys[m]);
          }
        };
        if (n_pairs <= 2 * n + 256) {
          // A counting sort by rank, stable.
          slot.assign(n_pairs + 1, 0);
          for (std::size_t m = 0; m < n; ++m) ++slot[keys[m] + 1];
          for (std::size_t p = 0; p < n_pairs; ++p) slot[p + 1] += slot[p];
          for (std::size_t m = 0; m < n; ++m) put(from + slot[keys[m]]++, m);
        } else {
          // Few entries among many pairs: a comparison sort, stable.
          order.resize(n);
          std::iota(order.begin(), order.end(), 0u);
          std::stable_sort(order.begin(), order.end(),
                           [&](std::uint32_t a, std::uint32_t b) { return keys[a] < keys[b]; });
          for (std::size_t m = 0; m < n; ++m) put(from + m, order[m]);
        }
      }
    }
  }, kTaxonGrain);
}

namespace {

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

std::vector<std::uint32_t> value_classes(const std::vector<std::size_t>& pair_ptr,
                                         const std::vector<double>& pair_value) {
  const std::size_t S = pair_ptr.empty() ? 0 : pair_ptr.size() - 1;
  std::vector<std::uint32_t> value_class(S);
  // The first taxa of the classes met so far, by a hash of their lists (a hash
  // shared by different lists keeps each of them).
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> firsts;
  const auto values = [&](std::size_t j) { return &pair_value[pair_ptr[j]]; };
  for (std::size_t j = 0; j < S; ++j) {
    const std::size_t n = pair_ptr[j + 1] - pair_ptr[j];
    std::uint64_t h = splitmix64_first(n);
    for (std::size_t m = 0; m < n; ++m) {
      h = splitmix64_finalise(h + static_cast<std::uint64_t>(values(j)[m]));
    }
    std::vector<std::uint32_t>& same_hash = firsts[h];
    value_class[j] = static_cast<std::uint32_t>(j);
    for (std::uint32_t first : same_hash) {
      if (pair_ptr[first + 1] - pair_ptr[first] == n &&
          std::equal(values(j), values(j) + n, values(first))) {
        value_class[j] = first;
        break;
      }
    }
    if (value_class[j] == j) same_hash.push_back(static_cast<std::uint32_t>(j));
  }
  return value_class;
}

Counts assemble_counts(TileLayout layout, SharedArray<std::uint16_t> row,
                       SharedArray<std::uint16_t> rank, SharedArray<std::uint32_t> pair,
                       const Executor& executor) {
  const std::size_t nnz = layout.nnz();
  if (row.size() != nnz || (layout.narrow_pairs ? rank.size() != nnz || !pair.empty()
                                                : pair.size() != nnz || !rank.empty()) ||
      layout.tile_ptr.size() != layout.n_tiles() * layout.n_taxa + 1 ||
      layout.tile_ptr.back() != nnz) {
    throw std::logic_error("a table's entries do not match its layout");
  }
  Counts counts;
  counts.n_samples = layout.n_samples;
  counts.n_taxa = layout.n_taxa;
  counts.tile_size = layout.tile_size;
  counts.pair_ptr = std::move(layout.pair_ptr);
  counts.pair_value = std::move(layout.pair_value);
  counts.tile_ptr = std::move(layout.tile_ptr);
  counts.taxon_ptr = std::move(layout.taxon_ptr);
  counts.narrow_pairs = layout.narrow_pairs;
  counts.tile_row = std::move(row);
  counts.tile_rank = std::move(rank);
  counts.tile_pair = std::move(pair);
  fill_depths(counts, executor);
  counts.value_class = value_classes(counts.pair_ptr, counts.pair_value);
  return counts;
}

SampleRows sample_rows(const Counts& counts) {
  const std::size_t N = counts.n_samples;
  SampleRows rows;
  rows.ptr.assign(N + 1, 0);
  for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
    const std::size_t first = t * counts.tile_size;
    const std::size_t begin = counts.tile_ptr[t * counts.n_taxa];
    const std::size_t end = counts.tile_ptr[(t + 1) * counts.n_taxa];
    for (std::size_t e = begin; e < end; ++e) ++rows.ptr[first + counts.tile_row[e] + 1];
  }
  for (std::size_t i = 0; i < N; ++i) rows.ptr[i + 1] += rows.ptr[i];
  rows.taxon.resize(counts.nnz());
  rows.pair.resize(counts.nnz());
  std::vector<std::size_t> next(rows.ptr.begin(), rows.ptr.end() - 1);
  // A tile's entries come taxon by taxon: each sample's in increasing taxon order.
  for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
    const std::size_t first = t * counts.tile_size;
    for_each_in_tile(counts, t, [&](std::size_t r, std::size_t j, std::uint32_t pair) {
      const std::size_t at = next[first + r]++;
      rows.taxon[at] = static_cast<std::uint32_t>(j);
      rows.pair[at] = pair;
    });
  }
  return rows;
}

Counts subset_table(const Counts& counts, const std::vector<std::uint32_t>& rows,
                    const Executor& executor, std::size_t tile_size, bool wide_pairs) {
  CountLayout layout = scan_rows(counts, rows, executor, tile_size, wide_pairs);
  const std::size_t nnz = layout.nnz();
  Buffer<std::uint16_t> row(nnz), rank(layout.narrow_pairs ? nnz : 0);
  Buffer<std::uint32_t> pair(layout.narrow_pairs ? 0 : nnz);
  fill_rows(counts, rows, layout, TileEntries{row.data(), rank.data(), pair.data()}, executor);
  return assemble_counts(std::move(layout), SharedArray<std::uint16_t>(std::move(row)),
                         SharedArray<std::uint16_t>(std::move(rank)),
                         SharedArray<std::uint32_t>(std::move(pair)), executor);
}

}  // namespace fastdmm
