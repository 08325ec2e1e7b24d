# DelayedArray tables (HDF5Matrix, TENxMatrix, a DelayedMatrix with delayed
# operations) read block by block straight into the count table, never dense.

# A DelayedMatrix that as_counts() reads block by block: its samples are its
# rows (a samples x taxa table given as `counts`) or its columns (the assay of
# a SummarizedExperiment, taxa x samples).
delayed_table <- function(matrix, samples_in_rows) {
  structure(list(matrix = matrix, samples_in_rows = samples_in_rows),
            class = "fastdmm_delayed_table")
}

is_delayed_matrix <- function(x) isS4(x) && methods::is(x, "DelayedMatrix")

# list(samples =, taxa =) names of a delayed_table(), as the dense matrix would
# have them.
delayed_names <- function(table) {
  names <- dimnames(table$matrix)
  if (is.null(names)) names <- list(NULL, NULL)
  if (table$samples_in_rows) {
    list(samples = names[[1L]], taxa = names[[2L]])
  } else {
    list(samples = names[[2L]], taxa = names[[1L]])
  }
}

# What .build_counts() gives for the dense matrix, built from blocks of whole
# samples: DelayedArray's automatic grid of row blocks (samples in rows) or
# column blocks (samples in columns), each block as large as
# DelayedArray::getAutoBlockSize() allows (100 MB unless set with
# DelayedArray::setAutoBlockSize()), read as a sparse block when the matrix is
# sparse (DelayedArray::is_sparse()). The blocks are read twice, in order: the
# first pass validates them and fixes the table's layout, the second writes
# each non-zero in its final place. So only the compact table and one block
# are in memory at a time (and, for a sparse block, copies of its non-zeros:
# as a dgCMatrix and, with samples in columns, compressed by taxon). Refusals
# are those of the dense matrix.
build_delayed_counts <- function(table, arg, threads) {
  x <- table$matrix
  type <- DelayedArray::type(x)
  if (!type %in% c("double", "integer")) {
    abort_input(arg, sprintf("must hold numeric counts, not %s values", type),
                "fastdmm_not_numeric")
  }
  by_rows <- table$samples_in_rows
  n_samples <- if (by_rows) nrow(x) else ncol(x)
  n_taxa <- if (by_rows) ncol(x) else nrow(x)
  if (n_samples == 0L || n_taxa == 0L) {
    abort_input(arg, sprintf("is empty (%d samples x %d taxa)", n_samples, n_taxa),
                "fastdmm_empty")
  }
  grid <- if (by_rows) DelayedArray::rowAutoGrid(x) else DelayedArray::colAutoGrid(x)
  sparse <- DelayedArray::is_sparse(x)
  builder <- .block_builder(n_samples, n_taxa)
  each_block <- function(pass) {
    first_sample <- 0
    unreclaimed <- 0
    for (b in seq_len(length(grid))) {
      block <- DelayedArray::read_block(x, grid[[b]], as.sparse = sparse)
      # A sparse block (a SparseArraySeed or its successors) as the dgCMatrix
      # C++ reads; its non-zeros only.
      if (sparse) block <- methods::as(block, "dgCMatrix")
      pass(builder, block, first_sample, by_rows, threads)
      first_sample <- first_sample + if (by_rows) nrow(block) else ncol(block)
      # R frees a large vector only when it collects garbage, which it does
      # rarely while the heap is large: left alone, used blocks pile up (about
      # 100 MB of them whatever the block size). A minor collection frees them
      # (they are young) in milliseconds; it runs after every block of at
      # least block_garbage_bytes, and after enough smaller ones to add up to
      # that, so that tiny blocks do not pay for one each.
      unreclaimed <- unreclaimed + as.numeric(utils::object.size(block))
      rm(block)
      if (unreclaimed >= block_garbage_bytes) {
        gc(verbose = FALSE, full = FALSE)
        unreclaimed <- 0
      }
    }
  }
  each_block(.scan_block)
  problems <- .finish_scan(builder)
  if (!is.null(problems)) return(list(problems = problems))
  each_block(.fill_block)
  .finish_blocks(builder, threads)
}

# Bytes of used blocks left for R's garbage collector before they are
# collected (measured on a 20,000 x 1,000 HDF5 table: with blocks of 100 KB
# and more, the peak stays within the compact table and one block; a
# threshold of 8 MB let 190 MB of garbage build up with 100 KB blocks).
block_garbage_bytes <- 2^20
