# Argument checks used by more than one file, and the one way every check
# refuses a value: abort_input(), an error of class fastdmm_input_error whose
# message starts with the argument's name. A check used by one file stays in
# that file.

# ---- the refusal and its words ------------------------------------------------

# Signals an error of class `fastdmm_input_error` (and `class`) whose message
# starts with the argument's name.
abort_input <- function(arg, problem, class = NULL) {
  stop(structure(
    class = c(class, "fastdmm_input_error", "error", "condition"),
    list(message = sprintf("'%s' %s", arg, problem), call = NULL)
  ))
}

plural <- function(n) if (n == 1L) "" else "s"

format_names <- function(x, max = 5L) {
  x <- as.character(x)
  if (length(x) > max) {
    paste0(paste(x[seq_len(max)], collapse = ", "), sprintf(" and %d more", length(x) - max))
  } else {
    paste(x, collapse = ", ")
  }
}

describe_class <- function(x) {
  if (is.null(x)) return("NULL")
  sprintf("an object of class '%s'", paste(class(x), collapse = "/"))
}

# `x`, or `y` when `x` is NULL (base R has it only from 4.4.0).
`%||%` <- function(x, y) if (is.null(x)) y else x

# ---- argument checks shared by every entry point ------------------------------
#
# Each check refuses a bad value with abort_input() naming the argument and the
# value it got, and returns the value normalised (whole numbers as integers).
# Whole numbers that reach the C++ core's `int` are checked against its range,
# so that nothing becomes NA on the way.

int_max <- .Machine$integer.max

# A short description of a value for error messages: the value itself when it
# is a short scalar, otherwise its type and length.
describe_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.atomic(x) && !is.object(x) && is.null(dim(x)) && length(x) == 1L) {
    if (is.character(x)) {
      if (is.na(x)) return("NA")
      text <- if (nchar(x) > 40L) paste0(substr(x, 1L, 40L), "...") else x
      return(sprintf("\"%s\"", text))
    }
    if (is.numeric(x) || is.logical(x)) return(format(x, digits = 15L))
  }
  if (is.atomic(x) && !is.object(x) && length(x) == 0L) {
    return(sprintf("an empty %s vector", typeof(x)))
  }
  if (is.factor(x)) return(sprintf("a factor of length %d", length(x)))
  if (is.atomic(x) && !is.object(x)) {
    shape <- if (is.null(dim(x))) "vector" else "matrix"
    return(sprintf("a %s %s of length %d", typeof(x), shape, length(x)))
  }
  if (is.function(x)) return("a function")
  if (is.list(x) && !is.object(x)) return(sprintf("a list of length %d", length(x)))
  describe_class(x)
}

# A single whole number in [min, max] (by default the range of a C++ int), as an
# integer.
check_whole_number <- function(x, arg, min = 1, max = int_max) {
  max <- base::min(max, int_max)
  ok <- is.numeric(x) && !is.object(x) && length(x) == 1L && !is.na(x) &&
    is.finite(x) && x == round(x) && x >= min && x <= max
  if (!ok) {
    abort_input(arg, sprintf("must be a single whole number %s, not %s",
                             describe_range(min, max), describe_value(x)),
                "fastdmm_bad_argument")
  }
  as.integer(x)
}

# One or more whole numbers in [min, max], without NA or duplicates, as integers.
check_whole_numbers <- function(x, arg, min = 1, max = int_max, what = "whole numbers") {
  max <- base::min(max, int_max)
  ok <- is.numeric(x) && !is.object(x) && length(x) >= 1L && !anyNA(x) &&
    all(is.finite(x)) && all(x == round(x)) && all(x >= min) && all(x <= max)
  if (!ok) {
    abort_input(arg, sprintf("must be one or more %s %s, not %s", what,
                             describe_range(min, max), describe_value(x)),
                "fastdmm_bad_argument")
  }
  if (anyDuplicated(x)) {
    abort_input(arg, sprintf("has duplicated values (%s)",
                             format_names(unique(x[duplicated(x)]))),
                "fastdmm_bad_argument")
  }
  as.integer(x)
}

describe_range <- function(min, max) {
  if (max >= int_max) {
    sprintf("between %s and %s (.Machine$integer.max)", format(min), format(max))
  } else {
    sprintf("between %s and %s", format(min), format(max))
  }
}

# A single finite number in [min, max], as a double.
check_number <- function(x, arg, min = -Inf, max = Inf) {
  ok <- is.numeric(x) && !is.object(x) && length(x) == 1L && !is.na(x) &&
    is.finite(x) && x >= min && x <= max
  if (!ok) {
    range <- if (is.finite(min) && is.finite(max)) {
      sprintf(" between %s and %s", format(min), format(max))
    } else if (is.finite(min)) {
      sprintf(" >= %s", format(min))
    } else if (is.finite(max)) {
      sprintf(" <= %s", format(max))
    } else {
      ""
    }
    abort_input(arg, sprintf("must be a single finite number%s, not %s", range,
                             describe_value(x)), "fastdmm_bad_argument")
  }
  as.double(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || is.object(x) || length(x) != 1L || is.na(x)) {
    abort_input(arg, sprintf("must be TRUE or FALSE, not %s", describe_value(x)),
                "fastdmm_bad_argument")
  }
  as.vector(x)
}

# One of `choices` (several with several_ok), matched as match.arg() does:
# exactly, or by a unique partial match ("ref" is "reference"); with
# ignore_case, in any case. The default (the whole `choices` vector, as in a
# function's formals) is the first choice. Returns the choices matched.
check_choice <- function(x, choices, arg, several_ok = FALSE, ignore_case = FALSE) {
  if (!several_ok && identical(x, choices)) return(choices[1L])
  listed <- paste(sprintf("\"%s\"", choices), collapse = ", ")
  expected <- if (several_ok) sprintf("one or more of %s", listed) else sprintf("one of %s", listed)
  ok <- is.character(x) && !is.object(x) && is.null(dim(x)) && length(x) >= 1L &&
    (several_ok || length(x) == 1L) && !anyNA(x) && all(nzchar(x))
  if (!ok) {
    abort_input(arg, sprintf("must be %s, not %s", expected, describe_value(x)),
                "fastdmm_bad_argument")
  }
  keys <- if (ignore_case) tolower(choices) else choices
  given <- if (ignore_case) tolower(x) else x
  index <- pmatch(given, keys, duplicates.ok = TRUE)
  if (anyNA(index)) {
    bad <- x[is.na(index)][1L]
    ambiguous <- sum(startsWith(keys, given[is.na(index)][1L])) > 1L
    abort_input(arg, sprintf("must be %s, not %s%s", expected, describe_value(bad),
                             if (ambiguous) " (which matches several)" else ""),
                "fastdmm_bad_argument")
  }
  unique(choices[index])
}

check_seed <- function(seed, arg = "seed") {
  if (!is.numeric(seed) || is.object(seed) || length(seed) != 1L || !is.finite(seed)) {
    abort_input(arg, sprintf("must be a single finite number, not %s", describe_value(seed)),
                "fastdmm_bad_argument")
  }
  if (abs(seed) > int_max) {
    abort_input(arg, sprintf(
      "must lie between -%d and %d (it becomes an integer), not %s",
      int_max, int_max, describe_value(seed)), "fastdmm_bad_argument")
  }
  as.integer(seed)
}

# Refuses arguments in `dots` (a list(...)) that are unnamed or not in
# `allowed`, naming the first one: "'bogus' is not an argument of
# dmngroup() or dmn_fit()". `where` says which functions take the arguments.
check_dots <- function(dots, allowed, where) {
  if (length(dots) == 0L) return(invisible(dots))
  given <- names(dots) %||% rep("", length(dots))
  unnamed <- which(!nzchar(given))
  if (length(unnamed) > 0L) {
    abort_input("...", sprintf(
      "has %d unnamed argument%s (position %s); further arguments of %s must be named",
      length(unnamed), plural(length(unnamed)), format_names(unnamed), where),
      c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  unknown <- setdiff(given, allowed)
  if (length(unknown) > 0L) {
    abort_input(unknown[1L], sprintf(
      "is not an argument of %s%s", where,
      if (length(unknown) > 1L) {
        sprintf(" (nor are %s)", format_names(sprintf("'%s'", unknown[-1L])))
      } else {
        ""
      }), c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  duplicated_names <- unique(given[duplicated(given)])
  if (length(duplicated_names) > 0L) {
    abort_input(duplicated_names[1L], "is given more than once",
                c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  invisible(dots)
}

# For methods whose `...` is unused: refuses anything passed there (a value
# passed by position into `...` is otherwise silently ignored).
check_dots_empty <- function(dots, where) check_dots(dots, character(), where)

# Work, in component x non-zero count units of one E-step, that pays for one
# thread: a parallel loop costs some tens of microseconds to start and join on
# two threads, about what an E-step of 65,536 such units costs (~1 ns each;
# inst/bench/default-threads.R measures where a second thread starts to pay).
work_per_thread <- 65536

# The cores fastdmm may use: RcppParallel's count (which RCPP_PARALLEL_NUM_THREADS
# sets), at most 2 while R CMD check runs with _R_CHECK_LIMIT_CORES_ set (as
# --as-cran does): CRAN's policy allows a package two cores in its checks.
available_cores <- function(limit = Sys.getenv("_R_CHECK_LIMIT_CORES_", ""),
                            cores = RcppParallel::defaultNumThreads()) {
  cores <- max(1L, as.integer(cores))
  if (nzchar(limit) && !identical(tolower(limit), "false")) cores <- min(cores, 2L)
  cores
}

# The number of threads to use: `threads`, or the fastdmm.threads option, or as
# many as the work pays for (one per `work_per_thread` units of `work`, at
# least one), never more than the machine has (more only adds contention, and
# TBB warns that it ignores the request). The default `work` (Inf) asks for
# every core.
resolve_threads <- function(threads, work = Inf) {
  available <- available_cores()
  if (is.null(threads)) threads <- getOption("fastdmm.threads")
  if (is.null(threads)) {
    return(as.integer(max(1, min(available, floor(work / work_per_thread)))))
  }
  threads <- check_whole_number(threads, "threads", min = 1)
  min(threads, available)
}

# The positions that `i` selects among `n` elements named `names` (or NULL), as
# `[` selects from a list: positive or negative whole numbers, a logical vector
# (no longer than n) or names. Selecting an element that does not exist, NA
# and mixed signs are refused rather than giving NULL elements.
check_index <- function(i, n, names, arg) {
  positions <- stats::setNames(seq_len(n), names)
  ok_type <- (is.numeric(i) && all(is.finite(i)) && all(i == round(i))) ||
    (is.logical(i) && length(i) <= n) ||
    (is.character(i) && (!is.null(names) || length(i) == 0L))
  selected <- if (is.null(i)) {
    integer()
  } else if (ok_type && !is.object(i) && is.null(dim(i)) && !anyNA(i)) {
    tryCatch(positions[i], error = function(e) NULL)
  }
  if (is.null(selected) || anyNA(selected)) {
    abort_input(arg, sprintf(
      "must select existing elements (%d of them%s) by position, sign, logical vector%s; not %s",
      n, if (is.null(names)) "" else ", named", if (is.null(names)) "" else " or name",
      describe_value(i)), "fastdmm_bad_argument")
  }
  unname(selected)
}

# ---- fits, tables and colours ------------------------------------------------

# The default method of fastdmm's generics: a clear error for objects that are
# not fits (R's own would be "no applicable method").
refuse_not_a_fit <- function(object, what) {
  abort_input("object", sprintf("must be a dmn_fit from dmn_fit() for %s, not %s", what,
                                describe_value(object)), "fastdmm_bad_argument")
}

# A dmn_fit whose parameters, weights and posteriors agree in shape and hold
# usable values (a fit edited since dmn_fit() made it may not).
check_fit <- function(fit, arg) {
  if (!inherits(fit, "dmn_fit") || !is.list(fit)) {
    abort_input(arg, sprintf("must be a dmn_fit object from dmn_fit(), not %s",
                             describe_value(fit)), "fastdmm_bad_argument")
  }
  estimate <- fit$fit$Estimate
  weights <- fit$mixture$Weight
  group <- fit$group
  ok <- is.matrix(estimate) && is.numeric(estimate) && all(dim(estimate) >= 1L) &&
    all(is.finite(estimate)) && all(estimate >= 0) &&
    is.numeric(weights) && length(weights) == ncol(estimate) && all(is.finite(weights)) &&
    all(weights >= 0) && is.matrix(group) && is.numeric(group) &&
    ncol(group) == ncol(estimate)
  if (!ok) {
    abort_input(arg, paste(
      "is a damaged dmn_fit: its Dirichlet parameters (fit$Estimate, taxa x components),",
      "weights (mixture$Weight) and posteriors (group) must agree and be finite;",
      "refit it with dmn_fit()"), "fastdmm_bad_fit")
  }
  invisible(fit)
}

# A dmn_fits list that holds at least one fit, each a dmn_fit.
check_fits <- function(fits, arg) {
  if (length(fits) == 0L) {
    abort_input(arg, "holds no fits (it is empty)", "fastdmm_bad_argument")
  }
  not_fit <- which(!vapply(fits, inherits, logical(1), what = "dmn_fit"))
  if (length(not_fit) > 0L) {
    abort_input(arg, sprintf("must hold dmn_fit objects only; element%s %s %s not",
                             plural(length(not_fit)), format_names(not_fit),
                             if (length(not_fit) == 1L) "is" else "are"),
                "fastdmm_bad_argument")
  }
  invisible(fits)
}

# Returns the table as samples x taxa (containers such as phyloseq objects and
# SummarizedExperiments turned around by as_count_table()).
check_count_table <- function(x, arg, assay.type = NULL) {
  x <- as_count_table(x, arg, assay.type)
  if (!(is.matrix(x) || is.data.frame(x) || inherits(x, "Matrix")) ||
      length(dim(x)) != 2L) {
    abort_input(arg, sprintf(
      paste("must be a count table (a matrix, data.frame or Matrix::dgCMatrix",
            "with samples in rows and taxa in columns), not %s"),
      describe_class(x)
    ), "fastdmm_not_a_table")
  }
  x
}

# A vector of colours that R's graphics understand (names, "#RRGGBB", numbers).
check_colours <- function(col, arg) {
  # Numbers index the palette: whole numbers from 0 (NA is transparent).
  numbers_ok <- !is.numeric(col) ||
    all(is.na(col) | (is.finite(col) & col >= 0 & col <= int_max & col == round(col)))
  ok <- (is.character(col) || is.numeric(col)) && !is.object(col) && length(col) >= 1L &&
    numbers_ok && !is.null(tryCatch(grDevices::col2rgb(col), error = function(e) NULL))
  if (!ok) {
    abort_input(arg, sprintf("must be a vector of colours, not %s", describe_value(col)),
                "fastdmm_bad_argument")
  }
  invisible(col)
}

# ---- dmn_fit()'s arguments (dmngroup(), cvdmngroup(), FastDmmParam() too) ---

# k: whole numbers from 1 to n_samples (to the int range when n_samples is
# NULL), without duplicates.
check_components <- function(k, n_samples = NULL) {
  k <- check_whole_numbers(k, "k", min = 1, what = "positive whole numbers")
  if (!is.null(n_samples) && any(k > n_samples)) {
    abort_input("k", sprintf("(%s) must not exceed the number of samples (%d)",
                             format_names(k[k > n_samples]), n_samples),
                "fastdmm_bad_argument")
  }
  k
}

check_enough_taxa <- function(data, arg) {
  if (data$n_taxa < 2L) {
    abort_input(arg, sprintf("must have at least 2 taxa (columns); it has %d",
                             data$n_taxa), "fastdmm_too_few_taxa")
  }
  invisible(data)
}

# "reference" or "kmeans++" (partial matches allowed, as for every choice);
# start_kinds is in R/dmn_fit.R.
check_start_kind <- function(init) {
  if (!is.character(init) || length(init) != 1L || is.na(init)) {
    abort_input("init", sprintf(paste(
      "must be \"reference\" or \"kmeans++\" here, not %s: a start you give (labels",
      "or posteriors) belongs to one table and one k, so give it to dmn_fit() itself"),
      describe_value(init)), "fastdmm_bad_argument")
  }
  check_choice(init, start_kinds[1:2], "init")
}

# The most starts per k: each start is a seed, a record and a run, and more
# than this is a slip (nstart = 1e10) rather than a search.
most_starts <- 100000L

# The checks of dmn_fit()'s arguments that concern one fit rather than the
# table, one function per argument returning the value normalised. dmn_fit(),
# FastDmmParam(), dmngroup() and cvdmngroup() all check with these, so that
# every entry point refuses a bad value the same way, and the latter three
# before any fit starts. A new argument of dmn_fit() is a new line here.
fit_arg_checks <- list(
  verbose = function(x) check_flag(x, "verbose"),
  seed = function(x) check_seed(x, "seed"),
  threads = function(x) if (is.null(x)) NULL else check_whole_number(x, "threads", min = 1),
  hessian = function(x) check_choice(x, c("exact", "reference"), "hessian"),
  max_iter = function(x) check_whole_number(x, "max_iter", min = 1),
  tol = function(x) check_number(x, "tol", min = 0),
  nstart = function(x) if (is.null(x)) NULL else check_whole_number(x, "nstart", min = 1, max = most_starts),
  init = function(x) check_start_kind(x),
  accelerate = function(x) check_flag(x, "accelerate"),
  rel_tol = function(x) check_number(x, "rel_tol", min = 0),
  search = function(x) {
    check_search(x, "search")
    x
  }
)

check_fit_arg <- function(name, value) fit_arg_checks[[name]](value)

# Checks the dmn_fit() arguments in a list (from `...` of another entry point):
# names first (unknown or unnamed ones are refused, naming them), then values.
# `allowed` are the names the caller passes on; `where` names the functions.
check_fit_args <- function(args, allowed, where) {
  check_dots(args, allowed, where)
  for (name in intersect(names(args), names(fit_arg_checks))) {
    args[name] <- list(check_fit_arg(name, args[[name]]))
  }
  args
}

# One check per setting of dmn_search(), taking the value and the name to
# report; NULL is each optional setting's "default for the fit". dmn_search()
# checks with these, and resolve_search() again where the settings are used,
# so that an object edited after it was made is held to the same rules. A new
# setting is a new line here (and a new argument of dmn_search() and a new
# field that the C++ glue behind .fit_dmn() reads).
search_setting_checks <- list(
  screen_iter = function(x, arg) check_whole_number(x, arg, min = 1),
  n_continue = function(x, arg) if (is.null(x)) NULL else check_whole_number(x, arg, min = 1),
  split_merge = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  max_moves = function(x, arg) if (is.null(x)) NULL else check_whole_number(x, arg, min = 0),
  max_tries = function(x, arg) check_whole_number(x, arg, min = 1),
  subsample = function(x, arg) {
    if (is.null(x) || identical(x, Inf)) x else as.double(check_whole_number(x, arg, min = 100))
  },
  replicates = function(x, arg) if (is.null(x)) NULL else check_whole_number(x, arg, min = 1),
  max_starts = function(x, arg) {
    if (is.null(x)) NULL else check_whole_number(x, arg, min = 1, max = most_starts)
  },
  transfers = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  resplits = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  all_singles = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  kicks = function(x, arg) if (is.null(x)) NULL else check_whole_number(x, arg, min = 0),
  divisions = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  settle = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg),
  reuse_msteps = function(x, arg) if (is.null(x)) NULL else check_flag(x, arg)
)

# Checks every setting of `settings` (a named list holding each of
# search_setting_checks), naming a bad one as label(name).
check_search_settings <- function(settings, label) {
  out <- lapply(stats::setNames(nm = names(search_setting_checks)), function(name) {
    search_setting_checks[[name]](settings[[name]], label(name))
  })
  out
}

# An object of class dmn_search, as dmn_search() makes it or edited since:
# checked setting by setting, as search$<setting>.
check_search <- function(search, arg = "search") {
  if (!inherits(search, "dmn_search") || !is.list(search) || isS4(search)) {
    abort_input(arg, sprintf("must be made by dmn_search(), not %s", describe_value(search)),
                "fastdmm_bad_argument")
  }
  given <- names(search) %||% rep("", length(search))
  unknown <- setdiff(given, names(search_setting_checks))
  if (length(unknown) > 0L || anyDuplicated(given)) {
    abort_input(arg, sprintf(
      "has settings that dmn_search() does not make (%s); make it with dmn_search()",
      format_names(sprintf("'%s'", c(unknown, given[duplicated(given)])))),
      "fastdmm_bad_argument")
  }
  absent <- setdiff(c("screen_iter", "max_tries"), given)
  if (length(absent) > 0L) {
    abort_input(arg, sprintf("lacks the setting%s %s; make it with dmn_search()",
                             plural(length(absent)), format_names(sprintf("'%s'", absent))),
                "fastdmm_bad_argument")
  }
  check_search_settings(unclass(search), function(name) sprintf("%s$%s", arg, name))
}

# ---- optional packages --------------------------------------------------------

# Stops with class fastdmm_missing_package unless `package` can be loaded.
# `what` completes the sentence "'<arg>' <what>, but the ... package is not
# installed".
require_package <- function(package, arg, what) {
  if (!requireNamespace(package, quietly = TRUE)) {
    abort_input(arg, missing_package_problem(package, what), "fastdmm_missing_package")
  }
  invisible(TRUE)
}

missing_package_problem <- function(package, what) {
  sprintf("%s, but the %s package is not installed; install it with %s",
          what, package, install_hint(package))
}

install_hint <- function(package) {
  bioconductor <- c("phyloseq", "SummarizedExperiment", "S4Vectors", "SingleCellExperiment",
                    "TreeSummarizedExperiment", "mia", "DirichletMultinomial", "rhdf5",
                    "biomformat")
  if (package %in% bioconductor) {
    sprintf("BiocManager::install(\"%s\")", package)
  } else {
    sprintf("install.packages(\"%s\")", package)
  }
}
