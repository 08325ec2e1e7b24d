// Rcpp glue of the input boundary: maps R's matrices without copying, builds, caches and subsets count tables.
#include <RcppEigen.h>

#include "glue.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/build_counts.h"
#include "core/counts.h"

namespace {

using fastdmm_glue::RcppParallelExecutor;
using SharedCounts = std::shared_ptr<const fastdmm::Counts>;

// Keeps an R vector alive while the core views its memory. The release runs where
// the last owner lets go: an external pointer's finalizer or an export's frame, both
// on R's main thread.
std::shared_ptr<const void> preserve(SEXP x) {
  R_PreserveObject(x);
  return std::shared_ptr<const void>(static_cast<const void*>(x), [](const void* p) {
    R_ReleaseObject(static_cast<SEXP>(const_cast<void*>(p)));
  });
}

// An R integer vector holding 32-bit indices (stored as R integers bit for bit).
fastdmm::IndexArray index_view(SEXP x) {
  return fastdmm::IndexArray(reinterpret_cast<const std::uint32_t*>(INTEGER(x)),
                             static_cast<std::size_t>(XLENGTH(x)), preserve(x));
}

SEXP new_index_vector(std::size_t n) {
  return Rf_allocVector(INTSXP, static_cast<R_xlen_t>(n));
}

std::uint32_t* index_data(SEXP x) { return reinterpret_cast<std::uint32_t*>(INTEGER(x)); }

// Offsets (which may exceed the 32-bit range) travel to R as doubles.
Rcpp::NumericVector offsets_to_r(const std::vector<std::size_t>& offsets) {
  return Rcpp::NumericVector(offsets.begin(), offsets.end());
}

std::vector<std::size_t> offsets_from_r(SEXP x, std::size_t length, const char* what) {
  if (TYPEOF(x) != REALSXP || static_cast<std::size_t>(XLENGTH(x)) != length) {
    throw std::invalid_argument(std::string("corrupt count table: bad ") + what);
  }
  const double* values = REAL(x);
  return std::vector<std::size_t>(values, values + length);
}

// ---- the cache behind the external pointer -------------------------------------

void finalize_table(SEXP pointer) {
  delete static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  R_ClearExternalPtr(pointer);
}

void attach_table(SEXP pointer, const SharedCounts& table) {
  R_SetExternalPtrAddr(pointer, new SharedCounts(table));
  R_RegisterCFinalizerEx(pointer, finalize_table, TRUE);
}

SEXP new_table_pointer(const SharedCounts& table) {
  Rcpp::Shield<SEXP> pointer(R_MakeExternalPtr(nullptr, R_NilValue, R_NilValue));
  attach_table(pointer, table);
  return pointer;
}

// Completes a table whose compressed columns are (or are about to be) R vectors.
SharedCounts assemble(std::size_t n_samples, std::vector<std::size_t> col_ptr, SEXP col_sample,
                      SEXP col_pair, std::vector<std::size_t> pair_ptr,
                      std::vector<double> pair_value, const fastdmm::Executor& executor) {
  return std::make_shared<const fastdmm::Counts>(fastdmm::assemble_counts(
      n_samples, std::move(col_ptr), index_view(col_sample), index_view(col_pair),
      std::move(pair_ptr), std::move(pair_value), executor));
}

// Fills the layout's index arrays with `fill`, completes the table and returns what
// as_counts() turns into the R object: the compressed columns, the pointer to the
// completed table, and the samples without counts (1-based).
template <class Fill>
Rcpp::List build_table(fastdmm::CountLayout& layout, Fill fill, const fastdmm::Executor& executor) {
  Rcpp::IntegerVector col_sample(new_index_vector(layout.nnz()));
  Rcpp::IntegerVector col_pair(new_index_vector(layout.nnz()));
  fill(index_data(col_sample), index_data(col_pair));
  Rcpp::NumericVector col_ptr = offsets_to_r(layout.col_ptr);
  Rcpp::NumericVector pair_ptr = offsets_to_r(layout.pair_ptr);
  Rcpp::NumericVector pair_value(layout.pair_value.begin(), layout.pair_value.end());
  const std::size_t n_samples = layout.n_samples;
  const SharedCounts table =
      assemble(n_samples, std::move(layout.col_ptr), col_sample, col_pair,
               std::move(layout.pair_ptr), std::move(layout.pair_value), executor);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < n_samples; ++i) {
    if (table->row_ptr[i] == table->row_ptr[i + 1]) zero_samples.push_back(static_cast<int>(i + 1));
  }
  Rcpp::List columns = Rcpp::List::create(
      Rcpp::Named("n_samples") = static_cast<int>(n_samples),
      Rcpp::Named("n_taxa") = static_cast<int>(table->n_taxa),
      Rcpp::Named("col_ptr") = col_ptr, Rcpp::Named("col_sample") = col_sample,
      Rcpp::Named("col_pair") = col_pair, Rcpp::Named("pair_ptr") = pair_ptr,
      Rcpp::Named("pair_value") = pair_value,
      Rcpp::Named("pointer") = Rcpp::RObject(new_table_pointer(table)));
  return Rcpp::List::create(Rcpp::Named("problems") = R_NilValue,
                            Rcpp::Named("zero_samples") =
                                Rcpp::IntegerVector(zero_samples.begin(), zero_samples.end()),
                            Rcpp::Named("table") = columns);
}

}  // namespace

namespace fastdmm_glue {

std::shared_ptr<const fastdmm::Counts> count_table(const Rcpp::List& counts) {
  SEXP pointer = counts.containsElementNamed("pointer") ? SEXP(counts["pointer"]) : R_NilValue;
  if (TYPEOF(pointer) == EXTPTRSXP && R_ExternalPtrAddr(pointer) != nullptr) {
    return *static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  }
  const std::size_t n_samples = static_cast<std::size_t>(Rcpp::as<int>(counts["n_samples"]));
  const std::size_t n_taxa = static_cast<std::size_t>(Rcpp::as<int>(counts["n_taxa"]));
  SEXP col_sample = counts["col_sample"], col_pair = counts["col_pair"];
  std::vector<std::size_t> col_ptr = offsets_from_r(counts["col_ptr"], n_taxa + 1, "col_ptr");
  std::vector<std::size_t> pair_ptr = offsets_from_r(counts["pair_ptr"], n_taxa + 1, "pair_ptr");
  const Rcpp::NumericVector pair_value = counts["pair_value"];
  if (TYPEOF(col_sample) != INTSXP || TYPEOF(col_pair) != INTSXP ||
      static_cast<std::size_t>(XLENGTH(col_sample)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(col_pair)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(pair_value.size()) != pair_ptr[n_taxa]) {
    throw std::invalid_argument("corrupt count table: its arrays do not match");
  }
  // Rebuilt on one thread: this happens once per worker process.
  const SharedCounts table =
      assemble(n_samples, std::move(col_ptr), col_sample, col_pair, std::move(pair_ptr),
               std::vector<double>(pair_value.begin(), pair_value.end()),
               fastdmm::SerialExecutor());
  if (TYPEOF(pointer) == EXTPTRSXP) attach_table(pointer, table);
  return table;
}

}  // namespace fastdmm_glue

// Validates a dense double or integer matrix or a dgCMatrix (samples x taxa) and
// builds its count table in two parallel passes over R's own memory. With bad
// values, returns only `problems` (cells per kind of problem) for R to word.
// [[Rcpp::export(.build_counts)]]
Rcpp::List build_counts(SEXP x, int threads) {
  fastdmm::ColumnSource source;
  if (Rf_isMatrix(x) && TYPEOF(x) == REALSXP) {
    const auto m = Rcpp::as<Eigen::Map<Eigen::MatrixXd>>(x);
    source.kind = fastdmm::ColumnSource::Kind::dense_double;
    source.real = m.data();
    source.n_rows = static_cast<std::size_t>(m.rows());
    source.n_cols = static_cast<std::size_t>(m.cols());
    source.column_stride = static_cast<std::size_t>(m.outerStride());
  } else if (Rf_isMatrix(x) && TYPEOF(x) == INTSXP) {
    const auto m = Rcpp::as<Eigen::Map<Eigen::MatrixXi>>(x);
    source.kind = fastdmm::ColumnSource::Kind::dense_integer;
    source.integer = m.data();
    source.n_rows = static_cast<std::size_t>(m.rows());
    source.n_cols = static_cast<std::size_t>(m.cols());
    source.column_stride = static_cast<std::size_t>(m.outerStride());
  } else if (Rf_isS4(x) && Rf_inherits(x, "dgCMatrix")) {
    const auto m = Rcpp::as<Eigen::Map<Eigen::SparseMatrix<double>>>(x);
    source.kind = fastdmm::ColumnSource::Kind::compressed;
    source.real = m.valuePtr();
    source.col_start = m.outerIndexPtr();
    source.row_index = m.innerIndexPtr();
    source.n_rows = static_cast<std::size_t>(m.rows());
    source.n_cols = static_cast<std::size_t>(m.cols());
  } else {
    Rcpp::stop("internal error: .build_counts() takes a double or integer matrix or a dgCMatrix");
  }
  const RcppParallelExecutor executor(threads);
  fastdmm::CountLayout layout = fastdmm::scan_columns(source, executor);
  if (layout.problems.any()) {
    const fastdmm::ValueProblems& p = layout.problems;
    return Rcpp::List::create(Rcpp::Named("problems") = Rcpp::NumericVector::create(
        Rcpp::Named("missing") = static_cast<double>(p.missing),
        Rcpp::Named("infinite") = static_cast<double>(p.infinite),
        Rcpp::Named("negative") = static_cast<double>(p.negative),
        Rcpp::Named("fractional") = static_cast<double>(p.fractional),
        Rcpp::Named("huge") = static_cast<double>(p.huge)));
  }
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_columns(source, layout, col_sample, col_pair, executor);
  }, executor);
}

// The count table of the samples `rows` (1-based, increasing) of a built table: what
// .build_counts() gives for those rows of the original input.
// [[Rcpp::export(.subset_counts)]]
Rcpp::List subset_counts(const Rcpp::List& counts, const Rcpp::IntegerVector& rows, int threads) {
  const SharedCounts parent = fastdmm_glue::count_table(counts);
  std::vector<std::uint32_t> kept(static_cast<std::size_t>(rows.size()));
  for (R_xlen_t r = 0; r < rows.size(); ++r) {
    if (rows[r] < 1) Rcpp::stop("internal error: rows must be positive");
    kept[static_cast<std::size_t>(r)] = static_cast<std::uint32_t>(rows[r] - 1);
  }
  const RcppParallelExecutor executor(threads);
  fastdmm::CountLayout layout = fastdmm::scan_rows(*parent, kept, executor);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_rows(*parent, kept, layout, col_sample, col_pair, executor);
  }, executor);
}
