# Threads chosen by work (issue 20): dmn_fit() with `threads` left at its
# default against threads = 1 and threads = 2, side by side in one process,
# k = 3, nstart = 10, mean of `FASTDMM_REPS` (5) fits each, interleaved.
# Part 1: real tables (Twins, GlobalPatterns at genus level, BCI, soilrep,
# mouseData; each where its package is installed). Part 2: simulated tables of
# growing size around the rule's threshold (65,536 non-zeros x components).
# Rscript inst/bench/default-threads.R
suppressPackageStartupMessages(library(fastdmm))
source("inst/bench/real-tables.R")
reps <- as.integer(Sys.getenv("FASTDMM_REPS", "5"))

time_fits <- function(x, k = 3, nstart = 10) {
  settings <- list(default = NULL, one = 1L, two = 2L)
  seconds <- matrix(NA_real_, reps, length(settings), dimnames = list(NULL, names(settings)))
  nle <- matrix(NA_real_, reps, length(settings))
  invisible(dmn_fit(x, k, seed = 1, nstart = nstart))  # warm-up
  for (r in seq_len(reps)) for (s in seq_along(settings)) {
    seconds[r, s] <- system.time(
      fit <- suppressWarnings(dmn_fit(x, k, seed = r, nstart = nstart, threads = settings[[s]]))
    )[["elapsed"]]
    nle[r, s] <- fit$goodness[["NLE"]]
  }
  means <- colMeans(seconds)
  data.frame(nnz = sum(x > 0), work = sum(x > 0) * k, default_threads = fit_threads(x, k),
             default_s = means[["default"]], one_s = means[["one"]], two_s = means[["two"]],
             default_vs_one = means[["default"]] / means[["one"]],
             two_vs_one = means[["two"]] / means[["one"]],
             identical_nle = all(nle == nle[, 1]))
}
fit_threads <- function(x, k) dmn_fit(x, k, seed = 1, max_iter = 1, nstart = 1)$threads

cat(sprintf("cores: %d, reps: %d\n\nReal tables (k = 3, nstart = 10):\n",
            RcppParallel::defaultNumThreads(), reps))
real <- do.call(rbind, lapply(names(real_tables()), function(name) {
  cbind(table = name, suppressWarnings(time_fits(real_tables()[[name]])))
}))
print(real, digits = 3, row.names = FALSE)

cat("\nSimulated tables (200 taxa, depth 5,000, k = 3, nstart = 10):\n")
set.seed(1)
alpha <- matrix(rgamma(200 * 3, 0.3), 200, 3)
simulated <- do.call(rbind, lapply(c(100, 250, 500, 1000, 2000, 4000), function(n) {
  x <- rdmm(n, alpha, depth = 5000, threads = 1)
  cbind(samples = n, suppressWarnings(time_fits(x)))
}))
print(simulated, digits = 3, row.names = FALSE)
