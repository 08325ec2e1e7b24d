# Component names: readable labels that every output of a fit carries.

#' Name the components of a fit
#'
#' [dmn_fit()] names components `"1"`, `"2"`, ... in order of decreasing
#' weight. Once you know what the components are (say, from [plot.dmn_fit()]
#' or `summary()`), give them names: every output then carries them — the
#' columns of [mixture()], [fitted()][fitted.dmn_fit()] and
#' [predict()][predict.dmn_fit()], the rows of [mixturewt()] and `summary()`,
#' the panels of [plot()][plot.dmn_fit()] and `autoplot()`, and
#' [simulate()][simulate.dmn_fit()]'s components. `mixture(fit, assign = TRUE)`
#' then returns a factor with the names as levels (in component order) instead
#' of integer indices.
#'
#' @param object A fitted model, as returned by [dmn_fit()].
#' @param value A character vector with one name per component, in component
#'   order (see `component_names(object)`): unique, not `NA`, not empty. `NULL`
#'   restores the default names `"1"`, `"2"`, ... (and integer assignments).
#' @return `component_names()`: a character vector, one name per component.
#'   `component_names<-`: the fit with renamed components.
#' @export
#' @examples
#' counts <- matrix(c(30, 1, 2, 25, 3, 1, 2, 28, 1, 2, 27, 3), 4, 3, byrow = TRUE,
#'                  dimnames = list(paste0("s", 1:4), c("A", "B", "C")))
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' component_names(fit)
#' fitted(fit, scale = TRUE)
#' component_names(fit) <- c("A-rich", "C-rich")[order(-fitted(fit)["A", ])]
#' mixturewt(fit)
#' mixture(fit, assign = TRUE)
component_names <- function(object) UseMethod("component_names")

#' @rdname component_names
#' @export
component_names.default <- function(object) refuse_not_a_fit(object, "component_names()")

#' @rdname component_names
#' @export
component_names.dmn_fit <- function(object) colnames(object$fit$Estimate)

#' @rdname component_names
#' @export
`component_names<-` <- function(object, value) UseMethod("component_names<-")

#' @rdname component_names
#' @export
`component_names<-.default` <- function(object, value) {
  refuse_not_a_fit(object, "component_names<-")
}

#' @rdname component_names
#' @export
`component_names<-.dmn_fit` <- function(object, value) {
  k <- ncol(object$fit$Estimate)
  user_named <- !is.null(value)
  if (is.null(value)) value <- as.character(seq_len(k))
  value <- check_component_names(value, k)
  object$group <- rename_columns(object$group, value)
  object$fit <- lapply(object$fit, rename_columns, value)
  object$component_names_set <- user_named
  object
}

check_component_names <- function(value, k) {
  if (is.factor(value)) value <- as.character(value)
  if (!is.character(value) || !is.null(dim(value))) {
    abort_input("value", sprintf("must be a character vector of %d component names, not %s",
                                 k, describe_class(value)), "fastdmm_bad_argument")
  }
  if (length(value) != k) {
    abort_input("value", sprintf("must hold one name per component (%d), not %d",
                                 k, length(value)), "fastdmm_bad_argument")
  }
  if (anyNA(value) || any(!nzchar(value))) {
    abort_input("value", "must not contain NA or empty names", "fastdmm_bad_argument")
  }
  if (anyDuplicated(value)) {
    abort_input("value", sprintf("must hold unique names; duplicated: %s",
                                 format_names(unique(value[duplicated(value)]))),
                "fastdmm_bad_argument")
  }
  unname(value)
}

rename_columns <- function(m, names) {
  if (is.null(m)) return(m)
  colnames(m) <- names
  m
}

# TRUE once component_names<- has set names of the user's own (outputs that
# the reference gives as component indices then give these names instead).
has_user_component_names <- function(object) isTRUE(object$component_names_set)

# A vector of component indices as mixture(assign = TRUE) would give it for
# `object`: integer, or a factor of the component names once the user named them.
as_component_labels <- function(index, object) {
  if (!has_user_component_names(object)) return(index)
  names <- component_names(object)
  stats::setNames(factor(names[index], levels = names), names(index))
}
