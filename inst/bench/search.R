# Benchmarks of the search for the best optimum (DESIGN.md section 5), each in
# this one R process, side by side:
#   frozen    20,000 x 1,000, 10 distinct types, 5,000 reads per sample (issue
#             "the best optimum, converged"): one start against nstart = 10, and
#             the fit from the true labels; ARI against the truth.
#   parallel  the bench's "Parallel" table (20,000 x 300, k = 6): plain EM
#             against accelerate = TRUE, both max_iter = 5000.
#   huge      the bench's "Huge" table (100,000 x 1,000, k = 10) with the
#             default settings and max_iter = 5000.
#   shuffle   init = "kmeans++" on Twins, k = 3 and 6, nstart 1 and 4: the same
#             partition and NLE for shuffled samples.
#   unseen    tables the defaults were not tuned on: frozen-type tables of other
#             sizes and k, one start against nstart = 10.
# Run: Rscript inst/bench/search.R [frozen parallel huge shuffle unseen]
# (FASTDMM_BENCH_THREADS, default 2).
suppressPackageStartupMessages(library(fastdmm))
threads <- as.integer(Sys.getenv("FASTDMM_BENCH_THREADS", "2"))
which <- commandArgs(TRUE)
if (length(which) == 0L) which <- c("frozen", "parallel", "huge", "shuffle", "unseen")

ari <- function(a, b) {
  tab <- table(a, b)
  pairs <- sum(choose(tab, 2))
  rows <- sum(choose(rowSums(tab), 2))
  cols <- sum(choose(colSums(tab), 2))
  expected <- rows * cols / choose(sum(tab), 2)
  (pairs - expected) / ((rows + cols) / 2 - expected)
}
nle <- function(fit) goodnessOfFit(fit)[["NLE"]]
timed <- function(expr) {
  t <- system.time(value <- withCallingHandlers(expr, warning = function(w) {
    message("  warning: ", conditionMessage(w))
    invokeRestart("muffleWarning")
  }))
  list(value = value, seconds = t[["elapsed"]])
}

source("inst/bench/tables.R")  # simulate_table(), frozen_table()

bench_table <- function(n, taxa, k, sdlog, precision, seed) {
  simulate_table(list(n = n, taxa = taxa, k = k, sdlog = sdlog, precision = precision,
                      seed = seed))
}

compare_starts <- function(label, d, k) {
  one <- timed(dmn_fit(d$x, k, seed = 1, nstart = 1, threads = threads))
  ten <- timed(dmn_fit(d$x, k, seed = 1, nstart = 10, threads = threads))
  truth <- timed(dmn_fit(d$x, k, seed = 1, init = d$truth, threads = threads))
  cat(sprintf("%-28s one start: ARI %.3f, %6.1f s | nstart = 10: ARI %.3f, %6.1f s, moves kept %d | truth start: NLE %.4f; nstart = 10 NLE - truth NLE = %.3g (relative %.2g)\n",
              label, ari(mixture(one$value, assign = TRUE), d$truth), one$seconds,
              ari(mixture(ten$value, assign = TRUE), d$truth), ten$seconds,
              sum(ten$value$moves$accepted), nle(truth$value),
              nle(ten$value) - nle(truth$value),
              (nle(ten$value) - nle(truth$value)) / abs(nle(truth$value))))
}

if ("frozen" %in% which) {
  cat("== frozen: 20,000 x 1,000, k = 10 ==\n")
  compare_starts("frozen 20000 x 1000, k = 10", frozen_table(20000, 1000, 10), 10)
}

if ("parallel" %in% which) {
  cat("== parallel: 20,000 x 300, k = 6, max_iter = 5000 ==\n")
  x <- bench_table(20000, 300, 6, sdlog = 1.8, precision = 30, seed = 107)
  plain <- timed(dmn_fit(x, 6, seed = 1, nstart = 1, threads = threads, max_iter = 5000, accelerate = FALSE))
  fast <- timed(dmn_fit(x, 6, seed = 1, nstart = 1, threads = threads, max_iter = 5000, accelerate = TRUE))
  cat(sprintf("plain EM: %d iterations, converged %s, %.1f s, NLE %.6f\n",
              plain$value$em_iterations, plain$value$converged, plain$seconds, nle(plain$value)))
  cat(sprintf("SQUAREM:  %d iterations, converged %s, %.1f s, NLE %.6f\n",
              fast$value$em_iterations, fast$value$converged, fast$seconds, nle(fast$value)))
  cat(sprintf("time ratio %.3f; NLE difference (accelerated - plain) relative %.3g\n",
              fast$seconds / plain$seconds,
              (nle(fast$value) - nle(plain$value)) / abs(nle(plain$value))))
}

if ("huge" %in% which) {
  cat("== huge: 100,000 x 1,000, k = 10, default tol/rel_tol, max_iter = 5000 ==\n")
  x <- bench_table(100000, 1000, 10, sdlog = 1.2, precision = 50, seed = 106)
  # The defaults (accelerate = TRUE, tol = 1e-6, rel_tol = 1e-12).
  fit <- timed(dmn_fit(x, 10, seed = 1, threads = threads, max_iter = 5000))
  trace <- fit$value$nle_trace
  cat(sprintf("defaults: converged %s after %d iterations, %.1f s, NLE %.4f, last change %.3g, floor %.3g\n",
              fit$value$converged, fit$value$em_iterations, fit$seconds,
              nle(fit$value), abs(diff(utils::tail(trace, 2))), 1e-12 * abs(nle(fit$value))))
}

if ("shuffle" %in% which) {
  cat("== shuffle: Twins, init = \"kmeans++\" ==\n")
  file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
  if (!nzchar(file)) {
    cat("DirichletMultinomial is not installed: skipped\n")
  } else {
    twins <- t(as.matrix(utils::read.csv(file, row.names = 1)))
    for (k in c(3, 6)) for (nstart in c(1, 4)) for (shuffle_seed in 1:3) {
      set.seed(shuffle_seed)
      o <- sample(nrow(twins))
      a <- dmn_fit(twins, k, seed = 1, init = "kmeans++", nstart = nstart, threads = threads)
      b <- dmn_fit(twins[o, ], k, seed = 1, init = "kmeans++", nstart = nstart,
                   threads = threads)
      same <- ari(mixture(a, assign = TRUE)[o], mixture(b, assign = TRUE)) == 1
      cat(sprintf("k = %d, nstart = %d, shuffle %d: same partition %s, NLE relative difference %.2g\n",
                  k, nstart, shuffle_seed, same, abs(nle(a) - nle(b)) / abs(nle(a))))
    }
  }
}

if ("unseen" %in% which) {
  cat("== unseen tables ==\n")
  compare_starts("5000 x 500, k = 8", frozen_table(5000, 500, 8, boosted = 20, seed = 21), 8)
  compare_starts("10000 x 2000, k = 15", frozen_table(10000, 2000, 15, boosted = 30, depth = 3000, seed = 22), 15)
  compare_starts("3000 x 300, k = 5", frozen_table(3000, 300, 5, boosted = 10, depth = 10000, seed = 23), 5)
}
