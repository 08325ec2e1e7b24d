// The input boundary: validates a user's table and compresses it into Counts in parallel passes.
#ifndef FASTDMM_BUILD_COUNTS_H
#define FASTDMM_BUILD_COUNTS_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// A samples x taxa table as plain memory, read column by column and never copied.
// Dense: column j is the cells real[j * column_stride + i] (or integer[...]),
// i < n_rows; an integer cell equal to kMissingInteger is missing (R's NA).
// Compressed columns: column j holds rows row_index[col_start[j] .. col_start[j + 1]]
// (0-based, increasing) with values real[...]; explicit zeros are allowed.
struct ColumnSource {
  enum class Kind { dense_double, dense_integer, compressed };
  static constexpr int kMissingInteger = -2147483647 - 1;

  Kind kind = Kind::dense_double;
  std::size_t n_rows = 0;
  std::size_t n_cols = 0;
  const double* real = nullptr;
  const int* integer = nullptr;
  std::size_t column_stride = 0;
  const int* col_start = nullptr;
  const int* row_index = nullptr;
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
};

// The shape of a compressed table before its index arrays are filled: non-zeros
// per column (col_ptr) and each column's distinct values (pair_ptr, pair_value).
struct CountLayout {
  std::size_t n_samples = 0;
  ValueProblems problems;
  std::vector<std::size_t> col_ptr;
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value;
  std::size_t nnz() const { return col_ptr.empty() ? 0 : col_ptr.back(); }
};

// Pass 1, parallel over columns: validates every cell and lays out the table. When
// problems.any(), the layout is incomplete and must not be filled.
CountLayout scan_columns(const ColumnSource& source, const Executor& executor);

// Pass 2, parallel over columns: writes each non-zero's sample and pair into
// col_sample and col_pair (layout.nnz() elements each, owned by the caller).
void fill_columns(const ColumnSource& source, const CountLayout& layout,
                  std::uint32_t* col_sample, std::uint32_t* col_pair,
                  const Executor& executor);

// The same two passes for the samples `rows` (increasing, 0-based) of a table that
// is already built: the result is what building those rows from scratch gives.
CountLayout scan_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
                      const Executor& executor);
void fill_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
               const CountLayout& layout, std::uint32_t* col_sample, std::uint32_t* col_pair,
               const Executor& executor);

// The complete table of the samples `rows` (increasing, 0-based) of a built table,
// owning its arrays: what building those rows from scratch gives.
Counts subset_table(const Counts& counts, const std::vector<std::uint32_t>& rows,
                    const Executor& executor);

}  // namespace fastdmm

#endif
