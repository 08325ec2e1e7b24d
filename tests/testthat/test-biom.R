# BIOM 2.1 (HDF5) files given by path: read a block of taxa at a time (the
# observation-wise copy) into the same count table, fit and refusals as the table in memory; malformed
# files refused with classed errors.

# A BIOM 2.1 file of the samples x taxa matrix `x`, written with rhdf5 as the
# format's specification lays it out: the table compressed by sample
# (sample/matrix) and by observation (observation/matrix), the ids, and the
# root's attributes. `edit(parts)` may change the parts before they are
# written (NULL drops a dataset or attribute); `order` reverses each sample's
# and each taxon's entries; `zeros` stores explicit zeros in both copies; `integer`
# stores the values as integers; `wide` stores indices and index pointers as
# 64-bit integers and the values as 32-bit floats.
write_biom21 <- function(x, path = tempfile(fileext = ".biom"), edit = identity,
                         order = FALSE, zeros = FALSE, integer = FALSE, wide = FALSE) {
  by_sample <- lapply(seq_len(nrow(x)), function(i) {
    taxa <- if (zeros) seq_len(ncol(x)) else which(x[i, ] != 0)
    if (order) taxa <- rev(taxa)
    taxa
  })
  by_taxon <- lapply(seq_len(ncol(x)), function(j) {
    samples <- if (zeros) seq_len(nrow(x)) else which(x[, j] != 0)
    if (order) samples <- rev(samples)
    samples
  })
  value <- function(v) if (integer) as.integer(v) else as.double(v)
  parts <- list(
    attributes = list(
      id = "No Table ID", type = "OTU table", `format-url` = "http://biom-format.org",
      `format-version` = c(2L, 1L), `generated-by` = "fastdmm tests",
      `creation-date` = "2026-01-01T00:00:00", shape = c(ncol(x), nrow(x)),
      nnz = as.integer(sum(lengths(by_sample)))),
    `observation/ids` = colnames(x),
    `observation/matrix/data` = value(unlist(lapply(seq_len(ncol(x)),
                                                    function(j) x[by_taxon[[j]], j]))),
    `observation/matrix/indices` = as.integer(unlist(by_taxon) - 1L),
    `observation/matrix/indptr` = as.integer(c(0L, cumsum(lengths(by_taxon)))),
    `sample/ids` = rownames(x),
    `sample/matrix/data` = value(unlist(lapply(seq_len(nrow(x)),
                                               function(i) x[i, by_sample[[i]]]))),
    `sample/matrix/indices` = as.integer(unlist(by_sample) - 1L),
    `sample/matrix/indptr` = as.integer(c(0L, cumsum(lengths(by_sample))))
  )
  parts <- edit(parts)
  rhdf5::h5createFile(path)
  for (group in c("observation", "observation/matrix", "observation/metadata",
                  "observation/group-metadata", "sample", "sample/matrix",
                  "sample/metadata", "sample/group-metadata")) {
    rhdf5::h5createGroup(path, group)
  }
  for (name in setdiff(names(parts), "attributes")) {
    if (is.null(parts[[name]])) next
    if (wide && grepl("/matrix/", name)) {
      type <- if (endsWith(name, "/data")) "H5T_IEEE_F32LE" else "H5T_STD_I64LE"
      rhdf5::h5createDataset(path, name, length(parts[[name]]), H5type = type)
    }
    rhdf5::h5write(parts[[name]], path, name)
  }
  file <- rhdf5::H5Fopen(path)
  on.exit(rhdf5::H5Fclose(file))
  for (name in names(parts$attributes)) {
    rhdf5::h5writeAttribute(parts$attributes[[name]], file, name)
  }
  path
}

biom_counts <- function() {
  x <- simulate_counts(n = 25, n_taxa = 9, k = 2, depth = 120, seed = 23)
  # Zeros, and a large count in a later sample.
  x[cbind(c(3, 8, 30, 41), c(2, 5, 5, 9))] <- 0
  x[rowSums(x) == 0, 1] <- 1
  x[37, 4] <- 70000
  storage.mode(x) <- "double"
  x
}

biom_fit_parts <- function(fit) {
  list(goodnessOfFit = fit$goodnessOfFit, group = fit$group, fit = fit$fit,
       mixture = fit$mixture, nle_trace = fit$nle_trace)
}

biom_table_arrays <- function(table) {
  table$pointer <- NULL
  unclass(table)
}

# biomformat reads BIOM 2.1 files only with rhdf5 attached (its reader calls
# h5read() unqualified).
read_with_biomformat <- function(path) {
  withr::local_package("rhdf5")
  biom <- biomformat::read_biom(path)
  t(as.matrix(biomformat::biom_data(biom)))
}

skip_without_biom <- function() {
  skip_if_not_installed("rhdf5")
  skip_if_not_installed("Matrix")
}

expect_biom_refusal <- function(path, class, pattern = NULL, ...) {
  error <- expect_error(fastdmm:::as_counts(path, threads = 1, ...), class = class)
  expect_s3_class(error, "fastdmm_input_error")
  expect_match(conditionMessage(error), "^'counts' ")
  if (!is.null(pattern)) expect_match(conditionMessage(error), pattern)
  invisible(error)
}

test_that("a BIOM 2.1 file gives exactly the fit of the table biomformat reads from it", {
  skip_without_biom()
  skip_if_not_installed("biomformat")
  skip_if_not_installed("withr")
  x <- biom_counts()
  path <- write_biom21(x)
  dense <- read_with_biomformat(path)
  # biomformat, an independent reader, sees x in the file.
  expect_identical(dense, x)
  for (k in 1:2) {
    from_file <- dmn_fit(path, k, seed = 5, threads = 1)
    in_memory <- dmn_fit(dense, k, seed = 5, threads = 1)
    expect_identical(biom_fit_parts(from_file), biom_fit_parts(in_memory), label = k)
  }
  # Sample ids name the samples, observation ids the taxa.
  expect_identical(rownames(mixture(from_file)), rownames(x))
  expect_identical(rownames(fitted(from_file)), colnames(x))
  table <- fastdmm:::as_counts(path, threads = 1)
  expect_identical(table$sample_names, rownames(x))
  expect_identical(table$taxon_names, colnames(x))
  expect_identical(biom_table_arrays(table),
                   biom_table_arrays(fastdmm:::as_counts(x, threads = 1)))
  # Entry points that need the table itself read it whole, as a dgCMatrix.
  expect_identical(predict(from_file, path, threads = 1), predict(from_file, x, threads = 1))
  whole <- fastdmm:::as_count_table(path)
  expect_s4_class(whole, "dgCMatrix")
  expect_identical(as.matrix(whole), x)
  expect_identical(fastdmm:::as_count_table(path, delayed = TRUE)$n_samples, nrow(x))
  group <- rep(c("a", "b"), length.out = nrow(x))
  expect_identical(dmngroup(path, group, k = 1, seed = 2, threads = 1)$b$fit,
                   dmngroup(x, group, k = 1, seed = 2, threads = 1)$b$fit)
})

test_that("a BIOM 2.1 file written by biom-format itself is read as biomformat reads it", {
  skip_without_biom()
  skip_if_not_installed("biomformat")
  skip_if_not_installed("withr")
  path <- system.file("extdata", "rich_sparse_otu_table_hdf5.biom", package = "biomformat")
  skip_if(!nzchar(path), "biomformat's example BIOM 2.1 file is not installed")
  expected <- read_with_biomformat(path)
  table <- fastdmm:::as_counts(path, threads = 1)
  expect_identical(biom_table_arrays(table),
                   biom_table_arrays(fastdmm:::as_counts(expected, threads = 1)))
  expect_identical(dmn_fit(path, 2, seed = 1, threads = 1)$fit,
                   dmn_fit(expected, 2, seed = 1, threads = 1)$fit)
})

test_that("blocks of a few taxa give the same table on any threads", {
  skip_without_biom()
  x <- biom_counts()
  # More taxa than biom_counts() has, so that blocks are many.
  x <- cbind(x, x[nrow(x):1, ], x[, 9:1])
  colnames(x) <- sprintf("t%02d", seq_len(ncol(x)))
  path <- write_biom21(x)
  expected <- biom_table_arrays(fastdmm:::as_counts(x, threads = 1))
  header <- fastdmm:::biom_table(path, "counts")
  nonzeros <- diff(header$indptr)
  expect_equal(as.numeric(nonzeros), as.numeric(colSums(x != 0)))
  for (bytes in c(1, 12 * 40, 12 * 200, 1e9)) {
    blocks <- fastdmm:::biom_blocks(header, bytes)
    # Whole taxa, each once and in order; within budget unless one taxon alone
    # exceeds it.
    expect_identical(blocks$first, c(1L, utils::head(blocks$last, -1L) + 1L))
    expect_identical(utils::tail(blocks$last, 1L), ncol(x))
    in_block <- mapply(function(a, b) sum(nonzeros[a:b]), blocks$first, blocks$last)
    expect_true(all(in_block <= max(1, floor(bytes / 12)) | blocks$first == blocks$last))
    if (bytes <= 12 * 40) expect_gt(nrow(blocks), 10L)
    for (threads in 1:2) {
      built <- fastdmm:::build_biom_counts(header, "counts", threads, block_bytes = bytes)
      table <- fastdmm:::new_count_table(built$table, header$sample_names, header$taxon_names)
      expect_identical(biom_table_arrays(table), expected, label = paste(bytes, threads))
    }
  }
  # Taxa without entries next to taxa larger than the budget.
  entries <- rep(c(0, 5, 0, 0, 30, 1, 1, 1), 50)
  plan <- fastdmm:::biom_blocks(list(indptr = c(0, cumsum(entries)), n_taxa = 400L,
                                     nnz = sum(entries)), 12 * 4)
  expect_identical(plan$first, c(1L, utils::head(plan$last, -1L) + 1L))
  expect_identical(utils::tail(plan$last, 1L), 400L)
  in_block <- mapply(function(a, b) sum(entries[a:b]), plan$first, plan$last)
  expect_true(all(in_block <= 4 | plan$first == plan$last))
  # Greedy: a block ends only where the next taxon would exceed the budget.
  following <- c(entries[plan$last[-nrow(plan)] + 1L], 0)
  expect_true(all(in_block + following > 4 | seq_len(nrow(plan)) == nrow(plan)))
  # The block size DelayedArray's tables are read in sets the BIOM reader's too.
  skip_if_not_installed("DelayedArray")
  old <- DelayedArray::getAutoBlockSize()
  on.exit(suppressMessages(DelayedArray::setAutoBlockSize(old)), add = TRUE)
  suppressMessages(DelayedArray::setAutoBlockSize(12 * 40))
  expect_gt(nrow(fastdmm:::biom_blocks(header)), 10L)
  expect_identical(biom_table_arrays(fastdmm:::as_counts(path, threads = 2)), expected)
  expect_identical(biom_fit_parts(dmn_fit(path, 2, seed = 4, threads = 2)),
                   biom_fit_parts(dmn_fit(x, 2, seed = 4, threads = 2)))
})

test_that("unsorted entries, stored zeros and other data types read as the same table", {
  skip_without_biom()
  x <- biom_counts()
  expected <- biom_table_arrays(fastdmm:::as_counts(x, threads = 1))
  files <- list(
    unsorted = write_biom21(x, order = TRUE),
    zeros = write_biom21(x, zeros = TRUE),
    integer = write_biom21(x, integer = TRUE),
    wide = write_biom21(x, wide = TRUE),
    # BIOM 2.0 states its version as a string; no nnz or shape attribute.
    version_2_0 = write_biom21(x, edit = function(parts) {
      parts$attributes$`format-version` <- NULL
      parts$attributes$shape <- NULL
      parts$attributes$nnz <- NULL
      parts$attributes$format <- "Biological Observation Matrix 2.0.0"
      parts
    })
  )
  for (kind in names(files)) {
    for (bytes in c(1, 12 * 30)) {
      header <- fastdmm:::biom_table(files[[kind]], "counts")
      built <- fastdmm:::build_biom_counts(header, "counts", 1L, block_bytes = bytes)
      table <- fastdmm:::new_count_table(built$table, header$sample_names, header$taxon_names)
      expect_identical(biom_table_arrays(table), expected, label = paste(kind, bytes))
    }
  }
  # A path with a tilde is expanded.
  skip_if_not_installed("withr")
  withr::local_envvar(HOME = dirname(files$zeros))
  expect_identical(
    biom_table_arrays(fastdmm:::as_counts(file.path("~", basename(files$zeros)), threads = 1)),
    expected)
})

test_that("samples without counts are refused as in a matrix, or kept where allowed", {
  skip_without_biom()
  x <- biom_counts()
  x[c(4, 33), ] <- 0
  path <- write_biom21(x)
  error <- expect_biom_refusal(path, "fastdmm_zero_sample", "2 samples whose counts are all zero")
  expect_match(conditionMessage(error), "s04, s33")
  expect_identical(
    biom_table_arrays(fastdmm:::as_counts(path, allow_zero_samples = TRUE, threads = 1)),
    biom_table_arrays(fastdmm:::as_counts(x, allow_zero_samples = TRUE, threads = 1)))
  expect_error(dmn_fit(path, 2, threads = 1), class = "fastdmm_zero_sample")
})

test_that("bad values in a BIOM file are refused as in a matrix", {
  skip_without_biom()
  x <- biom_counts()
  negative <- x
  negative[5, 2] <- -3
  fractional <- x
  fractional[c(6, 40), 3] <- 2.5
  expect_biom_refusal(write_biom21(negative), "fastdmm_bad_value", "negative values in 1 cell")
  expect_biom_refusal(write_biom21(fractional), "fastdmm_bad_value",
                      "non-integer values in 2 cells")
  missing <- write_biom21(x, edit = function(parts) {
    parts$`observation/matrix/data`[c(5, 60)] <- c(NA, NaN)
    parts
  })
  expect_biom_refusal(missing, "fastdmm_bad_value", "NA values in 2 cells")
  expect_error(dmn_fit(write_biom21(negative), 2, threads = 1), class = "fastdmm_bad_value")
})

test_that("a BIOM 1.0, a missing, truncated or malformed file is refused with its class", {
  skip_without_biom()
  x <- biom_counts()
  bad <- "fastdmm_bad_biom"
  # No such file, and a directory.
  missing <- file.path(tempdir(), "no-such-table.biom")
  error <- expect_biom_refusal(missing, "fastdmm_missing_file", "no file exists")
  expect_s3_class(error, bad)
  expect_biom_refusal(tempdir(), "fastdmm_missing_file", "directory")
  expect_error(fastdmm:::as_counts(NA_character_), class = "fastdmm_not_a_table")
  # BIOM 1.0 (JSON), as biomformat writes it.
  skip_if_not_installed("biomformat")
  json <- tempfile(fileext = ".biom")
  biomformat::write_biom(biomformat::make_biom(t(x)), json)
  error <- expect_biom_refusal(json, "fastdmm_biom_json", "BIOM 1.0 \\(JSON\\)")
  expect_s3_class(error, bad)
  expect_match(conditionMessage(error), "biomformat::read_biom", fixed = TRUE)
  # Neither HDF5 nor JSON.
  text <- tempfile(fileext = ".tsv")
  utils::write.table(x, text, sep = "\t")
  expect_biom_refusal(text, bad, "neither a BIOM 2.1")
  # Truncated: the HDF5 signature is there, the rest of the file is not.
  good <- write_biom21(x)
  bytes <- readBin(good, "raw", file.size(good))
  truncated <- tempfile(fileext = ".biom")
  writeBin(bytes[seq_len(length(bytes) %/% 2L)], truncated)
  expect_biom_refusal(truncated, bad, "truncated or damaged")
  # HDF5, but not a BIOM table.
  other <- tempfile(fileext = ".h5")
  rhdf5::h5createFile(other)
  rhdf5::h5write(x, other, "counts")
  expect_biom_refusal(other, bad, "not a BIOM table")
  # Another version.
  edited <- function(edit) write_biom21(x, edit = edit)
  expect_biom_refusal(edited(function(p) {
    p$attributes$`format-version` <- c(3L, 0L)
    p
  }), bad, "format-version 3.0")
  # A dataset missing.
  expect_biom_refusal(edited(function(p) {
    p$`observation/matrix/indices` <- NULL
    p
  }), bad, "lacks the dataset observation/matrix/indices")
  expect_biom_refusal(edited(function(p) {
    p$`sample/ids` <- NULL
    p
  }), bad, "lacks the dataset sample/ids")
  # Index pointers that decrease, end short, or have the wrong length.
  corrupt_indptr <- function(change) {
    edited(function(p) {
      p$`observation/matrix/indptr` <- change(p$`observation/matrix/indptr`)
      p
    })
  }
  expect_biom_refusal(corrupt_indptr(function(v) replace(v, 4, v[6])), bad,
                      "indptr is not a valid index")
  expect_biom_refusal(corrupt_indptr(function(v) replace(v, length(v), v[length(v)] - 1L)),
                      bad, "indptr is not a valid index")
  expect_biom_refusal(corrupt_indptr(function(v) replace(v, 1L, 1L)), bad,
                      "indptr is not a valid index")
  expect_biom_refusal(corrupt_indptr(function(v) v[-2]), bad, "indptr has 9 entries")
  # Lengths that disagree with each other or with the attributes.
  expect_biom_refusal(edited(function(p) {
    p$`observation/matrix/data` <- p$`observation/matrix/data`[-1]
    p
  }), bad, "differ in length")
  expect_biom_refusal(edited(function(p) {
    p$attributes$shape <- c(9L, 49L)
    p
  }), bad, "shape attribute")
  expect_biom_refusal(edited(function(p) {
    p$attributes$nnz <- p$attributes$nnz + 1L
    p
  }), bad, "nnz attribute")
  expect_biom_refusal(edited(function(p) {
    p$`observation/ids` <- p$`observation/ids`[-1]
    p
  }), bad, "shape attribute")
  # Samples that do not exist, or a sample twice in one taxon.
  expect_biom_refusal(edited(function(p) {
    p$`observation/matrix/indices`[20] <- nrow(x)
    p
  }), bad, "not samples")
  expect_biom_refusal(edited(function(p) {
    p$`observation/matrix/indices`[30] <- -1L
    p
  }), bad, "not samples")
  duplicated_taxon <- edited(function(p) {
    first <- p$`observation/matrix/indptr`[3] + 1L
    p$`observation/matrix/indices`[first + 1L] <- p$`observation/matrix/indices`[first]
    p
  })
  expect_biom_refusal(duplicated_taxon, bad, "more than once within a taxon")
  expect_error(predict(dmn_fit(x, 1, threads = 1), duplicated_taxon), class = bad)
  # Values that are not numbers.
  expect_biom_refusal(edited(function(p) {
    p$`observation/matrix/data` <- as.character(p$`observation/matrix/data`)
    p
  }), bad, "character values")
})

test_that("the taxon block builder refuses blocks out of turn and never writes out of place", {
  skip_if_not_installed("Matrix")
  x <- Matrix::Matrix(biom_counts(), sparse = TRUE)
  n <- nrow(x)
  expected <- fastdmm:::.build_counts(x, 1L)$table
  built <- function(bounds, capacity = length(x@x), x = get("x", parent.frame())) {
    builder <- fastdmm:::.taxon_builder(n, ncol(x), capacity)
    for (b in seq_len(length(bounds) - 1L)) {
      taxa <- (bounds[b] + 1L):bounds[b + 1L]
      fastdmm:::.add_taxa(builder, x[, taxa, drop = FALSE], bounds[b], 2L)
    }
    fastdmm:::.finish_taxa(builder, 1L)
  }
  # Any split into blocks gives .build_counts()'s table.
  for (bounds in list(c(0L, 9L), c(0L, 1L, 5L, 9L), 0:9)) {
    table <- built(bounds)$table
    table$pointer <- expected$pointer <- NULL
    expect_identical(table, expected)
  }
  builder <- fastdmm:::.taxon_builder(n, ncol(x), length(x@x))
  expect_error(fastdmm:::.add_taxa(builder, x[, 2:3], 1L, 1L), "in order")
  expect_error(fastdmm:::.add_taxa(builder, x[-1, 1:2], 0L, 1L), "samples")
  expect_error(fastdmm:::.finish_taxa(builder, 1L), "cover 0 of 9 taxa")
  expect_error(fastdmm:::.add_taxa(builder, "a", 0L, 1L), "'block'")
  # Room for fewer non-zeros than the blocks hold.
  expect_error(built(c(0L, 9L), capacity = 10), "room")
  # Bad values are counted over every block.
  bad <- x
  bad[2, 1] <- -1
  bad[3, 7] <- 0.5
  expect_identical(built(c(0L, 4L, 9L), x = bad)$problems[c("negative", "fractional")],
                   c(negative = 1, fractional = 1))
  expect_error(fastdmm:::.add_taxa(NULL, x, 0L, 1L), "not a taxon block builder")
  finished <- fastdmm:::.taxon_builder(n, 1L, 100)
  fastdmm:::.add_taxa(finished, x[, 1, drop = FALSE], 0L, 1L)
  fastdmm:::.finish_taxa(finished, 1L)
  expect_error(fastdmm:::.add_taxa(finished, x[, 1, drop = FALSE], 0L, 1L), "has finished")
})

test_that(".taxa_in_order() says whether each taxon lists its samples in increasing order", {
  skip_if_not_installed("Matrix")
  x <- Matrix::Matrix(biom_counts(), sparse = TRUE)
  # Independently: every index a sample, strictly increasing within each column.
  in_order <- function(block) {
    column <- rep.int(seq_len(ncol(block)), diff(block@p))
    all(block@i >= 0L & block@i < nrow(block)) &&
      !any(diff(block@i) <= 0L & diff(column) == 0L)
  }
  expect_true(in_order(x))
  expect_true(fastdmm:::.taxa_in_order(x))
  # Entries of one column swapped, a sample listed twice, an index past the samples.
  column <- which(diff(x@p) >= 2L)[1]
  first <- x@p[column] + 1L
  edits <- list(
    swapped = function(b) { b@i[first + 0:1] <- b@i[first + 1:0]; b },
    repeated = function(b) { b@i[first + 1L] <- b@i[first]; b },
    outside = function(b) { b@i[length(b@i)] <- nrow(b); b })
  for (edit in names(edits)) {
    block <- edits[[edit]](x)
    expect_false(in_order(block), label = edit)
    expect_identical(fastdmm:::.taxa_in_order(block), in_order(block), label = edit)
  }
  # A column boundary is not an order break.
  expect_true(fastdmm:::.taxa_in_order(x[, c(2L, 1L)]))
  expect_error(fastdmm:::.taxa_in_order("a"), "'block'")
  expect_error(fastdmm:::.taxa_in_order(as.matrix(x)), "'block'")
})

test_that("a fit too large for the memory is refused from a BIOM file's header, before reading it", {
  skip_without_biom()
  skip_if_not_installed("withr")
  x <- biom_counts()
  # A negative value: reading the blocks would refuse it (fastdmm_bad_value).
  x[5, 2] <- -3
  path <- write_biom21(x)
  header <- fastdmm:::biom_table(path, "counts")
  # What the fit needs by the header's estimate (no distinct counts known yet):
  # the tiles at 4 B per non-zero and 20 B per sample beside the fit, or 12 B
  # per non-zero while the table is built.
  fit <- fastdmm:::fit_memory_estimate(nrow(x), ncol(x), header$nnz, 0, 3, 2L,
                                       fastdmm:::resolve_search(dmn_search(), NULL), FALSE)
  needed <- max(12 * header$nnz, 4 * header$nnz + fit) + 20 * nrow(x)
  withr::local_options(fastdmm.available_memory = needed - 1)
  error <- expect_error(dmn_fit(path, 3, threads = 1), class = "fastdmm_insufficient_memory")
  expect_match(conditionMessage(error), "'k' = 3 on 50 samples x 9 taxa")
  expect_match(conditionMessage(error), "At most k = 2 would fit")
  expect_identical(error$needed, needed)
  # With room for it, the file is read and its bad value refused.
  withr::local_options(fastdmm.available_memory = needed)
  expect_error(dmn_fit(path, 3, threads = 1), class = "fastdmm_bad_value")
  # Arguments the check cannot use are left to dmn_fit()'s own checks.
  good <- write_biom21(biom_counts())
  withr::local_options(fastdmm.available_memory = 1)
  expect_error(dmn_fit(good, 0, threads = 1), class = "fastdmm_bad_argument")
  expect_error(dmn_fit(good, threads = 1), "'k' is missing")
})
