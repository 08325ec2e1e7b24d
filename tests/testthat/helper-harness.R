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
# "pressed message" when R's own periodic check (every thousand or so
# evaluations, counted over the whole session) caught it before control went
# back to the fit, in the rest of the message() call whose line pressed
# Ctrl-C (the handler, or the muffleMessage restart unwinding after it);
# which of the two happens depends on that count, not on the fit). Skipped on
# Windows, where pskill() ends the process whatever the signal.
interrupt_at_message <- function(code, at, after = NULL) {
  skip_on_os("windows")
  messages <- character()
  pressed <- FALSE
  armed <- is.null(after)
  signalled_in <- NA_character_
  pressed_line <- NULL
  outcome <- tryCatch(withCallingHandlers({
    code
    "finished"
  }, message = function(m) {
    line <- sub("\n$", "", conditionMessage(m))
    messages <<- c(messages, line)
    if (!pressed && armed && grepl(at, line)) {
      pressed <<- TRUE
      pressed_line <<- line
      tools::pskill(Sys.getpid(), tools::SIGINT)
    }
    if (!armed && grepl(after, line)) armed <<- TRUE
    invokeRestart("muffleMessage")
  }, interrupt = function(condition) {
    # The function whose frame is innermost as the interrupt is signalled
    # (.Call() has no frame of its own): the fit's .Call wrapper when the
    # core's check saw it, unless a message() call on the stack is the one
    # whose line pressed Ctrl-C.
    calls <- sys.calls()
    signalled_in <<- if (within_message(pressed_line)) "pressed message" else
      paste(deparse(calls[[length(calls) - 1L]][[1L]]), collapse = "")
  }), interrupt = function(condition) "interrupted",
  error = function(condition) conditionMessage(condition))
  list(outcome = outcome, messages = messages, signalled_in = signalled_in)
}

# Is a call of message() with `line` (its line without the newline) on the
# stack of the caller?
within_message <- function(line) {
  if (is.null(line)) return(FALSE)
  for (i in seq_len(sys.nframe() - 1L)) {
    if (!identical(sys.function(i), base::message)) next
    args <- evalq(list(...), sys.frame(i))
    if (length(args) == 1L && identical(sub("\n$", "", args[[1L]]), line)) return(TRUE)
  }
  FALSE
}
