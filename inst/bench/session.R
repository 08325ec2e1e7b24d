# Issue-20 check, a long session: dmn_fit(x, 3, seed = s, nstart = 10) for seeds
# 1..20, repeated ROUNDS times (default 5, i.e. 100 fits) in one R process per
# thread count (1, then 2), on GlobalPatterns at genus level (26 x 996). Prints
# the time per fit and the resident memory after each round, then the ratio of
# the last round's time to the first's and the growth from fit 20 to the last.
# Rscript inst/bench/session.R   (GP_GENUS=path.rds reuses a cached table;
# tax_glom() takes minutes)
source("inst/bench/child.R")
args <- commandArgs(TRUE)
if (length(args) == 0) {
  for (threads in 1:2) run_child(threads)
  quit(save = "no")
}
suppressPackageStartupMessages(library(fastdmm))
threads <- as.integer(args[1])
rounds <- setting("ROUNDS", 5)
cache <- Sys.getenv("GP_GENUS", "/work/gp-genus.rds")
if (file.exists(cache)) {
  x <- readRDS(cache)
} else {
  suppressPackageStartupMessages(library(phyloseq))
  data(GlobalPatterns, package = "phyloseq", envir = environment())
  g <- tax_glom(GlobalPatterns, "Genus")
  x <- as(otu_table(g), "matrix")
  if (taxa_are_rows(g)) x <- t(x)
}
cat(sprintf("GlobalPatterns genus %d x %d, %d thread(s)\n", nrow(x), ncol(x), threads))
per_fit <- rss <- numeric(rounds)
for (r in seq_len(rounds)) {
  per_fit[r] <- system.time(for (s in 1:20) {
    dmn_fit(x, 3, seed = s, nstart = 10, threads = threads)
  })[["elapsed"]] / 20
  rss[r] <- vm_bytes("VmRSS") / 2^20
  cat(sprintf("  round %d (fits %3d-%3d): %.3f s per fit, resident %.0f MB\n",
              r, 20 * r - 19, 20 * r, per_fit[r], rss[r]))
}
cat(sprintf("  last round / first round: %.2fx time; memory +%.1f MB from fit 20 to fit %d\n",
            per_fit[rounds] / per_fit[1], rss[rounds] - rss[1], 20 * rounds))
