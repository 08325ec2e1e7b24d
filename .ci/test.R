# Runs the test suite against the installed package and ends with the line
# "N passed, N failed, N skipped" (counting test_that() blocks); exits 1 on failure.
suppressPackageStartupMessages(library(testthat))
# Run the tests CRAN would skip (more threads than CRAN allows).
Sys.setenv(NOT_CRAN = "true")
results <- as.data.frame(testthat::test_dir(
  "tests/testthat", package = "fastdmm", load_package = "installed",
  reporter = ProgressReporter$new(show_praise = FALSE), stop_on_failure = FALSE
))
failed <- sum(results$failed > 0 | results$error)
skipped <- sum(results$skipped & !(results$failed > 0 | results$error))
passed <- nrow(results) - failed - skipped
cat(sprintf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1 else 0)
