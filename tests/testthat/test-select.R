# Several k and several starts: dmn_fits lists, restarts and choosing a model.

select_counts <- function() {
  with_seed(71, rdmm(40, cbind(c(20, 5, 1, 1), c(1, 1, 5, 20)), depth = 500))
}

# Components that compete, so that different starts end at different optima.
restart_counts <- function() {
  simulate_counts(n = 30, n_taxa = 25, k = 4, depth = 80, seed = 42, precision = 3)
}

select_fits <- local({
  fits <- NULL
  function() {
    if (is.null(fits)) fits <<- dmn_fit(select_counts(), 1:3, seed = 1, threads = 1, nstart = 1)
    fits
  }
})

test_that("a vector k gives a dmn_fits list of the single fits", {
  x <- select_counts()
  fits <- select_fits()
  expect_s3_class(fits, "dmn_fits")
  expect_length(fits, 3L)
  for (k in 1:3) {
    expect_identical(without_call(fits[[k]]), without_call(dmn_fit(x, k, seed = 1, threads = 1, nstart = 1)),
                     label = sprintf("fit for k = %d", k))
  }
  subset <- fits[2:3]
  expect_s3_class(subset, "dmn_fits")
  expect_identical(vapply(subset, function(fit) fit$k, integer(1)), 2:3)
  # Order follows k as given.
  reversed <- dmn_fit(x, c(3, 1), seed = 1, threads = 1, nstart = 1)
  expect_identical(vapply(reversed, function(fit) fit$k, integer(1)), c(3L, 1L))
  expect_identical(without_call(reversed[[1]]), without_call(fits[[3]]))
})

test_that("as.data.frame() and summary() tabulate the criteria of every fit", {
  fits <- select_fits()
  table <- as.data.frame(fits)
  expect_named(table, c("k", "NLE", "LogDet", "Laplace", "BIC", "AIC", "best_start", "nstart"))
  expect_identical(table$k, 1:3)
  for (k in 1:3) {
    expect_identical(unlist(table[k, c("NLE", "LogDet", "Laplace", "BIC", "AIC")]),
                     goodnessOfFit(fits[[k]]))
  }
  expect_identical(table$best_start, rep(1L, 3))
  expect_identical(table$nstart, rep(1L, 3))
  s <- summary(fits)
  expect_s3_class(s, "summary.dmn_fits")
  expect_identical(as.data.frame(unclass(s)), table)
})

test_that("best_fit() picks the smallest criterion", {
  fits <- select_fits()
  criteria <- t(vapply(fits, goodnessOfFit, numeric(5)))
  expect_identical(best_fit(fits), fits[[which.min(criteria[, "Laplace"])]])
  expect_identical(best_fit(fits, by = "BIC"), fits[[which.min(criteria[, "BIC"])]])
  expect_identical(best_fit(fits, by = "aic"), fits[[which.min(criteria[, "AIC"])]])
  # Two simulated components: every criterion picks k = 2.
  expect_identical(best_fit(fits, by = "BIC")$k, 2L)
  expect_identical(best_fit(fits[[1]]), fits[[1]])
  expect_error(best_fit(list(1)), class = "fastdmm_bad_argument", regexp = "^'fits'")
  expect_error(best_fit(fits, by = 3), class = "fastdmm_bad_argument", regexp = "^'by'")
  expect_error(best_fit(fits, by = "deviance"))
})

test_that("print() of several fits marks each criterion's minimum", {
  fits <- select_fits()
  output <- capture.output(print(fits))
  expect_identical(output[1], "Dirichlet-multinomial mixtures for k = 1..3")
  expect_identical(utils::tail(output, 1), "* smallest value of the criterion")
  rows <- output[3:5]
  best <- vapply(c("Laplace", "BIC", "AIC"), function(criterion) {
    which.min(vapply(fits, function(fit) goodnessOfFit(fit)[[criterion]], numeric(1)))
  }, integer(1))
  stars <- lengths(regmatches(rows, gregexpr("\\*", rows)))
  expect_identical(stars, as.integer(tabulate(best, nbins = 3)))
  expect_match(capture.output(print(dmn_fit(select_counts(), c(1, 3), seed = 1, threads = 1, nstart = 1)))[1],
               "k = 1, 3$")
})

test_that("plot() of several fits draws and returns them invisibly", {
  fits <- select_fits()
  local_file_device(".pdf")
  expect_invisible(plot(fits))
  expect_identical(withVisible(plot(fits, criteria = c("NLE", "BIC")))$value, fits)
  expect_error(plot(fits, criteria = "deviance"))
})

test_that("restart seeds are the seed, then SplitMix64 outputs derived from it", {
  for (seed in c(1L, 0L, -5L, 123456L, .Machine$integer.max)) {
    expect_identical(fastdmm:::.derive_seeds(seed, 6L), r_derived_seeds(seed, 6L),
                     label = sprintf("seeds derived from %d", seed))
  }
  # SplitMix64 from state 0 starts 0xe220a8397b1dcdaf; its low 31 bits:
  expect_identical(fastdmm:::.derive_seeds(0L, 2L)[2], strtoi("7b1dcdaf", 16L))
})

test_that("nstart keeps the best of several starts, each start on record", {
  x <- restart_counts()
  fit <- dmn_fit(x, 4, seed = 2, nstart = 4, threads = 1)
  starts <- fit$starts
  expect_identical(starts$start, 1:4)
  expect_identical(starts$seed, r_derived_seeds(2L, 4L))
  expect_identical(fit$seed, starts$seed[fit$best_start])
  # The kept start is the lowest of those run on to the end (split-merge moves
  # may lower it further, never raise it).
  finished <- starts$continued & starts$status != "abandoned"
  expect_true(finished[fit$best_start])
  expect_lte(goodnessOfFit(fit)[["NLE"]], starts$NLE[fit$best_start])
  lowest <- min(starts$NLE[finished])
  expect_lte(starts$NLE[fit$best_start], lowest + 1e-9 * abs(lowest))
  # nstart = 1 is the single fit from the seed itself.
  one <- dmn_fit(x, 4, seed = 3, nstart = 1, threads = 1)
  expect_identical(without_call(one), without_call(dmn_fit(x, 4, seed = 3, threads = 1, nstart = 1)))
  expect_identical(one$starts$seed, 3L)
  output <- capture.output(print(fit))
  expect_match(output[6], sprintf("^best of 4 starts \\(start %d; %d run to the end\\)",
                                  fit$best_start, sum(finished)))
})

test_that("vector k with restarts tabulates each k's best start", {
  x <- restart_counts()
  fits <- dmn_fit(x, 3:4, seed = 3, nstart = 3, threads = 1)
  table <- as.data.frame(fits)
  expect_identical(table$nstart, c(3L, 3L))
  for (i in 1:2) {
    expect_identical(table$best_start[i], fits[[i]]$best_start)
    expect_identical(table$NLE[i], goodnessOfFit(fits[[i]])[["NLE"]])
    expect_lte(table$NLE[i], min(fits[[i]]$starts$NLE, na.rm = TRUE) * (1 + 1e-9))
  }
})

test_that("verbose = TRUE reports each k in turn", {
  run <- capture_messages(dmn_fit(select_counts(), 1:2, seed = 1, threads = 1, verbose = TRUE, nstart = 1))
  expect_identical(grep("^dmn, k=", run$messages, value = TRUE), c("dmn, k=1", "dmn, k=2"))
})

test_that("bad k vectors and nstart are refused", {
  x <- select_counts()
  expect_error(dmn_fit(x, c(2, 2), seed = 1, threads = 1, nstart = 1), class = "fastdmm_bad_argument",
               regexp = "^'k' has duplicated")
  expect_error(dmn_fit(x, c(1, 50, 60), seed = 1, threads = 1, nstart = 1), class = "fastdmm_bad_argument",
               regexp = "^'k' \\(50, 60\\) must not exceed the number of samples \\(40\\)")
  expect_error(dmn_fit(x, c(1, NA), seed = 1, threads = 1, nstart = 1), class = "fastdmm_bad_argument",
               regexp = "^'k'")
  expect_error(dmn_fit(x, integer(0), seed = 1, threads = 1, nstart = 1), class = "fastdmm_bad_argument",
               regexp = "^'k'")
  for (nstart in list(0, 1.5, NA, "2", c(1, 2))) {
    expect_error(dmn_fit(x, 2, seed = 1, threads = 1, nstart = nstart),
                 class = "fastdmm_bad_argument", regexp = "^'nstart'")
  }
})

test_that("more starts never end at a higher NLE than one start, for every k", {
  x <- restart_counts()
  improvement <- c()
  for (seed in c(2, 4)) {
    one <- dmn_fit(x, 2:4, seed = seed, nstart = 1, threads = 1)
    several <- dmn_fit(x, 2:4, seed = seed, nstart = 4, threads = 1)
    for (i in seq_along(one)) {
      label <- sprintf("seed %d, k = %d", seed, one[[i]]$k)
      nle_one <- goodnessOfFit(one[[i]])[["NLE"]]
      nle_several <- goodnessOfFit(several[[i]])[["NLE"]]
      expect_lte(nle_several, nle_one + 1e-9 * abs(nle_one), label = label)
      # Start 1 of several starts is the single start.
      expect_identical(several[[i]]$starts$kind[1], "reference", label = label)
      lowest <- min(several[[i]]$starts$NLE, na.rm = TRUE)
      expect_lte(nle_several, lowest + 1e-9 * abs(lowest), label = label)
      improvement <- c(improvement, nle_one - nle_several)
    }
  }
  # These seeds include starts that restarts improve on (k = 2 from seed 4 and
  # k = 4 from seed 2), so the comparison is not vacuous.
  expect_gt(sum(improvement > 1), 1L)
})

test_that("nstart = 1 with a vector k gives each k's single fit", {
  x <- restart_counts()
  fits <- dmn_fit(x, c(1, 3), seed = 9, nstart = 1, threads = 1)
  for (i in 1:2) {
    single <- dmn_fit(x, fits[[i]]$k, seed = 9, threads = 1, nstart = 1)
    expect_identical(goodnessOfFit(fits[[i]]), goodnessOfFit(single))
    expect_identical(mixture(fits[[i]]), mixture(single))
    expect_identical(fitted(fits[[i]]), fitted(single))
  }
})

test_that("a multisession plan gives the same fits as a sequential one", {
  x <- restart_counts()
  old_plan <- future::plan(future::sequential)
  on.exit(future::plan(old_plan), add = TRUE)
  sequential <- dmn_fit(x, 1:3, seed = 4, nstart = 2, threads = 1)
  sequential_default <- dmn_fit(x, 1:3, seed = 4, nstart = 2)
  future::plan(future::multisession, workers = 2)
  expect_equal(future::nbrOfWorkers(), 2)
  searched <- dmn_fit(x, 2:3, seed = 4, nstart = 3, threads = 1, init = "kmeans++",
                      rel_tol = 1e-10, search = dmn_search(screen_iter = 3, n_continue = 1))
  parallel <- dmn_fit(x, 1:3, seed = 4, nstart = 2, threads = 1)
  # Without 'threads', fits running side by side get one thread each.
  parallel_default <- dmn_fit(x, 1:3, seed = 4, nstart = 2)
  expect_identical(vapply(parallel_default, function(fit) fit$threads, integer(1)), rep(1L, 3))
  strip <- function(fits) lapply(fits, function(fit) without_call(fit)[setdiff(names(fit), "threads")])
  expect_identical(strip(parallel), strip(sequential))
  expect_identical(strip(parallel_default), strip(sequential))
  expect_identical(strip(sequential_default), strip(sequential))
  expect_identical(as.data.frame(parallel), as.data.frame(sequential))
  # The search's own arguments reach the workers.
  searched_parallel <- dmn_fit(x, 2:3, seed = 4, nstart = 3, threads = 1, init = "kmeans++",
                               rel_tol = 1e-10,
                               search = dmn_search(screen_iter = 3, n_continue = 1))
  expect_identical(strip(searched_parallel), strip(searched))
  expect_identical(searched[[1]]$starts$kind, rep("kmeans++", 3))
  expect_lte(sum(searched[[1]]$starts$continued), 1L)
})

test_that("best_fit() takes the first of tied criteria and ignores missing ones", {
  fits <- select_fits()
  tied <- fits
  tied[[3]]$goodnessOfFit[["BIC"]] <- tied[[2]]$goodnessOfFit[["BIC"]]
  expect_identical(best_fit(tied, by = "BIC")$k, 2L)
  reversed <- fits[3:1]
  reversed[[2]]$goodnessOfFit[["AIC"]] <- reversed[[1]]$goodnessOfFit[["AIC"]] - 1
  expect_identical(best_fit(reversed, by = "AIC")$k, 2L)
  expect_error(best_fit(fits, by = character(0)), class = "fastdmm_bad_argument", regexp = "^'by'")
  expect_error(best_fit(fits, by = NA), class = "fastdmm_bad_argument", regexp = "^'by'")
})
