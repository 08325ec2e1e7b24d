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

# A count table as list(p, i, x, n_samples, n_taxa, sample_names, taxon_names,
# depth): compressed columns of the samples x taxa table (0-based row indices),
# non-zeros only. Accepts a numeric matrix, a data.frame of numeric columns, a
# Matrix sparse matrix (never densified), or a container that
# as_count_table() understands (phyloseq, otu_table, SummarizedExperiment and
# its subclasses). Nothing is modified in place. This is the one coercion every
# entry point uses.
as_counts <- function(counts, arg = "counts", allow_zero_samples = FALSE,
                      assay.type = NULL) {
  counts <- as_count_table(counts, arg, assay.type)
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
    table <- sparse_columns(counts, arg)
  } else if (is.matrix(counts)) {
    table <- dense_columns(counts, arg)
  } else {
    abort_input(arg, sprintf(
      paste("must be a count table (a matrix, data.frame or Matrix::dgCMatrix",
            "with samples in rows and taxa in columns, or a phyloseq,",
            "otu_table or SummarizedExperiment object), not %s"),
      describe_class(counts)
    ), "fastdmm_not_a_table")
  }
  if (table$n_samples == 0L || table$n_taxa == 0L) {
    abort_input(arg, sprintf("is empty (%d samples x %d taxa)",
                             table$n_samples, table$n_taxa), "fastdmm_empty")
  }
  depth <- numeric(table$n_samples)
  if (length(table$x) > 0L) {
    by_sample <- rowsum(table$x, table$i, reorder = FALSE)
    depth[as.integer(rownames(by_sample)) + 1L] <- by_sample[, 1L]
  }
  if (!allow_zero_samples && any(depth == 0)) {
    empty <- which(depth == 0)
    label <- if (is.null(table$sample_names)) {
      paste("rows", format_names(empty))
    } else {
      format_names(table$sample_names[empty])
    }
    abort_input(arg, sprintf(
      "has %d sample%s whose counts are all zero: %s; remove them before fitting",
      length(empty), if (length(empty) == 1L) "" else "s", label
    ), "fastdmm_zero_sample")
  }
  table$depth <- depth
  table
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
as_count_table <- function(counts, arg = "counts", assay.type = NULL) {
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
    return(counts)
  }
  if (kind == "SummarizedExperiment") {
    return(summarized_experiment_table(counts, arg, assay.type))
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

summarized_experiment_table <- function(counts, arg, assay.type) {
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
  if (inherits(table, "Matrix")) {
    Matrix::t(table)
  } else if (is.matrix(table)) {
    t(table)
  } else {
    # Other assay classes (DelayedMatrix, ...) are realised as dense matrices.
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
                    "TreeSummarizedExperiment", "mia", "DirichletMultinomial")
  if (package %in% bioconductor) {
    sprintf("BiocManager::install(\"%s\")", package)
  } else {
    sprintf("install.packages(\"%s\")", package)
  }
}

dense_columns <- function(counts, arg) {
  if (!is.numeric(counts)) {
    abort_input(arg, sprintf("must hold numeric counts, not %s values",
                             typeof(counts)), "fastdmm_not_numeric")
  }
  n_samples <- nrow(counts)
  n_taxa <- ncol(counts)
  # NA cells would drop out of which() below, so they are refused first (anyNA()
  # allocates nothing); every other check needs only the non-zero values.
  if (anyNA(counts)) {
    bad <- sum(is.na(counts))
    abort_input(arg, sprintf("has NA values in %d cell%s", bad, plural(bad)),
                "fastdmm_bad_value")
  }
  non_zero <- which(counts != 0)
  values <- as.double(counts[non_zero])
  check_values(values, arg)
  column <- (non_zero - 1) %/% n_samples
  list(
    p = as.integer(c(0, cumsum(tabulate(column + 1, nbins = n_taxa)))),
    i = as.integer((non_zero - 1) %% n_samples),
    x = values,
    n_samples = n_samples,
    n_taxa = n_taxa,
    sample_names = rownames(counts),
    taxon_names = colnames(counts)
  )
}

sparse_columns <- function(counts, arg) {
  require_package("Matrix", arg, "is a Matrix object")
  if (!methods::is(counts, "dMatrix")) {
    abort_input(arg, sprintf("must hold numeric counts, not a %s",
                             describe_class(counts)), "fastdmm_not_numeric")
  }
  # General, compressed-column storage: no dense copy is ever made.
  counts <- methods::as(methods::as(counts, "generalMatrix"), "CsparseMatrix")
  check_values(counts@x, arg)
  keep <- counts@x != 0
  column_counts <- diff(counts@p)
  column <- rep.int(seq_len(ncol(counts)) - 1L, column_counts)[keep]
  list(
    p = as.integer(c(0, cumsum(tabulate(column + 1L, nbins = ncol(counts))))),
    i = counts@i[keep],
    x = counts@x[keep],
    n_samples = nrow(counts),
    n_taxa = ncol(counts),
    sample_names = rownames(counts),
    taxon_names = colnames(counts)
  )
}

check_values <- function(x, arg) {
  if (is.integer(x)) {
    bad <- sum(is.na(x))
    if (bad > 0L) {
      abort_input(arg, sprintf("has NA values in %d cell%s", bad, plural(bad)),
                  "fastdmm_bad_value")
    }
    negative <- sum(x < 0L)
  } else {
    bad <- sum(is.na(x))
    if (bad > 0L) {
      abort_input(arg, sprintf("has NA values in %d cell%s", bad, plural(bad)),
                  "fastdmm_bad_value")
    }
    bad <- sum(is.infinite(x))
    if (bad > 0L) {
      abort_input(arg, sprintf("has infinite values in %d cell%s", bad, plural(bad)),
                  "fastdmm_bad_value")
    }
    negative <- sum(x < 0)
  }
  if (negative > 0L) {
    abort_input(arg, sprintf("has negative values in %d cell%s", negative,
                             plural(negative)), "fastdmm_bad_value")
  }
  if (!is.integer(x)) {
    fractional <- sum(x != floor(x))
    if (fractional > 0L) {
      abort_input(arg, sprintf(
        "has non-integer values in %d cell%s; counts must be whole numbers",
        fractional, plural(fractional)
      ), "fastdmm_bad_value")
    }
    huge <- sum(x > 2^53)
    if (huge > 0L) {
      abort_input(arg, sprintf(
        "has values above 2^53 in %d cell%s, which doubles cannot count exactly",
        huge, plural(huge)
      ), "fastdmm_bad_value")
    }
  }
  invisible(TRUE)
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

# Scalar argument checks shared by the entry points.
check_whole_number <- function(x, arg, min = 1, max = Inf) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    x == round(x) && x >= min && x <= max
  if (!ok) {
    range <- if (is.finite(max)) sprintf("between %s and %s", min, max) else sprintf(">= %s", min)
    abort_input(arg, sprintf("must be a single whole number %s", range),
                "fastdmm_bad_argument")
  }
  as.integer(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    abort_input(arg, "must be TRUE or FALSE", "fastdmm_bad_argument")
  }
  x
}

check_seed <- function(seed) {
  if (!is.numeric(seed) || length(seed) != 1L || !is.finite(seed)) {
    abort_input("seed", "must be a single finite number", "fastdmm_bad_argument")
  }
  if (abs(seed) > .Machine$integer.max) {
    abort_input("seed", sprintf("must lie between -%d and %d (it becomes an integer)",
                                .Machine$integer.max, .Machine$integer.max),
                "fastdmm_bad_argument")
  }
  as.integer(seed)
}

resolve_threads <- function(threads) {
  if (is.null(threads)) {
    threads <- getOption("fastdmm.threads", RcppParallel::defaultNumThreads())
  }
  check_whole_number(threads, "threads", min = 1)
}
