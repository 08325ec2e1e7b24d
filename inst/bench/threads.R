# Issue-3 check, whole dmn_fit() calls side by side: dense 20,000 x 300, k = 6,
# generated as bench.R's "Parallel" scenario with R seed 7; 1 vs 2 threads,
# median of 3 each, and whether the fits are identical; then the replicated
# search on real deep tables (below). Rscript inst/bench/threads.R
suppressPackageStartupMessages(library(fastdmm))
scenario <- list(n = 20000, taxa = 300, k = 6, sdlog = 1.8, precision = 30, seed = 7)
source("inst/bench/tables.R")
counts <- simulate_table(scenario)
cat(sprintf("%d x %d, storage %s, %.1f%% zeros\n", nrow(counts), ncol(counts),
            typeof(counts), 100 * mean(counts == 0)))
fit_once <- function(threads) {
  seconds <- system.time(fit <- suppressWarnings(dmn_fit(counts, 6, seed = 1, threads = threads, nstart = 1)))[["elapsed"]]
  list(seconds = seconds, fit = fit)
}
invisible(fit_once(1))  # warm-up
runs <- list(`1` = list(), `2` = list())
for (rep in 1:3) for (threads in c("1", "2")) runs[[threads]][[rep]] <- fit_once(as.integer(threads))
one <- vapply(runs[["1"]], `[[`, 0, "seconds"); two <- vapply(runs[["2"]], `[[`, 0, "seconds")
cat("1 thread :", sprintf("%.2f", one), " median", sprintf("%.2f s\n", median(one)))
cat("2 threads:", sprintf("%.2f", two), " median", sprintf("%.2f s\n", median(two)))
cat(sprintf("speed-up %.2fx (target >= 1.6x)\n", median(one) / median(two)))
strip <- function(fit) { fit$call <- NULL; fit$threads <- NULL; fit }
cat("identical fits:", identical(strip(runs[["1"]][[1]]$fit), strip(runs[["2"]][[1]]$fit)),
    "; EM iterations", runs[["1"]][[1]]$fit$em_iterations, "\n")
t_in <- function(threads) median(replicate(3, system.time(fastdmm:::as_counts(counts, threads = threads))[["elapsed"]]))
cat(sprintf("as_counts() alone: %.3f s on 1 thread, %.3f s on 2\n", t_in(1), t_in(2)))

# The replicated search (the default, nstart = NULL) on real deep tables: its
# starts run side by side, one thread each (DESIGN.md section 2, "Starts side
# by side"). dmn_fit(x, 4, seed = 1) on 1 and 2 threads, alternated, median of
# 3 each, and whether the fits are identical. Tables: FASTDMM_BENCH_TABLES
# (default "twins,gp,soilrep,mouse"; real-tables.R's names).
source("inst/bench/real-tables.R")  # bench_table()
tables <- strsplit(Sys.getenv("FASTDMM_BENCH_TABLES", "twins,gp,soilrep,mouse"), ",")[[1]]
for (name in tables) {
  x <- bench_table(name)
  fits <- list()
  seconds <- list(`1` = numeric(), `2` = numeric())
  for (rep in 1:3) for (threads in c("1", "2")) {
    seconds[[threads]][rep] <- system.time(
      fits[[threads]] <- suppressWarnings(dmn_fit(x, 4, seed = 1, threads = as.integer(threads)))
    )[["elapsed"]]
  }
  cat(sprintf("%-8s k = 4, %d starts: 1 thread %.2f s, 2 threads %.2f s, %.2fx; identical fits: %s\n",
              name, fits[["2"]]$search$starts_run, median(seconds[["1"]]), median(seconds[["2"]]),
              median(seconds[["1"]]) / median(seconds[["2"]]),
              identical(strip(fits[["1"]]), strip(fits[["2"]]))))
}
