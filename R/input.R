# Turning what users pass in into the compressed-column count table the C++ core
# reads, with every refusal worded the same way for every entry point (through
# abort_input() and the checks in R/checks.R).

# The count table every entry point fits: an object of class fastdmm_counts, a
# list with n_samples, n_taxa, sample_names and taxon_names, the table's one
# copy of its non-zeros in tiles of samples (see src/core/counts.h): tile_size,
# tile_ptr (offsets of each (tile, taxon)'s entries, as doubles), tile_row (a
# raw vector, 2 bytes per non-zero: its sample's row in its tile), tile_pair (a
# raw vector of 2 bytes per non-zero, the rank of its (taxon, value) pair among
# its taxon's, or an integer vector of pairs where a taxon has more than 65,536
# distinct values), pair_ptr and pair_value (each taxon's distinct values); and
# `pointer`, an external pointer to the C++ table built from them. The C++ side
# views these vectors rather than copying them, and rebuilds from them (checking
# them first) when the pointer is empty (after serialisation, e.g. on a
# future's worker), so the object is all that needs to travel. The raw vectors
# hold 16-bit numbers in the machine's byte order.
#
# Accepts a numeric matrix, a data.frame of numeric columns, a Matrix sparse
# matrix (never densified), a DelayedMatrix (such as an HDF5Matrix; read block
# by block, never densified, see build_delayed_counts()), the path of a BIOM
# 2.1 (HDF5) file (read a block of taxa at a time, never densified, sample
# and observation ids as the names, see biom.R), or a container that
# as_count_table() understands (phyloseq, otu_table, SummarizedExperiment and
# its subclasses, whose DelayedMatrix assays are read block by block too).
# Dense double and integer matrices and dgCMatrix are read in place by C++ (one
# parallel pass validates, a second builds); other classes are first coerced
# in R. A fastdmm_counts object passes through. Nothing is modified in place.
# This is the one coercion every entry point uses.
as_counts <- function(counts, arg = "counts", allow_zero_samples = FALSE,
                      assay.type = NULL, threads = NULL) {
  if (!isS4(counts) && inherits(counts, "fastdmm_counts") && is.null(assay.type)) {
    return(check_count_table_object(counts, arg, allow_zero_samples))
  }
  # A BIOM file's header (biom_table()) that dmn_fit() has read already.
  if (isS4(counts) || !inherits(counts, "fastdmm_biom_table")) {
    counts <- as_count_table(counts, arg, assay.type, delayed = TRUE)
  }
  if (is_delayed_matrix(counts)) counts <- delayed_table(counts, samples_in_rows = TRUE)
  if (inherits(counts, "fastdmm_biom_table")) {
    # A BIOM file's path (see biom.R): read a block of taxa at a time.
    built <- build_biom_counts(counts, arg, build_threads(threads))
    names <- list(samples = counts$sample_names, taxa = counts$taxon_names)
  } else if (inherits(counts, "fastdmm_delayed_table")) {
    built <- build_delayed_counts(counts, arg, build_threads(threads))
    names <- delayed_names(counts)
  } else {
    counts <- as_table_in_memory(counts, arg)
    built <- .build_counts(counts, build_threads(threads))
    names <- list(samples = rownames(counts), taxa = colnames(counts))
  }
  report_value_problems(built$problems, arg)
  sample_names <- names$samples
  if (!allow_zero_samples && length(built$zero_samples) > 0L) {
    empty <- built$zero_samples
    label <- if (is.null(sample_names)) {
      paste("rows", format_names(empty))
    } else {
      format_names(sample_names[empty])
    }
    abort_input(arg, sprintf(
      "has %d sample%s whose counts are all zero: %s; remove them before fitting",
      length(empty), if (length(empty) == 1L) "" else "s", label
    ), "fastdmm_zero_sample")
  }
  new_count_table(built$table, sample_names, names$taxa)
}

# A samples x taxa table in memory as .build_counts() reads it: a numeric
# matrix or a dgCMatrix, refused with the entry point's wording otherwise.
as_table_in_memory <- function(counts, arg) {
  if (is.data.frame(counts)) {
    if (nrow(counts) == 0L || ncol(counts) == 0L) {
      abort_input(arg, sprintf("is empty (%d samples x %d taxa)", nrow(counts),
                               ncol(counts)), "fastdmm_empty")
    }
    numeric_column <- vapply(counts, function(column) {
      is.numeric(column) && !is.object(column)
    }, logical(1))
    if (!all(numeric_column)) {
      abort_input(arg, sprintf(
        "must hold counts, but these columns are not numeric: %s",
        format_names(names(counts)[!numeric_column])
      ), "fastdmm_not_numeric")
    }
    counts <- as.matrix(counts)
  }
  if (inherits(counts, "Matrix")) {
    counts <- compressed_columns(counts, arg)
  } else if (is.matrix(counts)) {
    if (!is.numeric(counts)) {
      abort_input(arg, sprintf("must hold numeric counts, not %s values",
                               typeof(counts)), "fastdmm_not_numeric")
    }
  } else {
    abort_input(arg, sprintf(
      paste("must be a count table (a matrix, data.frame, Matrix::dgCMatrix or",
            "DelayedMatrix with samples in rows and taxa in columns, a phyloseq,",
            "otu_table or SummarizedExperiment object, or the path of a BIOM 2.1",
            "file), not %s"),
      describe_class(counts)
    ), "fastdmm_not_a_table")
  }
  if (nrow(counts) == 0L || ncol(counts) == 0L) {
    abort_input(arg, sprintf("is empty (%d samples x %d taxa)", nrow(counts), ncol(counts)),
                "fastdmm_empty")
  }
  counts
}

# A fastdmm_counts object passed in again (by an entry point, or by a user who
# kept one): its C++ table, rebuilt and checked when it has to be, must agree
# with the fields R reads.
check_count_table_object <- function(counts, arg, allow_zero_samples) {
  shape <- tryCatch(.count_table_shape(unclass(counts)), error = function(e) conditionMessage(e))
  consistent <- is.list(shape) &&
    identical(counts$n_samples, shape$n_samples) && identical(counts$n_taxa, shape$n_taxa) &&
    (is.null(counts$sample_names) || length(counts$sample_names) == shape$n_samples) &&
    (is.null(counts$taxon_names) || length(counts$taxon_names) == shape$n_taxa)
  if (!consistent) {
    abort_input(arg, sprintf(
      "is a damaged fastdmm count table%s; build it again from the counts",
      if (is.character(shape)) sprintf(" (%s)", shape) else ""), "fastdmm_bad_table")
  }
  if (shape$n_samples == 0L || shape$n_taxa == 0L) {
    abort_input(arg, sprintf("is empty (%d samples x %d taxa)", shape$n_samples, shape$n_taxa),
                "fastdmm_empty")
  }
  if (!allow_zero_samples && length(shape$zero_samples) > 0L) {
    abort_input(arg, sprintf("has %d sample%s whose counts are all zero; remove them before fitting",
                             length(shape$zero_samples), plural(length(shape$zero_samples))),
                "fastdmm_zero_sample")
  }
  counts
}

# The count table of some samples (`rows`, increasing row numbers) of a
# fastdmm_counts table, taken from its compressed form: the same table as_counts()
# gives for those rows of the original input.
subset_counts <- function(table, rows, threads = NULL) {
  rows <- as.integer(rows)
  stopifnot(inherits(table, "fastdmm_counts"), !anyNA(rows), !is.unsorted(rows, strictly = TRUE),
            all(rows >= 1L & rows <= table$n_samples))
  built <- .subset_counts(table, rows, build_threads(threads))
  new_count_table(built$table, table$sample_names[rows], table$taxon_names)
}

# The number of non-zeros a count table holds (2 bytes of tile_row each).
table_nnz <- function(table) as.numeric(length(table$tile_row)) / 2

new_count_table <- function(columns, sample_names, taxon_names) {
  columns$sample_names <- sample_names
  columns$taxon_names <- taxon_names
  structure(columns, class = "fastdmm_counts")
}

#' @export
#' @noRd
print.fastdmm_counts <- function(x, ...) {
  cat(sprintf("<fastdmm count table: %d samples x %d taxa, %.0f non-zero counts>\n",
              x$n_samples, x$n_taxa, table_nnz(x)))
  invisible(x)
}

# Threads for building a table: as the fit will use, but an invalid `threads`
# is left for the entry point to refuse after the table's own checks, so that
# errors keep their order.
build_threads <- function(threads) {
  tryCatch(resolve_threads(threads), fastdmm_input_error = function(e) 1L)
}

# Refuses the table for the first kind of bad value it has (problems: cells per
# kind, from .build_counts()).
report_value_problems <- function(problems, arg) {
  if (is.null(problems)) return(invisible(TRUE))
  messages <- c(
    missing = "has NA values in %d cell%s",
    infinite = "has infinite values in %d cell%s",
    negative = "has negative values in %d cell%s",
    fractional = "has non-integer values in %d cell%s; counts must be whole numbers",
    huge = "has values above 2^53 in %d cell%s, which doubles cannot count exactly"
  )
  for (kind in names(messages)) {
    bad <- problems[[kind]]
    if (bad > 0) {
      abort_input(arg, sprintf(messages[[kind]], bad, plural(bad)), "fastdmm_bad_value")
    }
  }
  invisible(TRUE)
}

# ---- containers ---------------------------------------------------------------

# The samples x taxa table a user's object holds, in a form as_counts() reads:
# base matrices, data.frames and Matrix objects pass through untouched (they
# are samples x taxa by contract); a phyloseq object or otu_table gives its OTU
# table, transposed when taxa_are_rows(); a SummarizedExperiment (or subclass
# such as TreeSummarizedExperiment) gives the transpose of its assay
# `assay.type` (default "counts", else the first assay): taxa are its rows and
# samples its columns. Sparse assays stay sparse. Orientation is never guessed
# from the shape. Entry points that need the table itself (to subset samples,
# or to match taxa by name) call this; everything else calls as_counts().
# With `delayed`, a DelayedMatrix assay is not realised but returned as a
# delayed_table() for as_counts() to read block by block; otherwise it is
# realised as a dense matrix.
as_count_table <- function(counts, arg = "counts", assay.type = NULL, delayed = FALSE) {
  check_assay_type(assay.type)
  if (isS4(counts)) {
    # An S4 object's class is only known with its package: without it even
    # inherits() fails, so say which package is needed first.
    package <- attr(class(counts), "package")
    if (!is.null(package) && !identical(package, ".GlobalEnv")) {
      require_package(package, arg, sprintf("is a %s object", class(counts)[1L]))
    }
  }
  kind <- container_kind(counts)
  if (is.null(kind)) {
    if (!is.null(assay.type)) {
      abort_input("assay.type", sprintf(
        "applies only to SummarizedExperiment input, but '%s' is %s",
        arg, describe_class(counts)), "fastdmm_bad_argument")
    }
    # A single string is the path of a BIOM file (biom.R): opened and checked
    # for as_counts() to read block by block, or read whole as a dgCMatrix.
    if (is_biom_path(counts)) {
      return(if (delayed) biom_table(counts, arg) else read_biom_matrix(counts, arg))
    }
    return(counts)
  }
  if (kind == "SummarizedExperiment") {
    return(summarized_experiment_table(counts, arg, assay.type, delayed))
  }
  if (!is.null(assay.type)) {
    abort_input("assay.type", sprintf(
      "applies only to SummarizedExperiment input, but '%s' is a %s object",
      arg, kind), "fastdmm_bad_argument")
  }
  phyloseq_table(counts, arg, kind)
}

# "phyloseq", "otu_table", "SummarizedExperiment" (or a subclass) or NULL
# (not a container).
container_kind <- function(x) {
  if (!isS4(x)) return(NULL)
  if (inherits(x, "otu_table")) return("otu_table")
  if (inherits(x, "phyloseq")) return("phyloseq")
  if (inherits(x, "SummarizedExperiment")) return("SummarizedExperiment")
  NULL
}

phyloseq_table <- function(counts, arg, kind) {
  require_package("phyloseq", arg,
                  if (kind == "otu_table") "is a phyloseq otu_table" else "is a phyloseq object")
  otu <- if (kind == "otu_table") counts else phyloseq::otu_table(counts, errorIfNULL = FALSE)
  if (is.null(otu)) {
    abort_input(arg, paste("is a phyloseq object without an OTU table, so it holds no counts;",
                           "build it with phyloseq(otu_table(...), ...)"),
                "fastdmm_no_counts")
  }
  table <- methods::as(otu, "matrix")
  # phyloseq records the orientation itself: taxa_are_rows() is authoritative.
  if (phyloseq::taxa_are_rows(otu)) t(table) else table
}

summarized_experiment_table <- function(counts, arg, assay.type, delayed = FALSE) {
  require_package("SummarizedExperiment", arg, sprintf("is a %s object", class(counts)[1L]))
  n_assays <- length(SummarizedExperiment::assays(counts))
  if (n_assays == 0L) {
    abort_input(arg, sprintf("is a %s object without assays, so it holds no counts",
                             class(counts)[1L]), "fastdmm_no_counts")
  }
  assay_names <- SummarizedExperiment::assayNames(counts)
  if (is.null(assay.type)) {
    # "counts" when there is one, otherwise the first assay, whatever its name.
    which_assay <- if ("counts" %in% assay_names) "counts" else 1L
  } else {
    if (!assay.type %in% assay_names) {
      abort_input("assay.type", sprintf(
        "is \"%s\", but '%s' has no assay of that name; its assays are: %s",
        assay.type, arg,
        if (length(assay_names) == 0L) "(unnamed)" else format_names(assay_names, 10L)
      ), "fastdmm_missing_assay")
    }
    which_assay <- assay.type
  }
  table <- SummarizedExperiment::assay(counts, which_assay, withDimnames = TRUE)
  # Taxa are the rows of a SummarizedExperiment, samples its columns.
  if (delayed && is_delayed_matrix(table)) {
    delayed_table(table, samples_in_rows = FALSE)
  } else if (inherits(table, "Matrix")) {
    Matrix::t(table)
  } else if (is.matrix(table)) {
    t(table)
  } else {
    # Other assay classes (and a DelayedMatrix unless `delayed`) are realised
    # as dense matrices.
    t(as.matrix(table))
  }
}

check_assay_type <- function(assay.type) {
  if (!is.null(assay.type) &&
      (!is.character(assay.type) || length(assay.type) != 1L || is.na(assay.type) ||
       !nzchar(assay.type))) {
    abort_input("assay.type", "must be NULL or the name of one assay",
                "fastdmm_bad_argument")
  }
  invisible(assay.type)
}

# A Matrix object as a dgCMatrix, the sparse class C++ reads in place.
compressed_columns <- function(counts, arg) {
  require_package("Matrix", arg, "is a Matrix object")
  if (!methods::is(counts, "dMatrix")) {
    abort_input(arg, sprintf("must hold numeric counts, not %s",
                             describe_class(counts)), "fastdmm_not_numeric")
  }
  # Slots edited by hand would otherwise reach the C++ reader; Matrix's own
  # validity check is one pass over them.
  valid <- tryCatch(methods::validObject(counts, complete = FALSE), error = function(e) FALSE)
  if (isFALSE(valid)) {
    abort_input(arg, sprintf(
      "is a damaged %s object: its slots fail Matrix's own validity check (validObject())",
      class(counts)[1L]), "fastdmm_bad_table")
  }
  if (!methods::is(counts, "dgCMatrix")) {
    # General, compressed-column storage: no dense copy is ever made.
    counts <- methods::as(methods::as(counts, "generalMatrix"), "CsparseMatrix")
  }
  counts
}
