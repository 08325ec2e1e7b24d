// The table's builders: validate a user's table and compress it into Counts in parallel passes, whole or block by block, and the row passes of a subset.
#ifndef FASTDMM_BUILD_COUNTS_H
#define FASTDMM_BUILD_COUNTS_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// A samples x taxa table (or a block of its samples) as plain memory, read column by
// column and never copied. Dense: cell (i, j) is real[j * column_stride + i * row_stride]
// (or integer[...]), i < n_rows, so that a column-major samples x taxa matrix
// (row_stride 1) and a column-major taxa x samples one (column_stride 1, row_stride its
// number of taxa) are both read in place; an integer cell equal to kMissingInteger is
// missing (R's NA). Compressed columns: column j holds rows
// row_index[col_start[j] .. col_start[j + 1]] (0-based, increasing) with values real[...];
// explicit zeros are allowed.
struct ColumnSource {
  enum class Kind { dense_double, dense_integer, compressed };
  static constexpr int kMissingInteger = -2147483647 - 1;

  Kind kind = Kind::dense_double;
  std::size_t n_rows = 0;
  std::size_t n_cols = 0;
  const double* real = nullptr;
  const int* integer = nullptr;
  std::size_t column_stride = 0;
  std::size_t row_stride = 1;
  const int* col_start = nullptr;
  const int* row_index = nullptr;
};

// The rank of each count of one taxon among the taxon's distinct values (sorted
// increasing): counts below `small` through a table filled once per taxon,
// larger ones by bisection. Only a value the taxon holds has a meaningful rank:
// another's is stale or out of range, which callers that cannot rule it out
// check against the values.
class ValueRanks {
 public:
  explicit ValueRanks(std::size_t small) : small_(small), table_(small) {}
  // Ready for a taxon whose distinct values are [values, values_end).
  void set(const double* values, const double* values_end) {
    values_ = values;
    values_end_ = values_end;
    for (const double* v = values; v < values_end && *v < static_cast<double>(small_); ++v) {
      table_[static_cast<std::size_t>(*v)] = static_cast<std::uint32_t>(v - values);
    }
  }
  std::size_t rank(double value) const {
    return value < static_cast<double>(small_)
               ? table_[static_cast<std::size_t>(value)]
               : static_cast<std::size_t>(std::lower_bound(values_, values_end_, value) - values_);
  }

 private:
  std::size_t small_;
  std::vector<std::uint32_t> table_;
  const double* values_ = nullptr;
  const double* values_end_ = nullptr;
};

// Cells that are not counts, each counted under the first problem it has, in the
// order the checks are reported: missing, infinite, negative, not a whole number,
// above 2^53 (beyond which doubles do not count exactly).
struct ValueProblems {
  std::size_t missing = 0;
  std::size_t infinite = 0;
  std::size_t negative = 0;
  std::size_t fractional = 0;
  std::size_t huge = 0;
  bool any() const { return missing + infinite + negative + fractional + huge > 0; }
  // Adds another part's counts (of other cells) to these.
  void add(const ValueProblems& more) {
    missing += more.missing;
    infinite += more.infinite;
    negative += more.negative;
    fractional += more.fractional;
    huge += more.huge;
  }
};

// The layout of a table (counts.h) that pass 1 lays out and pass 2 fills, and the
// cells that are not counts (when problems.any(), the layout is incomplete and
// must not be filled).
struct CountLayout : TileLayout {
  ValueProblems problems;
};

// What pass 1 learns about one column: its non-zeros (in all and per tile of
// samples), its bad cells, and its distinct non-zero values in increasing order.
struct ColumnScan {
  std::size_t nnz = 0;
  std::vector<std::size_t> tile_nnz;
  ValueProblems problems;
  std::vector<double> distinct;
};

// Pass 1, parallel over columns: validates every cell and lays out the table. When
// problems.any(), the layout is incomplete and must not be filled.
CountLayout scan_columns(const ColumnSource& source, const Executor& executor);

// Whether every column of a compressed source lists its rows in increasing
// order, each below n_rows (what scan_columns() and the block builder require
// of one); true for a dense source.
bool rows_in_order(const ColumnSource& source);

// Pass 2, parallel over columns: writes each non-zero into its place in the tile
// view (`entries`: layout.nnz() elements each, owned by the caller), then puts each
// (tile, taxon) in pair order (sort_tile_entries()).
void fill_columns(const ColumnSource& source, const CountLayout& layout,
                  const TileEntries& entries, const Executor& executor);

// The same two passes over a table that arrives as blocks of consecutive samples (all
// taxa of samples first_sample, first_sample + 1, ...), so that only the compact table
// and the block in hand are ever in memory, whatever the size of the dense table:
//   scan_block() for every block in sample order; finish_scan() (the layout, or the
//   problems); fill_block() for the same blocks in the same order; finish_fill().
// The result is exactly what scan_columns() and fill_columns() give for the whole table:
// blocks only change how much of it is in memory at a time. Every step checks that the
// blocks tile the samples in order, and pass 2 that each column has the non-zeros and
// values pass 1 counted: a source that changed in between so that it no longer fits the
// layout is an error, and nothing is ever written out of place.
class BlockCountBuilder {
 public:
  BlockCountBuilder(std::size_t n_samples, std::size_t n_taxa);

  void scan_block(const ColumnSource& block, std::size_t first_sample, const Executor& executor);
  const CountLayout& finish_scan();
  // entries: layout().nnz() elements each, owned by the caller and the same on every
  // call; finish_fill() puts them in the tile view's order.
  void fill_block(const ColumnSource& block, std::size_t first_sample,
                  const TileEntries& entries, const Executor& executor);
  void finish_fill(const TileEntries& entries, const Executor& executor);

  const CountLayout& layout() const { return layout_; }
  std::size_t n_samples() const { return n_samples_; }
  std::size_t n_taxa() const { return n_taxa_; }

 private:
  enum class Stage { scanning, scanned, filling, filled };
  void check_block(const ColumnSource& block, std::size_t first_sample, Stage stage) const;

  std::size_t n_samples_;
  std::size_t n_taxa_;
  Stage stage_ = Stage::scanning;
  std::size_t next_sample_ = 0;
  std::vector<ColumnScan> scans_;
  CountLayout layout_;
  std::vector<std::size_t> cursor_;  // next entry of each (tile, taxon) in pass 2
};

// A compressed-rows block (row r holds columns col_index[row_start[r] .. row_start[r + 1]],
// 0-based, with values) in compressed columns: what a sparse block stored sample by sample
// (such as a column block of a taxa x samples dgCMatrix) becomes before it is scanned.
// Within each column the rows come out increasing.
struct CompressedColumns {
  std::size_t n_rows = 0;
  std::size_t n_cols = 0;
  std::vector<int> col_start;
  std::vector<int> row_index;
  std::vector<double> values;
  ColumnSource source() const;
};
CompressedColumns compress_columns_of_rows(std::size_t n_rows, std::size_t n_cols,
                                           const int* row_start, const int* col_index,
                                           const double* values);

// The same two passes for the samples `rows` (increasing, 0-based) of a table that
// is already built, in tiles of `tile_size` samples (32-bit pairs when
// `wide_pairs`): the result is what building those rows from scratch gives.
CountLayout scan_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
                      const Executor& executor, std::size_t tile_size = kSampleTile,
                      bool wide_pairs = false);
void fill_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
               const CountLayout& layout, const TileEntries& entries,
               const Executor& executor);

}  // namespace fastdmm

#endif
