// Rcpp glue: maps R objects onto the core's plain arrays, runs the core, builds R results.
#include "glue.h"

// Eigen from RcppEigen, without RcppEigen.h's conversions (which add megabytes of
// debug information for the three maps built by hand below).
#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <atomic>
#include <cmath>
#include <cstdint>
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

namespace {

using fastdmm_glue::RcppParallelExecutor;

Rcpp::NumericMatrix as_matrix(const std::vector<double>& values, std::size_t n_row,
                              std::size_t n_col) {
  Rcpp::NumericMatrix out(static_cast<int>(n_row), static_cast<int>(n_col));
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

std::vector<double> log_alpha_from_matrix(const Rcpp::NumericMatrix& log_alpha) {
  // R's taxa x components matrix is column-major, i.e. [k * S + j]: the core's layout.
  return std::vector<double>(log_alpha.begin(), log_alpha.end());
}

}  // namespace

// One search per k: the starts given by `kinds` (0 reference soft k-means, 1
// k-means++, 2 the posterior `given`, N x k) and `seeds`, screened, continued and
// refined as `search` says, then the Hessian and criteria of the best.
// [[Rcpp::export(.fit_dmn)]]
Rcpp::List fit_dmn(const Rcpp::List& counts, int k, const Rcpp::IntegerVector& seeds,
                   const Rcpp::IntegerVector& kinds, const Rcpp::Nullable<Rcpp::NumericMatrix>& given,
                   int threads, int max_iter, double tol, double rel_tol, bool accelerate,
                   bool reference_hessian, bool verbose, const Rcpp::List& search) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  fastdmm::SearchOptions options;
  options.n_components = static_cast<std::size_t>(k);
  options.em.max_iterations = max_iter;
  options.em.tolerance = tol;
  options.em.rel_tolerance = rel_tol;
  options.em.accelerate = accelerate;
  options.reference_hessian = reference_hessian;
  options.screen_iterations = Rcpp::as<int>(search["screen_iter"]);
  options.n_continue = static_cast<std::size_t>(Rcpp::as<int>(search["n_continue"]));
  options.split_merge = Rcpp::as<bool>(search["split_merge"]);
  options.max_moves = Rcpp::as<int>(search["max_moves"]);
  options.max_tries = Rcpp::as<int>(search["max_tries"]);
  // As gsl_rng_set(), which receives the R integer converted to unsigned long.
  options.seed = static_cast<std::uint32_t>(seeds[0]);

  std::vector<fastdmm::StartSpec> starts(static_cast<std::size_t>(seeds.size()));
  for (R_xlen_t s = 0; s < seeds.size(); ++s) {
    starts[s].kind = static_cast<fastdmm::StartKind>(kinds[s]);
    starts[s].seed = static_cast<std::uint32_t>(seeds[s]);
    if (starts[s].kind == fastdmm::StartKind::given) {
      const Rcpp::NumericMatrix z(given.get());
      // R's N x k matrix is column-major, i.e. [k * N + i]: the core's layout.
      starts[s].posterior.assign(z.begin(), z.end());
    }
  }

  fastdmm::FitHooks hooks;
  hooks.verbose = verbose;
  Rcpp::Function message("message");
  hooks.message = [&message](const std::string& line) { message(line); };
  hooks.check_interrupt = [] { Rcpp::checkUserInterrupt(); };

  const RcppParallelExecutor executor(threads);
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
      Rcpp::Named("posterior") = as_matrix(fit.posterior, N, K),
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
Rcpp::NumericMatrix log_evidence(const Rcpp::List& counts, const Rcpp::NumericMatrix& log_alpha,
                                 int threads) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::size_t K = static_cast<std::size_t>(log_alpha.ncol());
  std::vector<double> evidence;
  fastdmm::log_evidence(data, log_alpha_from_matrix(log_alpha), K,
                        RcppParallelExecutor(threads), evidence);
  return as_matrix(evidence, data.n_samples, K);
}

// Exposes one component's objective, gradient and Hessian summary, for tests against
// brute-force R computations.
// [[Rcpp::export(.component_terms)]]
Rcpp::List component_terms(const Rcpp::List& counts, const Rcpp::NumericVector& posterior,
                           const Rcpp::NumericVector& log_alpha, bool reference_hessian) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<double> z(posterior.begin(), posterior.end());
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  const std::vector<double> lambda(log_alpha.begin(), log_alpha.end());
  fastdmm::ComponentDerivatives d;
  const std::vector<double> pair_counts = fastdmm::nonzero_posterior_pair_counts(data, z.data());
  fastdmm::component_derivatives(data, weights[0], lambda.data(), fastdmm::SerialExecutor(), d,
                                 reference_hessian, &pair_counts);
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
Rcpp::List optimise_component(const Rcpp::List& counts, const Rcpp::NumericVector& posterior,
                              const Rcpp::NumericVector& log_alpha) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const std::vector<double> z(posterior.begin(), posterior.end());
  const std::vector<fastdmm::ComponentWeights> weights =
      fastdmm::component_weights(data, z, 1, fastdmm::SerialExecutor());
  std::vector<double> lambda(log_alpha.begin(), log_alpha.end());
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
Rcpp::IntegerVector hellinger_kmeans(const Rcpp::List& counts, int k, int seed, int threads) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const RcppParallelExecutor executor(threads);
  const fastdmm::HellingerPartition partition = fastdmm::hellinger_kmeans(
      *table, fastdmm::SquareRootProportions(*table), {},
      fastdmm::sample_fingerprints(*table, executor), static_cast<std::size_t>(k),
      static_cast<std::uint32_t>(seed), executor);
  Rcpp::IntegerVector labels(partition.label.begin(), partition.label.end());
  return labels + 1;
}

// [[Rcpp::export(.soft_kmeans)]]
Rcpp::List soft_kmeans(const Rcpp::List& counts, int k, int seed, int threads) {
  const std::shared_ptr<const fastdmm::Counts> table = fastdmm_glue::count_table(counts);
  const fastdmm::Counts& data = *table;
  const fastdmm::KmeansResult result =
      fastdmm::soft_kmeans(data, static_cast<std::size_t>(k), static_cast<std::uint32_t>(seed),
                           RcppParallelExecutor(threads), 1000, 1e-6, [](int, double) {});
  return Rcpp::List::create(
      Rcpp::Named("posterior") = as_matrix(result.posterior, data.n_samples, k),
      Rcpp::Named("centres") = as_matrix(result.centres, data.n_taxa, k),
      Rcpp::Named("weights") = Rcpp::NumericVector(result.weights.begin(), result.weights.end()),
      Rcpp::Named("iterations") = result.iterations);
}

// The first `n` raw 32-bit outputs of the reference generator and `n` draws of
// uniform_int(n_values) from a second generator with the same seed, for tests.
// [[Rcpp::export(.reference_stream)]]
Rcpp::List reference_stream(int seed, int n, int n_values) {
  fastdmm::ReferenceRng raw(static_cast<std::uint32_t>(seed));
  fastdmm::ReferenceRng draws(static_cast<std::uint32_t>(seed));
  Rcpp::NumericVector u32(n);
  Rcpp::IntegerVector k(n);
  for (int m = 0; m < n; ++m) {
    u32[m] = static_cast<double>(raw.next_u32());
    k[m] = static_cast<int>(draws.uniform_int(static_cast<std::uint32_t>(n_values)));
  }
  return Rcpp::List::create(Rcpp::Named("u32") = u32, Rcpp::Named("uniform_int") = k);
}

// Seeds for restarts 2..n derived from the user's seed by SplitMix64, so that every
// start of every k is reproducible from one seed; restart 1 uses the seed itself.
// [[Rcpp::export(.derive_seeds)]]
Rcpp::IntegerVector derive_seeds(int seed, int n) {
  Rcpp::IntegerVector seeds(n);
  std::uint64_t state = static_cast<std::uint32_t>(seed);
  for (int s = 0; s < n; ++s) {
    if (s == 0) {
      seeds[s] = seed;
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
  return Rf_allocVector(INTSXP, static_cast<R_xlen_t>(n));
}

std::uint32_t* index_data(SEXP x) { return reinterpret_cast<std::uint32_t*>(INTEGER(x)); }

// Offsets (which may exceed the 32-bit range) travel to R as doubles.
Rcpp::NumericVector offsets_to_r(const std::vector<std::size_t>& offsets) {
  return Rcpp::NumericVector(offsets.begin(), offsets.end());
}

std::vector<std::size_t> offsets_from_r(SEXP x, std::size_t length, const char* what) {
  if (TYPEOF(x) != REALSXP || static_cast<std::size_t>(XLENGTH(x)) != length) {
    throw std::invalid_argument(std::string("corrupt count table: bad ") + what);
  }
  const double* values = REAL(x);
  return std::vector<std::size_t>(values, values + length);
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

SEXP new_table_pointer(const SharedCounts& table) {
  Rcpp::Shield<SEXP> pointer(R_MakeExternalPtr(nullptr, R_NilValue, R_NilValue));
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
  if (dim.size() != 2 || col_start.size() != dim[1] + 1 || row_index.size() != values.size() ||
      col_start[dim[1]] != values.size()) {
    Rcpp::stop("invalid dgCMatrix: its slots do not agree");
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

std::shared_ptr<const fastdmm::Counts> count_table(const Rcpp::List& counts) {
  SEXP pointer = counts.containsElementNamed("pointer") ? SEXP(counts["pointer"]) : R_NilValue;
  if (TYPEOF(pointer) == EXTPTRSXP && R_ExternalPtrAddr(pointer) != nullptr) {
    return *static_cast<SharedCounts*>(R_ExternalPtrAddr(pointer));
  }
  const std::size_t n_samples = static_cast<std::size_t>(Rcpp::as<int>(counts["n_samples"]));
  const std::size_t n_taxa = static_cast<std::size_t>(Rcpp::as<int>(counts["n_taxa"]));
  SEXP col_sample = counts["col_sample"], col_pair = counts["col_pair"];
  std::vector<std::size_t> col_ptr = offsets_from_r(counts["col_ptr"], n_taxa + 1, "col_ptr");
  std::vector<std::size_t> pair_ptr = offsets_from_r(counts["pair_ptr"], n_taxa + 1, "pair_ptr");
  const Rcpp::NumericVector pair_value = counts["pair_value"];
  if (TYPEOF(col_sample) != INTSXP || TYPEOF(col_pair) != INTSXP ||
      static_cast<std::size_t>(XLENGTH(col_sample)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(XLENGTH(col_pair)) != col_ptr[n_taxa] ||
      static_cast<std::size_t>(pair_value.size()) != pair_ptr[n_taxa]) {
    throw std::invalid_argument("corrupt count table: its arrays do not match");
  }
  // Rebuilt on one thread: this happens once per worker process.
  const SharedCounts table =
      assemble(n_samples, std::move(col_ptr), col_sample, col_pair, std::move(pair_ptr),
               std::vector<double>(pair_value.begin(), pair_value.end()),
               fastdmm::SerialExecutor());
  if (TYPEOF(pointer) == EXTPTRSXP) attach_table(pointer, table);
  return table;
}

}  // namespace fastdmm_glue

// Validates a dense double or integer matrix or a dgCMatrix (samples x taxa) and
// builds its count table in two parallel passes over R's own memory. With bad
// values, returns only `problems` (cells per kind of problem) for R to word.
// [[Rcpp::export(.build_counts)]]
Rcpp::List build_counts(SEXP x, int threads) {
  fastdmm::ColumnSource source;
  fastdmm::CompressedColumns unused;
  if (!fastdmm_glue::column_source(x, true, unused, source)) {
    Rcpp::stop("internal error: .build_counts() takes a double or integer matrix or a dgCMatrix");
  }
  const RcppParallelExecutor executor(threads);
  fastdmm::CountLayout layout = fastdmm::scan_columns(source, executor);
  if (layout.problems.any()) return fastdmm_glue::problems_result(layout.problems);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_columns(source, layout, col_sample, col_pair, executor);
  }, executor);
}

// The count table of the samples `rows` (1-based, increasing) of a built table: what
// .build_counts() gives for those rows of the original input.
// [[Rcpp::export(.subset_counts)]]
Rcpp::List subset_counts(const Rcpp::List& counts, const Rcpp::IntegerVector& rows, int threads) {
  const SharedCounts parent = fastdmm_glue::count_table(counts);
  std::vector<std::uint32_t> kept(static_cast<std::size_t>(rows.size()));
  for (R_xlen_t r = 0; r < rows.size(); ++r) {
    if (rows[r] < 1) Rcpp::stop("internal error: rows must be positive");
    kept[static_cast<std::size_t>(r)] = static_cast<std::uint32_t>(rows[r] - 1);
  }
  const RcppParallelExecutor executor(threads);
  fastdmm::CountLayout layout = fastdmm::scan_rows(*parent, kept, executor);
  return build_table(layout, [&](std::uint32_t* col_sample, std::uint32_t* col_pair) {
    fastdmm::fill_rows(*parent, kept, layout, col_sample, col_pair, executor);
  }, executor);
}
