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

namespace fastdmm_glue {

// The R vectors a table's entries live in (see input.R): tile_row, a raw vector of
// 2 bytes per non-zero (16-bit rows, in the machine's byte order), and tile_pair, a
// raw vector of 2 bytes per non-zero (16-bit ranks) or, with 32-bit pairs, an integer
// vector (stored as R integers bit for bit). R's vectors are aligned for doubles.
SEXP new_raw_vector(std::size_t bytes) {
  SEXP x = Rf_allocVector(RAWSXP, static_cast<R_xlen_t>(bytes));
  fastdmm::prefer_huge_pages(RAW(x), bytes);
  return x;
}

SEXP new_pair_vector(std::size_t nnz, bool narrow) {
  if (narrow) return new_raw_vector(2 * nnz);
  SEXP x = Rf_allocVector(INTSXP, static_cast<R_xlen_t>(nnz));
  fastdmm::prefer_huge_pages(INTEGER(x), nnz * sizeof(int));
  return x;
}

// Where the builders write into those vectors.
fastdmm::TileEntries entries_of(SEXP tile_row, SEXP tile_pair) {
  fastdmm::TileEntries entries;
  entries.row = reinterpret_cast<std::uint16_t*>(RAW(tile_row));
  if (TYPEOF(tile_pair) == RAWSXP) {
    entries.rank = reinterpret_cast<std::uint16_t*>(RAW(tile_pair));
  } else {
    entries.pair = reinterpret_cast<std::uint32_t*>(INTEGER(tile_pair));
  }
  return entries;
}

}  // namespace fastdmm_glue

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

using fastdmm_glue::entries_of;
using fastdmm_glue::new_pair_vector;
using fastdmm_glue::new_raw_vector;

// A view of an R vector's elements as T, kept alive by the view.
template <class T>
fastdmm::SharedArray<T> array_view(SEXP x, const void* data) {
  const std::size_t bytes = TYPEOF(x) == RAWSXP ? static_cast<std::size_t>(XLENGTH(x))
                                                : static_cast<std::size_t>(XLENGTH(x)) * sizeof(int);
  return fastdmm::SharedArray<T>(static_cast<const T*>(data), bytes / sizeof(T), preserve(x));
}

// Offsets (which may exceed the 32-bit range) travel to R as doubles.
Rcpp::NumericVector offsets_to_r(const std::vector<std::size_t>& offsets) {
  return Rcpp::NumericVector(offsets.begin(), offsets.end());
}

[[noreturn]] void corrupt_table(const std::string& problem) {
  fastdmm_glue::refuse_object("corrupt count table: " + problem);
}

[[noreturn]] void rank_out_of_range() {
  corrupt_table("tile_pair must index the pairs of its own taxon");
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

// Checks a table's pair values (increasing whole counts >= 1 per taxon) and
// entries as the kernels need them: per (tile, taxon), rows inside the tile, each
// at most once, and pairs among the taxon's own, in increasing (pair, row) order.
void check_tiles(const fastdmm::TileLayout& layout, const fastdmm::TileEntries& entries) {
  const std::size_t S = layout.n_taxa, T = layout.tile_size;
  for (std::size_t j = 0; j < S; ++j) {
    for (std::size_t m = layout.pair_ptr[j]; m < layout.pair_ptr[j + 1]; ++m) {
      const double v = layout.pair_value[m];
      if (!(v >= 1.0 && v <= 9007199254740992.0) || v != std::floor(v) ||
          (m > layout.pair_ptr[j] && !(v > layout.pair_value[m - 1]))) {
        corrupt_table("pair_value must hold increasing whole counts for each taxon");
      }
    }
  }
  std::vector<std::size_t> seen(T);
  for (std::size_t t = 0; t < layout.n_tiles(); ++t) {
    const std::size_t rows = std::min(T, layout.n_samples - t * T);
    std::fill(seen.begin(), seen.end(), S);
    for (std::size_t j = 0; j < S; ++j) {
      const std::size_t first_pair = layout.pair_ptr[j];
      const std::size_t n_pairs = layout.pair_ptr[j + 1] - first_pair;
      const std::size_t begin = layout.tile_ptr[t * S + j], end = layout.tile_ptr[t * S + j + 1];
      for (std::size_t e = begin; e < end; ++e) {
        const std::size_t row = entries.row[e];
        const std::size_t rank = entries.rank != nullptr ? entries.rank[e]
                                                         : entries.pair[e] - first_pair;
        if (row >= rows || seen[row] == j) {
          corrupt_table("tile_row must hold each sample of a tile at most once per taxon");
        }
        seen[row] = j;
        if (entries.pair != nullptr && entries.pair[e] < first_pair) rank_out_of_range();
        if (rank >= n_pairs) rank_out_of_range();
        if (e > begin) {
          const std::size_t previous = entries.rank != nullptr ? entries.rank[e - 1]
                                                               : entries.pair[e - 1] - first_pair;
          if (previous > rank || (previous == rank && entries.row[e - 1] > row)) {
            corrupt_table("the entries of each tile and taxon must be in pair, then sample order");
          }
        }
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

// Completes a table whose entries are the R vectors tile_row and tile_pair, which it views.
SharedCounts assemble(fastdmm::TileLayout layout, SEXP tile_row, SEXP tile_pair,
                      const fastdmm::Executor& executor) {
  const fastdmm::TileEntries entries = entries_of(tile_row, tile_pair);
  fastdmm::SharedArray<std::uint16_t> rank;
  fastdmm::SharedArray<std::uint32_t> pair;
  if (entries.rank != nullptr) {
    rank = array_view<std::uint16_t>(tile_pair, entries.rank);
  } else {
    pair = array_view<std::uint32_t>(tile_pair, entries.pair);
  }
  return std::make_shared<const fastdmm::Counts>(fastdmm::assemble_counts(
      std::move(layout), array_view<std::uint16_t>(tile_row, entries.row), std::move(rank),
      std::move(pair), executor));
}

// Allocates the layout's entry vectors, writes them with fill(entries) and completes
// the table (see finish_table()).
template <class Fill>
Rcpp::List build_table(fastdmm::CountLayout& layout, Fill fill, const fastdmm::Executor& executor) {
  Rcpp::RObject tile_row(new_raw_vector(2 * layout.nnz()));
  Rcpp::RObject tile_pair(new_pair_vector(layout.nnz(), layout.narrow_pairs));
  fill(entries_of(tile_row, tile_pair));
  return fastdmm_glue::finish_table(layout, tile_row, tile_pair, executor);
}

}  // namespace

namespace fastdmm_glue {

SEXP new_table_pointer(const SharedCounts& table) {
  Rcpp::Shield<SEXP> pointer(R_MakeExternalPtr(nullptr, table_tag(), R_NilValue));
  attach_table(pointer, table);
  return pointer;
}

Rcpp::List finish_table(fastdmm::CountLayout& layout, SEXP tile_row, SEXP tile_pair,
                        const fastdmm::Executor& executor) {
  Rcpp::NumericVector tile_ptr = offsets_to_r(layout.tile_ptr);
  Rcpp::NumericVector pair_ptr = offsets_to_r(layout.pair_ptr);
  Rcpp::NumericVector pair_value(layout.pair_value.begin(), layout.pair_value.end());
  const std::size_t n_samples = layout.n_samples, tile_size = layout.tile_size;
  const SharedCounts table =
      assemble(std::move(static_cast<fastdmm::TileLayout&>(layout)), tile_row, tile_pair, executor);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < n_samples; ++i) {
    if (table->depth[i] == 0.0) zero_samples.push_back(static_cast<int>(i + 1));
  }
  Rcpp::List columns = Rcpp::List::create(
      Rcpp::Named("n_samples") = static_cast<int>(n_samples),
      Rcpp::Named("n_taxa") = static_cast<int>(table->n_taxa),
      Rcpp::Named("tile_size") = static_cast<int>(tile_size), Rcpp::Named("tile_ptr") = tile_ptr,
      Rcpp::Named("tile_row") = tile_row, Rcpp::Named("tile_pair") = tile_pair,
      Rcpp::Named("pair_ptr") = pair_ptr,
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
  // Rebuilt from the object's vectors, which are checked first (the object may have
  // been edited since as_counts() made it) and then viewed in place.
  fastdmm::TileLayout layout;
  layout.n_samples = static_cast<std::size_t>(
      read_int(list_element(counts, "n_samples"), "counts$n_samples", 0, kIntMax));
  layout.n_taxa = static_cast<std::size_t>(
      read_int(list_element(counts, "n_taxa"), "counts$n_taxa", 0, kIntMax));
  SEXP tile_size = list_element(counts, "tile_size");
  if (TYPEOF(tile_size) != INTSXP || XLENGTH(tile_size) != 1 || INTEGER(tile_size)[0] < 1 ||
      INTEGER(tile_size)[0] > 65536) {
    corrupt_table("bad tile_size");
  }
  layout.tile_size = static_cast<std::size_t>(INTEGER(tile_size)[0]);
  const std::size_t S = layout.n_taxa, cells = layout.n_tiles() * S;
  layout.tile_ptr = offsets_from_r(list_element(counts, "tile_ptr"), cells + 1, "tile_ptr");
  layout.pair_ptr = offsets_from_r(list_element(counts, "pair_ptr"), S + 1, "pair_ptr");
  SEXP tile_row = list_element(counts, "tile_row"), tile_pair = list_element(counts, "tile_pair");
  SEXP pair_value = list_element(counts, "pair_value");
  const std::size_t nnz = layout.tile_ptr[cells];
  const bool narrow = TYPEOF(tile_pair) == RAWSXP;
  if (TYPEOF(tile_row) != RAWSXP || (!narrow && TYPEOF(tile_pair) != INTSXP) ||
      TYPEOF(pair_value) != REALSXP ||
      static_cast<std::size_t>(XLENGTH(tile_row)) != 2 * nnz ||
      static_cast<std::size_t>(XLENGTH(tile_pair)) != (narrow ? 2 * nnz : nnz) ||
      static_cast<std::size_t>(XLENGTH(pair_value)) != layout.pair_ptr[S] ||
      layout.pair_ptr[S] > 4294967295ULL) {
    corrupt_table("its arrays do not match");
  }
  layout.pair_value.assign(REAL(pair_value), REAL(pair_value) + XLENGTH(pair_value));
  std::vector<std::size_t> tile_count(cells);
  for (std::size_t c = 0; c < cells; ++c) tile_count[c] = layout.tile_ptr[c + 1] - layout.tile_ptr[c];
  fastdmm::finish_tile_layout(layout, std::move(tile_count), !narrow);
  if (layout.narrow_pairs != narrow) corrupt_table("a taxon has too many values for 16-bit ranks");
  check_tiles(layout, entries_of(tile_row, tile_pair));
  // Rebuilt on one thread: this happens once per worker process.
  const SharedCounts table = assemble(std::move(layout), tile_row, tile_pair, fastdmm::SerialExecutor());
  // Cached behind the object's own (empty) pointer; another pointer is left alone.
  if (ours) attach_table(pointer, table);
  return table;
}

Rcpp::List subset_table_object(const fastdmm::Counts& parent, const std::vector<std::uint32_t>& rows,
                               std::size_t tile_size, bool wide_pairs,
                               const fastdmm::Executor& executor) {
  fastdmm::CountLayout layout = fastdmm::scan_rows(parent, rows, executor, tile_size, wide_pairs);
  return build_table(layout, [&](const fastdmm::TileEntries& entries) {
    fastdmm::fill_rows(parent, rows, layout, entries, executor);
  }, executor);
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
  return build_table(layout, [&](const fastdmm::TileEntries& entries) {
    fastdmm::fill_columns(source, layout, entries, executor);
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
  return fastdmm_glue::subset_table_object(*parent, kept, fastdmm::kSampleTile, false,
                                           RcppParallelExecutor(n_threads));
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
