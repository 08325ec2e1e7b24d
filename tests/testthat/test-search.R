# The search for the best optimum (DESIGN.md section 5): starts, em-EM screening,
# split-merge moves, SQUAREM acceleration and the relative convergence floor.

search_counts <- function() {
  simulate_counts(n = 25, n_taxa = 12, k = 3, depth = 400, seed = 5, precision = 20)
}

# EM from a given posterior, in plain R on the dense table: proportion centres,
# lambda = log(centre) (-10 where zero), one M-step, then E- and M-steps. Each
# M-step minimises dense_objective() with optim()'s BFGS and dense_gradient().
r_em_from_posterior <- function(x, z, iterations) {
  x <- as.matrix(x)
  y <- x / rowSums(x)
  k <- ncol(z)
  centres <- t(z) %*% y / colSums(z)
  lambda <- ifelse(centres > 0, log(centres), -10)
  m_step <- function(lambda, z) {
    t(vapply(seq_len(k), function(j) {
      stats::optim(lambda[j, ], function(l) dense_objective(x, z[, j], l),
                   function(l) dense_gradient(x, z[, j], l), method = "BFGS",
                   control = list(reltol = 1e-14, maxit = 5000))$par
    }, numeric(ncol(x))))
  }
  lambda <- m_step(lambda, z)
  weights <- colSums(z)
  nle <- numeric(0)
  for (iteration in seq_len(iterations)) {
    e <- dense_log_evidence(x, t(exp(lambda)))
    log_post <- e + rep(log(weights), each = nrow(x))
    z <- exp(log_post - apply(log_post, 1L, max))
    z <- z / rowSums(z)
    lambda <- m_step(lambda, z)
    weights <- colSums(z)
    alpha <- t(exp(lambda))
    nle <- c(nle, -dense_log_likelihood(x, alpha, weights / nrow(x)) + dense_neg_log_prior(alpha))
  }
  list(nle = nle, alpha = t(exp(lambda)), posterior = z)
}

test_that("a start given as labels reproduces EM from that start (against R)", {
  x <- search_counts()
  labels <- rep(c(1, 2, 3), times = c(30, 25, 20))  # deliberately off the truth
  fit <- allow_unconverged(dmn_fit(x, 3, init = labels, max_iter = 4, threads = 1,
                                   accelerate = FALSE, nstart = 1))
  expected <- r_em_from_posterior(x, outer(labels, 1:3, "==") + 0, 4)
  expect_identical(fit$init, "given")
  expect_identical(fit$starts$kind, "given")
  expect_relative(fit$nle_trace, expected$nle, 1e-8)
  # Components are sorted by weight in the fit; match them by their alphas.
  o <- order(colSums(expected$posterior), decreasing = TRUE)
  expect_relative(fitted(fit), expected$alpha[, o], 1e-4, floor = 1e-3)
  expect_equal(unname(mixture(fit)), unname(expected$posterior[, o]), tolerance = 1e-5)
})

test_that("a 0/1 posterior matrix is the same start as its labels; a factor too", {
  x <- search_counts()
  labels <- rep(1:3, length.out = nrow(x))
  from_labels <- dmn_fit(x, 3, init = labels, seed = 1, threads = 1, nstart = 1)
  from_matrix <- dmn_fit(x, 3, init = outer(labels, 1:3, "==") + 0, seed = 1, threads = 1, nstart = 1)
  from_factor <- dmn_fit(x, 3, init = factor(labels), seed = 1, threads = 1, nstart = 1)
  expect_identical(without_call(from_matrix), without_call(from_labels))
  expect_identical(without_call(from_factor), without_call(from_labels))
  # The truth as a start ends at least as low as the reference's start.
  truth <- rep(1:3, each = 25)
  expect_lte(goodnessOfFit(dmn_fit(x, 3, init = truth, threads = 1, nstart = 1))[["NLE"]],
             goodnessOfFit(dmn_fit(x, 3, seed = 1, threads = 1, nstart = 1))[["NLE"]] + 1e-6)
})

test_that("bad starts are refused with a clear error", {
  x <- search_counts()
  n <- nrow(x)
  expect_input_error(dmn_fit(x, 3, init = "random", threads = 1, nstart = 1), "fastdmm_bad_argument",
                     "init", "\"random\"")
  expect_input_error(dmn_fit(x, 3, init = rep(1, n - 1), threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "init", "75 component labels")
  expect_input_error(dmn_fit(x, 3, init = c(NA, rep(1, n - 1)), threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "init", "samples 1\\)")
  expect_input_error(dmn_fit(x, 3, init = c(4, 1.5, rep(1, n - 2)), threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "init", "2 are not \\(samples 1, 2\\)")
  expect_input_error(dmn_fit(x, 3, init = matrix(1 / 3, n, 2), threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "init", "75 rows")
  z <- matrix(1 / 3, n, 3)
  z[5, ] <- c(0.5, 0.5, 0.5)
  expect_input_error(dmn_fit(x, 3, init = z, threads = 1, nstart = 1), "fastdmm_bad_argument", "init",
                     "summing to 1; 1 row does not: 5")
  z[5, ] <- c(NA, 0.5, 0.5)
  expect_input_error(dmn_fit(x, 3, init = z, threads = 1, nstart = 1), "fastdmm_bad_argument", "init",
                     "finite")
  expect_input_error(dmn_fit(x, 2:3, init = rep(1, n), threads = 1, nstart = 1), "fastdmm_bad_argument",
                     "init", "one number of components")
  for (bad in list(NA, "yes", c(TRUE, FALSE))) {
    expect_input_error(dmn_fit(x, 3, accelerate = bad, threads = 1, nstart = 1), "fastdmm_bad_argument",
                       "accelerate")
  }
  expect_input_error(dmn_fit(x, 3, rel_tol = -1, threads = 1, nstart = 1), "fastdmm_bad_argument", "rel_tol")
  expect_input_error(dmn_fit(x, 3, search = list(), threads = 1, nstart = 1), "fastdmm_bad_argument",
                     "search")
  expect_input_error(dmn_search(screen_iter = 0), "fastdmm_bad_argument", "screen_iter")
  expect_input_error(dmn_search(split_merge = NA), "fastdmm_bad_argument", "split_merge")
  expect_input_error(dmn_search(max_tries = 1.5), "fastdmm_bad_argument", "max_tries")
})

test_that("a dmn_search object edited after dmn_search() is checked where it is used", {
  x <- search_counts()
  edit <- function(field, value) {
    search <- dmn_search()
    search[field] <- list(value)
    search
  }
  # The edit that crashed R: n_continue = 0 reached the core.
  expect_input_error(dmn_fit(x, 3, nstart = 3, search = edit("n_continue", 0), threads = 1),
                     "fastdmm_bad_argument", "search\\$n_continue", "between 1 and")
  for (field in c("screen_iter", "max_tries", "n_continue", "max_moves", "kicks")) {
    for (value in list(-1, NA, NA_integer_, 1e10, .Machine$integer.max + 1, 1.5, "3",
                       c(2, 3), TRUE, list(2), Inf, NaN)) {
      expect_input_error(dmn_fit(x, 3, nstart = 3, search = edit(field, value), threads = 1),
                         "fastdmm_bad_argument", sprintf("search\\$%s", field))
    }
  }
  for (value in list(NA, 1, "yes", c(TRUE, FALSE))) {
    expect_input_error(dmn_fit(x, 3, nstart = 3, search = edit("split_merge", value),
                               threads = 1), "fastdmm_bad_argument", "search\\$split_merge")
  }
  # Required settings removed, unknown ones added, the class put on other things.
  expect_input_error(dmn_fit(x, 3, nstart = 3, search = structure(list(), class = "dmn_search"),
                             threads = 1), "fastdmm_bad_argument", "search", "lacks")
  for (field in c("screen_iter", "max_tries")) {
    search <- dmn_search()
    search[[field]] <- NULL
    expect_input_error(dmn_fit(x, 3, nstart = 3, search = search, threads = 1),
                       "fastdmm_bad_argument", "search", sprintf("lacks the setting '%s'", field))
  }
  search <- dmn_search()
  search$bogus <- 100
  expect_input_error(dmn_fit(x, 3, search = search, threads = 1, nstart = 1), "fastdmm_bad_argument",
                     "search", "'bogus'")
  expect_input_error(dmn_fit(x, 3, search = structure(1:5, class = "dmn_search"), threads = 1, nstart = 1),
                     "fastdmm_bad_argument", "search")
  # Optional settings set to NULL are the defaults, as in dmn_search().
  search <- dmn_search(n_continue = 2)
  search["n_continue"] <- list(NULL)
  expect_identical(without_call(dmn_fit(x, 3, nstart = 3, seed = 1, search = search, threads = 1)),
                   without_call(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1)))
  # Whole numbers given as doubles are fine, as dmn_search() takes them.
  search <- dmn_search()
  search$screen_iter <- 4
  expect_identical(
    without_call(dmn_fit(x, 3, nstart = 3, seed = 1, search = search, threads = 1)),
    without_call(dmn_fit(x, 3, nstart = 3, seed = 1, search = dmn_search(screen_iter = 4L),
                         threads = 1)))
})

test_that("dmn_search() refuses values outside the int range and prints its settings", {
  for (field in c("screen_iter", "n_continue", "max_moves", "max_tries", "kicks")) {
    for (value in list(1e10, .Machine$integer.max + 1, -1, NA, "1", c(1, 2))) {
      expect_input_error(do.call(dmn_search, stats::setNames(list(value), field)),
                         "fastdmm_bad_argument", field)
    }
  }
  search <- dmn_search(screen_iter = .Machine$integer.max, max_moves = 0)
  expect_identical(search$screen_iter, .Machine$integer.max)
  expect_identical(search$max_moves, 0L)
  expect_output(print(dmn_search(n_continue = 2)),
                "^dmn_search: screen_iter = 10, n_continue = 2, split_merge = \\(default\\)")
})

test_that("accelerated EM never raises the NLE and ends where plain EM ends", {
  # Overlapping components: plain EM needs many iterations here.
  x <- simulate_counts(n = 60, n_taxa = 20, k = 3, depth = 100, seed = 8, precision = 1)
  plain <- dmn_fit(x, 3, seed = 2, threads = 1, max_iter = 5000, accelerate = FALSE, nstart = 1)
  fast <- dmn_fit(x, 3, seed = 2, threads = 1, max_iter = 5000, accelerate = TRUE, nstart = 1)
  expect_true(plain$converged)
  expect_true(fast$converged)
  expect_nonincreasing(fast$nle_trace, rel_tol = 0)
  expect_relative(goodnessOfFit(fast)[["NLE"]], goodnessOfFit(plain)[["NLE"]], 1e-8)
  expect_relative(fitted(fast), fitted(plain), 1e-2, floor = 1e-2)
  # Extrapolation pays here: far fewer evaluations of the EM map.
  expect_lt(fast$em_iterations, 0.75 * plain$em_iterations)
  # The NLE it reports is the model's NLE at its parameters (brute force).
  alpha <- fitted(fast)
  weights <- mixturewt(fast)$pi
  expect_relative(goodnessOfFit(fast)[["NLE"]],
                  -dense_log_likelihood(x, alpha, weights) + dense_neg_log_prior(alpha), 1e-10)
})

test_that("the relative floor stops EM at max(tol, rel_tol |NLE|)", {
  x <- simulate_counts(n = 40, n_taxa = 15, k = 3, depth = 150, seed = 8, precision = 4)
  fit <- dmn_fit(x, 3, seed = 2, threads = 1, max_iter = 5000, rel_tol = 1e-6,
                 accelerate = FALSE, nstart = 1)
  trace <- fit$nle_trace
  n <- length(trace)
  floor <- max(1e-6, 1e-6 * abs(trace[n]))
  expect_true(fit$converged)
  expect_lte(abs(trace[n] - trace[n - 1]), floor)
  expect_gt(abs(trace[n - 1] - trace[n - 2]), max(1e-6, 1e-6 * abs(trace[n - 1])))
  # The default floor (1e-12) leaves a table of this size at the absolute tol.
  default <- dmn_fit(x, 3, seed = 2, threads = 1, max_iter = 5000, accelerate = FALSE, nstart = 1)
  expect_gt(length(default$nle_trace), n)
})

test_that("several starts: every start on record, the best continued one kept", {
  x <- search_counts()
  fit <- dmn_fit(x, 3, seed = 4, nstart = 6, threads = 1)
  starts <- fit$starts
  expect_named(starts, c("start", "seed", "kind", "screen_NLE", "continued", "NLE",
                         "moved_NLE", "kicks", "em_iterations", "converged", "status"))
  expect_true(all(is.na(starts$moved_NLE)))
  expect_true(all(is.na(starts$kicks)))
  expect_identical(starts$seed, r_derived_seeds(4L, 6L))
  expect_identical(starts$kind, c("reference", rep("kmeans++", 5)))
  expect_identical(fit$init, "reference")
  expect_true(fit$accelerate)
  # 6 starts, ceiling(sqrt(6)) = 3 continued at most; the screened ones have no final NLE.
  expect_lte(sum(starts$continued), 3L)
  expect_true(all(is.na(starts$NLE[!starts$continued])))
  expect_true(all(!is.na(starts$screen_NLE)))
  expect_true(starts$continued[fit$best_start])
  expect_true(all(starts$status %in% c("screened", "abandoned", "converged", "max_iter")))
  # The kept start is the lowest continued one, and moves only lower it further.
  finals <- starts$NLE[starts$continued & starts$status != "abandoned"]
  expect_lte(goodnessOfFit(fit)[["NLE"]], min(finals) * (1 + 1e-9))
  # Continuing never raised a start's NLE above its screened value.
  both <- starts$continued
  expect_true(all(starts$NLE[both] <= starts$screen_NLE[both] * (1 + 1e-12)))
})

test_that("with screening and races off, each start is the fit from that start alone", {
  x <- search_counts()
  fit <- dmn_fit(x, 3, seed = 4, nstart = 3, threads = 1,
                 search = dmn_search(n_continue = 3, split_merge = FALSE))
  for (s in which(fit$starts$status == "converged")) {
    single <- dmn_fit(x, 3, seed = fit$starts$seed[s], threads = 1, accelerate = TRUE,
                      init = fit$starts$kind[s], nstart = 1)
    expect_identical(fit$starts$NLE[s], goodnessOfFit(single)[["NLE"]], label = sprintf("start %d", s))
  }
  expect_identical(fit$starts$status[1], "converged")
})

test_that("split-merge moves never raise the NLE and are all on record", {
  # Four types, and a single k-means++ start with k = 4 from a seed that merges
  # two of them: the moves have something to repair.
  x <- simulate_counts(n = 30, n_taxa = 30, k = 4, depth = 2000, seed = 3, precision = 50)
  found <- NULL
  for (seed in 1:20) {
    plain <- allow_unconverged(dmn_fit(x, 4, seed = seed, init = "kmeans++", threads = 1, nstart = 1))
    moved <- allow_unconverged(dmn_fit(x, 4, seed = seed, init = "kmeans++", threads = 1,
                                       search = dmn_search(split_merge = TRUE), nstart = 1))
    expect_lte(goodnessOfFit(moved)[["NLE"]], goodnessOfFit(plain)[["NLE"]] + 1e-9 * abs(goodnessOfFit(plain)[["NLE"]]))
    moves <- moved$moves
    expect_named(moves, c("kind", "merge_first", "merge_second", "split", "from", "to",
                          "samples", "predicted", "NLE_before", "NLE_after", "accepted",
                          "em_iterations"))
    expect_true(all(moves$kind == "split-merge"))
    expect_true(all(is.na(moves$predicted)))
    kept <- moves[moves$accepted, ]
    expect_true(all(kept$NLE_after < kept$NLE_before))
    expect_nonincreasing(moved$nle_trace, rel_tol = 1e-12)
    if (nrow(kept) > 0L && is.null(found)) found <- list(plain = plain, moved = moved)
  }
  # At least one seed needed a move, and the moves found the simulated types.
  expect_false(is.null(found))
  tab <- table(mixture(found$moved, assign = TRUE), rep(1:4, each = 30))
  expect_true(all(rowSums(tab > 0) == 1) && all(colSums(tab > 0) == 1))
})

test_that("an empty component takes half of a component that holds two types", {
  # Four deep types started with two of them in component 1 and component 4
  # empty: no merge of two non-empty components pays for the split, so only the
  # free slot can repair the fit. The repaired fit must find the four simulated
  # types (a one-to-one table against the truth) at a lower NLE.
  x <- simulate_counts(n = 40, n_taxa = 40, k = 4, depth = 3000, seed = 8, precision = 50)
  truth <- rep(1:4, each = 40)
  start <- diag(4)[c(1, 1, 2, 3)[truth], ]
  plain <- suppressWarnings(dmn_fit(x, 4, init = start, threads = 1,
                                    search = dmn_search(split_merge = FALSE), nstart = 1))
  moved <- suppressWarnings(dmn_fit(x, 4, init = start, threads = 1,
                                    search = dmn_search(split_merge = TRUE), nstart = 1))
  first <- moved$moves[1L, ]
  expect_equal(first$merge_first, first$merge_second)
  expect_true(first$accepted)
  expect_lt(goodnessOfFit(moved)[["NLE"]], goodnessOfFit(plain)[["NLE"]])
  tab <- table(mixture(moved, assign = TRUE), truth)
  expect_true(all(rowSums(tab > 0) == 1) && all(colSums(tab > 0) == 1))
  expect_equal(sum(mixturewt(plain)$pi == 0), 1L)
})

test_that("k-means++ starts do not depend on the order of the samples", {
  x <- search_counts()
  shuffled <- with_seed(9, sample(nrow(x)))
  # nstart = NULL: the replicated search, with its moves.
  for (nstart in list(1, 4, NULL)) {
    a <- dmn_fit(x, 3, seed = 11, init = "kmeans++", nstart = nstart, threads = 1,
                 search = dmn_search(max_starts = 6))
    b <- dmn_fit(x[shuffled, ], 3, seed = 11, init = "kmeans++", nstart = nstart, threads = 1,
                 search = dmn_search(max_starts = 6))
    expect_relative(goodnessOfFit(b)[["NLE"]], goodnessOfFit(a)[["NLE"]], 1e-9)
    expect_identical(table(mixture(a, assign = TRUE)[shuffled], mixture(b, assign = TRUE)) > 0,
                     table(mixture(a, assign = TRUE)[shuffled], mixture(a, assign = TRUE)[shuffled]) > 0)
  }
})

test_that("k-means++ ends at a Lloyd fixed point in Hellinger geometry (against R)", {
  x <- search_counts()
  u <- sqrt(x / rowSums(x))
  labels <- fastdmm:::.hellinger_kmeans(fastdmm:::as_counts(x), 3L, 3L, 1L)
  centres <- t(vapply(1:3, function(k) colMeans(u[labels == k, , drop = FALSE]), numeric(ncol(x))))
  d2 <- vapply(1:3, function(k) rowSums((u - rep(centres[k, ], each = nrow(u)))^2), numeric(nrow(u)))
  expect_identical(as.integer(max.col(-d2, ties.method = "first")), labels)
  expect_identical(sort(unique(labels)), 1:3)
})

test_that("searches give identical results on 1 and 2 threads", {
  x <- simulate_counts(n = 300, n_taxa = 150, k = 4, depth = 300, seed = 12, precision = 5)
  one <- dmn_fit(x, 4, seed = 3, nstart = 4, threads = 1)
  two <- dmn_fit(x, 4, seed = 3, nstart = 4, threads = 2)
  expect_identical(without_call(one)[setdiff(names(one), "threads")],
                   without_call(two)[setdiff(names(two), "threads")])
})

# ---- searching a subsample, then all samples (DESIGN.md section 7) -------------

# Three distinct types of 120 samples each, deep enough for 0/1 posteriors.
subsample_counts <- function() {
  simulate_counts(n = 120, n_taxa = 20, k = 3, depth = 3000, seed = 21, precision = 40)
}

test_that("a search on a subsample is refined on all samples and on record", {
  x <- subsample_counts()
  fit <- dmn_fit(x, 3, seed = 2, nstart = 4, threads = 1,
                 search = dmn_search(subsample = 150))
  expect_identical(fit$search$samples, 360)
  # Samples are taken by key; ties (identical samples) can only add to the 150.
  expect_gte(fit$search$subsample, 150)
  expect_lt(fit$search$subsample, 360)
  expect_gte(fit$search$refine_iterations, 1L)
  expect_identical(fit$em_iterations, fit$search$refine_iterations)
  expect_nonincreasing(fit$nle_trace, rel_tol = 1e-12)
  expect_true(is.finite(fit$search$subsample_NLE))
  # The refinement ran on every sample: the NLE is the brute-force one of the whole
  # table at the fit's parameters (1e-10), and every type is found.
  alpha <- fitted(fit)
  weights <- mixturewt(fit)$pi
  expected <- -dense_log_likelihood(x, alpha, weights) + dense_neg_log_prior(alpha)
  expect_relative(goodnessOfFit(fit)[["NLE"]], expected, 1e-10)
  expect_identical(nrow(mixture(fit)), 360L)
  tab <- table(mixture(fit, assign = TRUE), rep(1:3, each = 120))
  expect_true(all(rowSums(tab > 0) == 1) && all(colSums(tab > 0) == 1))
  expect_output(print(fit), "searched on a subsample of [0-9,]+ of 360 samples")
})

test_that("the subsample does not depend on the order of the samples", {
  x <- subsample_counts()
  shuffled <- with_seed(3, sample(nrow(x)))
  search <- dmn_search(subsample = 150)
  a <- dmn_fit(x, 3, seed = 5, nstart = 3, threads = 1, search = search)
  b <- dmn_fit(x[shuffled, ], 3, seed = 5, nstart = 3, threads = 1, search = search)
  expect_identical(a$search$subsample, b$search$subsample)
  expect_relative(b$search$subsample_NLE, a$search$subsample_NLE, 1e-9)
  expect_relative(goodnessOfFit(b)[["NLE"]], goodnessOfFit(a)[["NLE"]], 1e-9)
  # The same partition (the three types have equal weights, so their numbering
  # may differ).
  tab <- table(mixture(a, assign = TRUE)[shuffled], mixture(b, assign = TRUE))
  expect_true(all(rowSums(tab > 0) == 1) && all(colSums(tab > 0) == 1))
})

test_that("one reference start never subsamples; subsample = Inf searches every sample", {
  x <- subsample_counts()
  small <- dmn_search(subsample = 100)
  one <- dmn_fit(x, 3, seed = 2, threads = 1, search = small, nstart = 1)
  expect_identical(one$search$subsample, 360)
  expect_identical(without_call(one), without_call(dmn_fit(x, 3, seed = 2, threads = 1, nstart = 1)))
  given <- dmn_fit(x, 3, init = rep(1:3, each = 120), threads = 1, search = small, nstart = 1)
  expect_identical(given$search$subsample, 360)
  # k-means++ alone is a search: it subsamples.
  expect_lt(dmn_fit(x, 3, seed = 2, init = "kmeans++", threads = 1, search = small, nstart = 1)$search$subsample,
            360)
  all <- dmn_fit(x, 3, seed = 2, nstart = 3, threads = 1, search = dmn_search(subsample = Inf))
  expect_identical(all$search$subsample, 360)
  expect_true(is.na(all$search$subsample_NLE))
  expect_identical(all$search$refine_iterations, 0L)
})

test_that("subsampled searches give identical results on 1 and 2 threads", {
  x <- simulate_counts(n = 700, n_taxa = 60, k = 3, depth = 1000, seed = 8, precision = 10)
  search <- dmn_search(subsample = 500)
  one <- dmn_fit(x, 3, seed = 3, nstart = 3, threads = 1, search = search)
  two <- dmn_fit(x, 3, seed = 3, nstart = 3, threads = 2, search = search)
  expect_lt(one$search$subsample, 2100)
  expect_identical(without_call(one)[setdiff(names(one), "threads")],
                   without_call(two)[setdiff(names(two), "threads")])
})

test_that("max_iter bounds every EM run of a search, and the fit warns", {
  x <- subsample_counts()
  fit <- NULL
  expect_warning(fit <- dmn_fit(x, 3, seed = 2, nstart = 4, max_iter = 2, threads = 1,
                                search = dmn_search(subsample = Inf)),
                 class = "fastdmm_not_converged")
  expect_true(all(fit$starts$em_iterations <= 2L))
  expect_true(all(fit$moves$em_iterations <= 2L))
  expect_lte(fit$em_iterations, 2L * (1L + sum(fit$moves$accepted)))
  refined <- NULL
  expect_warning(refined <- dmn_fit(x, 3, seed = 2, nstart = 4, max_iter = 1, threads = 1,
                                    search = dmn_search(subsample = 150)),
                 class = "fastdmm_not_converged")
  expect_identical(refined$search$refine_iterations, 1L)
  expect_true(all(refined$starts$em_iterations <= 1L))
})

test_that("a fit reports its progress through progressr as it goes", {
  x <- subsample_counts()
  updates <- list()
  withr::local_options(progressr.enable = TRUE)
  withCallingHandlers(
    progressr::with_progress(
      fit <- dmn_fit(x, 3, seed = 2, nstart = 4, threads = 1, search = dmn_search(subsample = 150)),
      handlers = progressr::handler_void()),
    progression = function(p) {
      if (identical(p$type, "update")) updates[[length(updates) + 1L]] <<- p
    })
  amounts <- vapply(updates, function(p) p$amount, numeric(1))
  messages <- vapply(updates, function(p) paste(p$message, collapse = ""), character(1))
  # Many updates, each a step forward, adding up to the fit's 100 steps, from
  # every phase of the search.
  expect_gt(length(updates), 5L)
  expect_true(all(amounts > 0))
  expect_identical(sum(amounts), 100)
  expect_true(all(c("screening starts", "trying split-merge moves", "refining on all samples")
                  %in% messages))
})

test_that("a search stops at a user interrupt during its start-up", {
  # The interrupt comes as the search announces its subsample, before it lays
  # out its k-means++ starts: the core's first check must stop it there, before
  # any start is screened, and signal an interrupt rather than finish.
  x <- simulate_counts(n = 100, n_taxa = 20, k = 3, depth = 500, seed = 37, precision = 5)
  run <- interrupt_at_message(
    dmn_fit(x, 3, seed = 1, threads = 1, nstart = 6, init = "kmeans++", verbose = TRUE,
            search = dmn_search(subsample = 100)),
    at = "^  searching a subsample of 100 of 300 samples$")
  expect_identical(run$outcome, "interrupted")
  # Signalled by the core's check (.fit_dmn's frame), or by R's own periodic
  # check before the message() call that pressed returned to the core; never
  # in later R code, such as a later message's.
  expect_true(run$signalled_in %in% c(".fit_dmn", "pressed message"), label = run$signalled_in)
  expect_match(run$messages[length(run$messages)], "^  searching a subsample")
  expect_false(any(grepl("^  start 1: ", run$messages)))
})

# ---- the replicated search and transfers (DESIGN.md section 8) -------------------

test_that("the default is the replicated search, on record, its moves never raising the NLE", {
  x <- twins_counts()
  fit <- dmn_fit(x, 3, seed = 2, threads = 1)
  search <- fit$search
  starts <- fit$starts
  expect_identical(search$replicates, 3L)
  expect_identical(search$starts_run, nrow(starts))
  expect_identical(starts$seed, r_derived_seeds(2L, nrow(starts)))
  expect_identical(starts$kind, c("reference", rep("kmeans++", nrow(starts) - 1L)))
  # Each start's moves only lowered its NLE; the fit is the lowest moved start.
  expect_true(all(starts$moved_NLE <= starts$NLE * (1 + 1e-12)))
  best <- min(starts$moved_NLE)
  expect_relative(goodnessOfFit(fit)[["NLE"]], best, 1e-12)
  # Ties (within 1e-9 relative) go to the earlier start.
  expect_identical(fit$best_start, which(starts$moved_NLE <= best + 1e-9 * abs(best))[1])
  # at_best counts the starts within 1e-6 relative of the best; the search
  # stopped at the third (or when the budget ran out).
  at_best <- sum(abs(starts$moved_NLE - best) <= 1e-6 * abs(best))
  expect_identical(search$at_best, at_best)
  expect_true(search$at_best == 3L || search$starts_run == search$max_starts)
  expect_identical(search$replicated, search$at_best >= 3L)
  expect_lte(search$optima, search$starts_run)
  expect_lte(search$optima_seen_once, search$optima)
  # Start 1 is the reference's start: its EM is nstart = 1's fit, so the search
  # ends at or below the reference's NLE.
  one <- dmn_fit(x, 3, seed = 2, threads = 1, nstart = 1)
  expect_relative(starts$NLE[1], goodnessOfFit(one)[["NLE"]], 1e-12)
  expect_lte(goodnessOfFit(fit)[["NLE"]], goodnessOfFit(one)[["NLE"]])
  # The moves of the best start, both kinds, and the counts over all starts.
  moves <- fit$moves
  expect_true(all(moves$kind %in% c("split-merge", "transfer", "re-split", "kick")))
  expect_true(all(is.na(moves$from[moves$kind == "split-merge"])))
  expect_true(all(moves$samples[!moves$kind %in% c("split-merge", "kick")] >= 1L))
  kept <- moves[moves$accepted, ]
  expect_true(all(kept$NLE_after < kept$NLE_before))
  expect_named(search$moves_tried, c("split-merge", "transfer", "re-split", "kick"))
  expect_true(all(search$moves_accepted <= search$moves_tried))
  expect_gte(sum(search$moves_tried), nrow(moves))
  expect_nonincreasing(fit$nle_trace, rel_tol = 1e-12)
  expect_output(print(fit), sprintf("best optimum reached by %d of %d starts", search$at_best,
                                    search$starts_run))
})

test_that("transfers lower the NLE where EM has frozen, and are all on record", {
  # Twins at k = 4 from k-means++ starts: EM freezes at a partition that
  # transfers of single samples and groups improve, for every one of these seeds.
  x <- twins_counts()
  for (seed in c(1, 3)) {
    plain <- dmn_fit(x, 4, seed = seed, init = "kmeans++", nstart = 1, threads = 1)
    moved <- dmn_fit(x, 4, seed = seed, init = "kmeans++", nstart = 1, threads = 1,
                     search = dmn_search(transfers = TRUE, split_merge = FALSE))
    expect_lt(goodnessOfFit(moved)[["NLE"]], goodnessOfFit(plain)[["NLE"]] - 1)
    moves <- moved$moves
    expect_true(all(moves$kind == "transfer"))
    expect_true(all(moves$from != moves$to))
    kept <- moves[moves$accepted, ]
    expect_gte(nrow(kept), 1L)
    expect_true(all(kept$NLE_after < kept$NLE_before))
    # Each kept transfer starts where the previous one's EM ended, the first
    # where the plain fit ended.
    expect_relative(kept$NLE_before[1], goodnessOfFit(plain)[["NLE"]], 1e-12)
    expect_identical(moved$search$moves_accepted[["transfer"]], nrow(kept))
    expect_nonincreasing(moved$nle_trace, rel_tol = 1e-12)
    # The fit's NLE is the brute-force one at its parameters.
    nle <- -dense_log_likelihood(x, fitted(moved), moved$mixture$Weight) +
      dense_neg_log_prior(fitted(moved))
    expect_relative(goodnessOfFit(moved)[["NLE"]], nle, 1e-9)
  }
})

test_that("a transfer that failed is not refitted while its two components keep their members", {
  # Twins at k = 4 from a frozen k-means++ partition: transfers run to a local
  # optimum keeping a memo of their failed trials (TransferMemo), then run again
  # on the result with that memo and without one.
  x <- twins_counts()
  plain <- dmn_fit(x, 4, seed = 1, init = "kmeans++", nstart = 1, threads = 1)
  result <- fastdmm:::.transfers_twice(fastdmm:::as_counts(x), max.col(plain$group, "first"),
                                       log(fitted(plain)))
  expect_gte(result$first_accepted, 1L)
  expect_true(result$first_exhausted)
  expect_lt(result$nle_first, result$nle_start - 1)
  # Without the memo the same candidates are refitted again, and all fail...
  expect_gt(result$fresh_trials, 0L)
  expect_identical(result$fresh_accepted, 0L)
  expect_identical(result$nle_fresh, result$nle_first)
  # ...with it none is refitted, and the state is the same local optimum.
  expect_identical(result$memo_trials, 0L)
  expect_true(result$memo_exhausted)
  expect_identical(result$nle_memo, result$nle_first)
})

test_that("a split-merge trial that failed is not run again while its components keep their members", {
  # Twins at k = 5 from a frozen k-means++ partition: split-merge rounds run to
  # the end keeping a memo of their failed trials, then again from the same
  # state with that memo. A trial met in the memo counts as tried and failed,
  # so the second run takes the first one's path: it runs exactly the trials
  # the first one kept, in order, and ends at the same state to the bit.
  x <- twins_counts()
  plain <- dmn_fit(x, 5, seed = 1, init = "kmeans++", nstart = 1, threads = 1)
  result <- fastdmm:::.split_merge_twice(fastdmm:::as_counts(x), max.col(plain$group, "first"),
                                         log(fitted(plain)), 3L)
  first <- result$first$trials
  second <- result$second$trials
  expect_gte(sum(first$accepted), 1L)
  expect_gte(sum(!first$accepted), 3L)
  expect_lt(result$first$nle, result$nle_start - 1)
  kept <- first[first$accepted, ]
  rownames(kept) <- NULL
  expect_identical(second, kept)
  expect_identical(result$second$nle, result$first$nle)
})

# A wide sparse deep table at k = 7 from a frozen k-means++ partition, given to
# a test hook that runs transfers twice from it (.transfers_reuse(),
# .transfers_cached()).
frozen_wide_descents <- function(hook) {
  x <- wide_sparse_counts(60, 400, 5, common = 30, rare = 0.05, depth = 3000, seed = 2)
  plain <- dmn_fit(x, 7, seed = 1, init = "kmeans++", nstart = 1, threads = 1)
  hook(fastdmm:::as_counts(x), max.col(plain$group, "first"), log(fitted(plain)))
}

test_that("a ranking that reuses what did not change is the one computed in full", {
  # A wide sparse deep table (posteriors 0 or 1, so EM after an accepted
  # transfer leaves the other components' M-steps settled) at k = 7 from a
  # frozen k-means++ partition: transfers run twice from the same state after
  # EM with the searches' settled M-steps. Every ranking after an accepted
  # transfer takes from the last the models, gains and evidence columns of the
  # components the transfer left as they were, or computes them all again; the
  # trials, to the last bit of their promises, and where they end must be the
  # same. (Taking a sample's gain from joining b whenever its own component,
  # rather than b, is unchanged makes them differ here.)
  result <- frozen_wide_descents(fastdmm:::.transfers_reuse)
  # Several accepted transfers, so several rankings after the first.
  expect_gte(sum(result$full$trials$accepted), 5L)
  expect_identical(result$reused$trials, result$full$trials)
  expect_identical(result$reused$nle, result$full$nle)
})

test_that("E-step columns kept by lambda change no transfer, trial or parameter", {
  # A search's start takes E-step columns made for an earlier state from a
  # cache (ColumnCache): the ranking's evidence, the trials' two columns, the
  # accepted trial evaluated whole and EM after it. The same descent without the
  # cache must give the same trials, NLE and parameters, to the last bit.
  result <- frozen_wide_descents(fastdmm:::.transfers_cached)
  expect_gte(sum(result$plain$trials$accepted), 5L)
  expect_identical(result$cached, result$plain)
})

test_that("a trial's refit started at the joining taxa's own minimisers ends where the plain one does", {
  # The frozen wide descent with each trial's refit starting the taxa its
  # samples bring into the receiving component at the minimiser of their own
  # term (TransferSettings::join_start, the default), and at the component's
  # value for the taxa it does not count. Both refits converge to the same
  # optimum, so the same trials are tried and kept, their NLEs agreeing to the
  # M-step's tolerance (1e-9 relative: far above what it leaves here, about
  # 3e-11 of NLEs near 4e4, and far below the gaps between trials), and the
  # descents end at the same NLE.
  result <- frozen_wide_descents(fastdmm:::.transfers_join_start)
  joined <- result$joined$trials
  plain <- result$plain$trials
  expect_gte(sum(plain$accepted), 5L)
  same <- c("from", "to", "samples", "accepted")
  expect_identical(joined[same], plain[same])
  expect_relative(joined$NLE_after, plain$NLE_after, 1e-9)
  expect_relative(result$joined$nle, result$plain$nle, 1e-9)
})

test_that("options(fastdmm.column_cache = FALSE) gives the same fit; a bad value is refused", {
  # The replicated search with every E-step column made afresh: kicks,
  # split-merge, division moves and settling all run, and must end at the same
  # fit, to the bit, as with the columns kept.
  x <- wide_sparse_counts(60, 400, 5, common = 30, rare = 0.05, depth = 3000, seed = 2)
  kept <- dmn_fit(x, 4, seed = 1, threads = 1)
  made <- withr::with_options(list(fastdmm.column_cache = FALSE),
                              dmn_fit(x, 4, seed = 1, threads = 1))
  expect_gt(sum(kept$search$moves_tried), 0)
  expect_identical(without_call(made), without_call(kept))
  for (value in list(NA, "yes", c(TRUE, TRUE), 1)) {
    withr::with_options(list(fastdmm.column_cache = value),
                        expect_input_error(dmn_fit(x, 2, seed = 1, threads = 1),
                                           "fastdmm_bad_argument",
                                           "options\\(fastdmm.column_cache\\)"))
  }
})

test_that("a group whose refit does not lower the NLE is judged after EM (against EM from its labels)", {
  # Twins at k = 4 from a frozen k-means++ partition, transfers run: moving a
  # node of component 3's tree to component 4 and refitting the two raises the
  # NLE, but EM from there (other samples following or going back) ends lower
  # for several nodes. EM from the moved labels alone (the reference's EM from
  # a given start) must end at the same NLE.
  x <- twins_counts()
  table <- fastdmm:::as_counts(x)
  moved <- dmn_fit(x, 4, seed = 2, init = "kmeans++", nstart = 1, threads = 1,
                   search = dmn_search(transfers = TRUE, split_merge = FALSE))
  labels <- max.col(moved$group, "first")
  log_alpha <- log(fitted(moved))
  wins <- 0L
  for (node in fastdmm:::.bisection_nodes(table, which(labels == 3L), TRUE)) {
    refit <- fastdmm:::.group_trial(table, labels, log_alpha, node, 4L, FALSE)
    judged <- fastdmm:::.group_trial(table, labels, log_alpha, node, 4L, TRUE)
    expect_identical(judged$nle_refit, refit$nle_refit)
    if (refit$kept) {
      # Kept by its refit: EM after it is the same either way.
      expect_true(judged$kept)
      expect_identical(judged$nle, refit$nle)
      next
    }
    # Not kept by the refit: the state is left as it was.
    expect_identical(refit$nle, refit$nle_state)
    expect_gte(refit$nle_refit, refit$nle_state - 1e-6)
    if (!judged$kept) {
      expect_identical(judged$nle, judged$nle_state)
      expect_identical(judged$labels, refit$labels)
      next
    }
    expect_lt(judged$nle, judged$nle_state - 1)
    if (judged$em_iterations >= 100L) next  # stopped at max_iter, not at an optimum
    start <- labels
    start[node] <- 4L
    reference <- dmn_fit(x, 4, init = start, nstart = 1, threads = 1)
    expect_relative(judged$nle, goodnessOfFit(reference)[["NLE"]], 1e-6)
    wins <- wins + 1L
  }
  expect_gte(wins, 3L)
})

# The groups a component of four or more members offers: the nodes of its
# bisection tree and the halves (two or more samples, not the whole, not a node
# already) of its division by the model (checked against R in the tests
# below).
tree_groups <- function(table, members) {
  nodes <- fastdmm:::.bisection_nodes(table, members, TRUE)
  keys <- vapply(nodes, paste, "", collapse = " ")
  for (half in fastdmm:::.model_division(table, members, 1L)) {
    if (length(half) >= 2 && length(half) < length(members) &&
        !(paste(half, collapse = " ") %in% keys)) {
      nodes <- c(list(half), nodes)
    }
  }
  nodes
}

# The Newton model's promise for moving the samples `moving` from component a
# to b of `fit` (0/1 posteriors), in dense R: the change at fixed parameters and
# weights less half of g' H'^-1 g' for both components, g' and H' the dense
# gradient and Hessian of a component's objective with the samples moved.
dense_group_promise <- function(x, fit) {
  z <- fit$group
  lambda <- log(fitted(fit))
  e <- dense_log_evidence(x, exp(lambda))
  weights <- colSums(z)
  x_log_x <- function(v) ifelse(v > 0, v * log(v), 0)
  decrement <- function(k, zk) {
    g <- dense_gradient(x, zk, lambda[, k])
    h <- dense_hessian(x, zk, lambda[, k])
    if (min(eigen(h, symmetric = TRUE, only.values = TRUE)$values) <= 0) return(0)
    0.5 * sum(g * solve(h, g))
  }
  function(moving, a, b) {
    leave <- z[, a]
    leave[moving] <- leave[moving] - 1
    join <- z[, b]
    join[moving] <- join[moving] + 1
    m <- length(moving)
    sum(e[moving, a] - e[moving, b]) -
      (x_log_x(weights[a] - m) + x_log_x(weights[b] + m) - x_log_x(weights[a]) -
         x_log_x(weights[b])) - decrement(a, leave) - decrement(b, join)
  }
}

test_that("transfers are promised what the Newton model of a dense refit promises", {
  # A wide sparse deep table: each component counts few of the taxa, so the
  # ranking's closed forms for a component's absent taxa carry most of each
  # group's promise. The groups the first ranking tries (before one is kept)
  # must be the candidates of lowest promise in that order, each promise the
  # change at fixed parameters and weights less half of g' H'^-1 g' for both
  # components, g' and H' the dense gradient and Hessian of a component's
  # objective with the samples moved, at its current parameters. (Singles are
  # promised what refitting their taxa gains: the ones tried promise a
  # decrease, in order.)
  x <- wide_sparse_counts(30, 300, 3, common = 25, rare = 0.02, depth = 2000, seed = 5)
  fit_with <- function(transfers) {
    dmn_fit(x, 3, seed = 1, init = "kmeans++", nstart = 1, threads = 1,
            search = dmn_search(transfers = transfers, split_merge = FALSE))
  }
  plain <- fit_with(FALSE)
  moved <- fit_with(TRUE)
  z <- plain$group
  expect_lt(max(abs(z - round(z))), 1e-10)
  labels <- max.col(z, "first")
  e <- dense_log_evidence(x, exp(log(fitted(plain))))
  promise <- dense_group_promise(x, plain)
  # A component of four or more members offers the nodes of its bisection
  # tree and the halves of its division by the model (both checked in tests
  # below); a smaller one the prefixes of its members in their order of cost.
  groups <- c()
  for (a in 1:3) {
    members <- which(labels == a)
    if (length(members) < 2) next
    nodes <- if (length(members) >= 4) tree_groups(fastdmm:::as_counts(x), members)
    for (b in setdiff(1:3, a)) {
      if (length(members) >= 4) {
        for (node in nodes) groups <- c(groups, promise(node, a, b))
        next
      }
      ordered <- members[order(e[members, a] - e[members, b])]
      for (m in seq_len(length(ordered) - 2) + 1) {
        groups <- c(groups, promise(ordered[seq_len(m)], a, b))
      }
    }
  }
  trials <- moved$moves
  expect_true(all(is.finite(trials$predicted)))
  first <- trials[seq_len(match(TRUE, trials$accepted, nomatch = nrow(trials))), ]
  tried <- first$predicted[first$samples > 1]
  expect_gt(length(tried), 2)
  expected <- sort(groups)[seq_along(tried)]
  expect_lt(max(abs(tried - expected)) / max(abs(expected)), 1e-8)
  singles <- first$predicted[first$samples == 1]
  expect_true(all(singles < 0))
  expect_false(is.unsorted(singles))
})

# The promises (dense Newton model) of the groups and rests that a fit with two
# components of 0/1 posteriors offers at its end, those below zero, each in
# increasing order: every node of each component's tree (tree_groups()) moved
# to the other component, and the component's other members (two or more, not
# a node themselves).
promised_groups_and_rests <- function(x, fit) {
  z <- fit$group
  expect_lt(max(abs(z - round(z))), 1e-10)
  labels <- max.col(z, "first")
  promise <- dense_group_promise(x, fit)
  table <- fastdmm:::as_counts(x)
  groups <- rests <- c()
  for (a in 1:2) {
    members <- which(labels == a)
    expect_gte(length(members), 4L)
    nodes <- tree_groups(table, members)
    keys <- vapply(nodes, paste, "", collapse = " ")
    for (node in nodes) {
      groups <- c(groups, promise(node, a, 3 - a))
      rest <- setdiff(members, node)
      if (length(rest) >= 2 && !(paste(rest, collapse = " ") %in% keys)) {
        rests <- c(rests, promise(rest, a, 3 - a))
      }
    }
  }
  list(groups = sort(groups[groups < 0]), rests = sort(rests[rests < 0]))
}

test_that("rests (a component less one node of its tree) follow the groups, promised as groups (against R)", {
  # Two components of eight members on a wide sparse deep table: the groups
  # (tree nodes) promise a decrease fewer than 20 times, so the rests are
  # ranked and tried after them, until 20 trials of both have failed. At the
  # search's end no group nor rest is kept, so all were tried at the final
  # state: the nodes' promises in increasing order, then the rests' (each
  # component's members less a node, of two or more samples and not itself a
  # node), each the dense Newton model's promise to 1e-8 relative (the rests'
  # terms are the whole component's less the node's).
  x <- wide_sparse_counts(16, 200, 2, common = 25, rare = 0.02, depth = 2000, seed = 1)
  moved <- dmn_fit(x, 2, seed = 1, init = "kmeans++", nstart = 1, threads = 1,
                   search = dmn_search(transfers = TRUE, split_merge = FALSE))
  promised <- promised_groups_and_rests(x, moved)
  groups <- promised$groups
  rests <- promised$rests
  expect_lt(length(groups), 20L)
  expect_gt(length(rests), 0L)
  expected <- head(c(groups, rests), 20L)
  trials <- moved$moves[moved$moves$samples > 1, ]
  expect_false(any(trials$accepted))
  expect_identical(nrow(trials), length(expected))
  expect_lt(max(abs(trials$predicted - expected)) / max(abs(expected)), 1e-8)
})

test_that("at k = 2 the rests get failures of their own (against R)", {
  # At k = 2 the replicated search runs no kicks, so the rests are a start's
  # only escape once the groups fail: they get 20 failed trials of their own,
  # however many the groups used. Here more than 20 nodes promise a decrease,
  # so the groups use up their 20 trials (a search with nstart = 1 would stop
  # there); the rests are tried after them all the same, 20 of them, in order
  # of the dense Newton model's promise (to 1e-8 relative). No group nor rest
  # is kept, so all were tried at the final state.
  x <- wide_sparse_counts(40, 200, 2, common = 25, rare = 0.02, depth = 2000, seed = 1)
  moved <- dmn_fit(x, 2, seed = 1, threads = 1,
                   search = dmn_search(max_starts = 1, replicates = 1, split_merge = FALSE))
  expect_identical(moved$search$starts_run, 1L)
  promised <- promised_groups_and_rests(x, moved)
  groups <- promised$groups
  rests <- promised$rests
  expect_gt(length(groups), 20L)
  expect_gt(length(rests), 20L)
  expected <- c(head(groups, 20L), head(rests, 20L))
  trials <- moved$moves[moved$moves$samples > 1, ]
  expect_false(any(trials$accepted))
  expect_identical(nrow(trials), length(expected))
  expect_lt(max(abs(trials$predicted - expected)) / max(abs(expected)), 1e-8)
})

test_that("groups come from bisection trees: nested halves, each a 2-means split (against R)", {
  # bisection_nodes(): a component's members divided in two by 2-means in
  # Hellinger geometry (at most 10 Lloyd rounds), each part of three or more
  # again. Checked in R: the nodes are parts of the members, nested or
  # disjoint; each part of three or more is divided, its two halves its
  # children (a half of one sample is not a node), and on this table every
  # sample of a part is nearer its own half's centre (mean square-root
  # proportions) than the other's, as at a Lloyd fixed point; the tree does
  # not depend on the order of the samples.
  x <- search_counts()
  u <- sqrt(x / rowSums(x))
  table <- fastdmm:::as_counts(x)
  members <- seq(2L, nrow(x), by = 2L)
  nodes <- fastdmm:::.bisection_nodes(table, members, TRUE)
  expect_gte(length(nodes), 3L)
  expect_true(all(vapply(nodes, function(n) {
    length(n) >= 2L && length(n) < length(members) && all(n %in% members) && !is.unsorted(n)
  }, logical(1))))
  for (p in seq_along(nodes)) for (q in seq_along(nodes)) {
    if (p < q) {
      shared <- length(intersect(nodes[[p]], nodes[[q]]))
      expect_true(shared == 0L || shared == min(length(nodes[[p]]), length(nodes[[q]])))
    }
  }
  nearer_own_half <- function(part, half) {
    centres <- rbind(colMeans(u[part[half], , drop = FALSE]),
                     colMeans(u[part[!half], , drop = FALSE]))
    d <- vapply(1:2, function(h) rowSums((u[part, , drop = FALSE] -
                                           rep(centres[h, ], each = length(part)))^2), numeric(length(part)))
    all(ifelse(half, d[, 1] <= d[, 2], d[, 2] <= d[, 1]))
  }
  parts <- c(list(members), nodes)
  divided <- 0L
  for (part in parts) {
    inside <- Filter(function(n) length(n) < length(part) && all(n %in% part), nodes)
    children <- Filter(function(n) {
      !any(vapply(inside, function(m) length(m) > length(n) && all(n %in% m), logical(1)))
    }, inside)
    if (length(part) < 3L) next
    # Two children covering the part, or one and a single sample left over.
    expect_true((length(children) == 2L && setequal(unlist(children), part) &&
                   length(unlist(children)) == length(part)) ||
                  (length(children) == 1L && length(children[[1]]) == length(part) - 1L))
    half <- part %in% children[[1]]
    expect_true(nearer_own_half(part, half))
    divided <- divided + 1L
  }
  expect_gte(divided, 2L)
  # The same tree when each division walks the tiles instead of the members' rows.
  expect_identical(fastdmm:::.bisection_nodes(table, members, FALSE), nodes)
  # The same tree whatever the order of the samples in the table.
  perm <- rev(seq_len(nrow(x)))
  moved <- fastdmm:::.bisection_nodes(fastdmm:::as_counts(x[perm, ]), match(members, perm), TRUE)
  as_sets <- function(l) sort(vapply(l, function(n) paste(sort(n), collapse = " "), ""))
  expect_identical(as_sets(lapply(moved, function(n) perm[n])), as_sets(nodes))
})

test_that("a component's division by the model is the best one where 2-means' is not (against brute force)", {
  # Three samples (A) carry one set of rarer taxa, five (B) another; taxon 1
  # dominates A and two of B, taxon 2 the other three of B. Hellinger 2-means
  # divides by the dominant taxon (A and two of B against three of B); the
  # likelihood by the rarer taxa. Checked in R: every division of the eight
  # samples in two, each half's component fitted by optim() on the dense
  # penalised objective, plus the weights' term; the best is A against B,
  # at least 5 NLE units below any other. model_division() must return it,
  # the same on 1 and 2 threads and whatever the order of the samples.
  S <- 14L
  shares <- function(dominant, rare) {
    v <- rep(0.001, S)
    v[dominant] <- 0.5
    v[rare] <- 0.05
    v / sum(v)
  }
  probs <- rbind(shares(1, 3:8), shares(1, 3:8), shares(1, 3:8), shares(1, 9:14),
                 shares(1, 9:14), shares(2, 9:14), shares(2, 9:14), shares(2, 9:14))
  x <- with_seed(1, t(apply(probs, 1, function(q) rmultinom(1, 3000, rgamma(S, 50 * q)))))
  n <- nrow(x)
  component_value <- function(members) {
    y <- x[members, , drop = FALSE]
    z <- rep(1, nrow(y))
    optim(rep(0, S), function(l) dense_objective(y, z, l), function(l) dense_gradient(y, z, l),
          method = "BFGS", control = list(maxit = 3000, reltol = 1e-12))$value
  }
  divisions <- lapply(seq_len(2^(n - 1) - 1), function(code) {
    first <- which(bitwAnd(code, 2^(0:(n - 1))) > 0)
    list(first, setdiff(seq_len(n), first))
  })
  value <- vapply(divisions, function(d) {
    sum(vapply(d, function(h) component_value(h) - length(h) * log(length(h) / n), 0))
  }, 0)
  ranked <- order(value)
  expect_gt(value[ranked[2]] - value[ranked[1]], 5)
  as_sets <- function(l) sort(vapply(l, function(h) paste(sort(h), collapse = " "), ""))
  best <- as_sets(divisions[[ranked[1]]])
  expect_identical(best, as_sets(list(1:3, 4:8)))
  table <- fastdmm:::as_counts(x)
  # 2-means alone divides otherwise: the tree's root halves are not the best.
  root <- fastdmm:::.hellinger_subset(table, seq_len(n), 2L, TRUE, 1L)$labels
  expect_false(identical(as_sets(split(seq_len(n), root)), best))
  halves <- fastdmm:::.model_division(table, seq_len(n), 1L)
  expect_identical(as_sets(halves), best)
  expect_identical(fastdmm:::.model_division(table, seq_len(n), 2L), halves)
  perm <- c(5L, 8L, 1L, 6L, 3L, 2L, 7L, 4L)
  moved <- fastdmm:::.model_division(fastdmm:::as_counts(x[perm, ]), seq_len(n), 1L)
  expect_identical(as_sets(lapply(moved, function(h) perm[h])), best)
  # Members that are a part of the table: their indices, the same division.
  wider <- rbind(x, x[c(1, 6), ] + 1L)
  expect_identical(as_sets(fastdmm:::.model_division(fastdmm:::as_counts(wider), seq_len(n), 1L)),
                   best)
  # Nothing to divide: one sample, or samples 2-means cannot tell apart.
  expect_identical(fastdmm:::.model_division(table, 1L, 1L), list())
  expect_identical(fastdmm:::.model_division(fastdmm:::as_counts(x[c(1, 1, 1, 1), ]), 1:4, 1L),
                   list())
})

test_that("division moves: halves of the model's divisions, kept when EM keeps them (against R)", {
  # A simulated table of four types fitted with five components, one start
  # without kicks: the start's descent ends where no single, group or rest
  # improves it, and the pass of division moves then moves one half of a
  # component's division by the model to another component. In R, from that
  # end (the same fit without divisions): every half of .model_division() of
  # every component of four or more members, moved to every other component,
  # judged by .group_trial() (refit, then EM; a half of one sample, a single,
  # by its refit alone). (The fit numbers its components
  # by weight, the search by its own order, so trials are matched by their
  # size and NLE.) Each trial the pass records up to the first it keeps must be
  # one of these, failed where it failed; the kept one must be kept in R at the
  # same NLE, which EM from the moved labels (the reference's EM) reaches.
  x <- simulate_counts(n = 30, n_taxa = 40, k = 4, depth = 1500, seed = 3, precision = 20)
  table <- fastdmm:::as_counts(x)
  one_start <- function(divisions) {
    dmn_fit(x, 5, seed = 2, threads = 1,
            search = dmn_search(max_starts = 1, replicates = 1, kicks = 0, divisions = divisions))
  }
  before <- one_start(FALSE)
  after <- one_start(TRUE)
  n_before <- nrow(before$moves)
  expect_identical(after$moves[seq_len(n_before), ], before$moves)
  pass <- after$moves[-seq_len(n_before), ]
  division <- pass$kind == "transfer" & is.na(pass$predicted)
  kept <- match(TRUE, pass$accepted & division)
  expect_false(is.na(kept))
  expect_false(any(pass$accepted[seq_len(kept - 1L)]))
  # Before it only split-merge (run first in each round) and division moves.
  expect_true(all(pass$kind[seq_len(kept)][!division[seq_len(kept)]] == "split-merge"))
  recorded <- pass[seq_len(kept), ][division[seq_len(kept)], ]
  expect_lt(goodnessOfFit(after)[["NLE"]], goodnessOfFit(before)[["NLE"]] - 1)

  labels <- max.col(before$group, "first")
  log_alpha <- log(fitted(before))
  trials <- list()
  for (a in 1:5) {
    members <- which(labels == a)
    if (length(members) < 4L) next
    for (half in fastdmm:::.model_division(table, members, 1L)) {
      for (b in setdiff(which(tabulate(labels, 5L) > 0L), a)) {
        trial <- fastdmm:::.group_trial(table, labels, log_alpha, half, b, length(half) > 1L)
        trials[[length(trials) + 1L]] <- list(to = b, half = half, size = length(half),
                                              kept = trial$kept, nle_after = trial$nle_after,
                                              nle = trial$nle, em_iterations = trial$em_iterations)
      }
    }
  }
  expect_lte(nrow(recorded), length(trials))
  size <- vapply(trials, `[[`, 0L, "size")
  in_r <- vapply(trials, `[[`, TRUE, "kept")
  nle_after <- vapply(trials, `[[`, 0, "nle_after")
  for (r in seq_len(nrow(recorded))) {
    same <- which(size == recorded$samples[r] & in_r == recorded$accepted[r] &
                    abs(nle_after - recorded$NLE_after[r]) <= 1e-6 * recorded$NLE_after[r])
    expect_gte(length(same), 1L)
  }
  winner <- trials[[which(in_r & size == recorded$samples[nrow(recorded)] &
                            abs(nle_after - recorded$NLE_after[nrow(recorded)]) <=
                              1e-8 * recorded$NLE_after[nrow(recorded)])[1]]]
  expect_lt(winner$em_iterations, 100L)
  start <- labels
  start[winner$half] <- winner$to
  reference <- dmn_fit(x, 5, init = start, nstart = 1, threads = 1)
  expect_relative(winner$nle, goodnessOfFit(reference)[["NLE"]], 1e-6)
})

test_that("all_singles ends where no single transfer lowers the NLE (against brute force)", {
  # A wide sparse deep table (40 samples, 556 taxa, most of them rare): from
  # this k-means++ start EM stops where moving one sample lowers the NLE by
  # over 50 units. With all_singles every single is tried, and the brute force
  # (each sample moved to each other component, then EM, as a start given as
  # labels) finds none that lowers the NLE. The default tries the singles
  # whose refit promise is a decrease, and every single into a component of
  # one member; it ends there too. (Without the latter it ended with a
  # component of one sample, where one single lowered the NLE by 4 at its
  # trial, promised +306, and EM from there by 2,189; ranked by the Newton
  # model and given up after 20 failures, as they once were, the singles
  # stopped where one move gained over 100 units.)
  x <- wide_sparse_counts(40, 600, 4, common = 40, rare = 0.05, depth = 3000, seed = 3)
  # (EM from a moved start may empty a component of two: a move the search
  # would make too, so it counts, and its warning is expected.)
  nle_of <- function(labels) {
    fit <- withCallingHandlers(
      dmn_fit(x, 3, init = labels, nstart = 1, threads = 1,
              search = dmn_search(transfers = FALSE, split_merge = FALSE)),
      fastdmm_empty_component = function(w) invokeRestart("muffleWarning"))
    goodnessOfFit(fit)[["NLE"]]
  }
  best_single <- function(fit) {
    labels <- max.col(fit$group, "first")
    changes <- c()
    for (i in seq_len(nrow(x))) {
      for (to in setdiff(1:3, labels[i])) {
        moved <- replace(labels, i, to)
        if (any(tabulate(moved, 3) == 0)) next
        changes <- c(changes, nle_of(moved) - goodnessOfFit(fit)[["NLE"]])
      }
    }
    min(changes)
  }
  fit_with <- function(all) {
    dmn_fit(x, 3, seed = 3, init = "kmeans++", nstart = 1, threads = 1,
            search = dmn_search(transfers = TRUE, split_merge = FALSE, all_singles = all))
  }
  plain <- dmn_fit(x, 3, seed = 3, init = "kmeans++", nstart = 1, threads = 1,
                   search = dmn_search(transfers = FALSE, split_merge = FALSE))
  ranked <- fit_with(FALSE)
  all <- fit_with(TRUE)
  expect_lt(best_single(plain), -50)
  expect_gt(best_single(all), -1e-6 * goodnessOfFit(all)[["NLE"]])
  expect_gt(best_single(ranked), -1e-6 * goodnessOfFit(ranked)[["NLE"]])
  expect_lt(goodnessOfFit(all)[["NLE"]], goodnessOfFit(plain)[["NLE"]] - 50)
  # Every trial is on record; the kept ones lowered the NLE.
  trials <- all$moves[all$moves$kind == "transfer", ]
  expect_identical(nrow(trials), all$search$moves_tried[["transfer"]])
  expect_true(all(trials$NLE_after[trials$accepted] < trials$NLE_before[trials$accepted]))
  expect_nonincreasing(all$nle_trace, rel_tol = 1e-12)
})

test_that("re-splits lower the NLE where split-merge and transfers have stopped", {
  # Twins at k = 7 from this k-means++ start: split-merge and transfers stop at
  # an NLE that re-splitting a pair of components lowers. (At k = 3, where this
  # test began, transfers whose groups are judged after EM now reach the best
  # known optimum alone.)
  x <- twins_counts()
  moved <- dmn_fit(x, 7, seed = 2, init = "kmeans++", nstart = 1, threads = 1,
                   search = dmn_search(transfers = TRUE, split_merge = TRUE))
  resplit <- dmn_fit(x, 7, seed = 2, init = "kmeans++", nstart = 1, threads = 1,
                     search = dmn_search(transfers = TRUE, split_merge = TRUE,
                                         resplits = TRUE))
  expect_lt(goodnessOfFit(resplit)[["NLE"]], goodnessOfFit(moved)[["NLE"]] - 0.5)
  expect_identical(sum(moved$moves$kind == "re-split"), 0L)
  moves <- resplit$moves[resplit$moves$kind == "re-split", ]
  expect_gte(sum(moves$accepted), 1L)
  # A re-split pools two different components, at least four samples, at most
  # every sample; one that is kept lowers the NLE.
  expect_true(all(moves$from < moves$to & moves$to <= 7L))
  expect_true(all(moves$samples >= 4L & moves$samples <= nrow(x)))
  kept <- moves[moves$accepted, ]
  expect_true(all(kept$NLE_after < kept$NLE_before))
  expect_identical(resplit$search$moves_accepted[["re-split"]], nrow(kept))
  expect_nonincreasing(resplit$nle_trace, rel_tol = 1e-12)
  # The fit's NLE is the brute-force one at its parameters.
  nle <- -dense_log_likelihood(x, fitted(resplit), resplit$mixture$Weight) +
    dense_neg_log_prior(fitted(resplit))
  expect_relative(goodnessOfFit(resplit)[["NLE"]], nle, 1e-9)
  # Two threads give the same fit, re-splits included.
  two <- dmn_fit(x, 3, seed = 1, init = "kmeans++", nstart = 1, threads = 2,
                 search = dmn_search(transfers = TRUE, split_merge = TRUE, resplits = TRUE))
  one <- dmn_fit(x, 3, seed = 1, init = "kmeans++", nstart = 1, threads = 1,
                 search = dmn_search(transfers = TRUE, split_merge = TRUE, resplits = TRUE))
  expect_identical(two$moves, one$moves)
  expect_identical(goodnessOfFit(two), goodnessOfFit(one))
})

test_that("reused M-steps change no fit, and the NLE stays the parameters' (against R)", {
  # Three communities of deep samples, the first started as two components
  # (alternate samples): EM moves samples between those two for several
  # iterations while the posteriors of the other two stay 0 or 1, so their
  # M-steps (and evidence columns) are reused from the second iteration on.
  for (depth in c(500, 20000)) {
    x <- simulate_counts(n = 20, n_taxa = 30, k = 3, depth = depth, seed = 4)
    labels <- rep(1:3, each = 20)
    labels[seq(1, 20, 2)] <- 4L
    start <- sapply(1:4, function(k) {
      p <- colSums(x[labels == k, ]) + 0.5
      log(50 * p / sum(p))
    })
    table <- fastdmm:::as_counts(x)
    reused <- fastdmm:::.em_reuse(table, labels, start, TRUE)
    every <- fastdmm:::.em_reuse(table, labels, start, FALSE)
    expect_true(reused$converged)
    expect_identical(every$reused_msteps, 0L)
    # At least the two settled components in every iteration after the first.
    expect_gte(reused$reused_msteps, 2L * (reused$iterations - 1L))
    expect_gte(reused$iterations, 5L)
    # A skipped M-step is one whose optimiser would stop where it is.
    expect_identical(reused$iterations, every$iterations)
    expect_equal(reused$log_alpha, every$log_alpha, tolerance = 1e-8)
    expect_relative(reused$nle, every$nle, 1e-12)
    # Against R: the NLE of the parameters reached (a kept evidence or depth
    # column that no longer matched its lambda would show here).
    alpha <- exp(reused$log_alpha)
    nle <- -dense_log_likelihood(x, alpha, reused$weights / sum(reused$weights)) +
      dense_neg_log_prior(alpha)
    expect_relative(reused$nle, nle, 1e-10)
  }
  # A whole search on Twins, where moves and kicks hand settled components on
  # to their trial states, ends at the same optimum with and without reuse,
  # and its NLE is its parameters' (against R).
  x <- twins_counts()
  fit_with <- function(reuse) {
    suppressWarnings(dmn_fit(x, 4, seed = 2, threads = 1,
                             search = dmn_search(max_starts = 2, reuse_msteps = reuse)))
  }
  reused <- fit_with(TRUE)
  every <- fit_with(FALSE)
  expect_relative(goodnessOfFit(reused)[["NLE"]], goodnessOfFit(every)[["NLE"]], 1e-8)
  expect_identical(max.col(reused$group, "first"), max.col(every$group, "first"))
  alpha <- fitted(reused)
  nle <- -dense_log_likelihood(x, alpha, reused$mixture$Weight) + dense_neg_log_prior(alpha)
  expect_relative(goodnessOfFit(reused)[["NLE"]], nle, 1e-10)
  # One reference start is the reference's algorithm either way.
  expect_identical(
    without_call(dmn_fit(x, 3, seed = 1, nstart = 1, threads = 1,
                         search = dmn_search(reuse_msteps = FALSE)))$mixture,
    without_call(dmn_fit(x, 3, seed = 1, nstart = 1, threads = 1))$mixture)
})

test_that("kicks only lower the NLE, stop after `kicks` failures in a row, and are on record", {
  # Twins at k = 7, one start: its moves stop 17 units above the lowest NLE
  # known (39589.72), and kicks take it 10 units lower. (At k = 4, where this
  # test began, the moves now reach the best known optimum alone.) Without
  # the division moves that follow the kicks (tested above).
  x <- twins_counts()
  one_start <- function(kicks) {
    suppressWarnings(dmn_fit(x, 7, seed = 1, threads = 1,
                             search = dmn_search(max_starts = 1, kicks = kicks,
                                                 divisions = FALSE)))
  }
  plain <- one_start(0)
  kicked <- one_start(2)
  expect_identical(nrow(plain$moves[plain$moves$kind == "kick", ]), 0L)
  expect_identical(plain$search$moves_tried[["kick"]], 0L)
  # Kicks begin where the moves of the same start ended.
  expect_identical(kicked$moves[kicked$moves$kind != "kick", ], plain$moves)
  kicks <- kicked$moves[kicked$moves$kind == "kick", ]
  n <- nrow(kicks)
  expect_identical(kicked$search$moves_tried[["kick"]], n)
  expect_identical(kicked$starts$kicks, n)
  expect_identical(kicked$search$moves_accepted[["kick"]], sum(kicks$accepted))
  # The last two failed, and no two in a row failed before them.
  expect_gte(sum(kicks$accepted), 1L)
  expect_false(any(kicks$accepted[c(n - 1L, n)]))
  failed_runs <- rle(kicks$accepted[seq_len(n - 2L)])
  expect_true(all(failed_runs$lengths[!failed_runs$values] < 2L))
  # Each kick starts from the state the last accepted one left; accepted kicks
  # lower the NLE, and the fit is the last one's state.
  kept <- kicks[kicks$accepted, ]
  expect_true(all(kept$NLE_after < kept$NLE_before * (1 - 1e-6)))
  last <- plain$starts$moved_NLE[1]
  for (r in seq_len(n)) {
    expect_relative(kicks$NLE_before[r], last, 1e-12)
    if (kicks$accepted[r]) last <- kicks$NLE_after[r]
  }
  # A kick that split nothing (too few members) is on record with no NLE.
  expect_true(all(kicks$from != kicks$to))
  expect_true(all(xor(kicks$samples >= 1L, is.na(kicks$NLE_after))))
  expect_true(all(is.na(kicks$predicted)))
  # Against R: the NLE of the fitted parameters, and a fall of more than 5
  # units from where the moves alone stopped.
  alpha <- fitted(kicked)
  nle <- -dense_log_likelihood(x, alpha, kicked$mixture$Weight) + dense_neg_log_prior(alpha)
  expect_relative(goodnessOfFit(kicked)[["NLE"]], nle, 1e-10)
  expect_relative(goodnessOfFit(kicked)[["NLE"]], last, 1e-12)
  expect_lt(goodnessOfFit(kicked)[["NLE"]], goodnessOfFit(plain)[["NLE"]] - 5)
  # Starts whose kicks are kept give the same fit on 1 and 2 threads (side by
  # side on 2).
  on_threads <- function(threads) {
    fit <- suppressWarnings(dmn_fit(x, 7, seed = 1, threads = threads,
                                    search = dmn_search(max_starts = 2, kicks = 2)))
    without_call(fit)[setdiff(names(fit), "threads")]
  }
  one_thread <- on_threads(1)
  expect_gte(one_thread$search$moves_accepted[["kick"]], 1L)
  expect_identical(on_threads(2), one_thread)
  # The default is k - 2 failures in a row: one at k = 3, none at k = 2.
  three <- suppressWarnings(dmn_fit(x, 3, seed = 2, threads = 1,
                                    search = dmn_search(max_starts = 1)))
  accepted <- three$moves$accepted[three$moves$kind == "kick"]
  expect_false(accepted[length(accepted)])
  expect_true(all(accepted[-length(accepted)]))
  two <- suppressWarnings(dmn_fit(x, 2, seed = 2, threads = 1, search = dmn_search(max_starts = 1)))
  expect_identical(two$search$moves_tried[["kick"]], 0L)
  # Asked for at k = 2, from a start given as labels and without split-merge,
  # each kick is a new 2-means division of the whole table; still only kept
  # when lower, and the NLE is the parameters' (against R).
  labels <- rep_len(1:2, nrow(x))
  given <- suppressWarnings(dmn_fit(x, 2, init = labels, seed = 1, threads = 1,
                                    search = dmn_search(max_starts = 1, kicks = 2,
                                                        split_merge = FALSE)))
  kicks <- given$moves[given$moves$kind == "kick", ]
  expect_gte(nrow(kicks), 2L)
  expect_true(all(kicks$NLE_after[kicks$accepted] < kicks$NLE_before[kicks$accepted]))
  alpha <- fitted(given)
  nle <- -dense_log_likelihood(x, alpha, given$mixture$Weight) + dense_neg_log_prior(alpha)
  expect_relative(goodnessOfFit(given)[["NLE"]], nle, 1e-10)
})

test_that("the start that completes the replication ends where it reaches the best optimum", {
  # With settle (the default), once replicates - 1 starts have ended at the
  # best optimum, the next start to reach it, after its descent or a kept
  # kick, ends there; with settle = FALSE it kicks on, as every start does.
  # The two fits must agree start by start up to the first whose kicks differ
  # (a start's record does not depend on the starts after it); that start must
  # have run fewer kicks with settle, after at least replicates - 1 starts at
  # the best of those before it, and ended at that best, from where its own
  # kicks with settle = FALSE only went lower or nowhere; the search then has
  # its replicates and stops, the fit being an earlier start's at the best.
  # Two simulated tables: at k = 4 the third start's descent ends at the best,
  # at k = 5 its first kick reaches it.
  same <- function(a, b) abs(a - b) <= 1e-6 * abs(b)
  for (case in list(list(table = 3, k = 4, seed = 1), list(table = 1, k = 5, seed = 3))) {
    x <- simulate_counts(n = 30, n_taxa = 40, k = 4, depth = 1500, seed = case$table,
                         precision = 20)
    fit <- function(settle) {
      suppressWarnings(dmn_fit(x, case$k, seed = case$seed, threads = 1,
                               search = dmn_search(settle = settle)))
    }
    on <- fit(TRUE)
    off <- fit(FALSE)
    r <- on$search$replicates
    n <- min(nrow(on$starts), nrow(off$starts))
    cut <- which(on$starts$kicks[seq_len(n)] != off$starts$kicks[seq_len(n)])
    expect_gte(length(cut), 1L)
    j <- cut[1]
    before <- seq_len(j - 1L)
    expect_identical(on$starts[before, ], off$starts[before, ])
    expect_lt(on$starts$kicks[j], off$starts$kicks[j])
    best <- min(on$starts$moved_NLE[before])
    expect_gte(sum(same(on$starts$moved_NLE[before], best)), r - 1L)
    expect_true(same(on$starts$moved_NLE[j], best))
    expect_lte(off$starts$moved_NLE[j], on$starts$moved_NLE[j] + 1e-9 * best)
    expect_identical(nrow(on$starts), j)
    # The same optimum as the best start's, it does not take its place.
    expect_lt(on$best_start, j)
    expect_identical(goodnessOfFit(on)[["NLE"]], on$starts$moved_NLE[on$best_start])
    expect_identical(on$search$at_best, r)
    expect_identical(on$search$moves_tried[["kick"]], sum(on$starts$kicks))
  }
  # Starts run side by side give the same fit (the start that completes the
  # replication ran beside the one before it, which stopped it or not).
  two <- suppressWarnings(dmn_fit(x, 5, seed = 3, threads = 2))
  keep <- setdiff(names(on), "threads")
  expect_identical(without_call(two)[keep], without_call(on)[keep])
})

test_that("a kicked descent knows an optimum by its partition, however numbered, and its NLE", {
  # KnownOptima (kick_search()): a state is known when its arg-max partition
  # is a known one up to the components' numbering and its NLE is within the
  # tolerance, relative.
  z <- diag(3)[c(1, 1, 2, 3, 3, 2, 1), ]
  known <- function(query, nle, tolerance = 1e-6, states = list(z), nles = 1000) {
    fastdmm:::.known_optima(states, nles, query, nle, tolerance)
  }
  expect_true(known(z, 1000))
  expect_true(known(z[, c(3, 1, 2)], 1000))
  # Soft posteriors with the same arg-max, at an NLE within 1e-6 relative.
  expect_true(known(0.7 * z + 0.1, 1000 + 9e-4))
  expect_false(known(z, 1000 + 1.1e-3))
  expect_true(known(z, 1000 + 1.1e-3, tolerance = 1e-5))
  # One sample in another component, or two components merged: another partition.
  moved <- z
  moved[1, ] <- c(0, 1, 0)
  expect_false(known(moved, 1000))
  merged <- cbind(z[, 1] + z[, 2], z[, 3], 0)
  expect_false(known(merged, 1000))
  # Among several, and none known.
  expect_true(known(moved, 1001, states = list(z, moved), nles = c(1000, 1001)))
  expect_false(known(z, 1000, states = list(), nles = numeric(0)))
})

test_that("a budget that ends first warns, naming k and how to widen it", {
  x <- twins_counts()
  fit <- NULL
  expect_warning(fit <- dmn_fit(x, 3, seed = 2, threads = 1,
                                search = dmn_search(replicates = 50, max_starts = 4)),
                 class = "fastdmm_not_replicated")
  expect_identical(fit$search$starts_run, 4L)
  expect_identical(fit$search$max_starts, 4L)
  expect_false(fit$search$replicated)
  expect_warning(dmn_fit(x, 3, seed = 2, threads = 1,
                         search = dmn_search(replicates = 50, max_starts = 4)),
                 "k = 3: .*reached by .* of 4 starts.*dmn_search\\(max_starts = 100\\)")
  expect_output(print(fit), "50 asked for")
  # An explicit nstart is a screened search: no replication, no warning.
  screened <- expect_silent(dmn_fit(x, 3, seed = 2, nstart = 4, threads = 1))
  expect_identical(screened$search$replicates, 0L)
  expect_true(is.na(screened$search$replicated))
})

test_that("the replicated search gives identical results on 1 and 2 threads", {
  # On 2 threads its starts run side by side, one thread each, and are taken in
  # order: the same fit, and the same verbose lines in the same order, whether
  # the budget ends first or the best optimum is replicated first (starts begun
  # after the one that stops the search are then cancelled).
  x <- simulate_counts(n = 300, n_taxa = 150, k = 4, depth = 300, seed = 12, precision = 5)
  fit_lines <- function(threads, search) {
    lines <- character()
    fit <- withCallingHandlers(
      suppressWarnings(dmn_fit(x, 4, seed = 3, threads = threads, search = search,
                               verbose = TRUE)),
      message = function(m) {
        lines <<- c(lines, conditionMessage(m))
        invokeRestart("muffleMessage")
      })
    list(fit = without_call(fit)[setdiff(names(fit), "threads")], lines = lines)
  }
  for (max_starts in c(4, 30)) {
    search <- dmn_search(max_starts = max_starts)
    one <- fit_lines(1, search)
    two <- fit_lines(2, search)
    expect_identical(one, two)
    expect_identical(sum(grepl("^  start [0-9]+: ", two$lines)), two$fit$search$starts_run)
  }
  expect_lt(two$fit$search$starts_run, 30L)
})

test_that("a replicated search running starts side by side stops at a user interrupt", {
  # The interrupt comes as start 2's lines are written (on the calling thread,
  # once start 2 has ended): the check after that start must stop the search,
  # with the threads running later starts stopped, before start 3 is taken.
  x <- simulate_counts(n = 300, n_taxa = 150, k = 4, depth = 300, seed = 12, precision = 5)
  run <- interrupt_at_message(
    dmn_fit(x, 4, seed = 3, threads = 2, verbose = TRUE,
            search = dmn_search(replicates = 30, max_starts = 30)),
    at = "^  start 2: ")
  expect_identical(run$outcome, "interrupted")
  expect_true(run$signalled_in %in% c(".fit_dmn", "pressed message"), label = run$signalled_in)
  expect_match(run$messages[length(run$messages)], "^  start 2: ")
  # The process goes on: a fit after it is the same as before.
  expect_s3_class(suppressWarnings(dmn_fit(x, 4, seed = 3, threads = 2,
                                           search = dmn_search(max_starts = 3))), "dmn_fit")
})

test_that("a table large enough to be subsampled gets the screened search of 10 starts by default", {
  x <- subsample_counts()
  fit <- dmn_fit(x, 3, seed = 2, threads = 1, search = dmn_search(subsample = 150))
  expect_lt(fit$search$subsample, fit$search$samples)
  expect_identical(fit$search$replicates, 0L)
  expect_true(is.na(fit$search$replicated))
  expect_identical(nrow(fit$starts), 10L)
  expect_lte(sum(fit$starts$continued), 4L)
  ten <- dmn_fit(x, 3, seed = 2, nstart = 10, threads = 1, search = dmn_search(subsample = 150))
  expect_identical(goodnessOfFit(fit), goodnessOfFit(ten))
})
