// Rcpp glue of the mixture sampler (rdmm(sparse = TRUE)): checks what R passes, runs the core's sampler, returns the slots of a dgCMatrix.
#include "glue.h"
#include "glue_args.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "core/sample.h"

namespace {

// The sampler's input, refused here if out of range whatever the R object holds.
fastdmm::MixtureDraw mixture_draw(SEXP alpha, SEXP component, SEXP depth,
                                  std::vector<int>& component0) {
  using namespace fastdmm_glue;
  int n_taxa = 0, n_components = 0;
  const double* alpha_values = read_double_matrix(alpha, "alpha", n_taxa, n_components);
  const int* component_values =
      read_ints(component, "component", 0, R_XLEN_T_MAX, "an integer vector");
  const R_xlen_t n = XLENGTH(component);
  const int* depth_values =
      read_ints(depth, "depth", n, n, "an integer vector of one value per sample");
  for (int k = 0; k < n_components; ++k) {
    double total = 0.0;
    for (int j = 0; j < n_taxa; ++j) {
      const double a = alpha_values[static_cast<R_xlen_t>(k) * n_taxa + j];
      if (!(a > 0.0) || !std::isfinite(a)) refuse("alpha", "must be finite and positive");
      total += a;
    }
    if (!std::isfinite(total)) refuse("alpha", "must have finite column sums");
  }
  component0.resize(static_cast<std::size_t>(n));
  for (R_xlen_t i = 0; i < n; ++i) {
    if (component_values[i] == NA_INTEGER || component_values[i] < 1 ||
        component_values[i] > n_components) {
      refuse("component", "must hold component numbers");
    }
    if (depth_values[i] == NA_INTEGER || depth_values[i] < 0) {
      refuse("depth", "must be non-negative");
    }
    component0[static_cast<std::size_t>(i)] = component_values[i] - 1;
  }
  fastdmm::MixtureDraw draw;
  draw.n_samples = static_cast<std::size_t>(n);
  draw.n_taxa = static_cast<std::size_t>(n_taxa);
  draw.n_components = static_cast<std::size_t>(n_components);
  draw.alpha = alpha_values;
  draw.component = component0.data();
  draw.depth = depth_values;
  return draw;
}

}  // namespace

// Counts of samples drawn from a Dirichlet-multinomial mixture: sample i from
// component component[i] (1-based) with depth[i] counts, alpha taxa x components.
// Returns the dgCMatrix slots i (0-based rows), p and x, and nnz; when the table has
// more non-zeros than a dgCMatrix holds (2^31 - 1), only nnz.
// [[Rcpp::export(.rdmm_sparse)]]
Rcpp::List rdmm_sparse(SEXP alpha, SEXP component, SEXP depth, SEXP seed, SEXP threads) {
  using namespace fastdmm_glue;
  const int n_threads = read_int(threads, "threads", 1, kIntMax);
  std::vector<int> component0;
  fastdmm::MixtureDraw draw = mixture_draw(alpha, component, depth, component0);
  read_seed_words(seed, "seed", draw.seed);
  const RcppParallelExecutor executor(n_threads);
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
