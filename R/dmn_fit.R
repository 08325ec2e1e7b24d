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
#'   columns with samples in rows and taxa in columns, a `Matrix` sparse
#'   matrix such as a `dgCMatrix` (never densified), or a DelayedArray
#'   `DelayedMatrix` such as an `HDF5Array::HDF5Matrix` (read block by block,
#'   never densified: see "Tables on disk"), likewise samples x taxa; the
#'   path of a BIOM 2.1 (HDF5) file, such as a QIIME 2 feature table, read a
#'   block of taxa at a time with its sample and observation ids as names
#'   (needs rhdf5; see "Tables on disk"); or a container in its own
#'   orientation: a phyloseq object or `otu_table` (`taxa_are_rows()` is
#'   respected), or a SummarizedExperiment (or subclass,
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
#'   `getOption("fastdmm.threads")` when set, and otherwise as many threads as
#'   the table's size pays for: one per 65,536 non-zero counts x components
#'   (the work of one E-step; below that, starting and joining a parallel loop
#'   costs more than a second thread saves), at least one, at most
#'   `RcppParallel::defaultNumThreads()` (at most 2 while `R CMD check` sets
#'   `_R_CHECK_LIMIT_CORES_`, as `--as-cran` does). A number you give is obeyed
#'   up to that number of cores. The replicated search (`nstart = NULL`, the default)
#'   runs its starts side by side instead, one thread each: `threads` of them,
#'   by default every core (a whole start always pays for a thread), fewer when
#'   the memory available cannot hold that many starts at once. Results are
#'   identical for any number of threads; the fit records the number its
#'   parallel loops used as `threads`. Reading and checking the table uses
#'   every core unless `threads` is given.
#' @param hessian `"exact"` (default) or `"reference"`: which Hessian gives
#'   `LogDet`, `Laplace` and the `Lower`/`Upper` bounds (see Differences). As
#'   with [match.arg()], a unique abbreviation will do (`"ref"`).
#' @param max_iter Maximum number of EM iterations (the reference uses 100), a
#'   whole number from 1 to `.Machine$integer.max`. In a search (`nstart >
#'   1`, or `init = "kmeans++"`) it bounds every EM run: each start's
#'   screening and continuation together, each split-merge trial, and the
#'   refinement on all samples after a subsample; the fit warns when the run
#'   behind the result stopped at `max_iter` without converging.
#' @param tol EM stops when the NLE changes by no more than `tol` between
#'   iterations (the reference uses 1e-6).
#' @param nstart Number of starts for each `k`, or `NULL` (default): the
#'   replicated search. Start 1 is the start `init` asks for, from `seed`
#'   itself; starts 2, 3, ... are k-means++ starts from seeds derived from
#'   `seed`.
#'   * `NULL`: starts run in order (side by side on `threads` threads, taken
#'     in order), each to convergence and then
#'     moved (split-merge moves and transfers of samples between components,
#'     see [dmn_search()]) until no move improves it, until the best optimum
#'     has been reached by `replicates` starts (3) or the budget of starts
#'     runs out, which is sized by the table's cost (hundreds of starts for a
#'     table of tens of samples, a few for a wide one) and raised with
#'     `dmn_search(max_starts = )`. When the budget ends first the fit warns
#'     (class `fastdmm_not_replicated`), naming `k` and how to widen it.
#'     `fit$search` records the starts run and how many reached the best.
#'   * `1`: the reference's algorithm: one start, EM, no moves. With the
#'     default `init = "reference"` this is DirichletMultinomial's `dmn()`
#'     for the same seed, number for number.
#'   * `n > 1`: a fixed budget of `n` starts, screened as before replication
#'     existed: every start gets a short EM run, only the best
#'     `ceiling(sqrt(n))` run on to convergence (em-EM), and the best of those
#'     is moved until no move improves it. Cheaper per start than the
#'     replicated search, and the way to bound the work on very large tables.
#'
#'   Every start is on record in the fit's `starts` table; see the "Finding the
#'   best fit" section of `vignette("fastdmm")`. At most 100,000.
#' @param assay.type For a SummarizedExperiment `counts`: the name of the
#'   assay holding the counts. `NULL` (default) takes the assay named
#'   `"counts"` if there is one, otherwise the first assay. Giving it for other
#'   inputs is an error. Sparse assays are used without densifying, and
#'   `DelayedMatrix` assays (HDF5-backed, such as `HDF5Array::HDF5Matrix`, or
#'   with delayed operations) are read block by block (see "Tables on disk").
#'
#' @param init The first start: `"reference"` (default), the reference's soft
#'   k-means on proportions for `seed`; `"kmeans++"`, D^2 seeding and k-means
#'   on square-root proportions (Hellinger geometry), whose random draws are
#'   keyed on each sample's content, so that reordering the samples gives the
#'   same fit; or a start you give: a vector of one component label (1..k) per
#'   sample, such as another clustering's, or an N x k matrix of posteriors
#'   with rows summing to 1. A start you give needs a single `k`.
#' @param accelerate Extrapolate EM with SQUAREM (Varadhan & Roland 2008)? Each
#'   extrapolated step is kept only when it ends lower than the plain EM steps
#'   it started from, so the NLE never rises, and EM reaches the same optimum
#'   in far fewer iterations where components overlap. `FALSE` runs plain EM,
#'   the reference's algorithm step for step (same NLE trace). The default is
#'   `TRUE`: every agreement test with the reference passes either way.
#'   `max_iter` counts evaluations of the EM map either way; `nle_trace` then
#'   has one value per SQUAREM cycle.
#' @param rel_tol Relative floor of the stopping rule: EM stops when the NLE
#'   changes by at most `max(tol, rel_tol * |NLE|)`. The default 1e-12 leaves
#'   tables of the reference's size at `tol`, while on large tables (NLE of
#'   1e7 and more) `tol` alone is below the NLE's rounding.
#' @param search Settings of the search with several starts, from
#'   [dmn_search()]. The settings are checked again here, so an object edited
#'   after [dmn_search()] made it is held to the same rules.
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
#'   elements. `starts` is a data.frame of every start: `start`, `seed`,
#'   `kind` (`"reference"`, `"kmeans++"` or `"given"`), `screen_NLE` (the NLE
#'   after screening, `NA` when starts were not screened), `continued` (run on
#'   after screening), `NLE` (where its EM ended, `NA` if it was not
#'   continued), `moved_NLE` and `kicks` (where its moves, kicks and division
#'   moves ended, and how many kicks it ran, in the replicated search; `NA`
#'   otherwise), `em_iterations`, `converged` and `status` (`"converged"`, `"max_iter"`,
#'   `"screened"`: not continued, or `"abandoned"`: stopped once Aitken's
#'   estimate of its limit showed it could not end below the best). `moves`
#'   lists the moves tried on the best start, in order, with their `kind`,
#'   `NLE_before`, `NLE_after`, `accepted` and `em_iterations`: split-merge
#'   moves (components `merge_first` and `merge_second` merged and `split`
#'   split, in the numbering of the time; `merge_first` equal to
#'   `merge_second` is an empty component taking half of the split one),
#'   transfers (`samples` moved `from` one component `to` another, with the
#'   change in NLE the ranking `predicted` for the move (`NA` for division
#'   moves, which are not ranked, and for the other
#'   kinds), re-splits (components `from` and `to` pooled, `samples` in the
#'   pool) and kicks (component `from` emptied and `to` split into itself and
#'   `from`, `samples` the samples the kick moved, `NLE_after` the NLE once
#'   the moves have run on the kicked state; a kick that would have given back
#'   the same partition or left a component empty was not run: `samples` 0,
#'   `NLE_after` `NA`; the moves of the kicked states are not listed),
#'   `best_start` the start kept, `init` and `accelerate` what was
#'   used, and `total_em_iterations` every EM iteration the search spent.
#'   `search` records how the table was used: `samples` (all of them),
#'   `subsample` (how many the starts and moves worked on; `samples` when the
#'   search used them all), `subsample_NLE` (the best NLE on the subsample,
#'   `NA` without one) and `refine_iterations` (EM iterations on all samples
#'   after the subsample). When a subsample was used, the NLEs in `starts` and
#'   `moves` are the subsample's, and `nle_trace`, `em_iterations` and
#'   `converged` are those of the refinement on all samples.
#'
#'   When `k` has several values, a `dmn_fits` object: a list of `dmn_fit`, one
#'   per value of `k` in the order given, with [summary()][summary.dmn_fits],
#'   [plot()][plot.dmn_fits], [best_fit()] and `as.data.frame()` methods.
#'
#' @section Tables on disk:
#' A `DelayedMatrix` (DelayedArray package), whether given as `counts` or as
#' the assay of a SummarizedExperiment, is never realised as a dense matrix.
#' It is read in blocks of whole samples through DelayedArray's block
#' processing (row blocks of a samples x taxa `counts`, column blocks of a
#' taxa x samples assay; sparse blocks when `DelayedArray::is_sparse()`), each
#' block at most `DelayedArray::getAutoBlockSize()` bytes (100 MB unless
#' changed with `DelayedArray::setAutoBlockSize()`). The blocks are read
#' twice: once to check the counts and lay out the table, once to fill it. So
#' an HDF5 file of any size needs memory for the compact table of its
#' non-zero counts (about 4 bytes per non-zero) plus one block, and gives
#' exactly the fit of the same table in memory, with the same errors for bad
#' values. Smaller blocks use less memory and take longer; delayed operations
#' are applied block by block as they are read.
#'
#' A single string is the path of a BIOM 2.1 (HDF5) file, the format of QIIME
#' 2 feature tables and of large public collections (BIOM 2.0 reads too). Its
#' table compressed by observation (`observation/matrix/data`, `indices`,
#' `indptr`), which is the compact table's own layout, is read with rhdf5 in
#' one pass, a block of whole taxa at a time (at most
#' `DelayedArray::getAutoBlockSize()` bytes of non-zeros at 12 bytes each, or
#' 100 MB without DelayedArray); `sample/ids` and `observation/ids` name the
#' samples and taxa. Memory is the compact table, the ids, the file's index
#' pointers (8 bytes per taxon) and one block:
#' never the dense matrix that `biomformat::read_biom()` and
#' `phyloseq::import_biom()` build. The fit is exactly that of the same table
#' in memory, and bad values and samples without counts are refused as in a
#' matrix. A path to no file (class `fastdmm_missing_file`), a BIOM 1.0 (JSON)
#' file (`fastdmm_biom_json`: read it with `biomformat::read_biom()` or convert
#' it with `biom convert --to-hdf5`), and a file that is not HDF5, is
#' truncated, lacks a dataset or whose datasets and attributes disagree, are
#' refused with errors of class `fastdmm_bad_biom`. [predict()][predict.dmn_fit]
#' and [dmngroup()] take a path too; they read the whole table as a sparse
#' `dgCMatrix`.
#'
#' @section Parallel and distributed fitting:
#' Several `k` or starts are independent fits; they run through
#' [future.apply::future_lapply()], so `future::plan(multisession)` (or a
#' cluster or batchtools plan) spreads them over workers. The result is the
#' same whatever the plan. When the plan runs fits side by side, each fit gets
#' one thread unless `threads` is given. Progress is reported through
#' progressr from inside every fit, as it screens starts, runs them on, tries
#' split-merge moves and refines on all samples (100 steps per value of `k`),
#' so a single long fit moves the bar too: wrap the call in
#' `progressr::with_progress()` or set `progressr::handlers(global = TRUE)`.
#' A user interrupt stops the fit between EM iterations and between the
#' rounds of every start.
#'
#' @references Holmes I, Harris K, Quince C (2012). Dirichlet multinomial
#'   mixtures: generative models for microbial metagenomics. PLoS ONE 7(2):
#'   e30126. \doi{10.1371/journal.pone.0030126}
#'
#'   Varadhan R, Roland C (2008). Simple and globally convergent methods for
#'   accelerating the convergence of any EM algorithm. Scandinavian Journal of
#'   Statistics 35: 335-353.
#'
#'   Arthur D, Vassilvitskii S (2007). k-means++: the advantages of careful
#'   seeding. Proceedings of the 18th ACM-SIAM Symposium on Discrete
#'   Algorithms: 1027-1035.
#' @seealso [mixture()], [goodnessOfFit()], [predict.dmn_fit()], [dmn_search()]
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
#' fits[[2]]$starts
#'
#' # a start you give: labels from another clustering
#' labels <- stats::kmeans(sqrt(counts / rowSums(counts)), 2, nstart = 5)$cluster
#' dmn_fit(counts, k = 2, init = labels, threads = 1)
dmn_fit <- function(counts, k, verbose = FALSE,
                    seed = runif(1, 0, .Machine$integer.max), threads = NULL,
                    hessian = c("exact", "reference"), max_iter = 100, tol = 1e-6,
                    nstart = NULL, assay.type = NULL, init = "reference",
                    accelerate = TRUE, rel_tol = 1e-12, search = dmn_search()) {
  call <- match.call()
  hessian <- check_fit_arg("hessian", hessian)
  verbose <- check_fit_arg("verbose", verbose)
  if (is_biom_path(counts) && is.null(assay.type)) {
    # A BIOM file's header first: a fit too large for the memory is refused
    # before the file is read.
    counts <- biom_table(counts, "counts")
    check_biom_memory(counts, k, nstart, search, init)
  }
  data <- as_counts(counts, "counts", assay.type = assay.type, threads = threads)
  check_enough_taxa(data, "counts")
  if (missing(k)) abort_input("k", "is missing: give the number of components",
                              "fastdmm_bad_argument")
  k <- check_components(k, data$n_samples)
  seed <- check_fit_arg("seed", seed)
  nstart <- check_fit_arg("nstart", nstart)
  max_iter <- check_fit_arg("max_iter", max_iter)
  tol <- check_fit_arg("tol", tol)
  rel_tol <- check_fit_arg("rel_tol", rel_tol)
  accelerate <- check_fit_arg("accelerate", accelerate)
  search <- resolve_search(search, nstart)
  # Before anything of size N x k is made (a given start's matrix included).
  # The replicated search (nstart = NULL) keeps the best start's state and the
  # current start's alive, as two unscreened starts do.
  check_fit_memory(data, k, nstart %||% 2L, search, init)
  start <- check_init(init, k, data$n_samples)
  # Fits running side by side in futures on one machine get one thread each
  # unless the user says otherwise, so they do not oversubscribe the cores.
  if (is.null(threads) && length(k) > 1L && future::nbrOfWorkers() > 1) {
    threads <- 1L
  }
  # A replicated search runs its starts side by side, one thread each: a whole
  # start always pays for a thread, so by default every core is used.
  concurrency <- if (is.null(nstart)) {
    start_concurrency(resolve_threads(threads), data, k, search, init)
  } else {
    1L
  }
  threads <- resolve_threads(threads, work = table_nnz(data) * max(k))

  # A replicated search (nstart = NULL) takes starts from a list of max_starts
  # seeds (or replicated_starts_cap when the core sizes the budget) and records
  # those it ran.
  n_seeds <- nstart %||% (if (is.na(search$max_starts)) replicated_starts_cap else search$max_starts)
  seeds <- .derive_seeds(seed, n_seeds)
  # Start 1 is the kind asked for; further starts are k-means++ starts, which
  # differ from one seed to the next far more than the reference's do.
  kinds <- c(start$kind, rep("kmeans++", n_seeds - 1L))
  kind_codes <- unname(start_kind_codes[kinds])
  fit_task <- function(k, report) {
    if (verbose) message(sprintf("dmn, k=%d", k))
    settings <- search
    if (is.na(settings$max_moves)) settings$max_moves <- k
    settings$concurrent_starts <- concurrency
    .fit_dmn(data, k, seeds, kind_codes, start$posterior, threads, max_iter, as.double(tol),
             as.double(rel_tol), accelerate, hessian == "reference", verbose, settings, report)
  }
  raws <- run_tasks(as.list(k), fit_task)

  fits <- lapply(seq_along(k), function(i) {
    raw <- raws[[i]]
    fit <- new_dmn_fit(raw, data, k = k[i], seeds = seeds, kinds = kinds, init = start$kind,
                       hessian = hessian, accelerate = accelerate, threads = threads,
                       call = call)
    warn_about_fit(raw, k[i], tol, rel_tol)
    fit
  })
  if (length(k) == 1L) fits[[1L]] else new_dmn_fits(fits, call)
}

# The most starts a replicated search whose budget the core sizes may run
# (its seeds are derived up front).
replicated_starts_cap <- 1000L

# The kinds of move by name, in the order of their codes in C++ (enum MoveKind
# in src/core/moves.h).
move_kinds <- c("split-merge", "transfer", "re-split", "kick")

# The kinds of start by name, each with its code in C++ (enum StartKind in
# src/core/starts.h): .fit_dmn() receives the codes.
start_kind_codes <- c(reference = 0L, "kmeans++" = 1L, given = 2L)
start_kinds <- names(start_kind_codes)

na_if_nan <- function(x) {
  x[is.nan(x)] <- NA_real_
  x
}

# The start asked for: a kind, or a start the user gives (labels 1..k or an
# N x k posterior matrix), as list(kind, posterior = N x k matrix or NULL).
check_init <- function(init, k, n_samples) {
  if (is.character(init) && length(init) == 1L) {
    return(list(kind = check_choice(init, start_kinds[1:2], "init"), posterior = NULL))
  }
  if (length(k) != 1L) {
    abort_input("init", sprintf(
      "gives a start for one number of components, but 'k' has %d values", length(k)),
      "fastdmm_bad_argument")
  }
  if (is.matrix(init) || is.data.frame(init)) {
    z <- if (is.data.frame(init)) as.matrix(init) else init
    if (!is.numeric(z) || !identical(dim(z), c(n_samples, as.integer(k)))) {
      abort_input("init", sprintf(
        "as a matrix of posteriors must be numeric with %d rows (samples) and %d columns (k); it is %s",
        n_samples, k, if (is.numeric(z)) paste(dim(z), collapse = " x ") else typeof(z)),
        "fastdmm_bad_argument")
    }
    if (anyNA(z) || any(!is.finite(z)) || any(z < 0) || any(z > 1)) {
      abort_input("init", "as a matrix of posteriors must hold finite values between 0 and 1",
                  "fastdmm_bad_argument")
    }
    off <- which(abs(rowSums(z) - 1) > 1e-8)
    if (length(off) > 0L) {
      abort_input("init", sprintf(
        "as a matrix of posteriors must have rows summing to 1; %d row%s do%s not: %s",
        length(off), plural(length(off)), if (length(off) == 1L) "es" else "", format_names(off)),
        "fastdmm_bad_argument")
    }
    storage.mode(z) <- "double"
    return(list(kind = "given", posterior = unname(z)))
  }
  labels <- if (is.factor(init)) as.integer(init) else init
  if (!is.numeric(labels) || is.object(labels) || length(labels) != n_samples) {
    abort_input("init", sprintf(paste(
      "must be \"reference\", \"kmeans++\", a vector of %d component labels (one per",
      "sample) or a %d x %d matrix of posteriors; it is %s of length %d"),
      n_samples, n_samples, k, describe_class(init), length(init)), "fastdmm_bad_argument")
  }
  bad <- which(is.na(labels) | !(labels %in% seq_len(k)))
  if (length(bad) > 0L) {
    abort_input("init", sprintf(
      "labels must be whole numbers from 1 to k = %d; %d %s not (samples %s)", k,
      length(bad), if (length(bad) == 1L) "is" else "are", format_names(bad)),
      "fastdmm_bad_argument")
  }
  posterior <- matrix(0, n_samples, k)
  posterior[cbind(seq_len(n_samples), as.integer(labels))] <- 1
  list(kind = "given", posterior = posterior)
}

#' Control the search for the best fit
#'
#' Settings of the search [dmn_fit()] runs unless `nstart = 1`: replicated
#' starts (the default, `nstart = NULL`) or em-EM screening (Biernacki, Celeux
#' & Govaert 2003) of a fixed number of starts (`nstart > 1`), and the moves
#' that improve a converged fit: split-merge moves (Ueda et al. 2000),
#' transfers of samples between components and, when asked for, re-splits of
#' pairs of components. The defaults suit tables of any
#' size; see the "Finding the best fit" section of `vignette("fastdmm")`.
#'
#' With thousands of reads per sample the posteriors are 0/1 after the first
#' E-step and EM cannot move samples between components itself: its fixed
#' point is a partition that depends on the start. Three kinds of move change
#' the partition, each kept only when it lowers the NLE:
#' * Split-merge: two alike components are merged (or an empty one taken) and
#'   another split in two, the three refitted and EM run again. Each
#'   component's split is planned first (a 2-means of its samples, a Dirichlet
#'   fitted to each half) and moves are tried in order of the NLE they
#'   promise: the split's gain against the merge's cost; a round that tries
#'   `max_tries` without success ends them.
#' * Transfers (Hartigan-style, with refit): a sample, or a group of samples,
#'   moved from one component to another, both components refitted to their
#'   new members. For components A and B, A's members are ordered by the cost
#'   of moving them to B at the current parameters; each member alone is a
#'   candidate, and so is each group: when A has four members or more, each
#'   node of A's bisection tree (its members divided in two by 2-means on
#'   square-root proportions, each part of three or more divided again; every
#'   part of two or more samples but the whole is a node) and the two halves
#'   A's members fall into when they are divided by the model itself (the
#'   tree's first 2-means division, then EM and single transfers on A's
#'   members alone with two components), otherwise each
#'   leading group in that order. All are ranked by
#'   the change in NLE that
#'   refitting the two components promises: for a group, a Newton step on
#'   each; for a single, its own taxa refitted one by one where a Newton step
#'   in log-alpha would misjudge them (taxa no other member counts, and those
#'   whose Newton step is longer than one unit of log-alpha) and Newton steps
#'   for the rest. Candidates are tried exactly in that order: every single
#'   that promises a decrease (or goes to a component of one member, whose
#'   promise is no guide), then the singles whose promised loss is within the
#'   promise's second-order part, then groups, then the rests of the trees
#'   (A's members less one node, which stays behind as a community type of
#'   its own while the rest joins B), until 20 groups and rests have failed
#'   (at `k = 2`, where the replicated search runs no kicks, the rests get 20
#'   failures of their own: they are a start's only escape left).
#'   A group or rest whose refit does not lower the NLE is judged again after
#'   EM from there, where other samples may follow it or go back (EM stops as
#'   soon as it is bound for no lower NLE, or gives the partition back).
#'   The first that lowers the NLE is kept, EM runs on, and the candidates are
#'   ranked again. Groups are what moves replicate-like samples that only fit
#'   elsewhere together. Tables (or subsamples) of more than
#'   5,000 samples are not given transfers.
#' * Re-splits (for `k >= 3`, when `resplits = TRUE`): the
#'   members of two components are pooled and divided again by a search of
#'   their own (three k-means++ starts with two components on the pool's
#'   table, each run to convergence); the best division is refitted on the
#'   whole table, from the parameters the pool's search fitted, and kept when
#'   the NLE falls. Every pair is tried once split-merge and transfers stop,
#'   and again whenever its members have changed. A re-split changes many
#'   samples at once where no single move of the other kinds helps: on
#'   soilrep it reached optima below any other search's, but it makes each
#'   start two to four times slower, so it is not on by default. Like
#'   transfers, it is left out on tables (or subsamples) of more than 5,000
#'   samples.
#'
#' The kinds run in rounds until none improves the fit. A start of the
#' replicated search then gets kicks (for `k >= 3`): iterated local search
#' (Lourenco, Martin & Stuetzle 2003) with J-moves (Hansen & Mladenovic 2001)
#' as kicks. A kick empties one component (each of its samples goes to
#' another component drawn from the sample's content), splits another, with
#' the samples it received, by 2-means, refits every component and runs EM and
#' the moves above on the result, which replaces the start's state when its
#' NLE is lower. A start ends after `kicks` kicks in a row have not lowered
#' it. Kicks reach optima that no move of one, a few or two components'
#' samples reaches: on Twins at `k = 7`, where each of 19 starts without
#' kicks ended at an optimum of its own, every start with kicks that ended
#' at the best reached it through them. Once the kicks end, a start makes
#' division moves (`divisions`): each half of each component's division by
#' the model moved to each other component, judged after EM, whatever the
#' ranking promises; when one is kept the moves and kicks run on.
#'
#' In the replicated search every start gets the moves and kicks, and starts
#' are added until the best optimum
#' (the lowest NLE, within 1e-6 relative) has been reached by `replicates`
#' starts, as latent class software replicates its best log-likelihood (Hipp
#' and Bauer 2006); the start that completes the replication ends as soon as
#' it reaches the best optimum, without kicking on from it (`settle`). The
#' budget is counted in starts, never in seconds, so that
#' a fit does not depend on the machine: `max_starts`, or by default
#' `1.5e6 / (k * (non-zeros + distinct (taxon, count) pairs + samples) * (1 + kicks))`
#' starts, at least 4 and at most 1,000. `fit$search` records `starts_run`,
#' `at_best`, `max_starts`, the number of distinct `optima` the starts reached
#' and how many of those only one start reached (`optima_seen_once`; their
#' share of the starts estimates the chance that one more start finds an
#' optimum not yet seen, Good-Turing), and the moves tried and accepted by
#' kind over all starts; `fit$moves` lists the best start's moves.
#'
#' When one worse optimum attracts most starts, it can be reached `replicates`
#' times before the best is reached once, and the fit ends there,
#' "replicated". More arrivals guard against that at the price of more
#' starts: on real tables of 26 to 278 samples, `replicates = 5` ended 3 to 10
#' more seeds in 100 at the best optimum than 3, for 30-40% more starts. Where
#' the budget of starts ends first (the fit warns), a wider `max_starts` is
#' what helps.
#'
#' With `nstart > 1` every start first gets `screen_iter` EM iterations; only
#' the `n_continue` starts with the lowest NLE then run to convergence, and the
#' best of those is moved. A table large enough to be searched on a subsample
#' (below) is searched that way by default too, with 10 starts: replicating
#' starts run to convergence on 20,000 samples would cost more than the
#' subsample saves, and the screened search finds such tables' types.
#'
#' On tables of many samples the search works on a subsample: when the table
#' has at least twice `subsample` samples, the starts, their screening and
#' the split-merge moves run on `subsample` samples chosen by a hash of each
#' sample's content and the seed (so the same samples are chosen whatever the
#' order of the rows, and identical samples are taken or left together), and
#' the best fit found is then refined by EM on all samples from its
#' parameters. With thousands of reads per sample the first E-step on all
#' samples already settles their posteriors, so the refinement takes few
#' iterations and the search costs nearly the same at any N. A type with a
#' share `p` of the samples has about `p * subsample` samples in the
#' subsample: the default 20,000 leaves 40 to a type of 0.2%. `nstart = 1`
#' from the reference's start (or a start you give) never subsamples: it is
#' the reference's algorithm on every sample. `fit$search` records what was
#' done.
#'
#' @param screen_iter EM iterations of each start before the starts are
#'   compared.
#' @param n_continue Number of starts run to convergence; `NULL` (default) is
#'   `ceiling(sqrt(nstart))` (4 for the default's screened search of a
#'   subsampled table). Starts are not screened when `nstart <= n_continue`.
#' @param split_merge Try split-merge moves (for `k >= 3`)? `NULL` (default)
#'   is `TRUE` unless `nstart = 1`.
#' @param max_moves Most split-merge moves kept in a row (before transfers are
#'   tried again); `NULL` (default) is `k`.
#' @param max_tries Candidate moves tried in a row without success before the
#'   moves stop.
#' @param subsample Number of samples the search works on when the table has
#'   at least twice as many (a whole number >= 100), or `Inf` to search on all
#'   samples. See Details.
#' @param replicates The replicated search (`nstart = NULL`) stops once this
#'   many starts have reached the best optimum.
#' @param max_starts Most starts of the replicated search; `NULL` (default)
#'   sizes the budget by the table's cost (see Details). At most 100,000.
#' @param transfers Try transfers of samples between components? `NULL`
#'   (default) is `TRUE` unless `nstart = 1`.
#' @param resplits Try re-splits (for `k >= 3`): the members of two components
#'   pooled and divided again by a two-component search of their own (three
#'   k-means++ starts, each run to convergence), the pair refitted on the whole
#'   table and the result kept when it lowers the NLE? Each start tries every
#'   pair once neither split-merge nor transfers improves it, until no re-split
#'   does. Off by default (`NULL` is `FALSE` too): re-splits reach lower optima on wide
#'   deep tables (soilrep, mouseData) but make a start two to four times
#'   slower; see the "Finding the best fit" section of `vignette("fastdmm")`.
#' @param all_singles Try every transfer of one sample to another component
#'   before a start ends, not only those whose promise is a decrease? Each
#'   start then ends where no single transfer lowers the NLE (Hartigan's
#'   exchange, with both components refitted), at the price of a trial for
#'   every sample and other component at the end of each start. Off by
#'   default (`NULL` is `FALSE` too): in 48 starts on four real tables it
#'   ended no more of them at the best optimum than trying the singles that
#'   promise a decrease, at 1.4 to 6 times the time per start (see the
#'   "Finding the best fit" section of `vignette("fastdmm")`).
#' @param kicks Kicks in a row that fail to lower a start's NLE before the
#'   start ends, in the replicated search (`nstart = NULL`; see Details); 0
#'   for none. `NULL` (default) is `k - 2`: none at `k = 2`, where emptying
#'   one component and splitting the other is a new start rather than a
#'   change of the state. Each kick costs about what a start costs, so the
#'   default budget of starts is divided by `1 + kicks`. A kicked state is
#'   kept when its NLE is lower by more than 1e-6 relative (what the
#'   replicated search counts as the same optimum). Kicks need a move to run
#'   on the kicked state: without split-merge and transfers there are none.
#' @param divisions End each start of the replicated search (`nstart = NULL`)
#'   with division moves? Once a start's kicks end, each component of four
#'   members or more is divided in two by the model itself (as for its
#'   groups, below), and each half is moved to each other component in turn
#'   and judged after EM, whatever the ranking of transfers would promise for
#'   it; the first that lowers the NLE is kept, the moves and kicks run on,
#'   and the pass is made again, until one keeps nothing. This is split-merge
#'   by the model: a component split where its own fit divides it and one
#'   part merged into another. `TRUE` (default; `NULL` is `TRUE` too) costs
#'   at most `2 k (k - 1)` trials at the end of each start (a start that ends
#'   where an earlier start's pass found nothing skips its own), 5-36% more
#'   time per fit on six real tables, and on them ended more seeds at the best
#'   optimum (mouseData at `k = 3`: 10 of 10 against 8); see the "Finding the
#'   best fit" section of `vignette("fastdmm")`. Needs transfers; ignored by
#'   screened searches (`nstart > 1`).
#' @param settle End the start that completes the replication as soon as it
#'   reaches the best optimum? When `replicates - 1` starts before it (taken
#'   in order) ended at the best optimum with their kicks and division moves
#'   exhausted, a start whose descent or a kept kick reaches that optimum
#'   ends there instead of kicking on from it: it is the last replicate the
#'   search needs. `TRUE` (default; `NULL` is `TRUE` too); `FALSE` lets that
#'   start kick on as every other does, which can find a lower optimum where
#'   the earlier starts' kicks did not. On six real tables (seeds 1..10,
#'   `k = 2..7`) every fit ended at the same optimum either way, after the
#'   same starts, and on the four largest a tenth to a fifth faster with it.
#'   A start's record in `fit$starts` ends where it settled (`moved_NLE`,
#'   `kicks`). Ignored outside the replicated search (`nstart = NULL`) and
#'   with `replicates = 1` or without kicks.
#' @param reuse_msteps Keep a component's parameters through an EM iteration,
#'   without running its M-step, when its last M-step converged and its
#'   posteriors have since moved by at most 1e-8 in total over the samples?
#'   On deep tables most posteriors are 0 or 1, so after a move most
#'   components' posteriors do not change; their M-steps and their columns of
#'   the evidence are then reused, which makes searches on GlobalPatterns and
#'   soilrep a fifth to a quarter faster for the same optima. The E-step
#'   still runs at the kept parameters, so the NLE is exact; what is left out
#'   is the re-optimisation a change of 1e-8 would allow. `TRUE` (default;
#'   `NULL` is `TRUE` too); `FALSE` runs every M-step, for comparison. One
#'   start from the reference's or a given start (`nstart = 1` with `init`
#'   other than `"kmeans++"`) is the reference's algorithm and runs every
#'   M-step either way.
#' @return A list of class `dmn_search` for the `search` argument of
#'   [dmn_fit()]. Each setting is a whole number up to `.Machine$integer.max`
#'   (or a flag); [dmn_fit()] checks them again where it uses them, so that an
#'   object edited afterwards (`search$n_continue <- 0`) is refused there with
#'   an error naming the setting (`'search$n_continue'`).
#' @references Biernacki C, Celeux G, Govaert G (2003). Choosing starting values
#'   for the EM algorithm for getting the highest likelihood in multivariate
#'   Gaussian mixture models. Computational Statistics & Data Analysis 41:
#'   561-575.
#'
#'   Ueda N, Nakano R, Ghahramani Z, Hinton GE (2000). SMEM algorithm for
#'   mixture models. Neural Computation 12: 2109-2128.
#'
#'   Hartigan JA, Wong MA (1979). Algorithm AS 136: a k-means clustering
#'   algorithm. Applied Statistics 28: 100-108.
#'
#'   Hipp JR, Bauer DJ (2006). Local solutions in the estimation of growth
#'   mixture models. Psychological Methods 11: 36-53.
#'
#'   Hansen P, Mladenovic N (2001). J-Means: a new local search heuristic for
#'   minimum sum of squares clustering. Pattern Recognition 34: 405-413.
#'
#'   Lourenco HR, Martin OC, Stuetzle T (2003). Iterated local search. In
#'   Glover F, Kochenberger GA (eds), Handbook of Metaheuristics, 320-353.
#'   Kluwer.
#' @export
#' @examples
#' dmn_search()
#' dmn_search(n_continue = 3, split_merge = FALSE)
#' dmn_search(subsample = Inf)   # search on every sample, however many
#' dmn_search(max_starts = 200)  # a wider budget for the replicated search
#' dmn_search(kicks = 0)          # starts end once no move improves them
dmn_search <- function(screen_iter = 10, n_continue = NULL, split_merge = NULL,
                       max_moves = NULL, max_tries = 5, subsample = 20000,
                       replicates = 3, max_starts = NULL, transfers = NULL,
                       resplits = FALSE, all_singles = FALSE, kicks = NULL,
                       divisions = TRUE, settle = TRUE, reuse_msteps = TRUE) {
  settings <- mget(names(search_setting_checks))
  structure(check_search_settings(settings, function(name) name), class = "dmn_search")
}

#' @export
print.dmn_search <- function(x, ...) {
  cat("dmn_search:", format_search(x), "\n")
  invisible(x)
}

format_search <- function(x) {
  shown <- vapply(unclass(x), function(v) {
    if (is.null(v)) "(default)" else paste(format(v), collapse = " ")
  }, character(1))
  paste(names(x), shown, sep = " = ", collapse = ", ")
}

# The search settings, checked again (the object may have been edited since
# dmn_search() made it), with defaults filled in for nstart (max_moves NA
# means "k", resolved per fit).
# options(fastdmm.column_cache): whether each start of the replicated search
# keeps its E-step columns by the parameters they were made from (the same fits;
# FALSE remakes them, for comparisons). TRUE unless set.
column_cache_option <- function() {
  option <- getOption("fastdmm.column_cache", TRUE)
  if (!is.logical(option) || length(option) != 1L || is.na(option)) {
    abort_input("options(fastdmm.column_cache)", sprintf(
      "must be TRUE or FALSE; it is %s", describe_value(option)), "fastdmm_bad_argument")
  }
  option
}

resolve_search <- function(search, nstart) {
  settings <- check_search(search, "search")
  # nstart = NULL: the replicated search; nstart = 1 from the reference's start:
  # the reference's algorithm, no moves; nstart > 1: screened starts.
  replicated <- is.null(nstart)
  searching <- replicated || nstart > 1L
  # (A replicated search on a table large enough to be subsampled screens its
  # first 10 starts: ceiling(sqrt(10)) run on.)
  settings$n_continue <- settings$n_continue %||% as.integer(ceiling(sqrt(nstart %||% 10L)))
  settings$split_merge <- settings$split_merge %||% searching
  settings$transfers <- settings$transfers %||% searching
  # NULL: an object made before the setting existed.
  settings$resplits <- settings$resplits %||% FALSE
  settings$all_singles <- settings$all_singles %||% FALSE
  settings$reuse_msteps <- settings$reuse_msteps %||% TRUE
  settings$column_cache <- column_cache_option()
  # NA: k - 2 kicks in a row (resolved per fit); none outside the replicated search.
  settings$kicks <- if (!replicated) 0L else if (is.null(settings$kicks)) NA_integer_ else as.integer(settings$kicks)
  # Division moves end the starts of the replicated search only.
  settings$divisions <- replicated && (settings$divisions %||% TRUE)
  # So does the last replicate's settling.
  settings$settle <- replicated && (settings$settle %||% TRUE)
  settings$max_moves <- settings$max_moves %||% NA_integer_
  settings$replicates <- if (replicated) as.integer(settings$replicates %||% 3L) else 0L
  settings$max_starts <- if (is.null(settings$max_starts)) NA_integer_ else as.integer(settings$max_starts)
  # NULL (an object saved before the setting existed) is the default; the
  # core's 0 means "never subsample".
  subsample <- settings$subsample %||% formals(dmn_search)$subsample
  settings$subsample <- if (is.infinite(subsample)) 0 else subsample
  settings
}

# Runs independent fits through future.apply (sequentially unless the user has
# set a future plan). Progress goes to a progressr progressor of 100 steps per
# fit: `fun(task, report)` calls report(fraction, phase) as its fit advances
# (from C++, between iterations), so one long fit moves the bar too. Futures on
# other workers receive `fun` with only the variables it uses (the compact count
# table, not the user's object it was built from); every fit in one process
# shares the table's C++ form.
run_tasks <- function(tasks, fun) {
  progress <- progressr::progressor(steps = 100L * length(tasks))
  reporter <- function() {
    done <- 0L
    function(fraction, phase) {
      step <- as.integer(floor(100 * fraction)) - done
      if (step > 0L) {
        progress(amount = step, message = phase)
        done <<- done + step
      }
    }
  }
  if (length(tasks) == 1L) return(list(fun(tasks[[1L]], reporter())))
  fun <- with_used_locals(fun)
  future.apply::future_lapply(tasks, function(task) {
    report <- reporter()
    result <- fun(task, report)
    report(1, "done")
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

warn_about_fit <- function(raw, k, tol, rel_tol) {
  search <- raw$search
  if (search$replicates > 0L && search$at_best < search$replicates) {
    warning(structure(
      class = c("fastdmm_not_replicated", "warning", "condition"),
      list(message = not_replicated_message(search, k), call = NULL)
    ))
  }
  if (!raw$converged) {
    warning(structure(
      class = c("fastdmm_not_converged", "warning", "condition"),
      list(message = not_converged_message(raw, k, tol, rel_tol), call = NULL)
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

# "k = 3: the best optimum was reached by 1 of 40 starts ...": how far the
# replication got and how to widen its budget.
not_replicated_message <- function(search, k) {
  sprintf(paste(
    "k = %d: the best optimum was reached by %d of %d start%s, fewer than the %d",
    "asked for, when the budget of %d starts ran out (%d distinct optima); another",
    "seed may find a better one. Widen the budget with",
    "search = dmn_search(max_starts = %d), or ask for fewer with dmn_search(replicates = )"),
    k, search$at_best, search$starts_run, plural(search$starts_run), search$replicates,
    search$max_starts, search$optima, min(most_starts, max(4L * search$max_starts, 100L)))
}

# "k = 3: EM did not converge in 1 iteration (...)": the last change of the
# NLE against the threshold it had to meet, when the trace holds two values
# to compare (with max_iter = 1, or 2 under SQUAREM, it holds one).
not_converged_message <- function(raw, k, tol, rel_tol) {
  trace <- raw$nle_trace
  threshold <- max(tol, rel_tol * abs(raw$goodness_of_fit[["NLE"]]))
  rule <- sprintf("the larger of tol = %g and rel_tol = %g times the NLE", tol, rel_tol)
  change <- if (length(trace) >= 2L) {
    sprintf("last NLE change %.3g > %.3g, %s", abs(diff(utils::tail(trace, 2L))),
            threshold, rule)
  } else {
    sprintf("its NLE trace has %d value%s, too few to measure a change against %.3g, %s",
            length(trace), plural(length(trace)), threshold, rule)
  }
  iterations <- raw$em_iterations
  sprintf("k = %d: EM did not converge in %d iteration%s (%s); increase 'max_iter'",
          k, iterations, plural(iterations), change)
}

# The whole dmn_fit object, built here only: the core's result `raw` for `k`
# components, sorted by decreasing weight (as the reference does), with its
# matrices dressed with sample, taxon and component names; the record of every
# start (`seeds` and `kinds`, one per start); and what the fit used (`init`,
# `hessian`, `accelerate`, `threads`, `call`).
new_dmn_fit <- function(raw, data, k, seeds, kinds, init, hessian, accelerate, threads,
                        call) {
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
    seed = seeds[raw$best_start],
    hessian = hessian,
    log_likelihood = raw$log_likelihood,
    nle_trace = raw$nle_trace,
    em_iterations = raw$em_iterations,
    converged = raw$converged,
    kmeans_iterations = raw$kmeans_iterations,
    threads = threads,
    call = call,
    init = init,
    accelerate = accelerate,
    starts = start_table(raw$starts, seeds, kinds),
    best_start = raw$best_start,
    moves = move_table(raw$moves),
    total_em_iterations = raw$total_em_iterations,
    search = search_record(raw$search)
  ), class = "dmn_fit")
}

# The trials of the moves behind the fit, in the order tried, their kind by name.
move_table <- function(moves) {
  moves <- as.data.frame(moves)
  moves$kind <- move_kinds[moves$kind + 1L]
  moves
}

# The core's record of the search, with the moves tried and accepted by kind
# named, and `replicated` (NA for a search without replication).
search_record <- function(search) {
  search$moves_tried <- stats::setNames(search$moves_tried, move_kinds)
  search$moves_accepted <- stats::setNames(search$moves_accepted, move_kinds)
  search$replicated <- if (search$replicates > 0L) search$at_best >= search$replicates else NA
  search
}

# The fit's record of every start: the core's `starts` (one element per start)
# with each start's seed and kind, and its status in words.
start_table <- function(starts, seeds, kinds) {
  run <- seq_along(starts$kind)
  data.frame(
    start = run,
    seed = seeds[run],
    kind = kinds[run],
    screen_NLE = na_if_nan(starts$screen_NLE),
    continued = starts$continued,
    NLE = na_if_nan(starts$NLE),
    moved_NLE = na_if_nan(starts$moved_NLE),
    kicks = starts$kicks,
    em_iterations = starts$em_iterations,
    converged = starts$converged,
    status = ifelse(starts$abandoned, "abandoned",
                    ifelse(!starts$continued, "screened",
                           ifelse(starts$converged, "converged", "max_iter"))),
    stringsAsFactors = FALSE
  )
}
