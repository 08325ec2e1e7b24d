# Turning what users pass in into the compressed-column count table the C++ core
# reads, with every refusal worded the same way for every entry point.

# Signals an error of class `fastdmm_input_error` (and `class`) whose message
# starts with the argument's name.
abort_input <- function(arg, problem, class = NULL) {
  stop(structure(
    class = c(class, "fastdmm_input_error", "error", "condition"),
    list(message = sprintf("'%s' %s", arg, problem), call = NULL)
  ))
}

# The count table every entry point fits: an object of class fastdmm_counts, a
# list with n_samples, n_taxa, sample_names and taxon_names, the table's
# compressed columns (col_ptr, col_sample, col_pair, pair_ptr, pair_value: every
# non-zero as its sample and the index of its (taxon, value) pair, see
# src/core/counts.h) and `pointer`, an external pointer to the C++ table built
# from them. The C++ side views these vectors rather than copying them, and
# rebuilds from them when the pointer is empty (after serialisation, e.g. on a
# future's worker), so the object is all that needs to travel.
#
# Accepts a numeric matrix, a data.frame of numeric columns, a Matrix sparse
# matrix (never densified), a DelayedMatrix (such as an HDF5Matrix; read block
# by block, never densified, see build_delayed_counts()), the path of a BIOM
# 2.1 (HDF5) file (read a block of samples at a time, never densified, sample
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
  counts <- as_count_table(counts, arg, assay.type, delayed = TRUE)
  if (is_delayed_matrix(counts)) counts <- delayed_table(counts, samples_in_rows = TRUE)
  if (inherits(counts, "fastdmm_biom_table")) {
    # A BIOM file's path (see biom.R): read a block of samples at a time.
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

new_count_table <- function(columns, sample_names, taxon_names) {
  columns$sample_names <- sample_names
  columns$taxon_names <- taxon_names
  structure(columns, class = "fastdmm_counts")
}

#' @export
#' @noRd
print.fastdmm_counts <- function(x, ...) {
  cat(sprintf("<fastdmm count table: %d samples x %d taxa, %.0f non-zero counts>\n",
              x$n_samples, x$n_taxa, length(x$col_sample)))
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

# ---- optional packages --------------------------------------------------------

# Stops with class fastdmm_missing_package unless `package` can be loaded.
# `what` completes the sentence "'<arg>' <what>, but the ... package is not
# installed".
require_package <- function(package, arg, what) {
  if (!requireNamespace(package, quietly = TRUE)) {
    abort_input(arg, missing_package_problem(package, what), "fastdmm_missing_package")
  }
  invisible(TRUE)
}

missing_package_problem <- function(package, what) {
  sprintf("%s, but the %s package is not installed; install it with %s",
          what, package, install_hint(package))
}

install_hint <- function(package) {
  bioconductor <- c("phyloseq", "SummarizedExperiment", "S4Vectors", "SingleCellExperiment",
                    "TreeSummarizedExperiment", "mia", "DirichletMultinomial", "rhdf5",
                    "biomformat")
  if (package %in% bioconductor) {
    sprintf("BiocManager::install(\"%s\")", package)
  } else {
    sprintf("install.packages(\"%s\")", package)
  }
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

plural <- function(n) if (n == 1L) "" else "s"

format_names <- function(x, max = 5L) {
  x <- as.character(x)
  if (length(x) > max) {
    paste0(paste(x[seq_len(max)], collapse = ", "), sprintf(" and %d more", length(x) - max))
  } else {
    paste(x, collapse = ", ")
  }
}

describe_class <- function(x) {
  if (is.null(x)) return("NULL")
  sprintf("an object of class '%s'", paste(class(x), collapse = "/"))
}

# ---- argument checks shared by every entry point ------------------------------
#
# Each check refuses a bad value with abort_input() naming the argument and the
# value it got, and returns the value normalised (whole numbers as integers).
# Whole numbers that reach the C++ core's `int` are checked against its range,
# so that nothing becomes NA on the way.

int_max <- .Machine$integer.max

# A short description of a value for error messages: the value itself when it
# is a short scalar, otherwise its type and length.
describe_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.atomic(x) && !is.object(x) && is.null(dim(x)) && length(x) == 1L) {
    if (is.character(x)) {
      if (is.na(x)) return("NA")
      text <- if (nchar(x) > 40L) paste0(substr(x, 1L, 40L), "...") else x
      return(sprintf("\"%s\"", text))
    }
    if (is.numeric(x) || is.logical(x)) return(format(x, digits = 15L))
  }
  if (is.atomic(x) && !is.object(x) && length(x) == 0L) {
    return(sprintf("an empty %s vector", typeof(x)))
  }
  if (is.factor(x)) return(sprintf("a factor of length %d", length(x)))
  if (is.atomic(x) && !is.object(x)) {
    shape <- if (is.null(dim(x))) "vector" else "matrix"
    return(sprintf("a %s %s of length %d", typeof(x), shape, length(x)))
  }
  if (is.function(x)) return("a function")
  if (is.list(x) && !is.object(x)) return(sprintf("a list of length %d", length(x)))
  describe_class(x)
}

# A single whole number in [min, max] (by default the range of a C++ int), as an
# integer.
check_whole_number <- function(x, arg, min = 1, max = int_max) {
  max <- base::min(max, int_max)
  ok <- is.numeric(x) && !is.object(x) && length(x) == 1L && !is.na(x) &&
    is.finite(x) && x == round(x) && x >= min && x <= max
  if (!ok) {
    abort_input(arg, sprintf("must be a single whole number %s, not %s",
                             describe_range(min, max), describe_value(x)),
                "fastdmm_bad_argument")
  }
  as.integer(x)
}

# One or more whole numbers in [min, max], without NA or duplicates, as integers.
check_whole_numbers <- function(x, arg, min = 1, max = int_max, what = "whole numbers") {
  max <- base::min(max, int_max)
  ok <- is.numeric(x) && !is.object(x) && length(x) >= 1L && !anyNA(x) &&
    all(is.finite(x)) && all(x == round(x)) && all(x >= min) && all(x <= max)
  if (!ok) {
    abort_input(arg, sprintf("must be one or more %s %s, not %s", what,
                             describe_range(min, max), describe_value(x)),
                "fastdmm_bad_argument")
  }
  if (anyDuplicated(x)) {
    abort_input(arg, sprintf("has duplicated values (%s)",
                             format_names(unique(x[duplicated(x)]))),
                "fastdmm_bad_argument")
  }
  as.integer(x)
}

describe_range <- function(min, max) {
  if (max >= int_max) {
    sprintf("between %s and %s (.Machine$integer.max)", format(min), format(max))
  } else {
    sprintf("between %s and %s", format(min), format(max))
  }
}

# A single finite number in [min, max], as a double.
check_number <- function(x, arg, min = -Inf, max = Inf) {
  ok <- is.numeric(x) && !is.object(x) && length(x) == 1L && !is.na(x) &&
    is.finite(x) && x >= min && x <= max
  if (!ok) {
    range <- if (is.finite(min) && is.finite(max)) {
      sprintf(" between %s and %s", format(min), format(max))
    } else if (is.finite(min)) {
      sprintf(" >= %s", format(min))
    } else if (is.finite(max)) {
      sprintf(" <= %s", format(max))
    } else {
      ""
    }
    abort_input(arg, sprintf("must be a single finite number%s, not %s", range,
                             describe_value(x)), "fastdmm_bad_argument")
  }
  as.double(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || is.object(x) || length(x) != 1L || is.na(x)) {
    abort_input(arg, sprintf("must be TRUE or FALSE, not %s", describe_value(x)),
                "fastdmm_bad_argument")
  }
  as.vector(x)
}

# One of `choices` (several with several_ok), matched as match.arg() does:
# exactly, or by a unique partial match ("ref" is "reference"); with
# ignore_case, in any case. The default (the whole `choices` vector, as in a
# function's formals) is the first choice. Returns the choices matched.
check_choice <- function(x, choices, arg, several_ok = FALSE, ignore_case = FALSE) {
  if (!several_ok && identical(x, choices)) return(choices[1L])
  listed <- paste(sprintf("\"%s\"", choices), collapse = ", ")
  expected <- if (several_ok) sprintf("one or more of %s", listed) else sprintf("one of %s", listed)
  ok <- is.character(x) && !is.object(x) && is.null(dim(x)) && length(x) >= 1L &&
    (several_ok || length(x) == 1L) && !anyNA(x) && all(nzchar(x))
  if (!ok) {
    abort_input(arg, sprintf("must be %s, not %s", expected, describe_value(x)),
                "fastdmm_bad_argument")
  }
  keys <- if (ignore_case) tolower(choices) else choices
  given <- if (ignore_case) tolower(x) else x
  index <- pmatch(given, keys, duplicates.ok = TRUE)
  if (anyNA(index)) {
    bad <- x[is.na(index)][1L]
    ambiguous <- sum(startsWith(keys, given[is.na(index)][1L])) > 1L
    abort_input(arg, sprintf("must be %s, not %s%s", expected, describe_value(bad),
                             if (ambiguous) " (which matches several)" else ""),
                "fastdmm_bad_argument")
  }
  unique(choices[index])
}

check_seed <- function(seed, arg = "seed") {
  if (!is.numeric(seed) || is.object(seed) || length(seed) != 1L || !is.finite(seed)) {
    abort_input(arg, sprintf("must be a single finite number, not %s", describe_value(seed)),
                "fastdmm_bad_argument")
  }
  if (abs(seed) > int_max) {
    abort_input(arg, sprintf(
      "must lie between -%d and %d (it becomes an integer), not %s",
      int_max, int_max, describe_value(seed)), "fastdmm_bad_argument")
  }
  as.integer(seed)
}

# Refuses arguments in `dots` (a list(...)) that are unnamed or not in
# `allowed`, naming the first one: "'bogus' is not an argument of
# dmngroup() or dmn_fit()". `where` says which functions take the arguments.
check_dots <- function(dots, allowed, where) {
  if (length(dots) == 0L) return(invisible(dots))
  given <- names(dots) %||% rep("", length(dots))
  unnamed <- which(!nzchar(given))
  if (length(unnamed) > 0L) {
    abort_input("...", sprintf(
      "has %d unnamed argument%s (position %s); further arguments of %s must be named",
      length(unnamed), plural(length(unnamed)), format_names(unnamed), where),
      c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  unknown <- setdiff(given, allowed)
  if (length(unknown) > 0L) {
    abort_input(unknown[1L], sprintf(
      "is not an argument of %s%s", where,
      if (length(unknown) > 1L) {
        sprintf(" (nor are %s)", format_names(sprintf("'%s'", unknown[-1L])))
      } else {
        ""
      }), c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  duplicated_names <- unique(given[duplicated(given)])
  if (length(duplicated_names) > 0L) {
    abort_input(duplicated_names[1L], "is given more than once",
                c("fastdmm_unknown_argument", "fastdmm_bad_argument"))
  }
  invisible(dots)
}

# For methods whose `...` is unused: refuses anything passed there (a value
# passed by position into `...` is otherwise silently ignored).
check_dots_empty <- function(dots, where) check_dots(dots, character(), where)

# The number of threads to use: `threads`, or the fastdmm.threads option, or
# all cores; never more than the machine has (more only adds contention, and TBB
# warns that it ignores the request).
resolve_threads <- function(threads) {
  if (is.null(threads)) {
    threads <- getOption("fastdmm.threads", RcppParallel::defaultNumThreads())
  }
  threads <- check_whole_number(threads, "threads", min = 1)
  min(threads, max(1L, as.integer(RcppParallel::defaultNumThreads())))
}

# The positions that `i` selects among `n` elements named `names` (or NULL), as
# `[` selects from a list: positive or negative whole numbers, a logical vector
# (no longer than n) or names. Selecting an element that does not exist, NA
# and mixed signs are refused rather than giving NULL elements.
check_index <- function(i, n, names, arg) {
  positions <- stats::setNames(seq_len(n), names)
  ok_type <- (is.numeric(i) && all(is.finite(i)) && all(i == round(i))) ||
    (is.logical(i) && length(i) <= n) ||
    (is.character(i) && (!is.null(names) || length(i) == 0L))
  selected <- if (is.null(i)) {
    integer()
  } else if (ok_type && !is.object(i) && is.null(dim(i)) && !anyNA(i)) {
    tryCatch(positions[i], error = function(e) NULL)
  }
  if (is.null(selected) || anyNA(selected)) {
    abort_input(arg, sprintf(
      "must select existing elements (%d of them%s) by position, sign, logical vector%s; not %s",
      n, if (is.null(names)) "" else ", named", if (is.null(names)) "" else " or name",
      describe_value(i)), "fastdmm_bad_argument")
  }
  unname(selected)
}
