// Validation and compression of a user's table, whole or block by block, into Counts.
#include "build_counts.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>

namespace fastdmm {

namespace {

// Values below this are whole-number counts looked up in a table rather than by a
// binary search among their column's distinct values.
constexpr std::size_t kSmallCount = std::size_t{1} << 16;
constexpr std::uint32_t kNotKept = std::numeric_limits<std::uint32_t>::max();

enum class Cell { zero, count, missing, infinite, negative, fractional, huge };

inline Cell classify(double v) {
  if (v == 0.0) return Cell::zero;
  if (std::isnan(v)) return Cell::missing;
  if (std::isinf(v)) return Cell::infinite;
  if (v < 0.0) return Cell::negative;
  if (v != std::floor(v)) return Cell::fractional;
  if (v > 9007199254740992.0) return Cell::huge;  // 2^53
  return Cell::count;
}

inline Cell classify(int v) {
  if (v == 0) return Cell::zero;
  if (v == ColumnSource::kMissingInteger) return Cell::missing;
  if (v < 0) return Cell::negative;
  return Cell::count;
}

// Calls visit(row, cell, value) for every stored cell of column j, in row order.
template <class Visit>
void visit_column(const ColumnSource& source, std::size_t j, Visit&& visit) {
  switch (source.kind) {
    case ColumnSource::Kind::dense_double: {
      const double* cell = source.real + j * source.column_stride;
      for (std::size_t i = 0; i < source.n_rows; ++i, cell += source.row_stride) {
        visit(i, classify(*cell), *cell);
      }
      break;
    }
    case ColumnSource::Kind::dense_integer: {
      const int* cell = source.integer + j * source.column_stride;
      for (std::size_t i = 0; i < source.n_rows; ++i, cell += source.row_stride) {
        visit(i, classify(*cell), static_cast<double>(*cell));
      }
      break;
    }
    case ColumnSource::Kind::compressed: {
      long previous = -1;
      for (int e = source.col_start[j]; e < source.col_start[j + 1]; ++e) {
        const long row = source.row_index[e];
        if (row <= previous || row >= static_cast<long>(source.n_rows)) {
          throw std::invalid_argument(
              "invalid compressed-column table: row indices must increase within each "
              "column and lie below the number of rows (column " +
              std::to_string(j + 1) + ")");
        }
        previous = row;
        visit(static_cast<std::size_t>(row), classify(source.real[e]), source.real[e]);
      }
      break;
    }
  }
}

void count_problem(Cell cell, ValueProblems& problems) {
  switch (cell) {
    case Cell::missing: ++problems.missing; break;
    case Cell::infinite: ++problems.infinite; break;
    case Cell::negative: ++problems.negative; break;
    case Cell::fractional: ++problems.fractional; break;
    case Cell::huge: ++problems.huge; break;
    default: break;
  }
}

// Pass 1 for column j of `source`, whose row 0 is sample first_sample: scan.nnz,
// scan.problems and scan.distinct (increasing), and each non-zero counted in
// tile_nnz[its sample / tile_size]. seen (kSmallCount slots) marks small values met
// with `stamp`, which must differ from every stamp used before with the same `seen`;
// large is scratch.
void scan_column(const ColumnSource& source, std::size_t j, std::size_t first_sample,
                 std::size_t tile_size, std::size_t* tile_nnz, std::uint32_t stamp,
                 std::vector<std::uint32_t>& seen, std::vector<double>& large, ColumnScan& scan) {
  large.clear();
  // Rows increase: the tile changes only at its end.
  std::size_t tile = 0, tile_end = 0;
  visit_column(source, j, [&](std::size_t row, Cell cell, double value) {
    if (cell == Cell::zero) return;
    if (cell != Cell::count) {
      count_problem(cell, scan.problems);
      return;
    }
    ++scan.nnz;
    const std::size_t sample = first_sample + row;
    if (sample >= tile_end) {
      tile = sample / tile_size;
      tile_end = (tile + 1) * tile_size;
    }
    ++tile_nnz[tile];
    if (value < static_cast<double>(kSmallCount)) {
      const auto v = static_cast<std::size_t>(value);
      if (seen[v] != stamp) {
        seen[v] = stamp;
        scan.distinct.push_back(value);
      }
    } else {
      large.push_back(value);
    }
  });
  // Small values first, then the large ones: together increasing.
  std::sort(scan.distinct.begin(), scan.distinct.end());
  std::sort(large.begin(), large.end());
  large.erase(std::unique(large.begin(), large.end()), large.end());
  scan.distinct.insert(scan.distinct.end(), large.begin(), large.end());
}

// The layout of the per-column scans (each with tile_nnz of every tile): offsets and
// concatenated distinct values in column order.
CountLayout finish_layout(std::size_t n_samples, std::vector<ColumnScan>& scans,
                          std::size_t tile_size, bool wide_pairs = false) {
  CountLayout layout;
  layout.n_samples = n_samples;
  layout.tile_size = tile_size;
  const std::size_t S = scans.size();
  layout.n_taxa = S;
  layout.pair_ptr.assign(S + 1, 0);
  for (std::size_t j = 0; j < S; ++j) {
    layout.pair_ptr[j + 1] = layout.pair_ptr[j] + scans[j].distinct.size();
    layout.problems.add(scans[j].problems);
  }
  // Samples and pairs are stored as 32-bit indices.
  if (n_samples > kNotKept || layout.pair_ptr[S] > kNotKept) {
    throw std::length_error("the table has more samples or distinct (taxon, count) pairs "
                            "than 32-bit indices hold");
  }
  layout.pair_value.reserve(layout.pair_ptr[S]);
  for (std::size_t j = 0; j < S; ++j) {
    layout.pair_value.insert(layout.pair_value.end(), scans[j].distinct.begin(),
                             scans[j].distinct.end());
    std::vector<double>().swap(scans[j].distinct);
  }
  const std::size_t n_tiles = layout.n_tiles();
  std::vector<std::size_t> tile_count(n_tiles * S);
  for (std::size_t j = 0; j < S; ++j) {
    for (std::size_t t = 0; t < n_tiles; ++t) tile_count[t * S + j] = scans[j].tile_nnz[t];
    std::vector<std::size_t>().swap(scans[j].tile_nnz);
  }
  finish_tile_layout(layout, std::move(tile_count), wide_pairs);
  return layout;
}

// Pass 2 for column j of the table, column `column` of `source`, whose row 0 is sample
// first_sample: writes each non-zero's row and pair into `entries` at the next place
// of its (tile, taxon), cursor[t * S + j], which it advances (a pair's samples come in
// increasing order). `ranks` is scratch. Entries stop at the
// (tile, taxon)'s end and every value must be one of the column's distinct values: a
// source that does not match its layout throws rather than writing out of place.
void fill_column(const ColumnSource& source, std::size_t column, const CountLayout& layout,
                 std::size_t j, std::size_t first_sample, std::size_t* cursor,
                 const TileEntries& entries, ValueRanks& ranks) {
  const std::size_t S = layout.n_taxa, T = layout.tile_size;
  const std::size_t first_pair = layout.pair_ptr[j];
  const std::size_t end_pair = layout.pair_ptr[j + 1];
  ranks.set(layout.pair_value.data() + first_pair, layout.pair_value.data() + end_pair);
  // Rows increase: the tile changes only at its end.
  std::size_t tile = 0, tile_first = 0, tile_end = 0, out = 0, end = 0;
  visit_column(source, column, [&](std::size_t row, Cell cell, double value) {
    if (cell != Cell::count) return;
    // A rank of a value the column lacks is caught by the check below.
    const std::size_t pair = first_pair + ranks.rank(value);
    const std::size_t sample = first_sample + row;
    if (sample >= tile_end) {
      if (tile_end > 0) cursor[tile * S + j] = out;
      tile = sample / T;
      tile_first = tile * T;
      tile_end = tile_first + T;
      out = cursor[tile * S + j];
      end = layout.tile_ptr[tile * S + j + 1];
    }
    if (out >= end || pair < first_pair || pair >= end_pair || layout.pair_value[pair] != value) {
      throw std::runtime_error("the table changed between its two passes (column " +
                               std::to_string(j + 1) + ")");
    }
    entries.row[out] = static_cast<std::uint16_t>(sample - tile_first);
    if (layout.narrow_pairs) {
      entries.rank[out] = static_cast<std::uint16_t>(pair - first_pair);
    } else {
      entries.pair[out] = static_cast<std::uint32_t>(pair);
    }
    ++out;
  });
  if (tile_end > 0) cursor[tile * S + j] = out;
}

// Whether pass 2 wrote every entry of every (tile, taxon) (cursor: the next place of
// each, from pass 2).
void check_filled(const CountLayout& layout, const std::vector<std::size_t>& cursor) {
  const std::size_t S = layout.n_taxa;
  for (std::size_t c = 0; c < cursor.size(); ++c) {
    if (cursor[c] != layout.tile_ptr[c + 1]) {
      throw std::runtime_error("the table changed between its two passes (column " +
                               std::to_string(c % S + 1) + ")");
    }
  }
}

// Columns gathered at a time from a dense source whose rows lie far apart in memory.
constexpr std::size_t kGatherColumns = 4;

// Calls body(view, column, j) for the columns j = begin .. end of `source`, where column
// `column` of `view` is column j of the source. A dense source whose cells of one column
// are far apart (row_stride > 1: a taxa x samples block, read across its columns) is
// first copied kGatherColumns columns at a time into a buffer where each column is
// contiguous, so that each sample's cells for those columns come from one cache line
// instead of one cache line (and page) per cell. Measured on a block of 12,500 samples
// x 1,000 taxa, one thread, fastest of 9: scanning took 0.068 s gathering 4 columns,
// 0.125 s reading in place, 0.098 s gathering 16 and 0.115 s gathering 32 (a buffer
// that no longer stays in cache); the same block stored samples x taxa took 0.034 s.
template <class Body>
void for_each_column(const ColumnSource& source, std::size_t begin, std::size_t end,
                     Body&& body) {
  if (source.kind == ColumnSource::Kind::compressed || source.row_stride == 1) {
    for (std::size_t j = begin; j < end; ++j) body(source, j, j);
    return;
  }
  const std::size_t n_rows = source.n_rows;
  const bool real = source.kind == ColumnSource::Kind::dense_double;
  std::vector<double> real_buffer(real ? n_rows * kGatherColumns : 0);
  std::vector<int> integer_buffer(real ? 0 : n_rows * kGatherColumns);
  for (std::size_t first = begin; first < end; first += kGatherColumns) {
    const std::size_t width = std::min(kGatherColumns, end - first);
    ColumnSource view = source;
    view.n_cols = width;
    view.row_stride = 1;
    view.column_stride = n_rows;
    const std::size_t offset = first * source.column_stride;
    if (real) {
      for (std::size_t i = 0; i < n_rows; ++i) {
        const double* cells = source.real + offset + i * source.row_stride;
        for (std::size_t c = 0; c < width; ++c) {
          real_buffer[c * n_rows + i] = cells[c * source.column_stride];
        }
      }
      view.real = real_buffer.data();
    } else {
      for (std::size_t i = 0; i < n_rows; ++i) {
        const int* cells = source.integer + offset + i * source.row_stride;
        for (std::size_t c = 0; c < width; ++c) {
          integer_buffer[c * n_rows + i] = cells[c * source.column_stride];
        }
      }
      view.integer = integer_buffer.data();
    }
    for (std::size_t c = 0; c < width; ++c) body(view, c, first + c);
  }
}

}  // namespace

bool rows_in_order(const ColumnSource& source) {
  if (source.kind != ColumnSource::Kind::compressed) return true;
  for (std::size_t j = 0; j < source.n_cols; ++j) {
    long previous = -1;
    for (int e = source.col_start[j]; e < source.col_start[j + 1]; ++e) {
      const long row = source.row_index[e];
      if (row <= previous || row >= static_cast<long>(source.n_rows)) return false;
      previous = row;
    }
  }
  return true;
}

CountLayout scan_columns(const ColumnSource& source, const Executor& executor) {
  std::vector<ColumnScan> scans(source.n_cols);
  const std::size_t n_tiles = (source.n_rows + kSampleTile - 1) / kSampleTile;
  executor.parallel_for(source.n_cols, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> seen(kSmallCount, 0);
    std::vector<double> large;
    for (std::size_t j = begin; j < end; ++j) {
      scans[j].tile_nnz.assign(n_tiles, 0);
      scan_column(source, j, 0, kSampleTile, scans[j].tile_nnz.data(),
                  static_cast<std::uint32_t>(j + 1), seen, large, scans[j]);
      scans[j].distinct.shrink_to_fit();
    }
  }, kTaxonGrain);
  return finish_layout(source.n_rows, scans, kSampleTile);
}

void fill_columns(const ColumnSource& source, const CountLayout& layout,
                  const TileEntries& entries, const Executor& executor) {
  if (layout.problems.any()) throw std::logic_error("fill_columns() on a table with problems");
  std::vector<std::size_t> cursor(layout.tile_ptr.begin(), layout.tile_ptr.end() - 1);
  executor.parallel_for(source.n_cols, [&](std::size_t begin, std::size_t end) {
    ValueRanks ranks(kSmallCount);
    for (std::size_t j = begin; j < end; ++j) {
      fill_column(source, j, layout, j, 0, cursor.data(), entries, ranks);
    }
  }, kTaxonGrain);
  check_filled(layout, cursor);
  sort_tile_entries(layout, entries, executor);
}

// ---- blocks of samples ---------------------------------------------------------

BlockCountBuilder::BlockCountBuilder(std::size_t n_samples, std::size_t n_taxa)
    : n_samples_(n_samples), n_taxa_(n_taxa), scans_(n_taxa) {}

void BlockCountBuilder::check_block(const ColumnSource& block, std::size_t first_sample,
                                    Stage stage) const {
  if (stage_ != stage) throw std::logic_error("count table blocks given out of turn");
  if (block.n_cols != n_taxa_) {
    throw std::invalid_argument("a block has " + std::to_string(block.n_cols) +
                                " taxa where the table has " + std::to_string(n_taxa_));
  }
  if (first_sample != next_sample_ || block.n_rows > n_samples_ - next_sample_) {
    throw std::invalid_argument("blocks must cover the samples in order, each once (block at "
                                "sample " + std::to_string(first_sample + 1) + ")");
  }
}

void BlockCountBuilder::scan_block(const ColumnSource& block, std::size_t first_sample,
                                   const Executor& executor) {
  check_block(block, first_sample, Stage::scanning);
  const std::size_t n_tiles = (n_samples_ + kSampleTile - 1) / kSampleTile;
  executor.parallel_for(n_taxa_, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> seen(kSmallCount, 0);
    std::vector<double> large, merged;
    ColumnScan scan;
    for_each_column(block, begin, end, [&](const ColumnSource& view, std::size_t column,
                                           std::size_t j) {
      scan.nnz = 0;
      scan.problems = ValueProblems();
      scan.distinct.clear();
      ColumnScan& total = scans_[j];
      if (total.tile_nnz.empty()) total.tile_nnz.assign(n_tiles, 0);
      scan_column(view, column, first_sample, kSampleTile, total.tile_nnz.data(),
                  static_cast<std::uint32_t>(j - begin + 1), seen, large, scan);
      total.nnz += scan.nnz;
      total.problems.add(scan.problems);
      // The column's distinct values so far: the union of two increasing sets.
      if (scan.distinct.empty()) return;
      if (total.distinct.empty()) {
        total.distinct = scan.distinct;
        return;
      }
      merged.clear();
      std::set_union(total.distinct.begin(), total.distinct.end(), scan.distinct.begin(),
                     scan.distinct.end(), std::back_inserter(merged));
      total.distinct.assign(merged.begin(), merged.end());
    });
  }, kTaxonGrain);
  next_sample_ += block.n_rows;
}

const CountLayout& BlockCountBuilder::finish_scan() {
  if (stage_ != Stage::scanning || next_sample_ != n_samples_) {
    throw std::logic_error("finish_scan() before every block was scanned");
  }
  for (ColumnScan& scan : scans_) {
    if (scan.tile_nnz.empty()) scan.tile_nnz.assign((n_samples_ + kSampleTile - 1) / kSampleTile, 0);
  }
  layout_ = finish_layout(n_samples_, scans_, kSampleTile);
  std::vector<ColumnScan>().swap(scans_);
  stage_ = Stage::scanned;
  next_sample_ = 0;
  return layout_;
}

void BlockCountBuilder::fill_block(const ColumnSource& block, std::size_t first_sample,
                                   const TileEntries& entries, const Executor& executor) {
  if (stage_ == Stage::scanned) {
    if (layout_.problems.any()) throw std::logic_error("fill_block() on a table with problems");
    cursor_.assign(layout_.tile_ptr.begin(), layout_.tile_ptr.end() - 1);
    stage_ = Stage::filling;
  }
  check_block(block, first_sample, Stage::filling);
  executor.parallel_for(n_taxa_, [&](std::size_t begin, std::size_t end) {
    ValueRanks ranks(kSmallCount);
    for_each_column(block, begin, end, [&](const ColumnSource& view, std::size_t column,
                                           std::size_t j) {
      fill_column(view, column, layout_, j, first_sample, cursor_.data(), entries, ranks);
    });
  }, kTaxonGrain);
  next_sample_ += block.n_rows;
}

void BlockCountBuilder::finish_fill(const TileEntries& entries, const Executor& executor) {
  if (stage_ != Stage::filling || next_sample_ != n_samples_) {
    throw std::logic_error("finish_fill() before every block was filled");
  }
  check_filled(layout_, cursor_);
  std::vector<std::size_t>().swap(cursor_);
  sort_tile_entries(layout_, entries, executor);
  stage_ = Stage::filled;
}

ColumnSource CompressedColumns::source() const {
  ColumnSource source;
  source.kind = ColumnSource::Kind::compressed;
  source.n_rows = n_rows;
  source.n_cols = n_cols;
  source.real = values.data();
  source.col_start = col_start.data();
  source.row_index = row_index.data();
  return source;
}

CompressedColumns compress_columns_of_rows(std::size_t n_rows, std::size_t n_cols,
                                           const int* row_start, const int* col_index,
                                           const double* values) {
  CompressedColumns out;
  out.n_rows = n_rows;
  out.n_cols = n_cols;
  if (row_start[0] != 0) throw std::invalid_argument("invalid compressed block: bad offsets");
  for (std::size_t i = 0; i < n_rows; ++i) {
    if (row_start[i + 1] < row_start[i]) {
      throw std::invalid_argument("invalid compressed block: its offsets decrease");
    }
  }
  const auto nnz = static_cast<std::size_t>(row_start[n_rows]);
  out.col_start.assign(n_cols + 1, 0);
  for (std::size_t e = 0; e < nnz; ++e) {
    const int j = col_index[e];
    if (j < 0 || static_cast<std::size_t>(j) >= n_cols) {
      throw std::invalid_argument("invalid compressed block: an index lies outside its table");
    }
    ++out.col_start[static_cast<std::size_t>(j) + 1];
  }
  for (std::size_t j = 0; j < n_cols; ++j) out.col_start[j + 1] += out.col_start[j];
  out.row_index.resize(nnz);
  out.values.resize(nnz);
  std::vector<int> next(out.col_start.begin(), out.col_start.end() - 1);
  // Rows in increasing order, so each column lists its rows increasing (a row naming a
  // column twice shows up as a repeated row, which scanning refuses).
  for (std::size_t i = 0; i < n_rows; ++i) {
    for (int e = row_start[i]; e < row_start[i + 1]; ++e) {
      const int slot = next[static_cast<std::size_t>(col_index[e])]++;
      out.row_index[static_cast<std::size_t>(slot)] = static_cast<int>(i);
      out.values[static_cast<std::size_t>(slot)] = values[e];
    }
  }
  return out;
}

namespace {

std::vector<std::uint32_t> new_sample_index(const Counts& counts,
                                            const std::vector<std::uint32_t>& rows) {
  std::vector<std::uint32_t> index(counts.n_samples, kNotKept);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] >= counts.n_samples || (r > 0 && rows[r] <= rows[r - 1])) {
      throw std::invalid_argument("rows must be increasing sample indices of the table");
    }
    index[rows[r]] = static_cast<std::uint32_t>(r);
  }
  return index;
}

// Calls visit(new_sample, pair) for each non-zero of taxon j whose sample is kept
// (index[sample] != kNotKept), parent tile after tile, within one in the tile view's
// order (pair, then sample): a pair's samples come in increasing order.
template <class Visit>
void visit_kept(const Counts& counts, const std::vector<std::uint32_t>& index, std::size_t j,
                Visit&& visit) {
  const std::size_t S = counts.n_taxa;
  with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
    const std::size_t first_pair = base[j];
    for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
      const std::size_t first = t * counts.tile_size;
      for (std::size_t e = counts.tile_ptr[t * S + j]; e < counts.tile_ptr[t * S + j + 1]; ++e) {
        const std::uint32_t sample = index[first + counts.tile_row[e]];
        if (sample == kNotKept) continue;
        visit(sample, static_cast<std::size_t>(first_pair + pairs[e]));
      }
    }
  });
}

}  // namespace

CountLayout scan_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
                      const Executor& executor, std::size_t tile_size, bool wide_pairs) {
  const std::vector<std::uint32_t> index = new_sample_index(counts, rows);
  const std::size_t n_tiles = (rows.size() + tile_size - 1) / tile_size;
  std::vector<ColumnScan> scans(counts.n_taxa);
  executor.parallel_for(counts.n_taxa, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint8_t> used;
    for (std::size_t j = begin; j < end; ++j) {
      // The taxon's kept non-zeros per new tile and the values kept rows have.
      const std::size_t first_pair = counts.pair_ptr[j];
      used.assign(counts.pair_ptr[j + 1] - first_pair, 0);
      ColumnScan& scan = scans[j];
      scan.tile_nnz.assign(n_tiles, 0);
      visit_kept(counts, index, j, [&](std::uint32_t sample, std::size_t pair) {
        ++scan.nnz;
        ++scan.tile_nnz[sample / tile_size];
        used[pair - first_pair] = 1;
      });
      for (std::size_t m = 0; m < used.size(); ++m) {
        if (used[m]) scan.distinct.push_back(counts.pair_value[first_pair + m]);
      }
    }
  }, kTaxonGrain);
  return finish_layout(rows.size(), scans, tile_size, wide_pairs);
}

void fill_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
               const CountLayout& layout, const TileEntries& entries,
               const Executor& executor) {
  const std::vector<std::uint32_t> index = new_sample_index(counts, rows);
  const std::size_t S = counts.n_taxa, T = layout.tile_size;
  std::vector<std::size_t> cursor(layout.tile_ptr.begin(), layout.tile_ptr.end() - 1);
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> rank;
    for (std::size_t j = begin; j < end; ++j) {
      // The new pair of a kept value is its rank among the kept values.
      const std::size_t first_pair = counts.pair_ptr[j];
      rank.assign(counts.pair_ptr[j + 1] - first_pair, 0);
      visit_kept(counts, index, j, [&](std::uint32_t, std::size_t pair) {
        rank[pair - first_pair] = 1;
      });
      std::uint32_t next = 0;
      for (auto& r : rank) r = r ? next++ : kNotKept;
      const std::size_t new_first_pair = layout.pair_ptr[j];
      // Parent tiles in order, each in pair-then-sample order: within each new
      // (tile, taxon), a pair's samples increase, as sort_tile_entries() needs.
      visit_kept(counts, index, j, [&](std::uint32_t sample, std::size_t pair) {
        const std::size_t t = sample / T;
        const std::size_t out = cursor[t * S + j]++;
        entries.row[out] = static_cast<std::uint16_t>(sample - t * T);
        const std::uint32_t new_rank = rank[pair - first_pair];
        if (layout.narrow_pairs) {
          entries.rank[out] = static_cast<std::uint16_t>(new_rank);
        } else {
          entries.pair[out] = static_cast<std::uint32_t>(new_first_pair + new_rank);
        }
      });
    }
  }, kTaxonGrain);
  check_filled(layout, cursor);
  sort_tile_entries(layout, entries, executor);
}

}  // namespace fastdmm
