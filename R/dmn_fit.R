#' Fit a Dirichlet-multinomial mixture model
#'
#' Fits a mixture of `k` Dirichlet-multinomial components to a count table by
#' expectation-maximisation, as `DirichletMultinomial::dmn()` does: the same
#' soft k-means start for the same seed, the same EM and the same
#' Gamma(0.1, 0.1) hyperprior on every Dirichlet parameter. The C++ core works
#' on the non-zero counts only and runs in parallel; the result does not depend
#' on the number of threads.
#'
#' @section Differences from the reference:
#' * The reference's Hessian drops the posterior weights from two of its sums
#'   when `k >= 2`, so its `LogDet`, `Laplace`, `Lower` and `Upper` are wrong
#'   there (its NLE, AIC, BIC, weights, alphas and posteriors are right). By
#'   default fastdmm computes the exact Hessian; `hessian = "reference"`
#'   reproduces the reference's numbers for users who must match earlier
#'   results. Both are O(number of taxa): the Hessian is diagonal plus rank one.
#' * Each M-step is solved by a damped Newton method to a gradient norm of
#'   1e-6 (the reference's BFGS stops at 1e-3), so where the reference's EM
#'   wanders (larger `k`) fastdmm may settle at a different, usually better,
#'   optimum from the same start.
#' * Tables without dimnames, counts above the 32-bit range, components that
#'   end up empty, and sparse `Matrix` input all work. A sample whose counts are
#'   all zero is refused with an error naming it (the reference fails too).
#'   Taxa that are zero in every sample are kept, as in the reference, so the
#'   parameter count and the information criteria stay comparable.
#'
#' @param counts A count table: a numeric matrix or a data.frame of numeric
#'   columns with samples in rows and taxa in columns, or a `Matrix` sparse
#'   matrix such as a `dgCMatrix` (never densified), likewise samples x taxa;
#'   or a container in its own orientation: a phyloseq object or `otu_table`
#'   (`taxa_are_rows()` is respected), or a SummarizedExperiment (or subclass,
#'   such as TreeSummarizedExperiment) with taxa in rows and samples in
#'   columns (see `assay.type`). The orientation is never guessed from the
#'   shape. Counts must be finite, non-negative whole numbers, and every sample
#'   needs at least one count.
#' @param k Number of mixture components, a whole number from 1 to the number
#'   of samples, or a vector of them to fit each (see Value).
#' @param verbose If `TRUE`, report the progress of the initialisation and of
#'   the EM iterations (every tenth iteration) with [message()], in the
#'   reference's words.
#' @param seed Seed of the random start; `as.integer(seed)` seeds the same
#'   generator the reference uses (MT19937), so the same seed gives the same
#'   start.
#' @param threads Number of threads. `NULL` uses
#'   `getOption("fastdmm.threads", RcppParallel::defaultNumThreads())`. Capped
#'   at the number of cores (`RcppParallel::defaultNumThreads()`); the fit
#'   records the number used as `threads`. Reading and checking the table
#'   uses the same threads.
#' @param hessian `"exact"` (default) or `"reference"`: which Hessian gives
#'   `LogDet`, `Laplace` and the `Lower`/`Upper` bounds (see Differences).
#' @param max_iter Maximum number of EM iterations (the reference uses 100).
#' @param tol EM stops when the NLE changes by no more than `tol` between
#'   iterations (the reference uses 1e-6).
#' @param nstart Number of random starts for each `k`. Start 1 uses `seed`
#'   itself (so `nstart = 1` is the single fit), later starts use seeds derived
#'   from it; the start with the lowest NLE is kept (the earliest one when
#'   several agree to 1e-9 relative) and all starts' NLE are recorded in the
#'   fit's `starts` table.
#' @param assay.type For a SummarizedExperiment `counts`: the name of the
#'   assay holding the counts. `NULL` (default) takes the assay named
#'   `"counts"` if there is one, otherwise the first assay. Giving it for other
#'   inputs is an error. Sparse assays are used without densifying.
#'
#' @return An object of class `dmn_fit`, a list with the reference's slots as
#'   elements: `goodnessOfFit` (named `NLE`, `LogDet`, `Laplace`, `BIC`,
#'   `AIC`), `group` (samples x components posterior matrix), `mixture`
#'   (`list(Weight = )`), `fit` (`list(Lower, Estimate, Upper)`, taxa x
#'   components), plus `k`, `seed`, `hessian`, `log_likelihood`, `nle_trace`
#'   (the NLE after every EM iteration), `em_iterations`, `converged`,
#'   `kmeans_iterations`, `threads` and `call`. Components are sorted by
#'   decreasing weight and named `"1"`, `"2"`, ... Use the accessors
#'   [mixture()], [mixturewt()], [goodnessOfFit()], [laplace()], `AIC()`,
#'   `BIC()`, `fitted()`, `predict()`, `logLik()`, `summary()` rather than the
#'   elements. With `nstart > 1` the fit also has `starts` (a data.frame of
#'   each start's `seed`, `NLE`, `em_iterations`, `converged`) and
#'   `best_start`.
#'
#'   When `k` has several values, a `dmn_fits` object: a list of `dmn_fit`, one
#'   per value of `k` in the order given, with [summary()][summary.dmn_fits],
#'   [plot()][plot.dmn_fits], [best_fit()] and `as.data.frame()` methods.
#'
#' @section Parallel and distributed fitting:
#' Several `k` or starts are independent fits; they run through
#' [future.apply::future_lapply()], so `future::plan(multisession)` (or a
#' cluster or batchtools plan) spreads them over workers. The result is the
#' same whatever the plan. When the plan runs fits side by side, each fit gets
#' one thread unless `threads` is given. Progress is reported through
#' progressr, one tick per finished fit: wrap the call in
#' `progressr::with_progress()` or set `progressr::handlers(global = TRUE)`.
#'
#' @references Holmes I, Harris K, Quince C (2012). Dirichlet multinomial
#'   mixtures: generative models for microbial metagenomics. PLoS ONE 7(2):
#'   e30126. \doi{10.1371/journal.pone.0030126}
#' @seealso [mixture()], [goodnessOfFit()], [predict.dmn_fit()]
#' @export
#' @examples
#' set.seed(1)
#' counts <- rbind(
#'   matrix(rpois(20 * 6, c(50, 30, 10, 5, 2, 1)), 20, 6, byrow = TRUE),
#'   matrix(rpois(20 * 6, c(1, 2, 5, 10, 30, 50)), 20, 6, byrow = TRUE)
#' )
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' fit
#' mixturewt(fit)
#' table(mixture(fit, assign = TRUE), rep(1:2, each = 20))
#'
#' # several k, best of three starts each, choose by Laplace
#' fits <- dmn_fit(counts, k = 1:3, nstart = 3, seed = 1, threads = 1)
#' fits
#' best_fit(fits, by = "laplace")
dmn_fit <- function(counts, k, verbose = FALSE,
                    seed = runif(1, 0, .Machine$integer.max), threads = NULL,
                    hessian = c("exact", "reference"), max_iter = 100, tol = 1e-6,
                    nstart = 1, assay.type = NULL) {
  call <- match.call()
  hessian <- match.arg(hessian)
  verbose <- check_flag(verbose, "verbose")
  data <- as_counts(counts, "counts", assay.type = assay.type, threads = threads)
  if (data$n_taxa < 2L) {
    abort_input("counts", sprintf("must have at least 2 taxa (columns); it has %d",
                                  data$n_taxa), "fastdmm_too_few_taxa")
  }
  if (missing(k)) abort_input("k", "is missing: give the number of components",
                              "fastdmm_bad_argument")
  k <- check_components(k, data$n_samples)
  seed <- check_seed(seed)
  nstart <- check_whole_number(nstart, "nstart", min = 1)
  max_iter <- check_whole_number(max_iter, "max_iter", min = 1)
  if (!is.numeric(tol) || length(tol) != 1L || !is.finite(tol) || tol < 0) {
    abort_input("tol", "must be a single finite number >= 0", "fastdmm_bad_argument")
  }
  n_tasks <- length(k) * nstart
  # Fits running side by side in futures on one machine get one thread each
  # unless the user says otherwise, so they do not oversubscribe the cores.
  if (is.null(threads) && n_tasks > 1L && future::nbrOfWorkers() > 1) {
    threads <- 1L
  }
  threads <- resolve_threads(threads)

  seeds <- .derive_seeds(seed, nstart)
  tasks <- lapply(seq_len(n_tasks), function(t) {
    list(k = k[(t - 1L) %/% nstart + 1L], start = (t - 1L) %% nstart + 1L,
         seed = seeds[(t - 1L) %% nstart + 1L])
  })
  fit_task <- function(task) {
    if (verbose) message(sprintf("dmn, k=%d", task$k))
    .fit_dmn(data, task$k, task$seed, threads, max_iter, as.double(tol),
             hessian == "reference", verbose)
  }
  raws <- run_tasks(tasks, fit_task)

  fits <- lapply(seq_along(k), function(i) {
    mine <- which(vapply(tasks, function(task) task$k == k[i], logical(1)))
    nle <- vapply(raws[mine], function(raw) raw$goodness_of_fit[["NLE"]], numeric(1))
    # The first start within rounding of the lowest NLE, so that equivalent
    # optima resolve to the earliest (most reproducible) start.
    best <- mine[which(nle <= min(nle) + 1e-9 * abs(min(nle)))[1L]]
    raw <- raws[[best]]
    fit <- new_dmn_fit(raw, data, k = k[i], seed = tasks[[best]]$seed,
                       hessian = hessian, threads = threads, call = call)
    fit$starts <- data.frame(
      start = seq_along(mine),
      seed = vapply(tasks[mine], function(task) task$seed, integer(1)),
      NLE = nle,
      em_iterations = vapply(raws[mine], function(r) r$em_iterations, integer(1)),
      converged = vapply(raws[mine], function(r) r$converged, logical(1))
    )
    fit$best_start <- tasks[[best]]$start
    warn_about_fit(raw, k[i], tol)
    fit
  })
  if (length(k) == 1L) fits[[1L]] else new_dmn_fits(fits, call)
}

check_components <- function(k, n_samples) {
  ok <- is.numeric(k) && length(k) >= 1L && !anyNA(k) && all(is.finite(k)) &&
    all(k == round(k)) && all(k >= 1)
  if (!ok) {
    abort_input("k", "must be a positive whole number (or a vector of them)",
                "fastdmm_bad_argument")
  }
  if (anyDuplicated(k)) {
    abort_input("k", "has duplicated values", "fastdmm_bad_argument")
  }
  if (any(k > n_samples)) {
    abort_input("k", sprintf("(%s) must not exceed the number of samples (%d)",
                             format_names(k[k > n_samples]), n_samples),
                "fastdmm_bad_argument")
  }
  as.integer(k)
}

# Runs independent fits through future.apply (sequentially unless the user has
# set a future plan), ticking a progressr progressor once per finished fit.
# Futures on other workers receive `fun` with only the variables it uses (the
# compact count table, not the user's object it was built from); every fit in
# one process shares the table's C++ form.
run_tasks <- function(tasks, fun) {
  if (length(tasks) == 1L) return(list(fun(tasks[[1L]])))
  fun <- with_used_locals(fun)
  progress <- progressr::progressor(steps = length(tasks))
  future.apply::future_lapply(tasks, function(task) {
    result <- fun(task)
    progress()
    result
  }, future.seed = NULL)
}

# `fun` enclosed by a copy of its frame that keeps only the variables its body
# names (the frame's parent stays the same).
with_used_locals <- function(fun) {
  frame <- environment(fun)
  used <- intersect(all.names(body(fun)), ls(frame, all.names = TRUE))
  environment(fun) <- list2env(mget(used, envir = frame), parent = parent.env(frame))
  fun
}

warn_about_fit <- function(raw, k, tol) {
  if (!raw$converged) {
    warning(structure(
      class = c("fastdmm_not_converged", "warning", "condition"),
      list(message = sprintf(paste(
        "k = %d: EM did not converge in %d iterations (last NLE change %.3g > tol = %g);",
        "increase 'max_iter' or try other seeds"),
        k, raw$em_iterations, abs(diff(utils::tail(raw$nle_trace, 2))), tol),
        call = NULL)
    ))
  }
  empty <- sum(raw$weights == 0)
  if (empty > 0L) {
    warning(structure(
      class = c("fastdmm_empty_component", "warning", "condition"),
      list(message = sprintf(paste(
        "k = %d: %d component%s ended up with no samples; their weight is 0 and",
        "LogDet and Laplace are infinite. Fewer components describe these data."),
        k, empty, plural(empty)), call = NULL)
    ))
  }
  invisible(NULL)
}

# Sorts the core's components by decreasing weight (as the reference does) and
# dresses the matrices with sample, taxon and component names.
new_dmn_fit <- function(raw, data, k, seed, hessian, threads, call) {
  order_by_weight <- order(raw$weights, decreasing = TRUE)
  components <- as.character(seq_len(k))
  taxa <- data$taxon_names
  samples <- data$sample_names
  dress <- function(m, rows) {
    m <- m[, order_by_weight, drop = FALSE]
    dimnames(m) <- list(rows, components)
    m
  }
  structure(list(
    goodnessOfFit = raw$goodness_of_fit,
    group = dress(raw$posterior, samples),
    mixture = list(Weight = raw$weights[order_by_weight] / data$n_samples),
    fit = list(
      Lower = dress(raw$lower, taxa),
      Estimate = dress(raw$estimate, taxa),
      Upper = dress(raw$upper, taxa)
    ),
    k = k,
    n_samples = data$n_samples,
    n_taxa = data$n_taxa,
    seed = seed,
    hessian = hessian,
    log_likelihood = raw$log_likelihood,
    nle_trace = raw$nle_trace,
    em_iterations = raw$em_iterations,
    converged = raw$converged,
    kmeans_iterations = raw$kmeans_iterations,
    threads = threads,
    call = call
  ), class = "dmn_fit")
}
