# Long sessions (issue 20): many fits in one R process must take as long at the
# end as at the start, and the process must not grow.
# - fits: dmn_fit(x, 3, seed = s, nstart = 10, threads = t) for seeds 1..20,
#   repeated ROUNDS times (default 5: 100 fits), in a fresh process per table
#   (GlobalPatterns at genus level, soilrep) and thread count (1, 2);
# - bootstrap: bluster::bootstrapStability() with FastDmmParam(k = 3) on
#   GlobalPatterns at genus level, 20 refits ROUNDS times (threads at default).
# Prints time per fit and resident memory after each round, the last round's
# time against the first's and the growth from fit 20 to the last.
# Rscript inst/bench/session.R [fits|bootstrap]   (FASTDMM_BENCH_DIR caches
# GlobalPatterns' tax_glom(), which takes a while)
source("inst/bench/child.R")
source("inst/bench/real-tables.R")
args <- commandArgs(TRUE)
if (length(args) <= 1) {
  modes <- if (length(args) == 1) args else c("fits", "bootstrap")
  if ("fits" %in% modes) {
    for (table in c("GlobalPatterns genus", "soilrep")) for (threads in 1:2) {
      run_child("fits", shQuote(table), threads)
    }
  }
  if ("bootstrap" %in% modes) run_child("bootstrap", shQuote("GlobalPatterns genus"), 0)
  quit(save = "no")
}
suppressPackageStartupMessages(library(fastdmm))
mode <- args[1]
table <- args[2]
threads <- as.integer(args[3])
rounds <- setting("ROUNDS", 5)
x <- real_tables()[[table]]
if (mode == "fits") {
  cat(sprintf("%s %d x %d, %d thread(s), dmn_fit(k = 3, nstart = 10)\n", table, nrow(x),
              ncol(x), threads))
  one_round <- function(r) {
    for (s in 1:20) dmn_fit(x, 3, seed = s, nstart = 10, threads = threads)
  }
} else {
  suppressPackageStartupMessages(library(bluster))
  cat(sprintf("%s %d x %d, bootstrapStability(FastDmmParam(k = 3)), threads at default\n",
              table, nrow(x), ncol(x)))
  param <- FastDmmParam(k = 3, seed = 1)
  one_round <- function(r) {
    set.seed(r)
    bootstrapStability(x, FUN = function(y) clusterRows(y, param), clusters =
                         clusterRows(x, param), iterations = 20)
  }
}
per_fit <- rss <- numeric(rounds)
for (r in seq_len(rounds)) {
  per_fit[r] <- system.time(one_round(r))[["elapsed"]] / 20
  rss[r] <- vm_bytes("VmRSS") / 2^20
  cat(sprintf("  round %d (%s %3d-%3d): %.3f s each, resident %.0f MB\n", r,
              if (mode == "fits") "fits" else "refits", 20 * r - 19, 20 * r, per_fit[r], rss[r]))
}
cat(sprintf("  last round / first round: %.2fx time; memory %+.1f MB from 20 to %d\n",
            per_fit[rounds] / per_fit[1], rss[rounds] - rss[1], 20 * rounds))
