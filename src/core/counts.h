// The count table as the kernels see it: non-zeros by sample and by taxon, distinct values, depths.
#ifndef FASTDMM_COUNTS_H
#define FASTDMM_COUNTS_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastdmm {

// Only non-zero counts are stored (design section 2, "Sparse input"). Every non-zero
// also knows its "pair": the index of its (taxon, count value) among the distinct
// values of that taxon, so per-component tables over pairs replace work per cell.
struct Counts {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;

  // By taxon (compressed columns): taxon j owns entries col_ptr[j] .. col_ptr[j + 1],
  // in increasing sample order.
  std::vector<std::size_t> col_ptr;
  std::vector<std::uint32_t> col_sample;
  std::vector<double> col_value;
  std::vector<std::uint32_t> col_pair;

  // By sample (compressed rows): sample i owns entries row_ptr[i] .. row_ptr[i + 1],
  // in increasing taxon order.
  std::vector<std::size_t> row_ptr;
  std::vector<std::uint32_t> row_taxon;
  std::vector<double> row_value;
  std::vector<std::uint32_t> row_pair;

  // Distinct non-zero values of taxon j: pair_value[pair_ptr[j] .. pair_ptr[j + 1]],
  // increasing.
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value;

  // Sample depths J_i, their distinct values (increasing) and each sample's index
  // into them.
  std::vector<double> depth;
  std::vector<double> depth_value;
  std::vector<std::uint32_t> sample_depth;

  // lgamma(J_i + 1) - sum_j lgamma(x_ij + 1): the multinomial coefficient m_i.
  std::vector<double> log_multinomial;

  // The count of a non-zero, by its position in the column or the row view.
  double col_count(std::size_t e) const { return pair_value[col_pair[e]]; }
  double row_count(std::size_t e) const { return pair_value[row_pair[e]]; }

  std::size_t nnz() const { return col_pair.size(); }
  std::size_t n_pairs() const { return pair_value.size(); }
  std::size_t n_depths() const { return depth_value.size(); }
};

// Builds Counts from compressed-column input (samples are rows, taxa are columns):
// column j holds row indices row_index[col_start[j] .. col_start[j + 1]] (0-based,
// increasing) and their values. Explicit zeros are dropped. Values must already be
// validated as finite non-negative whole numbers.
Counts make_counts(std::size_t n_samples, std::size_t n_taxa, const int* col_start,
                   const int* row_index, const double* values);

}  // namespace fastdmm

#endif
