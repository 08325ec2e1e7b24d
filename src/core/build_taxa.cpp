// The one-pass builder of a table that arrives a block of whole taxa at a time.
#include "build_taxa.h"

#include <stdexcept>
#include <string>

namespace fastdmm {

TaxonBlockBuilder::TaxonBlockBuilder(std::size_t n_samples, std::size_t n_taxa,
                                     std::size_t capacity)
    : n_samples_(n_samples), n_taxa_(n_taxa), capacity_(capacity) {
  layout_.n_samples = n_samples;
  layout_.col_ptr.reserve(n_taxa + 1);
  layout_.pair_ptr.reserve(n_taxa + 1);
  layout_.col_ptr.push_back(0);
  layout_.pair_ptr.push_back(0);
}

void TaxonBlockBuilder::add_block(const ColumnSource& block, std::size_t first_taxon,
                                  std::uint32_t* col_sample, std::uint32_t* col_pair,
                                  const Executor& executor) {
  if (finished_) throw std::logic_error("taxon blocks given after the table was finished");
  if (block.n_rows != n_samples_) {
    throw std::invalid_argument("a block of taxa has " + std::to_string(block.n_rows) +
                                " samples where the table has " + std::to_string(n_samples_));
  }
  if (first_taxon != next_taxon_ || block.n_cols > n_taxa_ - next_taxon_) {
    throw std::invalid_argument("blocks must cover the taxa in order, each once (block at "
                                "taxon " + std::to_string(first_taxon + 1) + ")");
  }
  const CountLayout part = scan_columns(block, executor);
  next_taxon_ += block.n_cols;
  ValueProblems& problems = layout_.problems;
  problems.missing += part.problems.missing;
  problems.infinite += part.problems.infinite;
  problems.negative += part.problems.negative;
  problems.fractional += part.problems.fractional;
  problems.huge += part.problems.huge;
  if (problems.any()) return;  // the layout is incomplete: only count further problems

  const std::size_t entry0 = layout_.col_ptr.back();
  const std::size_t pair0 = layout_.pair_ptr.back();
  if (part.nnz() > capacity_ - entry0) {
    throw std::invalid_argument("the taxa hold more non-zeros than the table has room for");
  }
  if (static_cast<double>(pair0) + static_cast<double>(part.pair_value.size()) > 4294967295.0) {
    throw std::invalid_argument("the table has more distinct (taxon, count) pairs than 2^32 - 1");
  }
  fill_columns(block, part, col_sample + entry0, col_pair + entry0, executor);
  // The block's pairs are numbered from its first taxon's: shifted to the table's.
  const std::size_t count = part.nnz();
  if (pair0 > 0) {
    std::uint32_t* pairs = col_pair + entry0;
    executor.parallel_for(count, [&](std::size_t begin, std::size_t end) {
      for (std::size_t e = begin; e < end; ++e) pairs[e] += static_cast<std::uint32_t>(pair0);
    });
  }
  for (std::size_t j = 1; j < part.col_ptr.size(); ++j) {
    layout_.col_ptr.push_back(entry0 + part.col_ptr[j]);
    layout_.pair_ptr.push_back(pair0 + part.pair_ptr[j]);
  }
  layout_.pair_value.insert(layout_.pair_value.end(), part.pair_value.begin(),
                            part.pair_value.end());
}

const CountLayout& TaxonBlockBuilder::finish() {
  if (finished_) throw std::logic_error("a taxon block builder finished twice");
  if (next_taxon_ != n_taxa_) {
    throw std::invalid_argument("the blocks cover " + std::to_string(next_taxon_) + " of " +
                                std::to_string(n_taxa_) + " taxa");
  }
  finished_ = true;
  return layout_;
}

}  // namespace fastdmm
