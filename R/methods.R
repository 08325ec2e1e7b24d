# Accessors and S3 methods for dmn_fit, mirroring DirichletMultinomial's DMN.

#' Posterior component memberships
#'
#' @param object A fitted model, as returned by [dmn_fit()].
#' @param ... Unused; anything passed here is an error, so that a value passed
#'   by position, as in `mixture(fit, TRUE)`, is not silently ignored (name
#'   it: `assign = TRUE`).
#' @param assign If `TRUE`, return the most probable component of each sample
#'   instead of the posterior matrix.
#' @return The samples x components matrix of posterior probabilities from the
#'   last E-step (columns named by [component_names()]), or with
#'   `assign = TRUE` the most probable component of each sample, named by
#'   sample: an integer vector of component indices (the arg-max of each row),
#'   as `DirichletMultinomial::mixture()`, or, once the components have been
#'   named with `component_names<-`, a factor whose levels are the component
#'   names in component order.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' mixture(fit)
#' mixture(fit, assign = TRUE)
mixture <- function(object, ...) UseMethod("mixture")

#' @rdname mixture
#' @export
mixture.default <- function(object, ...) refuse_not_a_fit(object, "mixture()")

#' @rdname mixture
#' @export
mixture.dmn_fit <- function(object, ..., assign = FALSE) {
  check_dots_empty(list(...), "mixture()")
  assign <- check_flag(assign, "assign")
  if (assign) {
    as_component_labels(apply(object$group, 1L, which.max), object)
  } else {
    object$group
  }
}

#' Mixture weights and Dirichlet precisions
#'
#' @inheritParams mixture
#' @return A data.frame with one row per component, named by
#'   [component_names()]: `pi`, the mixture weight, and `theta`, the
#'   component's Dirichlet precision (the sum of its alphas), as
#'   `DirichletMultinomial::mixturewt()`.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' mixturewt(dmn_fit(counts, k = 2, seed = 1, threads = 1))
mixturewt <- function(object, ...) UseMethod("mixturewt")

#' @rdname mixturewt
#' @export
mixturewt.default <- function(object, ...) refuse_not_a_fit(object, "mixturewt()")

#' @rdname mixturewt
#' @export
mixturewt.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "mixturewt()")
  data.frame(pi = as.vector(object$mixture$Weight),
             theta = unname(colSums(object$fit$Estimate)),
             row.names = colnames(object$fit$Estimate))
}

#' Goodness of fit of a Dirichlet-multinomial mixture
#'
#' `goodnessOfFit()` returns the named vector `NLE` (negative log posterior,
#' including the hyperprior), `LogDet` (log determinant of the Hessian plus the
#' weights' terms), `Laplace`, `BIC` and `AIC`; `laplace()`, `AIC()` and
#' `BIC()` return one of them. As in DirichletMultinomial, with P = k S + k - 1
#' parameters (S taxa) and N samples, `AIC = NLE + P`, `BIC = NLE + P log(N) / 2`
#' and `Laplace = NLE + LogDet / 2 - P log(2 pi) / 2`: all on the NLE's scale
#' (half the usual deviance scale), smaller is better.
#'
#' @inheritParams mixture
#' @param k Unused; present for compatibility with [stats::AIC()].
#' @return A named numeric vector (`goodnessOfFit()`), or a number. `AIC()` and
#'   `BIC()` of several fits return a data.frame of `df` and the criterion.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' goodnessOfFit(fit)
#' laplace(fit)
#' AIC(fit)
#' BIC(fit)
goodnessOfFit <- function(object, ...) UseMethod("goodnessOfFit")

#' @rdname goodnessOfFit
#' @export
goodnessOfFit.default <- function(object, ...) refuse_not_a_fit(object, "goodnessOfFit()")

#' @rdname goodnessOfFit
#' @export
goodnessOfFit.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "goodnessOfFit()")
  object$goodnessOfFit
}

#' @rdname goodnessOfFit
#' @export
laplace <- function(object, ...) UseMethod("laplace")

#' @rdname goodnessOfFit
#' @export
laplace.default <- function(object, ...) refuse_not_a_fit(object, "laplace()")

#' @rdname goodnessOfFit
#' @export
laplace.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "laplace()")
  object$goodnessOfFit[["Laplace"]]
}

#' @rdname goodnessOfFit
#' @export
AIC.dmn_fit <- function(object, ..., k = 2) {
  labels <- vapply(as.list(substitute(list(object, ...)))[-1L], deparse1, character(1))
  criterion_of_fits("AIC", labels, object, ...)
}

#' @rdname goodnessOfFit
#' @export
BIC.dmn_fit <- function(object, ...) {
  labels <- vapply(as.list(substitute(list(object, ...)))[-1L], deparse1, character(1))
  criterion_of_fits("BIC", labels, object, ...)
}

criterion_of_fits <- function(name, labels, object, ...) {
  others <- list(...)
  if (length(others) == 0L) return(object$goodnessOfFit[[name]])
  fits <- c(list(object), others)
  if (!all(vapply(fits, inherits, logical(1), what = "dmn_fit"))) {
    abort_input("...", sprintf("must hold dmn_fit objects to compare by %s", name),
                "fastdmm_bad_argument")
  }
  out <- data.frame(
    df = vapply(fits, n_parameters, numeric(1)),
    value = vapply(fits, function(fit) fit$goodnessOfFit[[name]], numeric(1)),
    row.names = make.unique(labels)
  )
  names(out)[2L] <- name
  out
}

n_parameters <- function(object) object$k * object$n_taxa + object$k - 1

#' Fitted Dirichlet parameters
#'
#' @inheritParams mixture
#' @param scale If `TRUE`, divide each component's alphas by their sum (its
#'   precision `theta`), giving the component's expected taxon proportions.
#' @return A taxa x components matrix of Dirichlet parameters alpha (the
#'   reference's `Estimate`), as `DirichletMultinomial::fitted()`, with taxon
#'   names from the fitted table and columns named by [component_names()].
#'   `coef()` returns the same matrix.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' fitted(fit)
#' fitted(fit, scale = TRUE)
fitted.dmn_fit <- function(object, ..., scale = FALSE) {
  check_dots_empty(list(...), "fitted()")
  scale <- check_flag(scale, "scale")
  estimate <- object$fit$Estimate
  if (scale) estimate <- base::scale(estimate, FALSE, colSums(estimate))
  estimate
}

#' @rdname fitted.dmn_fit
#' @export
coef.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "coef()")
  object$fit$Estimate
}

#' Log-likelihood of a Dirichlet-multinomial mixture
#'
#' The log-likelihood of the data under the fitted mixture, sum over samples of
#' log sum_k pi_k DM(x_i | alpha_k) including the multinomial coefficient, and
#' without the hyperprior (so `-logLik(fit)` differs from the `NLE` of
#' [goodnessOfFit()] by the prior's terms).
#'
#' @inheritParams mixture
#' @return An object of class `logLik` with attributes `df` (k S + k - 1) and
#'   `nobs` (the number of samples).
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' logLik(dmn_fit(counts, k = 2, seed = 1, threads = 1))
logLik.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "logLik()")
  structure(object$log_likelihood, df = n_parameters(object),
            nobs = object$n_samples, class = "logLik")
}

#' @rdname logLik.dmn_fit
#' @export
nobs.dmn_fit <- function(object, ...) {
  check_dots_empty(list(...), "nobs()")
  object$n_samples
}

#' Predict component memberships of new samples
#'
#' Computes, in parallel C++, each new sample's Dirichlet-multinomial evidence
#' under every component of a fitted model.
#'
#' @inheritParams mixture
#' @param newdata A count table of new samples (any input [dmn_fit()]
#'   accepts: a samples x taxa matrix, data.frame or `Matrix::dgCMatrix`, a
#'   phyloseq object or `otu_table`, or a SummarizedExperiment with taxa in
#'   rows) or one sample as a numeric vector. When both the
#'   model and `newdata` have taxon names, columns are matched by name (extra
#'   or missing taxa are an error); otherwise `newdata` must have the model's
#'   taxa in the model's order. Samples whose counts are all zero are allowed:
#'   their posterior is the mixture weights.
#' @param logevidence If `TRUE`, return the negative log evidence
#'   -log DM(x_i | alpha_k) (without the multinomial coefficient) of each sample
#'   under each component, as the reference does, instead of posteriors.
#' @param threads Number of threads; `NULL` for the default (see [dmn_fit()]).
#' @param assay.type For a SummarizedExperiment (or subclass such as
#'   TreeSummarizedExperiment) `newdata`: the name of the assay holding the
#'   counts. `NULL` (default) takes the assay named `"counts"` if there is one,
#'   otherwise the first assay. Giving it for other inputs is an error.
#' @return A samples x components matrix, rows named by sample and columns by
#'   [component_names()]: posterior probabilities (rows sum to one, weighted by
#'   the mixture weights) or, with `logevidence = TRUE`, negative log
#'   evidences.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' predict(fit, c(20, 2, 1))
#' predict(fit, counts, logevidence = TRUE)
predict.dmn_fit <- function(object, newdata, ..., logevidence = FALSE, threads = NULL,
                            assay.type = NULL) {
  if (missing(newdata)) {
    abort_input("newdata", "is missing: give the samples to predict (use mixture() for the fitted ones)",
                "fastdmm_bad_argument")
  }
  check_dots_empty(list(...), "predict() of a dmn_fit")
  check_fit(object, "object")
  logevidence <- check_flag(logevidence, "logevidence")
  threads <- resolve_threads(threads)
  # Containers become their samples x taxa table first, so that taxa can be
  # matched by name below.
  newdata <- as_count_table(newdata, "newdata", assay.type)
  newdata <- align_taxa(newdata, rownames(object$fit$Estimate),
                        nrow(object$fit$Estimate), "newdata")
  data <- as_counts(newdata, "newdata", allow_zero_samples = TRUE, threads = threads)
  log_alpha <- log(object$fit$Estimate)
  evidence <- .log_evidence(data, log_alpha, threads)
  dimnames(evidence) <- list(data$sample_names, colnames(object$fit$Estimate))
  if (logevidence) return(-evidence)
  posterior_from_evidence(evidence, object$mixture$Weight)
}

# z_ik proportional to pi_k exp(e_ik), by log-sum-exp over components of
# positive weight.
posterior_from_evidence <- function(evidence, weights) {
  usable <- rep(weights > 0, each = nrow(evidence))
  shifted <- evidence
  shifted[!usable] <- -Inf
  offset <- apply(shifted, 1L, max)
  z <- exp(shifted - offset) * rep(weights, each = nrow(evidence))
  z / rowSums(z)
}

# Puts newdata's taxa in the model's order: by name when both have names,
# otherwise by position (which then must agree in number).
align_taxa <- function(newdata, taxa, n_taxa, arg) {
  if (is.numeric(newdata) && is.null(dim(newdata))) {
    newdata <- matrix(newdata, nrow = 1L, dimnames = list(NULL, names(newdata)))
  }
  n_new <- NCOL(newdata)
  new_taxa <- colnames(newdata)
  if (!is.null(taxa) && !is.null(new_taxa)) {
    missing_taxa <- setdiff(taxa, new_taxa)
    if (length(missing_taxa) > 0L) {
      abort_input(arg, sprintf("lacks %d of the model's taxa: %s",
                               length(missing_taxa), format_names(missing_taxa)),
                  "fastdmm_taxa_mismatch")
    }
    extra_taxa <- setdiff(new_taxa, taxa)
    if (length(extra_taxa) > 0L) {
      abort_input(arg, sprintf("has %d taxa the model was not fitted on: %s",
                               length(extra_taxa), format_names(extra_taxa)),
                  "fastdmm_taxa_mismatch")
    }
    if (anyDuplicated(new_taxa)) {
      abort_input(arg, "has duplicated taxon names", "fastdmm_taxa_mismatch")
    }
    if (!identical(new_taxa, taxa)) newdata <- newdata[, taxa, drop = FALSE]
  } else if (n_new != n_taxa) {
    abort_input(arg, sprintf("has %d taxa (columns) but the model has %d", n_new, n_taxa),
                "fastdmm_taxa_mismatch")
  }
  newdata
}
