# Expectations shared by the test files: values against independent
# computations with a stated tolerance, objectives that never rise, and
# fastdmm's classed refusals.

# Largest relative difference between `x` and `y`, with `floor` guarding the
# denominator near zero. NaN positions must agree and are ignored.
relative_difference <- function(x, y, floor = 1e-300) {
  x <- as.numeric(x)
  y <- as.numeric(y)
  stopifnot(length(x) == length(y))
  both <- !is.nan(x) & !is.nan(y)
  if (!any(both)) return(0)
  max(abs(x[both] - y[both]) / pmax(abs(y[both]), floor))
}

expect_relative <- function(object, expected, tolerance, floor = 1e-300, label = NULL) {
  label <- label %||% deparse1(substitute(object))
  nan_agree <- identical(is.nan(as.numeric(object)), is.nan(as.numeric(expected)))
  difference <- relative_difference(object, expected, floor)
  expect(
    length(object) == length(expected) && nan_agree && difference <= tolerance,
    sprintf("%s differs from the expected values: relative difference %.3g > %.3g%s",
            label, difference, tolerance, if (nan_agree) "" else " (NaN positions differ)")
  )
  invisible(object)
}

# (The tests' own copy of the package's `%||%`, so that the helpers do not
# depend on the package's internals.)
`%||%` <- function(x, y) if (is.null(x)) y else x

# Every refusal is a fastdmm_input_error of the given subclass whose message
# starts with the argument's name in quotes.
expect_input_error <- function(code, class, arg, regexp = NULL) {
  error <- expect_error(code, class = class)
  expect_s3_class(error, "fastdmm_input_error")
  expect_match(conditionMessage(error), sprintf("^'%s' ", arg))
  if (!is.null(regexp)) expect_match(conditionMessage(error), regexp)
  invisible(error)
}

# The objective never gets worse across iterations: every step may rise by at
# most `rel_tol` of the previous value (rounding in the sums).
expect_nonincreasing <- function(x, rel_tol = 1e-8) {
  rises <- diff(x) - rel_tol * abs(utils::head(x, -1L))
  worst <- if (length(rises) > 0L) which.max(rises) else NA_integer_
  expect(
    length(rises) == 0L || (all(is.finite(x)) && all(rises <= 0)),
    sprintf("sequence increases at step %d: %.17g -> %.17g", worst, x[worst], x[worst + 1L])
  )
  invisible(x)
}
