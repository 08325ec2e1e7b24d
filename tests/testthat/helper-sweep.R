# The harness of the argument sweep (test-arguments.R): cases are expressions
# run in child R processes (callr), so that a case that crashes R fails the
# sweep instead of killing the test run, and every outcome is judged by the
# same rules: a value (checked by the case's predicate), or a classed fastdmm
# error whose message names the argument. Warnings must be fastdmm's own.

# One case: `expr` is evaluated in an environment holding the fixtures of the
# sweep's `setup`; `expect` is what it must end in:
# * "value": a value, for which `check` (an expression of `.value`, or NULL)
#   is TRUE;
# * "error": an error of class fastdmm_input_error whose message starts with
#   'arg';
# * "either": one of the two (for values at the edge of what makes sense);
# * "internal": any error whose message matches the regular expression `arg`
#   (the C++ glue's own checks, reached only through `:::`).
sweep_case <- function(id, expr, expect = c("value", "error", "either", "internal"),
                       arg = NULL, check = NULL) {
  expect <- match.arg(expect)
  stopifnot(is.character(id), length(id) == 1L, expect == "value" || is.character(arg))
  list(id = id, expr = expr, expect = expect, arg = arg, check = check)
}

# Substitutes `value` for `.v` in the call `template`.
with_value <- function(template, value) {
  do.call(substitute, list(template, list(.v = value)))
}

# Runs `cases` in child processes, `batch_size` cases per process, after
# evaluating `setup` (an expression) there. Returns one record per case:
# id, outcome ("value", "error", "crash" or "timeout"), the classes and
# message of the error, the classes and messages of warnings, and the
# predicate's verdict.
run_sweep <- function(cases, setup, batch_size = 200, timeout = 600) {
  results <- vector("list", length(cases))
  names(results) <- vapply(cases, `[[`, character(1), "id")
  remaining <- seq_along(cases)
  while (length(remaining) > 0L) {
    batch <- utils::head(remaining, batch_size)
    log <- tempfile("sweep-", fileext = ".bin")
    outcome <- tryCatch(
      callr::r(sweep_child, list(cases = cases[batch], setup = setup, log = log),
               timeout = timeout, libpath = .libPaths()),
      error = function(e) e
    )
    records <- read_sweep_log(log)
    unlink(log)
    done <- 0L
    for (record in records) {
      if (!is.null(record$outcome)) {
        results[[record$id]] <- record
        done <- done + 1L
      }
    }
    if (inherits(outcome, "error")) {
      # The case the child was running when it died (or timed out).
      started <- Filter(function(record) is.null(record$outcome), records)
      last <- if (length(started) > 0L) started[[length(started)]]$id else cases[[batch[1L]]]$id
      kind <- if (inherits(outcome, "callr_timeout_error")) "timeout" else "crash"
      results[[last]] <- list(id = last, outcome = kind,
                              message = conditionMessage(outcome), warnings = list())
      position <- match(last, names(results))
      remaining <- remaining[remaining > position]
    } else {
      remaining <- setdiff(remaining, batch)
    }
  }
  results
}

# The child's side: sets up the fixtures, then runs each case, writing a
# "started" record before it and its outcome after it to `log`, so that the
# parent knows which case was running if the process dies.
sweep_child <- function(cases, setup, log) {
  fixtures <- new.env(parent = globalenv())
  eval(setup, fixtures)
  connection <- file(log, "ab")
  on.exit(close(connection))
  write_record <- function(record) {
    serialize(record, connection)
    flush(connection)
  }
  for (case in cases) {
    write_record(list(id = case$id))
    warnings <- list()
    value <- NULL
    error <- NULL
    withCallingHandlers(
      tryCatch(value <- eval(case$expr, new.env(parent = fixtures)),
               error = function(e) error <<- e),
      warning = function(w) {
        warnings[[length(warnings) + 1L]] <<- list(class = class(w),
                                                    message = conditionMessage(w))
        invokeRestart("muffleWarning")
      },
      message = function(m) invokeRestart("muffleMessage")
    )
    check <- NA
    if (is.null(error) && !is.null(case$check)) {
      check <- tryCatch(isTRUE(eval(case$check, list(.value = value), fixtures)),
                        error = function(e) FALSE)
    }
    write_record(list(
      id = case$id,
      outcome = if (is.null(error)) "value" else "error",
      class = if (is.null(error)) NULL else class(error),
      message = if (is.null(error)) NULL else conditionMessage(error),
      warnings = warnings,
      check = check
    ))
  }
  invisible(NULL)
}

read_sweep_log <- function(log) {
  if (!file.exists(log)) return(list())
  connection <- file(log, "rb")
  on.exit(close(connection))
  records <- list()
  repeat {
    record <- tryCatch(unserialize(connection), error = function(e) NULL)
    if (is.null(record)) break
    records[[length(records) + 1L]] <- record
  }
  records
}

# Messages of R itself (or of Rcpp, or of S4 validity) that must never reach a
# user through a fastdmm entry point.
foreign_messages <- c(
  "should be one of", "NAs introduced by coercion", "unused argument",
  "negative length vectors", "Expecting a single value", "invalid class",
  "no applicable method", "subscript out of bounds", "argument of length 0",
  "missing value where TRUE/FALSE needed", "non-numeric argument",
  "attempt to select less than one element", "invalid 'length.out'",
  "NA in probability vector", "is not a valid", "cannot coerce"
)

# Why a case's result breaks the rules ("" when it does not).
judge_case <- function(case, result) {
  if (is.null(result)) return("no result recorded")
  if (result$outcome %in% c("crash", "timeout")) {
    return(sprintf("%s (%s)", toupper(result$outcome), result$message))
  }
  problems <- character()
  for (w in result$warnings) {
    if (!any(startsWith(w$class, "fastdmm_"))) {
      problems <- c(problems, sprintf("a warning that is not fastdmm's: %s", w$message))
    } else if (any(vapply(foreign_messages, grepl, logical(1), x = w$message, fixed = TRUE))) {
      problems <- c(problems, sprintf("a warning with R's own words: %s", w$message))
    }
  }
  if (result$outcome == "value") {
    if (case$expect %in% c("error", "internal")) {
      problems <- c(problems, "returned a value where an error was due")
    } else if (!is.null(case$check) && !isTRUE(result$check)) {
      problems <- c(problems, "returned a value that fails the case's check")
    }
  } else if (case$expect == "internal") {
    if (!grepl(case$arg, result$message)) {
      problems <- c(problems, sprintf("an error not matching '%s': %s", case$arg, result$message))
    }
  } else if (case$expect == "value") {
    problems <- c(problems, sprintf("an error where a value was due: [%s] %s",
                                    result$class[1L], result$message))
  } else {
    if (!"fastdmm_input_error" %in% result$class) {
      problems <- c(problems, sprintf("an error that is not fastdmm's: [%s] %s",
                                      result$class[1L], result$message))
    } else if (!startsWith(result$message, sprintf("'%s' ", case$arg))) {
      problems <- c(problems, sprintf("an error not naming '%s': %s", case$arg, result$message))
    }
    if (any(vapply(foreign_messages, grepl, logical(1), x = result$message, fixed = TRUE))) {
      problems <- c(problems, sprintf("an error with R's own words: %s", result$message))
    }
  }
  paste(problems, collapse = "; ")
}

# Runs the cases and fails the calling test with one line per broken case.
expect_sweep <- function(cases, setup, batch_size = 200) {
  ids <- vapply(cases, `[[`, character(1), "id")
  stopifnot(!anyDuplicated(ids))
  results <- run_sweep(cases, setup, batch_size = batch_size)
  verdicts <- vapply(seq_along(cases), function(i) judge_case(cases[[i]], results[[i]]),
                     character(1))
  broken <- which(nzchar(verdicts))
  expect(length(broken) == 0L, sprintf(
    "%d of %d cases broke the rules:\n%s", length(broken), length(cases),
    paste(sprintf("  %s: %s", ids[broken], verdicts[broken]), collapse = "\n")))
  invisible(list(results = results, verdicts = verdicts))
}
