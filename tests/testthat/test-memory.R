# The memory check before a fit (R/memory.R): a fit whose estimated needs exceed
# the memory available is refused, classed, before anything of size N x k is
# allocated; ordinary fits pass. Tests set the memory "available" through the
# option rather than exhausting the machine.

test_that("a fit larger than the memory available is refused with a classed error", {
  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 3)
  withr::local_options(fastdmm.available_memory = 2^20)
  err <- expect_error(dmn_fit(x, 3, seed = 1, threads = 1, nstart = 1),
                      class = "fastdmm_insufficient_memory")
  expect_s3_class(err, "fastdmm_input_error")
  msg <- conditionMessage(err)
  expect_match(msg, "^'k' = 3 on 60 samples x 12 taxa")
  expect_match(msg, "needs about .* but 1.0 MB is available", fixed = FALSE)
  expect_match(msg, "fewer components", fixed = TRUE)
  expect_match(msg, "fastdmm.available_memory = Inf", fixed = TRUE)
  expect_gt(err$needed, err$available)
  # A start you give is refused before its N x k matrix is made, and several k
  # are judged by the largest.
  expect_error(dmn_fit(x, 2, init = rep(1:2, 30), seed = 1, threads = 1, nstart = 1),
               class = "fastdmm_insufficient_memory")
  expect_error(dmn_fit(x, 1:3, seed = 1, threads = 1, nstart = 1), "'k' = 3",
               class = "fastdmm_insufficient_memory")
})

test_that("ordinary fits pass the check, and Inf turns it off", {
  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 3)
  expect_s3_class(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1), "dmn_fit")
  withr::local_options(fastdmm.available_memory = 1e9)
  expect_s3_class(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 2), "dmn_fit")
  withr::local_options(fastdmm.available_memory = Inf)
  expect_s3_class(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1), "dmn_fit")
  # The check changes nothing in the fit.
  withr::local_options(fastdmm.available_memory = NULL)
  expect_identical(without_call(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1)),
                   withr::with_options(list(fastdmm.available_memory = Inf),
                                       without_call(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1))))
})

test_that("the estimate counts the N x k arrays and names the largest k that fits", {
  search <- fastdmm:::resolve_search(dmn_search(), 1L)
  estimate <- function(k, ...) {
    fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, k, 1L, search, ...)
  }
  # The issue's example: 2,000,000 x 20 with k = 500 from given labels grew past
  # 24 GB; the posteriors alone (a state's two N x k matrices and the result's)
  # are 3 x 8 x N x k bytes.
  expect_gt(estimate(500, given = TRUE), 24 * 2^30)
  expect_gt(estimate(10, given = FALSE), 3 * 8 * 2e6 * 10)
  # At most a dozen N x k matrices and 64 MB (nothing per non-zero).
  expect_lt(estimate(10, given = FALSE), 12 * 8 * 2e6 * 10 + 64 * 2^20)
  expect_gt(estimate(11, given = FALSE),
            estimate(10, given = FALSE))
  # A subsampled search needs less than the same search on every sample.
  many <- fastdmm:::resolve_search(dmn_search(), 10L)
  all_samples <- fastdmm:::resolve_search(dmn_search(subsample = Inf), 10L)
  expect_lt(fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 10L, many, FALSE),
            fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 10L, all_samples, FALSE))
  # One start is searched on the subsample, with reused M-steps, when it is a
  # k-means++ start, and is the reference's algorithm (all samples, every
  # M-step) from the reference's start, whatever moves either is given (the
  # core's rule, search.cpp).
  # With split-merge, the reference's start holds its states on all samples.
  one_moved <- fastdmm:::resolve_search(dmn_search(split_merge = TRUE), 1L)
  expect_lt(fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 1L, one_moved, FALSE,
                                          kmeanspp = TRUE),
            fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 1L, one_moved, FALSE))
  # Without moves and on all samples, a k-means++ start counts the reused
  # M-steps' N x k array per state on top.
  one_all <- fastdmm:::resolve_search(dmn_search(split_merge = FALSE, transfers = FALSE,
                                                 subsample = Inf), 1L)
  expect_gt(fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 1L, one_all, FALSE,
                                          kmeanspp = TRUE),
            fastdmm:::fit_memory_estimate(2e6, 20, 2e7, 5e4, 10, 1L, one_all, FALSE) +
              8 * 2e6 * 10)

  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 3)
  data <- fastdmm:::as_counts(x)
  at <- function(k) {
    fastdmm:::fit_memory_estimate(60, 12, fastdmm:::table_nnz(data), length(data$pair_value), k,
                                  1L, search, FALSE)
  }
  withr::local_options(fastdmm.available_memory = (at(7) + at(8)) / 2)
  expect_error(dmn_fit(x, 9, seed = 1, threads = 1, nstart = 1), "At most k = 7 would fit",
               class = "fastdmm_insufficient_memory")
  expect_s3_class(suppressWarnings(dmn_fit(x, 7, seed = 1, threads = 1, max_iter = 2, nstart = 1)), "dmn_fit")
})

test_that("a replicated search runs as many starts side by side as the memory holds", {
  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 3)
  data <- fastdmm:::as_counts(x)
  search <- fastdmm:::resolve_search(dmn_search(), NULL)
  # The table's own sizes, as start_concurrency() reads them (simulate_counts()
  # draws n samples per component).
  needed <- function(w) {
    fastdmm:::fit_memory_estimate(data$n_samples, data$n_taxa, fastdmm:::table_nnz(data),
                                  length(data$pair_value), 3, 2L, search, FALSE, concurrent = w)
  }
  # One start at a time is the estimate of the replicated search as before
  # (two states kept); each further start adds its own states.
  expect_identical(needed(1), fastdmm:::fit_memory_estimate(
    data$n_samples, data$n_taxa, fastdmm:::table_nnz(data), length(data$pair_value), 3, 2L,
    search, FALSE))
  expect_lt(needed(1), needed(2))
  expect_lt(needed(2), needed(3))
  concurrency <- function(memory) {
    withr::local_options(fastdmm.available_memory = memory)
    fastdmm:::start_concurrency(4L, data, 3, search, "reference")
  }
  expect_identical(concurrency(Inf), 4L)
  expect_identical(concurrency((needed(2) + needed(3)) / 2), 2L)
  expect_identical(concurrency(needed(1)), 1L)
})

test_that("the estimate counts the replicated search's caches of E-step columns", {
  search <- fastdmm:::resolve_search(dmn_search(), NULL)
  without <- search
  without$column_cache <- FALSE
  estimate <- function(s, n_taxa, concurrent) {
    fastdmm:::fit_memory_estimate(500, n_taxa, 1e6, 5e4, 10, 2L, s, FALSE,
                                  concurrent = concurrent)
  }
  # One cache per start running and one for the division moves of the start
  # taken: 3 k + 4 = 34 columns of 2 taxa + N doubles (11 MB, under 64 MiB),
  # and the scratch of the columns an E-step makes.
  column <- 8 * (2 * 2e4 + 500)
  expect_equal(estimate(search, 2e4, 2L) - estimate(without, 2e4, 2L),
               3 * (34 * column + 8 * 10 * (5e4 + 2 * 2e4 + 500)))
  # Where k + 2 columns would take more than 256 MiB, the search keeps none.
  expect_equal(estimate(search, 2e7, 2L), estimate(without, 2e7, 2L))
})

test_that("a bad fastdmm.available_memory is refused", {
  x <- simulate_counts(n = 30, n_taxa = 12, k = 2, seed = 3)
  for (bad in list("lots", -1, NA_real_, c(1e9, 2e9))) {
    withr::local_options(fastdmm.available_memory = bad)
    expect_error(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1), "fastdmm.available_memory",
                 class = "fastdmm_bad_argument")
  }
})

test_that("the estimate does not overflow R's integers at a million samples and thousands of k", {
  search <- fastdmm:::resolve_search(dmn_search(), NULL)
  # N x k = 5e9 is beyond .Machine$integer.max; the result's three N x k
  # arrays alone need 8 * 3 * N * k bytes.
  estimate <- fastdmm:::fit_memory_estimate(1000000L, 1000L, 71763358L, 275349L, 5000L, 2L,
                                            search, FALSE)
  expect_true(is.finite(estimate))
  expect_gte(estimate, 8 * 3 * 1e6 * 5000)
  expect_identical(estimate, fastdmm:::fit_memory_estimate(1e6, 1000, 71763358, 275349, 5000,
                                                           2, search, FALSE))
})
