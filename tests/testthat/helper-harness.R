# Running the code under test: muffling the not-converged warning, capturing
# messages, a graphics device to draw on, and a fit compared without its call.

# Evaluates a fit that may stop at max_iter before meeting tol (tests of
# determinism do not need convergence), muffling only that warning.
allow_unconverged <- function(expr) {
  withCallingHandlers(expr, fastdmm_not_converged = function(w) invokeRestart("muffleWarning"))
}

# Captures the messages of `code` as a character vector (without trailing
# newlines) and returns list(value, messages).
capture_messages <- function(code) {
  messages <- character()
  value <- withCallingHandlers(code, message = function(m) {
    messages <<- c(messages, sub("\n$", "", conditionMessage(m)))
    invokeRestart("muffleMessage")
  })
  list(value = value, messages = messages)
}

# Opens a file graphics device for the rest of the calling test, then closes it
# and deletes the file.
local_file_device <- function(ext = ".png", envir = parent.frame()) {
  file <- tempfile(fileext = ext)
  if (identical(ext, ".pdf")) grDevices::pdf(file) else grDevices::png(file)
  withr::defer({
    grDevices::dev.off()
    unlink(file)
  }, envir = envir)
  invisible(file)
}

# A fit without the call (which records how it was made, not what was fitted).
without_call <- function(fit) {
  fit$call <- NULL
  fit
}

# Evaluates `code`, a fit with verbose = TRUE, and presses Ctrl-C (SIGINT to
# this process) once, when the fit reports a message matching `at` (the first
# after one matching `after`, when that is given). The interrupt is then
# pending, and the next check for interrupts (the core's, or R's in code the
# fit calls back) stops the fit: where it stops is set by the fit's messages,
# not by a clock. Returns list(outcome = "interrupted", "finished" or an
# error's message, messages = every message up to the stop, signalled_in =
# where the interrupt was signalled: the innermost function's name, or
# "pressing handler" when R's own periodic check (every thousand or so
# evaluations, counted over the whole session) caught it in the rest of the
# handler that pressed Ctrl-C, before control went back to the fit; which of
# the two happens depends on that count, not on the fit). Skipped on Windows,
# where pskill() ends the process whatever the signal.
interrupt_at_message <- function(code, at, after = NULL) {
  skip_on_os("windows")
  messages <- character()
  pressed <- FALSE
  armed <- is.null(after)
  signalled_in <- NA_character_
  pressing <- FALSE
  outcome <- tryCatch(withCallingHandlers({
    code
    "finished"
  }, message = function(m) {
    line <- sub("\n$", "", conditionMessage(m))
    messages <<- c(messages, line)
    if (!pressed && armed && grepl(at, line)) {
      pressed <<- TRUE
      pressing <<- TRUE
      on.exit(pressing <<- FALSE)
      tools::pskill(Sys.getpid(), tools::SIGINT)
    }
    if (!armed && grepl(after, line)) armed <<- TRUE
    invokeRestart("muffleMessage")
  }, interrupt = function(condition) {
    # The function whose frame is innermost as the interrupt is signalled
    # (.Call() has no frame of its own): the fit's .Call wrapper when the
    # core's check saw it, an R function the core called back otherwise.
    calls <- sys.calls()
    signalled_in <<- if (pressing) "pressing handler" else
      paste(deparse(calls[[length(calls) - 1L]][[1L]]), collapse = "")
  }), interrupt = function(condition) "interrupted",
  error = function(condition) conditionMessage(condition))
  list(outcome = outcome, messages = messages, signalled_in = signalled_in)
}
