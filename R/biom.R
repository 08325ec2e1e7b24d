# BIOM 2.1 (HDF5) files given by path as `counts`, read a block of taxa at a
# time into the count table, never as a dense (or even a whole sparse) matrix.
#
# A BIOM 2.x file holds its table twice, compressed by observation (taxon) in
# observation/matrix and compressed by sample in sample/matrix: for taxon j
# (0-based), observation/matrix/indptr[j] .. indptr[j + 1] - 1 index its entries
# in observation/matrix/indices (0-based samples) and observation/matrix/data
# (the counts). sample/ids and observation/ids name the samples and taxa, and
# the root's attribute shape is (taxa, samples). Only the observation-wise copy
# is read: it is the count table's own layout (by taxon), so one pass over it
# builds the table, where the sample-wise copy needs two (a taxon's distinct
# values are known only once every sample has been read).

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
# shape, ids and observation-wise index pointers (the only part of the table
# held before the blocks are read: 8 bytes per taxon). Refuses, with class
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
biom_datasets <- c("sample/ids", "observation/ids", "observation/matrix/indptr",
                   "observation/matrix/indices", "observation/matrix/data")

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
  nnz <- lengths[["observation/matrix/data"]]
  shape <- attributes[["shape"]]
  if (!is.null(shape) && (length(shape) != 2L ||
                          !isTRUE(all(as.numeric(shape) == c(n_taxa, n_samples))))) {
    bad(sprintf(paste("a BIOM file whose shape attribute (%s) does not match its %s taxa",
                      "(observation/ids) and %s samples (sample/ids)"),
                paste(format(shape), collapse = " x "), format(n_taxa), format(n_samples)))
  }
  if (lengths[["observation/matrix/indices"]] != nnz) {
    bad(sprintf(paste("a BIOM file whose observation/matrix/indices (%s entries) and",
                      "observation/matrix/data (%s) differ in length"),
                format(lengths[["observation/matrix/indices"]]), format(nnz)))
  }
  if (!is.null(attributes[["nnz"]]) &&
      !isTRUE(as.numeric(attributes[["nnz"]][1L]) == nnz)) {
    bad(sprintf(paste("a BIOM file whose nnz attribute (%s) differs from the %s entries",
                      "of observation/matrix/data"), format(attributes[["nnz"]][1L]),
                format(nnz)))
  }
  if (lengths[["observation/matrix/indptr"]] != n_taxa + 1) {
    bad(sprintf(paste("a BIOM file whose observation/matrix/indptr has %s entries, not one",
                      "more than its %s taxa"), format(lengths[["observation/matrix/indptr"]]),
                format(n_taxa)))
  }
  if (n_samples == 0 || n_taxa == 0) {
    abort_input(arg, sprintf("is empty (%s samples x %s taxa)", format(n_samples),
                             format(n_taxa)), "fastdmm_empty")
  }
  if (n_samples > int_max || n_taxa > int_max) {
    bad(sprintf("a BIOM file whose %s samples x %s taxa exceed R's %d rows or columns",
                format(n_samples), format(n_taxa), int_max))
  }
  indptr <- as.vector(read("observation/matrix/indptr", bit64conversion = "double"))
  if (!is.numeric(indptr) || anyNA(indptr) || indptr[1L] != 0 ||
      is.unsorted(indptr) || indptr[length(indptr)] != nnz) {
    bad(sprintf(paste("a BIOM file whose observation/matrix/indptr is not a valid index: it",
                      "must start at 0, never decrease and end at the %s entries of",
                      "observation/matrix/data"), format(nnz)))
  }
  sample_ids <- as.character(as.vector(read("sample/ids")))
  taxon_ids <- as.character(as.vector(read("observation/ids")))
  structure(list(path = path, file = normalizePath(path.expand(path)),
                 n_samples = as.integer(n_samples), n_taxa = as.integer(n_taxa), nnz = nnz,
                 indptr = indptr, sample_names = sample_ids, taxon_names = taxon_ids),
            class = "fastdmm_biom_table")
}

# The blocks of whole taxa as_counts() reads: a data.frame of the first and
# last taxon (1-based) of each block, each block's non-zeros at most
# block_bytes / 12 (8 bytes per value, 4 per index) unless one taxon has more.
biom_blocks <- function(table, block_bytes = biom_block_bytes()) {
  budget <- max(1, floor(block_bytes / 12))
  indptr <- table$indptr
  n <- table$n_taxa
  first <- last <- integer(0)
  start <- 1L
  while (start <= n) {
    # The last taxon whose entries end within the budget from the block's start
    # (indptr[end + 1] <= limit), by bisection: indptr is sorted.
    limit <- indptr[start] + budget
    low <- start
    high <- n + 1L
    while (high - low > 1L) {
      middle <- (low + high) %/% 2L
      if (indptr[middle + 1L] <= limit) low <- middle else high <- middle
    }
    first <- c(first, start)
    last <- c(last, low)
    start <- low + 1L
  }
  data.frame(first = first, last = last)
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

# Taxa first..last of the file as a samples x taxa dgCMatrix: its entries as
# stored (stored zeros included), after checking its values are numbers. A
# taxon's samples may be out of order or repeated, and indices out of range:
# the builder refuses such a block, and sort_biom_block() then sorts it or
# says what is wrong. `handle` is the open file.
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
  indices <- read("observation/matrix/indices")
  if (!is.numeric(indices)) {
    bad(sprintf("a BIOM file whose observation/matrix/indices holds %s values, not numbers",
                typeof(indices)))
  }
  # 64-bit indices arrive as doubles; out-of-range ones are caught in
  # sort_biom_block() (as NA here).
  if (!is.integer(indices)) indices <- suppressWarnings(as.integer(indices))
  values <- read("observation/matrix/data")
  if (!is.numeric(values)) {
    bad(sprintf("a BIOM file whose observation/matrix/data holds %s values, not numbers",
                typeof(values)))
  }
  block <- methods::new(methods::getClass("dgCMatrix", where = asNamespace("Matrix")))
  block@Dim <- c(table$n_samples, last - first + 1L)
  block@p <- as.integer(table$indptr[first:(last + 1L)] - from)
  block@i <- indices
  block@x <- as.double(values)
  block
}

# A block read_biom_block() gave whose indices are not each taxon's samples in
# increasing order: refused when an index is not a sample or a sample appears
# twice within a taxon, else sorted (BIOM does not require the order).
sort_biom_block <- function(block, table, first, last, arg) {
  bad <- function(problem) abort_biom(arg, table$path, problem)
  indices <- block@i
  if (anyNA(indices) || (length(indices) > 0L &&
                         (min(indices) < 0L || max(indices) >= table$n_samples))) {
    bad(sprintf(paste("a BIOM file whose observation/matrix/indices has entries that are not",
                      "samples (0 to %s) in taxa %d to %d"), format(table$n_samples - 1),
                first, last))
  }
  taxon <- rep.int(seq_len(ncol(block)), diff(block@p))
  order <- order(taxon, indices, method = "radix")
  indices <- indices[order]
  if (any(diff(indices) == 0L & diff(taxon) == 0L)) {
    bad(paste("a BIOM file whose observation/matrix/indices lists a sample more than",
              "once within a taxon"))
  }
  block@i <- indices
  block@x <- block@x[order]
  block
}

# Adds a block of taxa to the builder, sorting it first if it must be (the
# builder takes each taxon's samples in increasing order).
add_biom_block <- function(builder, block, table, first, last, arg, threads) {
  if (!.taxa_in_order(block)) block <- sort_biom_block(block, table, first, last, arg)
  .add_taxa(builder, block, first - 1, threads)
}

# What .build_counts() gives for the file's table, built from blocks of whole
# taxa (biom_blocks()) read once: each block holds all of its taxa's values, so
# it is validated and written in its final place at once. In memory: the
# compact table, the index pointers and one block.
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
  builder <- .taxon_builder(table$n_samples, table$n_taxa, table$nnz)
  unreclaimed <- 0
  for (b in seq_len(nrow(blocks))) {
    block <- read_biom_block(handle, table, blocks$first[b], blocks$last[b], arg)
    add_biom_block(builder, block, table, blocks$first[b], blocks$last[b], arg, threads)
    # As in build_delayed_counts(): used blocks are collected as we go.
    unreclaimed <- unreclaimed + 12 * length(block@x)
    rm(block)
    if (unreclaimed >= block_garbage_bytes) {
      gc(verbose = FALSE, full = FALSE)
      unreclaimed <- 0
    }
  }
  .finish_taxa(builder, threads)
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
  matrix <- read_biom_block(handle, table, 1L, table$n_taxa, arg)
  # Checked and sorted as a block the builder refused would be.
  matrix <- sort_biom_block(matrix, table, 1L, table$n_taxa, arg)
  matrix@Dimnames <- list(table$sample_names, table$taxon_names)
  # Stored zeros dropped, as sparseMatrix() would.
  Matrix::drop0(matrix)
}
