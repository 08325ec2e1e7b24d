// Rcpp glue: maps R objects onto the core's plain arrays, runs the core, builds R results.
#include "glue.h"
#include "glue_args.h"

// Eigen from RcppEigen, without RcppEigen.h's conversions (which add megabytes of
// debug information for the three maps built by hand below).
#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/build_counts.h"
#include "core/counts.h"
#include "core/evidence.h"
#include "core/fit.h"
#include "core/search.h"
#include "core/start.h"
#include "core/kmeans.h"
#include "core/mstep.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/special.h"

namespace {

using fastdmm_glue::RcppParallelExecutor;

Rcpp::NumericMatrix as_matrix(const std::vector<double>& values, std::size_t n_row,
                              std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

// The core's sample-major [i * K + k] as R's N x K matrix (column-major).
Rcpp::NumericMatrix sample_major_as_matrix(const std::vector<double>& values, std::size_t n_row,
                                           std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  for (std::size_t i = 0; i < n_row; ++i) {
    for (std::size_t k = 0; k < n_col; ++k) out[k * n_row + i] = values[i * n_col + k];
  }
  return out;
}

}  // namespace

// One search per k: the starts given by `kinds` (0 reference soft k-means, 1
// k-means++, 2 the posterior `given`, N x k) and `seeds`, screened, continued and
// refined as `search` says, then the Hessian and criteria of the best. Every
// argument and setting is checked here again (see glue_args.h).
// [[Rcpp::export(.fit_dmn)]]
Rcpp::List fit_dmn(SEXP counts, SEXP k, SEXP seeds, SEXP kinds, SEXP given, SEXP threads,
                   SEXP max_iter, SEXP tol, SEXP rel_tol, SEXP accelerate,
                   SEXP reference_hessian, SEXP verbose, SEXP search,
                   SEXP progress = R_NilValue) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const int n_samples = static_cast<int>(data.n_samples);
  if (n_samples < 1) refuse("counts", "has no samples");
  const int n_components = read_int(k, "k", 1, n_samples);

  fastdmm::SearchOptions options;
  options.n_components = static_cast<std::size_t>(n_components);
  options.em.max_iterations = read_int(max_iter, "max_iter", 1, kIntMax);
  options.em.tolerance = read_double(tol, "tol", 0.0, INFINITY);
  options.em.rel_tolerance = read_double(rel_tol, "rel_tol", 0.0, INFINITY);
  options.em.accelerate = read_flag(accelerate, "accelerate");
  options.reference_hessian = read_flag(reference_hessian, "reference_hessian");
  const int n_threads = read_int(threads, "threads", 1, kIntMax);
  const bool is_verbose = read_flag(verbose, "verbose");
  // The search settings, one line each (R's dmn_search() makes them; a new
  // setting of SearchOptions is a new line here).
  const SettingsReader settings(search, "search");
  options.screen_iterations = settings.integer("screen_iter", 1, kIntMax);
  options.n_continue = static_cast<std::size_t>(settings.integer("n_continue", 1, kIntMax));
  options.split_merge = settings.flag("split_merge");
  options.max_moves = settings.integer_or_na("max_moves", 0, kIntMax, n_components);
  options.max_tries = settings.integer("max_tries", 1, kIntMax);
  // 0: never subsample; otherwise a number of samples (R's Inf arrives as 0).
  const double subsample = settings.number("subsample", 0, 4294967295.0);
  if (subsample != std::floor(subsample)) refuse("search$subsample", "must be a whole number");
  options.subsample_size = static_cast<std::size_t>(subsample);

  // One seed and one kind per start; a given start needs its N x k posterior.
  if (TYPEOF(seeds) != INTSXP || XLENGTH(seeds) < 1) {
    refuse("seeds", "must be an integer vector of one seed per start");
  }
  if (TYPEOF(kinds) != INTSXP || XLENGTH(kinds) != XLENGTH(seeds)) {
    refuse("kinds", "must be an integer vector of one kind per start (as many as 'seeds')");
  }
  const R_xlen_t n_given_starts = XLENGTH(seeds);
  const int* seed_values = INTEGER(seeds);
  const int* kind_values = INTEGER(kinds);
  const double* posterior = nullptr;
  for (R_xlen_t s = 0; s < n_given_starts; ++s) {
    if (seed_values[s] == NA_INTEGER) refuse("seeds", "must not hold NA");
    if (kind_values[s] < 0 || kind_values[s] > 2) {
      refuse("kinds", "must hold 0 (reference), 1 (k-means++) or 2 (given)");
    }
    if (kind_values[s] == 2 && posterior == nullptr) {
      check_matrix(given, "given", n_samples, n_components);
      posterior = REAL(given);
      for (R_xlen_t c = 0; c < XLENGTH(given); ++c) {
        if (!(posterior[c] >= 0.0 && posterior[c] <= 1.0)) {
          refuse("given", "must hold posteriors between 0 and 1");
        }
      }
      for (int i = 0; i < n_samples; ++i) {
        double row_sum = 0.0;
        for (int c = 0; c < n_components; ++c) row_sum += posterior[static_cast<R_xlen_t>(c) * n_samples + i];
        if (std::fabs(row_sum - 1.0) > 1e-6) refuse("given", "must have rows summing to 1");
      }
    }
  }
  // As gsl_rng_set(), which receives the R integer converted to unsigned long.
  options.seed = static_cast<std::uint32_t>(seed_values[0]);

  std::vector<fastdmm::StartSpec> starts(static_cast<std::size_t>(n_given_starts));
  for (R_xlen_t s = 0; s < n_given_starts; ++s) {
    starts[s].kind = static_cast<fastdmm::StartKind>(kind_values[s]);
    starts[s].seed = static_cast<std::uint32_t>(seed_values[s]);
    if (starts[s].kind == fastdmm::StartKind::given) {
      // R's N x k matrix is column-major; the core's posteriors are sample-major.
      const std::size_t n = static_cast<std::size_t>(n_samples);
      const std::size_t K = static_cast<std::size_t>(n_components);
      starts[s].posterior.resize(n * K);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t c = 0; c < K; ++c) starts[s].posterior[i * K + c] = posterior[c * n + i];
      }
    }
  }

  fastdmm::FitHooks hooks;
  hooks.verbose = is_verbose;
  Rcpp::Function message("message");
  hooks.message = [&message](const std::string& line) { message(line); };
  hooks.check_interrupt = [] { Rcpp::checkUserInterrupt(); };
  // Progress reaches R (progressr, see dmn_fit.R) at most once per percent or phase.
  double reported = -1.0;
  std::string reported_phase;
  if (progress != R_NilValue) {
    if (TYPEOF(progress) != CLOSXP) refuse("progress", "must be NULL or a function");
    const Rcpp::Function report(progress);
    hooks.progress = [report, &reported, &reported_phase](double fraction, const char* phase) {
      if (fraction < reported + 0.01 && reported_phase == phase && fraction < 1.0) return;
      reported = fraction;
      reported_phase = phase;
      report(fraction, std::string(phase));
    };
  }

  const RcppParallelExecutor executor(n_threads);
  const fastdmm::SearchResult found = fastdmm::search_dmm(data, starts, options, executor, hooks);
  const fastdmm::FitResult& fit = found.fit;

  const std::size_t N = fit.n_samples, S = fit.n_taxa, K = fit.n_components;
  std::vector<double> estimate(K * S);
  for (std::size_t c = 0; c < K * S; ++c) estimate[c] = std::exp(fit.log_alpha[c]);

  const std::size_t n_starts = found.starts.size();
  Rcpp::IntegerVector start_kind(n_starts), start_seed(n_starts), start_iterations(n_starts),
      start_kmeans(n_starts);
  Rcpp::NumericVector start_nle(n_starts), screen_nle(n_starts), final_nle(n_starts);
  Rcpp::LogicalVector continued(n_starts), abandoned(n_starts), converged(n_starts);
  for (std::size_t s = 0; s < n_starts; ++s) {
    const fastdmm::StartRecord& r = found.starts[s];
    start_kind[s] = static_cast<int>(r.kind);
    start_seed[s] = static_cast<int>(r.seed);
    start_nle[s] = r.start_nle;
    screen_nle[s] = r.screen_nle;
    final_nle[s] = r.final_nle;
    continued[s] = r.continued;
    abandoned[s] = r.abandoned;
    converged[s] = r.converged;
    start_iterations[s] = r.em_iterations;
    start_kmeans[s] = r.kmeans_iterations;
  }
  const std::size_t n_moves = found.moves.size();
  Rcpp::IntegerVector merge_first(n_moves), merge_second(n_moves), split(n_moves),
      move_iterations(n_moves);
  Rcpp::NumericVector nle_before(n_moves), nle_after(n_moves);
  Rcpp::LogicalVector accepted(n_moves);
  for (std::size_t m = 0; m < n_moves; ++m) {
    const fastdmm::MoveRecord& r = found.moves[m];
    merge_first[m] = r.merge_first + 1;
    merge_second[m] = r.merge_second + 1;
    split[m] = r.split + 1;
    nle_before[m] = r.nle_before;
    nle_after[m] = r.nle_after;
    accepted[m] = r.accepted;
    move_iterations[m] = r.em_iterations;
  }

  return Rcpp::List::create(
      Rcpp::Named("goodness_of_fit") = Rcpp::NumericVector::create(
          Rcpp::Named("NLE") = fit.nle, Rcpp::Named("LogDet") = fit.log_det,
          Rcpp::Named("Laplace") = fit.laplace, Rcpp::Named("BIC") = fit.bic,
          Rcpp::Named("AIC") = fit.aic),
      Rcpp::Named("weights") = Rcpp::NumericVector(fit.weights.begin(), fit.weights.end()),
      Rcpp::Named("posterior") = sample_major_as_matrix(fit.posterior, N, K),
      Rcpp::Named("estimate") = as_matrix(estimate, S, K),
      Rcpp::Named("lower") = as_matrix(fit.lower, S, K),
      Rcpp::Named("upper") = as_matrix(fit.upper, S, K),
      Rcpp::Named("log_likelihood") = fit.log_likelihood,
      Rcpp::Named("nle_trace") = Rcpp::NumericVector(found.nle_trace.begin(), found.nle_trace.end()),
      Rcpp::Named("em_iterations") = found.em_iterations,
      Rcpp::Named("total_em_iterations") = found.total_em_iterations,
      Rcpp::Named("extrapolations") = found.extrapolations,
      Rcpp::Named("kmeans_iterations") = found.kmeans_iterations,
      Rcpp::Named("converged") = found.converged,
      Rcpp::Named("unconverged_msteps") = fit.unconverged_msteps,
      Rcpp::Named("best_start") = static_cast<int>(found.best_start) + 1,
      Rcpp::Named("search") = Rcpp::List::create(
          Rcpp::Named("samples") = static_cast<double>(found.search.samples),
          Rcpp::Named("subsample") = static_cast<double>(found.search.subsample),
          Rcpp::Named("subsample_NLE") = found.search.subsample < found.search.samples
                                             ? found.search.subsample_nle
                                             : NA_REAL,
          Rcpp::Named("refine_iterations") = found.search.refine_iterations),
      Rcpp::Named("starts") = Rcpp::List::create(
          Rcpp::Named("kind") = start_kind, Rcpp::Named("seed") = start_seed,
          Rcpp::Named("start_NLE") = start_nle, Rcpp::Named("screen_NLE") = screen_nle,
          Rcpp::Named("continued") = continued, Rcpp::Named("abandoned") = abandoned,
          Rcpp::Named("NLE") = final_nle,
          Rcpp::Named("em_iterations") = start_iterations, Rcpp::Named("converged") = converged,
          Rcpp::Named("kmeans_iterations") = start_kmeans),
      Rcpp::Named("moves") = Rcpp::List::create(
          Rcpp::Named("merge_first") = merge_first, Rcpp::Named("merge_second") = merge_second,
          Rcpp::Named("split") = split, Rcpp::Named("NLE_before") = nle_before,
          Rcpp::Named("NLE_after") = nle_after, Rcpp::Named("accepted") = accepted,
          Rcpp::Named("em_iterations") = move_iterations));
}

// [[Rcpp::export(.log_evidence)]]
Rcpp::NumericMatrix log_evidence(SEXP counts, SEXP log_alpha, SEXP threads) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  check_matrix(log_alpha, "log_alpha", static_cast<int>(data.n_taxa), -1);
  const int n_threads = read_int(threads, "threads", 1, kIntMax);
  const std::size_t K = static_cast<std::size_t>(Rf_ncols(log_alpha));
  // R's taxa x components matrix is column-major, i.e. [k * S + j]: the core's layout.
  const std::vector<double> lambda(REAL(log_alpha), REAL(log_alpha) + XLENGTH(log_alpha));
  std::vector<double> evidence;
  fastdmm::log_evidence(data, lambda, K, RcppParallelExecutor(n_threads), evidence);
  return sample_major_as_matrix(evidence, data.n_samples, K);
}

// Exposes one component's objective, gradient and Hessian summary, for tests against
// brute-force R computations.
// [[Rcpp::export(.component_terms)]]
Rcpp::List component_terms(SEXP counts, SEXP posterior, SEXP log_alpha,
                           SEXP reference_hessian) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const double* z_values = read_doubles(posterior, "posterior", static_cast<R_xlen_t>(data.n_samples));
  const double* lambda_values = read_doubles(log_alpha, "log_alpha", static_cast<R_xlen_t>(data.n_taxa));
  const bool reference = read_flag(reference_hessian, "reference_hessian");
  const std::vector<double> z(z_values, z_values + data.n_samples);
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  const std::vector<double> lambda(lambda_values, lambda_values + data.n_taxa);
  fastdmm::ComponentDerivatives d;
  const std::vector<double> pair_counts = fastdmm::nonzero_posterior_pair_counts(data, z, 1, 0);
  fastdmm::component_derivatives(data, weights[0], lambda.data(), fastdmm::SerialExecutor(), d,
                                 reference, &pair_counts);
  const fastdmm::HessianSummary hessian = fastdmm::summarise_hessian(d);
  return Rcpp::List::create(
      Rcpp::Named("objective") = fastdmm::component_objective(data, weights[0], lambda.data(),
                                                                    fastdmm::SerialExecutor()),
      Rcpp::Named("gradient") = Rcpp::NumericVector(d.gradient.begin(), d.gradient.end()),
      Rcpp::Named("diagonal") = Rcpp::NumericVector(d.diagonal.begin(), d.diagonal.end()),
      Rcpp::Named("rank_one") = d.rank_one,
      Rcpp::Named("log_abs_det") = hessian.log_abs_det,
      Rcpp::Named("inverse_diagonal") = Rcpp::NumericVector(hessian.inverse_diagonal.begin(),
                                                            hessian.inverse_diagonal.end()));
}

// Runs the M-step optimiser for one component from a start, for tests.
// [[Rcpp::export(.optimise_component)]]
Rcpp::List optimise_component(SEXP counts, SEXP posterior, SEXP log_alpha) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const double* z_values = read_doubles(posterior, "posterior", static_cast<R_xlen_t>(data.n_samples));
  const double* lambda_values = read_doubles(log_alpha, "log_alpha", static_cast<R_xlen_t>(data.n_taxa));
  const std::vector<double> z(z_values, z_values + data.n_samples);
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  std::vector<double> lambda(lambda_values, lambda_values + data.n_taxa);
  const fastdmm::OptimiserReport report =
      fastdmm::optimise_component(data, weights[0], lambda.data(), fastdmm::OptimiserOptions(),
                                  fastdmm::SerialExecutor());
  return Rcpp::List::create(Rcpp::Named("log_alpha") = Rcpp::NumericVector(lambda.begin(), lambda.end()),
                            Rcpp::Named("iterations") = report.iterations,
                            Rcpp::Named("gradient_norm") = report.gradient_norm,
                            Rcpp::Named("converged") = report.converged);
}

// The k-means++ partition (labels 1..k) of every sample, for tests.
// [[Rcpp::export(.hellinger_kmeans)]]
Rcpp::IntegerVector hellinger_kmeans(SEXP counts, SEXP k, SEXP seed, SEXP threads) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const int n_components = read_int(k, "k", 1, static_cast<int>(table->n_samples));
  const int seed_value = read_int(seed, "seed", -kIntMax, kIntMax);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  const fastdmm::HellingerPartition partition = fastdmm::hellinger_kmeans(
      *table, fastdmm::SquareRootProportions(*table), {},
      fastdmm::sample_fingerprints(*table, executor), static_cast<std::size_t>(n_components),
      static_cast<std::uint32_t>(seed_value), executor);
  Rcpp::IntegerVector labels(partition.label.begin(), partition.label.end());
  return labels + 1;
}

// [[Rcpp::export(.soft_kmeans)]]
Rcpp::List soft_kmeans(SEXP counts, SEXP k, SEXP seed, SEXP threads) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const int n_components = read_int(k, "k", 1, static_cast<int>(data.n_samples));
  const int seed_value = read_int(seed, "seed", -kIntMax, kIntMax);
  const int n_threads = read_int(threads, "threads", 1, kIntMax);
  const fastdmm::KmeansResult result =
      fastdmm::soft_kmeans(data, static_cast<std::size_t>(n_components),
                           static_cast<std::uint32_t>(seed_value),
                           RcppParallelExecutor(n_threads), 1000, 1e-6, [](int, double) {});
  return Rcpp::List::create(
      Rcpp::Named("posterior") = sample_major_as_matrix(result.posterior, data.n_samples, n_components),
      Rcpp::Named("centres") = as_matrix(result.centres, data.n_taxa, n_components),
      Rcpp::Named("weights") = Rcpp::NumericVector(result.weights.begin(), result.weights.end()),
      Rcpp::Named("iterations") = result.iterations);
}

// The first `n` raw 32-bit outputs of the reference generator and `n` draws of
// uniform_int(n_values) from a second generator with the same seed, for tests.
// [[Rcpp::export(.reference_stream)]]
Rcpp::List reference_stream(SEXP seed, SEXP n, SEXP n_values) {
  using namespace fastdmm_glue;
  const int seed_value = read_int(seed, "seed", -kIntMax, kIntMax);
  const int n_draws = read_int(n, "n", 0, kIntMax);
  const int range = read_int(n_values, "n_values", 1, kIntMax);
  fastdmm::ReferenceRng raw(static_cast<std::uint32_t>(seed_value));
  fastdmm::ReferenceRng draws(static_cast<std::uint32_t>(seed_value));
  Rcpp::NumericVector u32(n_draws);
  Rcpp::IntegerVector k(n_draws);
  for (int m = 0; m < n_draws; ++m) {
    u32[m] = static_cast<double>(raw.next_u32());
    k[m] = static_cast<int>(draws.uniform_int(static_cast<std::uint32_t>(range)));
  }
  return Rcpp::List::create(Rcpp::Named("u32") = u32, Rcpp::Named("uniform_int") = k);
}

// Seeds for restarts 2..n derived from the user's seed by SplitMix64, so that every
// start of every k is reproducible from one seed; restart 1 uses the seed itself.
// [[Rcpp::export(.derive_seeds)]]
Rcpp::IntegerVector derive_seeds(SEXP seed, SEXP n) {
  using namespace fastdmm_glue;
  const int seed_value = read_int(seed, "seed", -kIntMax, kIntMax);
  const int n_seeds = read_int(n, "n", 0, kIntMax);
  Rcpp::IntegerVector seeds(n_seeds);
  std::uint64_t state = static_cast<std::uint32_t>(seed_value);
  for (int s = 0; s < n_seeds; ++s) {
    if (s == 0) {
      seeds[s] = seed_value;
      continue;
    }
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    // A non-negative R integer (NA_integer_ is INT_MIN, never produced here).
    seeds[s] = static_cast<int>(z & 0x7fffffffULL);
  }
  return seeds;
}

// ---- the input boundary: building, caching and subsetting count tables ----------

namespace {

using fastdmm_glue::RcppParallelExecutor;
using SharedCounts = std::shared_ptr<const fastdmm::Counts>;

// Keeps an R vector alive while the core views its memory. The release runs where
// the last owner lets go: an external pointer's finalizer or an export's frame, both
// on R's main thread.
std::shared_ptr<const void> preserve(SEXP x) {
  R_PreserveObject(x);
  return std::shared_ptr<const void>(static_cast<const void*>(x), [](const void* p) {
    R_ReleaseObject(static_cast<SEXP>(const_cast<void*>(p)));
  });
}

// An R integer vector holding 32-bit indices (stored as R integers bit for bit).
fastdmm::IndexArray index_view(SEXP x) {
  return fastdmm::IndexArray(reinterpret_cast<const std::uint32_t*>(INTEGER(x)),
                             static_cast<std::size_t>(XLENGTH(x)), preserve(x));
}

SEXP new_index_vector(std::size_t n) {
  SEXP x = Rf_allocVector(INTSXP, static_cast<R_xlen_t>(n));
  fastdmm::prefer_huge_pages(INTEGER(x), n * sizeof(int));
  return x;
}

std::uint32_t* index_data(SEXP x) { return reinterpret_cast<std::uint32_t*>(INTEGER(x)); }

// Offsets (which may exceed the 32-bit range) travel to R as doubles.
Rcpp::NumericVector offsets_to_r(const std::vector<std::size_t>& offsets) {
  return Rcpp::NumericVector(offsets.begin(), offsets.end());
}

[[noreturn]] void corrupt_table(const std::string& problem) {
  throw std::invalid_argument("corrupt count table: " + problem);
}

// Offsets from R: `length` whole numbers from 0 up, never decreasing (doubles
// hold them exactly up to 2^53).
std::vector<std::size_t> offsets_from_r(SEXP x, std::size_t length, const char* what) {
  if (TYPEOF(x) != REALSXP || static_cast<std::size_t>(XLENGTH(x)) != length) {
    corrupt_table(std::string("bad ") + what);
  }
  const double* values = REAL(x);
  std::vector<std::size_t> offsets(length);
  double previous = 0.0;
  for (std::size_t m = 0; m < length; ++m) {
    const double v = values[m];
    if (!(v >= previous && v <= 9007199254740992.0) || v != std::floor(v) ||
        (m == 0 && v != 0.0)) {
      corrupt_table(std::string(what) + " must start at 0 and never decrease");
    }
    offsets[m] = static_cast<std::size_t>(v);
    previous = v;
  }
  return offsets;
}

// The element `name` of a list (R_NilValue when absent).
SEXP list_element(SEXP list, const char* name) {
  SEXP names = Rf_getAttrib(list, R_NamesSymbol);
  if (TYPEOF(names) != STRSXP) return R_NilValue;
  for (R_xlen_t i = 0; i < XLENGTH(list); ++i) {
    if (std::strcmp(CHAR(STRING_ELT(names, i)), name) == 0) return VECTOR_ELT(list, i);
  }
  return R_NilValue;
}

// Checks compressed columns as assemble_counts() needs them: per taxon, samples
// increasing and below n_samples, pairs among the taxon's own, whose values are
// increasing whole numbers >= 1.
void check_columns(std::size_t n_samples, const std::vector<std::size_t>& col_ptr,
                   const std::uint32_t* col_sample, const std::uint32_t* col_pair,
                   const std::vector<std::size_t>& pair_ptr, const double* pair_value) {
  const std::size_t S = col_ptr.size() - 1;
  for (std::size_t j = 0; j < S; ++j) {
    for (std::size_t m = pair_ptr[j]; m < pair_ptr[j + 1]; ++m) {
      const double v = pair_value[m];
      if (!(v >= 1.0 && v <= 9007199254740992.0) || v != std::floor(v) ||
          (m > pair_ptr[j] && !(v > pair_value[m - 1]))) {
        corrupt_table("pair_value must hold increasing whole counts for each taxon");
      }
    }
    for (std::size_t e = col_ptr[j]; e < col_ptr[j + 1]; ++e) {
      if (col_sample[e] >= n_samples || (e > col_ptr[j] && col_sample[e] <= col_sample[e - 1])) {
        corrupt_table("col_sample must hold increasing sample indices for each taxon");
      }
      if (col_pair[e] < pair_ptr[j] || col_pair[e] >= pair_ptr[j + 1]) {
        corrupt_table("col_pair must index the pairs of its own taxon");
      }
    }
  }
}

// ---- the cache behind the external pointer -------------------------------------

void finalize_table(SEXP pointer) {
  delete static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  R_ClearExternalPtr(pointer);
}

void attach_table(SEXP pointer, const SharedCounts& table) {
  R_SetExternalPtrAddr(pointer, new SharedCounts(table));
  R_RegisterCFinalizerEx(pointer, finalize_table, TRUE);
}

// The tag that marks fastdmm's own table pointers: a pointer of another origin
// put into a table object is never dereferenced.
SEXP table_tag() { return Rf_install("fastdmm_counts"); }

SEXP new_table_pointer(const SharedCounts& table) {
  Rcpp::Shield<SEXP> pointer(R_MakeExternalPtr(nullptr, table_tag(), R_NilValue));
  attach_table(pointer, table);
  return pointer;
}

// Completes a table whose compressed columns are (or are about to be) R vectors.
SharedCounts assemble(std::size_t n_samples, std::vector<std::size_t> col_ptr, SEXP col_sample,
                      SEXP col_pair, std::vector<std::size_t> pair_ptr,
                      std::vector<double> pair_value, const fastdmm::Executor& executor) {
  return std::make_shared<const fastdmm::Counts>(fastdmm::assemble_counts(
      n_samples, std::move(col_ptr), index_view(col_sample), index_view(col_pair),
      std::move(pair_ptr), std::move(pair_value), executor));
}

// Fills the layout's index arrays with `fill` and completes the table (see finish_table()).
template <class Fill>
Rcpp::List build_table(fastdmm::CountLayout& layout, Fill fill, const fastdmm::Executor& executor) {
  Rcpp::IntegerVector col_sample(new_index_vector(layout.nnz()));
  Rcpp::IntegerVector col_pair(new_index_vector(layout.nnz()));
  fill(index_data(col_sample), index_data(col_pair));
  return fastdmm_glue::finish_table(layout, col_sample, col_pair, executor);
}

}  // namespace

namespace fastdmm_glue {

Rcpp::List finish_table(fastdmm::CountLayout& layout, const Rcpp::IntegerVector& col_sample,
                        const Rcpp::IntegerVector& col_pair, const fastdmm::Executor& executor) {
  Rcpp::NumericVector col_ptr = offsets_to_r(layout.col_ptr);
  Rcpp::NumericVector pair_ptr = offsets_to_r(layout.pair_ptr);
  Rcpp::NumericVector pair_value(layout.pair_value.begin(), layout.pair_value.end());
  const std::size_t n_samples = layout.n_samples;
  const SharedCounts table =
      assemble(n_samples, std::move(layout.col_ptr), col_sample, col_pair,
               std::move(layout.pair_ptr), std::move(layout.pair_value), executor);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < n_samples; ++i) {
    if (table->row_ptr[i] == table->row_ptr[i + 1]) zero_samples.push_back(static_cast<int>(i + 1));
  }
  Rcpp::List columns = Rcpp::List::create(
      Rcpp::Named("n_samples") = static_cast<int>(n_samples),
      Rcpp::Named("n_taxa") = static_cast<int>(table->n_taxa),
      Rcpp::Named("col_ptr") = col_ptr, Rcpp::Named("col_sample") = col_sample,
      Rcpp::Named("col_pair") = col_pair, Rcpp::Named("pair_ptr") = pair_ptr,
      Rcpp::Named("pair_value") = pair_value,
      Rcpp::Named("pointer") = Rcpp::RObject(new_table_pointer(table)));
  return Rcpp::List::create(Rcpp::Named("problems") = R_NilValue,
                            Rcpp::Named("zero_samples") =
                                Rcpp::IntegerVector(zero_samples.begin(), zero_samples.end()),
                            Rcpp::Named("table") = columns);
}

Rcpp::List problems_result(const fastdmm::ValueProblems& p) {
  return Rcpp::List::create(Rcpp::Named("problems") = Rcpp::NumericVector::create(
      Rcpp::Named("missing") = static_cast<double>(p.missing),
      Rcpp::Named("infinite") = static_cast<double>(p.infinite),
      Rcpp::Named("negative") = static_cast<double>(p.negative),
      Rcpp::Named("fractional") = static_cast<double>(p.fractional),
      Rcpp::Named("huge") = static_cast<double>(p.huge)));
}

bool column_source(SEXP x, bool samples_in_rows, fastdmm::CompressedColumns& storage,
                   fastdmm::ColumnSource& source) {
  source = fastdmm::ColumnSource();
  if (Rf_isMatrix(x) && (TYPEOF(x) == REALSXP || TYPEOF(x) == INTSXP)) {
    const auto rows = static_cast<std::size_t>(Rf_nrows(x));
    const auto cols = static_cast<std::size_t>(Rf_ncols(x));
    if (TYPEOF(x) == REALSXP) {
      source.kind = fastdmm::ColumnSource::Kind::dense_double;
      source.real = REAL(x);
    } else {
      source.kind = fastdmm::ColumnSource::Kind::dense_integer;
      source.integer = INTEGER(x);
    }
    // R matrices are column-major: a taxa x samples one is read across its columns.
    source.n_rows = samples_in_rows ? rows : cols;
    source.n_cols = samples_in_rows ? cols : rows;
    source.column_stride = samples_in_rows ? rows : 1;
    source.row_stride = samples_in_rows ? 1 : rows;
    return true;
  }
  if (!(Rf_isS4(x) && Rf_inherits(x, "dgCMatrix"))) return false;
  // The slots of a dgCMatrix are Eigen's compressed-column layout.
  const Rcpp::S4 matrix(x);
  const Rcpp::IntegerVector dim = matrix.slot("Dim");
  const Rcpp::IntegerVector col_start = matrix.slot("p");
  const Rcpp::IntegerVector row_index = matrix.slot("i");
  const Rcpp::NumericVector values = matrix.slot("x");
  if (dim.size() != 2 || dim[0] < 0 || dim[1] < 0 || col_start.size() != dim[1] + 1 ||
      row_index.size() != values.size() || col_start[0] != 0 ||
      col_start[dim[1]] != values.size()) {
    Rcpp::stop("invalid dgCMatrix: its slots do not agree");
  }
  // Row indices are checked as the columns are read (build_counts.cpp); the
  // column starts must not decrease for those reads to stay in bounds.
  for (int j = 0; j < dim[1]; ++j) {
    if (col_start[j + 1] < col_start[j]) Rcpp::stop("invalid dgCMatrix: its slot p decreases");
  }
  if (!samples_in_rows) {
    // Compressed by sample: re-compressed by taxon, a copy of the non-zeros only.
    storage = fastdmm::compress_columns_of_rows(
        static_cast<std::size_t>(dim[1]), static_cast<std::size_t>(dim[0]), col_start.begin(),
        row_index.begin(), values.begin());
    source = storage.source();
    return true;
  }
  const Eigen::Map<const Eigen::SparseMatrix<double>> m(
      dim[0], dim[1], values.size(), col_start.begin(), row_index.begin(), values.begin());
  source.kind = fastdmm::ColumnSource::Kind::compressed;
  source.real = m.valuePtr();
  source.col_start = m.outerIndexPtr();
  source.row_index = m.innerIndexPtr();
  source.n_rows = static_cast<std::size_t>(m.rows());
  source.n_cols = static_cast<std::size_t>(m.cols());
  return true;
}

std::shared_ptr<const fastdmm::Counts> count_table(SEXP counts) {
  if (TYPEOF(counts) != VECSXP) corrupt_table("it is not a list");
  SEXP pointer = list_element(counts, "pointer");
  const bool ours = TYPEOF(pointer) == EXTPTRSXP && R_ExternalPtrTag(pointer) == table_tag();
  if (ours && R_ExternalPtrAddr(pointer) != nullptr) {
    return *static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  }
  // Rebuilt from the compressed columns, which are checked first: the object may
  // have been edited since as_counts() made it.
  const std::size_t n_samples = static_cast<std::size_t>(
      read_int(list_element(counts, "n_samples"), "counts$n_samples", 0, kIntMax));
  const std::size_t n_taxa = static_cast<std::size_t>(
      read_int(list_element(counts, "n_taxa"), "counts$n_taxa", 0, kIntMax));
  SEXP col_sample = list_element(counts, "col_sample"), col_pair = list_element(counts, "col_pair");
  SEXP pair_value = list_element(counts, "pair_value");
  std::vector<std::size_t> col_ptr =
      offsets_from_r(list_element(counts, "col_ptr"), n_taxa + 1, "col_ptr");
  std::vector<std::size_t> pair_ptr =
      offsets_from_r(list_element(counts, "pair_ptr"), n_taxa + 1, "pair_ptr");
  if (TYPEOF(col_sample) != INTSXP || TYPEOF(col_pair) != INTSXP || TYPEOF(pair_value) != REALSXP ||
      static_cast<std::size_t>(XLENGTH(col_sample)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(col_pair)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(pair_value)) != pair_ptr[n_taxa] ||
      pair_ptr[n_taxa] > 4294967295ULL) {
    corrupt_table("its arrays do not match");
  }
  check_columns(n_samples, col_ptr, index_data(col_sample), index_data(col_pair), pair_ptr,
                REAL(pair_value));
  // Rebuilt on one thread: this happens once per worker process.
  const SharedCounts table =
      assemble(n_samples, std::move(col_ptr), col_sample, col_pair, std::move(pair_ptr),
               std::vector<double>(REAL(pair_value), REAL(pair_value) + XLENGTH(pair_value)),
               fastdmm::SerialExecutor());
  // Cached behind the object's own (empty) pointer; another pointer is left alone.
  if (ours) attach_table(pointer, table);
  return table;
}

}  // namespace fastdmm_glue

// Validates a dense double or integer matrix or a dgCMatrix (samples x taxa) and
// builds its count table in two parallel passes over R's own memory. With bad
// values, returns only `problems` (cells per kind of problem) for R to word.
// [[Rcpp::export(.build_counts)]]
Rcpp::List build_counts(SEXP x, SEXP threads) {
  const int n_threads = fastdmm_glue::read_int(threads, "threads", 1, fastdmm_glue::kIntMax);
  fastdmm::ColumnSource source;
  fastdmm::CompressedColumns unused;
  if (!fastdmm_glue::column_source(x, true, unused, source)) {
    Rcpp::stop("internal error: .build_counts() takes a double or integer matrix or a dgCMatrix");
  }
  const RcppParallelExecutor executor(n_threads);
  fastdmm::CountLayout layout = fastdmm::scan_columns(source, executor);
  if (layout.problems.any()) return fastdmm_glue::problems_result(layout.problems);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_columns(source, layout, col_sample, col_pair, executor);
  }, executor);
}

// The count table of the samples `rows` (1-based, increasing) of a built table: what
// .build_counts() gives for those rows of the original input.
// [[Rcpp::export(.subset_counts)]]
Rcpp::List subset_counts(SEXP counts, SEXP rows, SEXP threads) {
  const SharedCounts parent = fastdmm_glue::count_table(counts);
  const int n_threads = fastdmm_glue::read_int(threads, "threads", 1, fastdmm_glue::kIntMax);
  if (TYPEOF(rows) != INTSXP) Rcpp::stop("'rows' must be an integer vector");
  const int* row_values = INTEGER(rows);
  std::vector<std::uint32_t> kept(static_cast<std::size_t>(XLENGTH(rows)));
  for (R_xlen_t r = 0; r < XLENGTH(rows); ++r) {
    if (row_values[r] < 1 || static_cast<std::size_t>(row_values[r]) > parent->n_samples ||
        (r > 0 && row_values[r] <= row_values[r - 1])) {
      Rcpp::stop("'rows' must be increasing row numbers of the table");
    }
    kept[static_cast<std::size_t>(r)] = static_cast<std::uint32_t>(row_values[r] - 1);
  }
  const RcppParallelExecutor executor(n_threads);
  fastdmm::CountLayout layout = fastdmm::scan_rows(*parent, kept, executor);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_rows(*parent, kept, layout, col_sample, col_pair, executor);
  }, executor);
}

// The shape of the table a count table object stands for (rebuilding and
// checking it if needed): samples, taxa and the samples without counts
// (1-based), for as_counts() to compare with the object's own fields.
// [[Rcpp::export(.count_table_shape)]]
Rcpp::List count_table_shape(SEXP counts) {
  const SharedCounts table = fastdmm_glue::count_table(counts);
  std::vector<int> zero_samples;
  for (std::size_t i = 0; i < table->n_samples; ++i) {
    if (table->row_ptr[i] == table->row_ptr[i + 1]) zero_samples.push_back(static_cast<int>(i + 1));
  }
  return Rcpp::List::create(
      Rcpp::Named("n_samples") = static_cast<int>(table->n_samples),
      Rcpp::Named("n_taxa") = static_cast<int>(table->n_taxa),
      Rcpp::Named("zero_samples") = Rcpp::IntegerVector(zero_samples.begin(), zero_samples.end()));
}

// The same table with tiles of `tile_size` samples, for tests: no result may depend
// on the tiles.
// [[Rcpp::export(.retile_counts)]]
Rcpp::List retile_counts(SEXP counts, SEXP tile_size) {
  using namespace fastdmm_glue;
  const SharedCounts table = count_table(counts);
  const int size = read_int(tile_size, "tile_size", 1, 65536);
  const SharedCounts retiled = std::make_shared<const fastdmm::Counts>(fastdmm::assemble_counts(
      table->n_samples, table->col_ptr, table->col_sample, table->col_pair, table->pair_ptr,
      table->pair_value, fastdmm::SerialExecutor(), static_cast<std::size_t>(size)));
  Rcpp::List out = Rcpp::clone(Rcpp::List(counts));
  out["pointer"] = Rcpp::RObject(new_table_pointer(retiled));
  return out;
}

// lgamma, digamma and trigamma of every element of `x` (> 0) by the core's series
// (special.h), as a length(x) x 3 matrix, for tests against R's functions.
// [[Rcpp::export(.gamma_values)]]
Rcpp::NumericMatrix gamma_values(SEXP x) {
  using namespace fastdmm_glue;
  if (TYPEOF(x) != REALSXP) refuse("x", "must be a double vector");
  const R_xlen_t n = XLENGTH(x);
  Rcpp::NumericMatrix out(static_cast<int>(n), 3);
  for (R_xlen_t i = 0; i < n; ++i) {
    const double value = REAL(x)[i];
    if (!(value > 0.0) || !std::isfinite(value)) refuse("x", "must hold finite positive values");
    const fastdmm::GammaValues g = fastdmm::gamma_values<true, true>(value);
    out(static_cast<int>(i), 0) = g.lgamma;
    out(static_cast<int>(i), 1) = g.digamma;
    out(static_cast<int>(i), 2) = g.trigamma;
  }
  return out;
}
