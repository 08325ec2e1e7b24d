// Transfers of samples and groups between components: ranked by what refitting promises, exact trials, EM from the accepted ones.
#include "transfer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <utility>

#include "evidence.h"
#include "hash.h"
#include "model.h"
#include "special.h"

namespace fastdmm {

namespace {

// taxon_decrease(): Newton steps at most, and the decrease (in NLE units) a
// further step would have to promise. A promise sums hundreds of taxa and
// only ranks candidates (each is tried by an exact refit): 1e-4 per taxon is
// ample, and most taxa stop after one or two steps.
constexpr int kBoundIterations = 6;
constexpr double kBoundTolerance = 1e-4;
// refit_gain(): a taxon whose other members' weight is at least this is
// anchored by them, and a quadratic model of its term is close while the
// Newton step it takes in lambda is at most kNewtonTrust (alpha moves by at
// most a factor e): the model's trust region. Beyond it the taxon is
// minimised alone (taxon_decrease()).
constexpr double kAnchoringWeight = 0.5;
constexpr double kNewtonTrust = 1.0;

double x_log_x(double x) { return x > 0.0 ? x * std::log(x) : 0.0; }

// The change in -sum_k W_k log W_k (the weights' part of a hard partition's
// NLE, up to a constant) when `moved` samples' mass goes from a to b.
double weights_change(double wa, double wb, double moved) {
  return -(x_log_x(std::max(0.0, wa - moved)) + x_log_x(wb + moved) - x_log_x(wa) -
           x_log_x(wb));
}

// A component's objective f at its lambda: gradient g and Hessian
// diag(D) + rho alpha alpha^T (mstep.h), with A = sum alpha and psi(A), psi1(A);
// and per (taxon, count) pair p of taxon j, what one sample with that count
// adds to t_j and u_j (GroupTerms).
//
// A taxon that no sample of the component counts (every pair weight 0: most
// of a wide table's taxa) has g_j = alpha_j c - eta and D_j = alpha_j c with
// the same c = nu + sum_i z_i [psi(A + J_i) - psi(A)] for all of them, so the
// sums GroupTerms::decrement() needs over those taxa are, for any shift x of
// their c, closed forms in three sums kept here (`absent`): O(1) instead of
// O(S) per candidate.
struct ComponentModel {
  ComponentDerivatives d;
  double total_alpha = 0.0, psi_total = 0.0, psi1_total = 0.0;
  std::vector<double> pair_t, pair_u;
  // The taxa the component's samples count, in increasing order, and a flag
  // per taxon; the others' c and sums of g^2 / alpha, g and alpha.
  std::vector<std::uint32_t> present;
  std::vector<char> is_present;
  ProbeTable made;  // the taxa fill_pairs() made, by value class and alpha
  // The present taxa by their (alpha, gradient, diagonal), compared exactly: a
  // class of the M-step's exchangeable taxa has one of each, and a group's
  // promise sums the taxa it does not count class by class (GroupTerms).
  // Classes in order of their first taxon; class_of[j] for present taxa.
  struct PresentClass {
    double alpha, gradient, diagonal, multiplicity;
  };
  std::vector<PresentClass> classes;
  std::vector<std::uint32_t> class_of;
  struct AbsentSums {
    std::size_t count = 0;
    double c = 0.0, gg = 0.0, g = 0.0, alpha = 0.0;
  } absent;
  // For refit_gain(): q = sum_i z_i [psi(A + J_i) - psi(A)], the pair weights
  // per taxon, and sum_j alpha_j^2 / D_j over the taxa with D_j > 0.
  double depth_q = 0.0;
  std::vector<double> taxon_weight;
  double spread = 0.0;
  // Whether pair_t and pair_u hold the absent taxa's pairs too. The singles'
  // promises (refit_gain()) read them for the taxa the component counts only;
  // the groups' (GroupTerms) for every taxon a group counts, and are ranked
  // far less often (once no single improves): complete_pairs() fills the rest
  // then. On wide tables most pairs belong to absent taxa.
  bool pairs_complete = false;

  // pair_t and pair_u of taxon j's pairs. They depend on alpha_j and j's list
  // of values alone, so a taxon of the value class (Counts::value_class) and
  // alpha of one filled before copies them (`made`: the filled taxa by value
  // class and alpha, open addressing). The taxa a component does not count
  // share one alpha, and exchangeable counted taxa share theirs (the M-step's
  // classes), so most of a wide table's pairs are copies.
  void fill_pairs(const Counts& counts, std::size_t j) {
    const double alpha = d.alpha[j];
    const bool classed = counts.value_class.size() == d.alpha.size();
    const std::size_t c = classed ? counts.value_class[j] : j;
    std::uint32_t& slot =
        made.find(splitmix64_finalise(double_bits(alpha) ^ splitmix64_first(c)), [&](std::size_t t) {
          return (classed ? counts.value_class[t] : t) == c && d.alpha[t] == alpha;
        });
    if (ProbeTable::found(slot)) {
      const std::size_t from = counts.pair_ptr[ProbeTable::item(slot)];
      for (std::size_t p = counts.pair_ptr[j]; p < counts.pair_ptr[j + 1]; ++p) {
        pair_t[p] = pair_t[from + (p - counts.pair_ptr[j])];
        pair_u[p] = pair_u[from + (p - counts.pair_ptr[j])];
      }
      return;
    }
    made.enter(slot, j);
    const GammaValues base = gamma_values<false, true>(alpha);
    for (std::size_t p = counts.pair_ptr[j]; p < counts.pair_ptr[j + 1]; ++p) {
      const GammaValues above = gamma_values<false, true>(alpha + counts.pair_value[p]);
      const double dt = alpha * (above.digamma - base.digamma);
      pair_t[p] = dt;
      pair_u[p] = dt + alpha * alpha * (above.trigamma - base.trigamma);
    }
  }

  void complete_pairs(const Counts& counts) {
    if (pairs_complete) return;
    const std::size_t S = d.alpha.size();
    for (std::size_t j = 0; j < S; ++j) {
      if (!is_present[j]) fill_pairs(counts, j);
    }
    pairs_complete = true;
  }

  void prepare(const Counts& counts, const ComponentHistograms& histograms) {
    total_alpha = 0.0;
    for (double a : d.alpha) total_alpha += a;
    const GammaValues at = gamma_values<false, true>(total_alpha);
    psi_total = at.digamma;
    psi1_total = at.trigamma;
    depth_q = weighted_gamma_differences<false, true>(total_alpha, counts.depth_value.data(),
                                                      histograms.depth.data(),
                                                      counts.n_depths()).digamma;
    const std::size_t S = d.alpha.size();
    pair_t.resize(counts.n_pairs());
    pair_u.resize(counts.n_pairs());
    present.clear();
    is_present.assign(S, 0);
    made.reset(S);
    taxon_weight.assign(S, 0.0);
    spread = 0.0;
    absent = AbsentSums();
    pairs_complete = false;
    for (std::size_t j = 0; j < S; ++j) {
      const double alpha = d.alpha[j];
      if (d.diagonal[j] > 0.0) spread += alpha * alpha / d.diagonal[j];
      bool counted = false;
      for (std::size_t p = counts.pair_ptr[j]; p < counts.pair_ptr[j + 1]; ++p) {
        taxon_weight[j] += histograms.pair[p];
        counted = counted || histograms.pair[p] != 0.0;
      }
      if (counted) {
        fill_pairs(counts, j);
        present.push_back(static_cast<std::uint32_t>(j));
        is_present[j] = 1;
        continue;
      }
      const double g = d.gradient[j];
      if (absent.count++ == 0) absent.c = d.diagonal[j] / alpha;
      absent.gg += g * g / alpha;
      absent.g += g;
      absent.alpha += alpha;
    }
    classify_present();
  }

  void classify_present() {
    classes.clear();
    class_of.resize(d.alpha.size());
    ProbeTable table(present.size());
    for (std::uint32_t j : present) {
      const double key[3] = {d.alpha[j], d.gradient[j], d.diagonal[j]};
      std::uint64_t h = 0;
      for (double x : key) h = splitmix64_finalise(h ^ double_bits(x));
      std::uint32_t& slot = table.find(h, [&](std::size_t c) {
        return classes[c].alpha == key[0] && classes[c].gradient == key[1] &&
               classes[c].diagonal == key[2];
      });
      if (ProbeTable::found(slot)) {
        classes[ProbeTable::item(slot)].multiplicity += 1.0;
      } else {
        table.enter(slot, classes.size());
        classes.push_back({key[0], key[1], key[2], 1.0});
      }
      class_of[j] = static_cast<std::uint32_t>(ProbeTable::item(slot));
    }
  }
};

// What a group of samples adds to f's derivatives when it joins (f - sum e_i)
// or leaves (f + sum e_i) a component: with a1 = sum_i psi(A) - psi(A + J_i),
// a2 = sum_i psi1(A) - psi1(A + J_i), and per taxon where a member is non-zero
// t_j = alpha_j sum_i [psi(alpha_j + x_ij) - psi(alpha_j)],
// u_j = t_j + alpha_j^2 sum_i [psi1(alpha_j + x_ij) - psi1(alpha_j)], the sum of
// the members' log evidence has gradient alpha_j a1 + t_j and Hessian
// diag(alpha_j a1 + u_j) + a2 alpha alpha^T in lambda.
struct GroupTerms {
  std::vector<double> t, u;
  std::vector<std::uint32_t> touched;
  std::vector<std::uint32_t> count;  // the group's samples that count each taxon
  double a1 = 0.0, a2 = 0.0;
  // decrement()'s scratch: per class of present taxa, how many the group
  // counts (zero between calls).
  mutable std::vector<std::uint32_t> hits;

  void reset(std::size_t S) {
    if (t.size() != S) {
      t.assign(S, 0.0);
      u.assign(S, 0.0);
      count.assign(S, 0);
    } else {
      for (std::uint32_t j : touched) {
        t[j] = u[j] = 0.0;
        count[j] = 0;
      }
    }
    touched.clear();
    a1 = a2 = 0.0;
  }

  void add(const Counts& counts, const SampleRows& rows, std::size_t i,
           const ComponentModel& m) {
    const GammaValues at_depth = gamma_values<false, true>(m.total_alpha + counts.depth[i]);
    a1 += m.psi_total - at_depth.digamma;
    a2 += m.psi1_total - at_depth.trigamma;
    for (std::size_t e = rows.ptr[i]; e < rows.ptr[i + 1]; ++e) {
      const std::size_t j = rows.taxon[e];
      if (t[j] == 0.0 && u[j] == 0.0) touched.push_back(static_cast<std::uint32_t>(j));
      t[j] += m.pair_t[rows.pair[e]];
      u[j] += m.pair_u[rows.pair[e]];
      ++count[j];
    }
  }

  // `promise` of the group less `part` (some of its samples): their terms
  // taken out (a taxon only they count is dropped exactly), then put back as
  // they were. O(part's entries + taxa the group counts), not a sum over the
  // rest of the group.
  template <class Promise>
  double without(const Counts& counts, const SampleRows& rows,
                 const std::vector<std::uint32_t>& part, const ComponentModel& m,
                 Promise&& promise) {
    struct Saved {
      std::uint32_t taxon;
      double t, u;
    };
    std::vector<Saved> saved;
    const double a1_was = a1, a2_was = a2;
    for (std::uint32_t i : part) {
      const GammaValues at_depth = gamma_values<false, true>(m.total_alpha + counts.depth[i]);
      a1 -= m.psi_total - at_depth.digamma;
      a2 -= m.psi1_total - at_depth.trigamma;
      for (std::size_t e = rows.ptr[i]; e < rows.ptr[i + 1]; ++e) {
        const std::uint32_t j = rows.taxon[e];
        saved.push_back({j, t[j], u[j]});
        t[j] -= m.pair_t[rows.pair[e]];
        u[j] -= m.pair_u[rows.pair[e]];
        --count[j];
      }
    }
    std::vector<std::uint32_t> counted;
    for (std::uint32_t j : touched) {
      if (count[j] > 0) {
        counted.push_back(j);
      } else {
        t[j] = u[j] = 0.0;
      }
    }
    touched.swap(counted);
    const double value = promise(*this);
    touched.swap(counted);
    for (auto e = saved.rbegin(); e != saved.rend(); ++e) {
      t[e->taxon] = e->t;
      u[e->taxon] = e->u;
      ++count[e->taxon];
    }
    a1 = a1_was;
    a2 = a2_was;
    return value;
  }

  // Half of g'^T H'^-1 g' for f' = f + sign * (the group's log evidence), sign
  // +1 when the group leaves and -1 when it joins, at the component's lambda:
  // the decrease one Newton step on the refitted component promises. H' is
  // diagonal plus rank one, so this is O(S) by Sherman-Morrison, and O(taxa
  // the component counts + taxa the group counts) with the absent taxa's
  // closed forms (ComponentModel): with x = sign * a1 each of them adds
  // (g_j + alpha_j x)^2 / (alpha_j (c + x)) to g'^T D'^-1 g', and likewise
  // alpha_j / (c + x) and (g_j + alpha_j x) / (c + x) to the other two sums.
  // 0 when H' is not positive definite (the model promises nothing). (Summing
  // only the touched taxa, with the others' a1 term left out of their
  // diagonal, was 1.2-1.35x faster on wide tables but ended fewer seeds at the
  // best optimum on mite, 35 taxa: 50 of 60 against 55.)
  double decrement(const ComponentModel& m, double sign) const {
    const ComponentDerivatives& d = m.d;
    const double x = sign * a1;
    double gg = 0.0, ag = 0.0, aa = 0.0;
    bool positive = true;
    // `times` taxa's terms (1 x is x exactly: a class of one taxon adds what
    // the taxon does).
    const auto add = [&](double alpha, double g, double D, double times) {
      if (!(D > 0.0)) {
        positive = false;
        return;
      }
      // One division per taxon, not three: this loop is the ranking's cost.
      const double inverse = 1.0 / D;
      const double alpha_over = alpha * inverse;
      gg += times * (g * g * inverse);
      ag += times * (alpha_over * g);
      aa += times * (alpha_over * alpha);
    };
    // The component's taxa the group does not count, class by class: each
    // class's taxa less those the group counts.
    if (hits.size() < m.classes.size()) hits.resize(m.classes.size(), 0);
    for (std::uint32_t j : touched) {
      if (m.is_present[j]) ++hits[m.class_of[j]];
    }
    for (std::size_t c = 0; c < m.classes.size() && positive; ++c) {
      const ComponentModel::PresentClass& taxa = m.classes[c];
      const double untouched = taxa.multiplicity - hits[c];
      if (untouched > 0.0) {
        add(taxa.alpha, taxa.gradient + taxa.alpha * x, taxa.diagonal + taxa.alpha * x,
            untouched);
      }
    }
    for (std::uint32_t j : touched) {
      if (m.is_present[j]) hits[m.class_of[j]] = 0;
    }
    if (!positive) return 0.0;
    // The taxa the group counts; the absent ones among them leave the closed forms.
    ComponentModel::AbsentSums rest = m.absent;
    for (std::uint32_t j : touched) {
      const double alpha = d.alpha[j];
      add(alpha, d.gradient[j] + sign * (alpha * a1 + t[j]),
          d.diagonal[j] + sign * (alpha * a1 + u[j]), 1.0);
      if (!positive) return 0.0;
      if (m.is_present[j]) continue;
      const double g = d.gradient[j];
      --rest.count;
      rest.gg -= g * g / alpha;
      rest.g -= g;
      rest.alpha -= alpha;
    }
    if (rest.count > 0) {
      const double shifted = rest.c + x;
      if (!(shifted > 0.0)) return 0.0;
      gg += std::max(0.0, rest.gg + x * (2.0 * rest.g + x * rest.alpha)) / shifted;
      ag += (rest.g + x * rest.alpha) / shifted;
      aa += std::max(0.0, rest.alpha) / shifted;
    }
    const double rho = d.rank_one + sign * a2;
    const double denominator = 1.0 + rho * aa;
    if (!(denominator > 0.0)) return 0.0;
    const double quad = gg - rho * ag * ag / denominator;
    return quad > 0.0 && std::isfinite(quad) ? 0.5 * quad : 0.0;
  }
};

// Minimises h_j(alpha) = c alpha - eta log(alpha)
// - sum_p w_p [lgamma(alpha + v_p) - lgamma(alpha)] over alpha by safeguarded Newton
// steps in alpha from alpha0, with c = `linear` and w taxon j's pair weights
// `weights`: returns h_j(alpha0) - min h_j >= 0, and the minimiser in
// `minimiser` when given (alpha0 when no step lowers h_j).
double minimise_taxon(const Counts& counts, std::size_t j, double alpha0, double linear,
                      const std::vector<double>& weights, double* minimiser = nullptr) {
  const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
  if (minimiser != nullptr) *minimiser = alpha0;
  const double* values = &counts.pair_value[first];
  // h_j at alpha, with its first and second derivatives in lambda = log(alpha).
  const auto evaluate = [&](double alpha, double& gradient, double& curvature) {
    const GammaSums sums = weighted_gamma_differences<true, true>(alpha, values, weights.data(), n);
    gradient = alpha * (linear - sums.digamma) - kPriorShape;
    curvature = alpha * (linear - sums.digamma) - alpha * alpha * sums.trigamma;
    return linear * alpha - kPriorShape * std::log(alpha) - sums.lgamma;
  };
  double alpha = alpha0, gradient = 0.0, curvature = 0.0;
  if (!(alpha > 0.0 && std::isfinite(alpha))) return 0.0;
  const double start = evaluate(alpha, gradient, curvature);
  if (!std::isfinite(start)) return 0.0;
  double current = start;
  for (int iteration = 0; iteration < kBoundIterations; ++iteration) {
    // The step is taken in alpha (alpha (1 + d)), exact for c alpha - b log(alpha).
    double d = curvature > 0.0 ? -gradient / curvature : (gradient > 0.0 ? -0.5 : 1.0);
    if (curvature > 0.0 && 0.5 * gradient * gradient / curvature < kBoundTolerance) break;
    d = std::max(-0.99, std::min(d, 100.0));
    bool lower = false;
    for (int halving = 0; halving < 30 && !lower; ++halving, d *= 0.5) {
      double next_gradient = 0.0, next_curvature = 0.0;
      const double value = evaluate(alpha * (1.0 + d), next_gradient, next_curvature);
      if (value < current && std::isfinite(next_gradient) && std::isfinite(next_curvature)) {
        alpha *= 1.0 + d;
        current = value;
        gradient = next_gradient;
        curvature = next_curvature;
        lower = true;
      }
    }
    if (!lower) break;
  }
  if (minimiser != nullptr) *minimiser = alpha;
  return start - current;
}

// The decrease of one taxon's term of a component's objective f when a sample
// with count x_ij moves in (delta > 0) or out (delta < 0): with the depth sum
// linearised at the component's A, f = sum_j h_j(alpha_j) + const with
// h_j(alpha) = c alpha - eta log(alpha) - sum_p w_p [lgamma(alpha + v_p) - lgamma(alpha)],
// c = nu + sum_i z_i [psi(A + J_i) - psi(A)] (`linear`, the sample's part
// included) and w the taxon's pair weights with the sample's pair changed by
// delta. Returns h_j(alpha0) - min h_j >= 0 from the component's alpha0
// (minimise_taxon()). Since lgamma(A + J) - lgamma(A) is
// concave in A, the linearised f lies above the exact one, so a refit of that
// taxon alone gains at least this (refit_gain()).
double taxon_decrease(const Counts& counts, std::size_t j, double alpha0, double linear,
                      const double* pair_weights, std::size_t changed_pair, double delta,
                      std::vector<double>& weights) {
  const std::size_t first = counts.pair_ptr[j], n = counts.pair_ptr[j + 1] - first;
  weights.assign(pair_weights + first, pair_weights + first + n);
  weights[changed_pair - first] = std::max(0.0, weights[changed_pair - first] + delta);
  return minimise_taxon(counts, j, alpha0, linear, weights);
}

// taxon_decrease()'s results for one joining sample (or, for the taxa it alone
// counts, one leaving sample), remembered by the taxon's alpha and the
// sample's count (refit_gain()): a direct-mapped table
// on the count, whose slot is replaced when the alpha or count differs. NaN
// marks a slot not computed.
class JoinDecreases {
 public:
  double& at(double alpha, double value) {
    Slot& slot = slots_[static_cast<std::size_t>(value) % kSlots];
    if (!(slot.alpha == alpha && slot.value == value)) {
      slot.alpha = alpha;
      slot.value = value;
      slot.decrease = std::numeric_limits<double>::quiet_NaN();
    }
    return slot.decrease;
  }

 private:
  static constexpr std::size_t kSlots = 64;
  struct Slot {
    double alpha = std::numeric_limits<double>::quiet_NaN();
    double value = 0.0;
    double decrease = std::numeric_limits<double>::quiet_NaN();
  };
  Slot slots_[kSlots];
};

// What refitting a component gains when sample i's weight there changes by
// delta, taxon by taxon. A taxon that no other member of the component counts
// (one the sample brings in, or takes away) has its alpha moved by orders of
// magnitude, where a quadratic model in lambda is far off (it promises
// 1 / (2 eta) = 5 for a taxon a sample brings in; the gain is 1.6): it gets
// taxon_decrease(), a lower bound of what re-optimising it alone gains, whose
// walks are short for such taxa. A taxon anchored by the other members'
// counts gets the Newton decrement g'^2 / (2 D') of its own term, with the
// sample's pair added to or taken from the component's gradient g and
// diagonal D (pair_t, pair_u) and c shifted, while its Newton step g' / D' is
// within kNewtonTrust; a larger step (a taxon one or two other members count
// a little, which a deep sample outweighs) leaves the model's trust region,
// where it promised thousands of units for moves that lost hundreds, and the
// taxon gets taxon_decrease() too. The component's remaining taxa see only
// the shift of c, which moves taxon j's gradient by alpha_j shift from about
// zero: (alpha_j shift)^2 / (2 D_j) each, summed through `spread`, which is
// also added to `spread_term`. Second order but for the first kind, so an
// estimate, not a bound. `pair_weights` are the component's histogram weights
// per pair.
double refit_gain(const Counts& counts, const SampleRows& rows, std::size_t i,
                  const ComponentModel& model, const double* pair_weights, double delta,
                  std::vector<double>& weights, double& spread_term) {
  const GammaValues at_depth = gamma_values<false, true>(model.total_alpha + counts.depth[i]);
  const double psi_shift = at_depth.digamma - model.psi_total;
  const double shift = delta * psi_shift;
  const double linear = model.depth_q + shift + kPriorRate;
  // What the sample's own weight adds to a taxon's weight there (0 when it
  // joins: none of it is in the component yet, up to its soft posterior).
  const double own = delta < 0.0 ? -delta : 0.0;
  // A sample joining a component brings in every taxon it counts that the
  // component does not (on wide tables, most of them). Each such taxon has no
  // pair of non-zero weight there but the sample's own, so its decrease is a
  // function of its alpha and the sample's count alone (walks skip pairs of
  // weight zero), and all of them share the component's one alpha for
  // uncounted taxa: the decreases are remembered by (alpha, count), the same
  // numbers bit for bit.
  JoinDecreases joined, left;
  double total = 0.0, touched_spread = 0.0;
  for (std::size_t e = rows.ptr[i]; e < rows.ptr[i + 1]; ++e) {
    const std::size_t j = rows.taxon[e];
    const std::size_t p = rows.pair[e];
    const double alpha = model.d.alpha[j];
    const double D = model.d.diagonal[j];
    if (D > 0.0) touched_spread += alpha * alpha / D;
    const double others = model.taxon_weight[j] - own;
    const double g = model.d.gradient[j] + delta * (alpha * psi_shift - model.pair_t[p]);
    const double curvature = D + delta * (alpha * psi_shift - model.pair_u[p]);
    if (others >= kAnchoringWeight && curvature > 0.0 &&
        std::fabs(g) <= kNewtonTrust * curvature) {
      total += 0.5 * g * g / curvature;
    } else if (delta > 0.0 && !model.is_present[j]) {
      double& decrease = joined.at(alpha, counts.pair_value[p]);
      if (std::isnan(decrease)) {
        decrease = taxon_decrease(counts, j, alpha, linear, pair_weights, p, delta, weights);
      }
      total += decrease;
    } else if (delta < 0.0 && others == 0.0) {
      // A taxon only the leaving sample counts keeps no weight: its decrease
      // is a function of its alpha alone, and the taxa the sample alone
      // counts with one value share an alpha (the M-step's classes).
      double& decrease = left.at(alpha, counts.pair_value[p]);
      if (std::isnan(decrease)) {
        decrease = taxon_decrease(counts, j, alpha, linear, pair_weights, p, delta, weights);
      }
      total += decrease;
    } else {
      total += taxon_decrease(counts, j, alpha, linear, pair_weights, p, delta, weights);
    }
  }
  const double spread = 0.5 * shift * shift * std::max(0.0, model.spread - touched_spread);
  spread_term += spread;
  return total + spread;
}

void sort_by_promise(std::vector<TransferCandidate>& list) {
  std::stable_sort(list.begin(), list.end(), [](const TransferCandidate& x,
                                                const TransferCandidate& y) {
    return x.predicted < y.predicted;
  });
}

// The NLE at parameters that differ from the state's only in components a and
// b: the state's evidence with a's and b's columns replaced by `pair_evidence`
// ([i * 2], [i * 2 + 1]), summed in sample order as evaluate_state() does.
double partial_nle(const Counts& counts, const std::vector<double>& evidence,
                   const std::vector<double>& pair_evidence, std::size_t a, std::size_t b,
                   const std::vector<double>& weights, const std::vector<double>& log_alpha,
                   ColumnCache* cache) {
  const std::size_t N = counts.n_samples, K = weights.size();
  constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();
  double total = 0.0;
  for (double w : weights) total += w;
  std::vector<double> log_pi(K, kMinusInfinity), row(K);
  for (std::size_t k = 0; k < K; ++k) {
    if (weights[k] > 0.0) log_pi[k] = std::log(weights[k] / total);
  }
  double log_likelihood = 0.0;
  for (std::size_t i = 0; i < N; ++i) {
    double top = kMinusInfinity;
    for (std::size_t k = 0; k < K; ++k) {
      const double e = k == a ? pair_evidence[i * 2]
                              : k == b ? pair_evidence[i * 2 + 1] : evidence[i * K + k];
      row[k] = weights[k] > 0.0 ? e + log_pi[k] : kMinusInfinity;
      top = std::max(top, row[k]);
    }
    double sum = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
      if (row[k] - top >= -746.0) sum += std::exp(row[k] - top);
    }
    log_likelihood += top + std::log(sum) + counts.log_multinomial[i];
  }
  return -log_likelihood + neg_log_prior(log_alpha, counts.n_taxa, K, cache);
}

// One trial: `c` applied to the state's posteriors (its samples' rows set to
// component c.to), c.from and c.to refitted, the NLE at the result. Fills
// `trial` (posteriors, parameters, weights; not evaluated) and returns the NLE.
double try_transfer(const Counts& counts, const EmState& state, const std::vector<double>& evidence,
                    const TransferCandidate& c, const OptimiserOptions& optimiser,
                    const Executor& executor, EmState& trial, int& unconverged,
                    const double* start_alpha) {
  const std::vector<std::uint32_t> to(c.samples.size(), static_cast<std::uint32_t>(c.to));
  return try_reassignment(counts, state, evidence, c.from, c.to, c.samples, to, optimiser,
                          executor, trial, unconverged, start_alpha);
}

// Where a transfer's trial starts its refit (try_reassignment()'s
// start_alpha): both components' lambda, with each taxon that the moved
// samples count and `to` does not (its model's absent taxa) at the minimiser
// of its own term with the depth sum linearised at to's A (minimise_taxon(),
// the samples' pairs weighted by what they add to `to`). From to's one value
// for the taxa it does not count, the refit would walk such a taxon up by
// several units, more than a Newton step's cap, which then shortens the step
// of every taxon. Empty when `to` has no model.
std::vector<double> trial_start(const Counts& counts, const SampleRows& rows,
                                const EmState& state, const ComponentModel& model,
                                const TransferCandidate& c) {
  const std::size_t S = counts.n_taxa, K = state.n_components;
  std::vector<double> start;
  if (model.is_present.size() != S) return start;
  // The moved samples' entries on taxa `to` does not count, by taxon.
  struct Entry {
    std::uint32_t taxon, pair;
    double weight;
  };
  std::vector<Entry> entries;
  double shift = 0.0;
  for (std::uint32_t i : c.samples) {
    const double delta = 1.0 - state.next_posterior[i * K + c.to];
    const GammaValues at_depth = gamma_values<false, true>(model.total_alpha + counts.depth[i]);
    shift += delta * (at_depth.digamma - model.psi_total);
    for (std::size_t e = rows.ptr[i]; e < rows.ptr[i + 1]; ++e) {
      const std::uint32_t j = rows.taxon[e];
      if (!model.is_present[j]) entries.push_back({j, rows.pair[e], delta});
    }
  }
  if (entries.empty()) return start;
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& x, const Entry& y) { return x.taxon < y.taxon; });
  start.resize(2 * S);
  std::copy(&state.log_alpha[c.from * S], &state.log_alpha[c.from * S] + S, &start[0]);
  std::copy(&state.log_alpha[c.to * S], &state.log_alpha[c.to * S] + S, &start[S]);
  const double linear = model.depth_q + shift + kPriorRate;
  // A taxon one moved sample counts has one pair of non-zero weight, and the
  // taxa `to` does not count share its one alpha (the M-step's shared
  // variable): such a taxon's minimiser is a function of (alpha, count,
  // weight) alone, remembered for the others (the same numbers).
  std::map<std::array<double, 3>, double> single;
  std::vector<double> weights;
  for (std::size_t e = 0; e < entries.size();) {
    const std::uint32_t j = entries[e].taxon;
    const std::size_t first = counts.pair_ptr[j];
    const std::size_t from_entry = e;
    weights.assign(counts.pair_ptr[j + 1] - first, 0.0);
    for (; e < entries.size() && entries[e].taxon == j; ++e) {
      weights[entries[e].pair - first] += entries[e].weight;
    }
    double alpha = model.d.alpha[j];
    if (e == from_entry + 1) {
      const std::array<double, 3> key{alpha, counts.pair_value[entries[from_entry].pair],
                                      entries[from_entry].weight};
      const auto known = single.find(key);
      if (known != single.end()) {
        alpha = known->second;
      } else {
        minimise_taxon(counts, j, alpha, linear, weights, &alpha);
        single.emplace(key, alpha);
      }
    } else {
      minimise_taxon(counts, j, alpha, linear, weights, &alpha);
    }
    if (alpha > 0.0 && std::isfinite(alpha)) start[S + j] = std::log(alpha);
  }
  return start;
}

}  // namespace

double try_reassignment(const Counts& counts, const EmState& state,
                        const std::vector<double>& evidence, std::size_t a, std::size_t b,
                        const std::vector<std::uint32_t>& samples,
                        const std::vector<std::uint32_t>& to, const OptimiserOptions& optimiser,
                        const Executor& executor, EmState& trial, int& unconverged,
                        const double* start_alpha) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = state.n_components;
  std::vector<double> posterior = state.next_posterior;
  for (std::size_t m = 0; m < samples.size(); ++m) {
    const std::size_t i = samples[m];
    for (std::size_t k = 0; k < K; ++k) posterior[i * K + k] = k == to[m] ? 1.0 : 0.0;
  }
  std::vector<double> pair_posterior(N * 2), weights(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    pair_posterior[i * 2] = posterior[i * K + a];
    pair_posterior[i * 2 + 1] = posterior[i * K + b];
    for (std::size_t k = 0; k < K; ++k) weights[k] += posterior[i * K + k];
  }
  // Filled from ranges (no zeroing first).
  std::vector<double> pair_alpha;
  pair_alpha.reserve(2 * S);
  if (start_alpha != nullptr) {
    pair_alpha.assign(start_alpha, start_alpha + 2 * S);
  } else {
    pair_alpha.insert(pair_alpha.end(), &state.log_alpha[a * S], &state.log_alpha[a * S] + S);
    pair_alpha.insert(pair_alpha.end(), &state.log_alpha[b * S], &state.log_alpha[b * S] + S);
  }
  const std::vector<ComponentHistograms> histograms =
      component_histograms(counts, pair_posterior, 2, executor);
  std::vector<unsigned char> pair_converged;
  unconverged = run_msteps(counts, histograms, pair_alpha, optimiser, executor, {},
                           &pair_converged);
  std::vector<double> pair_evidence;
  ColumnCache* cache = column_cache(state, counts);
  log_evidence(counts, pair_alpha, 2, executor, pair_evidence, cache);
  trial.n_components = K;
  // The state's lambda with a's and b's refitted, each column copied once.
  trial.log_alpha.clear();
  trial.log_alpha.reserve(K * S);
  for (std::size_t k = 0; k < K; ++k) {
    const double* column =
        k == a ? &pair_alpha[0] : k == b ? &pair_alpha[S] : &state.log_alpha[k * S];
    trial.log_alpha.insert(trial.log_alpha.end(), column, column + S);
  }
  trial.weights = std::move(weights);
  trial.posterior = std::move(posterior);
  if (optimiser.settled_change >= 0.0) {
    // The other components keep the state's settled M-steps.
    inherit_settled(state, trial);
    std::vector<bool> refit(K, false);
    std::vector<unsigned char> converged(K, 0);
    refit[a] = refit[b] = true;
    converged[a] = pair_converged[0];
    converged[b] = pair_converged[1];
    settle_components(trial, refit, converged, S);
  }
  return partial_nle(counts, evidence, pair_evidence, a, b, trial.weights, trial.log_alpha,
                     cache);
}

namespace {

// A state's transfer candidates (TransferCandidates, transfer.h) and what
// ranking them needs: the components' models, and per ordered pair (a, b)
// a's members in increasing order of their fixed-parameter cost e_ia - e_ib.
// The singles are ranked at once (rank_transfers()); the groups only when
// transfer_moves() comes to them (rank_groups()), once no single improves.
struct Ranking {
  TransferCandidates candidates;
  std::vector<ComponentHistograms> histograms;
  std::vector<ComponentModel> models;
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  std::vector<std::vector<std::pair<double, std::uint32_t>>> order;  // per pair
  bool groups_ranked = false, rests_ranked = false;
  // What the next ranking of the same transfer_moves() call reuses: a
  // component whose lambda and posterior column are bit for bit what they were
  // here (on deep tables, every component an accepted transfer did not touch:
  // EM keeps their settled M-steps, em.h) has the same model, its members the
  // same gain from leaving it, and every sample the same gain from joining it
  // (which depends on that component alone); a component whose lambda alone is
  // unchanged has the same evidence column. Those are taken from here instead
  // of computed again; the ranking is the one a fresh computation gives.
  std::vector<double> log_alpha, posterior;       // the state ranked
  std::vector<double> leave_gain, leave_spread;   // per sample
  std::vector<double> join_gain, join_spread;     // per sample and component, [i * K + b]
};

// Ranks the state's singles into `ranking`, from the table's rows (made once
// per transfer_moves() call) and the state's arg-max labels; the evidence at
// the state's parameters, which the trials reuse, is left in `evidence`. With
// `reuse`, `ranking` and `evidence` hold the last ranking's on entry, and what
// did not change is taken from them (Ranking). A
// single's promise is its fixed-parameter change and weights' term less what
// refitting its two components gains by refit_gain() (DESIGN.md section 8,
// "Every single transfer"); its `spread` is the part of that gain the
// second-order term for the taxa it does not count estimates.
void rank_transfers(const Counts& counts, const EmState& state, const SampleRows& rows,
                    const std::vector<std::size_t>& label, const Executor& executor,
                    bool reuse, std::vector<double>& evidence, Ranking& ranking) {
  const std::size_t N = counts.n_samples, S = counts.n_taxa, K = state.n_components;
  // The last ranking of this transfer_moves() call (empty for the first, or
  // without `reuse`).
  Ranking previous;
  if (reuse) previous = std::move(ranking);
  ranking = Ranking();
  TransferCandidates& out = ranking.candidates;
  // The last ranking's evidence, at previous.log_alpha (the trials only read it).
  std::vector<double> previous_evidence;
  if (reuse) previous_evidence.swap(evidence);
  evidence.clear();
  if (K < 2) return;
  // same_alpha: a component whose lambda is what it was (its evidence column
  // is too); kept: its posterior column as well (its model and every gain
  // computed with it are too).
  std::vector<char> kept(K, 0), same_alpha(K, 0);
  if (previous.models.size() == K && previous.log_alpha.size() == K * S &&
      previous.posterior.size() == N * K) {
    for (std::size_t k = 0; k < K; ++k) {
      same_alpha[k] = std::equal(&state.log_alpha[k * S], &state.log_alpha[k * S] + S,
                                 &previous.log_alpha[k * S]);
      bool same = same_alpha[k] != 0;
      for (std::size_t i = 0; i < N && same; ++i) {
        same = state.next_posterior[i * K + k] == previous.posterior[i * K + k];
      }
      kept[k] = same ? 1 : 0;
    }
  }
  std::vector<std::size_t>& members = out.members;
  members.assign(K, 0);
  for (std::size_t i = 0; i < N; ++i) ++members[label[i]];
  std::vector<ComponentHistograms>& histograms = ranking.histograms;
  histograms = component_histograms(counts, state.next_posterior, K, executor);
  std::vector<ComponentModel>& models = ranking.models;
  models.resize(K);
  std::vector<bool> live(K, false);
  for (std::size_t k = 0; k < K; ++k) live[k] = histograms[k].total > 0.0;
  for (std::size_t k = 0; k < K; ++k) {
    if (kept[k]) models[k] = std::move(previous.models[k]);
  }
  for_each_component(K, S, executor, [&](std::size_t k, const Executor& inner) {
    if (!live[k] || kept[k]) return;
    component_derivatives(counts, histograms[k], &state.log_alpha[k * S], inner, models[k].d);
    models[k].prepare(counts, histograms[k]);
  });
  // The evidence: the columns of components whose lambda moved, computed
  // again (each column depends on its component's lambda alone), the others
  // the last ranking's.
  std::vector<std::size_t> moved;
  for (std::size_t k = 0; k < K; ++k) {
    if (!same_alpha[k] || previous_evidence.size() != N * K) moved.push_back(k);
  }
  ColumnCache* cache = column_cache(state, counts);
  if (moved.size() == K) {
    log_evidence(counts, state.log_alpha, K, executor, evidence, cache);
  } else {
    evidence.swap(previous_evidence);
    if (!moved.empty()) {
      std::vector<double> moved_alpha(moved.size() * S), moved_evidence;
      for (std::size_t m = 0; m < moved.size(); ++m) {
        std::copy(&state.log_alpha[moved[m] * S], &state.log_alpha[moved[m] * S] + S,
                  &moved_alpha[m * S]);
      }
      log_evidence(counts, moved_alpha, moved.size(), executor, moved_evidence, cache);
      for (std::size_t i = 0; i < N; ++i) {
        for (std::size_t m = 0; m < moved.size(); ++m) {
          evidence[i * K + moved[m]] = moved_evidence[i * moved.size() + m];
        }
      }
    }
  }
  // What each sample's own component gains from its leaving (one per sample,
  // shared by its K - 1 candidates), and that gain's second-order part.
  std::vector<double>& leave_gain = ranking.leave_gain;
  std::vector<double>& leave_spread = ranking.leave_spread;
  leave_gain.assign(N, 0.0);
  leave_spread.assign(N, 0.0);
  executor.parallel_for(N, [&](std::size_t begin, std::size_t end) {
    std::vector<double> weights;
    for (std::size_t i = begin; i < end; ++i) {
      const std::size_t a = label[i];
      if (!live[a] || members[a] < 2) continue;
      if (kept[a]) {
        leave_gain[i] = previous.leave_gain[i];
        leave_spread[i] = previous.leave_spread[i];
        continue;
      }
      leave_gain[i] = refit_gain(counts, rows, i, models[a], histograms[a].pair.data(),
                                 -state.next_posterior[i * K + a], weights, leave_spread[i]);
    }
  });
  std::vector<double>& join_gain = ranking.join_gain;
  std::vector<double>& join_spread = ranking.join_spread;
  // NaN: not computed (a sample's own component, or one of too few members).
  join_gain.assign(N * K, std::numeric_limits<double>::quiet_NaN());
  join_spread.assign(N * K, 0.0);

  std::vector<std::pair<std::size_t, std::size_t>>& pairs = ranking.pairs;
  for (std::size_t a = 0; a < K; ++a) {
    if (!live[a] || members[a] < 2) continue;
    for (std::size_t b = 0; b < K; ++b) {
      if (b != a && live[b]) pairs.push_back({a, b});
    }
  }
  ranking.order.resize(pairs.size());
  // Each pair's candidates are its own (filled in parallel, gathered in pair order).
  std::vector<std::vector<TransferCandidate>> found(pairs.size());
  executor.parallel_for(pairs.size(), [&](std::size_t begin, std::size_t end) {
    std::vector<double> weights;
    for (std::size_t p = begin; p < end; ++p) {
      const std::size_t a = pairs[p].first, b = pairs[p].second;
      std::vector<std::pair<double, std::uint32_t>>& order = ranking.order[p];
      for (std::size_t i = 0; i < N; ++i) {
        if (label[i] == a) {
          order.push_back({evidence[i * K + a] - evidence[i * K + b], static_cast<std::uint32_t>(i)});
        }
      }
      std::stable_sort(order.begin(), order.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      const double wa = histograms[a].total, wb = histograms[b].total;
      for (const auto& member : order) {
        const std::size_t i = member.second;
        TransferCandidate c;
        c.samples = {member.second};
        c.from = a;
        c.to = b;
        double& gain = join_gain[i * K + b];
        double& spread = join_spread[i * K + b];
        // Joining b depends on b's model and the sample's posterior there alone.
        if (kept[b] && !std::isnan(previous.join_gain[i * K + b])) {
          gain = previous.join_gain[i * K + b];
          spread = previous.join_spread[i * K + b];
        } else {
          gain = refit_gain(counts, rows, i, models[b], histograms[b].pair.data(),
                            1.0 - state.next_posterior[i * K + b], weights, spread);
        }
        c.spread = leave_spread[i] + spread;
        c.predicted = member.first + weights_change(wa, wb, 1.0) - leave_gain[i] - gain;
        found[p].push_back(std::move(c));
      }
    }
  });
  for (auto& list : found) {
    for (auto& c : list) out.singles.push_back(std::move(c));
  }
  ranking.log_alpha = state.log_alpha;
  ranking.posterior = state.next_posterior;
  sort_by_promise(out.singles);
}

}  // namespace

std::vector<std::vector<std::uint32_t>> bisection_nodes(const Counts& counts,
                                                        const SquareRootProportions& roots,
                                                        const std::vector<std::uint64_t>& fingerprint,
                                                        std::vector<std::uint32_t> members,
                                                        const Executor& executor,
                                                        const std::function<void()>& between_rounds) {
  std::vector<std::vector<std::uint32_t>> nodes, open;
  std::sort(members.begin(), members.end());
  open.push_back(std::move(members));
  while (!open.empty()) {
    const std::vector<std::uint32_t> node = std::move(open.back());
    open.pop_back();
    if (node.size() < 3) continue;
    const HellingerPartition halves = hellinger_kmeans(
        counts, roots, node, fingerprint, 2, kTreeSeed, executor, kSplitLloydRounds, between_rounds);
    std::vector<std::uint32_t> parts[2];
    for (std::size_t m = 0; m < node.size(); ++m) parts[halves.label[m] == 1 ? 1 : 0].push_back(node[m]);
    if (parts[0].empty() || parts[1].empty()) continue;
    for (std::vector<std::uint32_t>& half : parts) {
      if (half.size() < 2) continue;
      nodes.push_back(half);
      open.push_back(std::move(half));
    }
  }
  return nodes;
}

std::vector<std::vector<std::uint32_t>> model_division(
    const Counts& counts, const SquareRootProportions& roots,
    const std::vector<std::uint64_t>& fingerprint, const std::vector<std::uint32_t>& members,
    const EmSettings& em, const OptimiserOptions& optimiser, const Executor& executor,
    const std::function<void()>& between_rounds) {
  std::vector<std::vector<std::uint32_t>> halves;
  const std::size_t n = members.size();
  if (n < 2) return halves;
  const HellingerPartition root = hellinger_kmeans(counts, roots, members, fingerprint, 2,
                                                   kTreeSeed, executor, kSplitLloydRounds,
                                                   between_rounds);
  std::vector<double> posterior(n * 2, 0.0);
  std::size_t second = 0;
  for (std::size_t m = 0; m < n; ++m) {
    const std::size_t half = root.label[m] == 1 ? 1 : 0;
    posterior[m * 2 + half] = 1.0;
    second += half;
  }
  if (second == 0 || second == n) return halves;
  const Counts pool = subset_table(counts, members, executor);
  const std::vector<double> centres = proportion_centres(pool, posterior, 2, executor);
  EmState state = state_from_posterior(pool, 2, std::move(posterior), centres, optimiser, executor);
  FitHooks quiet;
  quiet.check_interrupt = between_rounds;
  TransferSettings moves;
  moves.em = em;
  moves.em.verbose_iterations = false;
  moves.optimiser = optimiser;
  run_em(pool, state, moves.em, optimiser, executor, quiet);
  transfer_moves(pool, state, moves, executor, quiet);
  halves.resize(2);
  for (std::size_t m = 0; m < n; ++m) {
    const bool first = state.next_posterior[m * 2] >= state.next_posterior[m * 2 + 1];
    halves[first ? 0 : 1].push_back(members[m]);
  }
  return halves;
}

namespace {

// The division of `members` (sorted) by the model (model_division()), from
// settings.divisions when given (made there once per member set), else made
// here; it needs settings.roots and settings.fingerprint.
ModelDivisions::Halves division_halves(const Counts& counts, const TransferSettings& settings,
                                       const std::vector<std::uint32_t>& members,
                                       const Executor& executor,
                                       const std::function<void()>& between_rounds) {
  const auto divide = [&] {
    return model_division(counts, *settings.roots, *settings.fingerprint, members, settings.em,
                          settings.optimiser, executor, between_rounds);
  };
  return settings.divisions != nullptr ? settings.divisions->get(members, divide) : divide();
}

// Ranks the groups of `ranking` (once). For each pair (a, b): when a has at
// least kTreeMembers members and the samples' geometry is given, the nodes of
// a's bisection tree (bisection_nodes(), kept in `trees` by a's members);
// otherwise each prefix of two to members - 1 of a's members in their order
// of cost; the tree's nodes include the halves of a's division by the model
// (model_division(), from settings.divisions when given). Each promised by the
// Newton model (GroupTerms), whose quadratic in lambda over-promises for the
// taxa a single brings in or takes away. With `rests`, ranks the rests instead
// (once): for each node of a's tree, a's other members, when they are two or
// more and not a node themselves (the node stays in a as a community type of
// its own; DESIGN.md section 8).
void rank_groups(const Counts& counts, const SampleRows& rows, const Executor& executor,
                 const TransferSettings& settings, std::size_t K, BisectionTrees& trees,
                 const std::function<void()>& between_rounds, bool rests, Ranking& ranking) {
  bool& ranked = rests ? ranking.rests_ranked : ranking.groups_ranked;
  if (ranked) return;
  ranked = true;
  const std::size_t N = counts.n_samples, S = counts.n_taxa;
  executor.parallel_for(K, [&](std::size_t begin, std::size_t end) {
    for (std::size_t k = begin; k < end; ++k) {
      if (k < ranking.models.size() && !ranking.models[k].is_present.empty()) {
        ranking.models[k].complete_pairs(counts);
      }
    }
  });
  // Each component's tree, made from its members (in any of its pairs' order).
  std::vector<const std::vector<std::vector<std::uint32_t>>*> tree(K, nullptr);
  std::vector<const std::vector<std::uint32_t>*> tree_members(K, nullptr);  // sorted
  if (settings.fingerprint != nullptr && settings.fingerprint->size() == N &&
      settings.roots != nullptr) {
    for (std::size_t p = 0; p < ranking.pairs.size(); ++p) {
      const std::size_t a = ranking.pairs[p].first;
      if (tree[a] != nullptr || ranking.order[p].size() < kTreeMembers) continue;
      std::vector<std::uint32_t> members;
      for (const auto& o : ranking.order[p]) members.push_back(o.second);
      std::sort(members.begin(), members.end());
      auto known = trees.nodes.find(members);
      if (known == trees.nodes.end()) {
        std::vector<std::vector<std::uint32_t>> nodes =
            bisection_nodes(counts, *settings.roots, *settings.fingerprint, members, executor,
                            between_rounds);
        // The halves of the model's own division come first.
        for (std::vector<std::uint32_t>& half :
             division_halves(counts, settings, members, executor, between_rounds)) {
          if (half.size() >= 2 && half.size() < members.size() &&
              std::find(nodes.begin(), nodes.end(), half) == nodes.end()) {
            nodes.insert(nodes.begin(), std::move(half));
          }
        }
        known = trees.nodes.emplace(std::move(members), std::move(nodes)).first;
      }
      tree[a] = &known->second;
      tree_members[a] = &known->first;
    }
  }
  // What leaving a promises (its decrement) for each node of a's tree, or with
  // `rests` for each node's rest (the members less the node; empty when not
  // offered: fewer than two samples, or a node itself): the same for every
  // target component, so computed once per node rather than per pair.
  std::vector<std::vector<double>> leave_gain(K);
  std::vector<std::vector<std::vector<std::uint32_t>>> rest_of(K);
  executor.parallel_for(K, [&](std::size_t begin, std::size_t end) {
    GroupTerms leave;
    for (std::size_t a = begin; a < end; ++a) {
      if (tree[a] == nullptr) continue;
      const ComponentModel& from = ranking.models[a];
      const std::vector<std::vector<std::uint32_t>>& nodes = *tree[a];
      const auto leave_decrement = [&](const GroupTerms& g) { return g.decrement(from, 1.0); };
      if (!rests) {
        for (const std::vector<std::uint32_t>& node : nodes) {
          leave.reset(S);
          for (std::uint32_t i : node) leave.add(counts, rows, i, from);
          leave_gain[a].push_back(leave_decrement(leave));
        }
        continue;
      }
      const std::vector<std::uint32_t>& members = *tree_members[a];
      const std::set<std::vector<std::uint32_t>> is_node(nodes.begin(), nodes.end());
      leave.reset(S);
      for (std::uint32_t i : members) leave.add(counts, rows, i, from);
      for (const std::vector<std::uint32_t>& node : nodes) {
        std::vector<std::uint32_t> rest;
        std::set_difference(members.begin(), members.end(), node.begin(), node.end(),
                            std::back_inserter(rest));
        const bool offered = rest.size() >= 2 && is_node.count(rest) == 0;
        leave_gain[a].push_back(offered ? leave.without(counts, rows, node, from, leave_decrement)
                                        : 0.0);
        rest_of[a].push_back(offered ? std::move(rest) : std::vector<std::uint32_t>());
      }
    }
  });
  std::vector<std::vector<TransferCandidate>> found(ranking.pairs.size());
  executor.parallel_for(ranking.pairs.size(), [&](std::size_t begin, std::size_t end) {
    GroupTerms leave, join;
    std::vector<double> cost_of;
    for (std::size_t p = begin; p < end; ++p) {
      const std::size_t a = ranking.pairs[p].first, b = ranking.pairs[p].second;
      const std::vector<std::pair<double, std::uint32_t>>& order = ranking.order[p];
      const ComponentModel& from = ranking.models[a];
      const ComponentModel& to = ranking.models[b];
      const double wa = ranking.histograms[a].total, wb = ranking.histograms[b].total;
      // A candidate: its fixed-parameter cost and weights' term, less what
      // refitting a without the samples and b with them promises.
      const auto add = [&](const std::vector<std::uint32_t>& samples, double cost,
                           double leave_decrement, double join_decrement) {
        TransferCandidate c;
        c.samples = samples;
        c.from = a;
        c.to = b;
        c.predicted = cost + weights_change(wa, wb, static_cast<double>(samples.size())) -
                      leave_decrement - join_decrement;
        found[p].push_back(std::move(c));
      };
      if (tree[a] != nullptr) {
        cost_of.resize(N);
        for (const auto& o : order) cost_of[o.second] = o.first;
        // join made the terms of `samples`; returns their cost.
        const auto terms_of = [&](const std::vector<std::uint32_t>& samples) {
          join.reset(S);
          double cost = 0.0;
          for (std::uint32_t i : samples) {
            cost += cost_of[i];
            join.add(counts, rows, i, to);
          }
          return cost;
        };
        const std::vector<std::vector<std::uint32_t>>& nodes = *tree[a];
        if (!rests) {
          for (std::size_t n = 0; n < nodes.size(); ++n) {
            const double cost = terms_of(nodes[n]);
            add(nodes[n], cost, leave_gain[a][n], join.decrement(to, -1.0));
          }
          continue;
        }
        // The rests: every member's terms once, each node's taken out.
        const double total = terms_of(*tree_members[a]);
        for (std::size_t n = 0; n < nodes.size(); ++n) {
          if (rest_of[a][n].empty()) continue;
          double cost = total;
          for (std::uint32_t i : nodes[n]) cost -= cost_of[i];
          add(rest_of[a][n], cost, leave_gain[a][n],
              join.without(counts, rows, nodes[n], to,
                           [&](const GroupTerms& g) { return g.decrement(to, -1.0); }));
        }
        continue;
      }
      if (rests) continue;
      leave.reset(S);
      join.reset(S);
      double cost = 0.0;
      std::vector<std::uint32_t> prefix;
      for (std::size_t m = 0; m + 1 < order.size(); ++m) {
        cost += order[m].first;
        leave.add(counts, rows, order[m].second, from);
        join.add(counts, rows, order[m].second, to);
        prefix.push_back(order[m].second);
        if (m > 0) add(prefix, cost, leave.decrement(from, 1.0), join.decrement(to, -1.0));
      }
    }
  });
  std::vector<TransferCandidate>& groups =
      rests ? ranking.candidates.rests : ranking.candidates.groups;
  for (auto& list : found) {
    for (auto& c : list) groups.push_back(std::move(c));
  }
  sort_by_promise(groups);
}

// The division moves of a state whose other transfers all failed: for each
// component a of kTreeMembers members or more, in order, its division by the
// model (model_division(), through settings.divisions when given), each half
// moved to each other component b of positive weight in turn, by `attempt`
// (the trial, its memo and record), until one is kept. The trials carry no
// promise (NaN): they are tried whatever the Newton model says, since a half
// that only fits elsewhere after EM has moved its neighbours too is promised
// no decrease (DESIGN.md section 8, "Division moves"). Returns whether one was
// kept.
bool try_division_moves(const Counts& counts, const TransferSettings& settings, std::size_t K,
                        const std::vector<std::size_t>& members_of,
                        const std::vector<std::size_t>& label, const Executor& executor,
                        const FitHooks& hooks,
                        const std::function<bool(const TransferCandidate&)>& attempt) {
  const std::size_t N = label.size();
  for (std::size_t a = 0; a < K; ++a) {
    if (members_of[a] < kTreeMembers) continue;
    std::vector<std::uint32_t> members;
    members.reserve(members_of[a]);
    for (std::size_t i = 0; i < N; ++i) {
      if (label[i] == a) members.push_back(static_cast<std::uint32_t>(i));
    }
    const ModelDivisions::Halves halves =
        division_halves(counts, settings, members, executor, hooks.check_interrupt);
    for (const std::vector<std::uint32_t>& half : halves) {
      if (half.empty() || half.size() >= members.size()) continue;
      for (std::size_t b = 0; b < K; ++b) {
        if (b == a || members_of[b] == 0) continue;
        TransferCandidate c;
        c.samples = half;
        c.from = a;
        c.to = b;
        c.predicted = std::numeric_limits<double>::quiet_NaN();
        if (attempt(c)) return true;
      }
    }
  }
  return false;
}

}  // namespace

bool keep_if_lower(const Counts& counts, EmState& state, EmState& trial, double trial_nle,
                   int unconverged_msteps, const EmSettings& em,
                   const OptimiserOptions& optimiser, const Executor& executor,
                   const FitHooks& hooks, AcceptedMoves& kept, double& nle_after,
                   int& em_iterations) {
  nle_after = trial_nle;
  const double threshold = convergence_threshold(em, state.nle);
  if (!(trial_nle < state.nle - threshold)) return false;
  // The trial's NLE is the NLE up to rounding; the full pass decides.
  trial.unconverged_msteps = unconverged_msteps;
  evaluate_state(counts, trial, executor);
  // The trial's parameters are M-steps: the two components refitted to
  // convergence on its posteriors, the others the state's, fitted to the
  // state's posteriors, which differ from the trial's only in the moved rows
  // and by EM's last step. So the evaluated trial is (nearly) an EM iterate, and
  // EM from it may stop at its first step, still only when that step changes
  // the NLE by at most the threshold (a start's first step never counts).
  trial.from_em = true;
  nle_after = trial.nle;
  if (!(trial.nle < state.nle - threshold)) return false;
  EmSettings on = em;
  on.verbose_iterations = false;
  const EmRun run = run_em(counts, trial, on, optimiser, executor, hooks);
  em_iterations = run.iterations;
  state = std::move(trial);
  kept.add(state.nle, run);
  return true;
}

bool keep_after_em(const Counts& counts, EmState& state, EmState& trial, int unconverged_msteps,
                   const EmSettings& em, double same, const OptimiserOptions& optimiser,
                   const Executor& executor, const FitHooks& hooks, AcceptedMoves& kept,
                   double& nle_after, int& em_iterations) {
  const std::size_t K = state.n_components;
  const double threshold = convergence_threshold(em, state.nle);
  trial.unconverged_msteps = unconverged_msteps;
  evaluate_state(counts, trial, executor);
  // The trial's parameters are M-steps (as in keep_if_lower()).
  trial.from_em = true;
  const std::vector<std::size_t> labels = arg_max_labels(state.next_posterior, K);
  EmSettings on = em;
  on.verbose_iterations = false;
  on.target = state.nle - threshold - same * std::fabs(state.nle);
  on.stop_if = [&labels, K](const EmState& at) {
    return arg_max_labels(at.next_posterior, K) == labels;
  };
  // Most failing trials give the partition back at EM's first step: that one
  // is a plain step, so it is seen at once; SQUAREM takes over from there.
  EmSettings first = on;
  first.accelerate = false;
  first.max_iterations = std::min(1, em.max_iterations);
  EmRun run = run_em(counts, trial, first, optimiser, executor, hooks);
  // EM on from where `run` stopped, as one run with it.
  const auto run_on = [&](const EmSettings& settings) {
    EmSettings rest = settings;
    rest.max_iterations = std::max(0, em.max_iterations - run.iterations);
    const EmRun more = run_em(counts, trial, rest, optimiser, executor, hooks);
    run.iterations += more.iterations;
    run.extrapolations += more.extrapolations;
    run.converged = more.converged;
    run.abandoned = more.abandoned;
    run.nle_trace.insert(run.nle_trace.end(), more.nle_trace.begin(), more.nle_trace.end());
  };
  if (!run.converged && !run.abandoned && !on.stop_if(trial)) run_on(on);
  em_iterations = run.iterations;
  nle_after = trial.nle;
  if (run.abandoned || !(trial.nle < state.nle - threshold)) return false;
  if (!run.converged) {
    // Stopped by stop_if on the way down: EM runs on without it.
    on.stop_if = nullptr;
    on.target = std::numeric_limits<double>::infinity();
    run_on(on);
    em_iterations = run.iterations;
    nle_after = trial.nle;
    if (!(trial.nle < state.nle - threshold)) return false;
  }
  state = std::move(trial);
  kept.add(state.nle, run);
  return true;
}

std::vector<std::uint64_t> member_keys(const std::vector<std::size_t>& label, std::size_t K) {
  std::vector<std::uint64_t> key(K, 0);
  for (std::size_t i = 0; i < label.size(); ++i) key[label[i]] += splitmix64_first(i);
  return key;
}

TransferResult transfer_moves(const Counts& counts, EmState& state,
                              const TransferSettings& settings, const Executor& executor,
                              const FitHooks& hooks, TransferMemo* memo,
                              const KnownOptima* known) {
  const std::size_t K = state.n_components;
  TransferResult result;
  if (K < 2) {
    result.exhausted = true;
    return result;
  }
  // The row view: the roots' when they have one.
  SampleRows own_rows;
  const SampleRows* table_rows = settings.roots != nullptr ? settings.roots->rows() : nullptr;
  if (table_rows == nullptr) {
    own_rows = sample_rows(counts);
    table_rows = &own_rows;
  }
  const SampleRows& rows = *table_rows;
  std::vector<double> evidence;
  const std::size_t N = counts.n_samples;
  std::vector<std::uint64_t> sample_key(N);
  for (std::size_t i = 0; i < N; ++i) sample_key[i] = splitmix64_first(i);
  TransferMemo own;
  std::unordered_set<std::uint64_t>& failed = (memo != nullptr ? *memo : own).failed;
  std::vector<std::uint64_t> members_key;
  Ranking ranking;
  int tried = 0;
  while (tried < settings.max_trials) {
    const std::vector<std::size_t> label = arg_max_labels(state.next_posterior, K);
    rank_transfers(counts, state, rows, label, executor, settings.reuse_rankings, evidence,
                   ranking);
    const TransferCandidates& ranked = ranking.candidates;
    hooks.check_interrupt();
    members_key = member_keys(label, K);
    // The key of a trial (TransferMemo): its samples and the members of the
    // components it moves them from and to, not their indices (split-merge
    // renumbers components).
    const auto trial_key = [&](const TransferCandidate& c) {
      std::uint64_t h = 0;
      for (std::uint32_t i : c.samples) h += sample_key[i];
      h = splitmix64_finalise(h);
      h = splitmix64_finalise(h + members_key[c.from]);
      return splitmix64_finalise(h + members_key[c.to]);
    };
    // The singles to try, in the order of their promise: every one with
    // all_singles; otherwise those that promise a decrease, and those into a
    // component of one member, whose promise has nothing to stand on (the
    // taxa that member counts are "anchored" by it alone, and its parameters
    // fit it alone: a single into it gained at its trial, and EM from there
    // thousands, where its promise was a loss of hundreds, test-search.R).
    // Singles whose promise is a loss smaller than its second-order part (the
    // one estimate in it, refit_gain()) are `near`: tried once no promising
    // single improves the state.
    std::vector<TransferCandidate> singles, near;
    for (const TransferCandidate& c : ranked.singles) {
      if (settings.all_singles || c.predicted < 0.0 || ranked.members[c.to] == 1) {
        singles.push_back(c);
      } else if (c.predicted < c.spread) {
        near.push_back(c);
      }
    }
    // Runs the trial of `c` unless the memo has it; returns whether it was kept.
    const auto try_candidate = [&](const TransferCandidate& c) {
      const std::uint64_t key = trial_key(c);
      if (failed.count(key) != 0) return false;
      ++tried;
      EmState trial;
      trial.workspace = state.workspace;
      int unconverged = 0;
      // The two components are refitted as an M-step would be, to convergence.
      // The trial's NLE is exact at the parameters reached, so a cut-short
      // refit never makes a trial look better, only worse: on wide tables a
      // moved sample brings in or takes away hundreds of taxa whose lambda must
      // move by several units (more than max_step), and three Newton steps
      // rejected moves that gain hundreds of NLE units (DESIGN.md section 8).
      const std::vector<double> start =
          settings.join_start && c.to < ranking.models.size()
              ? trial_start(counts, rows, state, ranking.models[c.to], c)
              : std::vector<double>();
      const double nle = try_transfer(counts, state, evidence, c, settings.optimiser, executor,
                                      trial, unconverged, start.empty() ? nullptr : start.data());
      hooks.check_interrupt();
      TransferRecord record;
      record.from = static_cast<int>(c.from);
      record.to = static_cast<int>(c.to);
      record.samples = static_cast<int>(c.samples.size());
      record.predicted = c.predicted;
      record.nle_before = state.nle;
      record.accepted =
          keep_if_lower(counts, state, trial, nle, state.unconverged_msteps, settings.em,
                        settings.optimiser, executor, hooks, result, record.nle_after,
                        record.em_iterations);
      // A group moves many samples at once, and after its refit others may
      // want to follow or go back: it is judged after EM.
      if (!record.accepted && c.samples.size() >= 2 && settings.groups_after_em) {
        record.accepted = keep_after_em(counts, state, trial, unconverged, settings.em,
                                        settings.same_optimum, settings.optimiser, executor,
                                        hooks, result, record.nle_after, record.em_iterations);
      }
      if (record.accepted) {
        if (hooks.verbose) {
          hooks.message(format_message("  transfer of %.0f sample(s) %.0f -> ",
                                       static_cast<double>(c.samples.size()), c.from + 1.0) +
                        format_message("%.0f: NLE %.4f -> %.4f", c.to + 1.0, record.nle_before,
                                       record.nle_after));
        }
      } else {
        failed.insert(key);
      }
      result.trials.push_back(record);
      return record.accepted;
    };
    // The singles chosen above, then the near ones, then groups and rests until
    // max_failures of them failed or they promise no decrease: on real tables
    // a group was kept in about one trial of a hundred, so they wait until
    // no single improves the state (and are ranked only then).
    bool accepted = false;
    for (const std::vector<TransferCandidate>* list : {&singles, &near}) {
      for (std::size_t c = 0; c < list->size() && !accepted && tried < settings.max_trials; ++c) {
        accepted = try_candidate((*list)[c]);
      }
    }
    if (!accepted && tried < settings.max_trials) {
      // Groups, then rests, until max_failures of them failed: the rests are
      // ranked only when the groups left some of those trials, or when they
      // have failures of their own.
      int failures = 0;
      for (const bool rests : {false, true}) {
        if (rests && settings.rests_own_failures) failures = 0;
        if (accepted || failures >= settings.max_failures) break;
        rank_groups(counts, rows, executor, settings, K, (memo != nullptr ? *memo : own).trees,
                    hooks.check_interrupt, rests, ranking);
        const std::vector<TransferCandidate>& groups = rests ? ranked.rests : ranked.groups;
        for (std::size_t g = 0; g < groups.size() && !accepted && tried < settings.max_trials &&
                                failures < settings.max_failures && groups[g].predicted < 0.0;
             ++g, ++failures) {
          accepted = try_candidate(groups[g]);
        }
      }
    }
    // Division moves, once nothing above improves the state: each half of a
    // component's division by the model moved to each other component,
    // whatever it promises (DESIGN.md section 8, "Division moves").
    if (!accepted && tried < settings.max_trials && settings.division_moves &&
        settings.roots != nullptr && settings.fingerprint != nullptr &&
        settings.fingerprint->size() == N) {
      accepted = try_division_moves(counts, settings, K, ranked.members, label, executor, hooks,
                                    [&](const TransferCandidate& c) {
                                      return tried < settings.max_trials && try_candidate(c);
                                    });
    }
    if (!accepted) {
      result.exhausted = tried < settings.max_trials;
      break;
    }
    if (reached_known_optimum(known, state, result)) break;
  }
  return result;
}

}  // namespace fastdmm
