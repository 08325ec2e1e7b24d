# Lists of fits over a grid of k: criteria tables, choosing the best, plotting.

new_dmn_fits <- function(fits, call) {
  structure(fits, class = c("dmn_fits", "list"), call = call)
}

#' Work with fits over several numbers of components
#'
#' [dmn_fit()] with several values of `k` returns a `dmn_fits` list, one
#' `dmn_fit` per `k`. `summary()`, `print()` and `as.data.frame()` give the
#' table of criteria; `best_fit()` picks the fit with the smallest criterion;
#' `plot()` draws the criteria against `k` and marks each minimum.
#'
#' @param x,object,fits A `dmn_fits` object.
#' @param by Criterion to minimise: `"laplace"` (default), `"BIC"` or `"AIC"`
#'   (case does not matter; a unique abbreviation such as `"lap"` will do).
#' @param criteria Criteria to plot, any of `"Laplace"`, `"BIC"`, `"AIC"`,
#'   `"NLE"`.
#' @param row.names,optional Unused; for compatibility with [as.data.frame()].
#' @param i Indices of the fits to keep (positive or negative numbers, or a
#'   logical vector, as for a list; selecting a fit that does not exist is an
#'   error).
#' @param ... Passed on to [graphics::matplot()] by `plot()`, unused elsewhere.
#' @return `as.data.frame()` and `summary()`: a data.frame with one row per fit
#'   and columns `k`, `NLE`, `LogDet`, `Laplace`, `BIC`, `AIC`, `best_start`
#'   and `nstart` (`summary()` adds class `summary.dmn_fits`). `best_fit()`: a
#'   `dmn_fit`. `plot()`: `x`, invisibly.
#' @name dmn_fits
#' @examples
#' set.seed(1)
#' counts <- rdmm(40, cbind(c(20, 5, 1, 1), c(1, 1, 5, 20)), depth = 500)
#' fits <- dmn_fit(counts, k = 1:3, seed = 1, threads = 1)
#' summary(fits)
#' best_fit(fits, by = "BIC")
#' plot(fits)
NULL

# The criteria of goodnessOfFit(), named, so that a table of no fits still has
# its columns.
criteria_template <- c(NLE = 0, LogDet = 0, Laplace = 0, BIC = 0, AIC = 0)

#' @rdname dmn_fits
#' @export
as.data.frame.dmn_fits <- function(x, row.names = NULL, optional = FALSE, ...) {
  criteria <- t(vapply(x, goodnessOfFit, criteria_template))
  data.frame(
    k = vapply(x, function(fit) fit$k, integer(1)),
    criteria,
    best_start = vapply(x, function(fit) fit$best_start %||% 1L, integer(1)),
    nstart = vapply(x, function(fit) NROW(fit$starts %||% 1L), integer(1)),
    row.names = NULL
  )
}

#' @rdname dmn_fits
#' @export
summary.dmn_fits <- function(object, ...) {
  structure(as.data.frame(object), class = c("summary.dmn_fits", "data.frame"))
}

#' @rdname dmn_fits
#' @export
print.summary.dmn_fits <- function(x, ...) {
  table <- as.data.frame(unclass(x))
  if (nrow(table) == 0L) {
    cat("Dirichlet-multinomial mixtures: none (an empty list of fits)\n")
    return(invisible(x))
  }
  cat(sprintf("Dirichlet-multinomial mixtures for k = %s\n", format_k(table$k)))
  for (criterion in c("Laplace", "BIC", "AIC")) {
    table[[criterion]] <- ifelse(table[[criterion]] == min(table[[criterion]]),
                                 sprintf("%.2f *", table[[criterion]]),
                                 sprintf("%.2f  ", table[[criterion]]))
  }
  table$NLE <- sprintf("%.2f", table$NLE)
  table$LogDet <- sprintf("%.2f", table$LogDet)
  print(table, row.names = FALSE, right = TRUE)
  cat("* smallest value of the criterion\n")
  invisible(x)
}

#' @rdname dmn_fits
#' @export
print.dmn_fits <- function(x, ...) {
  print(summary(x))
  invisible(x)
}

#' @rdname dmn_fits
#' @export
`[.dmn_fits` <- function(x, i) {
  new_dmn_fits(unclass(x)[check_index(i, length(x), NULL, "i")], attr(x, "call"))
}

#' @rdname dmn_fits
#' @export
best_fit <- function(fits, by = c("laplace", "BIC", "AIC")) {
  by <- check_choice(by, c("laplace", "BIC", "AIC"), "by", ignore_case = TRUE)
  if (inherits(fits, "dmn_fit")) return(fits)
  if (!inherits(fits, "dmn_fits")) {
    abort_input("fits", sprintf("must be a dmn_fits object from dmn_fit(k = <vector>), not %s",
                                describe_value(fits)), "fastdmm_bad_argument")
  }
  check_fits(fits, "fits")
  column <- c(laplace = "Laplace", BIC = "BIC", AIC = "AIC")[[by]]
  values <- vapply(fits, function(fit) fit$goodnessOfFit[[column]], numeric(1))
  if (all(is.na(values))) {
    abort_input("fits", sprintf("has no fit with a %s value to compare", column),
                "fastdmm_bad_argument")
  }
  fits[[which.min(values)]]
}

#' @rdname dmn_fits
#' @export
plot.dmn_fits <- function(x, criteria = c("Laplace", "BIC", "AIC"), ...) {
  criteria <- check_choice(criteria, c("Laplace", "BIC", "AIC", "NLE"), "criteria",
                           several_ok = TRUE)
  check_fits(x, "x")
  table <- as.data.frame(x)
  values <- as.matrix(table[, criteria, drop = FALSE])
  colours <- c(Laplace = "#1b9e77", BIC = "#d95f02", AIC = "#7570b3", NLE = "grey40")[criteria]
  graphics::matplot(table$k, values, type = "b", pch = 1, lty = 1, col = colours,
                    xlab = "Number of components k", ylab = "Criterion (NLE scale)",
                    xaxt = "n", ...)
  graphics::axis(1, at = table$k)
  best <- apply(values, 2L, which.min)
  graphics::points(table$k[best], values[cbind(best, seq_along(criteria))], pch = 19,
                   col = colours, cex = 1.4)
  graphics::legend("topright", legend = criteria, col = colours, lty = 1, pch = 19,
                   bty = "n")
  graphics::mtext("filled point: the smallest value of each criterion", side = 3,
                  line = 0.3, cex = 0.8)
  invisible(x)
}

format_k <- function(k) {
  if (length(k) > 2L && all(diff(k) == 1L)) sprintf("%d..%d", k[1L], k[length(k)])
  else paste(k, collapse = ", ")
}
