// Rcpp glue for building a count table from blocks of samples that R reads one at a time (DelayedArray input).
#include "glue.h"
#include "glue_args.h"

#include <cstdint>
#include <string>

#include "core/build_counts.h"

namespace {

// A table being built: the core's builder and, once pass 1 has fixed the layout, the R
// vectors of its entries that pass 2 fills (and that the finished table then views).
struct BlockBuild {
  BlockBuild(std::size_t n_samples, std::size_t n_taxa) : builder(n_samples, n_taxa) {}
  fastdmm::BlockCountBuilder builder;
  Rcpp::RObject tile_row;
  Rcpp::RObject tile_pair;
  bool finished = false;
};

using BuildPointer = Rcpp::XPtr<BlockBuild>;

BlockBuild& build_of(SEXP pointer) {
  if (TYPEOF(pointer) != EXTPTRSXP || R_ExternalPtrAddr(pointer) == nullptr) {
    fastdmm_glue::refuse_object("internal error: not a block builder");
  }
  BlockBuild& build = *BuildPointer(pointer);
  if (build.finished) fastdmm_glue::refuse_object("internal error: the block builder has finished");
  return build;
}

// The block as the core reads it; storage holds a sparse block re-compressed by taxon.
fastdmm::ColumnSource block_source(SEXP block, bool samples_in_rows,
                                   fastdmm::CompressedColumns& storage) {
  fastdmm::ColumnSource source;
  if (!fastdmm_glue::column_source(block, samples_in_rows, storage, source)) {
    fastdmm_glue::refuse("block", "must be a double or integer matrix or a dgCMatrix");
  }
  return source;
}

}  // namespace

// A builder for a table of n_samples x n_taxa whose blocks of samples follow.
// [[Rcpp::export(.block_builder)]]
SEXP block_builder(SEXP n_samples, SEXP n_taxa) {
  using namespace fastdmm_glue;
  const std::size_t samples = read_whole(n_samples, "n_samples", 4294967295.0);
  const std::size_t taxa = read_whole(n_taxa, "n_taxa", 4294967295.0);
  return BuildPointer(new BlockBuild(samples, taxa), true);
}

// Pass 1 over one block (samples first_sample + 1, ... in R's numbering; samples in
// the rows of `block` or in its columns).
// [[Rcpp::export(.scan_block)]]
void scan_block(SEXP builder, SEXP block, SEXP first_sample, SEXP samples_in_rows, SEXP threads) {
  using namespace fastdmm_glue;
  BlockBuild& build = build_of(builder);
  const std::size_t first = read_whole(first_sample, "first_sample", 4294967295.0);
  const bool by_rows = read_flag(samples_in_rows, "samples_in_rows");
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  fastdmm::CompressedColumns storage;
  const fastdmm::ColumnSource source = block_source(block, by_rows, storage);
  build.builder.scan_block(source, first, executor);
}

// Ends pass 1: `problems` (cells per kind) when the table has bad values, otherwise
// NULL, and the index vectors of pass 2 are allocated.
// [[Rcpp::export(.finish_scan)]]
SEXP finish_scan(SEXP builder) {
  BlockBuild& build = build_of(builder);
  const fastdmm::CountLayout& layout = build.builder.finish_scan();
  if (layout.problems.any()) {
    return fastdmm_glue::problems_result(layout.problems)["problems"];
  }
  // Allocated, not initialised: pass 2 writes every element.
  build.tile_row = fastdmm_glue::new_raw_vector(2 * layout.nnz());
  build.tile_pair = fastdmm_glue::new_pair_vector(layout.nnz(), layout.narrow_pairs);
  return R_NilValue;
}

// Pass 2 over the same block.
// [[Rcpp::export(.fill_block)]]
void fill_block(SEXP builder, SEXP block, SEXP first_sample, SEXP samples_in_rows, SEXP threads) {
  using namespace fastdmm_glue;
  BlockBuild& build = build_of(builder);
  const std::size_t first = read_whole(first_sample, "first_sample", 4294967295.0);
  const bool by_rows = read_flag(samples_in_rows, "samples_in_rows");
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  fastdmm::CompressedColumns storage;
  const fastdmm::ColumnSource source = block_source(block, by_rows, storage);
  build.builder.fill_block(source, first, entries_of(build.tile_row, build.tile_pair), executor);
}

// Ends pass 2 and returns what .build_counts() returns for the whole table.
// [[Rcpp::export(.finish_blocks)]]
Rcpp::List finish_blocks(SEXP builder, SEXP threads) {
  using namespace fastdmm_glue;
  BlockBuild& build = build_of(builder);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  build.builder.finish_fill(entries_of(build.tile_row, build.tile_pair), executor);
  build.finished = true;
  fastdmm::CountLayout layout = build.builder.layout();
  Rcpp::RObject tile_row = build.tile_row, tile_pair = build.tile_pair;
  build.tile_row = Rcpp::RObject();
  build.tile_pair = Rcpp::RObject();
  return finish_table(layout, tile_row, tile_pair, executor);
}
