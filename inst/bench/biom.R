# Peak memory and time of reading a BIOM 2.1 (HDF5) file given by path: the
# count table (as_counts("<path>.biom")) and a short dmn_fit() from the path,
# next to the size of the compact table and of one block, and the same fit from
# the table as a dgCMatrix already in memory. Not a test: it prints figures and
# checks that the table and fit are those of the dgCMatrix.
#
#   Rscript inst/bench/biom.R
#
# The table is the issue-14 generator's (scale.R's issue_table(): set.seed(5),
# 10 types each boosting 40 of 1,000 taxa, rdmm(sparse = TRUE), depth 5,000),
# simulated in a child R process that keeps it as a dgCMatrix (.rds) and writes
# it as a BIOM 2.1 file with rhdf5: both compressed copies (sample/matrix and
# observation/matrix), ids and the root's attributes, each dataset chunked
# (2^16 entries) with gzip level 1 and written 10,000 samples (or taxa) at a
# time, as biom-format writes compressed tables. Each measurement runs in a
# fresh child that loads the packages, warms up on a tiny BIOM file, writes "5"
# to /proc/self/clear_refs (resetting the peak, VmHWM, to the current resident
# size) and reads VmHWM after the call. Linux only.
#
# Environment: FASTDMM_BIOM_N (samples, 200000), FASTDMM_BIOM_K (10),
# FASTDMM_BIOM_THREADS (2), FASTDMM_BIOM_BLOCKS (block sizes in bytes, set with
# DelayedArray::setAutoBlockSize(), to measure as_counts() with,
# comma-separated, "1e8,1e7"; the first also serves dmn_fit()),
# FASTDMM_BIOM_DIR (where the files go; a temporary directory by default,
# deleted at the end).

bench_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(bench_dir, "child.R"))
source(file.path(bench_dir, "biom-layout.R"))  # biom_create(), biom_write_ids(), ...

load_packages <- function() {
  suppressPackageStartupMessages({
    library(fastdmm)
    library(Matrix)
  })
  stopifnot(requireNamespace("rhdf5", quietly = TRUE),
            requireNamespace("DelayedArray", quietly = TRUE))
}

# Writes the samples x taxa dgCMatrix `x` as a BIOM 2.1 file, `step` samples or
# taxa (and their entries) at a time.
write_biom <- function(x, path, step = 10000) {
  by_sample <- Matrix::t(x)  # taxa x samples, compressed by sample
  biom_create(path)
  nnz <- length(x@x)
  chunk <- function(n) min(n, 2^16)
  # One compressed copy: `outer` entries (samples or taxa), their pointers `p`,
  # indices `i` and values `v`, written `step` entries at a time.
  write_matrix <- function(group, p, i, v) {
    n <- length(p) - 1L
    rhdf5::h5createDataset(path, paste0(group, "/indptr"), n + 1, storage.mode = "integer",
                           chunk = chunk(n + 1), level = 1)
    rhdf5::h5write(as.integer(p), path, paste0(group, "/indptr"))
    rhdf5::h5createDataset(path, paste0(group, "/indices"), nnz, storage.mode = "integer",
                           chunk = chunk(nnz), level = 1)
    rhdf5::h5createDataset(path, paste0(group, "/data"), nnz, storage.mode = "double",
                           chunk = chunk(nnz), level = 1)
    for (first in seq(1, n, by = step)) {
      last <- min(n, first + step - 1)
      from <- p[first] + 1
      count <- p[last + 1] - p[first]
      if (count == 0) next
      entries <- seq.int(from, length.out = count)
      rhdf5::h5write(i[entries], path, paste0(group, "/indices"), start = from, count = count)
      rhdf5::h5write(as.double(v[entries]), path, paste0(group, "/data"), start = from,
                     count = count)
    }
  }
  biom_write_ids(path, "sample/ids", rownames(x))
  biom_write_ids(path, "observation/ids", colnames(x))
  write_matrix("sample/matrix", by_sample@p, by_sample@i, by_sample@x)
  rm(by_sample)
  write_matrix("observation/matrix", x@p, x@i, x@x)
  file <- rhdf5::H5Fopen(path)
  on.exit(rhdf5::H5Fclose(file))
  biom_write_attributes(file, ncol(x), nrow(x), as.integer(nnz), "inst/bench/biom.R")
}

generate <- function(out_dir, n, threads) {
  load_packages()
  set.seed(5)
  taxa <- 1000
  alpha <- sapply(seq_len(10), function(type) {
    a <- stats::rgamma(taxa, 0.2, 1) * 0.05
    a[sample(taxa, 40)] <- stats::runif(40, 1, 5)
    a
  })
  x <- rdmm(n, alpha, depth = 5000, sparse = TRUE, threads = threads)
  attr(x, "component") <- NULL
  dimnames(x) <- list(sprintf("sample.%d", seq_len(n)), sprintf("taxon.%d", seq_len(taxa)))
  saveRDS(x, file.path(out_dir, "sparse.rds"), compress = FALSE)
  write_biom(x, file.path(out_dir, "counts.biom"))
}

warm_up <- function(threads) {
  tiny <- Matrix::Matrix(matrix(c(5, 1, 2, 1, 6, 3, 2, 2, 7), 3,
                                dimnames = list(c("a", "b", "c"), c("x", "y", "z"))),
                         sparse = TRUE)
  path <- tempfile(fileext = ".biom")
  write_biom(tiny, path)
  invisible(dmn_fit(path, 1, seed = 1, threads = threads))
  invisible(gc(full = TRUE))
}

# One measured call; writes its figures to `result_file`. what: "table"
# (as_counts() of the path), "sparse_table" (as_counts() of the dgCMatrix in
# memory), "fit" (dmn_fit() of the path) or "sparse" (dmn_fit() of the
# dgCMatrix).
measure <- function(out_dir, result_file, what, block_size, k, threads) {
  load_packages()
  suppressMessages(DelayedArray::setAutoBlockSize(block_size))
  warm_up(threads)
  path <- file.path(out_dir, "counts.biom")
  input <- if (what %in% c("sparse", "sparse_table")) {
    readRDS(file.path(out_dir, "sparse.rds"))
  } else {
    path
  }
  input_bytes <- as.numeric(utils::object.size(input))
  invisible(gc(full = TRUE))
  writeLines("5", "/proc/self/clear_refs")
  before <- vm_bytes("VmHWM")
  seconds <- system.time(
    result <- if (what %in% c("table", "sparse_table")) {
      fastdmm:::as_counts(input, threads = threads)
    } else {
      suppressWarnings(dmn_fit(input, k, seed = 1, threads = threads, max_iter = 3))
    }
  )[["elapsed"]]
  peak <- vm_bytes("VmHWM")
  figures <- list(what = what, growth = peak - before, seconds = seconds,
                  block_size = block_size, input_bytes = input_bytes)
  if (what == "table") {
    header <- fastdmm:::biom_table(path, "counts")
    blocks <- fastdmm:::biom_blocks(header)
    figures$n_blocks <- nrow(blocks)
    figures$block_nnz <- max(header$indptr[blocks$last + 1] - header$indptr[blocks$first])
    figures$names_bytes <- as.numeric(utils::object.size(result$sample_names)) +
      as.numeric(utils::object.size(result$taxon_names))
    figures$indptr_bytes <- as.numeric(utils::object.size(header$indptr))
    figures$n <- result$n_samples
    figures$n_taxa <- result$n_taxa
    figures$nnz <- length(result$tile_row) / 2
    figures$n_pairs <- length(result$pair_value)
    figures$file_bytes <- file.size(path)
    sparse_table <- fastdmm:::as_counts(readRDS(file.path(out_dir, "sparse.rds")),
                                        threads = threads)
    fields <- c("tile_size", "tile_ptr", "tile_row", "tile_pair", "pair_ptr", "pair_value",
                "sample_names", "taxon_names")
    figures$same_table <- identical(unclass(result)[fields], unclass(sparse_table)[fields])
  } else {
    figures$nle <- result$goodnessOfFit[["NLE"]]
    figures$group <- result$group
  }
  saveRDS(figures, result_file)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0L && args[1L] == "generate") {
  generate(args[2L], as.numeric(args[3L]), as.numeric(args[4L]))
  quit(save = "no")
}
if (length(args) > 0L && args[1L] == "measure") {
  measure(args[2L], args[3L], args[4L], as.numeric(args[5L]), as.numeric(args[6L]),
          as.numeric(args[7L]))
  quit(save = "no")
}

n <- setting("FASTDMM_BIOM_N", 200000)
k <- setting("FASTDMM_BIOM_K", 10)
threads <- setting("FASTDMM_BIOM_THREADS", 2)
block_sizes <- as.numeric(strsplit(Sys.getenv("FASTDMM_BIOM_BLOCKS", "1e8,1e7"), ",")[[1L]])
out_dir <- Sys.getenv("FASTDMM_BIOM_DIR", "")
if (!nzchar(out_dir)) {
  out_dir <- tempfile("fastdmm-biom")
  on.exit(unlink(out_dir, recursive = TRUE), add = TRUE)
}
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

mb <- 2^20
cat(sprintf(paste("fastdmm %s BIOM benchmark: %g samples x 1000 taxa (dense: %.2f GB of",
                  "doubles), depth 5000, k = %g, %g threads\n"),
            utils::packageVersion("fastdmm"), n, 8 * n * 1000 / 1e9, k, threads))
if (!all(file.exists(file.path(out_dir, c("sparse.rds", "counts.biom"))))) {
  started <- Sys.time()
  run_child("generate", out_dir, n, threads)
  cat(sprintf("simulated the table and wrote the BIOM file in %.0f s (file: %.0f MB)\n",
              as.numeric(Sys.time() - started, units = "secs"),
              file.size(file.path(out_dir, "counts.biom")) / mb))
}

one <- function(what, block_size) {
  result_file <- file.path(out_dir, sprintf("%s-%g-result.rds", what, block_size))
  run_child("measure", out_dir, result_file, what, block_size, k, threads)
  readRDS(result_file)
}
in_memory <- one("sparse_table", block_sizes[1L])
tables <- lapply(block_sizes, function(size) one("table", size))
first <- tables[[1L]]
# The compact table as hdf5.R estimates it: each non-zero's sample and pair (R
# vectors) and taxon and pair (the C++ row view), 16 bytes; per sample its row
# offset, depth, depth index and multinomial coefficient, 28 bytes; per taxon
# and pair, offsets and values. What building it really costs is measured: the
# growth of as_counts() of the dgCMatrix already in memory (whose names the
# table shares). A path adds the ids (new strings), the observation-wise index
# pointers while reading, and one block of taxa.
compact <- 16 * first$nnz + 28 * first$n + 32 * first$n_taxa + 8 * first$n_pairs
cat(sprintf(paste("table: %d x %d, %.0f non-zeros (%.1f%% of cells), %.0f distinct (taxon,",
                  "count) pairs; compact table (estimate) %.1f MB (%.1f B per non-zero);",
                  "sample and taxon ids %.1f MB; indptr %.1f MB; BIOM file %.1f MB\n"),
            first$n, first$n_taxa, first$nnz, 100 * first$nnz / (first$n * first$n_taxa),
            first$n_pairs, compact / mb, compact / first$nnz, first$names_bytes / mb,
            first$indptr_bytes / mb, first$file_bytes / mb))
cat(sprintf(paste("as_counts() of the same table as a dgCMatrix already in memory: peak growth",
                  "%.1f MB (%.1f B per non-zero; beyond the %.1f MB input), %.1f s\n"),
            in_memory$growth / mb, in_memory$growth / first$nnz, in_memory$input_bytes / mb,
            in_memory$seconds))
for (r in tables) {
  # A block's non-zeros as read (4 + 8 bytes): already compressed by taxon.
  block <- 12 * r$block_nnz
  bound <- in_memory$growth + r$names_bytes + r$indptr_bytes + block
  cat(sprintf(paste("as_counts(\"<path>.biom\"), block size %g B: %d blocks of at most %.0f",
                    "non-zeros (%.1f MB read); peak growth %.1f MB (%.1f B per",
                    "non-zero) vs the table from memory + ids + indptr + one block = %.1f MB:",
                    "%s; %.1f s; same table as the dgCMatrix: %s\n"),
              r$block_size, r$n_blocks, r$block_nnz, block / mb, r$growth / mb,
              r$growth / r$nnz, bound / mb, if (r$growth <= bound) "within" else "OVER",
              r$seconds, r$same_table))
}
fit <- one("fit", block_sizes[1L])
sparse <- one("sparse", block_sizes[1L])
cat(sprintf(paste("dmn_fit(\"<path>.biom\", k = %g, max_iter = 3), block size %g B: peak",
                  "growth %.1f MB (%.1f B per non-zero), %.1f s\n"),
            k, block_sizes[1L], fit$growth / mb, fit$growth / first$nnz, fit$seconds))
cat(sprintf(paste("dmn_fit() of the same table as a dgCMatrix already in memory: peak growth",
                  "%.1f MB (beyond the %.1f MB input), %.1f s\n"),
            sparse$growth / mb, sparse$input_bytes / mb, sparse$seconds))
cat(sprintf("same fit from the BIOM file and from the dgCMatrix: NLE %s, posteriors %s\n",
            identical(fit$nle, sparse$nle), identical(fit$group, sparse$group)))
