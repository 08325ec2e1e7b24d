# Refusals of bad input (class and wording) and awkward-but-valid tables.

good_counts <- function() simulate_counts(n = 6, n_taxa = 5, k = 2, depth = 50, seed = 21)

# ---- counts -------------------------------------------------------------------

test_that("bad count values are refused, naming the problem and how many cells", {
  x <- good_counts()
  negative <- x
  negative[2, 3] <- -1
  expect_input_error(dmn_fit(negative, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "negative values in 1 cell$")
  with_na <- x
  with_na[1, 1:2] <- NA
  expect_input_error(dmn_fit(with_na, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "NA values in 2 cells")
  integer_na <- x
  storage.mode(integer_na) <- "integer"
  integer_na[3, 3] <- NA
  expect_input_error(dmn_fit(integer_na, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "NA")
  nan <- x
  nan[1, 1] <- NaN
  expect_input_error(dmn_fit(nan, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value", "counts")
  infinite <- x
  infinite[4, 2] <- Inf
  expect_input_error(dmn_fit(infinite, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "infinite")
  fractional <- x
  fractional[5, 5] <- 2.5
  expect_input_error(dmn_fit(fractional, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "non-integer")
  huge <- x
  huge[1, 1] <- 2^60
  expect_input_error(dmn_fit(huge, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value",
                     "counts", "2\\^53")
})

test_that("non-numeric counts are refused", {
  x <- good_counts()
  character_matrix <- matrix(as.character(x), nrow(x))
  expect_input_error(dmn_fit(character_matrix, 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_numeric", "counts", "character")
  logical_matrix <- x > 3
  expect_input_error(dmn_fit(logical_matrix, 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_numeric", "counts", "logical")
  frame <- as.data.frame(x)
  frame$taxon2 <- as.character(frame$taxon2)
  expect_input_error(dmn_fit(frame, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_not_numeric",
                     "counts", "taxon2")
  frame <- as.data.frame(x)
  frame$taxon3 <- factor(frame$taxon3)
  expect_input_error(dmn_fit(frame, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_not_numeric",
                     "counts", "taxon3")
})

test_that("things that are not tables are refused", {
  x <- good_counts()
  expect_input_error(dmn_fit(unname(as.list(as.data.frame(x))), 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_a_table", "counts", "list")
  expect_input_error(dmn_fit(list(a = 1:3, b = 4:6), 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_a_table", "counts")
  expect_input_error(dmn_fit(c("a", "b"), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_a_table", "counts", "character")
  expect_input_error(dmn_fit(NULL, 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_a_table", "counts", "NULL")
  expect_input_error(dmn_fit(c(1, 2, 3), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_a_table", "counts")
})

test_that("empty tables and single-taxon tables are refused", {
  expect_input_error(dmn_fit(matrix(numeric(0), 0, 4), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_empty", "counts", "0 samples x 4 taxa")
  expect_input_error(dmn_fit(matrix(numeric(0), 4, 0), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_empty", "counts", "4 samples x 0 taxa")
  # Empty data.frames become 0-row logical matrices in as.matrix(): refused,
  # though (as of writing) as "not numeric" rather than as empty.
  expect_input_error(dmn_fit(data.frame(a = numeric(0), b = numeric(0)), 1, seed = 1,
                             threads = 1, nstart = 1), "fastdmm_input_error", "counts")
  expect_input_error(dmn_fit(data.frame(), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_input_error", "counts")
  expect_input_error(dmn_fit(matrix(c(3, 4, 5), 3, 1), 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_too_few_taxa", "counts", "at least 2 taxa")
})

test_that("an all-zero sample is refused with its name or row number", {
  x <- good_counts()
  x[4, ] <- 0
  error <- expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_zero_sample",
                              "counts", "1 sample whose counts are all zero")
  expect_match(conditionMessage(error), rownames(x)[4], fixed = TRUE)
  x[6, ] <- 0
  unnamed <- unname(x)
  error <- expect_input_error(dmn_fit(unnamed, 2, seed = 1, threads = 1, nstart = 1),
                              "fastdmm_zero_sample", "counts", "2 samples")
  expect_match(conditionMessage(error), "rows 4, 6", fixed = TRUE)
  many <- rbind(x, matrix(0, 6, ncol(x)))
  error <- expect_input_error(dmn_fit(unname(many), 2, seed = 1, threads = 1, nstart = 1),
                              "fastdmm_zero_sample", "counts", "8 samples")
  expect_match(conditionMessage(error), "rows 4, 6, 13, 14, 15 and 3 more", fixed = TRUE)
})

test_that("a sparse table is validated the same way", {
  skip_if_not_installed("Matrix")
  x <- good_counts()
  x[2, 2] <- -3
  expect_input_error(dmn_fit(Matrix::Matrix(x, sparse = TRUE), 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_bad_value", "counts", "negative")
  x <- good_counts()
  x[3, ] <- 0
  expect_input_error(dmn_fit(Matrix::Matrix(x, sparse = TRUE), 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_zero_sample", "counts", rownames(x)[3])
  logical_sparse <- Matrix::Matrix(good_counts() > 5, sparse = TRUE)
  expect_input_error(dmn_fit(logical_sparse, 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_not_numeric", "counts")
})

# ---- scalar arguments -------------------------------------------------------------

test_that("bad k is refused", {
  x <- good_counts()
  for (k in list(0, 1.5, c(1, 1.5), c(2, 2), "a", NA, NA_real_, -1, Inf, NULL, integer(0))) {
    expect_input_error(dmn_fit(x, k, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_argument", "k")
  }
  expect_input_error(dmn_fit(x, nrow(x) + 1, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "k", "must not exceed the number of samples")
  expect_input_error(dmn_fit(x, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_argument", "k",
                     "missing")
})

test_that("bad seed, threads, verbose, max_iter, tol and hessian are refused", {
  x <- good_counts()
  for (seed in list(NA, NA_real_, Inf, -Inf, NaN, "x", c(1, 2), 2^32, NULL)) {
    expect_input_error(dmn_fit(x, 2, seed = seed, threads = 1, nstart = 1), "fastdmm_bad_argument",
                       "seed")
  }
  for (threads in list(0, -1, 1.5, "2", NA, c(1, 2))) {
    expect_input_error(dmn_fit(x, 2, seed = 1, threads = threads, nstart = 1), "fastdmm_bad_argument",
                       "threads")
  }
  old_options <- options(fastdmm.threads = 0)
  on.exit(options(old_options), add = TRUE)
  expect_input_error(dmn_fit(x, 2, seed = 1, nstart = 1), "fastdmm_bad_argument", "threads")
  options(old_options)
  for (verbose in list(NA, "yes", c(TRUE, FALSE), 1)) {
    expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, verbose = verbose, nstart = 1),
                       "fastdmm_bad_argument", "verbose")
  }
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, max_iter = 0, nstart = 1),
                     "fastdmm_bad_argument", "max_iter")
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, tol = -1, nstart = 1),
                     "fastdmm_bad_argument", "tol")
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, tol = NA, nstart = 1),
                     "fastdmm_bad_argument", "tol")
  for (hessian in list("approximate", NA, NA_character_, "", 1, c("exact", "exact"),
                      factor("exact"), NULL)) {
    expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, hessian = hessian, nstart = 1),
                       "fastdmm_bad_argument", "hessian", "must be one of \"exact\", \"reference\"")
  }
})

test_that("seeds are used as integers, as the reference's as.integer(seed)", {
  x <- good_counts()
  fractional <- dmn_fit(x, 2, seed = 7.9, threads = 1, nstart = 1)
  expect_identical(fractional$seed, 7L)
  expect_identical(without_call(fractional), without_call(dmn_fit(x, 2, seed = 7L, threads = 1, nstart = 1)))
})

# ---- predict --------------------------------------------------------------------

test_that("predict refuses newdata whose taxa do not match the model", {
  x <- good_counts()
  fit <- dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1)
  expect_input_error(predict(fit, x[, -2]), "fastdmm_taxa_mismatch", "newdata",
                     "lacks 1 of the model's taxa: taxon2")
  extra <- cbind(x, novel = 1)
  expect_input_error(predict(fit, extra), "fastdmm_taxa_mismatch", "newdata",
                     "1 taxa the model was not fitted on: novel")
  duplicated_taxa <- cbind(x, x[, 1, drop = FALSE])
  expect_input_error(predict(fit, duplicated_taxa), "fastdmm_taxa_mismatch", "newdata",
                     "duplicated")
  expect_input_error(predict(fit, unname(x)[, -1]), "fastdmm_taxa_mismatch", "newdata",
                     "has 4 taxa \\(columns\\) but the model has 5")
  expect_input_error(predict(fit, c(1, 2, 3)), "fastdmm_taxa_mismatch", "newdata")
  expect_input_error(predict(fit), "fastdmm_bad_argument", "newdata", "missing")
  bad <- x
  bad[1, 1] <- -1
  expect_input_error(predict(fit, bad), "fastdmm_bad_value", "newdata", "negative")
  expect_input_error(predict(fit, "a"), "fastdmm_input_error", "newdata")
  expect_input_error(predict(fit, letters[1:5]), "fastdmm_input_error", "newdata")
  expect_input_error(predict(fit, list(1, 2, 3, 4, 5)), "fastdmm_input_error", "newdata")
  expect_input_error(predict(fit, x, threads = 0), "fastdmm_bad_argument", "threads")
  expect_input_error(predict(fit, x, logevidence = NA), "fastdmm_bad_argument",
                     "logevidence")
})

test_that("predict accepts all-zero samples: their posterior is the mixture weights", {
  x <- good_counts()
  fit <- dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1)
  newdata <- rbind(x[1:2, ], empty = 0)
  posterior <- predict(fit, newdata, threads = 1)
  expect_relative(unname(posterior["empty", ]), fit$mixture$Weight, 1e-12)
  expect_true(all(predict(fit, newdata, logevidence = TRUE, threads = 1)["empty", ] == 0))
})

# ---- awkward but valid tables -------------------------------------------------------

# Every criterion except possibly LogDet and Laplace, and every posterior, finite;
# posteriors are probabilities.
expect_finite_fit <- function(fit) {
  expect_s3_class(fit, "dmn_fit")
  gof <- goodnessOfFit(fit)
  expect_true(all(is.finite(gof[c("NLE", "AIC", "BIC")])))
  expect_true(all(is.finite(mixture(fit))))
  expect_true(all(mixture(fit) >= 0 & mixture(fit) <= 1))
  expect_relative(rowSums(mixture(fit)), rep(1, fit$n_samples), 1e-12)
  expect_relative(sum(fit$mixture$Weight), 1, 1e-12)
  expect_true(all(is.finite(fitted(fit)) & fitted(fit) > 0))
  expect_true(all(is.finite(fit$nle_trace)))
  invisible(fit)
}

test_that("a table without dimnames fits, and unnamed components are numbered", {
  x <- unname(simulate_counts(n = 10, n_taxa = 6, k = 2, seed = 22))
  fit <- expect_finite_fit(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1))
  expect_null(rownames(mixture(fit)))
  expect_null(rownames(fitted(fit)))
  expect_identical(colnames(mixture(fit)), c("1", "2"))
  named <- dmn_fit(simulate_counts(n = 10, n_taxa = 6, k = 2, seed = 22), 2, seed = 1, threads = 1, nstart = 1)
  expect_identical(unname(goodnessOfFit(fit)), unname(goodnessOfFit(named)))
})

test_that("counts of a billion and beyond 32-bit integers fit", {
  x <- simulate_counts(n = 8, n_taxa = 5, k = 2, seed = 23) * 1e7
  x[1, 1] <- 5e9
  fit <- expect_finite_fit(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1))
  expect_true(is.finite(laplace(fit)))
  # The NLE is the brute-force log posterior at the fitted parameters. The
  # multinomial coefficients are differences of lgamma values near 1e11, so
  # both computations carry an absolute rounding error of order eps times those.
  nle <- -dense_log_likelihood(x, fitted(fit), fit$mixture$Weight) +
    dense_neg_log_prior(fitted(fit))
  allowed <- 1e-14 * sum(lgamma(rowSums(x) + 1)) + 1e-9 * abs(nle)
  expect_lt(abs(goodnessOfFit(fit)[["NLE"]] - nle), allowed)
})

test_that("identical samples fit with more components than needed", {
  x <- matrix(rep(c(5, 0, 12, 3, 1, 40), each = 10), 10, 6)
  fit <- suppressWarnings(dmn_fit(x, 3, seed = 1, threads = 1, nstart = 1))
  expect_finite_fit(fit)
})

test_that("samples with a single non-zero taxon fit", {
  x <- diag(c(4, 9, 1, 30, 2))[c(1:5, 1:5, 2, 4), ]
  x[11, 3] <- 2
  fit <- expect_finite_fit(suppressWarnings(dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)))
  one <- expect_finite_fit(dmn_fit(x, 1, seed = 3, threads = 1, nstart = 1))
  expect_true(is.finite(laplace(one)))
})

test_that("a very sparse table fits", {
  x <- with_seed(24, {
    x <- matrix(0, 60, 200)
    x[sample(length(x), 0.05 * length(x))] <- stats::rpois(0.05 * length(x), 20) + 1
    x[cbind(seq_len(60), sample(200, 60, replace = TRUE))] <- 3
    x
  })
  expect_gt(mean(x == 0), 0.93)
  fit <- expect_finite_fit(dmn_fit(x, 3, seed = 1, threads = 2, nstart = 1))
  nle <- -dense_log_likelihood(x, fitted(fit), fit$mixture$Weight) +
    dense_neg_log_prior(fitted(fit))
  expect_relative(goodnessOfFit(fit)[["NLE"]], nle, 1e-9)
})

test_that("k above the number of distinct samples gives finite criteria", {
  distinct <- rbind(c(30, 2, 1, 0), c(1, 25, 3, 2), c(0, 1, 4, 40))
  x <- distinct[rep(1:3, times = 4), ]
  fit <- withCallingHandlers(
    dmn_fit(x, 5, seed = 2, threads = 1, nstart = 1),
    fastdmm_empty_component = function(w) invokeRestart("muffleWarning")
  )
  expect_finite_fit(fit)
  expect_length(fit$mixture$Weight, 5L)
})

test_that("a component left empty is reported with a classed warning", {
  distinct <- rbind(c(30, 2, 1, 0), c(1, 25, 3, 2), c(0, 1, 4, 40))
  x <- distinct[rep(1:3, times = 4), ]
  fits <- lapply(1:20, function(seed) {
    warned <- FALSE
    fit <- withCallingHandlers(
      dmn_fit(x, 6, seed = seed, threads = 1, nstart = 1),
      fastdmm_empty_component = function(w) {
        warned <<- TRUE
        invokeRestart("muffleWarning")
      })
    list(fit = fit, warned = warned)
  })
  for (result in fits) {
    expect_finite_fit(result$fit)
    # Warned exactly when some weight is zero.
    expect_identical(result$warned, any(result$fit$mixture$Weight == 0))
  }
})

test_that("integer, double, data.frame and sparse tables give identical fits", {
  x <- simulate_counts(n = 15, n_taxa = 7, k = 2, seed = 25)
  fit <- without_call(dmn_fit(x, 2, seed = 4, threads = 1, nstart = 1))
  integer_x <- x
  storage.mode(integer_x) <- "integer"
  expect_identical(without_call(dmn_fit(integer_x, 2, seed = 4, threads = 1, nstart = 1)), fit)
  expect_identical(without_call(dmn_fit(as.data.frame(x), 2, seed = 4, threads = 1, nstart = 1)), fit)
  skip_if_not_installed("Matrix")
  sparse <- methods::as(Matrix::Matrix(x, sparse = TRUE), "CsparseMatrix")
  expect_s4_class(sparse, "dgCMatrix")
  expect_identical(without_call(dmn_fit(sparse, 2, seed = 4, threads = 1, nstart = 1)), fit)
  # Explicitly stored zeros and other sparse classes change nothing.
  stored_zero <- sparse
  stored_zero@x[1] <- 0
  dense_zero <- x
  dense_zero[sparse@i[1] + 1, 1] <- 0
  expect_identical(without_call(dmn_fit(stored_zero, 2, seed = 4, threads = 1, nstart = 1)),
                   without_call(dmn_fit(dense_zero, 2, seed = 4, threads = 1, nstart = 1)))
  triplet <- methods::as(sparse, "TsparseMatrix")
  expect_identical(without_call(dmn_fit(triplet, 2, seed = 4, threads = 1, nstart = 1)), fit)
})

test_that("row-compressed sparse input (the transposed storage) gives the dense fit", {
  skip_if_not_installed("Matrix")
  x <- good_counts()
  dense <- without_call(dmn_fit(x, 2, seed = 4, threads = 1, nstart = 1))
  by_row <- methods::as(Matrix::Matrix(x, sparse = TRUE), "RsparseMatrix")
  expect_s4_class(by_row, "dgRMatrix")
  expect_identical(without_call(dmn_fit(by_row, 2, seed = 4, threads = 1, nstart = 1)), dense)
})

# ---- the C++ input boundary -----------------------------------------------------------

# The compressed columns of a count table (everything but its external pointer).
table_columns <- function(table) unclass(table)[setdiff(names(table), "pointer")]

test_that("a logical sparse matrix is refused in plain words", {
  skip_if_not_installed("Matrix")
  logical_sparse <- Matrix::Matrix(good_counts() > 5, sparse = TRUE)
  expect_s4_class(logical_sparse, "lgCMatrix")
  error <- expect_input_error(dmn_fit(logical_sparse, 2, seed = 1, threads = 1, nstart = 1),
                              "fastdmm_not_numeric", "counts",
                              "must hold numeric counts, not an object of class 'lgCMatrix'$")
  expect_no_match(conditionMessage(error), "a an", fixed = TRUE)
})

test_that("bad values are counted per kind and reported in order, for every input class", {
  skip_if_not_installed("Matrix")
  x <- good_counts()
  # Each case: cells to spoil, the values put there, and the expected report.
  cases <- list(
    list(cells = 1:3, values = c(NA, -1, 2.5), problem = "NA values in 1 cell$"),
    list(cells = 1:4, values = c(NaN, NA, Inf, -1), problem = "NA values in 2 cells$"),
    list(cells = 1:4, values = c(Inf, -Inf, -1, 2.5), problem = "infinite values in 2 cells$"),
    list(cells = c(2, 7, 9), values = c(-1, -2, 0.5), problem = "negative values in 2 cells$"),
    list(cells = c(2, 7, 9), values = c(0.5, 1.25, 2^60), problem = "non-integer values in 2 cells;"),
    list(cells = c(2, 7), values = c(2^60, 2^54), problem = "above 2\\^53 in 2 cells,")
  )
  for (case in cases) {
    bad <- x
    bad[case$cells] <- case$values
    expect_input_error(dmn_fit(bad, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value", "counts",
                       case$problem)
    sparse <- methods::as(Matrix::Matrix(bad, sparse = TRUE), "CsparseMatrix")
    expect_s4_class(sparse, "dgCMatrix")
    expect_input_error(dmn_fit(sparse, 2, seed = 1, threads = 2, nstart = 1), "fastdmm_bad_value", "counts",
                       case$problem)
  }
  integer_x <- x
  storage.mode(integer_x) <- "integer"
  bad <- integer_x
  bad[c(1, 5, 8)] <- c(NA, -1L, NA)
  expect_input_error(dmn_fit(bad, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value", "counts",
                     "NA values in 2 cells$")
  bad[c(1, 8)] <- 3L
  bad[2] <- -7L
  expect_input_error(dmn_fit(bad, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_bad_value", "counts",
                     "negative values in 2 cells$")
  # An explicitly stored zero is not a count: a sample of stored zeros is empty.
  sparse <- methods::as(Matrix::Matrix(x, sparse = TRUE), "CsparseMatrix")
  in_row_2 <- sparse@i == 1L
  sparse@x[in_row_2] <- 0
  expect_input_error(dmn_fit(sparse, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_zero_sample", "counts",
                     paste0("1 sample whose counts are all zero: ", rownames(x)[2], ";"))
  integer_x[5, ] <- 0L
  expect_input_error(dmn_fit(unname(integer_x), 2, seed = 1, threads = 1, nstart = 1),
                     "fastdmm_zero_sample", "counts", "rows 5;")
})

test_that("every input class gives the same compressed table", {
  skip_if_not_installed("Matrix")
  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 26)
  x[3, 4] <- 70000  # beyond the small-count lookup table
  x[5, 4] <- 2^40
  dense <- table_columns(fastdmm:::as_counts(x, threads = 1))
  integer_x <- x
  integer_x[5, 4] <- 7
  storage.mode(integer_x) <- "integer"
  double_x <- x
  double_x[5, 4] <- 7
  expect_identical(table_columns(fastdmm:::as_counts(integer_x, threads = 1)),
                   table_columns(fastdmm:::as_counts(double_x, threads = 1)))
  sparse <- methods::as(Matrix::Matrix(x, sparse = TRUE), "CsparseMatrix")
  expect_identical(table_columns(fastdmm:::as_counts(sparse, threads = 2)), dense)
  expect_identical(table_columns(fastdmm:::as_counts(as.data.frame(x))), dense)
  # The tile vectors, read in R: every non-zero once, as its sample's row and
  # its (taxon, value) pair.
  double_table <- x
  storage.mode(double_table) <- "double"
  expect_identical(dense_from_table(fastdmm:::as_counts(x, threads = 1)), double_table)
  j <- 4L
  entries <- table_entries(dense)
  entries <- entries[entries$taxon == j, ]
  expect_identical(sort(entries$sample), unname(which(x[, j] != 0)))
  expect_identical(entries$count[order(entries$sample)], unname(x[x[, j] != 0, j]))
})

test_that("tables built on 1 and 2 threads are identical and give identical fits", {
  # More than 128 taxa and 512 samples, so that both passes split.
  x <- simulate_counts(n = 700, n_taxa = 300, k = 2, depth = 400, seed = 36, precision = 10)
  one <- fastdmm:::as_counts(x, threads = 1)
  two <- fastdmm:::as_counts(x, threads = 2)
  expect_identical(table_columns(one), table_columns(two))
  fit_one <- allow_unconverged(dmn_fit(one, 3, seed = 2, threads = 1, max_iter = 5, nstart = 1))
  fit_two <- allow_unconverged(dmn_fit(two, 3, seed = 2, threads = 1, max_iter = 5, nstart = 1))
  expect_identical(without_call(fit_one), without_call(fit_two))
  expect_identical(without_call(fit_one),
                   without_call(allow_unconverged(dmn_fit(x, 3, seed = 2, threads = 1,
                                                          max_iter = 5, nstart = 1))))
  integer_x <- x
  storage.mode(integer_x) <- "integer"
  expect_identical(table_columns(fastdmm:::as_counts(integer_x, threads = 2)), table_columns(one))
})

test_that("a serialised table is rebuilt and gives the identical fit", {
  x <- simulate_counts(n = 40, n_taxa = 9, k = 2, seed = 27)
  table <- fastdmm:::as_counts(x)
  copy <- unserialize(serialize(table, NULL))
  expect_identical(table_columns(copy), table_columns(table))
  fit <- without_call(dmn_fit(table, 2, seed = 3, threads = 1, nstart = 1))
  expect_identical(without_call(dmn_fit(copy, 2, seed = 3, threads = 1, nstart = 1)), fit)
  # The rebuilt table is cached: fitting again reuses it.
  expect_identical(without_call(dmn_fit(copy, 2, seed = 3, threads = 1, nstart = 1)), fit)
  expect_identical(without_call(dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)), fit)
})

test_that("a subset of a table is the table of the subset", {
  skip_if_not_installed("Matrix")
  x <- simulate_counts(n = 30, n_taxa = 10, k = 3, seed = 28)
  x[, 2] <- 0
  x[c(1, 5, 9), 3] <- c(1e6, 17, 2^45)
  table <- fastdmm:::as_counts(x)
  for (rows in list(1:30, c(2, 5, 9, 30), 17, seq(1, 29, by = 2))) {
    subset <- fastdmm:::subset_counts(table, rows)
    expect_identical(table_columns(subset),
                     table_columns(fastdmm:::as_counts(x[rows, , drop = FALSE])))
  }
  sparse <- fastdmm:::as_counts(Matrix::Matrix(unname(x), sparse = TRUE))
  expect_identical(table_columns(fastdmm:::subset_counts(sparse, c(3, 4))),
                   table_columns(fastdmm:::as_counts(unname(x)[3:4, ])))
})

test_that("dmngroup() gives the per-group fits of every input class", {
  skip_if_not_installed("Matrix")
  x <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 29)
  group <- rep(c("b", "a"), times = 15)
  expected <- lapply(c(a = "a", b = "b"), function(g) {
    without_call(dmn_fit(x[group == g, ], 2, seed = 5, threads = 1, nstart = 1))
  })
  for (input in list(x, as.data.frame(x), Matrix::Matrix(x, sparse = TRUE))) {
    grp <- dmngroup(input, group, k = 2, seed = 5, threads = 1, nstart = 1)
    expect_identical(lapply(unclass(grp), without_call), expected)
  }
})

test_that("threads are capped at the number of cores, and the fit records the number used", {
  x <- good_counts()
  cores <- fastdmm:::available_cores()
  fit <- expect_silent(dmn_fit(x, 2, seed = 1, threads = cores + 3, nstart = 1))
  expect_identical(fit$threads, as.integer(cores))
  expect_identical(without_call(fit)[names(fit) != "threads"],
                   without_call(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1))[names(fit) != "threads"])
})

test_that("futures on other workers receive the compact table, not the user's object", {
  skip_on_cran()
  # run_tasks() ships each fit's function with only the variables it names.
  make_fit_task <- function(counts) {
    data <- length(counts)
    function(task, report) {
      c(user_object = exists("counts", envir = environment(sys.function()), inherits = FALSE),
        value = data * task)
    }
  }
  old_plan <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old_plan), add = TRUE)
  results <- fastdmm:::run_tasks(list(1, 2), make_fit_task(1:10))
  expect_identical(results, list(c(user_object = 0, value = 10), c(user_object = 0, value = 20)))
  # And fits on workers, which rebuild the table from its compressed columns,
  # are the fits in this process.
  x <- simulate_counts(n = 40, n_taxa = 9, k = 2, seed = 31)
  parallel <- allow_unconverged(dmn_fit(x, 1:2, seed = 1, threads = 1, max_iter = 3, nstart = 1))
  future::plan(future::sequential)
  sequential <- allow_unconverged(dmn_fit(x, 1:2, seed = 1, threads = 1, max_iter = 3, nstart = 1))
  expect_identical(lapply(parallel, without_call), lapply(sequential, without_call))
})
