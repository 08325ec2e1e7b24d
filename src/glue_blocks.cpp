// Rcpp glue for building a count table from blocks of samples that R reads one at a time.
#include "glue.h"

#include <cstdint>
#include <string>

#include "core/build_counts.h"

namespace {

// A table being built: the core's builder and, once pass 1 has fixed the layout, the R
// vectors that pass 2 fills (and that the finished table then views).
struct BlockBuild {
  BlockBuild(std::size_t n_samples, std::size_t n_taxa) : builder(n_samples, n_taxa) {}
  fastdmm::BlockCountBuilder builder;
  Rcpp::IntegerVector col_sample;
  Rcpp::IntegerVector col_pair;
  bool finished = false;
};

using BuildPointer = Rcpp::XPtr<BlockBuild>;

BlockBuild& build_of(SEXP pointer) {
  if (TYPEOF(pointer) != EXTPTRSXP || R_ExternalPtrAddr(pointer) == nullptr) {
    Rcpp::stop("internal error: not a block builder");
  }
  BlockBuild& build = *BuildPointer(pointer);
  if (build.finished) Rcpp::stop("internal error: the block builder has finished");
  return build;
}

std::size_t whole_count(double x, const char* what) {
  if (!(x >= 0) || x != static_cast<double>(static_cast<std::size_t>(x))) {
    Rcpp::stop(std::string("internal error: bad ") + what);
  }
  return static_cast<std::size_t>(x);
}

// The block as the core reads it; storage holds a sparse block re-compressed by taxon.
fastdmm::ColumnSource block_source(SEXP block, bool samples_in_rows,
                                   fastdmm::CompressedColumns& storage) {
  fastdmm::ColumnSource source;
  if (!fastdmm_glue::column_source(block, samples_in_rows, storage, source)) {
    Rcpp::stop("internal error: a block must be a double or integer matrix or a dgCMatrix");
  }
  return source;
}

}  // namespace

// A builder for a table of n_samples x n_taxa whose blocks of samples follow.
// [[Rcpp::export(.block_builder)]]
SEXP block_builder(double n_samples, double n_taxa) {
  return BuildPointer(new BlockBuild(whole_count(n_samples, "number of samples"),
                                     whole_count(n_taxa, "number of taxa")),
                      true);
}

// Pass 1 over one block (samples first_sample + 1, ... in R's numbering; samples in
// the rows of `block` or in its columns).
// [[Rcpp::export(.scan_block)]]
void scan_block(SEXP builder, SEXP block, double first_sample, bool samples_in_rows,
                int threads) {
  BlockBuild& build = build_of(builder);
  fastdmm::CompressedColumns storage;
  const fastdmm::ColumnSource source = block_source(block, samples_in_rows, storage);
  build.builder.scan_block(source, whole_count(first_sample, "first sample"),
                           fastdmm_glue::RcppParallelExecutor(threads));
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
  const auto nnz = static_cast<R_xlen_t>(layout.nnz());
  build.col_sample = Rcpp::IntegerVector(Rf_allocVector(INTSXP, nnz));
  build.col_pair = Rcpp::IntegerVector(Rf_allocVector(INTSXP, nnz));
  return R_NilValue;
}

// Pass 2 over the same block.
// [[Rcpp::export(.fill_block)]]
void fill_block(SEXP builder, SEXP block, double first_sample, bool samples_in_rows,
                int threads) {
  BlockBuild& build = build_of(builder);
  fastdmm::CompressedColumns storage;
  const fastdmm::ColumnSource source = block_source(block, samples_in_rows, storage);
  build.builder.fill_block(source, whole_count(first_sample, "first sample"),
                           reinterpret_cast<std::uint32_t*>(INTEGER(build.col_sample)),
                           reinterpret_cast<std::uint32_t*>(INTEGER(build.col_pair)),
                           fastdmm_glue::RcppParallelExecutor(threads));
}

// Ends pass 2 and returns what .build_counts() returns for the whole table.
// [[Rcpp::export(.finish_blocks)]]
Rcpp::List finish_blocks(SEXP builder, int threads) {
  BlockBuild& build = build_of(builder);
  build.builder.finish_fill();
  build.finished = true;
  fastdmm::CountLayout layout = build.builder.layout();
  Rcpp::IntegerVector col_sample = build.col_sample, col_pair = build.col_pair;
  build.col_sample = Rcpp::IntegerVector();
  build.col_pair = Rcpp::IntegerVector();
  return fastdmm_glue::finish_table(layout, col_sample, col_pair,
                                    fastdmm_glue::RcppParallelExecutor(threads));
}
