# The same answer for every seed (DESIGN.md section 8, issue "the same community
# types for every seed"): real deep tables, seeds 1..10, k = 2..7 (k <= samples
# / 4), three searches side by side in one R session per table:
#   one      nstart = 1: the reference's algorithm (a single soft k-means start)
#   ten      nstart = 10, dmn_search(transfers = FALSE): the search nstart = 10
#            ran before replication (em-EM screening, split-merge on the best)
#   default  the default: starts, each moved until no move improves it, until
#            the best optimum is reached by 3 of them (or the budget ends)
#   singles  the default with dmn_search(all_singles = TRUE): every single
#            transfer tried before a start ends (not run unless asked for)
#   nokicks  the default with dmn_search(kicks = 0): each start ends once no
#            move improves it (the default before kicks; not run unless asked for)
#   noreuse  the default with dmn_search(reuse_msteps = FALSE): every M-step
#            run at every EM iteration (the default before reused M-steps; not
#            run unless asked for)
#   nodivisions  the default with dmn_search(divisions = FALSE): starts end
#            without division moves (the default before them; not run unless
#            asked for)
#   nosettle  the default with dmn_search(settle = FALSE): the start that
#            completes the replication kicks on from the best optimum (the
#            default before settling; not run unless asked for)
# For each (table, k): how many seeds reach the lowest NLE any run reached
# (within 1e-6 relative, as "at best"), the median excess over it in NLE units,
# and the mean time per fit. Then per table: the share of (k, seed) cases at
# best and the mean time per fit of each search.
# Tables tuned on: twins (DirichletMultinomial), soilrep (phyloseq), gp
# (phyloseq GlobalPatterns at genus level, tax_glom(, "Genus"), all-zero taxa
# dropped), mouse (metagenomeSeq mouseData). Not tuned on: bci (vegan BCI, trees
# per hectare), mite (vegan), lung (metagenomeSeq lungData).
# Run from the package root: Rscript inst/bench/stability.R [table ...]
# (default: the four tuned tables). FASTDMM_BENCH_THREADS (default: dmn_fit()'s, chosen by the table's
# work), FASTDMM_BENCH_SEEDS (default 10),
# FASTDMM_BENCH_KS (default "2:7"), FASTDMM_BENCH_SEARCHES (default
# "one,ten,default"), FASTDMM_BENCH_OUT (an .rds file the per-fit results are
# saved to, default none), FASTDMM_BENCH_DIR (where real-tables.R caches
# GlobalPatterns at genus level; its tax_glom() takes about a minute).
suppressPackageStartupMessages(library(fastdmm))
# Default arguments: threads NULL (chosen by the table's work) unless set.
threads <- if (nzchar(Sys.getenv("FASTDMM_BENCH_THREADS"))) {
  as.integer(Sys.getenv("FASTDMM_BENCH_THREADS"))
}
n_seeds <- as.integer(Sys.getenv("FASTDMM_BENCH_SEEDS", "10"))
ks <- eval(parse(text = Sys.getenv("FASTDMM_BENCH_KS", "2:7")))
searches <- strsplit(Sys.getenv("FASTDMM_BENCH_SEARCHES", "one,ten,default"), ",")[[1]]
out_file <- Sys.getenv("FASTDMM_BENCH_OUT", "")
which <- commandArgs(TRUE)
if (length(which) == 0L) which <- c("twins", "soilrep", "gp", "mouse")

source("inst/bench/real-tables.R")  # bench_table()

search_args <- list(
  one = list(nstart = 1),
  ten = list(nstart = 10, search = dmn_search(transfers = FALSE)),
  default = list(),
  singles = list(search = dmn_search(all_singles = TRUE)),
  nokicks = list(search = dmn_search(kicks = 0)),
  noreuse = list(search = dmn_search(reuse_msteps = FALSE)),
  nodivisions = list(search = dmn_search(divisions = FALSE)),
  nosettle = list(search = dmn_search(settle = FALSE))
)

fit_once <- function(x, k, seed, search) {
  warned <- character()
  t <- system.time(fit <- withCallingHandlers(
    do.call(dmn_fit, c(list(x, k = k, seed = seed, threads = threads), search_args[[search]])),
    warning = function(w) {
      warned <<- c(warned, class(w)[1])
      invokeRestart("muffleWarning")
    }))
  data.frame(k = k, seed = seed, search = search, NLE = goodnessOfFit(fit)[["NLE"]],
             seconds = t[["elapsed"]], starts = NROW(fit$starts),
             not_replicated = "fastdmm_not_replicated" %in% warned)
}

all_rows <- list()
for (name in which) {
  x <- bench_table(name)
  storage.mode(x) <- "double"
  cat(sprintf("== %s: %d samples x %d taxa ==\n", name, nrow(x), ncol(x)))
  rows <- list()
  for (k in ks[ks <= nrow(x) / 4]) {
    for (search in searches) {
      for (seed in seq_len(n_seeds)) rows[[length(rows) + 1L]] <- fit_once(x, k, seed, search)
    }
  }
  rows <- do.call(rbind, rows)
  rows$table <- name
  best <- tapply(rows$NLE, rows$k, min)
  rows$excess <- rows$NLE - best[as.character(rows$k)]
  rows$at_best <- rows$NLE <= best[as.character(rows$k)] * (1 + 1e-6)
  cat(sprintf("%3s %12s | %s\n", "k", "lowest NLE", paste(sprintf(
    "%-7s at best, median excess, s/fit", searches), collapse = " | ")))
  for (k in sort(unique(rows$k))) {
    cells <- vapply(searches, function(search) {
      r <- rows[rows$k == k & rows$search == search, ]
      sprintf("%-7s %2d/%-2d %12.3f %7.2f", search, sum(r$at_best), nrow(r),
              stats::median(r$excess), mean(r$seconds))
    }, character(1))
    cat(sprintf("%3d %12.3f | %s\n", k, best[[as.character(k)]], paste(cells, collapse = " | ")))
  }
  for (search in searches) {
    r <- rows[rows$search == search, ]
    cat(sprintf("%s, %-7s: %3d of %3d cases at best (%5.1f%%), mean %.2f s per fit%s\n", name,
                search, sum(r$at_best), nrow(r), 100 * mean(r$at_best), mean(r$seconds),
                if (search == "default") sprintf(", %d not replicated", sum(r$not_replicated))
                else ""))
  }
  all_rows[[name]] <- rows
  if (nzchar(out_file)) saveRDS(do.call(rbind, all_rows), out_file)
}
