# Two builds of fastdmm side by side on the same fits: each fit in a fresh R
# process (callr), the two builds alternating fit by fit (A then B, then B then
# A), so that the machine's drift from minute to minute falls on both. For each
# (k, seed): both times and whether the NLEs are the same to the bit; then the
# summed times and their ratio (B / A). Default arguments otherwise
# (`dmn_fit(x, k, seed = s)`, threads chosen by the table's work).
# Run from the package root with two library directories each holding an
# installed build:
#   Rscript inst/bench/builds.R <libA> <libB> <table> [ks] [seeds]
# <table> is a short name of real-tables.R's bench_table() (twins, gp, soilrep,
# mouse, bci, mite, lung); ks and seeds are R expressions (defaults "4:7" and
# "1:2").
args <- commandArgs(TRUE)
if (length(args) < 3L) {
  stop("usage: Rscript inst/bench/builds.R <libA> <libB> <table> [ks] [seeds]")
}
libs <- normalizePath(args[1:2], mustWork = TRUE)
ks <- eval(parse(text = if (length(args) >= 4L) args[4] else "4:7"))
seeds <- eval(parse(text = if (length(args) >= 5L) args[5] else "1:2"))
source("inst/bench/real-tables.R")  # bench_table()
table_file <- tempfile(fileext = ".rds")
saveRDS(bench_table(args[3]), table_file)

one_fit <- function(lib, k, seed) {
  callr::r(function(lib, file, k, seed) {
    library(fastdmm, lib.loc = lib)
    x <- readRDS(file)
    elapsed <- system.time(fit <- suppressWarnings(dmn_fit(x, k, seed = seed)))[["elapsed"]]
    c(elapsed, fit$goodnessOfFit[["NLE"]])
  }, list(lib, table_file, k, seed))
}

rows <- list()
flip <- FALSE
for (k in ks) for (seed in seeds) {
  result <- list()
  for (b in if (flip) 2:1 else 1:2) result[[b]] <- one_fit(libs[b], k, seed)
  flip <- !flip
  rows[[length(rows) + 1L]] <- data.frame(k = k, seed = seed, seconds_a = result[[1]][1],
                                          seconds_b = result[[2]][1],
                                          same_nle = result[[1]][2] == result[[2]][2])
}
rows <- do.call(rbind, rows)
print(rows, row.names = FALSE)
cat(sprintf("%s: A %.1f s, B %.1f s, B / A %.3f; the same NLE in %d of %d fits\n", args[3],
            sum(rows$seconds_a), sum(rows$seconds_b), sum(rows$seconds_b) / sum(rows$seconds_a),
            sum(rows$same_nle), nrow(rows)))
