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
