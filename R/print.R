# Printing and summarising fits.

#' Print or summarise a Dirichlet-multinomial mixture fit
#'
#' `print()` shows what the reference's `show()` does (k, samples x taxa, the
#' criteria) plus how EM ended. `summary()` adds the criteria table and, for
#' each component, its weight, precision and the taxa with the largest expected
#' proportions.
#'
#' @param x,object A fitted model, as returned by [dmn_fit()].
#' @param ntaxa Number of top taxa listed per component.
#' @param digits Significant digits for printing.
#' @param ... Unused.
#' @return `print()` returns `x` invisibly. `summary()` returns an object of
#'   class `summary.dmn_fit`: a list with `k`, `n_samples`, `n_taxa`,
#'   `goodness_of_fit`, `components` (a data.frame of `pi`, `theta` and
#'   `top_taxa`, one row per component, named by [component_names()]),
#'   `em_iterations`, `converged`, `hessian` and `converted` (`TRUE` for fits
#'   converted from a DirichletMultinomial `DMN` by [as_dmn_fit()], which record
#'   no EM details).
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' print(fit)
#' summary(fit)
print.dmn_fit <- function(x, ...) {
  cat("class:", class(x)[1L], "\n")
  cat("k:", x$k, "\n")
  cat("samples x taxa:", x$n_samples, "x", x$n_taxa, "\n")
  cat("Laplace:", laplace(x), "BIC:", BIC(x), "AIC:", AIC(x), "\n")
  if (has_user_component_names(x)) {
    cat("components:", paste(component_names(x), collapse = ", "), "\n")
  }
  if (is_converted(x)) {
    cat("EM: not recorded (converted from a DirichletMultinomial DMN object)\n")
  } else {
    cat(sprintf("EM: %s after %d iterations (seed %d, %s Hessian)\n",
                if (isTRUE(x$converged)) "converged" else "did not converge",
                x$em_iterations, x$seed, x$hessian))
  }
  search <- x$search
  if (isTRUE(search$replicates > 0L)) {
    cat(sprintf("best optimum reached by %d of %d starts (start %d; %d distinct optima%s)\n",
                as.integer(search$at_best), as.integer(search$starts_run), x$best_start,
                as.integer(search$optima),
                if (isTRUE(search$replicated)) "" else
                  sprintf("; %d asked for", as.integer(search$replicates))))
  } else if (NROW(x$starts) > 1L) {
    finished <- x$starts$continued & x$starts$status != "abandoned"
    cat(sprintf("best of %d starts (start %d; %d run to the end)\n", nrow(x$starts),
                x$best_start, sum(finished)))
  }
  if (NROW(x$moves) > 0L) {
    kinds <- x$moves$kind %||% rep("split-merge", nrow(x$moves))
    for (kind in intersect(move_kinds, kinds)) {
      mine <- kinds == kind
      cat(sprintf("%s: %d of %d moves kept\n", kind, sum(x$moves$accepted[mine]), sum(mine)))
    }
  }
  if (is.list(search) && isTRUE(search$subsample < search$samples)) {
    cat(sprintf("searched on a subsample of %s of %s samples, then %d EM iterations on all\n",
                format(search$subsample, big.mark = ","), format(search$samples, big.mark = ","),
                as.integer(search$refine_iterations)))
  }
  invisible(x)
}

#' @rdname print.dmn_fit
#' @export
summary.dmn_fit <- function(object, ntaxa = 3L, ...) {
  ntaxa <- check_whole_number(ntaxa, "ntaxa", min = 1)
  proportions <- fitted(object, scale = TRUE)
  taxa <- rownames(proportions) %||% paste0("taxon", seq_len(nrow(proportions)))
  top <- vapply(seq_len(ncol(proportions)), function(k) {
    o <- order(proportions[, k], decreasing = TRUE)[seq_len(min(ntaxa, nrow(proportions)))]
    paste(sprintf("%s (%.1f%%)", taxa[o], 100 * proportions[o, k]), collapse = ", ")
  }, character(1))
  weights <- mixturewt(object)
  structure(list(
    k = object$k,
    n_samples = object$n_samples,
    n_taxa = object$n_taxa,
    goodness_of_fit = goodnessOfFit(object),
    components = data.frame(pi = weights$pi, theta = weights$theta, top_taxa = top,
                            row.names = colnames(proportions)),
    em_iterations = object$em_iterations,
    converged = object$converged,
    hessian = object$hessian,
    converted = is_converted(object)
  ), class = "summary.dmn_fit")
}

#' @rdname print.dmn_fit
#' @export
print.summary.dmn_fit <- function(x, digits = max(3L, getOption("digits") - 3L), ...) {
  cat(sprintf("Dirichlet-multinomial mixture: k = %d, %d samples x %d taxa\n",
              x$k, x$n_samples, x$n_taxa))
  if (isTRUE(x$converted)) {
    cat("EM not recorded (converted from a DirichletMultinomial DMN object)\n\n")
  } else {
    cat(sprintf("EM %s after %d iterations; %s Hessian\n\n",
                if (isTRUE(x$converged)) "converged" else "did not converge",
                x$em_iterations, x$hessian))
  }
  print(x$goodness_of_fit, digits = digits)
  cat("\nComponents (largest expected proportions):\n")
  components <- x$components
  components$pi <- signif(components$pi, digits)
  components$theta <- signif(components$theta, digits)
  print(components, right = FALSE)
  invisible(x)
}

# TRUE for fits made by as_dmn_fit() from a DMN, which records no EM details.
is_converted <- function(object) identical(object$converted_from, "DMN")
