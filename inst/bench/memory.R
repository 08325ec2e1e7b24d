# Peak memory and time of one whole dmn_fit() call on a large table (issues 10
# and 21): 100,000 samples x 1,000 taxa with 17 million non-zeros, k = 10,
# max_iter = 3, 2 threads, once from a dgCMatrix and once from the same table as
# a dense integer matrix. Not a test: it prints the figures and whether they meet
#   growth of peak memory <= 12 bytes per non-zero + 64 MB (issue 21; the
#     dgCMatrix itself holds 12 bytes per non-zero)
#   dense time <= 1.15 x sparse time + 0.5 s (median of three calls each)
#
# The table is simulated in one child R process and saved as .rds; each fit runs
# in a fresh child that loads the table and fastdmm, warms up, writes "5" to
# /proc/self/clear_refs (which resets the peak, VmHWM, to the current resident
# size) and reads VmHWM after the call. Linux only.
#
#   Rscript inst/bench/memory.R
#
# Environment: FASTDMM_MEMORY_N (samples, 100000), FASTDMM_MEMORY_TAXA (1000),
# FASTDMM_MEMORY_NNZ (non-zeros per sample, 170), FASTDMM_MEMORY_K (10),
# FASTDMM_MEMORY_THREADS (2), FASTDMM_MEMORY_DIR (where the .rds files go; a
# temporary directory by default, deleted at the end).

# This script's directory: its helpers (child.R) and tables (tables.R) are there.
bench_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(bench_dir, "child.R"))
source(file.path(bench_dir, "tables.R"))

# tables.R's DMM-like table, saved as a dgCMatrix and as a dense integer matrix.
generate <- function(out_dir, n, n_taxa, nnz_per_sample) {
  entries <- dmm_like_entries(n, n_taxa, nnz_per_sample)
  taxa <- entries$taxa
  values <- entries$values
  rm(entries)
  sparse <- Matrix::sparseMatrix(i = rep(seq_len(n), each = nnz_per_sample), j = taxa,
                                 x = values, dims = c(n, n_taxa))
  rm(taxa, values)
  saveRDS(sparse, file.path(out_dir, "sparse.rds"), compress = FALSE)
  dense <- as.matrix(sparse)
  rm(sparse)
  storage.mode(dense) <- "integer"
  saveRDS(dense, file.path(out_dir, "dense.rds"), compress = FALSE)
}

# One measured fit; writes its figures to `result_file`.
measure <- function(data_file, result_file, k, threads) {
  counts <- readRDS(data_file)
  suppressPackageStartupMessages(library(fastdmm))
  # Warm up: load the package's code, Matrix and the thread pool outside the
  # measured call.
  invisible(dmn_fit(matrix(c(5, 1, 2, 1, 6, 3, 2, 2, 7), 3), 1, seed = 1, threads = threads, nstart = 1))
  if (requireNamespace("Matrix", quietly = TRUE)) invisible(Matrix::Matrix(1))
  invisible(gc(full = TRUE))
  writeLines("5", "/proc/self/clear_refs")
  before <- vm_bytes("VmHWM")
  seconds <- system.time(
    fit <- suppressWarnings(dmn_fit(counts, k, seed = 1, threads = threads, max_iter = 3, nstart = 1))
  )[["elapsed"]]
  peak <- vm_bytes("VmHWM")
  # Two more calls for the time, whose median is reported (machines are noisy).
  for (rep in 2:3) {
    seconds[rep] <- system.time(
      suppressWarnings(dmn_fit(counts, k, seed = 1, threads = threads, max_iter = 3, nstart = 1))
    )[["elapsed"]]
  }
  table <- fastdmm:::as_counts(counts)
  saveRDS(list(growth = peak - before, seconds = stats::median(seconds), times = seconds, nnz = length(table$tile_row) / 2,
               n_pairs = length(table$pair_value), n = table$n_samples, n_taxa = table$n_taxa,
               nle = fit$goodnessOfFit[["NLE"]], threads = fit$threads),
          result_file)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0L && args[1L] == "generate") {
  generate(args[2L], as.numeric(args[3L]), as.numeric(args[4L]), as.numeric(args[5L]))
  quit(save = "no")
}
if (length(args) > 0L && args[1L] == "measure") {
  measure(args[2L], args[3L], as.numeric(args[4L]), as.numeric(args[5L]))
  quit(save = "no")
}

n <- setting("FASTDMM_MEMORY_N", 100000)
n_taxa <- setting("FASTDMM_MEMORY_TAXA", 1000)
nnz_per_sample <- setting("FASTDMM_MEMORY_NNZ", 170)
k <- setting("FASTDMM_MEMORY_K", 10)
threads <- setting("FASTDMM_MEMORY_THREADS", 2)
out_dir <- Sys.getenv("FASTDMM_MEMORY_DIR", "")
if (!nzchar(out_dir)) {
  out_dir <- tempfile("fastdmm-memory")
  on.exit(unlink(out_dir, recursive = TRUE), add = TRUE)
}
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

cat(sprintf("fastdmm %s memory benchmark: %g x %g, %g non-zeros per sample, k = %g, %g threads\n",
            utils::packageVersion("fastdmm"), n, n_taxa, nnz_per_sample, k, threads))
if (!all(file.exists(file.path(out_dir, c("sparse.rds", "dense.rds"))))) {
  started <- Sys.time()
  run_child("generate", out_dir, n, n_taxa, nnz_per_sample)
  cat(sprintf("simulated the table in %.0f s\n", as.numeric(Sys.time() - started, units = "secs")))
}
results <- list()
for (kind in c("sparse", "dense")) {
  result_file <- file.path(out_dir, paste0(kind, "-result.rds"))
  run_child("measure", file.path(out_dir, paste0(kind, ".rds")), result_file, k, threads)
  results[[kind]] <- readRDS(result_file)
}

mb <- 2^20
sparse <- results$sparse
# What may grow with the data beyond the per-non-zero budget: N x k and S x k
# doubles (posteriors, evidences, parameters, the R result and its sorted
# copies) and k x (distinct pairs) doubles (the M-step's per-pair tables).
allowance <- 8 * (8 * sparse$n * k + 8 * sparse$n_taxa * k + 4 * k * sparse$n_pairs)
limit <- 12 * sparse$nnz + 64 * mb
cat(sprintf("table: %d x %d, %.0f non-zeros, %.0f distinct (taxon, count) pairs\n",
            sparse$n, sparse$n_taxa, sparse$nnz, sparse$n_pairs))
cat(sprintf("limit: 12 B x nnz + 64 MB = %.0f + 64 = %.0f MB (O(Nk + Sk + k pairs) is %.0f MB of it)\n",
            12 * sparse$nnz / mb, limit / mb, allowance / mb))
for (kind in names(results)) {
  r <- results[[kind]]
  cat(sprintf("%-6s: growth %7.1f MB = %5.1f B per non-zero (%5.1f B beyond the O() allowance and 64 MB); %6.2f s (median of %s); NLE %.10g; %d threads; %s\n",
              kind, r$growth / mb, r$growth / r$nnz,
              max(0, r$growth - allowance - 64 * mb) / r$nnz, r$seconds,
              paste(sprintf("%.2f", r$times), collapse = ", "), r$nle, r$threads,
              if (r$growth <= limit) "within the limit" else "OVER THE LIMIT"))
}
time_limit <- 1.15 * sparse$seconds + 0.5
cat(sprintf("dense time %.2f s vs limit 1.15 x %.2f + 0.5 = %.2f s: %s\n",
            results$dense$seconds, sparse$seconds, time_limit,
            if (results$dense$seconds <= time_limit) "ok" else "TOO SLOW"))
cat(sprintf("same NLE from both inputs: %s\n", identical(results$dense$nle, sparse$nle)))
