// Builds the compressed-row, compressed-column and distinct-value views of a count table.
#include "counts.h"

#include <algorithm>

#include "special.h"

namespace fastdmm {

Counts make_counts(std::size_t n_samples, std::size_t n_taxa, const int* col_start,
                   const int* row_index, const double* values) {
  Counts counts;
  counts.n_samples = n_samples;
  counts.n_taxa = n_taxa;

  counts.col_ptr.assign(n_taxa + 1, 0);
  counts.pair_ptr.assign(n_taxa + 1, 0);
  std::vector<double> column_values;
  for (std::size_t j = 0; j < n_taxa; ++j) {
    column_values.clear();
    for (int e = col_start[j]; e < col_start[j + 1]; ++e) {
      if (values[e] == 0.0) continue;
      counts.col_sample.push_back(static_cast<std::uint32_t>(row_index[e]));
      counts.col_value.push_back(values[e]);
      column_values.push_back(values[e]);
    }
    counts.col_ptr[j + 1] = counts.col_value.size();
    std::sort(column_values.begin(), column_values.end());
    column_values.erase(std::unique(column_values.begin(), column_values.end()),
                        column_values.end());
    const std::size_t first_pair = counts.pair_value.size();
    counts.pair_value.insert(counts.pair_value.end(), column_values.begin(),
                             column_values.end());
    counts.pair_ptr[j + 1] = counts.pair_value.size();
    for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
      const auto position = std::lower_bound(column_values.begin(), column_values.end(),
                                             counts.col_value[e]);
      counts.col_pair.push_back(static_cast<std::uint32_t>(
          first_pair + static_cast<std::size_t>(position - column_values.begin())));
    }
  }

  // Compressed rows by a counting sort of the column entries: walking taxa in order
  // leaves each row's entries in increasing taxon order.
  const std::size_t nnz = counts.col_value.size();
  counts.row_ptr.assign(n_samples + 1, 0);
  for (std::size_t e = 0; e < nnz; ++e) ++counts.row_ptr[counts.col_sample[e] + 1];
  for (std::size_t i = 0; i < n_samples; ++i) counts.row_ptr[i + 1] += counts.row_ptr[i];
  counts.row_taxon.resize(nnz);
  counts.row_value.resize(nnz);
  counts.row_pair.resize(nnz);
  std::vector<std::size_t> next(counts.row_ptr.begin(), counts.row_ptr.end() - 1);
  for (std::size_t j = 0; j < n_taxa; ++j) {
    for (std::size_t e = counts.col_ptr[j]; e < counts.col_ptr[j + 1]; ++e) {
      const std::size_t slot = next[counts.col_sample[e]]++;
      counts.row_taxon[slot] = static_cast<std::uint32_t>(j);
      counts.row_value[slot] = counts.col_value[e];
      counts.row_pair[slot] = counts.col_pair[e];
    }
  }

  counts.depth.assign(n_samples, 0.0);
  counts.log_multinomial.assign(n_samples, 0.0);
  for (std::size_t i = 0; i < n_samples; ++i) {
    double depth = 0.0, log_factorials = 0.0;
    for (std::size_t e = counts.row_ptr[i]; e < counts.row_ptr[i + 1]; ++e) {
      depth += counts.row_value[e];
      log_factorials += log_gamma(counts.row_value[e] + 1.0);
    }
    counts.depth[i] = depth;
    counts.log_multinomial[i] = log_gamma(depth + 1.0) - log_factorials;
  }
  counts.depth_value = counts.depth;
  std::sort(counts.depth_value.begin(), counts.depth_value.end());
  counts.depth_value.erase(
      std::unique(counts.depth_value.begin(), counts.depth_value.end()),
      counts.depth_value.end());
  counts.sample_depth.resize(n_samples);
  for (std::size_t i = 0; i < n_samples; ++i) {
    counts.sample_depth[i] = static_cast<std::uint32_t>(
        std::lower_bound(counts.depth_value.begin(), counts.depth_value.end(),
                         counts.depth[i]) -
        counts.depth_value.begin());
  }
  return counts;
}

}  // namespace fastdmm
