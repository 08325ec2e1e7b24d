# A sparse DelayedMatrix (parts bound together, in memory or on disk) is read
# through DelayedArray's sparse blocks: no block is ever made dense, and the
# table is the one the same counts give in memory.

sparse_parts_counts <- function() {
  x <- simulate_counts(n = 20, n_taxa = 7, k = 2, depth = 90, seed = 41)
  x[cbind(c(2, 11, 25, 38), c(3, 3, 6, 1))] <- 0
  x[rowSums(x) == 0, 2] <- 1
  storage.mode(x) <- "double"
  x
}

sparse_table_arrays <- function(table) {
  table$pointer <- NULL
  unclass(table)
}

# Runs `code` counting the blocks DelayedArray turns from sparse to dense
# (its sparse2dense(), which every densification of a sparse block goes
# through); returns the count.
count_densified <- function(code) {
  densified <- 0
  counter <- environment()
  suppressMessages(trace("sparse2dense", bquote(assign("densified", get("densified",
    envir = .(counter)) + 1, envir = .(counter))), where = asNamespace("DelayedArray"),
    print = FALSE))
  on.exit(suppressMessages(untrace("sparse2dense", where = asNamespace("DelayedArray"))))
  force(code)
  densified
}

skip_without_delayed <- function() {
  skip_if_not_installed("Matrix")
  skip_if_not_installed("DelayedArray")
}

test_that("bound sparse parts are read as sparse blocks, never dense, into the same table", {
  skip_without_delayed()
  x <- sparse_parts_counts()
  expected <- sparse_table_arrays(fastdmm:::as_counts(x, threads = 1))
  part <- function(rows) DelayedArray::DelayedArray(Matrix::Matrix(x[rows, ], sparse = TRUE))
  # Samples in rows: the samples of three parts, one subset of samples and
  # taxa taken back out of a bigger part.
  bound <- DelayedArray::arbind(part(1:12), part(13:30),
                 part(31:40)[, seq_len(ncol(x))])
  expect_true(DelayedArray::is_sparse(bound))
  # The counter counts: a dense read of the same matrix goes through it.
  expect_gt(count_densified(DelayedArray::read_block(
    bound, DelayedArray::rowAutoGrid(bound)[[1L]], as.sparse = FALSE)), 0)
  old <- DelayedArray::getAutoBlockSize()
  on.exit(suppressMessages(DelayedArray::setAutoBlockSize(old)), add = TRUE)
  for (bytes in c(1e8, 5 * 7 * 8)) {
    suppressMessages(DelayedArray::setAutoBlockSize(bytes))
    densified <- count_densified({
      table <- fastdmm:::as_counts(bound, threads = 2)
      fit <- dmn_fit(bound, 2, seed = 6, threads = 1)
    })
    expect_identical(densified, 0, label = paste("dense blocks at block size", bytes))
    expect_identical(sparse_table_arrays(table), expected)
    expect_identical(fit$fit, dmn_fit(x, 2, seed = 6, threads = 1)$fit)
  }
  # Taxa x samples, as the assay of a SummarizedExperiment: bound by columns.
  skip_if_not_installed("SummarizedExperiment")
  columns <- function(rows) DelayedArray::DelayedArray(Matrix::Matrix(t(x[rows, ]), sparse = TRUE))
  assay <- DelayedArray::acbind(columns(1:7), columns(8:40))
  expect_true(DelayedArray::is_sparse(assay))
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = assay))
  suppressMessages(DelayedArray::setAutoBlockSize(3 * 7 * 8))
  expect_identical(count_densified(table <- fastdmm:::as_counts(se, threads = 1)), 0)
  expect_identical(sparse_table_arrays(table), expected)
})

test_that("sparse parts on disk bound to parts in memory stay sparse", {
  skip_without_delayed()
  skip_if_not_installed("HDF5Array")
  x <- sparse_parts_counts()
  expected <- sparse_table_arrays(fastdmm:::as_counts(x, threads = 1))
  on_disk <- HDF5Array::writeHDF5Array(Matrix::Matrix(x[1:25, ], sparse = TRUE),
                                       tempfile(fileext = ".h5"), "counts", as.sparse = TRUE,
                                       with.dimnames = TRUE)
  expect_true(DelayedArray::is_sparse(on_disk))
  bound <- DelayedArray::arbind(
    on_disk, DelayedArray::DelayedArray(Matrix::Matrix(x[26:40, ], sparse = TRUE)))
  expect_true(DelayedArray::is_sparse(bound))
  expect_identical(count_densified(table <- fastdmm:::as_counts(bound, threads = 1)), 0)
  expect_identical(sparse_table_arrays(table), expected)
  # A dense part makes the whole matrix dense: read in dense blocks, same table.
  mixed <- DelayedArray::arbind(on_disk, DelayedArray::DelayedArray(x[26:40, ]))
  expect_false(DelayedArray::is_sparse(mixed))
  expect_identical(sparse_table_arrays(fastdmm:::as_counts(mixed, threads = 1)), expected)
})
