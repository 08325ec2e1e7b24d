// The one-pass builder of a table that arrives a block of whole taxa at a time.
#include "build_taxa.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace fastdmm {

namespace {

// Values below this are ranked through a table (ValueRanks), larger ones by bisection.
constexpr std::size_t kSmallValue = 4096;

}  // namespace

TaxonBlockBuilder::TaxonBlockBuilder(std::size_t n_samples, std::size_t n_taxa,
                                     std::size_t capacity, std::size_t tile_size)
    : n_samples_(n_samples), n_taxa_(n_taxa), capacity_(capacity) {
  if (tile_size == 0 || tile_size > 65536) throw std::invalid_argument("invalid tile size");
  layout_.n_samples = n_samples;
  layout_.n_taxa = n_taxa;
  layout_.tile_size = tile_size;
  layout_.pair_ptr.reserve(n_taxa + 1);
  layout_.pair_ptr.push_back(0);
  kept_ptr_.reserve(n_taxa + 1);
  kept_ptr_.push_back(0);
  kept_sample_.reserve(capacity);
  kept_pair_.reserve(capacity);
  tile_count_.assign(layout_.n_tiles() * n_taxa, 0);
}

void TaxonBlockBuilder::add_block(const ColumnSource& block, std::size_t first_taxon,
                                  const Executor& executor) {
  if (stage_ != Stage::adding) throw std::logic_error("taxon blocks given after the last one");
  if (block.kind != ColumnSource::Kind::compressed) {
    throw std::invalid_argument("a block of taxa must be compressed by taxon");
  }
  if (block.n_rows != n_samples_) {
    throw std::invalid_argument("a block of taxa has " + std::to_string(block.n_rows) +
                                " samples where the table has " + std::to_string(n_samples_));
  }
  if (first_taxon != next_taxon_ || block.n_cols > n_taxa_ - next_taxon_) {
    throw std::invalid_argument("blocks must cover the taxa in order, each once (block at "
                                "taxon " + std::to_string(first_taxon + 1) + ")");
  }
  // Validates every value and every row index (which must increase within each
  // column); throws, leaving the builder as it was, on indices that do not.
  const CountLayout part = scan_columns(block, executor);
  next_taxon_ += block.n_cols;
  layout_.problems.add(part.problems);
  if (layout_.problems.any()) return;  // no table: only further problems are counted

  const std::size_t entry0 = kept_ptr_.back();
  const std::size_t pair0 = layout_.pair_ptr.back();
  const std::size_t count = part.nnz();
  if (count > capacity_ - entry0) {
    throw std::invalid_argument("the taxa hold more non-zeros than the table has room for");
  }
  if (static_cast<double>(pair0) + static_cast<double>(part.pair_value.size()) > 4294967295.0) {
    throw std::invalid_argument("the table has more distinct (taxon, count) pairs than 2^32 - 1");
  }
  kept_sample_.resize(entry0 + count);
  kept_pair_.resize(entry0 + count);
  const std::size_t S = n_taxa_, tile_size = layout_.tile_size;
  // Each taxon's non-zeros in sample order, with their pairs; parallel over the
  // block's taxa, each writing only its own entries and (tile, taxon) counts.
  executor.parallel_for(block.n_cols, [&](std::size_t begin, std::size_t end) {
    ValueRanks ranks(kSmallValue);
    for (std::size_t c = begin; c < end; ++c) {
      const std::size_t j = first_taxon + c;
      const std::size_t first_pair = pair0 + part.pair_ptr[c];
      ranks.set(part.pair_value.data() + part.pair_ptr[c],
                part.pair_value.data() + part.pair_ptr[c + 1]);
      std::size_t out = entry0 + part.taxon_ptr[c];
      const std::size_t out_end = entry0 + part.taxon_ptr[c + 1];
      for (int e = block.col_start[c]; e < block.col_start[c + 1]; ++e) {
        const double value = block.real[e];
        if (value == 0.0) continue;  // a stored zero (scan_columns() counted no other kind)
        const std::size_t row = static_cast<std::size_t>(block.row_index[e]);
        const std::uint32_t pair = static_cast<std::uint32_t>(first_pair + ranks.rank(value));
        if (out >= out_end) throw std::logic_error("a taxon block changed while it was read");
        kept_sample_[out] = static_cast<std::uint32_t>(row);
        kept_pair_[out] = pair;
        ++out;
        ++tile_count_[(row / tile_size) * S + j];
      }
      if (out != out_end) throw std::logic_error("a taxon block changed while it was read");
    }
  });
  for (std::size_t c = 1; c < part.pair_ptr.size(); ++c) {
    layout_.pair_ptr.push_back(pair0 + part.pair_ptr[c]);
    kept_ptr_.push_back(entry0 + part.taxon_ptr[c]);
  }
  layout_.pair_value.insert(layout_.pair_value.end(), part.pair_value.begin(),
                            part.pair_value.end());
}

const CountLayout& TaxonBlockBuilder::finish_layout(bool wide_pairs) {
  if (stage_ != Stage::adding) throw std::logic_error("a taxon block builder laid out twice");
  if (next_taxon_ != n_taxa_) {
    throw std::invalid_argument("the blocks cover " + std::to_string(next_taxon_) + " of " +
                                std::to_string(n_taxa_) + " taxa");
  }
  stage_ = Stage::laid_out;
  if (layout_.problems.any()) return layout_;
  finish_tile_layout(layout_, std::move(tile_count_), wide_pairs);
  tile_count_ = std::vector<std::size_t>();
  return layout_;
}

void TaxonBlockBuilder::fill(const TileEntries& entries, const Executor& executor) {
  if (stage_ != Stage::laid_out || layout_.problems.any()) {
    throw std::logic_error("a taxon block builder filled out of turn");
  }
  const std::size_t S = n_taxa_, tile_size = layout_.tile_size;
  // Taxon j owns its (tile, j) ranges of the tile view: parallel over taxa, each
  // writing its samples in increasing order, then every range sorted by pair.
  executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
    std::vector<std::size_t> cursor;
    for (std::size_t j = begin; j < end; ++j) {
      cursor.clear();
      for (std::size_t t = 0; t < layout_.n_tiles(); ++t) cursor.push_back(layout_.tile_ptr[t * S + j]);
      const std::size_t first_pair = layout_.pair_ptr[j];
      for (std::size_t e = kept_ptr_[j]; e < kept_ptr_[j + 1]; ++e) {
        const std::size_t sample = kept_sample_[e];
        const std::size_t at = cursor[sample / tile_size]++;
        entries.row[at] = static_cast<std::uint16_t>(sample % tile_size);
        if (layout_.narrow_pairs) {
          entries.rank[at] = static_cast<std::uint16_t>(kept_pair_[e] - first_pair);
        } else {
          entries.pair[at] = kept_pair_[e];
        }
      }
    }
  });
  kept_sample_ = std::vector<std::uint32_t>();
  kept_pair_ = std::vector<std::uint32_t>();
  sort_tile_entries(layout_, entries, executor);
  stage_ = Stage::filled;
}

}  // namespace fastdmm
