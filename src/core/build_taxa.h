// The table's builder for input that arrives a block of whole taxa at a time (a BIOM file's observation-wise copy): one pass.
#ifndef FASTDMM_BUILD_TAXA_H
#define FASTDMM_BUILD_TAXA_H

#include <cstddef>
#include <cstdint>

#include "build_counts.h"
#include "parallel.h"

namespace fastdmm {

// Builds a table whose non-zeros arrive compressed by taxon, a block of consecutive
// whole taxa at a time (all samples of taxa first_taxon, first_taxon + 1, ...), in one
// pass: a taxon's distinct values are all in its block, so each block is scanned and
// filled at once (scan_columns() and fill_columns() on the block) and appended. In
// memory: the index arrays being filled, the layout, and the block in hand.
//   add_block() for every block in taxon order; finish() (the layout, or the problems).
// The result is exactly what scan_columns() and fill_columns() give for the whole
// table. col_sample and col_pair (room for `capacity` entries each, owned by the
// caller and the same on every call) receive the entries; the table's non-zeros
// may be fewer than the capacity (stored zeros are not entries). After a block with
// bad values, later blocks are only scanned, so that every problem is counted.
class TaxonBlockBuilder {
 public:
  TaxonBlockBuilder(std::size_t n_samples, std::size_t n_taxa, std::size_t capacity);

  void add_block(const ColumnSource& block, std::size_t first_taxon, std::uint32_t* col_sample,
                 std::uint32_t* col_pair, const Executor& executor);
  const CountLayout& finish();

  std::size_t n_samples() const { return n_samples_; }
  std::size_t n_taxa() const { return n_taxa_; }
  std::size_t capacity() const { return capacity_; }
  bool finished() const { return finished_; }

 private:
  std::size_t n_samples_;
  std::size_t n_taxa_;
  std::size_t capacity_;
  std::size_t next_taxon_ = 0;
  bool finished_ = false;
  CountLayout layout_;
};

}  // namespace fastdmm

#endif
