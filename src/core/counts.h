// The count table as the kernels see it: the non-zeros once, tile by tile of samples and taxon by taxon; distinct values, depths.
#ifndef FASTDMM_COUNTS_H
#define FASTDMM_COUNTS_H

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory.h"
#include "parallel.h"

namespace fastdmm {

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

// A read-only array that owns its elements or views memory kept alive by `owner`
// (for instance the R vectors the table was built into), so that the table is
// never held twice.
template <class T>
class SharedArray {
 public:
  SharedArray() = default;
  explicit SharedArray(Buffer<T> owned) {
    auto storage = std::make_shared<const Buffer<T>>(std::move(owned));
    data_ = storage->data();
    size_ = storage->size();
    owner_ = std::move(storage);
  }
  SharedArray(const T* data, std::size_t size, std::shared_ptr<const void> owner)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  T operator[](std::size_t e) const { return data_[e]; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::shared_ptr<const void> owner_;
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Samples per tile (see Counts): a tile's per-sample rows of k doubles stay in a
// core's L2 cache (and its row numbers fit 16 bits).
constexpr std::size_t kSampleTile = 16384;

// The count table. Only non-zero counts are stored (DESIGN.md section 2), each once,
// as indices only: its sample's row in its tile and its "pair", the index of its
// (taxon, count value) among the distinct values of that taxon. The count itself is
// pair_value[pair], and per-component tables over pairs replace work per cell.
struct Counts {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;

  // Distinct non-zero values of taxon j: pair_value[pair_ptr[j] .. pair_ptr[j + 1]],
  // increasing.
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value;
  // value_class[j]: the first taxon whose list of distinct values is taxon j's
  // (j itself when none before it has that list). On wide tables most taxa
  // are rare and few lists occur (soilrep: 276 among 16,825 taxa), and a
  // component's per-pair tables of two such taxa are equal wherever their
  // lambdas are (evidence.cpp). Made by assemble_counts().
  std::vector<std::uint32_t> value_class;

  // Sample depths J_i, their distinct values (increasing) and each sample's index
  // into them.
  std::vector<double> depth;
  std::vector<double> depth_value;
  std::vector<std::uint32_t> sample_depth;

  // lgamma(J_i + 1) - sum_j lgamma(x_ij + 1): the multinomial coefficient m_i.
  std::vector<double> log_multinomial;

  // The one layout of the non-zeros (DESIGN.md section 7): tile by tile (a tile is
  // tile_size consecutive samples), within a tile taxon by taxon, and within a
  // taxon by pair, then sample. Taxon j's entries in tile t are
  // tile_ptr[t * S + j] .. tile_ptr[t * S + j + 1]; entry e is sample
  // t * tile_size + tile_row[e] with pair pair_ptr[j] + tile_rank[e] (the pair's
  // rank among its taxon's, 16-bit) when every taxon has at most 65,536 distinct
  // values, else tile_pair[e] (32-bit); the other array is empty: 4 bytes per
  // non-zero, 6 with 32-bit pairs. Kernels that walk a tile keep its per-sample
  // rows in cache, read each pair's values once per run of equal pairs, and still
  // add every sample's non-zeros in increasing taxon order (a sample has one entry
  // per taxon); each pair's samples stay in increasing order too. Walks over
  // samples use it with per-sample accumulators (for_each_in_tile()), per-pair
  // sums tile after tile, and per-taxon sums in sample order a tile's entries as
  // columns (TileColumns). The table holds no row view and no column view; a
  // search that moves samples makes a row view of its own (SampleRows).
  std::size_t tile_size = kSampleTile;
  std::vector<std::size_t> tile_ptr;
  SharedArray<std::uint16_t> tile_row;
  SharedArray<std::uint16_t> tile_rank;
  SharedArray<std::uint32_t> tile_pair;
  bool narrow_pairs = true;  // tile_rank holds the pairs (else tile_pair)

  // Taxon j has taxon_ptr[j + 1] - taxon_ptr[j] non-zeros (its offsets, were the
  // non-zeros listed taxon by taxon), for splitting work by taxa.
  std::vector<std::size_t> taxon_ptr;

  std::size_t nnz() const { return tile_row.size(); }
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

// Scratch for walking the entries of a range of taxa in one tile as columns: each
// taxon's entries in increasing row (sample) order, which the tile view keeps by
// pair. Each taxon's entries of the tile are put in row order through a bitmap of
// the tile's rows (each entry's pair put at its row, the row marked, then the
// marked rows read in order: O(entries + tile size / 64), no comparisons) into a
// column buffer of at most about kChunkEntries entries (taxa are taken in chunks),
// which is then walked in windows of kWindow rows, every taxon of the chunk in turn
// within a window, so that the window's per-sample data stays in cache (visit()), or
// one taxon at a time straight from the bitmap (visit_taxon()). A sum per taxon that
// adds its entries this way, tile after tile, runs in sample order, as a walk down
// the taxon's column would. One per thread.
class TileColumns {
 public:
  static constexpr std::size_t kChunkEntries = std::size_t{1} << 20;
  static constexpr std::size_t kWindow = 4096;

  explicit TileColumns(std::size_t tile_size)
      : pair_at_(tile_size), marked_((tile_size + 63) / 64, 0) {}

  // run(taxon, rows, pairs, n): n entries of the taxon, rows[m] the row in tile t
  // and pairs[m] the pair of each, rows increasing; for taxa [j0, j1) of tile t,
  // each taxon's runs in increasing row order.
  template <class Pairs, class Base, class Run>
  void visit(const Counts& counts, std::size_t t, std::size_t j0, std::size_t j1,
             const Pairs* pairs, const Base& base, Run&& run) {
    const std::size_t* tile_ptr = &counts.tile_ptr[t * counts.n_taxa];
    const std::size_t rows = std::min(counts.tile_size, counts.n_samples - t * counts.tile_size);
    for (std::size_t c0 = j0; c0 < j1;) {
      std::size_t c1 = c0 + 1;
      while (c1 < j1 && tile_ptr[c1 + 1] - tile_ptr[c0] <= kChunkEntries) ++c1;
      const std::size_t n = tile_ptr[c1] - tile_ptr[c0];
      if (n > 0) {
        if (row_.size() < n) {
          row_.resize(n);
          pair_.resize(n);
        }
        // Taxon j's entries of window w are bound_[(j - c0) * (W + 1) + w] ..
        // bound_[(j - c0) * (W + 1) + w + 1], for the W windows of the tile.
        const std::size_t n_windows = (rows + kWindow - 1) / kWindow;
        bound_.resize((c1 - c0) * (n_windows + 1));
        std::size_t out = 0;
        for (std::size_t j = c0; j < c1; ++j) {
          out = sort_taxon(counts, tile_ptr[j], tile_ptr[j + 1], pairs, base[j], rows, out,
                           &bound_[(j - c0) * (n_windows + 1)]);
        }
        for (std::size_t w = 0; w < n_windows; ++w) {
          for (std::size_t j = c0; j < c1; ++j) {
            const std::size_t* bound = &bound_[(j - c0) * (n_windows + 1) + w];
            if (bound[1] > bound[0]) run(j, &row_[bound[0]], &pair_[bound[0]], bound[1] - bound[0]);
          }
        }
      }
      c0 = c1;
    }
  }

  // visit(row, pair) for the entries of taxon j in tile t in increasing row order,
  // straight from the bitmap (no column buffer, no windows): for kernels whose
  // per-sample data of a whole tile stays in cache.
  template <class Pairs, class Base, class Visit>
  void visit_taxon(const Counts& counts, std::size_t t, std::size_t j, const Pairs* pairs,
                   const Base& base, Visit&& visit) {
    const std::size_t c = t * counts.n_taxa + j;
    const std::size_t begin = counts.tile_ptr[c], end = counts.tile_ptr[c + 1];
    if (begin == end) return;
    const std::uint16_t* tile_row = counts.tile_row.data();
    const std::size_t first_pair = base[j];
    if (pairs[begin] == pairs[end - 1]) {
      for (std::size_t e = begin; e < end; ++e) {
        visit(static_cast<std::size_t>(tile_row[e]), static_cast<std::uint32_t>(first_pair + pairs[e]));
      }
      return;
    }
    for (std::size_t e = begin; e < end; ++e) {
      const std::size_t row = tile_row[e];
      pair_at_[row] = static_cast<std::uint32_t>(first_pair + pairs[e]);
      marked_[row >> 6] |= std::uint64_t{1} << (row & 63);
    }
    const std::size_t rows = std::min(counts.tile_size, counts.n_samples - t * counts.tile_size);
    const std::size_t words = (rows + 63) / 64;
    for (std::size_t w = 0; w < words; ++w) {
      std::uint64_t bits = marked_[w];
      marked_[w] = 0;
      while (bits != 0) {
        const std::size_t row = (w << 6) + static_cast<std::size_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        visit(row, pair_at_[row]);
      }
    }
  }

 private:
  // Entries [begin, end) of one (tile, taxon) of `rows` rows into row_/pair_ from
  // `out` on, in row order; returns the place after them. bound[w] is where the
  // entries of window w start (bound[W] the end, for the W windows of the tile).
  template <class Pairs>
  std::size_t sort_taxon(const Counts& counts, std::size_t begin, std::size_t end,
                         const Pairs* pairs, std::size_t first_pair, std::size_t rows,
                         std::size_t out, std::size_t* bound) {
    const std::size_t n_windows = (rows + kWindow - 1) / kWindow;
    const std::uint16_t* tile_row = counts.tile_row.data();
    if (begin == end || pairs[begin] == pairs[end - 1]) {
      // At most one pair: its entries are in row order already.
      std::size_t w = 0;
      for (std::size_t e = begin; e < end; ++e, ++out) {
        const std::size_t row = tile_row[e];
        while (w * kWindow <= row) bound[w++] = out;
        row_[out] = static_cast<std::uint16_t>(row);
        pair_[out] = static_cast<std::uint32_t>(first_pair + pairs[e]);
      }
      while (w <= n_windows) bound[w++] = out;
      return out;
    }
    for (std::size_t e = begin; e < end; ++e) {
      const std::size_t row = tile_row[e];
      pair_at_[row] = static_cast<std::uint32_t>(first_pair + pairs[e]);
      marked_[row >> 6] |= std::uint64_t{1} << (row & 63);
    }
    const std::size_t words = (rows + 63) / 64;
    constexpr std::size_t kWindowWords = kWindow / 64;
    for (std::size_t w = 0; w < words; ++w) {
      if (w % kWindowWords == 0) bound[w / kWindowWords] = out;
      std::uint64_t bits = marked_[w];
      marked_[w] = 0;
      while (bits != 0) {
        const std::size_t row = (w << 6) + static_cast<std::size_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        row_[out] = static_cast<std::uint16_t>(row);
        pair_[out] = pair_at_[row];
        ++out;
      }
    }
    bound[n_windows] = out;
    return out;
  }

  std::vector<std::uint32_t> pair_at_;
  std::vector<std::uint64_t> marked_;
  std::vector<std::uint16_t> row_;
  std::vector<std::uint32_t> pair_;
  std::vector<std::size_t> bound_;
};

// ---- building -------------------------------------------------------------------

// The shape of a table before its entries are written: non-zeros per taxon
// (taxon_ptr) and per (tile, taxon) (tile_ptr, as in Counts), each taxon's distinct
// values (pair_ptr, pair_value) and the width of the pairs. Builders (build_counts.h)
// lay it out in a first pass and write the entries in a second.
struct TileLayout {
  std::size_t n_samples = 0;
  std::size_t n_taxa = 0;
  std::size_t tile_size = kSampleTile;
  std::vector<std::size_t> taxon_ptr;
  std::vector<std::size_t> tile_ptr;
  std::vector<std::size_t> pair_ptr;
  std::vector<double> pair_value;
  bool narrow_pairs = true;
  std::size_t nnz() const { return taxon_ptr.empty() ? 0 : taxon_ptr.back(); }
  std::size_t n_tiles() const { return (n_samples + tile_size - 1) / tile_size; }
};

// Where the second pass writes the entries: row (nnz elements) and rank (narrow)
// or pair (wide), owned by the caller.
struct TileEntries {
  std::uint16_t* row = nullptr;
  std::uint16_t* rank = nullptr;
  std::uint32_t* pair = nullptr;
};

// Offsets of the non-zeros per (tile, taxon) and per taxon from counts per
// (tile, taxon), tile_count[t * S + j] (which become the offsets in place), and
// whether every taxon's pairs fit 16-bit ranks (unless `wide_pairs`).
void finish_tile_layout(TileLayout& layout, std::vector<std::size_t> tile_count,
                        bool wide_pairs = false);

// Puts the entries of every (tile, taxon) in pair order, the samples of each pair
// keeping the order they were written in (a stable counting sort): builders write
// each (tile, taxon)'s entries so that a pair's samples increase, and this gives
// the tile view's order.
void sort_tile_entries(const TileLayout& layout, const TileEntries& entries,
                       const Executor& executor);

// Completes a table from its layout and its entries (written in the tile view's
// order into arrays that `row`, `rank` and `pair` own or view; rank or pair is
// empty as the layout's width says): depths, multinomial coefficients and the
// taxa's value classes, the same for any executor.
Counts assemble_counts(TileLayout layout, SharedArray<std::uint16_t> row,
                       SharedArray<std::uint16_t> rank, SharedArray<std::uint32_t> pair,
                       const Executor& executor);

// Each taxon's value class (Counts::value_class) from the taxa's lists of
// distinct values, pair_value[pair_ptr[j] .. pair_ptr[j + 1]].
std::vector<std::uint32_t> value_classes(const std::vector<std::size_t>& pair_ptr,
                                         const std::vector<double>& pair_value);

// Bounds of blocks of consecutive taxa with about equal numbers of non-zeros, at
// least two per thread: taxa j in [bounds[b], bounds[b + 1]) form block b. Kernels
// that sum per taxon in parallel split the work by these (results do not depend
// on the split).
std::vector<std::size_t> taxon_blocks(const Counts& counts, int threads);

// A row view of a built table: each sample's non-zeros (taxon, pair) in
// increasing taxon order, sample i's at ptr[i] .. ptr[i + 1]. The table keeps
// none (8 more bytes per non-zero); the search makes one where it moves samples
// (tables small enough for transfers, DESIGN.md section 8), so that a walk over
// some samples costs what they hold, not what the table holds. O(nnz).
struct SampleRows {
  std::vector<std::size_t> ptr;
  std::vector<std::uint32_t> taxon;
  std::vector<std::uint32_t> pair;
};
SampleRows sample_rows(const Counts& counts);

// The complete table of the samples `rows` (increasing, 0-based) of a built table,
// owning its arrays: what building those rows from scratch gives (the row passes
// of build_counts.h), in tiles of `tile_size` samples, with 32-bit pairs when
// `wide_pairs` (for tests: no result depends on either).
Counts subset_table(const Counts& counts, const std::vector<std::uint32_t>& rows,
                    const Executor& executor, std::size_t tile_size = kSampleTile,
                    bool wide_pairs = false);

}  // namespace fastdmm

#endif
