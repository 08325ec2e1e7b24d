// Rcpp glue of the mixture sampler (rdmm(sparse = TRUE)): checks what R passes, runs
// the core's sampler, returns the slots of a dgCMatrix.
#include "glue.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "core/sample.h"

namespace {

// Two 64-bit seed words from four 32-bit words (whole numbers in [0, 2^32), drawn
// from R's random number generator by rdmm()).
void seed_words(const Rcpp::NumericVector& seed, std::uint64_t out[2]) {
  if (seed.size() != 4) Rcpp::stop("'seed' must hold 4 words");
  std::uint64_t word[4];
  for (int m = 0; m < 4; ++m) {
    const double value = seed[m];
    if (!(value >= 0.0 && value < 4294967296.0) || value != std::floor(value)) {
      Rcpp::stop("'seed' words must be whole numbers in [0, 2^32)");
    }
    word[m] = static_cast<std::uint64_t>(value);
  }
  out[0] = (word[0] << 32) | word[1];
  out[1] = (word[2] << 32) | word[3];
}

// The sampler's input, refused here if out of range whatever the R object holds.
fastdmm::MixtureDraw mixture_draw(const Rcpp::NumericMatrix& alpha,
                                  const Rcpp::IntegerVector& component,
                                  const Rcpp::IntegerVector& depth,
                                  std::vector<int>& component0) {
  const R_xlen_t n = component.size();
  if (alpha.nrow() < 1 || alpha.ncol() < 1) Rcpp::stop("'alpha' must have taxa and components");
  if (depth.size() != n) Rcpp::stop("'depth' must have one value per sample");
  for (int k = 0; k < alpha.ncol(); ++k) {
    double total = 0.0;
    for (int j = 0; j < alpha.nrow(); ++j) {
      const double a = alpha(j, k);
      if (!(a > 0.0) || !std::isfinite(a)) Rcpp::stop("'alpha' must be finite and positive");
      total += a;
    }
    if (!std::isfinite(total)) Rcpp::stop("'alpha' must have finite column sums");
  }
  component0.resize(static_cast<std::size_t>(n));
  for (R_xlen_t i = 0; i < n; ++i) {
    if (component[i] == NA_INTEGER || component[i] < 1 || component[i] > alpha.ncol()) {
      Rcpp::stop("'component' must hold component numbers");
    }
    if (depth[i] == NA_INTEGER || depth[i] < 0) Rcpp::stop("'depth' must be non-negative");
    component0[static_cast<std::size_t>(i)] = component[i] - 1;
  }
  fastdmm::MixtureDraw draw;
  draw.n_samples = static_cast<std::size_t>(n);
  draw.n_taxa = static_cast<std::size_t>(alpha.nrow());
  draw.n_components = static_cast<std::size_t>(alpha.ncol());
  draw.alpha = alpha.begin();
  draw.component = component0.data();
  draw.depth = depth.begin();
  return draw;
}

}  // namespace

// Counts of samples drawn from a Dirichlet-multinomial mixture: sample i from
// component component[i] (1-based) with depth[i] counts, alpha taxa x components.
// Returns the dgCMatrix slots i (0-based rows), p and x, and nnz; when the table has
// more non-zeros than a dgCMatrix holds (2^31 - 1), only nnz.
// [[Rcpp::export(.rdmm_sparse)]]
Rcpp::List rdmm_sparse(const Rcpp::NumericMatrix& alpha, const Rcpp::IntegerVector& component,
                       const Rcpp::IntegerVector& depth, const Rcpp::NumericVector& seed,
                       int threads) {
  if (threads < 1) Rcpp::stop("'threads' must be at least 1");
  std::vector<int> component0;
  fastdmm::MixtureDraw draw = mixture_draw(alpha, component, depth, component0);
  seed_words(seed, draw.seed);
  const fastdmm_glue::RcppParallelExecutor executor(threads);
  fastdmm::SampledTable table =
      fastdmm::sample_mixture(draw, executor, [] { Rcpp::checkUserInterrupt(); });
  const double nnz = static_cast<double>(table.nnz);
  if (table.nnz > INT_MAX) return Rcpp::List::create(Rcpp::Named("nnz") = nnz);
  Rcpp::IntegerVector p(static_cast<R_xlen_t>(draw.n_taxa) + 1);
  // Every entry is written by compress_columns().
  Rcpp::IntegerVector i(Rcpp::no_init(static_cast<R_xlen_t>(table.nnz)));
  Rcpp::NumericVector x(Rcpp::no_init(static_cast<R_xlen_t>(table.nnz)));
  // Written once, in scattered order, by compress_columns().
  fastdmm::prefer_huge_pages(i.begin(), sizeof(int) * static_cast<std::size_t>(table.nnz));
  fastdmm::prefer_huge_pages(x.begin(), sizeof(double) * static_cast<std::size_t>(table.nnz));
  fastdmm::compress_columns(table, executor, p.begin(), i.begin(), x.begin());
  return Rcpp::List::create(Rcpp::Named("i") = i, Rcpp::Named("p") = p, Rcpp::Named("x") = x,
                            Rcpp::Named("nnz") = nnz);
}

// Draws of the sampler's building blocks, from the stream of (seed, 0), for tests:
// `n` binomials Bin(size, prob) or log Gamma(shape) variates.
// [[Rcpp::export(.draw_binomial)]]
Rcpp::NumericVector draw_binomial(double size, double prob, int n, const Rcpp::NumericVector& seed) {
  if (!(size >= 0.0 && size <= 9007199254740992.0) || size != std::floor(size) ||
      !(prob >= 0.0 && prob <= 1.0) || n < 0) {
    Rcpp::stop("bad binomial parameters");
  }
  std::uint64_t words[2];
  seed_words(seed, words);
  fastdmm::SampleRng rng(words, 0);
  Rcpp::NumericVector out(n);
  for (int m = 0; m < n; ++m) {
    out[m] = static_cast<double>(fastdmm::draw_binomial(static_cast<std::int64_t>(size), prob, rng));
  }
  return out;
}

// [[Rcpp::export(.draw_log_gamma)]]
Rcpp::NumericVector draw_log_gamma(double shape, int n, const Rcpp::NumericVector& seed) {
  if (!(shape > 0.0) || !std::isfinite(shape) || n < 0) Rcpp::stop("bad Gamma shape");
  std::uint64_t words[2];
  seed_words(seed, words);
  fastdmm::SampleRng rng(words, 0);
  const fastdmm::GammaShape gamma_shape(shape);
  Rcpp::NumericVector out(n);
  double log_uniform;
  for (int m = 0; m < n; ++m) out[m] = fastdmm::draw_log_gamma(gamma_shape, rng, &log_uniform);
  return out;
}
