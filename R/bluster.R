# A bluster clustering parameter, FastDmmParam, so that bluster::clusterRows()
# and mia's addCluster() (DESIGN.md section 6) fit their DMMs with dmn_fit().
#
# bluster is only suggested. Its S4 class BlusterParam is needed to define a
# subclass, and loading bluster costs about 2.5 s, so the class and its methods
# are not defined when fastdmm loads but the first time they are needed: when
# FastDmmParam() is called, when bluster is loaded after fastdmm (a hook), or
# when fastdmm loads with bluster already loaded. fastdmm's namespace is sealed
# by then, so the definitions live in `bluster_bridge`, an environment of their
# own (a child of the namespace) that names fastdmm as its package: objects
# have class "FastDmmParam" of package "fastdmm", and a saved one finds its
# methods again once fastdmm loads.

bluster_bridge <- new.env()

#' Cluster samples with fastdmm through bluster and mia
#'
#' `FastDmmParam()` is a clustering parameter for Bioconductor's bluster: pass
#' it to `bluster::clusterRows()`, or to mia's `addCluster()` (which calls
#' `clusterRows()`), wherever bluster's own `DmmParam()` is used, and the
#' Dirichlet-multinomial mixtures are fitted by [dmn_fit()] instead of
#' `DirichletMultinomial::dmn()`. Its result has the same shape as
#' `DmmParam`'s, so mia's and miaViz's DMN functions work on it.
#'
#' `clusterRows(x, FastDmmParam(...))` fits one mixture for every value of `k`
#' to `x`, a count matrix with samples in rows and taxa in columns (a matrix,
#' data.frame or `Matrix` sparse matrix; mia's `addCluster(..., by =
#' "samples")` passes the transposed assay), all with the same seed, as
#' `DmmParam` does. When `k` has several values, the best is the one with the
#' smallest criterion `type` (the first such when several tie), as `DmmParam`
#' chooses with `DirichletMultinomial::laplace()`, `AIC()` or `BIC()` of each
#' fit. Each sample's cluster is the component of largest posterior
#' probability in the best fit (the first when several tie), labelled `"1"`,
#' `"2"`, ... in the fit's component order (decreasing weight): exactly
#' `mixture(dmn_fit(x, best, seed = seed), assign = TRUE)`. As in `DmmParam`
#' the labels become a factor with `factor()`, so its levels are the labels
#' that occur, sorted as text.
#'
#' The first four arguments are `DmmParam`'s, in its order (`k`, `type`,
#' `seed`, `BPPARAM`), so that a call `DmmParam(...)` becomes
#' `FastDmmParam(...)` by changing that one word. The search of [dmn_fit()]
#' is reached through `nstart`, `init = "kmeans++"`, `search` and the other
#' settings in `...`.
#'
#' @section Differences from bluster's DmmParam:
#' * fastdmm's `Laplace` uses the exact Hessian, while DirichletMultinomial's
#'   is wrong for `k >= 2` (see [dmn_fit()]), so `type = "laplace"` may choose
#'   another `k` than `DmmParam` on the same data. Pass `hessian =
#'   "reference"` to choose with the reference's values. `AIC` and `BIC` do not
#'   depend on the Hessian.
#' * Where DirichletMultinomial's EM stops before converging (larger `k`),
#'   fastdmm may reach a different, usually better, optimum from the same start.
#' * `nstart` keeps the best of several starts for each `k` (screened and
#'   refined by split-merge moves, see [dmn_search()]); `DmmParam` has one
#'   start.
#' * `BPPARAM` is optional: without it (`NULL`, the default) the fits run one
#'   after the other, each on fastdmm's threads (`threads`, see [dmn_fit()]),
#'   or through a `future` plan, and BiocParallel is not needed. With a
#'   `BPPARAM`, as in `DmmParam`, the values of `k` run through
#'   `BiocParallel::bplapply()`, each fit on one thread unless `threads` is
#'   given (with a forking parameter such as `MulticoreParam` keep it at 1).
#'   The result is identical whatever the parameter: every fit uses the same
#'   seed.
#' * The result's `objects` also holds `fits`, the `dmn_fit` objects (a
#'   `dmn_fits` list), for fastdmm's own accessors, `summary()` and `plot()`.
#'
#' @section Seeds:
#' With `seed = NULL` (the default, as in `DmmParam`) every call of
#' `clusterRows()` draws a new seed with `sample.int(.Machine$integer.max, 1)`
#' from R's random number generator, so `set.seed()` makes it reproducible; the
#' seed used is returned in `objects$seed`. Give a seed in analyses you report.
#'
#' @section Installation:
#' bluster is a suggested package, so that installing fastdmm from CRAN does
#' not pull in Bioconductor: install it with `BiocManager::install("bluster")`
#' to use `FastDmmParam()`, which otherwise stops with an error of class
#' `fastdmm_missing_package`. `full = TRUE` also needs DirichletMultinomial.
#' The class and its methods are defined when bluster is first used with
#' fastdmm loaded, so `FastDmmParam` is not exported as a class. mia itself is
#' not needed; the examples, tests and vignette call `bluster::clusterRows()`
#' as mia's `addCluster()` does.
#'
#' @param k Numbers of mixture components to fit, positive whole numbers
#'   without duplicates (default `1:3`, as `DmmParam`).
#' @param type Criterion that chooses the best `k`: `"laplace"` (default),
#'   `"AIC"` or `"BIC"` (case does not matter).
#' @param seed `NULL` (a new random seed for every `clusterRows()` call, as
#'   `DmmParam`) or the seed of every fit, a single whole number (see
#'   [dmn_fit()]).
#' @param BPPARAM `NULL` (default) or a `BiocParallel::BiocParallelParam`
#'   (BiocParallel must be installed) that runs the values of `k` side by
#'   side, as `DmmParam`'s `BPPARAM` (see Differences).
#' @param nstart Number of starts for each `k` (see [dmn_fit()]).
#' @param ... Further arguments of [dmn_fit()], by name: `verbose`, `threads`,
#'   `hessian` (partial matching as in [dmn_fit()]: `"ref"` is
#'   `"reference"`), `max_iter`, `tol`, `init` (`"reference"` or
#'   `"kmeans++"`; a start you give belongs to one `k` and one row order, so
#'   pass it to [dmn_fit()] itself), `accelerate`, `rel_tol` and `search` (a
#'   [dmn_search()] object). They are checked here, as [dmn_fit()] checks
#'   them, and stored in the object; an unknown name is an error naming it.
#' @section Methods:
#' * `bluster::clusterRows(x, BLUSPARAM, full = FALSE)`: `x` is a count table
#'   with samples in rows and taxa in columns (a matrix, data.frame or
#'   `Matrix` sparse matrix; another matrix-like object is realised as a dense
#'   matrix; a SummarizedExperiment is refused, since its rows are taxa),
#'   `BLUSPARAM` a `FastDmmParam`; `full = TRUE` returns the fits as well as
#'   the clusters (see Value).
#' * `show(object)` prints the settings.
#' * `x[[name]]` and `x[[name]] <- value` read and change one setting.
#'
#' @return `FastDmmParam()`: an S4 object of class `FastDmmParam`, a
#'   `bluster::BlusterParam`. `x[[name]]` returns its setting `name` (`"k"`,
#'   `"type"`, `"seed"`, `"BPPARAM"`, `"nstart"` or a [dmn_fit()] argument
#'   given in `...`; `NULL` for one not given) and `x[[name]] <- value` changes it, checked as
#'   the constructor checks it.
#'
#'   `bluster::clusterRows(x, BLUSPARAM)`: a factor of cluster labels, one per
#'   row of `x`, named by the row names. With `full = TRUE`, a list of
#'   `clusters` (that factor) and `objects`, a list of
#'   * `dmm`: a list of DirichletMultinomial `DMN` objects, one per value of
#'     `k` in the order given (made by [as_DMN()]);
#'   * `best`: the chosen number of components, an integer (note that
#'     `dmm[[best]]` is its fit only when `k` is `1:K`; in general it is
#'     `dmm[[which(k == best)]]`);
#'   * `prob`: the samples x `best` posterior matrix of the chosen fit, columns
#'     named `"1"`, `"2"`, ...;
#'   * `seed`: the seed of the fits, an integer;
#'   * `fits`: the fits as a `dmn_fits` list (see [dmn_fits]).
#'
#' @references Holmes I, Harris K, Quince C (2012). Dirichlet multinomial
#'   mixtures: generative models for microbial metagenomics. PLoS ONE 7(2):
#'   e30126. \doi{10.1371/journal.pone.0030126}
#' @seealso [dmn_fit()], [as_DMN()], [best_fit()]
#' @name FastDmmParam
#' @aliases FastDmmParam-class clusterRows,ANY,FastDmmParam-method
#'   show,FastDmmParam-method [[,FastDmmParam-method [[<-,FastDmmParam-method
#' @export
#' @examples
#' if (requireNamespace("bluster", quietly = TRUE)) {
#'   set.seed(1)
#'   counts <- rdmm(60, cbind(c(20, 5, 1, 1, 1), c(1, 1, 5, 20, 3)), depth = 300)
#'   rownames(counts) <- sprintf("sample%02d", seq_len(nrow(counts)))
#'   # DmmParam's arguments, plus the search: k-means++ starts, the best of
#'   # five for each k
#'   param <- FastDmmParam(k = 1:3, type = "BIC", seed = 1, nstart = 5,
#'                         init = "kmeans++", threads = 1)
#'   print(param)
#'   clusters <- bluster::clusterRows(counts, param)
#'   print(table(clusters))
#'
#'   # settings change one by one, checked as the constructor checks them
#'   param[["type"]] <- "laplace"
#'   param[["k"]] <- 2:3
#'   param[["k"]]
#' }
FastDmmParam <- function(k = 1:3, type = c("laplace", "AIC", "BIC"), seed = NULL,
                         BPPARAM = NULL, nstart = NULL, ...) {
  if (!bluster_available()) {
    abort_input("FastDmmParam", paste(
      "builds a parameter for the bluster package, which is not installed;",
      "install it with BiocManager::install(\"bluster\")"
    ), "fastdmm_missing_package")
  }
  register_bluster_methods()
  settings <- check_param_settings(
    list(k = k, type = type, seed = seed, BPPARAM = BPPARAM, nstart = nstart), list(...))
  methods::new("FastDmmParam", k = settings$k, type = settings$type, seed = settings$seed,
               BPPARAM = settings$BPPARAM, nstart = settings$nstart,
               fit_args = settings$fit_args)
}

# A function so that tests can pretend bluster is missing.
bluster_available <- function() requireNamespace("bluster", quietly = TRUE)

# ---- settings ---------------------------------------------------------------------

# The parameter's own settings (slots), in the constructor's order: k, type,
# seed and BPPARAM as bluster's DmmParam(k, type, seed, BPPARAM), then nstart.
param_settings <- c("k", "type", "seed", "BPPARAM", "nstart")
# dmn_fit()'s arguments that a parameter may carry, in dmn_fit()'s order:
# those that make sense for every k. counts, k, seed and nstart are set by the
# parameter itself; assay.type has no meaning for the matrix clusterRows()
# receives; a start you give (init as labels or posteriors) belongs to one k.
param_fit_args <- c("verbose", "threads", "hessian", "max_iter", "tol", "init",
                    "accelerate", "rel_tol", "search")

# Checks every setting and returns them normalised: list(k, type, seed,
# BPPARAM, nstart, fit_args). Refusals are fastdmm_input_errors naming the
# setting.
check_param_settings <- function(settings, fit_args) {
  k <- check_components(settings$k)
  type <- check_choice(settings$type, c("laplace", "AIC", "BIC"), "type", ignore_case = TRUE)
  seed <- if (is.null(settings$seed)) NULL else check_seed(settings$seed)
  BPPARAM <- check_bpparam(settings$BPPARAM)
  nstart <- check_fit_arg("nstart", settings$nstart)
  fit_args <- check_param_fit_args(fit_args)
  list(k = k, type = type, seed = seed, BPPARAM = BPPARAM, nstart = nstart,
       fit_args = fit_args)
}

# The dmn_fit() arguments given in `...`, checked by name and by value, in
# dmn_fit()'s order (an empty list when none is given, so that equal settings
# make identical objects however they were set).
check_param_fit_args <- function(fit_args) {
  given <- names(fit_args) %||% rep("", length(fit_args))
  if ("assay.type" %in% given) {
    abort_input("assay.type", paste(
      "is not a setting of FastDmmParam(): the assay is chosen where the matrix is made",
      "(addCluster(assay.type = ) or t(assay(se, name)))"),
      c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  for (name in intersect(c("counts", "x"), given)) {
    abort_input(name, "is not a setting of FastDmmParam(): the counts are the 'x' of clusterRows()",
                c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  fit_args <- check_fit_args(fit_args, param_fit_args, sprintf(
    "FastDmmParam(), whose further arguments are dmn_fit()'s %s",
    paste(param_fit_args, collapse = ", ")))
  if (length(fit_args) == 0L) return(list())
  fit_args[intersect(param_fit_args, names(fit_args))]
}

# NULL (the k's run one after the other, each on fastdmm's threads) or a
# BiocParallel parameter, as bluster's DmmParam takes.
check_bpparam <- function(BPPARAM) {
  if (is.null(BPPARAM)) return(NULL)
  if (!isS4(BPPARAM) || !methods::is(BPPARAM, "BiocParallelParam")) {
    abort_input("BPPARAM", sprintf(paste(
      "must be NULL or a BiocParallel parameter such as BiocParallel::SerialParam() or",
      "BiocParallel::MulticoreParam(2), not %s"), describe_value(BPPARAM)),
      "fastdmm_bad_argument")
  }
  BPPARAM
}

# ---- the parameter's methods --------------------------------------------------------

param_get <- function(x, i) {
  check_setting_name(i)
  if (i %in% param_settings) methods::slot(x, i) else x@fit_args[[i]]
}

param_set <- function(x, i, value) {
  check_setting_name(i)
  settings <- param_settings_of(x)
  fit_args <- x@fit_args
  if (i %in% param_settings) {
    # list(NULL) keeps a NULL seed or BPPARAM in the list.
    settings[i] <- list(value)
  } else {
    fit_args[i] <- list(value)
    # Setting a dmn_fit() argument to NULL returns it to dmn_fit()'s default,
    # except threads, whose NULL is itself a setting.
    if (is.null(value) && i != "threads") fit_args[[i]] <- NULL
  }
  settings <- check_param_settings(settings, fit_args)
  x@k <- settings$k
  x@type <- settings$type
  x@seed <- settings$seed
  x@BPPARAM <- settings$BPPARAM
  # NULL (the replicated search) must not delete the slot.
  methods::slot(x, "nstart", check = FALSE) <- settings$nstart
  x@fit_args <- settings$fit_args
  x
}

param_settings_of <- function(x) {
  list(k = x@k, type = x@type, seed = x@seed, BPPARAM = x@BPPARAM, nstart = x@nstart)
}

check_setting_name <- function(i) {
  known <- c(param_settings, param_fit_args)
  if (!is.character(i) || length(i) != 1L || is.na(i) || !i %in% known) {
    abort_input("i", sprintf("must name one setting of a FastDmmParam (%s), not %s",
                             paste(known, collapse = ", "), describe_value(i)),
                "fastdmm_bad_argument")
  }
  invisible(i)
}

param_show <- function(object) {
  cat(sprintf("k: %s\n", paste(object@k, collapse = ", ")))
  cat(sprintf("type: %s\n", object@type))
  cat(sprintf("seed: %s\n", if (is.null(object@seed)) {
    "NULL (a new random seed for every clusterRows() call)"
  } else {
    object@seed
  }))
  cat(sprintf("BPPARAM: %s\n", if (is.null(object@BPPARAM)) {
    "NULL (the k's run one after the other, each on fastdmm's threads)"
  } else {
    class(object@BPPARAM)[1L]
  }))
  cat(sprintf("nstart: %s\n", if (is.null(object@nstart)) {
    "NULL (the replicated search: starts until the best optimum is reached by several)"
  } else {
    object@nstart
  }))
  for (name in names(object@fit_args)) {
    cat(sprintf("%s: %s\n", name, format_setting(object@fit_args[[name]])))
  }
  invisible(object)
}

format_setting <- function(value) {
  if (is.null(value)) return("NULL")
  if (inherits(value, "dmn_search")) return(sprintf("dmn_search(%s)", format_search(value)))
  paste(format(value), collapse = ", ")
}

param_validity <- function(object) {
  tryCatch({
    check_param_settings(param_settings_of(object), object@fit_args)
    TRUE
  }, fastdmm_input_error = conditionMessage)
}

# The clusterRows() method: dmn_fit() for every k, the best by `type`, and the
# result in DmmParam's shape (see the documentation above). The table is read
# and checked once, here, so that its errors name clusterRows()'s `x`.
param_cluster_rows <- function(x, BLUSPARAM, full = FALSE) {
  full <- check_flag(full, "full")
  if (full) {
    require_package("DirichletMultinomial", "full",
                    "is TRUE, which returns DirichletMultinomial DMN objects")
  }
  kind <- container_kind(x)
  if (!is.null(kind)) {
    abort_input("x", sprintf(paste(
      "is a %s object, but clusterRows() clusters the rows of a matrix: pass the",
      "samples x taxa table, e.g. t(assay(x, \"counts\")), or use mia's",
      "addCluster(x, BLUSPARAM, by = \"samples\")"), kind), "fastdmm_bad_argument")
  }
  if (isS4(x) && !inherits(x, "Matrix") && !is_delayed_matrix(x) && length(dim(x)) == 2L) {
    # Other matrix-like objects are realised densely; a DelayedMatrix (such as
    # an HDF5Matrix) is read block by block by dmn_fit().
    x <- as.matrix(x)
  }
  sample_names <- rownames(x)
  k <- BLUSPARAM@k
  fit_args <- BLUSPARAM@fit_args
  BPPARAM <- BLUSPARAM@BPPARAM
  if (!is.null(BPPARAM)) {
    require_package("BiocParallel", "BPPARAM", "is a BiocParallel parameter")
    # Fits side by side on BiocParallel's workers get one thread each unless
    # the parameter says otherwise (results do not depend on the threads).
    if (!"threads" %in% names(fit_args)) fit_args$threads <- 1L
  }
  # `x` from here on is the compact table every fit reads.
  x <- as_counts(x, "x", threads = fit_args$threads)
  check_enough_taxa(x, "x")
  k <- check_components(k, x$n_samples)
  seed <- BLUSPARAM@seed
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  # The call is built from values, not from this function's variables, so that
  # each fit records how to make it again.
  call <- as.call(c(list(quote(dmn_fit), counts = quote(x), k = k, seed = seed,
                         nstart = BLUSPARAM@nstart), fit_args))
  fits <- if (is.null(BPPARAM)) {
    eval(call)
  } else {
    param_bplapply(x, k, seed, BLUSPARAM@nstart, fit_args, BPPARAM, call)
  }
  if (inherits(fits, "dmn_fit")) fits <- new_dmn_fits(list(fits), call)

  best <- 1L
  if (length(k) > 1L) {
    column <- c(laplace = "Laplace", AIC = "AIC", BIC = "BIC")[[BLUSPARAM@type]]
    best <- which.min(vapply(fits, function(fit) fit$goodnessOfFit[[column]], numeric(1)))
  }
  prob <- fits[[best]]$group
  colnames(prob) <- seq_len(ncol(prob))
  clusters <- factor(colnames(prob)[max.col(prob, ties.method = "first")])
  names(clusters) <- sample_names
  if (!full) return(clusters)
  list(clusters = clusters,
       objects = list(dmm = lapply(unclass(fits), as_DMN), best = k[[best]], prob = prob,
                      seed = seed, fits = fits))
}

# The fits of every k through BiocParallel::bplapply(), as the serial run
# makes them: the same seed for every k, and each fit's call (and the list's)
# that of the whole run, so that the result is identical to eval(call).
param_bplapply <- function(table, k, seed, nstart, fit_args, BPPARAM, call) {
  outcomes <- BiocParallel::bplapply(as.list(k), param_fit_one, table = table, seed = seed,
                                     nstart = nstart, fit_args = fit_args, BPPARAM = BPPARAM)
  # Conditions come back as values (their classes intact) and are signalled
  # here, in the order of k.
  for (outcome in outcomes) {
    for (w in outcome$warnings) warning(w)
    if (!is.null(outcome$error)) stop(outcome$error)
  }
  call <- match.call(dmn_fit, call)
  fits <- lapply(outcomes, function(outcome) {
    fit <- outcome$fit
    fit$call <- call
    fit
  })
  if (length(fits) == 1L) fits[[1L]] else new_dmn_fits(fits, call)
}

# One k on a BiocParallel worker: dmn_fit() with the parameter's settings,
# returning the fit with the warnings it gave and its error, if any.
param_fit_one <- function(k, table, seed, nstart, fit_args) {
  warnings <- list()
  error <- NULL
  fit <- withCallingHandlers(
    tryCatch(do.call(dmn_fit, c(list(table, k = k, seed = seed, nstart = nstart), fit_args)),
             error = function(e) {
               error <<- e
               NULL
             }),
    warning = function(w) {
      warnings[[length(warnings) + 1L]] <<- w
      invokeRestart("muffleWarning")
    })
  list(fit = fit, warnings = warnings, error = error)
}

# ---- defining the class -------------------------------------------------------------

# Defines the class FastDmmParam and its methods, once; bluster must be loaded.
register_bluster_methods <- function() {
  if (isTRUE(bluster_bridge$registered)) return(invisible(FALSE))
  methods::setClass("FastDmmParam", contains = "BlusterParam",
                    slots = c(k = "integer", type = "character", seed = "ANY",
                              BPPARAM = "ANY", nstart = "ANY", fit_args = "list"),
                    validity = param_validity, where = bluster_bridge)
  methods::setMethod(bluster::clusterRows, c("ANY", "FastDmmParam"), param_cluster_rows,
                     where = bluster_bridge)
  methods::setMethod("show", "FastDmmParam", function(object) {
    methods::callNextMethod()
    param_show(object)
  }, where = bluster_bridge)
  methods::setMethod("[[", "FastDmmParam", function(x, i, j, ...) param_get(x, i),
                     where = bluster_bridge)
  methods::setReplaceMethod("[[", "FastDmmParam", function(x, i, j, ..., value) {
    param_set(x, i, value)
  }, where = bluster_bridge)
  bluster_bridge$registered <- TRUE
  invisible(TRUE)
}

unregister_bluster_methods <- function() {
  if (!isTRUE(bluster_bridge$registered)) return(invisible(FALSE))
  if (isNamespaceLoaded("bluster")) {
    methods::removeMethod(bluster::clusterRows, c("ANY", "FastDmmParam"),
                          where = bluster_bridge)
  }
  methods::removeMethod("show", "FastDmmParam", where = bluster_bridge)
  methods::removeMethod("[[", "FastDmmParam", where = bluster_bridge)
  methods::removeMethod("[[<-", "FastDmmParam", where = bluster_bridge)
  methods::removeClass("FastDmmParam", where = bluster_bridge)
  bluster_bridge$registered <- FALSE
  invisible(TRUE)
}

# Called from .onLoad(): the bridge takes fastdmm's name, and the class is
# defined now if bluster is loaded, otherwise as soon as it is.
setup_bluster_bridge <- function(pkgname) {
  assign(".packageName", pkgname, envir = bluster_bridge)
  setHook(packageEvent("bluster", "onLoad"), bluster_loaded_hook)
  if (isNamespaceLoaded("bluster")) register_bluster_methods()
  invisible()
}

bluster_loaded_hook <- function(...) register_bluster_methods()

teardown_bluster_bridge <- function() {
  hooks <- getHook(packageEvent("bluster", "onLoad"))
  keep <- !vapply(hooks, identical, logical(1), bluster_loaded_hook)
  setHook(packageEvent("bluster", "onLoad"), hooks[keep], action = "replace")
  unregister_bluster_methods()
}
