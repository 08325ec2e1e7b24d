# Threads chosen by work (issue 20): with `threads` left NULL and no
# fastdmm.threads option, a fit uses one thread per work_per_thread
# non-zero x component units of its table (at least one, at most the cores);
# anything the user sets is obeyed. Results never depend on the count.

test_that("the default thread count follows the table's work, bounded by the cores", {
  withr::local_options(fastdmm.threads = NULL)
  cores <- fastdmm:::available_cores()
  unit <- fastdmm:::work_per_thread
  expect_identical(fastdmm:::resolve_threads(NULL, work = 1), 1L)
  expect_identical(fastdmm:::resolve_threads(NULL, work = unit - 1), 1L)
  expect_identical(fastdmm:::resolve_threads(NULL, work = 2 * unit), min(2L, cores))
  expect_identical(fastdmm:::resolve_threads(NULL, work = 1e12), cores)
  expect_identical(fastdmm:::resolve_threads(NULL), cores)
})

test_that("the cores are RcppParallel's, at most 2 while R CMD check limits them", {
  expect_identical(fastdmm:::available_cores(limit = "", cores = 16), 16L)
  expect_identical(fastdmm:::available_cores(limit = "false", cores = 16), 16L)
  expect_identical(fastdmm:::available_cores(limit = "FALSE", cores = 16), 16L)
  expect_identical(fastdmm:::available_cores(limit = "TRUE", cores = 16), 2L)
  expect_identical(fastdmm:::available_cores(limit = "true", cores = 1), 1L)
  expect_identical(fastdmm:::available_cores(limit = "", cores = 0), 1L)
  withr::local_envvar(`_R_CHECK_LIMIT_CORES_` = "TRUE")
  withr::local_options(fastdmm.threads = NULL)
  expect_lte(fastdmm:::resolve_threads(NULL), 2L)
  expect_lte(fastdmm:::resolve_threads(64L), 2L)
})

test_that("dmn_fit() records the thread count its table pays for, and obeys what it is given", {
  withr::local_options(fastdmm.threads = NULL)
  cores <- fastdmm:::available_cores()
  counts <- twins_counts()  # 278 x 130, about 7,800 non-zeros: far below one thread's work
  work <- sum(counts > 0) * 3
  expect_lt(work, fastdmm:::work_per_thread)
  expect_identical(dmn_fit(counts, 3, seed = 1)$threads, 1L)
  expect_identical(dmn_fit(counts, 3, seed = 1, threads = 2)$threads, min(2L, cores))
  withr::local_options(fastdmm.threads = 2)
  expect_identical(dmn_fit(counts, 3, seed = 1)$threads, min(2L, cores))
})

test_that("a table large enough for two threads gets them by default, with the same result as one", {
  skip_if(RcppParallel::defaultNumThreads() < 2, "one core")
  withr::local_options(fastdmm.threads = NULL)
  set.seed(3)
  alpha <- matrix(rgamma(400 * 2, 0.5), 400, 2)
  counts <- rdmm(600, alpha, depth = 3000, threads = 1)
  expect_gte(sum(counts > 0) * 2, 2 * fastdmm:::work_per_thread)
  by_default <- dmn_fit(counts, 2, seed = 1)
  expect_identical(by_default$threads, 2L)
  one <- dmn_fit(counts, 2, seed = 1, threads = 1)
  strip <- function(fit) { fit$call <- NULL; fit$threads <- NULL; fit }
  expect_identical(strip(by_default), strip(one))
})
