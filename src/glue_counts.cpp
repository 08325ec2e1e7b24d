// Rcpp glue of the input boundary: count tables built from R's matrices or subset, and the cache behind their external pointers.
#include "glue.h"
#include "glue_args.h"

// Eigen from RcppEigen, without RcppEigen.h's conversions (which add megabytes of
// debug information for the three maps built by hand below).
#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/build_counts.h"
#include "core/counts.h"
#include "core/memory.h"
#include "core/parallel.h"

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
  SEXP x = Rf_allocVector(INTSXP, static_cast<R_xlen_t>(n));
  fastdmm::prefer_huge_pages(INTEGER(x), n * sizeof(int));
  return x;
}

std::uint32_t* index_data(SEXP x) { return reinterpret_cast<std::uint32_t*>(INTEGER(x)); }

// Offsets (which may exceed the 32-bit range) travel to R as doubles.
Rcpp::NumericVector offsets_to_r(const std::vector<std::size_t>& offsets) {
  return Rcpp::NumericVector(offsets.begin(), offsets.end());
}

[[noreturn]] void corrupt_table(const std::string& problem) {
  fastdmm_glue::refuse_object("corrupt count table: " + problem);
}

// Offsets from R: `length` whole numbers from 0 up, never decreasing (doubles
// hold them exactly up to 2^53).
std::vector<std::size_t> offsets_from_r(SEXP x, std::size_t length, const char* what) {
  if (TYPEOF(x) != REALSXP || static_cast<std::size_t>(XLENGTH(x)) != length) {
    corrupt_table(std::string("bad ") + what);
  }
  const double* values = REAL(x);
  std::vector<std::size_t> offsets(length);
  double previous = 0.0;
  for (std::size_t m = 0; m < length; ++m) {
    const double v = values[m];
    if (!(v >= previous && v <= 9007199254740992.0) || v != std::floor(v) ||
        (m == 0 && v != 0.0)) {
      corrupt_table(std::string(what) + " must start at 0 and never decrease");
    }
    offsets[m] = static_cast<std::size_t>(v);
    previous = v;
  }
  return offsets;
}

// The element `name` of a list (R_NilValue when absent).
SEXP list_element(SEXP list, const char* name) {
  SEXP names = Rf_getAttrib(list, R_NamesSymbol);
  if (TYPEOF(names) != STRSXP) return R_NilValue;
  for (R_xlen_t i = 0; i < XLENGTH(list); ++i) {
    if (std::strcmp(CHAR(STRING_ELT(names, i)), name) == 0) return VECTOR_ELT(list, i);
  }
  return R_NilValue;
}

// Checks compressed columns as assemble_counts() needs them: per taxon, samples
// increasing and below n_samples, pairs among the taxon's own, whose values are
// increasing whole numbers >= 1.
void check_columns(std::size_t n_samples, const std::vector<std::size_t>& col_ptr,
                   const std::uint32_t* col_sample, const std::uint32_t* col_pair,
                   const std::vector<std::size_t>& pair_ptr, const double* pair_value) {
  const std::size_t S = col_ptr.size() - 1;
  for (std::size_t j = 0; j < S; ++j) {
    for (std::size_t m = pair_ptr[j]; m < pair_ptr[j + 1]; ++m) {
      const double v = pair_value[m];
      if (!(v >= 1.0 && v <= 9007199254740992.0) || v != std::floor(v) ||
          (m > pair_ptr[j] && !(v > pair_value[m - 1]))) {
        corrupt_table("pair_value must hold increasing whole counts for each taxon");
      }
    }
    for (std::size_t e = col_ptr[j]; e < col_ptr[j + 1]; ++e) {
      if (col_sample[e] >= n_samples || (e > col_ptr[j] && col_sample[e] <= col_sample[e - 1])) {
        corrupt_table("col_sample must hold increasing sample indices for each taxon");
      }
      if (col_pair[e] < pair_ptr[j] || col_pair[e] >= pair_ptr[j + 1]) {
        corrupt_table("col_pair must index the pairs of its own taxon");
      }
    }
  }
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

// The tag that marks fastdmm's own table pointers: a pointer of another origin
// put into a table object is never dereferenced.
SEXP table_tag() { return Rf_install("fastdmm_counts"); }

// Completes a table whose compressed columns are (or are about to be) R vectors.
SharedCounts assemble(std::size_t n_samples, std::vector<std::size_t> col_ptr, SEXP col_sample,
                      SEXP col_pair, std::vector<std::size_t> pair_ptr,
                      std::vector<double> pair_value, const fastdmm::Executor& executor) {
  return std::make_shared<const fastdmm::Counts>(fastdmm::assemble_counts(
      n_samples, std::move(col_ptr), index_view(col_sample), index_view(col_pair),
      std::move(pair_ptr), std::move(pair_value), executor));
}

// Fills the layout's index arrays with `fill` and completes the table (see finish_table()).
template <class Fill>
Rcpp::List build_table(fastdmm::CountLayout& layout, Fill fill, const fastdmm::Executor& executor) {
  Rcpp::IntegerVector col_sample(new_index_vector(layout.nnz()));
  Rcpp::IntegerVector col_pair(new_index_vector(layout.nnz()));
  fill(index_data(col_sample), index_data(col_pair));
  return fastdmm_glue::finish_table(layout, col_sample, col_pair, executor);
}

}  // namespace

namespace fastdmm_glue {

SEXP new_table_pointer(const SharedCounts& table) {
  Rcpp::Shield<SEXP> pointer(R_MakeExternalPtr(nullptr, table_tag(), R_NilValue));
  attach_table(pointer, table);
  return pointer;
}

Rcpp::List finish_table(fastdmm::CountLayout& layout, const Rcpp::IntegerVector& col_sample,
                        const Rcpp::IntegerVector& col_pair, const fastdmm::Executor& executor) {
  Rcpp::NumericVector col_ptr = offsets_to_r(layout.col_ptr);
  Rcpp::NumericVector pair_ptr = offsets_to_r(layout.pair_ptr);
  Rcpp::NumericVector pair_value(layout.pair_value.begin(), layout.pair_value.end());
  const std::size_t n_samples = layout.n_samples;
  const SharedCounts table =
      assemble(n_samples, std::move(layout.col_ptr), col_sample, col_pair,
               std::move(layout.pair_ptr), std::move(layout.pair_value), executor);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < n_samples; ++i) {
    if (table->depth[i] == 0.0) zero_samples.push_back(static_cast<int>(i + 1));
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

Rcpp::List problems_result(const fastdmm::ValueProblems& p) {
  return Rcpp::List::create(Rcpp::Named("problems") = Rcpp::NumericVector::create(
      Rcpp::Named("missing") = static_cast<double>(p.missing),
      Rcpp::Named("infinite") = static_cast<double>(p.infinite),
      Rcpp::Named("negative") = static_cast<double>(p.negative),
      Rcpp::Named("fractional") = static_cast<double>(p.fractional),
      Rcpp::Named("huge") = static_cast<double>(p.huge)));
}

bool column_source(SEXP x, bool samples_in_rows, fastdmm::CompressedColumns& storage,
                   fastdmm::ColumnSource& source) {
  source = fastdmm::ColumnSource();
  if (Rf_isMatrix(x) && (TYPEOF(x) == REALSXP || TYPEOF(x) == INTSXP)) {
    const auto rows = static_cast<std::size_t>(Rf_nrows(x));
    const auto cols = static_cast<std::size_t>(Rf_ncols(x));
    if (TYPEOF(x) == REALSXP) {
      source.kind = fastdmm::ColumnSource::Kind::dense_double;
      source.real = REAL(x);
    } else {
      source.kind = fastdmm::ColumnSource::Kind::dense_integer;
      source.integer = INTEGER(x);
    }
    // R matrices are column-major: a taxa x samples one is read across its columns.
    source.n_rows = samples_in_rows ? rows : cols;
    source.n_cols = samples_in_rows ? cols : rows;
    source.column_stride = samples_in_rows ? rows : 1;
    source.row_stride = samples_in_rows ? 1 : rows;
    return true;
  }
  if (!(Rf_isS4(x) && Rf_inherits(x, "dgCMatrix"))) return false;
  // The slots of a dgCMatrix are Eigen's compressed-column layout.
  const Rcpp::S4 matrix(x);
  const Rcpp::IntegerVector dim = matrix.slot("Dim");
  const Rcpp::IntegerVector col_start = matrix.slot("p");
  const Rcpp::IntegerVector row_index = matrix.slot("i");
  const Rcpp::NumericVector values = matrix.slot("x");
  if (dim.size() != 2 || dim[0] < 0 || dim[1] < 0 || col_start.size() != dim[1] + 1 ||
      row_index.size() != values.size() || col_start[0] != 0 ||
      col_start[dim[1]] != values.size()) {
    refuse_object("invalid dgCMatrix: its slots do not agree");
  }
  // Row indices are checked as the columns are read (build_counts.cpp); the
  // column starts must not decrease for those reads to stay in bounds.
  for (int j = 0; j < dim[1]; ++j) {
    if (col_start[j + 1] < col_start[j]) refuse_object("invalid dgCMatrix: its slot p decreases");
  }
  if (!samples_in_rows) {
    // Compressed by sample: re-compressed by taxon, a copy of the non-zeros only.
    storage = fastdmm::compress_columns_of_rows(
        static_cast<std::size_t>(dim[1]), static_cast<std::size_t>(dim[0]), col_start.begin(),
        row_index.begin(), values.begin());
    source = storage.source();
    return true;
  }
  const Eigen::Map<const Eigen::SparseMatrix<double>> m(
      dim[0], dim[1], values.size(), col_start.begin(), row_index.begin(), values.begin());
  source.kind = fastdmm::ColumnSource::Kind::compressed;
  source.real = m.valuePtr();
  source.col_start = m.outerIndexPtr();
  source.row_index = m.innerIndexPtr();
  source.n_rows = static_cast<std::size_t>(m.rows());
  source.n_cols = static_cast<std::size_t>(m.cols());
  return true;
}

std::shared_ptr<const fastdmm::Counts> count_table(SEXP counts) {
  if (TYPEOF(counts) != VECSXP) corrupt_table("it is not a list");
  SEXP pointer = list_element(counts, "pointer");
  const bool ours = TYPEOF(pointer) == EXTPTRSXP && R_ExternalPtrTag(pointer) == table_tag();
  if (ours && R_ExternalPtrAddr(pointer) != nullptr) {
    return *static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  }
  // Rebuilt from the compressed columns, which are checked first: the object may
  // have been edited since as_counts() made it.
  const std::size_t n_samples = static_cast<std::size_t>(
      read_int(list_element(counts, "n_samples"), "counts$n_samples", 0, kIntMax));
  const std::size_t n_taxa = static_cast<std::size_t>(
      read_int(list_element(counts, "n_taxa"), "counts$n_taxa", 0, kIntMax));
  SEXP col_sample = list_element(counts, "col_sample"), col_pair = list_element(counts, "col_pair");
  SEXP pair_value = list_element(counts, "pair_value");
  std::vector<std::size_t> col_ptr =
      offsets_from_r(list_element(counts, "col_ptr"), n_taxa + 1, "col_ptr");
  std::vector<std::size_t> pair_ptr =
      offsets_from_r(list_element(counts, "pair_ptr"), n_taxa + 1, "pair_ptr");
  if (TYPEOF(col_sample) != INTSXP || TYPEOF(col_pair) != INTSXP || TYPEOF(pair_value) != REALSXP ||
      static_cast<std::size_t>(XLENGTH(col_sample)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(col_pair)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(pair_value)) != pair_ptr[n_taxa] ||
      pair_ptr[n_taxa] > 4294967295ULL) {
    corrupt_table("its arrays do not match");
  }
  check_columns(n_samples, col_ptr, index_data(col_sample), index_data(col_pair), pair_ptr,
                REAL(pair_value));
  // Rebuilt on one thread: this happens once per worker process.
  const SharedCounts table =
      assemble(n_samples, std::move(col_ptr), col_sample, col_pair, std::move(pair_ptr),
               std::vector<double>(REAL(pair_value), REAL(pair_value) + XLENGTH(pair_value)),
               fastdmm::SerialExecutor());
  // Cached behind the object's own (empty) pointer; another pointer is left alone.
  if (ours) attach_table(pointer, table);
  return table;
}

}  // namespace fastdmm_glue

// Validates a dense double or integer matrix or a dgCMatrix (samples x taxa) and
// builds its count table in two parallel passes over R's own memory. With bad
// values, returns only `problems` (cells per kind of problem) for R to word.
// [[Rcpp::export(.build_counts)]]
Rcpp::List build_counts(SEXP x, SEXP threads) {
  const int n_threads = fastdmm_glue::read_int(threads, "threads", 1, fastdmm_glue::kIntMax);
  fastdmm::ColumnSource source;
  fastdmm::CompressedColumns unused;
  if (!fastdmm_glue::column_source(x, true, unused, source)) {
    fastdmm_glue::refuse("x", "must be a double or integer matrix or a dgCMatrix");
  }
  const RcppParallelExecutor executor(n_threads);
  fastdmm::CountLayout layout = fastdmm::scan_columns(source, executor);
  if (layout.problems.any()) return fastdmm_glue::problems_result(layout.problems);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_columns(source, layout, col_sample, col_pair, executor);
  }, executor);
}

// The count table of the samples `rows` (1-based, increasing) of a built table: what
// .build_counts() gives for those rows of the original input.
// [[Rcpp::export(.subset_counts)]]
Rcpp::List subset_counts(SEXP counts, SEXP rows, SEXP threads) {
  const SharedCounts parent = fastdmm_glue::count_table(counts);
  const int n_threads = fastdmm_glue::read_int(threads, "threads", 1, fastdmm_glue::kIntMax);
  const int* row_values =
      fastdmm_glue::read_ints(rows, "rows", 0, R_XLEN_T_MAX, "an integer vector");
  std::vector<std::uint32_t> kept(static_cast<std::size_t>(XLENGTH(rows)));
  for (R_xlen_t r = 0; r < XLENGTH(rows); ++r) {
    if (row_values[r] < 1 || static_cast<std::size_t>(row_values[r]) > parent->n_samples ||
        (r > 0 && row_values[r] <= row_values[r - 1])) {
      fastdmm_glue::refuse("rows", "must be increasing row numbers of the table");
    }
    kept[static_cast<std::size_t>(r)] = static_cast<std::uint32_t>(row_values[r] - 1);
  }
  const RcppParallelExecutor executor(n_threads);
  fastdmm::CountLayout layout = fastdmm::scan_rows(*parent, kept, executor);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_rows(*parent, kept, layout, col_sample, col_pair, executor);
  }, executor);
}

// The shape of the table a count table object stands for (rebuilding and
// checking it if needed): samples, taxa and the samples without counts
// (1-based), for as_counts() to compare with the object's own fields.
// [[Rcpp::export(.count_table_shape)]]
Rcpp::List count_table_shape(SEXP counts) {
  const SharedCounts table = fastdmm_glue::count_table(counts);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < table->n_samples; ++i) {
    if (table->depth[i] == 0.0) zero_samples.push_back(static_cast<int>(i + 1));
  }
  return Rcpp::List::create(
      Rcpp::Named("n_samples") = static_cast<int>(table->n_samples),
      Rcpp::Named("n_taxa") = static_cast<int>(table->n_taxa),
      Rcpp::Named("zero_samples") = Rcpp::IntegerVector(zero_samples.begin(), zero_samples.end()));
}
