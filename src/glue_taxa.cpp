// Rcpp glue for building a count table from blocks of whole taxa that R reads one at a time (a BIOM file's observation-wise copy).
#include "glue.h"
#include "glue_args.h"

#include <cstdint>

#include "core/build_taxa.h"

namespace {

using TaxonPointer = Rcpp::XPtr<fastdmm::TaxonBlockBuilder>;

fastdmm::TaxonBlockBuilder& taxon_builder_of(SEXP pointer) {
  if (TYPEOF(pointer) != EXTPTRSXP || R_ExternalPtrAddr(pointer) == nullptr) {
    fastdmm_glue::refuse_object("internal error: not a taxon block builder");
  }
  fastdmm::TaxonBlockBuilder& builder = *TaxonPointer(pointer);
  if (builder.finished()) {
    fastdmm_glue::refuse_object("internal error: the taxon block builder has finished");
  }
  return builder;
}

// A block of taxa, a samples x taxa dgCMatrix, as the core reads it (a view of
// its slots).
fastdmm::ColumnSource block_source(SEXP block) {
  fastdmm::CompressedColumns unused;
  fastdmm::ColumnSource source;
  if (!(Rf_isS4(block) && Rf_inherits(block, "dgCMatrix")) ||
      !fastdmm_glue::column_source(block, true, unused, source)) {
    fastdmm_glue::refuse("block", "must be a dgCMatrix");
  }
  return source;
}

}  // namespace

// A builder for a table of n_samples x n_taxa with room for `capacity` entries, whose
// blocks of taxa follow.
// [[Rcpp::export(.taxon_builder)]]
SEXP taxon_builder(SEXP n_samples, SEXP n_taxa, SEXP capacity) {
  using namespace fastdmm_glue;
  const std::size_t samples = read_whole(n_samples, "n_samples", 4294967295.0);
  const std::size_t taxa = read_whole(n_taxa, "n_taxa", 4294967295.0);
  // R's long vectors hold at most 2^52 elements.
  const std::size_t room = read_whole(capacity, "capacity", 4503599627370496.0);
  return TaxonPointer(new fastdmm::TaxonBlockBuilder(samples, taxa, room), true);
}

// One block: the samples x taxa dgCMatrix of taxa first_taxon + 1, ... in R's
// numbering, all samples.
// [[Rcpp::export(.add_taxa)]]
void add_taxa(SEXP builder, SEXP block, SEXP first_taxon, SEXP threads) {
  using namespace fastdmm_glue;
  fastdmm::TaxonBlockBuilder& build = taxon_builder_of(builder);
  const std::size_t first = read_whole(first_taxon, "first_taxon", 4294967295.0);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  build.add_block(block_source(block), first, executor);
}

// Whether a block (a dgCMatrix, as .add_taxa() takes) lists each taxon's samples
// in increasing order, every one a sample: .add_taxa() refuses a block that does not.
// [[Rcpp::export(.taxa_in_order)]]
bool taxa_in_order(SEXP block) {
  return fastdmm::rows_in_order(block_source(block));
}

// Ends the table: `problems` (cells per kind) when it has bad values, otherwise what
// .build_counts() returns for the whole table.
// [[Rcpp::export(.finish_taxa)]]
Rcpp::List finish_taxa(SEXP builder, SEXP threads) {
  using namespace fastdmm_glue;
  fastdmm::TaxonBlockBuilder& build = taxon_builder_of(builder);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  fastdmm::CountLayout layout = build.finish_layout();
  if (layout.problems.any()) return problems_result(layout.problems);
  // Allocated, not initialised: fill() writes every element.
  Rcpp::RObject tile_row(new_raw_vector(2 * layout.nnz()));
  Rcpp::RObject tile_pair(new_pair_vector(layout.nnz(), layout.narrow_pairs));
  build.fill(entries_of(tile_row, tile_pair), executor);
  return finish_table(layout, tile_row, tile_pair, executor);
}
