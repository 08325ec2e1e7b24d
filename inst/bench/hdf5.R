# Peak memory and time of building the count table (as_counts()) and of a whole
# dmn_fit() from an HDF5-backed SummarizedExperiment whose dense form is larger
# than what may be held: 300,000 samples x 1,000 taxa of doubles (2.4 GB dense),
# 170 non-zeros per sample (51 million). Not a test: it prints the figures next
# to the size of the compact table and of one block, and checks that the table
# and fit are those of the same counts in memory (as a dgCMatrix).
#
#   Rscript inst/bench/hdf5.R
#
# The table is simulated in one child R process, which keeps it as a
# dgCMatrix (saved as .rds) and writes it to HDF5 (taxa x samples, the
# SummarizedExperiment orientation, gzip level 6, chunks of all taxa x 100
# samples) through HDF5Array::HDF5RealizationSink, one column block of 10,000
# samples at a time, so that the dense table never exists. Each measurement
# runs in a fresh child that loads the packages, warms up on a tiny HDF5 table,
# writes "5" to /proc/self/clear_refs (which resets the peak, VmHWM, to the
# current resident size) and reads VmHWM after the call. Linux only.
#
# Environment: FASTDMM_HDF5_N (samples, 300000), FASTDMM_HDF5_TAXA (1000),
# FASTDMM_HDF5_NNZ (non-zeros per sample, 170), FASTDMM_HDF5_K (10),
# FASTDMM_HDF5_THREADS (2), FASTDMM_HDF5_BLOCKS (DelayedArray block sizes in
# bytes to measure as_counts() with, comma-separated, "1e8,1e7"; the first also
# serves dmn_fit()), FASTDMM_HDF5_DIR (where the files go; a temporary
# directory by default, deleted at the end).

# This script's directory: its helpers (child.R) and tables (tables.R) are there.
bench_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(bench_dir, "child.R"))
source(file.path(bench_dir, "tables.R"))

load_packages <- function() {
  suppressPackageStartupMessages({
    library(fastdmm)
    library(SummarizedExperiment)
    library(HDF5Array)
  })
}

# tables.R's DMM-like table (as memory.R's), saved as a dgCMatrix and written to
# HDF5 block by block.
generate <- function(out_dir, n, n_taxa, nnz_per_sample) {
  load_packages()
  entries <- dmm_like_entries(n, n_taxa, nnz_per_sample)
  taxa <- entries$taxa
  values <- entries$values
  rm(entries)
  # Taxa x samples, compressed by sample: column blocks are cheap to take.
  by_sample <- Matrix::sparseMatrix(i = taxa, j = rep(seq_len(n), each = nnz_per_sample),
                                    x = values, dims = c(n_taxa, n))
  rm(taxa, values)
  saveRDS(Matrix::t(by_sample), file.path(out_dir, "sparse.rds"), compress = FALSE)
  sink <- HDF5Array::HDF5RealizationSink(
    dim = c(as.integer(n_taxa), as.integer(n)), type = "double",
    filepath = file.path(out_dir, "counts.h5"), name = "counts",
    chunkdim = c(as.integer(n_taxa), as.integer(min(n, 100))), level = 6L)
  grid <- DelayedArray::colAutoGrid(sink, ncol = as.integer(min(n, 10000)))
  for (b in seq_len(length(grid))) {
    viewport <- grid[[b]]
    columns <- BiocGenerics::start(viewport)[2L] - 1L + seq_len(dim(viewport)[2L])
    sink <- DelayedArray::write_block(sink, viewport, as.matrix(by_sample[, columns]))
  }
  close(sink)
}

# Loads the code paths on a tiny HDF5 table, outside the measured call.
warm_up <- function(threads) {
  tiny <- HDF5Array::writeHDF5Array(matrix(c(5, 1, 2, 1, 6, 3, 2, 2, 7), 3),
                                    tempfile(fileext = ".h5"), "counts")
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = tiny))
  invisible(dmn_fit(se, 1, seed = 1, threads = threads, nstart = 1))
  invisible(Matrix::Matrix(1))
  invisible(gc(full = TRUE))
}

# One measured call; writes its figures to `result_file`. what: "table" (as_counts()
# of the HDF5-backed SummarizedExperiment), "fit" (dmn_fit() of it) or "sparse"
# (dmn_fit() of the same table as a dgCMatrix in memory).
measure <- function(out_dir, result_file, what, block_size, k, threads) {
  load_packages()
  suppressMessages(DelayedArray::setAutoBlockSize(block_size))
  warm_up(threads)
  input <- if (what == "sparse") {
    readRDS(file.path(out_dir, "sparse.rds"))
  } else {
    assay <- HDF5Array::HDF5Array(file.path(out_dir, "counts.h5"), "counts")
    SummarizedExperiment::SummarizedExperiment(assays = list(counts = assay))
  }
  input_bytes <- as.numeric(utils::object.size(input))
  invisible(gc(full = TRUE))
  writeLines("5", "/proc/self/clear_refs")
  before <- vm_bytes("VmHWM")
  seconds <- system.time(
    result <- if (what == "table") {
      fastdmm:::as_counts(input, threads = threads)
    } else {
      suppressWarnings(dmn_fit(input, k, seed = 1, threads = threads, max_iter = 3, nstart = 1))
    }
  )[["elapsed"]]
  peak <- vm_bytes("VmHWM")
  figures <- list(what = what, growth = peak - before, seconds = seconds,
                  block_size = block_size, input_bytes = input_bytes)
  if (what == "table") {
    grid <- DelayedArray::colAutoGrid(SummarizedExperiment::assay(input))
    figures$block_bytes <- 8 * prod(dim(grid[[1L]]))
    figures$n_blocks <- length(grid)
    figures$n <- result$n_samples
    figures$n_taxa <- result$n_taxa
    figures$nnz <- length(result$tile_row) / 2
    figures$n_pairs <- length(result$pair_value)
    sparse_table <- fastdmm:::as_counts(readRDS(file.path(out_dir, "sparse.rds")),
                                        threads = threads)
    figures$same_table <- identical(result$tile_row, sparse_table$tile_row) &&
      identical(result$tile_pair, sparse_table$tile_pair) &&
      identical(result$tile_ptr, sparse_table$tile_ptr) &&
      identical(result$pair_ptr, sparse_table$pair_ptr) &&
      identical(result$pair_value, sparse_table$pair_value)
  } else {
    figures$nle <- result$goodnessOfFit[["NLE"]]
    figures$group <- result$group
  }
  saveRDS(figures, result_file)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0L && args[1L] == "generate") {
  generate(args[2L], as.numeric(args[3L]), as.numeric(args[4L]), as.numeric(args[5L]))
  quit(save = "no")
}
if (length(args) > 0L && args[1L] == "measure") {
  measure(args[2L], args[3L], args[4L], as.numeric(args[5L]), as.numeric(args[6L]),
          as.numeric(args[7L]))
  quit(save = "no")
}

n <- setting("FASTDMM_HDF5_N", 300000)
n_taxa <- setting("FASTDMM_HDF5_TAXA", 1000)
nnz_per_sample <- setting("FASTDMM_HDF5_NNZ", 170)
k <- setting("FASTDMM_HDF5_K", 10)
threads <- setting("FASTDMM_HDF5_THREADS", 2)
block_sizes <- as.numeric(strsplit(Sys.getenv("FASTDMM_HDF5_BLOCKS", "1e8,1e7"), ",")[[1L]])
out_dir <- Sys.getenv("FASTDMM_HDF5_DIR", "")
if (!nzchar(out_dir)) {
  out_dir <- tempfile("fastdmm-hdf5")
  on.exit(unlink(out_dir, recursive = TRUE), add = TRUE)
}
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

mb <- 2^20
cat(sprintf(paste("fastdmm %s HDF5 benchmark: %g samples x %g taxa (dense: %.2f GB = %.0f MB",
                  "of doubles), %g non-zeros per sample, k = %g, %g threads\n"),
            utils::packageVersion("fastdmm"), n, n_taxa, 8 * n * n_taxa / 1e9,
            8 * n * n_taxa / mb, nnz_per_sample, k, threads))
if (!all(file.exists(file.path(out_dir, c("sparse.rds", "counts.h5"))))) {
  started <- Sys.time()
  run_child("generate", out_dir, n, n_taxa, nnz_per_sample)
  cat(sprintf("simulated the table and wrote it to HDF5 in %.0f s (file: %.0f MB)\n",
              as.numeric(Sys.time() - started, units = "secs"),
              file.size(file.path(out_dir, "counts.h5")) / mb))
}

one <- function(what, block_size) {
  result_file <- file.path(out_dir, sprintf("%s-%g-result.rds", what, block_size))
  run_child("measure", out_dir, result_file, what, block_size, k, threads)
  readRDS(result_file)
}
tables <- lapply(block_sizes, function(size) one("table", size))
first <- tables[[1L]]
# The compact table: each non-zero's sample and pair (R vectors) and taxon and
# pair (the C++ row view), 16 bytes; per sample its row offset, depth, depth
# index and multinomial coefficient, 28 bytes; per taxon and pair, offsets and
# values.
compact <- 16 * first$nnz + 28 * first$n + 32 * first$n_taxa + 8 * first$n_pairs
cat(sprintf(paste("table: %d x %d, %.0f non-zeros (%.1f%% of cells), %.0f distinct (taxon,",
                  "count) pairs; compact table %.1f MB\n"),
            first$n, first$n_taxa, first$nnz, 100 * first$nnz / (first$n * first$n_taxa),
            first$n_pairs, compact / mb))
for (r in tables) {
  bound <- compact + r$block_bytes
  cat(sprintf(paste("as_counts(), block size %g B: %d blocks of %.1f MB; peak growth %.1f MB",
                    "vs compact table + one block = %.1f MB: %s; %.1f s; same table as the",
                    "dgCMatrix: %s\n"),
              r$block_size, r$n_blocks, r$block_bytes / mb, r$growth / mb, bound / mb,
              if (r$growth <= bound) "within" else "OVER", r$seconds, r$same_table))
}
fit <- one("fit", block_sizes[1L])
sparse <- one("sparse", block_sizes[1L])
cat(sprintf(paste("dmn_fit(k = %g, max_iter = 3) from HDF5, block size %g B: peak growth",
                  "%.1f MB, %.1f s\n"),
            k, block_sizes[1L], fit$growth / mb, fit$seconds))
cat(sprintf(paste("dmn_fit() of the same table as a dgCMatrix already in memory: peak growth",
                  "%.1f MB (beyond the %.1f MB input), %.1f s\n"),
            sparse$growth / mb, sparse$input_bytes / mb, sparse$seconds))
cat(sprintf("same fit from HDF5 and from the dgCMatrix: NLE %s, posteriors %s\n",
            identical(fit$nle, sparse$nle), identical(fit$group, sparse$group)))
