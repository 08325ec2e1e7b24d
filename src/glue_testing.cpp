// Rcpp glue of the test-only hooks: the core's kernels, starts, random streams and samplers exposed for tests against R.
#include "glue.h"
#include "glue_args.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <unordered_set>
#include <vector>

#include "core/counts.h"
#include "core/em.h"
#include "core/evidence.h"
#include "core/hellinger_kmeans.h"
#include "core/known_optima.h"
#include "core/mstep.h"
#include "core/parallel.h"
#include "core/reference_start.h"
#include "core/rng.h"
#include "core/sample.h"
#include "core/special.h"
#include "core/split_merge.h"
#include "core/transfer.h"

using fastdmm_glue::RcppParallelExecutor;
using fastdmm_glue::as_matrix;
using fastdmm_glue::sample_major_as_matrix;

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
  const std::vector<fastdmm::ComponentHistograms> weights =
      fastdmm::component_histograms(data, z, 1, fastdmm::SerialExecutor());
  const std::vector<double> lambda(lambda_values, lambda_values + data.n_taxa);
  fastdmm::ComponentDerivatives d;
  const std::vector<double> pair_counts = fastdmm::nonzero_posterior_pair_counts(data, z, 1, 0);
  fastdmm::component_derivatives(data, weights[0], lambda.data(), fastdmm::SerialExecutor(), d,
                                 reference ? fastdmm::Hessian::reference : fastdmm::Hessian::exact,
                                 &pair_counts);
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

// Runs the M-step optimiser for one component from a start, for tests;
// `near_optimum` (TRUE/FALSE) says how the start is treated (Start, mstep.h),
// `objective_tolerance` (>= 0) is the options' (EM's M-steps have one; 0: the
// gradient alone decides).
// [[Rcpp::export(.optimise_component)]]
Rcpp::List optimise_component(SEXP counts, SEXP posterior, SEXP log_alpha, SEXP near_optimum,
                              SEXP objective_tolerance) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const double* z_values = read_doubles(posterior, "posterior", static_cast<R_xlen_t>(data.n_samples));
  const double* lambda_values = read_doubles(log_alpha, "log_alpha", static_cast<R_xlen_t>(data.n_taxa));
  const std::vector<double> z(z_values, z_values + data.n_samples);
  const std::vector<fastdmm::ComponentHistograms> weights =
      fastdmm::component_histograms(data, z, 1, fastdmm::SerialExecutor());
  std::vector<double> lambda(lambda_values, lambda_values + data.n_taxa);
  const fastdmm::Start start = read_flag(near_optimum, "near_optimum")
                                   ? fastdmm::Start::near_optimum
                                   : fastdmm::Start::far;
  fastdmm::OptimiserOptions options;
  options.objective_tolerance = read_double(objective_tolerance, "objective_tolerance", 0.0, 1.0);
  const fastdmm::OptimiserReport report = fastdmm::optimise_component(
      data, weights[0], lambda.data(), options, fastdmm::SerialExecutor(), start);
  return Rcpp::List::create(Rcpp::Named("log_alpha") = Rcpp::NumericVector(lambda.begin(), lambda.end()),
                            Rcpp::Named("iterations") = report.iterations,
                            Rcpp::Named("gradient_norm") = report.gradient_norm,
                            Rcpp::Named("converged") = report.converged,
                            Rcpp::Named("start_needed_objective") = report.start_needed_objective);
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

// The reference's soft k-means start from `seed`, for tests.
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

// The same table with tiles of `tile_size` samples, and with 32-bit pairs in its
// tiles when `wide_pairs` is TRUE, for tests: no result may depend on either.
// [[Rcpp::export(.retile_counts)]]
Rcpp::List retile_counts(SEXP counts, SEXP tile_size, SEXP wide_pairs = R_NilValue) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const int size = read_int(tile_size, "tile_size", 1, 65536);
  const bool wide = !Rf_isNull(wide_pairs) && read_flag(wide_pairs, "wide_pairs");
  std::vector<std::uint32_t> rows(table->n_samples);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::uint32_t>(i);
  const Rcpp::List retiled = Rcpp::List(subset_table_object(
      *table, rows, static_cast<std::size_t>(size), wide, fastdmm::SerialExecutor()))["table"];
  // The object's other fields (names, class) kept, its table's replaced.
  Rcpp::List out = Rcpp::clone(Rcpp::List(counts));
  const Rcpp::CharacterVector fields = retiled.names();
  for (R_xlen_t m = 0; m < fields.size(); ++m) {
    out[Rcpp::as<std::string>(fields[m])] = retiled[m];
  }
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

// The walks' differences lgamma(a + v) - lgamma(a), psi(a + v) - psi(a) and
// psi1(a + v) - psi1(a) at increasing whole values v > 0 (special.h), for tests
// against R's functions: a length(v) x 5 matrix whose columns are the lgamma
// walk's (the longer gaps), then the three of the walk of all three, then the
// polygamma walk's digamma (which the M-step's derivatives take alone).
// [[Rcpp::export(.gamma_differences)]]
Rcpp::NumericMatrix gamma_differences(SEXP a, SEXP v) {
  using namespace fastdmm_glue;
  const double at = read_double(a, "a", 1e-300, 1e300);
  if (TYPEOF(v) != REALSXP) refuse("v", "must be a double vector");
  const R_xlen_t n = XLENGTH(v);
  if (n > 10000000) refuse("v", "must have at most 10,000,000 values");
  const double* values = REAL(v);
  for (R_xlen_t i = 0; i < n; ++i) {
    const double value = values[i];
    if (!std::isfinite(value) || value < 1.0 || value != std::floor(value) || value > 1e15 ||
        (i > 0 && value <= values[i - 1])) {
      refuse("v", "must hold increasing whole numbers from 1 to 1e15");
    }
  }
  Rcpp::NumericMatrix out(static_cast<int>(n), 5);
  // Column 0 (column-major: the first n values) straight from the lgamma walk.
  fastdmm::lgamma_differences(at, values, static_cast<std::size_t>(n), REAL(out));
  fastdmm::walk_gamma_differences<true, true>(
      at, values, static_cast<std::size_t>(n),
      [&out](std::size_t m, double l, double d, double t) {
        out(static_cast<int>(m), 1) = l;
        out(static_cast<int>(m), 2) = d;
        out(static_cast<int>(m), 3) = t;
      });
  fastdmm::walk_gamma_differences<false, true>(
      at, values, static_cast<std::size_t>(n),
      [&out](std::size_t m, double, double d, double) { out(static_cast<int>(m), 4) = d; });
  return out;
}

// Draws of the sampler's building blocks, from the stream of (seed, 0), for tests:
// `n` binomials Bin(size, prob) or log Gamma(shape) variates.
// [[Rcpp::export(.draw_binomial)]]
Rcpp::NumericVector draw_binomial(SEXP size, SEXP prob, SEXP n, SEXP seed) {
  using namespace fastdmm_glue;
  const double trials = static_cast<double>(read_whole(size, "size", 9007199254740992.0));
  const double p = read_double(prob, "prob", 0.0, 1.0);
  const int n_draws = read_int(n, "n", 0, kIntMax);
  std::uint64_t words[2];
  read_seed_words(seed, "seed", words);
  fastdmm::SampleRng rng(words, 0);
  Rcpp::NumericVector out(n_draws);
  for (int m = 0; m < n_draws; ++m) {
    out[m] = static_cast<double>(fastdmm::draw_binomial(static_cast<std::int64_t>(trials), p, rng));
  }
  return out;
}

// [[Rcpp::export(.draw_log_gamma)]]
Rcpp::NumericVector draw_log_gamma(SEXP shape, SEXP n, SEXP seed) {
  using namespace fastdmm_glue;
  const double a = read_double(shape, "shape", 0.0, INFINITY);
  if (!(a > 0.0)) refuse("shape", "must be positive");
  const int n_draws = read_int(n, "n", 0, kIntMax);
  std::uint64_t words[2];
  read_seed_words(seed, "seed", words);
  fastdmm::SampleRng rng(words, 0);
  const fastdmm::GammaShape gamma_shape(a);
  Rcpp::NumericVector out(n_draws);
  double log_uniform;
  for (int m = 0; m < n_draws; ++m) out[m] = fastdmm::draw_log_gamma(gamma_shape, rng, &log_uniform);
  return out;
}

namespace {

// The state of the partition `labels` (1..k, every component non-empty) with
// parameters `log_alpha` (taxa x k), evaluated.
fastdmm::EmState state_from_labels(const fastdmm::Counts& data, SEXP labels, SEXP log_alpha) {
  using namespace fastdmm_glue;
  const std::size_t N = data.n_samples;
  check_matrix(log_alpha, "log_alpha", static_cast<int>(data.n_taxa), -1);
  const int K = Rf_ncols(log_alpha);
  for (R_xlen_t c = 0; c < XLENGTH(log_alpha); ++c) {
    if (!(std::fabs(REAL(log_alpha)[c]) <= 50.0)) {
      refuse("log_alpha", "must hold values in [-50, 50]");
    }
  }
  const int* l = read_ints(labels, "labels", static_cast<R_xlen_t>(N), static_cast<R_xlen_t>(N),
                           "an integer vector of length " + std::to_string(N));
  std::vector<int> members(K, 0);
  for (std::size_t i = 0; i < N; ++i) {
    if (l[i] == NA_INTEGER || l[i] < 1 || l[i] > K) {
      refuse("labels", "must be components 1 to " + std::to_string(K));
    }
    ++members[l[i] - 1];
  }
  for (int k = 0; k < K; ++k) {
    if (members[k] == 0) refuse("labels", "must leave no component empty");
  }
  fastdmm::EmState state;
  state.n_components = static_cast<std::size_t>(K);
  state.log_alpha.assign(REAL(log_alpha), REAL(log_alpha) + XLENGTH(log_alpha));
  state.posterior.assign(N * K, 0.0);
  state.weights.assign(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    state.posterior[i * K + (l[i] - 1)] = 1.0;
    state.weights[l[i] - 1] += 1.0;
  }
  fastdmm::evaluate_state(data, state, fastdmm::SerialExecutor());
  return state;
}

}  // namespace

// Transfers from the partition `labels` (1..k, every component non-empty) with
// parameters `log_alpha` (taxa x k), after EM: run to a local optimum with a
// memo of failed trials, then again on the result with that memo and with none.
// For tests of TransferMemo: the second run should refit nothing.
// [[Rcpp::export(.transfers_twice)]]
Rcpp::List transfers_twice(SEXP counts, SEXP labels, SEXP log_alpha) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::SerialExecutor executor;
  fastdmm::EmState state = state_from_labels(data, labels, log_alpha);
  const fastdmm::FitHooks hooks;
  fastdmm::TransferSettings settings;
  fastdmm::run_em(data, state, settings.em, settings.optimiser, executor, hooks);
  const double nle_start = state.nle;
  fastdmm::TransferMemo memo;
  const fastdmm::TransferResult first =
      fastdmm::transfer_moves(data, state, settings, executor, hooks, &memo);
  const double nle_first = state.nle;
  fastdmm::EmState copy = state;
  copy.workspace = std::make_shared<fastdmm::EmWorkspace>();
  const fastdmm::TransferResult again =
      fastdmm::transfer_moves(data, state, settings, executor, hooks, &memo);
  const fastdmm::TransferResult fresh =
      fastdmm::transfer_moves(data, copy, settings, executor, hooks);
  const auto accepted = [](const fastdmm::TransferResult& r) {
    int n = 0;
    for (const fastdmm::TransferRecord& t : r.trials) n += t.accepted ? 1 : 0;
    return n;
  };
  return Rcpp::List::create(
      Rcpp::Named("nle_start") = nle_start, Rcpp::Named("nle_first") = nle_first,
      Rcpp::Named("first_trials") = static_cast<int>(first.trials.size()),
      Rcpp::Named("first_accepted") = accepted(first),
      Rcpp::Named("first_exhausted") = first.exhausted,
      Rcpp::Named("memo_trials") = static_cast<int>(again.trials.size()),
      Rcpp::Named("memo_exhausted") = again.exhausted, Rcpp::Named("nle_memo") = state.nle,
      Rcpp::Named("fresh_trials") = static_cast<int>(fresh.trials.size()),
      Rcpp::Named("fresh_accepted") = accepted(fresh), Rcpp::Named("nle_fresh") = copy.nle);
}

namespace {

// Transfers from the partition `labels` with parameters `log_alpha` (as
// .transfers_twice()), after EM with the searches' settled M-steps, run twice
// from the same state, `prepare(true / false, settings, state)` setting up each
// run: each run's trials (component from and to, 1-based, samples moved,
// promise, NLE after, kept), final NLE and parameters, named `first` and
// `second`.
Rcpp::List transfers_two_ways(
    SEXP counts, SEXP labels, SEXP log_alpha, const char* first, const char* second,
    const std::function<void(bool, const fastdmm::Counts&, fastdmm::TransferSettings&,
                             fastdmm::EmState&)>& prepare) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::SerialExecutor executor;
  fastdmm::EmState start = state_from_labels(data, labels, log_alpha);
  const fastdmm::FitHooks hooks;
  fastdmm::TransferSettings settings;
  settings.optimiser.settled_change = fastdmm::kSettledChange;
  fastdmm::run_em(data, start, settings.em, settings.optimiser, executor, hooks);
  const auto run = [&](bool variant) {
    fastdmm::EmState state = start;
    state.workspace = std::make_shared<fastdmm::EmWorkspace>();
    fastdmm::TransferSettings these = settings;
    prepare(variant, data, these, state);
    const fastdmm::TransferResult result =
        fastdmm::transfer_moves(data, state, these, executor, hooks);
    const std::size_t n = result.trials.size();
    Rcpp::IntegerVector from(n), to(n), samples(n);
    Rcpp::NumericVector predicted(n), nle_after(n);
    Rcpp::LogicalVector accepted(n);
    for (std::size_t t = 0; t < n; ++t) {
      const fastdmm::TransferRecord& r = result.trials[t];
      from[t] = r.from + 1;
      to[t] = r.to + 1;
      samples[t] = r.samples;
      predicted[t] = r.predicted;
      nle_after[t] = r.nle_after;
      accepted[t] = r.accepted;
    }
    return Rcpp::List::create(
        Rcpp::Named("trials") = Rcpp::DataFrame::create(
            Rcpp::Named("from") = from, Rcpp::Named("to") = to,
            Rcpp::Named("samples") = samples, Rcpp::Named("predicted") = predicted,
            Rcpp::Named("NLE_after") = nle_after, Rcpp::Named("accepted") = accepted),
        Rcpp::Named("nle") = state.nle,
        Rcpp::Named("log_alpha") = as_matrix(state.log_alpha, data.n_taxa, state.n_components));
  };
  return Rcpp::List::create(Rcpp::Named(first) = run(true), Rcpp::Named(second) = run(false));
}

}  // namespace

// Transfers from the partition `labels` with parameters `log_alpha`, after EM,
// run twice from the same state (transfers_two_ways()): each ranking taking
// from the last what did not change (TransferSettings::reuse_rankings, the
// default; `reused`) and every ranking computed in full (`full`). For tests of
// the reuse.
// [[Rcpp::export(.transfers_reuse)]]
Rcpp::List transfers_reuse(SEXP counts, SEXP labels, SEXP log_alpha) {
  return transfers_two_ways(counts, labels, log_alpha, "reused", "full",
                            [](bool reuse, const fastdmm::Counts&,
                               fastdmm::TransferSettings& settings, fastdmm::EmState&) {
                              settings.reuse_rankings = reuse;
                            });
}

// Transfers from the partition `labels` with parameters `log_alpha`, after EM,
// run twice from the same state (transfers_two_ways()): each trial's refit
// starting the taxa its samples bring in at their own term's minimiser
// (TransferSettings::join_start, the default; `joined`) and at the receiving
// component's value for the taxa it does not count (`plain`). For tests of the
// start.
// [[Rcpp::export(.transfers_join_start)]]
Rcpp::List transfers_join_start(SEXP counts, SEXP labels, SEXP log_alpha) {
  return transfers_two_ways(counts, labels, log_alpha, "joined", "plain",
                            [](bool joined, const fastdmm::Counts&,
                               fastdmm::TransferSettings& settings, fastdmm::EmState&) {
                              settings.join_start = joined;
                            });
}

// Split-merge moves from the partition `labels` with parameters `log_alpha`
// (as .transfers_twice()), after EM, run twice from the same state with one
// memo of failed trials (split_merge_moves()'s `failed`), seed `seed`: each
// run's trials (merged, split, NLE after, kept) and final NLE. The second run
// meets every trial that failed in the first in the memo. For tests of the memo.
// [[Rcpp::export(.split_merge_twice)]]
Rcpp::List split_merge_twice(SEXP counts, SEXP labels, SEXP log_alpha, SEXP seed) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::SerialExecutor executor;
  const int s = read_int(seed, "seed", 0, std::numeric_limits<int>::max());
  fastdmm::EmState start = state_from_labels(data, labels, log_alpha);
  const fastdmm::FitHooks hooks;
  fastdmm::MoveSettings settings;
  settings.max_moves = 1000;
  settings.seed = static_cast<std::uint32_t>(s);
  fastdmm::run_em(data, start, settings.em, settings.optimiser, executor, hooks);
  const fastdmm::SquareRootProportions roots(data, true);
  const std::vector<std::uint64_t> fingerprint = fastdmm::sample_fingerprints(data, executor);
  std::unordered_set<std::uint64_t> failed;
  const auto run = [&]() {
    fastdmm::EmState state = start;
    state.workspace = std::make_shared<fastdmm::EmWorkspace>();
    const fastdmm::MovesResult result = fastdmm::split_merge_moves(
        data, roots, fingerprint, state, settings, executor, hooks,
        fastdmm::ProgressRange{&hooks, 0.0, 1.0}, nullptr, &failed);
    const std::size_t n = result.moves.size();
    Rcpp::IntegerVector first(n), second(n), split(n);
    Rcpp::NumericVector nle_after(n);
    Rcpp::LogicalVector accepted(n);
    for (std::size_t t = 0; t < n; ++t) {
      const fastdmm::MoveRecord& r = result.moves[t];
      first[t] = r.merge_first + 1;
      second[t] = r.merge_second + 1;
      split[t] = r.split + 1;
      nle_after[t] = r.nle_after;
      accepted[t] = r.accepted;
    }
    return Rcpp::List::create(
        Rcpp::Named("trials") = Rcpp::DataFrame::create(
            Rcpp::Named("merge_first") = first, Rcpp::Named("merge_second") = second,
            Rcpp::Named("split") = split, Rcpp::Named("NLE_after") = nle_after,
            Rcpp::Named("accepted") = accepted),
        Rcpp::Named("nle") = state.nle);
  };
  Rcpp::List first_run = run();
  Rcpp::List second_run = run();
  return Rcpp::List::create(Rcpp::Named("first") = first_run, Rcpp::Named("second") = second_run,
                            Rcpp::Named("nle_start") = start.nle);
}

// EM from the partition `labels` with parameters `log_alpha` (as .transfers_twice()),
// reusing settled M-steps (the searches' kSettledChange) or not: the
// NLE, parameters, weights and M-steps reused. For tests of the reuse.
// [[Rcpp::export(.em_reuse)]]
Rcpp::List em_reuse(SEXP counts, SEXP labels, SEXP log_alpha, SEXP reuse) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const bool reusing = read_flag(reuse, "reuse");
  fastdmm::EmState state = state_from_labels(data, labels, log_alpha);
  const fastdmm::SerialExecutor executor;
  const fastdmm::FitHooks hooks;
  fastdmm::EmSettings em;
  em.max_iterations = 1000;
  fastdmm::OptimiserOptions optimiser;
  optimiser.settled_change = reusing ? fastdmm::kSettledChange : -1.0;
  const fastdmm::EmRun run = fastdmm::run_em(data, state, em, optimiser, executor, hooks);
  return Rcpp::List::create(
      Rcpp::Named("nle") = state.nle, Rcpp::Named("iterations") = run.iterations,
      Rcpp::Named("converged") = run.converged,
      Rcpp::Named("log_alpha") = as_matrix(state.log_alpha, data.n_taxa, state.n_components),
      Rcpp::Named("weights") = Rcpp::NumericVector(state.weights.begin(), state.weights.end()),
      Rcpp::Named("reused_msteps") = state.reused_msteps);
}

// E-steps at the parameters `log_alphas` (a list of taxa x k matrices, in turn)
// and weights `weights` (k), each made twice: through one ColumnCache of
// `capacity` columns kept over the whole sequence, and without it. Each
// E-step's hyperprior term before it (`prior_first`: the cache holds some of
// its columns or none) and after it, its log-likelihood, posteriors and
// evidence (log_evidence() through the cache too). For tests of the cache: the
// same numbers either way.
// [[Rcpp::export(.columns_cached)]]
Rcpp::List columns_cached(SEXP counts, SEXP log_alphas, SEXP weights, SEXP capacity) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::size_t N = data.n_samples, S = data.n_taxa;
  if (TYPEOF(log_alphas) != VECSXP || XLENGTH(log_alphas) < 1) {
    refuse("log_alphas", "must be a non-empty list of matrices");
  }
  const SEXP first = VECTOR_ELT(log_alphas, 0);
  check_matrix(first, "log_alphas[[1]]", static_cast<int>(S), -1);
  const int K = Rf_ncols(first);
  const double* w = read_doubles(weights, "weights", K);
  double total = 0.0;
  for (int k = 0; k < K; ++k) {
    if (!(std::isfinite(w[k]) && w[k] >= 0.0)) refuse("weights", "must be finite and >= 0");
    total += w[k];
  }
  if (!(total > 0.0)) refuse("weights", "must not all be 0");
  const int room = read_int(capacity, "capacity", 1, 1000);
  std::vector<std::vector<double>> alphas;
  for (R_xlen_t m = 0; m < XLENGTH(log_alphas); ++m) {
    const SEXP x = VECTOR_ELT(log_alphas, m);
    const std::string name = "log_alphas[[" + std::to_string(m + 1) + "]]";
    check_matrix(x, name, static_cast<int>(S), K);
    for (R_xlen_t c = 0; c < XLENGTH(x); ++c) {
      if (!(std::fabs(REAL(x)[c]) <= 50.0)) refuse(name, "must hold values in [-50, 50]");
    }
    alphas.emplace_back(REAL(x), REAL(x) + XLENGTH(x));
  }
  const std::vector<double> weight(w, w + K);
  const fastdmm::SerialExecutor executor;
  const std::shared_ptr<fastdmm::ColumnCache> cache =
      std::make_shared<fastdmm::ColumnCache>(data, static_cast<std::size_t>(room));
  const auto run = [&](bool cached) {
    Rcpp::List steps(alphas.size());
    fastdmm::EStepWorkspace workspace;
    if (cached) workspace.cache = cache;
    for (std::size_t m = 0; m < alphas.size(); ++m) {
      const double prior_first =
          fastdmm::neg_log_prior(alphas[m], S, K, cached ? cache.get() : nullptr);
      std::vector<double> posterior, evidence;
      double log_likelihood = 0.0;
      fastdmm::EStepOutputs outputs;
      outputs.posterior = &posterior;
      outputs.log_likelihood = &log_likelihood;
      fastdmm::expectation(data, alphas[m], weight, K, executor, outputs, &workspace);
      const double prior =
          fastdmm::neg_log_prior(alphas[m], S, K, cached ? cache.get() : nullptr);
      fastdmm::log_evidence(data, alphas[m], K, executor, evidence,
                           cached ? cache.get() : nullptr);
      steps[m] = Rcpp::List::create(
          Rcpp::Named("log_likelihood") = log_likelihood,
          Rcpp::Named("prior_first") = prior_first, Rcpp::Named("prior") = prior,
          Rcpp::Named("posterior") = sample_major_as_matrix(posterior, N, K),
          Rcpp::Named("evidence") = sample_major_as_matrix(evidence, N, K));
    }
    return steps;
  };
  Rcpp::List plain = run(false), kept = run(true);
  return Rcpp::List::create(Rcpp::Named("cached") = kept, Rcpp::Named("plain") = plain);
}

// Transfers from the partition `labels` with parameters `log_alpha`, after EM,
// run twice from the same state (transfers_two_ways()): its states taking
// E-step columns from a ColumnCache, as a search's start does (`cached`), and
// without one (`plain`). For tests of the cache.
// [[Rcpp::export(.transfers_cached)]]
Rcpp::List transfers_cached(SEXP counts, SEXP labels, SEXP log_alpha) {
  return transfers_two_ways(counts, labels, log_alpha, "cached", "plain",
                            [](bool cached, const fastdmm::Counts& data,
                               fastdmm::TransferSettings&, fastdmm::EmState& state) {
                              if (cached) {
                                state.workspace->estep.cache =
                                    fastdmm::column_cache_for(data, state.n_components);
                              }
                            });
}

// Whether KnownOptima, given the states `posteriors` (a list of N x K posterior
// matrices) at NLEs `nles`, holds the state `query` at NLE `query_nle`, with
// the relative `tolerance`. For tests of KnownOptima.
// [[Rcpp::export(.known_optima)]]
bool known_optima(SEXP posteriors, SEXP nles, SEXP query, SEXP query_nle, SEXP tolerance) {
  using namespace fastdmm_glue;
  int n_row = 0, n_col = 0;
  const double* q = read_double_matrix(query, "query", n_row, n_col);
  const auto as_state = [&](const double* z, double nle) {
    fastdmm::EmState state;
    state.n_components = static_cast<std::size_t>(n_col);
    state.next_posterior = matrix_as_sample_major(z, static_cast<std::size_t>(n_row),
                                                  static_cast<std::size_t>(n_col));
    state.nle = nle;
    return state;
  };
  if (TYPEOF(posteriors) != VECSXP) refuse("posteriors", "must be a list of matrices");
  const R_xlen_t n = XLENGTH(posteriors);
  const double* nle = read_doubles(nles, "nles", n);
  for (R_xlen_t m = 0; m < n; ++m) {
    if (!std::isfinite(nle[m])) refuse("nles", "must be finite");
  }
  fastdmm::KnownOptima known(read_double(tolerance, "tolerance", 0.0, 1.0));
  for (R_xlen_t m = 0; m < n; ++m) {
    int rows = 0, cols = 0;
    const double* z = read_double_matrix(VECTOR_ELT(posteriors, m), "posteriors", rows, cols);
    if (rows != n_row || cols != n_col) refuse("posteriors", "must be matrices of the query's shape");
    known.add(as_state(z, nle[m]));
  }
  return known.contains(as_state(q, read_double(query_nle, "query_nle", -1e300, 1e300)));
}

namespace {

// `members`: 1-based sample indices, distinct, as 0-based rows in increasing order.
std::vector<std::uint32_t> read_members(SEXP members, const fastdmm::Counts& data) {
  using namespace fastdmm_glue;
  const int* m = read_ints(members, "members", 1, static_cast<R_xlen_t>(data.n_samples),
                          "an integer vector of sample indices");
  const R_xlen_t n = XLENGTH(members);
  std::vector<std::uint32_t> chosen;
  std::vector<bool> seen(data.n_samples, false);
  for (R_xlen_t i = 0; i < n; ++i) {
    if (m[i] == NA_INTEGER || m[i] < 1 || static_cast<std::size_t>(m[i]) > data.n_samples) {
      refuse("members", "must be sample indices from 1 to the number of samples");
    }
    if (seen[m[i] - 1]) refuse("members", "must be distinct");
    seen[m[i] - 1] = true;
    chosen.push_back(static_cast<std::uint32_t>(m[i] - 1));
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

// The nodes of the bisection tree of `members` (1-based sample indices, distinct)
// that transfers take their groups from, 1-based, for tests against R; each
// division walks the members' rows (`by_rows`, as the search does) or the tiles.
// [[Rcpp::export(.bisection_nodes)]]
Rcpp::List bisection_nodes(SEXP counts, SEXP members, SEXP by_rows) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<std::uint32_t> chosen = read_members(members, data);
  const bool rows = read_flag(by_rows, "by_rows");
  const fastdmm::SerialExecutor executor;
  const std::vector<std::vector<std::uint32_t>> nodes = fastdmm::bisection_nodes(
      data, fastdmm::SquareRootProportions(data, rows), fastdmm::sample_fingerprints(data, executor),
      chosen, executor);
  Rcpp::List out(nodes.size());
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    Rcpp::IntegerVector node(nodes[k].begin(), nodes[k].end());
    out[k] = node + 1;
  }
  return out;
}

// The division of `members` (1-based, distinct) that the model finds
// (model_division(): the trees' root 2-means, then EM and transfers on the
// members' own table with two components), as two halves, 1-based; an empty
// list when 2-means cannot divide them. For tests against R.
// [[Rcpp::export(.model_division)]]
Rcpp::List model_division(SEXP counts, SEXP members, SEXP threads) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<std::uint32_t> chosen = read_members(members, data);
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  const std::vector<std::vector<std::uint32_t>> halves = fastdmm::model_division(
      data, fastdmm::SquareRootProportions(data, true),
      fastdmm::sample_fingerprints(data, executor), chosen, fastdmm::EmSettings(),
      fastdmm::OptimiserOptions(), executor,
      [] { Rcpp::checkUserInterrupt(); });
  Rcpp::List out(halves.size());
  for (std::size_t h = 0; h < halves.size(); ++h) {
    Rcpp::IntegerVector half(halves[h].begin(), halves[h].end());
    out[h] = half + 1;
  }
  return out;
}

// The 2-means of some samples as split plans, kicks and trees run it (at most
// kSplitLloydRounds Lloyd rounds, the trees' seed), walking their rows
// (`by_rows`) or the tiles: the labels (1..k) of the members in increasing order, the centres
// (k x taxa) and the Lloyd rounds, for tests.
// [[Rcpp::export(.hellinger_subset)]]
Rcpp::List hellinger_subset(SEXP counts, SEXP members, SEXP k, SEXP by_rows, SEXP threads) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<std::uint32_t> chosen = read_members(members, data);
  const int n_components = read_int(k, "k", 1, static_cast<int>(data.n_samples));
  const bool rows = read_flag(by_rows, "by_rows");
  const RcppParallelExecutor executor(read_int(threads, "threads", 1, kIntMax));
  const fastdmm::HellingerPartition partition = fastdmm::hellinger_kmeans(
      data, fastdmm::SquareRootProportions(data, rows), chosen,
      fastdmm::sample_fingerprints(data, executor), static_cast<std::size_t>(n_components),
      fastdmm::kTreeSeed, executor, fastdmm::kSplitLloydRounds);
  Rcpp::IntegerVector labels(partition.label.begin(), partition.label.end());
  Rcpp::NumericMatrix centres(n_components, static_cast<int>(data.n_taxa));
  for (int c = 0; c < n_components; ++c) {
    for (std::size_t j = 0; j < data.n_taxa; ++j) {
      centres(c, static_cast<int>(j)) = partition.centres[c * data.n_taxa + j];
    }
  }
  return Rcpp::List::create(Rcpp::Named("labels") = labels + 1, Rcpp::Named("centres") = centres,
                            Rcpp::Named("iterations") = partition.iterations);
}

// One group trial as transfers run it: from the partition `labels` with
// parameters `log_alpha` (as .transfers_twice(), after EM), the samples
// `members` (1-based, distinct, one component) moved to component `to`, the
// two components refitted; kept when that lowers the NLE, or (`after_em`)
// when EM from there does (keep_after_em()). Returns the state's NLE, the
// refitted trial's, whether it was kept, the NLE where EM stopped (the refit's
// when it was not run), its iterations and the labels (1-based) after. For
// tests against R.
// [[Rcpp::export(.group_trial)]]
Rcpp::List group_trial(SEXP counts, SEXP labels, SEXP log_alpha, SEXP members, SEXP to,
                       SEXP after_em) {
  using namespace fastdmm_glue;
  const std::shared_ptr<const fastdmm::Counts> table = count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::SerialExecutor executor;
  fastdmm::EmState state = state_from_labels(data, labels, log_alpha);
  const std::vector<std::uint32_t> chosen = read_members(members, data);
  const std::size_t K = state.n_components;
  const int target = read_int(to, "to", 1, static_cast<int>(K));
  const bool em_after = read_flag(after_em, "after_em");
  const fastdmm::FitHooks hooks;
  const fastdmm::TransferSettings settings;
  fastdmm::run_em(data, state, settings.em, settings.optimiser, executor, hooks);
  const std::vector<std::size_t> label = fastdmm::arg_max_labels(state.next_posterior, K);
  const std::size_t from = label[chosen[0]], b = static_cast<std::size_t>(target - 1);
  for (std::uint32_t i : chosen) {
    if (label[i] != from) refuse("members", "must be in one component after EM");
  }
  if (b == from) refuse("to", "must be another component than the members'");
  if (static_cast<std::size_t>(std::count(label.begin(), label.end(), from)) == chosen.size()) {
    refuse("members", "must leave their component some samples");
  }
  std::vector<double> evidence;
  fastdmm::log_evidence(data, state.log_alpha, K, executor, evidence);
  const double nle_state = state.nle;
  fastdmm::EmState trial;
  trial.workspace = state.workspace;
  int unconverged = 0;
  const std::vector<std::uint32_t> destination(chosen.size(), static_cast<std::uint32_t>(b));
  const double nle_refit =
      fastdmm::try_reassignment(data, state, evidence, from, b, chosen, destination,
                                settings.optimiser, executor, trial, unconverged);
  fastdmm::AcceptedMoves kept;
  double nle_after = nle_refit;
  int iterations = 0;
  bool accepted = fastdmm::keep_if_lower(data, state, trial, nle_refit, unconverged, settings.em,
                                         settings.optimiser, executor, hooks, kept, nle_after,
                                         iterations);
  if (!accepted && em_after) {
    accepted = fastdmm::keep_after_em(data, state, trial, unconverged, settings.em,
                                      settings.same_optimum, settings.optimiser, executor, hooks,
                                      kept, nle_after, iterations);
  }
  const std::vector<std::size_t> after = fastdmm::arg_max_labels(state.next_posterior, K);
  Rcpp::IntegerVector labels_after(after.begin(), after.end());
  return Rcpp::List::create(
      Rcpp::Named("nle_state") = nle_state, Rcpp::Named("nle_refit") = nle_refit,
      Rcpp::Named("kept") = accepted, Rcpp::Named("nle_after") = nle_after,
      Rcpp::Named("em_iterations") = iterations, Rcpp::Named("nle") = state.nle,
      Rcpp::Named("labels") = labels_after + 1);
}
