# When should the replicated search stop? (DESIGN.md section 8.) The starts of a
# replicated search are independent: start s ends where it ends whatever the
# other starts did. So one long search per (table, k, seed), never stopped early
# (dmn_search(replicates = M, max_starts = M)), holds the outcome of every start
# any stopping rule would run, and each rule is replayed exactly on the sequence
# of the starts' NLEs, capped at the default budget of starts.
# Per (table, k): p, the share of all moved starts that end at the lowest NLE
# seen (within 1e-6 relative); the distinct optima they reach; n95, the starts
# that reach the best with 95% chance when each does so with chance p
# (log 0.05 / log(1 - p)); seconds per start.
# Per table and rule: the share of (k, seed) cases at the lowest NLE, and the
# mean starts and seconds per fit. Rules: the best optimum reached by r = 3 (the
# default), 4 or 5 starts; or by 3, with the Good-Turing estimate of the chance
# that a further start reaches an optimum not seen yet (optima reached once /
# starts) at most 0.2, 0.1 or 0.05.
# A check: the default fit of seed 1 is run as well, and its NLE and starts must
# be rule r3's replay (when its starts fit within M).
# Run from the package root: Rscript inst/bench/stopping.R [table ...] (default:
# the four tuned tables; names as in stability.R). FASTDMM_BENCH_STARTS (M,
# default 30), FASTDMM_BENCH_SEEDS (default 10), FASTDMM_BENCH_KS (default
# "2:7"), FASTDMM_BENCH_THREADS (default: dmn_fit()'s), FASTDMM_BENCH_OUT (an
# .rds file the starts are saved to), FASTDMM_BENCH_DIR (as for stability.R).
suppressPackageStartupMessages(library(fastdmm))
threads <- if (nzchar(Sys.getenv("FASTDMM_BENCH_THREADS"))) {
  as.integer(Sys.getenv("FASTDMM_BENCH_THREADS"))
}
long <- as.integer(Sys.getenv("FASTDMM_BENCH_STARTS", "30"))
n_seeds <- as.integer(Sys.getenv("FASTDMM_BENCH_SEEDS", "10"))
ks <- eval(parse(text = Sys.getenv("FASTDMM_BENCH_KS", "2:7")))
out_file <- Sys.getenv("FASTDMM_BENCH_OUT", "")
which <- commandArgs(TRUE)
if (length(which) == 0L) which <- c("twins", "soilrep", "gp", "mouse")
source("inst/bench/real-tables.R")  # bench_table()

same <- function(a, b) abs(a - b) <= 1e-6 * abs(b)

# Which optimum each start of `nle` reached: the index of the first start that
# reached it.
optimum_of <- function(nle) {
  first <- integer(length(nle))
  for (s in seq_along(nle)) {
    earlier <- which(same(nle[s], nle[seq_len(s)]))
    first[s] <- earlier[1]
  }
  first
}

# A rule says, after the starts so far, whether to stop.
replicated <- function(r, unseen = Inf) {
  function(nle, optimum) {
    at_best <- sum(same(nle, min(nle)))
    once <- sum(tabulate(optimum) == 1L)
    at_best >= r && once / length(nle) <= unseen
  }
}
rules <- list(r3 = replicated(3), r4 = replicated(4), r5 = replicated(5),
              "r3, f1/n <= 0.2" = replicated(3, 0.2), "r3, f1/n <= 0.1" = replicated(3, 0.1),
              "r3, f1/n <= 0.05" = replicated(3, 0.05))

# How many starts a rule runs on a seed's sequence, at most `budget`.
replay <- function(rule, nle, budget) {
  optimum <- optimum_of(nle)
  n <- min(budget, length(nle))
  for (s in seq_len(n)) if (rule(nle[seq_len(s)], optimum[seq_len(s)])) return(s)
  n
}

all_starts <- list()
for (name in which) {
  x <- bench_table(name)
  storage.mode(x) <- "double"
  cat(sprintf("== %s: %d samples x %d taxa, %d starts per seed ==\n", name, nrow(x),
              ncol(x), long))
  starts <- list()
  cases <- list()
  for (k in ks[ks <= nrow(x) / 4]) {
    default <- suppressWarnings(dmn_fit(x, k, seed = 1, threads = threads))
    budget <- default$search$max_starts
    for (seed in seq_len(n_seeds)) {
      t <- system.time(fit <- suppressWarnings(dmn_fit(
        x, k, seed = seed, threads = threads,
        search = dmn_search(replicates = long, max_starts = long))))
      starts[[length(starts) + 1L]] <- data.frame(
        table = name, k = k, seed = seed, start = fit$starts$start, NLE = fit$starts$moved_NLE,
        seconds = t[["elapsed"]] / nrow(fit$starts))
    }
    ran <- do.call(rbind, starts)
    ran <- ran[ran$k == k, ]
    lowest <- min(ran$NLE)
    p <- mean(same(ran$NLE, lowest))
    cat(sprintf(paste("k = %d: lowest %.3f, p = %.3f of %d starts, %d distinct optima, n95 = %s,",
                      "%.2f s per start, default budget %d"), k, lowest, p, nrow(ran),
                length(unique(optimum_of(sort(ran$NLE)))),
                if (p > 0 && p < 1) format(ceiling(log(0.05) / log(1 - p))) else "1",
                mean(ran$seconds), budget))
    one <- ran$NLE[ran$seed == 1]
    n <- replay(rules$r3, one, budget)
    if (default$search$starts_run <= long) {
      agree <- n == default$search$starts_run && same(min(one[seq_len(n)]),
                                                      goodnessOfFit(default)[["NLE"]])
      cat(if (agree) "; replay checked\n" else "; REPLAY DISAGREES WITH THE DEFAULT FIT\n")
    } else {
      cat("; replay not checked (the default ran more starts)\n")
    }
    for (seed in seq_len(n_seeds)) {
      nle <- ran$NLE[ran$seed == seed]
      seconds <- ran$seconds[ran$seed == seed][1]
      for (rule in names(rules)) {
        n <- replay(rules[[rule]], nle, budget)
        cases[[length(cases) + 1L]] <- data.frame(
          k = k, seed = seed, rule = rule, starts = n, seconds = n * seconds,
          at_best = same(min(nle[seq_len(n)]), lowest))
      }
    }
  }
  cases <- do.call(rbind, cases)
  for (rule in names(rules)) {
    r <- cases[cases$rule == rule, ]
    cat(sprintf("%s, %-16s: %3d of %3d cases at best (%5.1f%%), mean %5.1f starts, %6.2f s per fit\n",
                name, rule, sum(r$at_best), nrow(r), 100 * mean(r$at_best), mean(r$starts),
                mean(r$seconds)))
  }
  all_starts[[name]] <- do.call(rbind, starts)
  if (nzchar(out_file)) saveRDS(do.call(rbind, all_starts), out_file)
}
