# Conversions between fastdmm's S3 fits and DirichletMultinomial's S4 DMN
# objects, so that tools built on either accept the other's fits.

#' Convert between fastdmm fits and DirichletMultinomial's DMN objects
#'
#' `as_DMN()` turns a [dmn_fit()] result into the S4 `DMN` object of
#' Bioconductor's DirichletMultinomial, so that code written for that package
#' (its `mixture()`, `fitted()`, `predict()`, `heatmapdmn()` or your own
#' functions taking a `DMN`) accepts fastdmm's fits. `as_dmn_fit()` goes the
#' other way: it turns a `DMN` (for example a saved result of
#' `DirichletMultinomial::dmn()`) into a `dmn_fit`, so that fastdmm's
#' accessors, `predict()`, `simulate()`, `plot()` and `summary()` work on it.
#'
#' A `DMN` holds the goodness of fit, the posterior matrix, the weights and the
#' Dirichlet parameters with their bounds, and nothing else: fields of a
#' `dmn_fit` that a `DMN` does not record (`seed`, `hessian`, `em_iterations`,
#' `converged`, `nle_trace`, `kmeans_iterations`, `threads`) are `NA` after
#' `as_dmn_fit()`. The log-likelihood is recovered from the `NLE` and the
#' hyperprior. Component names set with [component_names<-] travel as the
#' column names of the `DMN`'s matrices; default names are left out, as the
#' reference leaves them, so `as_DMN(as_dmn_fit(dmn))` has the same slots as
#' `dmn`.
#'
#' @param fit A `dmn_fit`, or a `dmn_fits` from [dmn_fit()] with several `k`
#'   (converted to a list of `DMN`, like the reference's `lapply(1:7, dmn, ...)`).
#' @param x A `DMN` object, or a list of them (converted to a `dmn_fits`).
#' @return `as_DMN()`: a `DirichletMultinomial` `DMN` object (or a list of
#'   them). `as_dmn_fit()`: a `dmn_fit` (or a `dmn_fits`).
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' if (requireNamespace("DirichletMultinomial", quietly = TRUE)) {
#'   dmn <- as_DMN(fit)
#'   DirichletMultinomial::mixturewt(dmn)
#'   back <- as_dmn_fit(dmn)
#'   all.equal(mixture(back), mixture(fit))
#' }
as_DMN <- function(fit) {
  if (inherits(fit, "dmn_fits")) return(lapply(unclass(fit), as_DMN))
  if (!inherits(fit, "dmn_fit")) {
    abort_input("fit", sprintf("must be a dmn_fit or dmn_fits object, not %s",
                               describe_class(fit)), "fastdmm_bad_argument")
  }
  require_package("DirichletMultinomial", "fit",
                  "is to become a DirichletMultinomial DMN object")
  keep_names <- has_user_component_names(fit)
  component_columns <- function(m) {
    if (!keep_names) colnames(m) <- NULL
    m
  }
  methods::new(
    methods::getClass("DMN", where = asNamespace("DirichletMultinomial")),
    goodnessOfFit = fit$goodnessOfFit,
    group = component_columns(fit$group),
    mixture = list(Weight = as.vector(fit$mixture$Weight)),
    fit = lapply(fit$fit[c("Lower", "Estimate", "Upper")], component_columns)
  )
}

#' @rdname as_DMN
#' @export
as_dmn_fit <- function(x) {
  if (inherits(x, "dmn_fit") || inherits(x, "dmn_fits")) return(x)
  if (is.list(x) && !isS4(x) && length(x) > 0L &&
      all(vapply(x, is_dmn_object, logical(1)))) {
    fits <- lapply(x, as_dmn_fit)
    k <- vapply(fits, function(fit) fit$k, integer(1))
    if (anyDuplicated(k)) {
      abort_input("x", sprintf("holds several DMN objects with the same k (%s)",
                               format_names(unique(k[duplicated(k)]))),
                  "fastdmm_bad_argument")
    }
    return(new_dmn_fits(fits, call = NULL))
  }
  if (!is_dmn_object(x)) {
    abort_input("x", sprintf("must be a DirichletMultinomial DMN object (or a list of them), not %s",
                             describe_class(x)), "fastdmm_bad_argument")
  }
  slots <- attributes(x)[c("goodnessOfFit", "group", "mixture", "fit")]
  group <- slots$group
  estimate <- slots$fit$Estimate
  k <- ncol(estimate)
  # Column names other than the reference's NULL or 1..k are user names
  # (set here before as_DMN()), and are restored as such.
  given <- colnames(estimate)
  user_named <- !is.null(given) && !identical(given, as.character(seq_len(k)))
  components <- if (user_named) given else as.character(seq_len(k))
  dress <- function(m) {
    if (is.null(m)) return(m)
    m <- as.matrix(m)
    colnames(m) <- components
    m
  }
  nle <- slots$goodnessOfFit[["NLE"]]
  structure(list(
    goodnessOfFit = slots$goodnessOfFit,
    group = dress(group),
    mixture = list(Weight = as.vector(slots$mixture$Weight)),
    fit = lapply(slots$fit[c("Lower", "Estimate", "Upper")], dress),
    k = as.integer(k),
    n_samples = nrow(group),
    n_taxa = nrow(estimate),
    seed = NA_integer_,
    hessian = NA_character_,
    # NLE = -log-likelihood + the hyperprior's negative log density.
    log_likelihood = -(nle - neg_log_prior(estimate)),
    nle_trace = NA_real_,
    em_iterations = NA_integer_,
    converged = NA,
    kmeans_iterations = NA_integer_,
    threads = NA_integer_,
    call = NULL,
    component_names_set = user_named,
    converted_from = "DMN"
  ), class = "dmn_fit")
}

# Checked on the attributes that hold the slots, not with slotNames(): the
# DMN objects shipped in DirichletMultinomial's data(fit) have a class whose
# package is ".GlobalEnv", where no class definition is found.
is_dmn_object <- function(x) {
  isS4(x) && inherits(x, "DMN") &&
    all(vapply(c("goodnessOfFit", "group", "mixture", "fit"),
               function(slot) !is.null(attr(x, slot, exact = TRUE)), logical(1)))
}

# The Gamma(eta, nu) hyperprior's negative log density on the log scale
# (DESIGN.md section 1): S K lgamma(eta) - eta S K log(nu) + nu sum(alpha) -
# eta sum(log alpha).
neg_log_prior <- function(alpha, shape = 0.1, rate = 0.1) {
  n <- length(alpha)
  n * lgamma(shape) - shape * n * log(rate) + rate * sum(alpha) - shape * sum(log(alpha))
}
