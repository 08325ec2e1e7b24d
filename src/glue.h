// What the glue files share: the core's Executor on RcppParallel, the count table behind an R object, and core arrays as R matrices.
#ifndef FASTDMM_GLUE_H
#define FASTDMM_GLUE_H

#include <Rcpp.h>

#include "parallel_backend.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/build_counts.h"
#include "core/counts.h"
#include "core/parallel.h"

namespace fastdmm_glue {

// Runs the core's parallel loops on RcppParallel with an explicit thread count; with
// one thread the same body runs serially on the calling thread. Exceptions never
// cross the pool: the first one is recorded and rethrown after the join.
struct RangeWorker : public RcppParallel::Worker {
  explicit RangeWorker(const fastdmm::RangeBody& body) : body_(body) {}
  void operator()(std::size_t begin, std::size_t end) override {
    try {
      body_(begin, end);
    } catch (const std::exception& e) {
      if (!failed.exchange(true)) message = e.what();
    } catch (...) {
      if (!failed.exchange(true)) message = "unknown error in a worker thread";
    }
  }
  const fastdmm::RangeBody& body_;
  std::atomic<bool> failed{false};
  std::string message;
};

class RcppParallelExecutor : public fastdmm::Executor {
 public:
  explicit RcppParallelExecutor(int threads) : threads_(threads < 1 ? 1 : threads) {}
  void parallel_for(std::size_t n, const fastdmm::RangeBody& body,
                    std::size_t grain) const override {
    if (n == 0) return;
    if (threads_ == 1 || n <= grain) {
      body(0, n);
      return;
    }
    RangeWorker worker(body);
    run_parallel_for(n, worker, grain, threads_);
    if (worker.failed) throw std::runtime_error(worker.message);
  }
  int threads() const override { return threads_; }

 private:
  int threads_;
};

// The core's view of a count table built by as_counts() (see input.R): the table
// cached behind the object's external pointer, or, when the pointer is empty (the
// object was serialised, e.g. sent to a future's worker), one rebuilt from the
// object's tile vectors, which it checks and then views without copying, and
// cached again. Call on R's main thread; workers take the Counts by reference and
// never hold (or drop) a copy of the returned pointer.
std::shared_ptr<const fastdmm::Counts> count_table(SEXP counts);

// A new external pointer (tagged as fastdmm's) that holds `table`, for a count
// table object's `pointer` field.
SEXP new_table_pointer(const std::shared_ptr<const fastdmm::Counts>& table);

// The core's view of a dense double or integer matrix or a dgCMatrix holding samples in
// rows (samples_in_rows) or in columns (taxa x samples, as a SummarizedExperiment's
// assay); only a dgCMatrix with samples in columns is copied, its non-zeros re-compressed
// by taxon into `storage`. False when x is none of these.
bool column_source(SEXP x, bool samples_in_rows, fastdmm::CompressedColumns& storage,
                   fastdmm::ColumnSource& source);

// What .build_counts() returns for a table whose layout and entry vectors (R vectors
// tile_row and tile_pair, see input.R, written in the tile view's order) are
// complete: the object's vectors, the pointer to the completed table, and the
// samples without counts (1-based); or, for a table with bad values, only
// `problems` (cells per kind of problem) for R to word.
Rcpp::List finish_table(fastdmm::CountLayout& layout, SEXP tile_row, SEXP tile_pair,
                        const fastdmm::Executor& executor);
// What finish_table() returns for the samples `rows` (increasing, 0-based) of a
// built table, in tiles of `tile_size` samples, with 32-bit pairs when `wide_pairs`.
Rcpp::List subset_table_object(const fastdmm::Counts& parent, const std::vector<std::uint32_t>& rows,
                               std::size_t tile_size, bool wide_pairs,
                               const fastdmm::Executor& executor);
// The vectors that hold a table's entries: tile_row, and tile_pair (16-bit
// ranks, or 32-bit pairs), allocated for `nnz` entries; and where to write them.
SEXP new_raw_vector(std::size_t bytes);
SEXP new_pair_vector(std::size_t nnz, bool narrow);
fastdmm::TileEntries entries_of(SEXP tile_row, SEXP tile_pair);
Rcpp::List problems_result(const fastdmm::ValueProblems& problems);

// Core arrays as R matrices: `values` already column-major (as the core's
// [k * S + j] parameters are) ...
inline Rcpp::NumericMatrix as_matrix(const std::vector<double>& values, std::size_t n_row,
                                     std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

// R's N x K matrix (column-major `values`) as the core's sample-major [i * K + k].
inline std::vector<double> matrix_as_sample_major(const double* values, std::size_t n_row,
                                                  std::size_t n_col) {
  std::vector<double> out(n_row * n_col);
  for (std::size_t i = 0; i < n_row; ++i) {
    for (std::size_t k = 0; k < n_col; ++k) out[i * n_col + k] = values[k * n_row + i];
  }
  return out;
}

// ... or sample-major [i * K + k], as R's N x K matrix (column-major).
inline Rcpp::NumericMatrix sample_major_as_matrix(const std::vector<double>& values,
                                                  std::size_t n_row, std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  for (std::size_t i = 0; i < n_row; ++i) {
    for (std::size_t k = 0; k < n_col; ++k) out[k * n_row + i] = values[i * n_col + k];
  }
  return out;
}

}  // namespace fastdmm_glue

#endif
