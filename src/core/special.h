// Thread-safe special functions and the differences lgamma(a + c) - lgamma(a) (and psi, psi1) the model needs.
#ifndef FASTDMM_SPECIAL_H
#define FASTDMM_SPECIAL_H

#include <cmath>
#include <cstddef>

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

namespace fastdmm {

// No errno, no exceptions, no promotion to long double: plain IEEE results that are
// safe to compute in worker threads.
using special_policy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::pole_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::promote_double<false>>;

inline double log_gamma(double x) {
#if defined(__GLIBC__) || defined(__APPLE__)
  // std::lgamma writes the global `signgam`; lgamma_r does not.
  int sign;
  return ::lgamma_r(x, &sign);
#else
  return boost::math::lgamma(x, special_policy());
#endif
}

inline double digamma(double x) { return boost::math::digamma(x, special_policy()); }

inline double trigamma(double x) { return boost::math::trigamma(x, special_policy()); }

// lgamma, psi and psi1 at one point x > 0, whichever are asked for, from one log
// and one reciprocal: the recurrences lgamma(x) = lgamma(x + 1) - log(x),
// psi(x) = psi(x + 1) - 1/x, psi1(x) = psi1(x + 1) + 1/x^2 lift x to y >= 10, where
// the Stirling series (Abramowitz & Stegun 6.1.41, 6.3.18, 6.4.12) truncated
// after the y^-13 (lgamma), y^-14 (psi) and y^-15 (psi1) terms are accurate to
// about 1e-16 relative. Cheaper than the general-purpose functions, and the
// walks below call it only where count values jump (DESIGN.md section 2).
struct GammaValues {
  double lgamma = 0.0;
  double digamma = 0.0;
  double trigamma = 0.0;
};

template <bool kLog, bool kPolygamma>
inline GammaValues gamma_values(double x) {
  GammaValues out;
  double product = 1.0, log_shift = 0.0, psi_shift = 0.0, psi1_shift = 0.0;
  const bool lifted = x < 10.0;
  while (x < 10.0) {
    if (kLog) {
      product *= x;
      // x can be far below 1 (alpha of absent taxa): keep the product normal.
      if (product < 1e-280) {
        log_shift += std::log(product);
        product = 1.0;
      }
    }
    if (kPolygamma) {
      const double inverse = 1.0 / x;
      psi_shift += inverse;
      psi1_shift += inverse * inverse;
    }
    x += 1.0;
  }
  const double inverse = 1.0 / x, inverse2 = inverse * inverse;
  // One log for both series (the compiler may not merge two calls of std::log,
  // which can set errno).
  const double log_x = std::log(x);
  if (kLog) {
    constexpr double kHalfLogTwoPi = 0.91893853320467274178;
    const double series =
        inverse * (1.0 / 12 + inverse2 * (-1.0 / 360 + inverse2 * (1.0 / 1260 + inverse2 * (
        -1.0 / 1680 + inverse2 * (1.0 / 1188 + inverse2 * (-691.0 / 360360 + inverse2 * (1.0 / 156)))))));
    out.lgamma = (x - 0.5) * log_x - x + kHalfLogTwoPi + series;
    // Without a lift the shift is log(1) = 0: no second log.
    if (lifted) out.lgamma -= log_shift + std::log(product);
  }
  if (kPolygamma) {
    const double psi_series =
        inverse2 * (1.0 / 12 + inverse2 * (-1.0 / 120 + inverse2 * (1.0 / 252 + inverse2 * (
        -1.0 / 240 + inverse2 * (1.0 / 132 + inverse2 * (-691.0 / 32760 + inverse2 * (1.0 / 12)))))));
    out.digamma = log_x - 0.5 * inverse - psi_series - psi_shift;
    const double psi1_series =
        inverse * inverse2 * (1.0 / 6 + inverse2 * (-1.0 / 30 + inverse2 * (1.0 / 42 + inverse2 * (
        -1.0 / 30 + inverse2 * (5.0 / 66 + inverse2 * (-691.0 / 2730 + inverse2 * (7.0 / 6)))))));
    out.trigamma = inverse + 0.5 * inverse2 + psi1_series + psi1_shift;
  }
  return out;
}

// Distinct count values at most this far above the previous one are reached by
// the recurrences over the gap, which costs less than gamma_values() (DESIGN.md
// section 2, "Special functions"): one log of the product of the gap's terms
// a + m, and 1/(a + m) and 1/(a + m)^2 each. A walk of the lgamma differences
// alone costs one log and a product per value, so it walks longer gaps. Terms
// below kWalkTop keep a product of 8 of them finite (and each term but the
// first is at least 1, so it does not underflow); higher values take the series.
constexpr double kWalkGap = 3.0;
constexpr double kLogWalkGap = 8.0;
constexpr double kWalkTop = 1e30;

// Calls visit(m, L, D, T) with L = lgamma(a + v[m]) - lgamma(a),
// D = psi(a + v[m]) - psi(a) and T = psi1(a + v[m]) - psi1(a) (only the ones asked
// for; the others are 0) for increasing positive integers v[0..n), walking the
// values in order so that short gaps cost a log and a few reciprocals. With
// `weights`, values of weight exactly zero are not visited (they would add
// nothing to a weighted sum; with 0/1 posteriors most of a component's values
// belong to other components' samples).
template <bool kLog, bool kPolygamma, typename Visit>
inline void walk_gamma_differences(double a, const double* v, std::size_t n, Visit visit,
                                   const double* weights = nullptr) {
  constexpr double gap = kPolygamma ? kWalkGap : kLogWalkGap;
  double previous = 0.0, log_sum = 0.0, psi_sum = 0.0, psi1_sum = 0.0;
  GammaValues at_a;
  bool have_a = false;
  for (std::size_t m = 0; m < n; ++m) {
    if (weights != nullptr && weights[m] == 0.0) continue;
    const double value = v[m];
    if (value - previous <= gap && a + value < kWalkTop) {
      if (kLog) {
        double product = 1.0;
        for (double c = previous; c < value; c += 1.0) product *= a + c;
        log_sum += std::log(product);
      }
      if (kPolygamma) {
        for (double c = previous; c < value; c += 1.0) {
          const double inverse = 1.0 / (a + c);
          psi_sum += inverse;
          psi1_sum -= inverse * inverse;
        }
      }
    } else {
      if (!have_a) {
        at_a = gamma_values<kLog, kPolygamma>(a);
        have_a = true;
      }
      const GammaValues at_value = gamma_values<kLog, kPolygamma>(a + value);
      log_sum = at_value.lgamma - at_a.lgamma;
      psi_sum = at_value.digamma - at_a.digamma;
      psi1_sum = at_value.trigamma - at_a.trigamma;
    }
    previous = value;
    visit(m, log_sum, psi_sum, psi1_sum);
  }
}

// out[m] = lgamma(a + v[m]) - lgamma(a).
inline void lgamma_differences(double a, const double* v, std::size_t n, double* out) {
  walk_gamma_differences<true, false>(a, v, n, [out](std::size_t m, double difference, double,
                                                     double) { out[m] = difference; });
}

struct GammaSums {
  double lgamma = 0.0;    // sum_m w[m] (lgamma(a + v[m]) - lgamma(a))
  double digamma = 0.0;   // sum_m w[m] (psi(a + v[m]) - psi(a))
  double trigamma = 0.0;  // sum_m w[m] (psi1(a + v[m]) - psi1(a))
};

// The weighted sums of the differences asked for, in one walk.
template <bool kLog, bool kPolygamma>
inline GammaSums weighted_gamma_differences(double a, const double* v, const double* w,
                                            std::size_t n) {
  GammaSums total;
  walk_gamma_differences<kLog, kPolygamma>(
      a, v, n,
      [&total, w](std::size_t m, double log_difference, double psi_difference,
                  double psi1_difference) {
        if (kLog) total.lgamma += w[m] * log_difference;
        if (kPolygamma) {
          total.digamma += w[m] * psi_difference;
          total.trigamma += w[m] * psi1_difference;
        }
      },
      w);
  return total;
}

// exp() over one component's lambdas, taxon by taxon, that computes a repeated
// value once: the taxa a component's samples do not count all share one lambda
// (the M-step's shared variable, mstep.cpp), so on wide tables most of a
// component's lambdas are one number. A value met twice in a row becomes the
// remembered one. The results are exp()'s own, bit for bit.
class RepeatedExp {
 public:
  double operator()(double x) {
    if (x == remembered_) return remembered_exp_;
    const double e = std::exp(x);
    if (x == last_) {
      remembered_ = x;
      remembered_exp_ = e;
    }
    last_ = x;
    return e;
  }

 private:
  double last_ = std::nan("");
  double remembered_ = std::nan("");
  double remembered_exp_ = 0.0;
};

}  // namespace fastdmm

#endif
