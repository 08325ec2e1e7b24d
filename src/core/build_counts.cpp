// Validation and compression of a user's table (dense or compressed columns) into Counts.
#include "build_counts.h"

#include <algorithm>
#include <cmath>
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
      const double* column = source.real + j * source.column_stride;
      for (std::size_t i = 0; i < source.n_rows; ++i) visit(i, classify(column[i]), column[i]);
      break;
    }
    case ColumnSource::Kind::dense_integer: {
      const int* column = source.integer + j * source.column_stride;
      for (std::size_t i = 0; i < source.n_rows; ++i) {
        visit(i, classify(column[i]), static_cast<double>(column[i]));
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

struct ColumnScan {
  std::size_t nnz = 0;
  ValueProblems problems;
  std::vector<double> distinct;
};

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

// Offsets and concatenated distinct values of the per-column scans, in column order.
CountLayout finish_layout(std::size_t n_samples, std::vector<ColumnScan>& scans) {
  CountLayout layout;
  layout.n_samples = n_samples;
  const std::size_t S = scans.size();
  layout.col_ptr.assign(S + 1, 0);
  layout.pair_ptr.assign(S + 1, 0);
  for (std::size_t j = 0; j < S; ++j) {
    layout.col_ptr[j + 1] = layout.col_ptr[j] + scans[j].nnz;
    layout.pair_ptr[j + 1] = layout.pair_ptr[j] + scans[j].distinct.size();
    layout.problems.missing += scans[j].problems.missing;
    layout.problems.infinite += scans[j].problems.infinite;
    layout.problems.negative += scans[j].problems.negative;
    layout.problems.fractional += scans[j].problems.fractional;
    layout.problems.huge += scans[j].problems.huge;
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
  return layout;
}

}  // namespace

CountLayout scan_columns(const ColumnSource& source, const Executor& executor) {
  std::vector<ColumnScan> scans(source.n_cols);
  executor.parallel_for(source.n_cols, [&](std::size_t begin, std::size_t end) {
    // seen[v] == j + 1 once the small count v has been met in column j.
    std::vector<std::uint32_t> seen(kSmallCount, 0);
    std::vector<double> large;
    for (std::size_t j = begin; j < end; ++j) {
      ColumnScan& scan = scans[j];
      const auto stamp = static_cast<std::uint32_t>(j + 1);
      large.clear();
      visit_column(source, j, [&](std::size_t, Cell cell, double value) {
        if (cell == Cell::zero) return;
        if (cell != Cell::count) {
          count_problem(cell, scan.problems);
          return;
        }
        ++scan.nnz;
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
      scan.distinct.shrink_to_fit();
    }
  }, kTaxonGrain);
  return finish_layout(source.n_rows, scans);
}

void fill_columns(const ColumnSource& source, const CountLayout& layout,
                  std::uint32_t* col_sample, std::uint32_t* col_pair,
                  const Executor& executor) {
  if (layout.problems.any()) throw std::logic_error("fill_columns() on a table with problems");
  executor.parallel_for(source.n_cols, [&](std::size_t begin, std::size_t end) {
    // small_pair[v]: the pair of the small count v in the current column (entries of
    // values the column lacks are stale and never read).
    std::vector<std::uint32_t> small_pair(kSmallCount);
    for (std::size_t j = begin; j < end; ++j) {
      const std::size_t first_pair = layout.pair_ptr[j];
      const double* values = layout.pair_value.data() + first_pair;
      const double* values_end = layout.pair_value.data() + layout.pair_ptr[j + 1];
      for (const double* v = values; v < values_end && *v < static_cast<double>(kSmallCount);
           ++v) {
        small_pair[static_cast<std::size_t>(*v)] = static_cast<std::uint32_t>(first_pair + (v - values));
      }
      std::size_t out = layout.col_ptr[j];
      visit_column(source, j, [&](std::size_t row, Cell cell, double value) {
        if (cell != Cell::count) return;
        col_sample[out] = static_cast<std::uint32_t>(row);
        col_pair[out] = value < static_cast<double>(kSmallCount)
                            ? small_pair[static_cast<std::size_t>(value)]
                            : static_cast<std::uint32_t>(
                                  first_pair +
                                  (std::lower_bound(values, values_end, value) - values));
        ++out;
      });
    }
  }, kTaxonGrain);
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

// Marks in `used` (one slot per distinct value of column j) the values kept rows have.
std::size_t mark_kept_pairs(const Counts& counts, const std::vector<std::uint32_t>& index,
                            std::size_t j, std::vector<std::uint32_t>& used) {
  const std::size_t first_pair = counts.pair_ptr[j];
  used.assign(counts.pair_ptr[j + 1] - first_pair, 0);
  std::size_t kept = 0;
  for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
    if (index[counts.col_sample[e]] == kNotKept) continue;
    ++kept;
    used[counts.col_pair[e] - first_pair] = 1;
  }
  return kept;
}

}  // namespace

CountLayout scan_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
                      const Executor& executor) {
  const std::vector<std::uint32_t> index = new_sample_index(counts, rows);
  std::vector<ColumnScan> scans(counts.n_taxa);
  executor.parallel_for(counts.n_taxa, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> used;
    for (std::size_t j = begin; j < end; ++j) {
      scans[j].nnz = mark_kept_pairs(counts, index, j, used);
      for (std::size_t m = 0; m < used.size(); ++m) {
        if (used[m]) scans[j].distinct.push_back(counts.pair_value[counts.pair_ptr[j] + m]);
      }
    }
  }, kTaxonGrain);
  return finish_layout(rows.size(), scans);
}

void fill_rows(const Counts& counts, const std::vector<std::uint32_t>& rows,
               const CountLayout& layout, std::uint32_t* col_sample, std::uint32_t* col_pair,
               const Executor& executor) {
  const std::vector<std::uint32_t> index = new_sample_index(counts, rows);
  executor.parallel_for(counts.n_taxa, [&](std::size_t begin, std::size_t end) {
    std::vector<std::uint32_t> rank;
    for (std::size_t j = begin; j < end; ++j) {
      mark_kept_pairs(counts, index, j, rank);
      // The new pair of a kept value is its rank among the kept values.
      std::uint32_t next = static_cast<std::uint32_t>(layout.pair_ptr[j]);
      for (auto& r : rank) r = r ? next++ : kNotKept;
      std::size_t out = layout.col_ptr[j];
      const std::size_t first_pair = counts.pair_ptr[j];
      for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
        const std::uint32_t sample = index[counts.col_sample[e]];
        if (sample == kNotKept) continue;
        col_sample[out] = sample;
        col_pair[out] = rank[counts.col_pair[e] - first_pair];
        ++out;
      }
    }
  }, kTaxonGrain);
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
