// The count table as the kernels see it: non-zeros by taxon and by tile of samples, distinct values, depths.
#ifndef FASTDMM_COUNTS_H
#define FASTDMM_COUNTS_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory.h"
#include "parallel.h"

namespace fastdmm {

// A read-only array of indices that owns its elements or views memory kept alive by
// `owner` (for instance the R vectors the table was built into), so that the table is
// never held twice.
class IndexArray {
 public:
  IndexArray() = default;
  explicit IndexArray(std::vector<std::uint32_t> owned) {
    auto storage = std::make_shared<const std::vector<std::uint32_t>>(std::move(owned));
    data_ = storage->data();
    size_ = storage->size();
    owner_ = std::move(storage);
  }
  IndexArray(const std::uint32_t* data, std::size_t size, std::shared_ptr<const void> owner)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::uint32_t operator[](std::size_t e) const { return data_[e]; }
  const std::uint32_t* data() const { return data_; }
  const std::uint32_t* begin() const { return data_; }
  const std::uint32_t* end() const { return data_ + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::shared_ptr<const void> owner_;
  const std::uint32_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// An owned array whose elements are left uninitialised when it is allocated (every
// one is written before it is read), which spares large index arrays a pass of
// zeroing, in large pages where the system has them.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : data_(n > 0 ? new T[n] : nullptr), size_(n) {
    prefer_huge_pages(data_.get(), n * sizeof(T));
  }
  T& operator[](std::size_t e) { return data_[e]; }
  const T& operator[](std::size_t e) const { return data_[e]; }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<T[]> data_;
  std::size_t size_ = 0;
};

// Samples per tile of the tile view (see Counts): a tile's per-sample rows of k
// doubles stay in a core's L2 cache (and its row numbers fit 16 bits).
constexpr std::size_t kSampleTile = 16384;

// The count table. Only non-zero counts are stored (DESIGN.md section 2), each as
// indices only: its sample (or taxon) and its "pair", the index of its (taxon, count
// value) among the distinct values of that taxon. The count itself is
// pair_value[pair], and per-component tables over pairs replace work per cell.
struct Counts {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;

  // By taxon (compressed columns): taxon j owns entries col_ptr[j] .. col_ptr[j + 1],
  // in increasing sample order.
  std::vector<std::size_t> col_ptr;
  IndexArray col_sample;
  IndexArray col_pair;

  // Distinct non-zero values of taxon j: pair_value[pair_ptr[j] .. pair_ptr[j + 1]],
  // increasing.
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value;

  // Sample depths J_i, their distinct values (increasing) and each sample's index
  // into them.
  std::vector<double> depth;
  std::vector<double> depth_value;
  std::vector<std::uint32_t> sample_depth;

  // lgamma(J_i + 1) - sum_j lgamma(x_ij + 1): the multinomial coefficient m_i.
  std::vector<double> log_multinomial;

  // The tile view (DESIGN.md section 7): every non-zero once more, tile by tile (a
  // tile is kSampleTile consecutive samples), within a tile taxon by taxon, and
  // within a taxon by pair, then sample. Taxon j's entries in tile t are
  // tile_ptr[t * S + j] .. tile_ptr[t * S + j + 1]; entry e is sample
  // t * kSampleTile + tile_row[e] with pair pair_ptr[j] + tile_rank[e] (the pair's
  // rank among its taxon's, 16-bit) when every taxon has at most 65,536 distinct
  // values, else tile_pair[e] (32-bit); the other array is empty. Kernels that walk a tile
  // keep its per-sample rows in cache, read each pair's values once per run of
  // equal pairs, and still add every sample's non-zeros in increasing taxon order
  // (a sample has one entry per taxon); each pair's samples stay in increasing
  // order too. Walks over samples use it with per-sample accumulators
  // (for_each_in_tile()): there is no row view.
  std::size_t tile_size = kSampleTile;
  std::vector<std::size_t> tile_ptr;
  Buffer<std::uint16_t> tile_row;
  Buffer<std::uint16_t> tile_rank;
  Buffer<std::uint32_t> tile_pair;
  bool narrow_pairs = true;  // tile_rank holds the pairs (else tile_pair)

  // The count of a non-zero, by its position in the column view.
  double col_count(std::size_t e) const { return pair_value[col_pair[e]]; }

  std::size_t nnz() const { return col_pair.size(); }
  std::size_t n_tiles() const { return (n_samples + tile_size - 1) / tile_size; }
  std::size_t n_pairs() const { return pair_value.size(); }
  std::size_t n_depths() const { return depth_value.size(); }
};

// Calls walk(pairs, base), where the pair of tile entry e of taxon j is
// base[j] + pairs[e]: narrow, pairs is tile_rank and base pair_ptr; wide, pairs
// is tile_pair and base all zeros. Kernels compile once per width.
struct WidePairBase {
  std::size_t operator[](std::size_t) const { return 0; }
};

template <class Walk>
decltype(auto) with_tile_pairs(const Counts& counts, Walk&& walk) {
  if (counts.narrow_pairs) return walk(counts.tile_rank.data(), counts.pair_ptr.data());
  return walk(counts.tile_pair.data(), WidePairBase());
}

// Calls visit(row, taxon, pair) for every non-zero of tile t in the tile view's
// order (row: the sample's index within the tile). A sample's non-zeros come in
// increasing taxon order, so sums over a sample's taxa accumulated per row run
// in the order a walk along the sample would take.
template <class Pairs, class Base, class Visit>
void for_each_in_tile(const Counts& counts, std::size_t t, const Pairs* pairs, const Base& base,
                      Visit&& visit) {
  const std::size_t S = counts.n_taxa;
  const std::size_t* tile_ptr = &counts.tile_ptr[t * S];
  const std::uint16_t* tile_row = counts.tile_row.data();
  for (std::size_t j = 0; j < S; ++j) {
    const std::size_t first_pair = base[j];
    for (std::size_t e = tile_ptr[j]; e < tile_ptr[j + 1]; ++e) {
      visit(static_cast<std::size_t>(tile_row[e]), j,
            static_cast<std::uint32_t>(first_pair + pairs[e]));
    }
  }
}

template <class Visit>
void for_each_in_tile(const Counts& counts, std::size_t t, Visit&& visit) {
  with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
    for_each_in_tile(counts, t, pairs, base, visit);
  });
}

// Completes a table from its compressed columns: col_ptr (n_taxa + 1 offsets),
// col_sample (increasing within each column), col_pair (indices into pair_value,
// which holds each taxon's distinct values in increasing order between pair_ptr
// offsets). Derives the tile view, depths and multinomial coefficients; the result
// is the same for any executor. `wide_pairs` stores 32-bit pairs in the tile view
// even where 16-bit ranks would do (for tests: results never depend on it).
Counts assemble_counts(std::size_t n_samples, std::vector<std::size_t> col_ptr,
                       IndexArray col_sample, IndexArray col_pair,
                       std::vector<std::size_t> pair_ptr, std::vector<double> pair_value,
                       const Executor& executor, std::size_t tile_size = kSampleTile,
                       bool wide_pairs = false);

// Bounds of blocks of consecutive taxa with about equal numbers of non-zeros, at
// least two per thread: taxa j in [bounds[b], bounds[b + 1]) form block b. Kernels
// that sum per taxon in parallel split the work by these (results do not depend
// on the split).
std::vector<std::size_t> taxon_blocks(const Counts& counts, int threads);

// The complete table of the samples `rows` (increasing, 0-based) of a built table,
// owning its arrays: what building those rows from scratch gives (the row passes
// of build_counts.h).
Counts subset_table(const Counts& counts, const std::vector<std::uint32_t>& rows,
                    const Executor& executor);

}  // namespace fastdmm

#endif
