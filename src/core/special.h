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

// Distinct count values closer than this to the previous one are reached by summing
// log(a + m) (or 1/(a + m), 1/(a + m)^2) over the gap, which is cheaper than a special
// function call (design section 2, "Special functions").
constexpr double kLogSumGap = 3.0;
constexpr double kReciprocalSumGap = 32.0;

// Calls visit(m, lgamma(a + v[m]) - lgamma(a)) for increasing positive integers
// v[0..n), walking the values in order so that short gaps cost a few logs. With
// `weights`, values of weight exactly zero are not visited (they would add
// nothing to a weighted sum; with 0/1 posteriors most of a component's values
// belong to other components' samples).
template <typename Visit>
inline void walk_lgamma_differences(double a, const double* v, std::size_t n, Visit visit,
                                    const double* weights = nullptr) {
  double previous = 0.0, sum = 0.0, lgamma_a = 0.0;
  bool have_lgamma_a = false;
  for (std::size_t m = 0; m < n; ++m) {
    if (weights != nullptr && weights[m] == 0.0) continue;
    const double value = v[m];
    if (value - previous <= kLogSumGap) {
      for (double c = previous; c < value; c += 1.0) sum += std::log(a + c);
    } else {
      if (!have_lgamma_a) {
        lgamma_a = log_gamma(a);
        have_lgamma_a = true;
      }
      sum = log_gamma(a + value) - lgamma_a;
    }
    previous = value;
    visit(m, sum);
  }
}

// out[m] = lgamma(a + v[m]) - lgamma(a).
inline void lgamma_differences(double a, const double* v, std::size_t n, double* out) {
  walk_lgamma_differences(a, v, n, [out](std::size_t m, double difference) {
    out[m] = difference;
  });
}

// sum_m w[m] * (lgamma(a + v[m]) - lgamma(a)).
inline double weighted_lgamma_difference(double a, const double* v, const double* w,
                                         std::size_t n) {
  double total = 0.0;
  walk_lgamma_differences(a, v, n, [&total, w](std::size_t m, double difference) {
    total += w[m] * difference;
  }, w);
  return total;
}

struct PolygammaSums {
  double digamma = 0.0;   // sum_m w[m] (psi(a + v[m]) - psi(a))
  double trigamma = 0.0;  // sum_m w[m] (psi1(a + v[m]) - psi1(a))
};

// For integer c, psi(a + c) - psi(a) = sum_{m < c} 1 / (a + m) and
// psi1(a + c) - psi1(a) = -sum_{m < c} 1 / (a + m)^2.
inline PolygammaSums weighted_polygamma_differences(double a, const double* v,
                                                    const double* w, std::size_t n) {
  PolygammaSums total;
  double previous = 0.0, psi_sum = 0.0, psi1_sum = 0.0;
  double psi_a = 0.0, psi1_a = 0.0;
  bool have_a = false;
  for (std::size_t m = 0; m < n; ++m) {
    if (w[m] == 0.0) continue;  // adds nothing (see walk_lgamma_differences)
    const double value = v[m];
    if (value - previous <= kReciprocalSumGap) {
      for (double c = previous; c < value; c += 1.0) {
        const double inverse = 1.0 / (a + c);
        psi_sum += inverse;
        psi1_sum -= inverse * inverse;
      }
    } else {
      if (!have_a) {
        psi_a = digamma(a);
        psi1_a = trigamma(a);
        have_a = true;
      }
      psi_sum = digamma(a + value) - psi_a;
      psi1_sum = trigamma(a + value) - psi1_a;
    }
    previous = value;
    total.digamma += w[m] * psi_sum;
    total.trigamma += w[m] * psi1_sum;
  }
  return total;
}

}  // namespace fastdmm

#endif
