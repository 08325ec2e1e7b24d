# Peak memory and time of one whole dmn_fit() call on a large table (issue 10):
# 100,000 samples x 1,000 taxa with 17 million non-zeros, k = 10, max_iter = 3,
# 2 threads, once from a dgCMatrix and once from the same table as a dense
# integer matrix. Not a test: it prints the figures and whether they meet
#   growth of peak memory <= 24 bytes per non-zero + 64 MB + O(N k + S k + k pairs)
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

setting <- function(name, default) as.numeric(Sys.getenv(name, default))

# Resident memory fields of this process, in bytes.
vm_bytes <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) * 1024
}

# A DMM-like table: 10 community types, each sample drawing `nnz` distinct taxa
# (weighted sampling without replacement by exponential keys) with counts
# 1 + Poisson around its type's abundance of each.
generate <- function(out_dir, n, n_taxa, nnz_per_sample) {
  set.seed(1)
  n_types <- 10L
  weights <- matrix(stats::rgamma(n_taxa * n_types, shape = 0.3), n_taxa, n_types)
  type <- sample.int(n_types, n, replace = TRUE)
  taxa <- integer(n * nnz_per_sample)
  values <- numeric(n * nnz_per_sample)
  for (i in seq_len(n)) {
    w <- weights[, type[i]]
    keys <- log(stats::runif(n_taxa)) / w
    chosen <- order(keys, decreasing = TRUE)[seq_len(nnz_per_sample)]
    slots <- (i - 1L) * nnz_per_sample + seq_len(nnz_per_sample)
    taxa[slots] <- chosen
    values[slots] <- 1 + stats::rpois(nnz_per_sample, 40 * w[chosen] / mean(w[chosen]))
  }
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
  invisible(dmn_fit(matrix(c(5, 1, 2, 1, 6, 3, 2, 2, 7), 3), 1, seed = 1, threads = threads))
  if (requireNamespace("Matrix", quietly = TRUE)) invisible(Matrix::Matrix(1))
  invisible(gc(full = TRUE))
  writeLines("5", "/proc/self/clear_refs")
  before <- vm_bytes("VmHWM")
  seconds <- system.time(
    fit <- suppressWarnings(dmn_fit(counts, k, seed = 1, threads = threads, max_iter = 3))
  )[["elapsed"]]
  peak <- vm_bytes("VmHWM")
  # Two more calls for the time, whose median is reported (machines are noisy).
  for (rep in 2:3) {
    seconds[rep] <- system.time(
      suppressWarnings(dmn_fit(counts, k, seed = 1, threads = threads, max_iter = 3))
    )[["elapsed"]]
  }
  table <- fastdmm:::as_counts(counts)
  saveRDS(list(growth = peak - before, seconds = stats::median(seconds), times = seconds, nnz = length(table$col_sample),
               n_pairs = length(table$pair_value), n = table$n_samples, n_taxa = table$n_taxa,
               nle = fit$goodnessOfFit[["NLE"]], threads = fit$threads),
          result_file)
}

run_child <- function(...) {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  status <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(script), ...))
  if (status != 0) stop("child R process failed", call. = FALSE)
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
limit <- 24 * sparse$nnz + 64 * mb + allowance
cat(sprintf("table: %d x %d, %.0f non-zeros, %.0f distinct (taxon, count) pairs\n",
            sparse$n, sparse$n_taxa, sparse$nnz, sparse$n_pairs))
cat(sprintf("limit: 24 B x nnz + 64 MB + O(Nk + Sk + k pairs) = %.0f + 64 + %.0f = %.0f MB\n",
            24 * sparse$nnz / mb, allowance / mb, limit / mb))
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
