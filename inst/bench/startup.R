# Start-up of a fit on the search issue's 100,000 x 1,000 table (frozen_table(),
# R seed 11, 7.2M non-zeros, k = 10; issues 14 and 21), and where its time goes.
# Run from the package root:
#   Rscript inst/bench/startup.R
#
# Start-up is what a fit costs besides its EM iterations: building the table from
# the dgCMatrix, then the time of a `max_iter = 2` fit less two EM iterations,
# where one iteration is (time of max_iter = 12 - time of max_iter = 2) / 10
# (nstart = 1, accelerate = FALSE, tol = 0, as scale.R's kernel line). Its parts:
#   table        as_counts() of the dgCMatrix
#   soft k-means the reference's start alone (.soft_kmeans(), the fit's seed)
#   first state  the rest of the max_iter = 2 fit less two iterations: the first
#                M-step from the start's centres and the first E-step, the final
#                Hessian and the R side
# and the same start-up for the default search (nstart = NULL, which on a table
# this large screens 10 starts, the reference's and 9 k-means++, on a subsample
# of 20,000 samples, moves the best and refines it on all samples): the time of
# its max_iter = 2 fit less two iterations, plus the table.
# Each of FASTDMM_STARTUP_REPS (3) rounds gives every figure from its own runs;
# the medians and the minima (each part's own) over rounds are printed, wall
# clock and CPU (user + system) of the process.
#
# Environment: FASTDMM_BENCH_THREADS (2); FASTDMM_BENCH_DIR where the table is
# kept between runs (a temporary directory by default); FASTDMM_STARTUP_REPS;
# FASTDMM_STARTUP_LIBS, library paths separated by ":" (default: the current
# .libPaths()) to compare builds side by side: every round runs each library
# once, in turn, each in a fresh R process, so a shared machine's load falls on
# all of them alike.
threads <- as.integer(Sys.getenv("FASTDMM_BENCH_THREADS", "2"))
reps <- as.integer(Sys.getenv("FASTDMM_STARTUP_REPS", "3"))
libs <- Sys.getenv("FASTDMM_STARTUP_LIBS", "")
libs <- if (nzchar(libs)) strsplit(libs, ":", fixed = TRUE)[[1]] else ""
dir <- Sys.getenv("FASTDMM_BENCH_DIR", tempfile("fastdmm-startup"))
dir.create(dir, showWarnings = FALSE, recursive = TRUE)
if (!requireNamespace("callr", quietly = TRUE)) stop("inst/bench/startup.R needs callr")
root <- normalizePath(".")

file <- file.path(dir, "frozen100k.rds")
if (!file.exists(file)) {
  source(file.path(root, "inst/bench/tables.R"), local = TRUE)
  d <- frozen_table(100000, 1000, 10, seed = 11)
  saveRDS(list(x = methods::as(Matrix::Matrix(d$x, sparse = TRUE), "CsparseMatrix"),
               truth = d$truth), file, compress = FALSE)
  rm(d)
}

# One round in a fresh process: every part once, as c(wall, cpu) seconds.
one_round <- function(file, threads, lib) {
  callr::r(function(file, threads) {
    suppressPackageStartupMessages({
      library(fastdmm)
      library(Matrix)  # as a session holding a dgCMatrix has it; not part of the fit
    })
    timed <- function(expr) {
      t <- system.time(expr)
      c(wall = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]])
    }
    d <- readRDS(file)
    # Warm up the fit's code paths on a small table.
    invisible(dmn_fit(matrix(c(5, 1, 2, 1, 6, 3, 2, 2, 7), 3), 1, seed = 1, threads = threads,
                      nstart = 1))
    table <- timed(data <- fastdmm:::as_counts(d$x, threads = threads))
    plain <- function(iterations) {
      timed(suppressWarnings(dmn_fit(data, 10, seed = 1, threads = threads, nstart = 1,
                                     max_iter = iterations, accelerate = FALSE, tol = 0)))
    }
    two <- plain(2)
    twelve <- plain(12)
    soft <- timed(s <- fastdmm:::.soft_kmeans(data, 10, 1L, threads))
    default <- timed(suppressWarnings(dmn_fit(data, 10, seed = 1, threads = threads,
                                              max_iter = 2)))
    list(table = table, two = two, twelve = twelve, soft = soft, default = default,
         soft_iterations = s$iterations, nnz = length(d$x@x),
         version = as.character(utils::packageVersion("fastdmm")),
         path = find.package("fastdmm"))
  }, list(file, threads), libpath = c(if (nzchar(lib)) lib, .libPaths()))
}

rounds <- lapply(seq_along(libs), function(l) list())
for (r in seq_len(reps)) {
  for (l in seq_along(libs)) rounds[[l]][[r]] <- one_round(file, threads, libs[l])
}

cat(sprintf("== start-up: 100,000 x 1,000 (frozen_table, R seed 11, %s non-zeros), k = 10, %d threads, %d runs ==\n",
            format(rounds[[1]][[1]]$nnz, big.mark = ","), threads, reps))
for (l in seq_along(libs)) {
  runs <- rounds[[l]]
  # Each round's figures from its own runs, then their medians (as the issues
  # state their limits) and minima (the rounds a shared machine's load disturbed
  # least).
  for (kind in c("wall", "cpu")) {
    parts <- vapply(runs, function(x) {
      iteration <- (x$twelve[[kind]] - x$two[[kind]]) / 10
      c(startup = x$table[[kind]] + x$two[[kind]] - 2 * iteration, table = x$table[[kind]],
        soft = x$soft[[kind]], first = x$two[[kind]] - 2 * iteration - x$soft[[kind]],
        iteration = iteration, default = x$table[[kind]] + x$default[[kind]] - 2 * iteration)
    }, numeric(6))
    for (summary in c("median", "min")) {
      p <- apply(parts, 1, get(summary))
      cat(sprintf(paste0(
        "%s %-6s %-4s: start-up %.2f s = table %.2f + soft k-means %.2f (%d iterations)",
        " + first state %.2f; one EM iteration %.3f s; default search's start-up %.2f s\n"),
        runs[[1]]$path, summary, kind, p[["startup"]], p[["table"]], p[["soft"]],
        runs[[1]]$soft_iterations, p[["first"]], p[["iteration"]], p[["default"]]))
    }
  }
  cat(sprintf("%s start-up of each round (wall): %s\n", runs[[1]]$path,
              paste(sprintf("%.2f", vapply(runs, function(x) x$table[["wall"]] + x$two[["wall"]] -
                                             (x$twelve[["wall"]] - x$two[["wall"]]) / 5, 0)),
                    collapse = " ")))
}
