// The Hellinger k-means kernel (sample fingerprints, square-root proportions, D^2-seeded Lloyd) and proportion centres of a posterior.
#ifndef FASTDMM_HELLINGER_KMEANS_H
#define FASTDMM_HELLINGER_KMEANS_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "counts.h"
#include "parallel.h"

namespace fastdmm {

// A 64-bit fingerprint of each sample's content (its taxa and counts), so that
// random draws keyed on it do not depend on the sample's row (DESIGN.md section 5).
std::vector<std::uint64_t> sample_fingerprints(const Counts& counts, const Executor& executor);

// u_ij = sqrt(x_ij / J_i) = sqrt(c_p) / sqrt(J_i) for the pair p of x_ij: square
// roots per distinct value and per sample, O(pairs + samples), never per non-zero.
// With `with_rows`, it keeps the table's row view too (SampleRows, 8 bytes per
// non-zero), and the k-means and nearest centres of some samples walk their
// rows only: they cost what those samples hold, not what the table holds, with
// the same result to the last bit (the same sums in the same order).
class SquareRootProportions {
 public:
  explicit SquareRootProportions(const Counts& counts, bool with_rows = false);
  // u_ij of sample i's non-zero of pair p.
  double value(std::uint32_t pair, std::size_t i) const {
    return root_count_[pair] * inverse_root_depth_[i];
  }
  // The row view, or null when it was made without one.
  const SampleRows* rows() const { return has_rows_ ? &rows_ : nullptr; }

 private:
  std::vector<double> root_count_;
  std::vector<double> inverse_root_depth_;
  bool has_rows_ = false;
  SampleRows rows_;
};

struct HellingerPartition {
  std::vector<std::uint32_t> label;  // one per sample of the subset, 0..K-1
  std::vector<double> centres;       // c[k * S + j], means of sqrt(x_ij / J_i)
  int iterations = 0;                // Lloyd iterations
};

// The 2-means that divides some samples in two (a split plan, a kick's split, a
// division of a transfers' bisection tree) stops after this many Lloyd rounds:
// the division is an estimate or a new start. Two types among the samples
// separate at once (D^2 seeding puts the two centres in different types), while
// further rounds only move the arbitrary cut through a homogeneous set (20-60
// rounds to a fixed point at 2,000 members).
constexpr int kSplitLloydRounds = 10;

// k-means on square-root proportions u_ij = sqrt(x_ij / J_i) (Hellinger geometry,
// which evens out the multinomial variance across taxa): D^2 seeding (Arthur &
// Vassilvitskii 2007) whose draws are exponential races keyed on (seed, round,
// fingerprint), then Lloyd iterations until no label changes. `subset` lists the
// samples to cluster, increasing (all when empty). Ties go to the lower component.
// A subset is walked by its rows when `roots` has them, on the taxa it counts.
// `between_rounds` is called on the calling thread after every seeding round and
// Lloyd iteration (an interrupt check).
HellingerPartition hellinger_kmeans(const Counts& counts, const SquareRootProportions& roots,
                                    const std::vector<std::uint32_t>& subset,
                                    const std::vector<std::uint64_t>& fingerprint,
                                    std::size_t n_components, std::uint64_t seed,
                                    const Executor& executor, int max_iterations = 100,
                                    const std::function<void()>& between_rounds = [] {});

// Centres in square-root proportions laid out for nearest-centre queries.
class HellingerCentres {
 public:
  HellingerCentres(const std::vector<double>& centres, std::size_t n_components,
                   std::size_t n_taxa);
  // The nearest centre to each of `samples` (increasing; the lower index on
  // ties) into nearest[m], using ||u_i - c_k||^2 = 1 + ||c_k||^2 - 2 u_i . c_k:
  // one pass over the tiles holding them, the dot products accumulated per row
  // of a tile (scratch of one tile's size), each in the sample's taxon order; or
  // a walk along each sample's row when `roots` has the rows (the same sums).
  void nearest(const Counts& counts, const SquareRootProportions& roots,
               const std::vector<std::uint32_t>& samples, const Executor& executor,
               std::uint32_t* nearest) const;

 private:
  std::size_t n_components_;
  std::vector<double> by_taxon_;  // c[j * K + k]
  std::vector<double> norm2_;
};

// mu_kj = sum_i z_ik y_ij / W_k with y_ij = x_ij / J_i, zero for a component of
// zero weight; z is posterior[i * K + k]. Sums run in sample order (the zeros of
// the table would add exact zeros, so this is the dense sum to the last bit).
// `weights`, if given, receives W_k = sum_i z_ik. Each y_ij is divided where it
// is used (no per-non-zero array).
std::vector<double> proportion_centres(const Counts& counts, const std::vector<double>& posterior,
                                       std::size_t n_components, const Executor& executor,
                                       std::vector<double>* weights = nullptr);

// A 0/1 posterior from labels 0..K-1.
std::vector<double> posterior_from_labels(const std::vector<std::uint32_t>& label,
                                          std::size_t n_components);


}  // namespace fastdmm

#endif
