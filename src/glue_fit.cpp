// Rcpp glue of the fit: .fit_dmn (options, starts, hooks, the result as a list), .derive_seeds and .log_evidence.
#include "glue.h"
#include "glue_args.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/counts.h"
#include "core/evidence.h"
#include "core/fit.h"
#include "core/hash.h"
#include "core/parallel.h"

namespace {

using fastdmm_glue::RcppParallelExecutor;

// What .fit_dmn's scalar arguments and search settings say.
struct FitArguments {
  fastdmm::FitOptions options;
  int threads = 1;
  bool verbose = false;
};

FitArguments read_fit_arguments(int n_samples, SEXP k, SEXP threads, SEXP max_iter, SEXP tol,
                                SEXP rel_tol, SEXP accelerate, SEXP reference_hessian,
                                SEXP verbose, SEXP search) {
  using namespace fastdmm_glue;
  FitArguments arguments;
  fastdmm::SearchOptions& options = arguments.options.search;
  const int n_components = read_int(k, "k", 1, n_samples);
  options.n_components = static_cast<std::size_t>(n_components);
  options.em.max_iterations = read_int(max_iter, "max_iter", 1, kIntMax);
  options.em.tolerance = read_double(tol, "tol", 0.0, INFINITY);
  options.em.rel_tolerance = read_double(rel_tol, "rel_tol", 0.0, INFINITY);
  options.em.accelerate = read_flag(accelerate, "accelerate");
  // R's hessian = "reference" arrives as reference_hessian = TRUE.
  arguments.options.hessian = read_flag(reference_hessian, "reference_hessian")
                                  ? fastdmm::Hessian::reference
                                  : fastdmm::Hessian::exact;
  arguments.threads = read_int(threads, "threads", 1, kIntMax);
  arguments.verbose = read_flag(verbose, "verbose");
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
  // Replication: 0 replicates means a screened search (an explicit nstart);
  // max_starts NA is the budget sized by the table's cost.
  options.replicates = settings.integer("replicates", 0, kIntMax);
  options.max_starts =
      static_cast<std::size_t>(settings.integer_or_na("max_starts", 1, kIntMax, 0));
  options.transfers = settings.flag("transfers");
  options.resplits = settings.flag("resplits");
  options.all_singles = settings.flag("all_singles");
  // NA: k - 2 kicks in a row (none at k = 2, where a kick is a new start).
  options.kicks = settings.integer_or_na("kicks", 0, kIntMax, std::max(0, n_components - 2));
  options.divisions = settings.flag("divisions");
  options.settle = settings.flag("settle");
  options.reuse_msteps = settings.flag("reuse_msteps");
  // Not a dmn_search() setting either: resolve_search() adds it from
  // options(fastdmm.column_cache).
  options.column_cache = settings.flag("column_cache");
  // Not a dmn_search() setting: dmn_fit() adds it (start_concurrency(), R/memory.R).
  options.concurrent_starts =
      static_cast<std::size_t>(settings.integer("concurrent_starts", 1, kIntMax));
  return arguments;
}

// A given start's N x k posterior (R's column-major matrix), checked: values in
// [0, 1], rows summing to 1.
const double* read_given(SEXP given, int n_samples, int n_components) {
  using namespace fastdmm_glue;
  check_matrix(given, "given", n_samples, n_components);
  const double* posterior = REAL(given);
  for (R_xlen_t c = 0; c < XLENGTH(given); ++c) {
    if (!(posterior[c] >= 0.0 && posterior[c] <= 1.0)) {
      refuse("given", "must hold posteriors between 0 and 1");
    }
  }
  for (int i = 0; i < n_samples; ++i) {
    double row_sum = 0.0;
    for (int c = 0; c < n_components; ++c) {
      row_sum += posterior[static_cast<R_xlen_t>(c) * n_samples + i];
    }
    if (std::fabs(row_sum - 1.0) > 1e-6) refuse("given", "must have rows summing to 1");
  }
  return posterior;
}

// One seed and one kind per start (codes of fastdmm::StartKind); a given start
// needs its N x k posterior. Sets options.seed from the first seed.
std::vector<fastdmm::StartSpec> read_starts(SEXP seeds, SEXP kinds, SEXP given, int n_samples,
                                            fastdmm::SearchOptions& options) {
  using namespace fastdmm_glue;
  const int* seed_values = read_ints(seeds, "seeds", 1, R_XLEN_T_MAX,
                                     "an integer vector of one seed per start");
  const R_xlen_t n_starts = XLENGTH(seeds);
  const int* kind_values =
      read_ints(kinds, "kinds", n_starts, n_starts,
                "an integer vector of one kind per start (as many as 'seeds')");
  const int n_components = static_cast<int>(options.n_components);
  const double* posterior = nullptr;
  for (R_xlen_t s = 0; s < n_starts; ++s) {
    if (seed_values[s] == NA_INTEGER) refuse("seeds", "must not hold NA");
    if (kind_values[s] < 0 || kind_values[s] > 2) {
      refuse("kinds", "must hold 0 (reference), 1 (k-means++) or 2 (given)");
    }
    if (kind_values[s] == 2 && posterior == nullptr) {
      posterior = read_given(given, n_samples, n_components);
    }
  }
  // As gsl_rng_set(), which receives the R integer converted to unsigned long.
  options.seed = static_cast<std::uint32_t>(seed_values[0]);

  std::vector<fastdmm::StartSpec> starts(static_cast<std::size_t>(n_starts));
  const std::size_t n = static_cast<std::size_t>(n_samples);
  const std::size_t K = options.n_components;
  for (R_xlen_t s = 0; s < n_starts; ++s) {
    starts[s].kind = static_cast<fastdmm::StartKind>(kind_values[s]);
    starts[s].seed = static_cast<std::uint32_t>(seed_values[s]);
    if (starts[s].kind == fastdmm::StartKind::given) {
      starts[s].posterior = matrix_as_sample_major(posterior, n, K);
    }
  }
  return starts;
}

// The last progress sent to R (progressr, see dmn_fit.R).
struct ProgressSent {
  double fraction = -1.0;
  std::string phase;
};

// Hooks into R: messages through message(), interrupts, and progress at most once
// per percent or phase through the function `progress` (or none when NULL).
fastdmm::FitHooks fit_hooks(bool verbose, SEXP progress, const Rcpp::Function& message,
                            ProgressSent& sent) {
  using namespace fastdmm_glue;
  fastdmm::FitHooks hooks;
  hooks.verbose = verbose;
  hooks.message = [&message](const std::string& line) { message(line); };
  hooks.check_interrupt = [] { Rcpp::checkUserInterrupt(); };
  if (progress != R_NilValue) {
    if (TYPEOF(progress) != CLOSXP) refuse("progress", "must be NULL or a function");
    const Rcpp::Function report(progress);
    hooks.progress = [report, &sent](double fraction, const char* phase) {
      if (fraction < sent.fraction + 0.01 && sent.phase == phase && fraction < 1.0) return;
      sent.fraction = fraction;
      sent.phase = phase;
      report(fraction, std::string(phase));
    };
  }
  return hooks;
}

Rcpp::List starts_list(const std::vector<fastdmm::StartRecord>& records) {
  const std::size_t n_starts = records.size();
  Rcpp::IntegerVector start_kind(n_starts), start_seed(n_starts), start_iterations(n_starts),
      start_kmeans(n_starts), start_kicks(n_starts);
  Rcpp::NumericVector start_nle(n_starts), screen_nle(n_starts), final_nle(n_starts),
      moved_nle(n_starts);
  Rcpp::LogicalVector continued(n_starts), abandoned(n_starts), converged(n_starts);
  for (std::size_t s = 0; s < n_starts; ++s) {
    const fastdmm::StartRecord& r = records[s];
    start_kind[s] = static_cast<int>(r.kind);
    start_seed[s] = static_cast<int>(r.seed);
    start_nle[s] = r.start_nle;
    screen_nle[s] = r.screen_nle;
    final_nle[s] = r.final_nle;
    moved_nle[s] = r.moved_nle;
    continued[s] = r.continued;
    abandoned[s] = r.abandoned;
    converged[s] = r.converged;
    start_iterations[s] = r.em_iterations;
    start_kmeans[s] = r.kmeans_iterations;
    start_kicks[s] = r.kicks < 0 ? NA_INTEGER : r.kicks;
  }
  return Rcpp::List::create(
      Rcpp::Named("kind") = start_kind, Rcpp::Named("seed") = start_seed,
      Rcpp::Named("start_NLE") = start_nle, Rcpp::Named("screen_NLE") = screen_nle,
      Rcpp::Named("continued") = continued, Rcpp::Named("abandoned") = abandoned,
      Rcpp::Named("NLE") = final_nle, Rcpp::Named("moved_NLE") = moved_nle,
      Rcpp::Named("em_iterations") = start_iterations, Rcpp::Named("converged") = converged,
      Rcpp::Named("kmeans_iterations") = start_kmeans, Rcpp::Named("kicks") = start_kicks);
}

// Components 1-based, as R numbers them; each kind's own columns NA for the other
// kind (split-merge: merge_first, merge_second, split; transfer: from, to,
// samples, predicted; re-split: from and to the pair pooled, samples the
// pool's size; kick: from the component emptied, to the one split, samples
// those the kick moved). `kind` holds the codes of fastdmm::MoveKind.
Rcpp::List moves_list(const std::vector<fastdmm::MoveTrial>& records) {
  const std::size_t n_moves = records.size();
  Rcpp::IntegerVector kind(n_moves), merge_first(n_moves), merge_second(n_moves),
      split(n_moves), from(n_moves), to(n_moves), samples(n_moves), move_iterations(n_moves);
  Rcpp::NumericVector predicted(n_moves), nle_before(n_moves), nle_after(n_moves);
  Rcpp::LogicalVector accepted(n_moves);
  for (std::size_t m = 0; m < n_moves; ++m) {
    const fastdmm::MoveTrial& r = records[m];
    const bool split_merge = r.kind == fastdmm::MoveKind::split_merge;
    kind[m] = static_cast<int>(r.kind);
    merge_first[m] = split_merge ? r.first + 1 : NA_INTEGER;
    merge_second[m] = split_merge ? r.second + 1 : NA_INTEGER;
    split[m] = split_merge ? r.third + 1 : NA_INTEGER;
    from[m] = split_merge ? NA_INTEGER : r.first + 1;
    to[m] = split_merge ? NA_INTEGER : r.second + 1;
    samples[m] = split_merge ? NA_INTEGER : r.samples;
    // Division moves carry no promise (NaN): NA, as for the other kinds.
    const bool promised = r.kind == fastdmm::MoveKind::transfer && !std::isnan(r.predicted);
    predicted[m] = promised ? r.predicted : NA_REAL;
    nle_before[m] = r.nle_before;
    nle_after[m] = std::isnan(r.nle_after) ? NA_REAL : r.nle_after;  // a kick that split nothing
    accepted[m] = r.accepted;
    move_iterations[m] = r.em_iterations;
  }
  return Rcpp::List::create(
      Rcpp::Named("kind") = kind, Rcpp::Named("merge_first") = merge_first,
      Rcpp::Named("merge_second") = merge_second, Rcpp::Named("split") = split,
      Rcpp::Named("from") = from, Rcpp::Named("to") = to, Rcpp::Named("samples") = samples,
      Rcpp::Named("predicted") = predicted, Rcpp::Named("NLE_before") = nle_before,
      Rcpp::Named("NLE_after") = nle_after,
      Rcpp::Named("accepted") = accepted, Rcpp::Named("em_iterations") = move_iterations);
}

// The fit as the list dmn_fit() (R/dmn_fit.R) reads.
Rcpp::List fit_list(const fastdmm::FittedSearch& found) {
  using fastdmm_glue::as_matrix;
  using fastdmm_glue::sample_major_as_matrix;
  const fastdmm::FitResult& fit = found.fit;
  const std::size_t N = fit.n_samples, S = fit.n_taxa, K = fit.n_components;
  std::vector<double> estimate(K * S);
  for (std::size_t c = 0; c < K * S; ++c) estimate[c] = std::exp(fit.log_alpha[c]);
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
          Rcpp::Named("refine_iterations") = found.search.refine_iterations,
          Rcpp::Named("replicates") = found.replication.replicates,
          Rcpp::Named("max_starts") = found.replication.max_starts,
          Rcpp::Named("starts_run") = found.replication.starts_run,
          Rcpp::Named("at_best") = found.replication.at_best,
          Rcpp::Named("optima") = found.replication.optima,
          Rcpp::Named("optima_seen_once") = found.replication.optima_seen_once,
          Rcpp::Named("moves_tried") = Rcpp::IntegerVector(
              std::begin(found.moves_tried), std::end(found.moves_tried)),
          Rcpp::Named("moves_accepted") = Rcpp::IntegerVector(
              std::begin(found.moves_accepted), std::end(found.moves_accepted))),
      Rcpp::Named("starts") = starts_list(found.starts),
      Rcpp::Named("moves") = moves_list(found.moves));
}

}  // namespace

// One search per k: the starts given by `kinds` (codes of fastdmm::StartKind: 0
// reference soft k-means, 1 k-means++, 2 the posterior `given`, N x k) and
// `seeds`, screened, continued and refined as `search` says, then the Hessian and
// criteria of the best. Every argument and setting is checked here again (see
// glue_args.h).
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
  FitArguments arguments = read_fit_arguments(n_samples, k, threads, max_iter, tol, rel_tol,
                                              accelerate, reference_hessian, verbose, search);
  const std::vector<fastdmm::StartSpec> starts =
      read_starts(seeds, kinds, given, n_samples, arguments.options.search);
  const Rcpp::Function message("message");
  ProgressSent sent;
  const fastdmm::FitHooks hooks = fit_hooks(arguments.verbose, progress, message, sent);
  const RcppParallelExecutor executor(arguments.threads);
  return fit_list(fastdmm::fit_dmm(data, starts, arguments.options, executor, hooks));
}

// Seeds for restarts 2..n derived from the user's seed by SplitMix64 (core/hash.h), so that every
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
    state += fastdmm::kSplitMix64Gamma;
    const std::uint64_t z = fastdmm::splitmix64_finalise(state);
    // A non-negative R integer (NA_integer_ is INT_MIN, never produced here).
    seeds[s] = static_cast<int>(z & 0x7fffffffULL);
  }
  return seeds;
}

// The log evidence log p(x_i | alpha_k) of every sample under each component
// (columns of `log_alpha`), an N x k matrix (predict() and the tests).
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
