# BIOM 2.1 (HDF5) files given by path as `counts`, read a block of samples at a
# time into the count table, never as a dense (or even a whole sparse) matrix.
#
# A BIOM 2.x file holds its table twice, compressed by observation (taxon) in
# observation/matrix and compressed by sample in sample/matrix: for sample j
# (0-based), sample/matrix/indptr[j] .. indptr[j + 1] - 1 index its entries in
# sample/matrix/indices (0-based taxa) and sample/matrix/data (the counts).
# sample/ids and observation/ids name the samples and taxa, and the root's
# attribute shape is (taxa, samples). Only the sample-wise copy is read.

# TRUE for what as_count_table() takes as the path of a BIOM file: a single
# string (a character matrix or vector of several is a table, or nothing).
is_biom_path <- function(x) {
  is.character(x) && !is.object(x) && length(x) == 1L && is.null(dim(x))
}

# Signals a fastdmm_input_error of class fastdmm_bad_biom (and `class`) about the
# file `path` given as `arg`.
abort_biom <- function(arg, path, problem, class = NULL) {
  abort_input(arg, sprintf("is \"%s\", %s", path, problem),
              c(class, "fastdmm_bad_biom"))
}

# A BIOM file opened and checked, ready for build_biom_counts(): its path,
# shape, ids and sample-wise index pointers (the only part of the table held
# before the blocks are read: 4 or 8 bytes per sample). Refuses, with class
# fastdmm_bad_biom, a path that names no file, a BIOM 1.0 (JSON) file, a file
# that is not HDF5, is truncated or is not a BIOM 2 table, and one whose
# datasets disagree with each other or with its attributes.
biom_table <- function(path, arg) {
  if (is.na(path) || !nzchar(path)) {
    abort_input(arg, sprintf(paste(
      "must be a count table or the path of a BIOM 2.1 file, not %s"),
      describe_value(path)), "fastdmm_not_a_table")
  }
  file <- path.expand(path)
  if (!file.exists(file) || dir.exists(file)) {
    abort_biom(arg, path, if (dir.exists(file)) {
      "a directory, not a BIOM file"
    } else {
      "a path where no file exists (a single string is read as the path of a BIOM 2.1 file)"
    }, "fastdmm_missing_file")
  }
  # Told apart before rhdf5 is needed.
  if (is_json_file(file)) {
    abort_biom(arg, path, paste(
      "a BIOM 1.0 (JSON) file; fastdmm reads BIOM 2.1 (HDF5) files, the format",
      "of QIIME 2 and current biom-format: convert it with `biom convert -i in.biom",
      "-o out.biom --to-hdf5`, or read it with biomformat::read_biom() and pass",
      "t(as.matrix(biomformat::biom_data(...))) (samples in rows)"),
      "fastdmm_biom_json")
  }
  require_package("rhdf5", arg, "is the path of a file, read as a BIOM 2.1 (HDF5) table")
  if (!isTRUE(suppressWarnings(rhdf5::H5Fis_hdf5(file)))) {
    abort_biom(arg, path, paste(
      "a file that is neither a BIOM 2.1 (HDF5) file nor a BIOM 1.0 (JSON) file",
      "(a single string is read as the path of a BIOM file)"))
  }
  handle <- tryCatch(rhdf5::H5Fopen(file, flags = "H5F_ACC_RDONLY"),
                     error = function(e) e)
  if (inherits(handle, "error")) {
    abort_biom(arg, path, sprintf(
      "an HDF5 file that cannot be opened (truncated or damaged?): %s",
      conditionMessage(handle)))
  }
  on.exit(rhdf5::H5Fclose(handle), add = TRUE)
  biom_header(handle, path, arg)
}

# The first character of the file other than white space is "{".
is_json_file <- function(file) {
  start <- tryCatch(readBin(file, "raw", 64L), error = function(e) raw())
  start <- start[!start %in% charToRaw(" \t\r\n")]
  length(start) > 0L && identical(start[1L], charToRaw("{"))
}

# The datasets that as_counts() reads.
biom_datasets <- c("sample/ids", "observation/ids", "sample/matrix/indptr",
                   "sample/matrix/indices", "sample/matrix/data")

biom_header <- function(handle, path, arg) {
  bad <- function(problem) abort_biom(arg, path, problem)
  # Reads that fail (a truncated dataset) are refused as damaged files.
  read <- function(name, ...) {
    tryCatch(rhdf5::h5read(handle, name, ...), error = function(e) {
      bad(sprintf("a BIOM file whose dataset %s cannot be read (truncated or damaged?): %s",
                  name, conditionMessage(e)))
    })
  }
  attributes <- tryCatch(rhdf5::h5readAttributes(handle, "/"), error = function(e) list())
  version <- attributes[["format-version"]]
  if (is.null(version) && !is.null(attributes[["format"]])) {
    # BIOM 2.0 states its version in words: "Biological Observation Matrix 2.0.0".
    version <- suppressWarnings(as.numeric(
      regmatches(attributes[["format"]], regexpr("[0-9]+", attributes[["format"]]))))
  }
  exists <- vapply(biom_datasets, function(name) {
    isTRUE(tryCatch(rhdf5::H5Lexists(handle, name), error = function(e) FALSE))
  }, logical(1))
  if (is.null(version) && !all(exists)) {
    bad("an HDF5 file but not a BIOM table (it has no format-version attribute)")
  }
  if (!is.null(version) && (!is.numeric(version) || length(version) < 1L ||
                            !identical(as.numeric(version[1L]), 2))) {
    bad(sprintf(paste("a BIOM file of format-version %s; fastdmm reads BIOM 2.1",
                      "(HDF5) files (2.0 too)"),
                paste(format(version), collapse = ".")))
  }
  if (!all(exists)) {
    bad(sprintf("a BIOM file that lacks the dataset%s %s that a BIOM 2.1 table must have",
                plural(sum(!exists)), format_names(biom_datasets[!exists])))
  }
  lengths <- vapply(biom_datasets, function(name) {
    dims <- tryCatch({
      dataset <- rhdf5::H5Dopen(handle, name)
      on.exit(rhdf5::H5Dclose(dataset))
      space <- rhdf5::H5Dget_space(dataset)
      on.exit(rhdf5::H5Sclose(space), add = TRUE)
      rhdf5::H5Sget_simple_extent_dims(space)$size
    }, error = function(e) NULL)
    if (length(dims) != 1L) {
      bad(sprintf("a BIOM file whose dataset %s is not a vector", name))
    }
    as.numeric(dims)
  }, numeric(1))
  n_samples <- lengths[["sample/ids"]]
  n_taxa <- lengths[["observation/ids"]]
  nnz <- lengths[["sample/matrix/data"]]
  shape <- attributes[["shape"]]
  if (!is.null(shape) && (length(shape) != 2L ||
                          !isTRUE(all(as.numeric(shape) == c(n_taxa, n_samples))))) {
    bad(sprintf(paste("a BIOM file whose shape attribute (%s) does not match its %s taxa",
                      "(observation/ids) and %s samples (sample/ids)"),
                paste(format(shape), collapse = " x "), format(n_taxa), format(n_samples)))
  }
  if (lengths[["sample/matrix/indices"]] != nnz) {
    bad(sprintf(paste("a BIOM file whose sample/matrix/indices (%s entries) and",
                      "sample/matrix/data (%s) differ in length"),
                format(lengths[["sample/matrix/indices"]]), format(nnz)))
  }
  if (!is.null(attributes[["nnz"]]) &&
      !isTRUE(as.numeric(attributes[["nnz"]][1L]) == nnz)) {
    bad(sprintf(paste("a BIOM file whose nnz attribute (%s) differs from the %s entries",
                      "of sample/matrix/data"), format(attributes[["nnz"]][1L]), format(nnz)))
  }
  if (lengths[["sample/matrix/indptr"]] != n_samples + 1) {
    bad(sprintf(paste("a BIOM file whose sample/matrix/indptr has %s entries, not one more",
                      "than its %s samples"), format(lengths[["sample/matrix/indptr"]]),
                format(n_samples)))
  }
  if (n_samples == 0 || n_taxa == 0) {
    abort_input(arg, sprintf("is empty (%s samples x %s taxa)", format(n_samples),
                             format(n_taxa)), "fastdmm_empty")
  }
  if (n_samples > int_max || n_taxa > int_max) {
    bad(sprintf("a BIOM file whose %s samples x %s taxa exceed R's %d rows or columns",
                format(n_samples), format(n_taxa), int_max))
  }
  indptr <- as.vector(read("sample/matrix/indptr", bit64conversion = "double"))
  if (!is.numeric(indptr) || anyNA(indptr) || indptr[1L] != 0 ||
      is.unsorted(indptr) || indptr[length(indptr)] != nnz) {
    bad(sprintf(paste("a BIOM file whose sample/matrix/indptr is not a valid index: it must",
                      "start at 0, never decrease and end at the %s entries of",
                      "sample/matrix/data"), format(nnz)))
  }
  sample_ids <- as.character(as.vector(read("sample/ids")))
  taxon_ids <- as.character(as.vector(read("observation/ids")))
  structure(list(path = path, file = normalizePath(path.expand(path)),
                 n_samples = as.integer(n_samples), n_taxa = as.integer(n_taxa), nnz = nnz,
                 indptr = indptr, sample_names = sample_ids, taxon_names = taxon_ids),
            class = "fastdmm_biom_table")
}

# The blocks of whole samples as_counts() reads: a data.frame of the first and
# last sample (1-based) of each block, each block's non-zeros at most
# block_bytes / 12 (8 bytes per value, 4 per index) unless one sample has more.
biom_blocks <- function(table, block_bytes = biom_block_bytes()) {
  budget <- min(max(1, floor(block_bytes / 12)), int_max)
  indptr <- table$indptr
  n <- table$n_samples
  # Room for the blocks, doubled when full (blocks of one sample each at worst).
  first <- last <- integer(min(n, 2 * ceiling(table$nnz / budget) + 16))
  count <- 0L
  start <- 1L
  while (start <= n) {
    # The last sample whose entries end within the budget from the block's start
    # (indptr[end + 1] <= limit), by bisection: indptr is sorted.
    limit <- indptr[start] + budget
    low <- start
    high <- n + 1L
    while (high - low > 1L) {
      middle <- (low + high) %/% 2L
      if (indptr[middle + 1L] <= limit) low <- middle else high <- middle
    }
    end <- low
    if (count == length(first)) {
      first <- c(first, integer(length(first)))
      last <- c(last, integer(length(last)))
    }
    count <- count + 1L
    first[count] <- start
    last[count] <- end
    start <- end + 1L
  }
  data.frame(first = first[seq_len(count)], last = last[seq_len(count)])
}

# The size of the blocks on-disk tables are read in: DelayedArray's automatic
# block size when DelayedArray is installed (as for a DelayedMatrix), 100 MB
# otherwise.
biom_block_bytes <- function() {
  if (requireNamespace("DelayedArray", quietly = TRUE)) {
    as.numeric(DelayedArray::getAutoBlockSize())
  } else {
    1e8
  }
}

# Samples first..last of the file as a taxa x samples dgCMatrix (its non-zeros
# only, as stored: indices need not be sorted), after checking its indices and
# values are numbers the reader takes. `handle` is the open file.
read_biom_block <- function(handle, table, first, last, arg) {
  bad <- function(problem) abort_biom(arg, table$path, problem)
  from <- table$indptr[first]
  to <- table$indptr[last + 1L]
  count <- to - from
  read <- function(name) {
    if (count == 0) return(numeric())
    values <- tryCatch(rhdf5::h5read(handle, name, start = from + 1, count = count),
                       error = function(e) {
                         bad(sprintf(paste("a BIOM file whose dataset %s cannot be read",
                                           "(truncated or damaged?): %s"), name,
                                     conditionMessage(e)))
                       })
    # A vector without copying it (as.vector() would copy the one-dimensional array).
    dim(values) <- NULL
    values
  }
  indices <- read("sample/matrix/indices")
  if (!is.numeric(indices) || anyNA(indices) ||
      (length(indices) > 0L && (min(indices) < 0 || max(indices) >= table$n_taxa))) {
    bad(sprintf(paste("a BIOM file whose sample/matrix/indices has entries that are not taxa",
                      "(0 to %d) in samples %d to %d"), table$n_taxa - 1L, first, last))
  }
  values <- read("sample/matrix/data")
  if (!is.numeric(values)) {
    bad(sprintf("a BIOM file whose sample/matrix/data holds %s values, not numbers",
                typeof(values)))
  }
  block <- methods::new(methods::getClass("dgCMatrix", where = asNamespace("Matrix")))
  block@Dim <- c(table$n_taxa, last - first + 1L)
  block@p <- as.integer(table$indptr[first:(last + 1L)] - from)
  block@i <- as.integer(indices)
  block@x <- as.double(values)
  block
}

# What .build_counts() gives for the file's table, built from blocks of whole
# samples (biom_blocks()) read twice, as build_delayed_counts() reads a
# DelayedMatrix: the first pass validates the values and fixes the table's
# layout, the second writes each non-zero in its final place. In memory: the
# compact table, the sample-wise index pointers and one block (its non-zeros as
# read, and again compressed by taxon).
build_biom_counts <- function(table, arg, threads, block_bytes = biom_block_bytes()) {
  require_package("Matrix", arg, "is the path of a BIOM file")
  blocks <- biom_blocks(table, block_bytes)
  handle <- tryCatch(rhdf5::H5Fopen(table$file, flags = "H5F_ACC_RDONLY"),
                     error = function(e) {
                       abort_biom(arg, table$path, sprintf(
                         "an HDF5 file that cannot be opened (truncated or damaged?): %s",
                         conditionMessage(e)))
                     })
  on.exit(rhdf5::H5Fclose(handle), add = TRUE)
  builder <- .block_builder(table$n_samples, table$n_taxa)
  each_block <- function(pass) {
    unreclaimed <- 0
    for (b in seq_len(nrow(blocks))) {
      block <- read_biom_block(handle, table, blocks$first[b], blocks$last[b], arg)
      pass(builder, block, blocks$first[b] - 1, FALSE, threads)
      # As in build_delayed_counts(): used blocks are collected as we go.
      unreclaimed <- unreclaimed + 12 * length(block@x)
      rm(block)
      if (unreclaimed >= block_garbage_bytes) {
        gc(verbose = FALSE, full = FALSE)
        unreclaimed <- 0
      }
    }
  }
  tryCatch(each_block(.scan_block), error = function(e) {
    # The one refusal of well-formed blocks the reader makes: a taxon twice in
    # a sample shows up as a repeated row of a column re-compressed by taxon.
    if (grepl("row indices must increase", conditionMessage(e), fixed = TRUE)) {
      abort_biom(arg, table$path, paste(
        "a BIOM file whose sample/matrix/indices lists a taxon more than once within a sample"))
    }
    stop(e)
  })
  problems <- .finish_scan(builder)
  if (!is.null(problems)) return(list(problems = problems))
  each_block(.fill_block)
  .finish_blocks(builder, threads)
}

# The file's table as a samples x taxa dgCMatrix, for the entry points that
# need the table itself (predict() matches taxa by name, dmngroup() subsets
# samples): the whole table in memory, still never dense.
read_biom_matrix <- function(path, arg) {
  table <- biom_table(path, arg)
  require_package("Matrix", arg, "is the path of a BIOM file")
  if (table$nnz > int_max) {
    abort_biom(arg, path, sprintf(
      "a BIOM file whose %s non-zeros are more than a dgCMatrix holds; %s",
      format(table$nnz), "give it to dmn_fit() directly"))
  }
  handle <- rhdf5::H5Fopen(table$file, flags = "H5F_ACC_RDONLY")
  on.exit(rhdf5::H5Fclose(handle), add = TRUE)
  block <- read_biom_block(handle, table, 1L, table$n_samples, arg)
  # A taxon twice within a sample: the same (taxon, sample) cell twice.
  if (anyDuplicated(block@i + as.double(table$n_taxa) *
                    rep.int(seq_len(table$n_samples) - 1, diff(block@p)))) {
    abort_biom(arg, path, paste("a BIOM file whose sample/matrix/indices lists a taxon more",
                                "than once within a sample"))
  }
  matrix <- Matrix::sparseMatrix(i = block@i, p = block@p, x = block@x, index1 = FALSE,
                                 dims = block@Dim,
                                 dimnames = list(table$taxon_names, table$sample_names))
  Matrix::t(matrix)
}
