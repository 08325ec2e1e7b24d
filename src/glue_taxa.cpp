// Rcpp glue for building a count table from blocks of whole taxa that R reads one at a time (a BIOM file's observation-wise copy).
#include "glue.h"
#include "glue_args.h"

#include <algorithm>
#include <cstdint>

#include "core/build_taxa.h"

namespace {

// A table being built: the core's builder and the R vectors it fills (and that the
// finished table then views).
struct TaxonBuild {
  TaxonBuild(std::size_t n_samples, std::size_t n_taxa, std::size_t capacity)
      : builder(n_samples, n_taxa, capacity),
        col_sample(Rf_allocVector(INTSXP, static_cast<R_xlen_t>(capacity))),
        col_pair(Rf_allocVector(INTSXP, static_cast<R_xlen_t>(capacity))) {}
  fastdmm::TaxonBlockBuilder builder;
  // Allocated, not initialised: every entry up to the table's non-zeros is written.
  Rcpp::IntegerVector col_sample;
  Rcpp::IntegerVector col_pair;
};

using TaxonPointer = Rcpp::XPtr<TaxonBuild>;

TaxonBuild& taxon_build_of(SEXP pointer) {
  if (TYPEOF(pointer) != EXTPTRSXP || R_ExternalPtrAddr(pointer) == nullptr) {
    fastdmm_glue::refuse_object("internal error: not a taxon block builder");
  }
  TaxonBuild& build = *TaxonPointer(pointer);
  if (build.builder.finished()) {
    fastdmm_glue::refuse_object("internal error: the taxon block builder has finished");
  }
  return build;
}

// The first n elements of an integer vector (itself when it has n).
Rcpp::IntegerVector first_entries(const Rcpp::IntegerVector& x, std::size_t n) {
  if (static_cast<std::size_t>(x.size()) == n) return x;
  Rcpp::IntegerVector out(Rf_allocVector(INTSXP, static_cast<R_xlen_t>(n)));
  std::copy(x.begin(), x.begin() + static_cast<R_xlen_t>(n), out.begin());
  return out;
}

}  // namespace

// A builder for a table of n_samples x n_taxa with room for `capacity` non-zeros, whose
// blocks of taxa follow.
// [[Rcpp::export(.taxon_builder)]]
SEXP taxon_builder(SEXP n_samples, SEXP n_taxa, SEXP capacity) {
  using namespace fastdmm_glue;
  const std::size_t samples = read_whole(n_samples, "n_samples", 4294967295.0);
  const std::size_t taxa = read_whole(n_taxa, "n_taxa", 4294967295.0);
  // R's long vectors hold at most 2^52 elements; the table's indices are 32-bit per
  // entry, its offsets 64-bit.
  const std::size_t room = read_whole(capacity, "capacity", 4503599627370496.0);
  return TaxonPointer(new TaxonBuild(samples, taxa, room), true);
}

// One block: the samples x taxa dgCMatrix (or matrix) of taxa first_taxon + 1, ... in
// R's numbering, all samples.
// [[Rcpp::export(.add_taxa)]]
void add_taxa(SEXP builder, SEXP block, SEXP first_taxon, SEXP threads) {
  using namespace fastdmm_glue;
  TaxonBuild& build = taxon_build_of(builder);
  const std::size_t first = read_whole(first_taxon, "first_taxon", 4294967295.0);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  fastdmm::CompressedColumns unused;
  fastdmm::ColumnSource source;
  if (!column_source(block, true, unused, source)) {
    refuse("block", "must be a double or integer matrix or a dgCMatrix");
  }
  build.builder.add_block(source, first,
                          reinterpret_cast<std::uint32_t*>(INTEGER(build.col_sample)),
                          reinterpret_cast<std::uint32_t*>(INTEGER(build.col_pair)), executor);
}

// Ends the table: `problems` (cells per kind) when it has bad values, otherwise what
// .build_counts() returns for the whole table.
// [[Rcpp::export(.finish_taxa)]]
Rcpp::List finish_taxa(SEXP builder, SEXP threads) {
  using namespace fastdmm_glue;
  TaxonBuild& build = taxon_build_of(builder);
  const int n_threads = read_int(threads, "threads", 1, kIntMax);
  fastdmm::CountLayout layout = build.builder.finish();
  Rcpp::IntegerVector col_sample = build.col_sample, col_pair = build.col_pair;
  build.col_sample = Rcpp::IntegerVector();
  build.col_pair = Rcpp::IntegerVector();
  if (layout.problems.any()) return problems_result(layout.problems);
  // Stored zeros are not entries: the vectors keep only the table's non-zeros.
  const std::size_t nnz = layout.nnz();
  col_sample = first_entries(col_sample, nnz);
  col_pair = first_entries(col_pair, nnz);
  return finish_table(layout, col_sample, col_pair, RcppParallelExecutor(n_threads));
}
