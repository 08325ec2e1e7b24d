// The table's builder for input that arrives a block of whole taxa at a time (a BIOM file's observation-wise copy): one pass.
#ifndef FASTDMM_BUILD_TAXA_H
#define FASTDMM_BUILD_TAXA_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "build_counts.h"
#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// Builds a table whose non-zeros arrive compressed by taxon, a block of consecutive
// whole taxa at a time (all samples of taxa first_taxon, first_taxon + 1, ...), in one
// pass over the input: a taxon's distinct values are all in its block, so each block
// is validated (scan_columns()) and its non-zeros kept at once, as (sample, pair), 8
// bytes each, with the non-zeros per (tile, taxon). finish_layout() then fixes the
// tile layout and fill() writes the tile view from what was kept, which is then freed:
// the input is read once, and the peak is the tile view plus 8 bytes per non-zero.
//   add_block() for every block in taxon order (each a compressed source: rows
//   increasing within each column, as scan_columns() requires); finish_layout() (the
//   layout, or the problems); fill() into the tile view's arrays.
// The result is exactly what scan_columns() and fill_columns() give for the whole
// table. After a block with bad values, later blocks are only scanned, so that every
// problem is counted.
class TaxonBlockBuilder {
 public:
  // `capacity`: room for the input's entries (stored zeros included); the table's
  // non-zeros may be fewer.
  TaxonBlockBuilder(std::size_t n_samples, std::size_t n_taxa, std::size_t capacity,
                    std::size_t tile_size = kSampleTile);

  void add_block(const ColumnSource& block, std::size_t first_taxon, const Executor& executor);
  const CountLayout& finish_layout(bool wide_pairs = false);
  // entries: layout().nnz() elements each, owned by the caller.
  void fill(const TileEntries& entries, const Executor& executor);

  const CountLayout& layout() const { return layout_; }
  std::size_t n_samples() const { return n_samples_; }
  std::size_t n_taxa() const { return n_taxa_; }
  bool finished() const { return stage_ == Stage::filled; }

 private:
  enum class Stage { adding, laid_out, filled };
  std::size_t n_samples_;
  std::size_t n_taxa_;
  std::size_t capacity_;
  Stage stage_ = Stage::adding;
  std::size_t next_taxon_ = 0;
  CountLayout layout_;
  std::vector<std::size_t> kept_ptr_;       // the kept entries of taxon j: [j], [j + 1]
  std::vector<std::uint32_t> kept_sample_;  // by taxon, samples increasing
  std::vector<std::uint32_t> kept_pair_;    // the table's pair of each
  std::vector<std::size_t> tile_count_;     // non-zeros per (tile, taxon), t * S + j
};

}  // namespace fastdmm

#endif
