# Refusals of bad input (class and wording) and awkward-but-valid tables.

good_counts <- function() simulate_counts(n = 6, n_taxa = 5, k = 2, depth = 50, seed = 21)

# ---- counts -------------------------------------------------------------------

test_that("bad count values are refused, naming the problem and how many cells", {
  x <- good_counts()
  negative <- x
  negative[2, 3] <- -1
  expect_input_error(dmn_fit(negative, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "negative values in 1 cell$")
  with_na <- x
  with_na[1, 1:2] <- NA
  expect_input_error(dmn_fit(with_na, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "NA values in 2 cells")
  integer_na <- x
  storage.mode(integer_na) <- "integer"
  integer_na[3, 3] <- NA
  expect_input_error(dmn_fit(integer_na, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "NA")
  nan <- x
  nan[1, 1] <- NaN
  expect_input_error(dmn_fit(nan, 2, seed = 1, threads = 1), "fastdmm_bad_value", "counts")
  infinite <- x
  infinite[4, 2] <- Inf
  expect_input_error(dmn_fit(infinite, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "infinite")
  fractional <- x
  fractional[5, 5] <- 2.5
  expect_input_error(dmn_fit(fractional, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "non-integer")
  huge <- x
  huge[1, 1] <- 2^60
  expect_input_error(dmn_fit(huge, 2, seed = 1, threads = 1), "fastdmm_bad_value",
                     "counts", "2\\^53")
})

test_that("non-numeric counts are refused", {
  x <- good_counts()
  character_matrix <- matrix(as.character(x), nrow(x))
  expect_input_error(dmn_fit(character_matrix, 2, seed = 1, threads = 1),
                     "fastdmm_not_numeric", "counts", "character")
  logical_matrix <- x > 3
  expect_input_error(dmn_fit(logical_matrix, 2, seed = 1, threads = 1),
                     "fastdmm_not_numeric", "counts", "logical")
  frame <- as.data.frame(x)
  frame$taxon2 <- as.character(frame$taxon2)
  expect_input_error(dmn_fit(frame, 2, seed = 1, threads = 1), "fastdmm_not_numeric",
                     "counts", "taxon2")
  frame <- as.data.frame(x)
  frame$taxon3 <- factor(frame$taxon3)
  expect_input_error(dmn_fit(frame, 2, seed = 1, threads = 1), "fastdmm_not_numeric",
                     "counts", "taxon3")
})

test_that("things that are not tables are refused", {
  x <- good_counts()
  expect_input_error(dmn_fit(unname(as.list(as.data.frame(x))), 2, seed = 1, threads = 1),
                     "fastdmm_not_a_table", "counts", "list")
  expect_input_error(dmn_fit(list(a = 1:3, b = 4:6), 2, seed = 1, threads = 1),
                     "fastdmm_not_a_table", "counts")
  expect_input_error(dmn_fit(c("a", "b"), 1, seed = 1, threads = 1),
                     "fastdmm_not_a_table", "counts", "character")
  expect_input_error(dmn_fit(NULL, 1, seed = 1, threads = 1),
                     "fastdmm_not_a_table", "counts", "NULL")
  expect_input_error(dmn_fit(c(1, 2, 3), 1, seed = 1, threads = 1),
                     "fastdmm_not_a_table", "counts")
})

test_that("empty tables and single-taxon tables are refused", {
  expect_input_error(dmn_fit(matrix(numeric(0), 0, 4), 1, seed = 1, threads = 1),
                     "fastdmm_empty", "counts", "0 samples x 4 taxa")
  expect_input_error(dmn_fit(matrix(numeric(0), 4, 0), 1, seed = 1, threads = 1),
                     "fastdmm_empty", "counts", "4 samples x 0 taxa")
  # Empty data.frames become 0-row logical matrices in as.matrix(): refused,
  # though (as of writing) as "not numeric" rather than as empty.
  expect_input_error(dmn_fit(data.frame(a = numeric(0), b = numeric(0)), 1, seed = 1,
                             threads = 1), "fastdmm_input_error", "counts")
  expect_input_error(dmn_fit(data.frame(), 1, seed = 1, threads = 1),
                     "fastdmm_input_error", "counts")
  expect_input_error(dmn_fit(matrix(c(3, 4, 5), 3, 1), 1, seed = 1, threads = 1),
                     "fastdmm_too_few_taxa", "counts", "at least 2 taxa")
})

test_that("an all-zero sample is refused with its name or row number", {
  x <- good_counts()
  x[4, ] <- 0
  error <- expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1), "fastdmm_zero_sample",
                              "counts", "1 sample whose counts are all zero")
  expect_match(conditionMessage(error), rownames(x)[4], fixed = TRUE)
  x[6, ] <- 0
  unnamed <- unname(x)
  error <- expect_input_error(dmn_fit(unnamed, 2, seed = 1, threads = 1),
                              "fastdmm_zero_sample", "counts", "2 samples")
  expect_match(conditionMessage(error), "rows 4, 6", fixed = TRUE)
  many <- rbind(x, matrix(0, 6, ncol(x)))
  error <- expect_input_error(dmn_fit(unname(many), 2, seed = 1, threads = 1),
                              "fastdmm_zero_sample", "counts", "8 samples")
  expect_match(conditionMessage(error), "rows 4, 6, 13, 14, 15 and 3 more", fixed = TRUE)
})

test_that("a sparse table is validated the same way", {
  skip_if_not_installed("Matrix")
  x <- good_counts()
  x[2, 2] <- -3
  expect_input_error(dmn_fit(Matrix::Matrix(x, sparse = TRUE), 2, seed = 1, threads = 1),
                     "fastdmm_bad_value", "counts", "negative")
  x <- good_counts()
  x[3, ] <- 0
  expect_input_error(dmn_fit(Matrix::Matrix(x, sparse = TRUE), 2, seed = 1, threads = 1),
                     "fastdmm_zero_sample", "counts", rownames(x)[3])
  logical_sparse <- Matrix::Matrix(good_counts() > 5, sparse = TRUE)
  expect_input_error(dmn_fit(logical_sparse, 2, seed = 1, threads = 1),
                     "fastdmm_not_numeric", "counts")
})

# ---- scalar arguments -------------------------------------------------------------

test_that("bad k is refused", {
  x <- good_counts()
  for (k in list(0, 1.5, c(1, 1.5), c(2, 2), "a", NA, NA_real_, -1, Inf, NULL, integer(0))) {
    expect_input_error(dmn_fit(x, k, seed = 1, threads = 1), "fastdmm_bad_argument", "k")
  }
  expect_input_error(dmn_fit(x, nrow(x) + 1, seed = 1, threads = 1),
                     "fastdmm_bad_argument", "k", "must not exceed the number of samples")
  expect_input_error(dmn_fit(x, seed = 1, threads = 1), "fastdmm_bad_argument", "k",
                     "missing")
})

test_that("bad seed, threads, verbose, max_iter, tol and hessian are refused", {
  x <- good_counts()
  for (seed in list(NA, NA_real_, Inf, -Inf, NaN, "x", c(1, 2), 2^32, NULL)) {
    expect_input_error(dmn_fit(x, 2, seed = seed, threads = 1), "fastdmm_bad_argument",
                       "seed")
  }
  for (threads in list(0, -1, 1.5, "2", NA, c(1, 2))) {
    expect_input_error(dmn_fit(x, 2, seed = 1, threads = threads), "fastdmm_bad_argument",
                       "threads")
  }
  old_options <- options(fastdmm.threads = 0)
  on.exit(options(old_options), add = TRUE)
  expect_input_error(dmn_fit(x, 2, seed = 1), "fastdmm_bad_argument", "threads")
  options(old_options)
  for (verbose in list(NA, "yes", c(TRUE, FALSE), 1)) {
    expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, verbose = verbose),
                       "fastdmm_bad_argument", "verbose")
  }
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, max_iter = 0),
                     "fastdmm_bad_argument", "max_iter")
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, tol = -1),
                     "fastdmm_bad_argument", "tol")
  expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1, tol = NA),
                     "fastdmm_bad_argument", "tol")
  expect_error(dmn_fit(x, 2, seed = 1, threads = 1, hessian = "approximate"),
               "should be one of")
})

test_that("seeds are used as integers, as the reference's as.integer(seed)", {
  x <- good_counts()
  fractional <- dmn_fit(x, 2, seed = 7.9, threads = 1)
  expect_identical(fractional$seed, 7L)
  expect_identical(without_call(fractional), without_call(dmn_fit(x, 2, seed = 7L, threads = 1)))
})

# ---- predict --------------------------------------------------------------------

test_that("predict refuses newdata whose taxa do not match the model", {
  x <- good_counts()
  fit <- dmn_fit(x, 2, seed = 1, threads = 1)
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
  fit <- dmn_fit(x, 2, seed = 1, threads = 1)
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
  fit <- expect_finite_fit(dmn_fit(x, 2, seed = 1, threads = 1))
  expect_null(rownames(mixture(fit)))
  expect_null(rownames(fitted(fit)))
  expect_identical(colnames(mixture(fit)), c("1", "2"))
  named <- dmn_fit(simulate_counts(n = 10, n_taxa = 6, k = 2, seed = 22), 2, seed = 1, threads = 1)
  expect_identical(unname(goodnessOfFit(fit)), unname(goodnessOfFit(named)))
})

test_that("counts of a billion and beyond 32-bit integers fit", {
  x <- simulate_counts(n = 8, n_taxa = 5, k = 2, seed = 23) * 1e7
  x[1, 1] <- 5e9
  fit <- expect_finite_fit(dmn_fit(x, 2, seed = 1, threads = 1))
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
  fit <- suppressWarnings(dmn_fit(x, 3, seed = 1, threads = 1))
  expect_finite_fit(fit)
})

test_that("samples with a single non-zero taxon fit", {
  x <- diag(c(4, 9, 1, 30, 2))[c(1:5, 1:5, 2, 4), ]
  x[11, 3] <- 2
  fit <- expect_finite_fit(suppressWarnings(dmn_fit(x, 2, seed = 3, threads = 1)))
  one <- expect_finite_fit(dmn_fit(x, 1, seed = 3, threads = 1))
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
  fit <- expect_finite_fit(dmn_fit(x, 3, seed = 1, threads = 2))
  nle <- -dense_log_likelihood(x, fitted(fit), fit$mixture$Weight) +
    dense_neg_log_prior(fitted(fit))
  expect_relative(goodnessOfFit(fit)[["NLE"]], nle, 1e-9)
})

test_that("k above the number of distinct samples gives finite criteria", {
  distinct <- rbind(c(30, 2, 1, 0), c(1, 25, 3, 2), c(0, 1, 4, 40))
  x <- distinct[rep(1:3, times = 4), ]
  fit <- withCallingHandlers(
    dmn_fit(x, 5, seed = 2, threads = 1),
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
      dmn_fit(x, 6, seed = seed, threads = 1),
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
  fit <- without_call(dmn_fit(x, 2, seed = 4, threads = 1))
  integer_x <- x
  storage.mode(integer_x) <- "integer"
  expect_identical(without_call(dmn_fit(integer_x, 2, seed = 4, threads = 1)), fit)
  expect_identical(without_call(dmn_fit(as.data.frame(x), 2, seed = 4, threads = 1)), fit)
  skip_if_not_installed("Matrix")
  sparse <- methods::as(Matrix::Matrix(x, sparse = TRUE), "CsparseMatrix")
  expect_s4_class(sparse, "dgCMatrix")
  expect_identical(without_call(dmn_fit(sparse, 2, seed = 4, threads = 1)), fit)
  # Explicitly stored zeros and other sparse classes change nothing.
  stored_zero <- sparse
  stored_zero@x[1] <- 0
  dense_zero <- x
  dense_zero[sparse@i[1] + 1, 1] <- 0
  expect_identical(without_call(dmn_fit(stored_zero, 2, seed = 4, threads = 1)),
                   without_call(dmn_fit(dense_zero, 2, seed = 4, threads = 1)))
  triplet <- methods::as(sparse, "TsparseMatrix")
  expect_identical(without_call(dmn_fit(triplet, 2, seed = 4, threads = 1)), fit)
})

test_that("row-compressed sparse input (the transposed storage) gives the dense fit", {
  skip_if_not_installed("Matrix")
  x <- good_counts()
  dense <- without_call(dmn_fit(x, 2, seed = 4, threads = 1))
  by_row <- methods::as(Matrix::Matrix(x, sparse = TRUE), "RsparseMatrix")
  expect_s4_class(by_row, "dgRMatrix")
  expect_identical(without_call(dmn_fit(by_row, 2, seed = 4, threads = 1)), dense)
})
