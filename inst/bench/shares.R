# Why a seed misses the best optimum (DESIGN.md section 8, "What is left"): the
# replicated search stops once `replicates` starts reach the best optimum seen,
# so a seed misses when its first `replicates` starts all end at one other
# optimum, about (1 - p)^replicates for a share p of starts that reach the best.
# This runs one fit per (table, k, seed) with a wide budget (every start run to
# its end: replicates above the budget) and reports, per fit, the optima the
# starts ended at (within 1e-6 relative, as replication counts them), the share
# of starts at the lowest, and the misses that share predicts in ten seeds with
# the default three replicates.
# Run from the package root:
#   Rscript inst/bench/shares.R table k seed [starts]
# e.g. Rscript inst/bench/shares.R twins 6 5 12 (tables as stability.R names
# them: twins, soilrep, gp, mouse, bci, mite, lung; starts default 16).
# FASTDMM_BENCH_THREADS as in stability.R.
suppressPackageStartupMessages(library(fastdmm))
args <- commandArgs(TRUE)
if (length(args) < 3L) stop("usage: Rscript inst/bench/shares.R table k seed [starts]")
name <- args[1]
k <- as.integer(args[2])
seed <- as.integer(args[3])
starts <- if (length(args) >= 4L) as.integer(args[4]) else 16L
threads <- if (nzchar(Sys.getenv("FASTDMM_BENCH_THREADS"))) {
  as.integer(Sys.getenv("FASTDMM_BENCH_THREADS"))
}

source("inst/bench/real-tables.R")  # bench_table()
x <- bench_table(name)
storage.mode(x) <- "double"

t <- system.time(fit <- suppressWarnings(dmn_fit(
  x, k = k, seed = seed, threads = threads,
  search = dmn_search(replicates = starts + 1L, max_starts = starts))))
ends <- fit$starts$moved_NLE
# Optima as replication counts them: NLEs within 1e-6 relative of an optimum's
# lowest, taken from the lowest up.
optima <- numeric()
for (v in sort(ends)) {
  if (!length(optima) || abs(v - optima[length(optima)]) > 1e-6 * abs(v)) optima <- c(optima, v)
}
which_optimum <- vapply(ends, function(v) which(abs(v - optima) <= 1e-6 * abs(v))[1], 1L)
reached <- tabulate(which_optimum, length(optima))
p <- reached[1] / length(ends)
cat(sprintf("%s, k = %d, seed %d: %d starts in %.1f s\n", name, k, seed, length(ends),
            t[["elapsed"]]))
print(data.frame(NLE = sprintf("%.3f", optima), excess = round(optima - optima[1], 3),
                 starts = reached))
cat(sprintf(paste0("share at the lowest p = %.2f; with 3 replicates a seed misses about ",
                   "(1 - p)^3 = %.2f of the time (%.1f of 10 seeds)\n"),
            p, (1 - p)^3, 10 * (1 - p)^3))
