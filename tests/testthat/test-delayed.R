# DelayedArray tables (HDF5Matrix, sparse HDF5, delayed operations) are read
# block by block into the count table: the same table, fit and refusals as the
# matrix in memory, never a dense copy.

delayed_counts <- function() {
  # 60 samples (30 per type) x 8 taxa.
  x <- simulate_counts(n = 30, n_taxa = 8, k = 2, depth = 150, seed = 17)
  # Zeros to leave out, and counts beyond the small-value lookup (2^16) in a
  # later sample, so that a column's distinct values come from several blocks.
  x[cbind(c(2, 9, 17, 25), c(1, 4, 4, 8))] <- 0
  x[21, 3] <- 70000
  x[28, 3] <- 2^40
  x[rowSums(x) == 0, 2] <- 1
  dimnames(x) <- list(sprintf("sample%02d", seq_len(nrow(x))),
                      sprintf("taxon%d", seq_len(ncol(x))))
  storage.mode(x) <- "double"
  x
}

delayed_fit_parts <- function(fit) {
  list(goodnessOfFit = fit$goodnessOfFit, group = fit$group, fit = fit$fit,
       mixture = fit$mixture, nle_trace = fit$nle_trace)
}

# The compact table without its external pointer (which differs per object).
table_arrays <- function(table) {
  table$pointer <- NULL
  unclass(table)
}

# Runs `code` with DelayedArray's automatic block size set to `bytes`.
with_block_size <- function(bytes, code) {
  old <- DelayedArray::getAutoBlockSize()
  on.exit(suppressMessages(DelayedArray::setAutoBlockSize(old)), add = TRUE)
  suppressMessages(DelayedArray::setAutoBlockSize(bytes))
  code
}

hdf5_assay <- function(taxa_by_samples, sparse = FALSE) {
  HDF5Array::writeHDF5Array(taxa_by_samples, tempfile(fileext = ".h5"), "counts",
                            with.dimnames = TRUE, as.sparse = sparse)
}

skip_without_hdf5 <- function() {
  skip_if_not_installed("Matrix")
  skip_if_not_installed("DelayedArray")
  skip_if_not_installed("HDF5Array")
  skip_if_not_installed("SummarizedExperiment")
}

test_that("an HDF5-backed SummarizedExperiment gives exactly the in-memory fit", {
  skip_without_hdf5()
  x <- delayed_counts()
  dense <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  # Integers stop at 2^31 - 1.
  integer_x <- x
  integer_x[x > .Machine$integer.max] <- 123456
  storage.mode(integer_x) <- "integer"
  assays <- list(
    double = hdf5_assay(t(x)),
    integer = hdf5_assay(t(integer_x)),
    sparse = hdf5_assay(Matrix::Matrix(t(x), sparse = TRUE), sparse = TRUE),
    # Delayed operations that leave the counts as they are.
    delayed = (DelayedArray::DelayedArray(t(x)) + 5) - 5
  )
  expect_true(DelayedArray::is_sparse(assays$sparse))
  expect_false(DelayedArray::is_sparse(assays$double))
  dense_integer <- dmn_fit(integer_x, 2, seed = 3, threads = 1, nstart = 1)
  for (kind in names(assays)) {
    se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = assays[[kind]]))
    expect_true(methods::is(SummarizedExperiment::assay(se), "DelayedMatrix"))
    fit <- dmn_fit(se, 2, seed = 3, threads = 1, nstart = 1)
    expected <- if (kind == "integer") dense_integer else dense
    expect_identical(delayed_fit_parts(fit), delayed_fit_parts(expected), label = kind)
    expect_identical(rownames(mixture(fit)), rownames(x))
    expect_identical(rownames(fitted(fit)), colnames(x))
  }
  # By assay.type, next to an in-memory assay.
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(relative = t(x) / 2, raw = assays$double))
  expect_identical(delayed_fit_parts(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = "raw", nstart = 1)),
                   delayed_fit_parts(dense))
})

test_that("a samples x taxa DelayedMatrix is a count table of its own", {
  skip_without_hdf5()
  x <- delayed_counts()
  dense <- dmn_fit(x, 1:2, seed = 3, threads = 1, nstart = 1)
  on_disk <- hdf5_assay(x)
  expect_s4_class(on_disk, "HDF5Matrix")
  fits <- dmn_fit(on_disk, 1:2, seed = 3, threads = 1, nstart = 1)
  for (i in 1:2) {
    expect_identical(delayed_fit_parts(fits[[i]]), delayed_fit_parts(dense[[i]]))
  }
  # A transposed sparse assay, read by row blocks.
  sparse <- t(hdf5_assay(Matrix::Matrix(t(x), sparse = TRUE), sparse = TRUE))
  expect_true(DelayedArray::is_sparse(sparse))
  expect_identical(table_arrays(fastdmm:::as_counts(sparse, threads = 1)),
                   table_arrays(fastdmm:::as_counts(x, threads = 1)))
  # predict() takes one too.
  expect_identical(predict(dense[[2]], on_disk, threads = 1), predict(dense[[2]], x, threads = 1))
})

test_that("blocks smaller than the table give the same count table on any threads", {
  skip_without_hdf5()
  x <- delayed_counts()
  expected <- table_arrays(fastdmm:::as_counts(x, threads = 1))
  # The table describes x itself, checked independently of the C++ reader.
  expect_identical(dense_from_table(expected), x)
  inputs <- list(
    dense = SummarizedExperiment::SummarizedExperiment(assays = list(counts = hdf5_assay(t(x)))),
    sparse = SummarizedExperiment::SummarizedExperiment(
      assays = list(counts = hdf5_assay(Matrix::Matrix(t(x), sparse = TRUE), sparse = TRUE))),
    rows = hdf5_assay(x),
    delayed_rows = DelayedArray::DelayedArray(x) * 1L
  )
  # 3 samples of 8 doubles per block: 10 blocks.
  with_block_size(3 * 8 * 8, {
    expect_gt(length(DelayedArray::colAutoGrid(SummarizedExperiment::assay(inputs$dense))), 5)
    expect_gt(length(DelayedArray::rowAutoGrid(inputs$rows)), 5)
    for (kind in names(inputs)) {
      for (threads in 1:2) {
        table <- fastdmm:::as_counts(inputs[[kind]], threads = threads)
        expect_identical(table_arrays(table), expected, label = paste(kind, threads))
      }
    }
  })
  # One sample per block.
  with_block_size(1, {
    expect_identical(table_arrays(fastdmm:::as_counts(inputs$dense, threads = 2)), expected)
    expect_identical(table_arrays(fastdmm:::as_counts(inputs$sparse, threads = 2)), expected)
  })
})

test_that("wide tables split over tasks give the same table, whatever the taxa count", {
  skip_without_hdf5()
  # 301 taxa: several tasks of taxa on two threads, and a last group of
  # gathered columns narrower than the others.
  wide <- with_seed(23, matrix(stats::rpois(40 * 301, 0.4), 40, 301))
  wide[, 5] <- 0
  wide[7, 300] <- 3e6
  wide[rowSums(wide) == 0, 1] <- 1
  expected <- table_arrays(fastdmm:::as_counts(wide, threads = 1))
  expect_identical(dense_from_table(expected), wide)
  integer_wide <- wide
  storage.mode(integer_wide) <- "integer"
  inputs <- list(
    double = hdf5_assay(t(wide)),
    integer = hdf5_assay(t(integer_wide)),
    sparse = hdf5_assay(Matrix::Matrix(t(wide), sparse = TRUE), sparse = TRUE)
  )
  with_block_size(7 * 301 * 8, {
    expect_gt(length(DelayedArray::colAutoGrid(inputs$double)), 4)
    for (kind in names(inputs)) {
      se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = inputs[[kind]]))
      for (threads in 1:2) {
        table <- fastdmm:::as_counts(se, threads = threads)
        expect_identical(table_arrays(table), expected, label = paste(kind, threads))
      }
    }
  })
})

test_that("only blocks are read, each sample twice, never the whole table", {
  skip_without_hdf5()
  x <- delayed_counts()
  # A DelayedArray seed that records the size of every read DelayedArray makes.
  env <- new.env()
  methods::setClass("FastdmmRecordingSeed", where = env,
                    representation(data = "matrix", reads = "environment"))
  on.exit(methods::removeClass("FastdmmRecordingSeed", where = env), add = TRUE)
  methods::setMethod("dim", "FastdmmRecordingSeed", function(x) dim(x@data), where = env)
  methods::setMethod("dimnames", "FastdmmRecordingSeed", function(x) dimnames(x@data),
                     where = env)
  methods::setMethod(DelayedArray::extract_array, "FastdmmRecordingSeed", where = env,
                     function(x, index) {
                       rows <- if (is.null(index[[1L]])) TRUE else index[[1L]]
                       columns <- if (is.null(index[[2L]])) TRUE else index[[2L]]
                       block <- x@data[rows, columns, drop = FALSE]
                       x@reads$cells <- c(x@reads$cells, length(block))
                       block
                     })
  reads <- new.env()
  reads$cells <- numeric()
  seed <- methods::new("FastdmmRecordingSeed", data = t(x), reads = reads)
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(counts = DelayedArray::DelayedArray(seed)))
  block_bytes <- 4 * nrow(t(x)) * 8
  table <- with_block_size(block_bytes, fastdmm:::as_counts(se, threads = 1))
  expect_identical(dense_from_table(table), x)
  expect_lte(max(reads$cells), block_bytes / 8)
  expect_equal(sum(reads$cells), 2 * length(x))
})

test_that("bad values are refused exactly as in the matrix in memory", {
  skip_without_hdf5()
  x <- delayed_counts()
  # Each bad cell sits in a late sample, so that it arrives in a later block.
  spoil <- list(
    missing = function(x) { x[22, 2] <- NA; x },
    not_a_number = function(x) { x[22, 2] <- NaN; x },
    infinite = function(x) { x[22, 2] <- Inf; x[5, 1] <- -Inf; x },
    negative = function(x) { x[22, 2] <- -1; x[23, 4] <- -3; x },
    fractional = function(x) { x[22, 2] <- 1.5; x },
    huge = function(x) { x[22, 2] <- 2^54; x },
    # The first kind of problem wins, counted over every block.
    mixed = function(x) { x[29, 2] <- NA; x[3, 5] <- -1; x[4, 1] <- 0.5; x[26, 6] <- NA; x },
    zero_samples = function(x) { x[c(7, 24), ] <- 0; x }
  )
  refusal <- function(code) {
    tryCatch({
      code
      NULL
    }, error = function(e) list(class = class(e), message = conditionMessage(e)))
  }
  with_block_size(3 * 8 * 8, {
    for (kind in names(spoil)) {
      bad <- spoil[[kind]](x)
      expected <- refusal(dmn_fit(bad, 2, seed = 3, threads = 1, nstart = 1))
      expect_false(is.null(expected))
      expect_true("fastdmm_input_error" %in% expected$class)
      se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = hdf5_assay(t(bad))))
      expect_identical(refusal(dmn_fit(se, 2, seed = 3, threads = 1, nstart = 1)), expected, label = kind)
      sparse <- SummarizedExperiment::SummarizedExperiment(
        assays = list(counts = DelayedArray::DelayedArray(Matrix::Matrix(t(bad), sparse = TRUE))))
      expect_true(DelayedArray::is_sparse(SummarizedExperiment::assay(sparse)))
      expect_identical(refusal(dmn_fit(sparse, 2, seed = 3, threads = 2, nstart = 1)), expected,
                       label = paste("sparse", kind))
      expect_identical(refusal(dmn_fit(hdf5_assay(bad), 2, seed = 3, threads = 1, nstart = 1)), expected,
                       label = paste("rows", kind))
    }
  })
  # Integer NA, and values that are not numbers at all.
  integer_x <- x
  integer_x[x > .Machine$integer.max] <- 123456
  storage.mode(integer_x) <- "integer"
  integer_x[20, 3] <- NA
  expect_identical(refusal(dmn_fit(hdf5_assay(integer_x), 2, seed = 3, nstart = 1)),
                   refusal(dmn_fit(integer_x, 2, seed = 3, nstart = 1)))
  logical_x <- x > 3
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(counts = DelayedArray::DelayedArray(t(logical_x))))
  error <- expect_input_error(dmn_fit(se, 2, seed = 3, nstart = 1), "fastdmm_not_numeric", "counts",
                              "not logical values")
  expect_identical(conditionMessage(error),
                   refusal(dmn_fit(logical_x, 2, seed = 3, nstart = 1))$message)
  empty <- DelayedArray::DelayedArray(matrix(0, 0, 4))
  expect_identical(refusal(dmn_fit(empty, 2, seed = 3, nstart = 1)),
                   refusal(dmn_fit(matrix(0, 0, 4), 2, seed = 3, nstart = 1)))
})

test_that("the objects and files passed in are not modified", {
  skip_without_hdf5()
  x <- delayed_counts()
  file <- tempfile(fileext = ".h5")
  assay <- HDF5Array::writeHDF5Array(t(x), file, "counts", with.dimnames = TRUE)
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = assay))
  se_before <- se
  checksum <- unname(tools::md5sum(file))
  fit <- dmn_fit(se, 2, seed = 3, threads = 2, nstart = 1)
  expect_identical(se, se_before)
  expect_identical(unname(tools::md5sum(file)), checksum)
  expect_identical(as.matrix(SummarizedExperiment::assay(se)), t(x))
})

test_that("clusterRows() reads a DelayedMatrix block by block, as the matrix", {
  skip_without_hdf5()
  skip_if_not_installed("bluster")
  x <- delayed_counts()
  param <- FastDmmParam(k = 1:2, seed = 3, threads = 1)
  expected <- bluster::clusterRows(x, param, full = TRUE)
  got <- with_block_size(3 * 8 * 8, bluster::clusterRows(hdf5_assay(x), param, full = TRUE))
  expect_identical(got$clusters, expected$clusters)
  expect_identical(got$objects$prob, expected$objects$prob)
  expect_identical(names(got$clusters), rownames(x))
})

test_that("the block reader refuses blocks out of order or changed between passes", {
  x <- delayed_counts()[1:30, ]
  build <- function(first, second, offsets = c(0, 10, 20)) {
    builder <- fastdmm:::.block_builder(30, 8)
    for (b in 1:3) fastdmm:::.scan_block(builder, first[[b]], offsets[b], TRUE, 1L)
    expect_null(fastdmm:::.finish_scan(builder))
    for (b in 1:3) fastdmm:::.fill_block(builder, second[[b]], offsets[b], TRUE, 1L)
    fastdmm:::.finish_blocks(builder, 1L)
  }
  blocks <- lapply(0:2, function(b) x[b * 10 + 1:10, ])
  built <- build(blocks, blocks)
  expect_identical(built$table$tile_row,
                   fastdmm:::.build_counts(x, 1L)$table$tile_row)
  changed <- blocks
  # A value the column does not have (a change within its values and
  # non-zeros gives a valid table of the changed data, which cannot be told).
  changed[[2]][3, 4] <- 123457
  expect_error(build(blocks, changed), "changed between its two passes")
  fewer <- blocks
  fewer[[3]][1, ] <- 0
  expect_error(build(blocks, fewer), "changed between its two passes")
  builder <- fastdmm:::.block_builder(30, 8)
  expect_error(fastdmm:::.scan_block(builder, blocks[[2]], 10, TRUE, 1L), "in order")
  expect_error(fastdmm:::.scan_block(builder, x[1:10, 1:7], 0, TRUE, 1L), "taxa")
  expect_error(fastdmm:::.finish_scan(builder), "every block")
})
