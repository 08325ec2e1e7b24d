// Hellinger k-means on square-root proportions, keyed on sample content; proportion centres of a posterior.
#include "hellinger_kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "hash.h"
#include "width.h"

namespace fastdmm {

namespace {

// A uniform draw in (0, 1) from a 64-bit key.
double unit_uniform(std::uint64_t key) {
  return (static_cast<double>(key >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

std::uint64_t draw_key(std::uint64_t seed, std::uint64_t round, std::uint64_t fingerprint) {
  return splitmix64_first(splitmix64_first(seed ^ splitmix64_first(round)) ^ fingerprint);
}

// D^2 seeding's round k: a member drawn with probability proportional to its
// squared distance D_m^2 to the nearest centre so far, as the smallest
// -log(U_m) / D_m^2 (an exponential race), U_m keyed on the member's content,
// so the draw is the same whatever the order of the samples (ties: the lower
// fingerprint). With every member on a centre already (fewer distinct samples
// than components), the draw is uniform again and a centre repeats.
std::size_t draw_member(const std::vector<std::uint32_t>& members,
                        const std::vector<std::uint64_t>& fingerprint,
                        const std::vector<double>& distance2, std::uint64_t seed, std::size_t k) {
  const std::size_t n = members.size();
  std::size_t chosen = n;
  double best = std::numeric_limits<double>::infinity();
  std::uint64_t best_fingerprint = 0;
  bool any_positive = false;
  for (std::size_t m = 0; m < n; ++m) any_positive = any_positive || distance2[m] > 0.0;
  for (std::size_t m = 0; m < n; ++m) {
    const double weight = any_positive ? distance2[m] : 1.0;
    if (!(weight > 0.0)) continue;
    const double key = -std::log(unit_uniform(draw_key(seed, k, fingerprint[members[m]]))) / weight;
    const std::uint64_t fp = fingerprint[members[m]];
    if (key < best || (key == best && fp < best_fingerprint)) {
      best = key;
      best_fingerprint = fp;
      chosen = m;
    }
  }
  return chosen;
}

// The samples of an increasing list that each tile holds: tile `tile` holds
// samples[begin .. end).
struct TileMembers {
  std::size_t tile, begin, end;
};

void check_samples(const Counts& counts, const std::vector<std::uint32_t>& samples) {
  for (std::size_t m = 0; m < samples.size(); ++m) {
    if (samples[m] >= counts.n_samples || (m > 0 && samples[m] <= samples[m - 1])) {
      throw std::invalid_argument("samples must be increasing rows of the table");
    }
  }
}

std::vector<TileMembers> members_by_tile(const Counts& counts,
                                         const std::vector<std::uint32_t>& samples) {
  check_samples(counts, samples);
  std::vector<TileMembers> tiles;
  for (std::size_t m = 0; m < samples.size();) {
    const std::size_t t = samples[m] / counts.tile_size;
    const std::size_t begin = m;
    while (m < samples.size() && samples[m] / counts.tile_size == t) ++m;
    tiles.push_back({t, begin, m});
  }
  return tiles;
}

// distance2[m] = min(distance2[m], ||u_i - c||^2) for each member i = members[m],
// with ||u_i - c||^2 = 1 + ||c||^2 - 2 u_i . c, since ||u_i||^2 = sum_j x_ij / J_i
// = 1. The dot products accumulate per row of a tile, each in taxon order.
void lower_distances(const Counts& counts, const SquareRootProportions& roots,
                     const std::vector<std::uint32_t>& members,
                     const std::vector<TileMembers>& tiles, const double* centre,
                     double centre_norm2, const Executor& executor,
                     std::vector<double>& distance2) {
  executor.parallel_for(tiles.size(), [&](std::size_t begin, std::size_t end) {
    std::vector<double> dot(counts.tile_size);
    for (std::size_t b = begin; b < end; ++b) {
      const std::size_t first = tiles[b].tile * counts.tile_size;
      std::fill(dot.begin(), dot.end(), 0.0);
      for_each_in_tile(counts, tiles[b].tile, [&](std::size_t r, std::size_t j, std::uint32_t pair) {
        dot[r] += roots.value(pair, first + r) * centre[j];
      });
      for (std::size_t m = tiles[b].begin; m < tiles[b].end; ++m) {
        // Rounding can leave a tiny negative value where the distance is zero.
        const double d = std::max(0.0, 1.0 + centre_norm2 - 2.0 * dot[members[m] - first]);
        distance2[m] = std::min(distance2[m], d);
      }
    }
  });
}

std::vector<double> squared_norms(const std::vector<double>& centres, std::size_t K,
                                  std::size_t S) {
  std::vector<double> norm2(K, 0.0);
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t j = 0; j < S; ++j) norm2[k] += centres[k * S + j] * centres[k * S + j];
  }
  return norm2;
}

// One taxon's centres c_kj (k = 0..K-1), in registers when K = W is known at
// compile time, for adding u c_kj to a sample's K dot products, two at a time.
template <std::size_t W>
class TaxonCentres {
 public:
  TaxonCentres(const double* c, std::size_t) {
    for (std::size_t h = 0; h < W / 2; ++h) pair_[h] = load2(c + 2 * h);
    if (W % 2 != 0) last_ = c[W - 1];
  }
  void add_scaled(double u, double* dot) const {
    const Double2 u2 = {u, u};
    FASTDMM_UNROLL_COMPONENTS
    for (std::size_t h = 0; h < W / 2; ++h) store2(dot + 2 * h, load2(dot + 2 * h) + u2 * pair_[h]);
    if (W % 2 != 0) dot[W - 1] += u * last_;
  }

 private:
  Double2 pair_[W / 2 > 0 ? W / 2 : 1];
  double last_ = 0.0;
};

// K known at run time only.
template <>
class TaxonCentres<0> {
 public:
  TaxonCentres(const double* c, std::size_t K) : c_(c), K_(K) {}
  void add_scaled(double u, double* dot) const {
    for (std::size_t k = 0; k < K_; ++k) dot[k] += u * c_[k];
  }

 private:
  const double* c_;
  std::size_t K_;
};

// The nearest centre, ||u_i - c_k||^2 = 1 + ||c_k||^2 - 2 u_i . c_k, from a
// sample's dot products; the lower index on ties.
std::uint32_t closest_centre(const double* dot, const std::vector<double>& norm2,
                             std::size_t k_count) {
  std::uint32_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < k_count; ++k) {
    const double d = 1.0 + norm2[k] - 2.0 * dot[k];
    if (d < best_distance) {
      best_distance = d;
      best = static_cast<std::uint32_t>(k);
    }
  }
  return best;
}

// Samples at a time in the walks along rows: a few rows are too little work
// to hand to another thread.
constexpr std::size_t kRowGrain = 64;

// Some samples' entries as rows: entry e of member m (ptr[m] <= e < ptr[m + 1])
// is (taxon[e], u[e]) in increasing taxon order. Taxa are numbered by the caller.
struct MemberRows {
  std::vector<std::size_t> ptr;
  std::vector<std::uint32_t> taxon;
  std::vector<double> u;
};

// The nearest of K = W centres (0: K at run time), laid out by_taxon[j * K + k]
// with the taxa of `rows`, to each member of `rows`: each sample's dot products
// accumulate along its row, in its taxon order, as nearest_centres() adds them.
template <std::size_t W>
void nearest_by_rows(const MemberRows& rows, const std::vector<double>& by_taxon,
                     const std::vector<double>& norm2, std::size_t K, const Executor& executor,
                     std::uint32_t* nearest) {
  const std::size_t k_count = W ? W : K;
  const std::size_t n = rows.ptr.size() - 1;
  executor.parallel_for(n, [&](std::size_t begin, std::size_t end) {
    std::vector<double> dot(k_count);
    for (std::size_t m = begin; m < end; ++m) {
      std::fill(dot.begin(), dot.end(), 0.0);
      for (std::size_t e = rows.ptr[m]; e < rows.ptr[m + 1]; ++e) {
        const TaxonCentres<W> centre(&by_taxon[rows.taxon[e] * k_count], k_count);
        centre.add_scaled(rows.u[e], dot.data());
      }
      nearest[m] = closest_centre(dot.data(), norm2, k_count);
    }
  }, kRowGrain);
}

// HellingerCentres::nearest() for K = W (0: K at run time).
template <std::size_t W>
void nearest_centres(const Counts& counts, const SquareRootProportions& roots,
                     const std::vector<double>& by_taxon, const std::vector<double>& norm2,
                     std::size_t K, const std::vector<std::uint32_t>& samples,
                     const std::vector<TileMembers>& tiles, const Executor& executor,
                     std::uint32_t* nearest) {
  const std::size_t k_count = W ? W : K;
  const std::size_t N = counts.n_samples, S = counts.n_taxa;
  executor.parallel_for(tiles.size(), [&](std::size_t begin, std::size_t end) {
    std::vector<double> dot(counts.tile_size * k_count);
    for (std::size_t b = begin; b < end; ++b) {
      const std::size_t t = tiles[b].tile;
      const std::size_t first = t * counts.tile_size, n = std::min(counts.tile_size, N - first);
      std::fill(dot.begin(), dot.begin() + static_cast<std::ptrdiff_t>(n * k_count), 0.0);
      // Each sample's dot products accumulate in its taxon order (for_each_in_tile()).
      with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
        const std::size_t* tile_ptr = &counts.tile_ptr[t * S];
        const std::uint16_t* tile_row = counts.tile_row.data();
        for (std::size_t j = 0; j < S; ++j) {
          const TaxonCentres<W> centre(&by_taxon[j * k_count], k_count);
          const std::size_t first_pair = base[j];
          for (std::size_t e = tile_ptr[j]; e < tile_ptr[j + 1]; ++e) {
            const std::size_t r = tile_row[e];
            const double u = roots.value(static_cast<std::uint32_t>(first_pair + pairs[e]), first + r);
            centre.add_scaled(u, &dot[r * k_count]);
          }
        }
      });
      for (std::size_t m = tiles[b].begin; m < tiles[b].end; ++m) {
        nearest[m] = closest_centre(&dot[(samples[m] - first) * k_count], norm2, k_count);
      }
    }
  });
}

// The rows of `samples` (increasing) from the row view of `roots`, each entry's
// taxon renumbered by local[j] (as it is when `local` is null).
MemberRows member_rows(const SquareRootProportions& roots, const std::vector<std::uint32_t>& samples,
                       const std::vector<std::uint32_t>* local) {
  const SampleRows& rows = *roots.rows();
  MemberRows out;
  out.ptr.assign(samples.size() + 1, 0);
  for (std::size_t m = 0; m < samples.size(); ++m) {
    out.ptr[m + 1] = out.ptr[m] + (rows.ptr[samples[m] + 1] - rows.ptr[samples[m]]);
  }
  out.taxon.resize(out.ptr.back());
  out.u.resize(out.ptr.back());
  for (std::size_t m = 0; m < samples.size(); ++m) {
    const std::size_t i = samples[m];
    std::size_t at = out.ptr[m];
    for (std::size_t e = rows.ptr[i]; e < rows.ptr[i + 1]; ++e, ++at) {
      out.taxon[at] = local != nullptr ? (*local)[rows.taxon[e]] : rows.taxon[e];
      out.u[at] = roots.value(rows.pair[e], i);
    }
  }
  return out;
}

// by_taxon[j * K + k] = centres[k * S + j].
std::vector<double> centres_by_taxon(const std::vector<double>& centres, std::size_t K,
                                     std::size_t S) {
  std::vector<double> by_taxon(K * S);
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t j = 0; j < S; ++j) by_taxon[j * K + k] = centres[k * S + j];
  }
  return by_taxon;
}

// hellinger_kmeans() of some samples along their rows, on the T taxa they count
// (renumbered in increasing order): O(entries K + T K) per round instead of a
// walk over the table. Every sum is the one the walk over the tiles makes, in
// the same order (a distance along the member's taxa; a centre's taxon over
// the members in sample order), and a taxon no member counts has centre 0
// either way, so the partition and the centres are the same to the last bit.
HellingerPartition kmeans_by_rows(const Counts& counts, const SquareRootProportions& roots,
                                  const std::vector<std::uint32_t>& members,
                                  const std::vector<std::uint64_t>& fingerprint, std::size_t K,
                                  std::uint64_t seed, const Executor& executor,
                                  int max_iterations, const std::function<void()>& between_rounds) {
  check_samples(counts, members);
  const std::size_t S = counts.n_taxa, n = members.size();
  const SampleRows& table_rows = *roots.rows();
  constexpr std::uint32_t kAbsent = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> local(S, kAbsent), taxon_of;
  for (std::uint32_t i : members) {
    for (std::size_t e = table_rows.ptr[i]; e < table_rows.ptr[i + 1]; ++e) local[table_rows.taxon[e]] = 0;
  }
  for (std::size_t j = 0; j < S; ++j) {
    if (local[j] == kAbsent) continue;
    local[j] = static_cast<std::uint32_t>(taxon_of.size());
    taxon_of.push_back(static_cast<std::uint32_t>(j));
  }
  const std::size_t T = taxon_of.size();
  const MemberRows rows = member_rows(roots, members, &local);

  std::vector<double> centres(K * T, 0.0);
  std::vector<double> distance2(n, 1.0);
  for (std::size_t k = 0; k < K; ++k) {
    const std::size_t chosen = draw_member(members, fingerprint, distance2, seed, k);
    double* centre = &centres[k * T];
    double norm2 = 0.0;
    for (std::size_t e = rows.ptr[chosen]; e < rows.ptr[chosen + 1]; ++e) {
      centre[rows.taxon[e]] = rows.u[e];
      norm2 += rows.u[e] * rows.u[e];
    }
    between_rounds();
    if (k + 1 == K) break;
    executor.parallel_for(n, [&](std::size_t begin, std::size_t end) {
      for (std::size_t m = begin; m < end; ++m) {
        double dot = 0.0;
        for (std::size_t e = rows.ptr[m]; e < rows.ptr[m + 1]; ++e) dot += rows.u[e] * centre[rows.taxon[e]];
        // Rounding can leave a tiny negative value where the distance is zero.
        distance2[m] = std::min(distance2[m], std::max(0.0, 1.0 + norm2 - 2.0 * dot));
      }
    }, kRowGrain);
  }

  HellingerPartition result;
  std::vector<std::uint32_t>& label = result.label;
  label.assign(n, 0);
  const auto nearest = [&](std::uint32_t* out) {
    const std::vector<double> by_taxon = centres_by_taxon(centres, K, T);
    const std::vector<double> norm2 = squared_norms(centres, K, T);
    with_width(K, [&](auto width) {
      nearest_by_rows<decltype(width)::value>(rows, by_taxon, norm2, K, executor, out);
    });
  };
  nearest(label.data());
  std::vector<double> size(K), sum(K * T);
  std::vector<std::uint32_t> next(n);
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    result.iterations = iteration;
    std::fill(size.begin(), size.end(), 0.0);
    std::fill(sum.begin(), sum.end(), 0.0);
    for (std::size_t m = 0; m < n; ++m) {
      size[label[m]] += 1.0;
      double* to = &sum[label[m] * T];
      for (std::size_t e = rows.ptr[m]; e < rows.ptr[m + 1]; ++e) to[rows.taxon[e]] += rows.u[e];
    }
    for (std::size_t k = 0; k < K; ++k) {
      // An empty cluster keeps its centre.
      if (!(size[k] > 0.0)) continue;
      for (std::size_t l = 0; l < T; ++l) centres[k * T + l] = sum[k * T + l] / size[k];
    }
    nearest(next.data());
    const bool changed = next != label;
    label.swap(next);
    between_rounds();
    if (!changed) break;
  }
  result.centres.assign(K * S, 0.0);
  for (std::size_t k = 0; k < K; ++k) {
    for (std::size_t l = 0; l < T; ++l) result.centres[k * S + taxon_of[l]] = centres[k * T + l];
  }
  return result;
}

}  // namespace

SquareRootProportions::SquareRootProportions(const Counts& counts, bool with_rows)
    : root_count_(counts.n_pairs()), inverse_root_depth_(counts.n_samples), has_rows_(with_rows) {
  for (std::size_t p = 0; p < counts.n_pairs(); ++p) root_count_[p] = std::sqrt(counts.pair_value[p]);
  for (std::size_t i = 0; i < counts.n_samples; ++i) {
    inverse_root_depth_[i] = 1.0 / std::sqrt(counts.depth[i]);
  }
  if (with_rows) rows_ = sample_rows(counts);
}

std::vector<std::uint64_t> sample_fingerprints(const Counts& counts, const Executor& executor) {
  const std::size_t N = counts.n_samples;
  std::vector<std::uint64_t> fingerprint(N, 0x2545f4914f6cdd1dULL);
  // Each sample's hash chains its non-zeros in taxon order, tile by tile.
  executor.parallel_for(counts.n_tiles(), [&](std::size_t begin, std::size_t end) {
    for (std::size_t t = begin; t < end; ++t) {
      std::uint64_t* h = &fingerprint[t * counts.tile_size];
      for_each_in_tile(counts, t, [&](std::size_t r, std::size_t j, std::uint32_t pair) {
        // Counts are whole numbers below 2^53, exact as integers.
        const auto count = static_cast<std::uint64_t>(counts.pair_value[pair]);
        h[r] = splitmix64_first(h[r] ^ splitmix64_first((static_cast<std::uint64_t>(j) << 32) ^ count));
      });
    }
  });
  return fingerprint;
}

HellingerCentres::HellingerCentres(const std::vector<double>& centres, std::size_t n_components,
                                   std::size_t n_taxa)
    : n_components_(n_components),
      by_taxon_(centres_by_taxon(centres, n_components, n_taxa)),
      norm2_(squared_norms(centres, n_components, n_taxa)) {}

void HellingerCentres::nearest(const Counts& counts, const SquareRootProportions& roots,
                               const std::vector<std::uint32_t>& samples,
                               const Executor& executor, std::uint32_t* nearest) const {
  if (roots.rows() != nullptr) {
    check_samples(counts, samples);
    const MemberRows rows = member_rows(roots, samples, nullptr);
    with_width(n_components_, [&](auto width) {
      nearest_by_rows<decltype(width)::value>(rows, by_taxon_, norm2_, n_components_, executor,
                                              nearest);
    });
    return;
  }
  const std::vector<TileMembers> tiles = members_by_tile(counts, samples);
  with_width(n_components_, [&](auto width) {
    nearest_centres<decltype(width)::value>(counts, roots, by_taxon_, norm2_, n_components_,
                                            samples, tiles, executor, nearest);
  });
}

HellingerPartition hellinger_kmeans(const Counts& counts, const SquareRootProportions& roots,
                                    const std::vector<std::uint32_t>& subset,
                                    const std::vector<std::uint64_t>& fingerprint,
                                    std::size_t n_components, std::uint64_t seed,
                                    const Executor& executor, int max_iterations,
                                    const std::function<void()>& between_rounds) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  std::vector<std::uint32_t> members = subset;
  if (members.empty()) {
    members.resize(N);
    for (std::size_t i = 0; i < N; ++i) members[i] = static_cast<std::uint32_t>(i);
  }
  const std::size_t n = members.size();
  HellingerPartition result;
  result.centres.assign(K * S, 0.0);
  result.label.assign(n, 0);
  if (n == 0 || K == 0) return result;
  if (!subset.empty() && roots.rows() != nullptr) {
    return kmeans_by_rows(counts, roots, members, fingerprint, K, seed, executor, max_iterations,
                          between_rounds);
  }

  // D^2 seeding. Each round draws a member with probability proportional to its
  // squared distance D_i^2 to the nearest centre so far, as the smallest
  // -log(U_i) / D_i^2 (an exponential race), U_i keyed on the member's content,
  // so the draw is the same whatever the order of the samples. Round 0 draws
  // uniformly (D_i^2 = 1 for all).
  const std::vector<TileMembers> tiles = members_by_tile(counts, members);
  std::vector<double> distance2(n, 1.0);
  for (std::size_t k = 0; k < K; ++k) {
    const std::size_t chosen = draw_member(members, fingerprint, distance2, seed, k);
    // The chosen sample's u, found in its tile, and its squared norm in taxon order.
    double* centre = &result.centres[k * S];
    const std::size_t i = members[chosen];
    const std::size_t t = i / counts.tile_size, row = i - t * counts.tile_size;
    double norm2 = 0.0;
    for_each_in_tile(counts, t, [&](std::size_t r, std::size_t j, std::uint32_t pair) {
      if (r != row) return;
      const double u = roots.value(pair, i);
      centre[j] = u;
      norm2 += u * u;
    });
    between_rounds();
    if (k + 1 == K) break;
    lower_distances(counts, roots, members, tiles, centre, norm2, executor, distance2);
  }

  // Lloyd iterations: nearest centre, then centres as member means.
  std::vector<int> label_of_sample(N, -1);
  std::vector<std::uint32_t>& label = result.label;
  {
    const HellingerCentres seeds(result.centres, K, S);
    seeds.nearest(counts, roots, members, executor, label.data());
  }
  std::vector<double> size(K);
  std::vector<std::uint32_t> next(n);
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    result.iterations = iteration;
    std::fill(size.begin(), size.end(), 0.0);
    for (std::size_t m = 0; m < n; ++m) {
      label_of_sample[members[m]] = static_cast<int>(label[m]);
      size[label[m]] += 1.0;
    }
    // Sums per taxon in sample order (tile after tile, each tile's entries of a
    // taxon in row order, TileColumns::visit_taxon()): the same for any split of
    // taxa.
    with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
      executor.parallel_for(S, [&](std::size_t begin, std::size_t end) {
        std::vector<double> sum(K);
        TileColumns columns(counts.tile_size);
        for (std::size_t j = begin; j < end; ++j) {
          std::fill(sum.begin(), sum.end(), 0.0);
          for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
            const int* label_row = &label_of_sample[t * counts.tile_size];
            const std::size_t first = t * counts.tile_size;
            columns.visit_taxon(counts, t, j, pairs, base, [&](std::size_t r, std::uint32_t pair) {
              const int label = label_row[r];
              if (label >= 0) sum[static_cast<std::size_t>(label)] += roots.value(pair, first + r);
            });
          }
          for (std::size_t k = 0; k < K; ++k) {
            // An empty cluster keeps its centre.
            if (size[k] > 0.0) result.centres[k * S + j] = sum[k] / size[k];
          }
        }
      }, kTaxonGrain);
    });
    const HellingerCentres centres(result.centres, K, S);
    centres.nearest(counts, roots, members, executor, next.data());
    const bool changed = next != label;
    label.swap(next);
    between_rounds();
    if (!changed) break;
  }
  return result;
}

namespace {

template <std::size_t W>
void fill_proportion_centres(const Counts& counts, const std::vector<double>& posterior,
                             std::size_t K, const std::vector<double>& weight,
                             const Executor& executor,
                             std::vector<double>& centres) {
  const std::size_t k_count = W ? W : K;
  const std::size_t S = counts.n_taxa;
  const std::vector<std::size_t> blocks = taxon_blocks(counts, executor.threads());
  // Blocks of taxa walk the tiles in order, each tile's entries of a taxon in row
  // order (TileColumns) in windows of rows, so that a window's posteriors stay in a
  // core's cache while every taxon of the block adds its entries of that window:
  // each sum runs in sample order.
  with_tile_pairs(counts, [&](const auto* pairs, const auto& base) {
  executor.parallel_for(blocks.size() - 1, [&](std::size_t begin, std::size_t end) {
    TileColumns columns(counts.tile_size);
    for (std::size_t b = begin; b < end; ++b) {
      const std::size_t j0 = blocks[b], j1 = blocks[b + 1];
      std::vector<double> sums((j1 - j0) * k_count, 0.0);
      for (std::size_t t = 0; t < counts.n_tiles(); ++t) {
        const std::size_t first = t * counts.tile_size;
        columns.visit(counts, t, j0, j1, pairs, base,
                      [&](std::size_t j, const std::uint16_t* rows, const std::uint32_t* pairs_of,
                          std::size_t n) {
          double sum[W ? W : 1];
          double* total = W ? sum : &sums[(j - j0) * k_count];
          if constexpr (W != 0) std::copy(&sums[(j - j0) * k_count], &sums[(j - j0) * k_count] + k_count, sum);
          for (std::size_t m = 0; m < n; ++m) {
            const std::size_t i = first + rows[m];
            const double y = counts.pair_value[pairs_of[m]] / counts.depth[i];
            const double* z = &posterior[i * k_count];
            FASTDMM_UNROLL_COMPONENTS
            for (std::size_t k = 0; k < k_count; ++k) total[k] += z[k] * y;
          }
          if constexpr (W != 0) std::copy(sum, sum + k_count, &sums[(j - j0) * k_count]);
        });
      }
      for (std::size_t j = j0; j < j1; ++j) {
        for (std::size_t k = 0; k < k_count; ++k) {
          if (weight[k] > 0.0) centres[k * S + j] = sums[(j - j0) * k_count + k] / weight[k];
        }
      }
    }
  });
  });
}

}  // namespace

std::vector<double> proportion_centres(const Counts& counts, const std::vector<double>& posterior,
                                       std::size_t n_components, const Executor& executor,
                                       std::vector<double>* weights) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = n_components;
  std::vector<double> weight(K, 0.0), centres(K * S, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t k = 0; k < K; ++k) weight[k] += posterior[i * K + k];
  }
  // One walk over each taxon's entries, tile by tile in row order, with the
  // components innermost; each sum runs in sample order.
  with_width(K, [&](auto width) {
    fill_proportion_centres<decltype(width)::value>(counts, posterior, K, weight, executor,
                                                     centres);
  });
  if (weights != nullptr) *weights = weight;
  return centres;
}

std::vector<double> posterior_from_labels(const std::vector<std::uint32_t>& label,
                                          std::size_t n_components) {
  const std::size_t N = label.size();
  std::vector<double> posterior(n_components * N, 0.0);
  for (std::size_t i = 0; i < N; ++i) posterior[i * n_components + label[i]] = 1.0;
  return posterior;
}

}  // namespace fastdmm
