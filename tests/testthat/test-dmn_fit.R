# Whole fits: structure, EM's monotone objective, and every reported quantity
# recomputed independently in R from the fitted parameters.

fit_counts <- function() simulate_counts(n = 25, n_taxa = 10, k = 3, depth = 300, seed = 31)

# One fit shared by the tests that only read it.
shared_fit <- cached_fit(n = 25, n_taxa = 10, k = 3, depth = 300, seed = 31)

# log|det H| of component k, by the dense R Hessian at the fitted parameters
# (exact or the reference's), and LogDet under each candidate for the
# component that came first out of the initialisation.
dense_log_det_candidates <- function(x, fit, hessian = dense_hessian) {
  group <- mixture(fit)
  alpha <- fitted(fit)
  n <- nrow(x)
  per_component <- vapply(seq_len(ncol(alpha)), function(k) {
    as.numeric(determinant(hessian(x, group[, k], log(alpha[, k])))$modulus)
  }, numeric(1))
  weights <- colSums(group)
  vapply(seq_along(weights), function(first) {
    sum(per_component) + sum(2 * log(n) - log(weights[-first]))
  }, numeric(1))
}

closest <- function(candidates, target) candidates[which.min(abs(candidates - target))]

test_that("a fit has the reference's slots, shapes and names", {
  x <- fit_counts()
  fit <- shared_fit()
  expect_s3_class(fit, "dmn_fit")
  expect_named(goodnessOfFit(fit), c("NLE", "LogDet", "Laplace", "BIC", "AIC"))
  expect_identical(dim(fit$group), c(nrow(x), 3L))
  expect_identical(dimnames(fit$group), list(rownames(x), c("1", "2", "3")))
  for (part in c("Lower", "Estimate", "Upper")) {
    expect_identical(dimnames(fit$fit[[part]]), list(colnames(x), c("1", "2", "3")))
  }
  expect_identical(fit$k, 3L)
  expect_identical(fit$n_samples, nrow(x))
  expect_identical(fit$n_taxa, ncol(x))
  expect_identical(fit$seed, 1L)
  expect_identical(fit$hessian, "exact")
  expect_identical(fit$threads, 1L)
  # Accelerated EM (the default) records one NLE per SQUAREM cycle of up to
  # three EM iterations; plain EM one per iteration.
  expect_lte(length(fit$nle_trace), fit$em_iterations)
  expect_gte(3L * length(fit$nle_trace), fit$em_iterations)
  plain <- dmn_fit(x, 3, seed = 1, threads = 1, accelerate = FALSE, nstart = 1)
  expect_length(plain$nle_trace, plain$em_iterations)
  expect_false(plain$accelerate)
  expect_true(fit$converged)
  expect_gt(fit$kmeans_iterations, 0L)
})

test_that("components are sorted by decreasing weight and the weights are the posteriors' means", {
  fit <- shared_fit()
  weights <- fit$mixture$Weight
  expect_false(is.unsorted(rev(weights)))
  expect_relative(weights, colMeans(mixture(fit)), 1e-12)
  expect_relative(rowSums(mixture(fit)), rep(1, fit$n_samples), 1e-12)
  # Three well-separated simulated groups of 25 are recovered.
  truth <- rep(1:3, each = 25)
  assigned <- mixture(fit, assign = TRUE)
  expect_equal(sum(apply(table(truth, assigned), 1, max)), 75)
})

test_that("the EM objective never increases and its last value is the NLE", {
  fit <- shared_fit()
  expect_nonincreasing(fit$nle_trace)
  expect_identical(utils::tail(fit$nle_trace, 1), goodnessOfFit(fit)[["NLE"]])
  expect_lte(abs(diff(utils::tail(fit$nle_trace, 2))), 1e-6)
  # And for harder problems, where components compete.
  for (seed in 1:3) {
    wide <- dmn_fit(simulate_counts(n = 30, n_taxa = 25, k = 4, depth = 80, seed = 40 + seed,
                                    precision = 3),
                    5, seed = seed, threads = 2, nstart = 1)
    expect_nonincreasing(wide$nle_trace)
  }
})

test_that("the NLE, log-likelihood and criteria match brute-force R formulas", {
  x <- fit_counts()
  fit <- shared_fit()
  gof <- goodnessOfFit(fit)
  alpha <- fitted(fit)
  log_likelihood <- dense_log_likelihood(x, alpha, fit$mixture$Weight)
  expect_relative(as.numeric(logLik(fit)), log_likelihood, 1e-10)
  expect_relative(gof[["NLE"]], -log_likelihood + dense_neg_log_prior(alpha), 1e-10)
  expect_relative(gof[["NLE"]], -as.numeric(logLik(fit)) + dense_neg_log_prior(alpha), 1e-12)
  n <- nrow(x)
  p <- 3 * ncol(x) + 3 - 1
  expect_relative(gof[["AIC"]], gof[["NLE"]] + p, 1e-14)
  expect_relative(gof[["BIC"]], gof[["NLE"]] + p * log(n) / 2, 1e-14)
  expect_relative(gof[["Laplace"]], gof[["NLE"]] + gof[["LogDet"]] / 2 - p * log(2 * pi) / 2, 1e-14)
})

test_that("each component's alphas solve its M-step for the reported posteriors", {
  x <- fit_counts()
  fit <- shared_fit()
  for (k in 1:3) {
    z <- mixture(fit)[, k]
    lambda <- log(fitted(fit)[, k])
    gradient <- dense_gradient(x, z, lambda)
    expect_lt(sqrt(sum(gradient^2)), 1e-5)
  }
})

test_that("LogDet, Lower and Upper come from the exact Hessian at the fitted parameters", {
  x <- fit_counts()
  fit <- shared_fit()
  log_det <- goodnessOfFit(fit)[["LogDet"]]
  expect_relative(log_det, closest(dense_log_det_candidates(x, fit), log_det), 1e-9)
  for (k in 1:3) {
    bounds <- dense_bounds(x, mixture(fit)[, k], log(fitted(fit)[, k]), dense_hessian)
    expect_relative(fit$fit$Lower[, k], bounds$lower, 1e-8)
    expect_relative(fit$fit$Upper[, k], bounds$upper, 1e-8)
  }
})

test_that("hessian = 'reference' changes only LogDet, Laplace, Lower and Upper", {
  x <- fit_counts()
  fit <- shared_fit()
  reference <- dmn_fit(x, 3, seed = 1, threads = 1, hessian = "reference", nstart = 1)
  expect_identical(reference$hessian, "reference")
  for (part in c("group", "mixture", "nle_trace", "log_likelihood", "em_iterations")) {
    expect_identical(reference[[part]], fit[[part]], label = part)
  }
  expect_identical(reference$fit$Estimate, fit$fit$Estimate)
  gof <- goodnessOfFit(reference)
  expect_identical(gof[c("NLE", "BIC", "AIC")], goodnessOfFit(fit)[c("NLE", "BIC", "AIC")])
  log_det <- gof[["LogDet"]]
  candidates <- dense_log_det_candidates(x, reference, dense_reference_hessian)
  expect_relative(log_det, closest(candidates, log_det), 1e-9)
  p <- 3 * ncol(x) + 2
  expect_relative(gof[["Laplace"]], gof[["NLE"]] + log_det / 2 - p * log(2 * pi) / 2, 1e-14)
  for (k in 1:3) {
    bounds <- dense_bounds(x, mixture(fit)[, k], log(fitted(fit)[, k]),
                           dense_reference_hessian)
    expect_relative(reference$fit$Lower[, k], bounds$lower, 1e-8)
  }
})

test_that("k = 1 is a single Dirichlet-multinomial with no weight terms in LogDet", {
  x <- fit_counts()
  fit <- dmn_fit(x, 1, seed = 3, threads = 1, nstart = 1)
  expect_true(all(mixture(fit) == 1))
  expect_identical(fit$mixture$Weight, 1)
  lambda <- log(fitted(fit)[, 1])
  expect_lt(sqrt(sum(dense_gradient(x, rep(1, nrow(x)), lambda)^2)), 1e-5)
  exact <- dense_hessian(x, rep(1, nrow(x)), lambda)
  expect_relative(goodnessOfFit(fit)[["LogDet"]], as.numeric(determinant(exact)$modulus), 1e-9)
  reference <- dmn_fit(x, 1, seed = 3, threads = 1, hessian = "reference", nstart = 1)
  expect_relative(goodnessOfFit(reference), goodnessOfFit(fit), 1e-12)
})

test_that("predict() on the training data reproduces the posteriors of the last E-step", {
  x <- fit_counts()
  fit <- shared_fit()
  predicted <- predict(fit, x, threads = 1)
  expect_identical(dimnames(predicted), dimnames(mixture(fit)))
  expect_lt(max(abs(predicted - mixture(fit))), 1e-3)
  # And it is the brute-force posterior under the fitted mixture.
  e <- dense_log_evidence(x, fitted(fit))
  weighted <- exp(e - apply(e, 1, max)) * rep(fit$mixture$Weight, each = nrow(x))
  expect_lt(max(abs(predicted - weighted / rowSums(weighted))), 1e-10)
})

test_that("predict(logevidence = TRUE) is the negative log evidence without the multinomial coefficient", {
  x <- fit_counts()
  fit <- shared_fit()
  newdata <- simulate_counts(n = 5, n_taxa = 10, k = 2, depth = 1000, seed = 32)
  ours <- predict(fit, newdata, logevidence = TRUE, threads = 1)
  alpha <- fitted(fit)
  expected <- vapply(1:3, function(k) {
    a <- alpha[, k]
    -(rowSums(lgamma(newdata + rep(a, each = nrow(newdata)))) - lgamma(rowSums(newdata) + sum(a)) -
        sum(lgamma(a)) + lgamma(sum(a)))
  }, numeric(nrow(newdata)))
  expect_relative(ours, expected, 1e-10)
  expect_identical(dimnames(ours), list(rownames(newdata), c("1", "2", "3")))
})

test_that("predict() matches taxa by name and takes a single sample as a vector", {
  x <- fit_counts()
  fit <- shared_fit()
  newdata <- x[c(1, 30, 60), ]
  expected <- predict(fit, newdata, threads = 1)
  shuffled <- newdata[, rev(seq_len(ncol(newdata)))]
  expect_identical(predict(fit, shuffled, threads = 1), expected)
  expect_identical(predict(fit, as.data.frame(shuffled), threads = 1), expected)
  single <- predict(fit, newdata[2, ], threads = 1)
  expect_identical(dim(single), c(1L, 3L))
  expect_relative(single, expected[2, , drop = FALSE], 1e-15)
  expect_relative(predict(fit, unname(newdata[2, ]), threads = 1), expected[2, ], 1e-15)
  expect_relative(predict(fit, rev(newdata[2, ]), threads = 1), expected[2, ], 1e-15)
  skip_if_not_installed("Matrix")
  sparse <- Matrix::Matrix(shuffled, sparse = TRUE)
  expect_identical(predict(fit, sparse, threads = 1), expected)
})

test_that("results are identical on 1 and 2 threads", {
  # Large enough that every parallel loop really splits (tasks of 512 samples
  # and of 128 taxa).
  x <- simulate_counts(n = 1500, n_taxa = 300, k = 3, depth = 500, seed = 33, precision = 10)
  one <- allow_unconverged(dmn_fit(x, 4, seed = 5, threads = 1, nstart = 1))
  two <- allow_unconverged(dmn_fit(x, 4, seed = 5, threads = 2, nstart = 1))
  expect_identical(two$threads, 2L)
  one$threads <- two$threads <- NULL
  expect_identical(without_call(one), without_call(two))
  expect_identical(predict(one, x, threads = 1), predict(one, x, threads = 2))
  expect_identical(predict(one, x, logevidence = TRUE, threads = 1),
                   predict(one, x, logevidence = TRUE, threads = 2))
  reference_one <- allow_unconverged(dmn_fit(x, 4, seed = 5, threads = 1, hessian = "reference", nstart = 1))
  reference_two <- allow_unconverged(dmn_fit(x, 4, seed = 5, threads = 2, hessian = "reference", nstart = 1))
  expect_identical(reference_one$goodnessOfFit, reference_two$goodnessOfFit)
})

test_that("results are identical on 1 and 2 threads for wide tables split across taxa", {
  # Fewer components than twice the threads and many blocks of taxa: each
  # M-step's sums over taxa are split across threads.
  x <- simulate_counts(n = 40, n_taxa = 1500, k = 2, depth = 3000, seed = 34, precision = 50)
  x <- x[, colSums(x) > 0 | seq_len(ncol(x)) %% 2 == 0]
  expect_gt(ncol(x), 1024)
  # Two groups: with k = 3 one component empties, which is allowed here. The
  # default search (replicated starts, moves) on a budget of three starts.
  fit_wide <- function(...) {
    withCallingHandlers(dmn_fit(x, ..., search = dmn_search(max_starts = 3)),
                        fastdmm_empty_component = function(w) invokeRestart("muffleWarning"),
                        fastdmm_not_replicated = function(w) invokeRestart("muffleWarning"))
  }
  for (k in 1:3) {
    one <- fit_wide(k, seed = 2, threads = 1)
    two <- fit_wide(k, seed = 2, threads = 2)
    one$threads <- two$threads <- NULL
    expect_identical(without_call(one), without_call(two))
    reference_one <- fit_wide(k, seed = 2, threads = 1, hessian = "reference")
    reference_two <- fit_wide(k, seed = 2, threads = 2, hessian = "reference")
    expect_identical(reference_one$goodnessOfFit, reference_two$goodnessOfFit)
  }
  # And the answer is right: the NLE is the brute-force one.
  nle <- -dense_log_likelihood(x, fitted(one), one$mixture$Weight) + dense_neg_log_prior(fitted(one))
  expect_relative(goodnessOfFit(one)[["NLE"]], nle, 1e-9)
  expect_nonincreasing(one$nle_trace)
})

test_that("the same seed gives the same fit; the seed drives the start", {
  x <- fit_counts()
  first <- dmn_fit(x, 3, seed = 11, threads = 1, nstart = 1)
  expect_identical(without_call(dmn_fit(x, 3, seed = 11, threads = 1, nstart = 1)), without_call(first))
  starts <- lapply(c(11L, 12L, 13L), function(seed) {
    fastdmm:::.soft_kmeans(fastdmm:::as_counts(x), 3L, seed, 1L)$posterior
  })
  expect_false(identical(starts[[1]], starts[[2]]) && identical(starts[[1]], starts[[3]]))
  # Without a seed, R's random state picks one (reproducibly under set.seed).
  a <- with_seed(99, dmn_fit(x, 2, threads = 1, nstart = 1))
  b <- with_seed(99, dmn_fit(x, 2, threads = 1, nstart = 1))
  expect_identical(a$seed, b$seed)
  expect_identical(a$goodnessOfFit, b$goodnessOfFit)
  expect_identical(a$seed, with_seed(99, as.integer(stats::runif(1, 0, .Machine$integer.max))))
})

test_that("verbose = TRUE reports progress in the reference's words", {
  # Components that compete: more than ten iterations of both k-means and EM.
  x <- simulate_counts(n = 30, n_taxa = 25, k = 4, depth = 80, seed = 42, precision = 3)
  # Plain EM, whose iterations are the reference's one for one.
  run <- capture_messages(dmn_fit(x, 3, seed = 1, threads = 1, verbose = TRUE,
                                  accelerate = FALSE, nstart = 1))
  fit <- run$value
  lines <- run$messages
  expect_identical(lines[1:2], c("dmn, k=3", "  Soft kmeans"))
  setup <- match("  Expectation Maximization setup", lines)
  em <- match("  Expectation Maximization", lines)
  expect_identical(em, setup + 1L)
  expect_identical(utils::tail(lines, 1), "  Hessian")
  iteration_pattern <- "^    iteration [0-9]+ change [0-9]+\\.[0-9]{6}$"
  kmeans_lines <- lines[seq_len(setup - 1L)][-(1:2)]
  em_lines <- lines[-c(seq_len(em), length(lines))]
  expect_gte(length(kmeans_lines), 1L)
  expect_gte(length(em_lines), 1L)
  expect_true(all(grepl(iteration_pattern, c(kmeans_lines, em_lines))))
  # One line every tenth iteration, numbered 10, 20, ...
  expect_identical(as.integer(sub("^    iteration ([0-9]+) .*", "\\1", kmeans_lines)),
                   seq_len(fit$kmeans_iterations %/% 10L) * 10L)
  expect_identical(as.integer(sub("^    iteration ([0-9]+) .*", "\\1", em_lines)),
                   seq_len(fit$em_iterations %/% 10L) * 10L)
  # The EM lines report the NLE change at that iteration.
  changes <- as.numeric(sub(".* change ", "", em_lines))
  expected <- abs(diff(c(0, fit$nle_trace)))[seq_along(em_lines) * 10L]
  expect_lt(max(abs(changes - expected)), 5.0001e-7)
  # The k-means lines report the largest centre movement, as R's implementation.
  kmeans <- r_soft_kmeans(x, 3, 1)
  tenth <- seq_len(kmeans$iterations %/% 10L) * 10L
  expect_identical(kmeans_lines, sprintf("    iteration %d change %f", tenth, kmeans$changes[tenth]))
  expect_identical(without_call(fit),
                   without_call(dmn_fit(x, 3, seed = 1, threads = 1, accelerate = FALSE, nstart = 1)))
  expect_silent(dmn_fit(x, 3, seed = 1, threads = 1, verbose = FALSE, nstart = 1))
})

test_that("the input is never modified", {
  x <- fit_counts()
  copy <- x + 0
  frame <- as.data.frame(x)
  frame_copy <- as.data.frame(copy)
  fit <- dmn_fit(x, 2, seed = 1, threads = 2, nstart = 1)
  predict(fit, x, threads = 2)
  dmn_fit(frame, 2, seed = 1, threads = 2, nstart = 1)
  expect_identical(x, copy)
  expect_identical(frame, frame_copy)
  integer_x <- x
  storage.mode(integer_x) <- "integer"
  integer_copy <- integer_x + 0L
  dmn_fit(integer_x, 2, seed = 1, threads = 1, nstart = 1)
  expect_identical(integer_x, integer_copy)
  skip_if_not_installed("Matrix")
  sparse <- Matrix::Matrix(x, sparse = TRUE)
  sparse_copy <- Matrix::Matrix(copy, sparse = TRUE)
  dmn_fit(sparse, 2, seed = 1, threads = 2, nstart = 1)
  predict(fit, sparse, threads = 2)
  expect_identical(sparse, sparse_copy)
})

test_that("permuting the taxa permutes the fit", {
  x <- fit_counts()
  fit <- shared_fit()
  order <- c(4, 9, 1, 10, 2, 6, 3, 8, 5, 7)
  permuted <- dmn_fit(x[, order], 3, seed = 1, threads = 1, nstart = 1)
  expect_relative(goodnessOfFit(permuted), goodnessOfFit(fit), 1e-8)
  expect_relative(fitted(permuted), fitted(fit)[order, ], 1e-5)
  expect_lt(max(abs(mixture(permuted) - mixture(fit))), 1e-6)
})

test_that("EM stops at max_iter with a classed warning, and tol is honoured", {
  x <- fit_counts()
  expect_warning(short <- dmn_fit(x, 3, seed = 1, threads = 1, max_iter = 1, nstart = 1),
                 class = "fastdmm_not_converged")
  expect_identical(short$em_iterations, 1L)
  expect_false(short$converged)
  expect_true(is.finite(goodnessOfFit(short)[["NLE"]]))
  loose <- dmn_fit(x, 3, seed = 1, threads = 1, tol = 1, nstart = 1)
  expect_true(loose$converged)
  expect_lte(loose$em_iterations, shared_fit()$em_iterations)
  expect_lte(abs(diff(utils::tail(c(0, loose$nle_trace), 2))), 1)
})

# The not-converged warning of a fit, checked against the fit's own record:
# its iteration count and, when the trace has two values, its last change.
expect_not_converged_message <- function(message, fit) {
  expect_match(message, sprintf("^k = %d: EM did not converge in %d iterations? \\(",
                                fit$k, fit$em_iterations))
  expect_match(message, "increase 'max_iter'$")
  trace <- fit$nle_trace
  if (length(trace) >= 2L) {
    change <- sprintf("%.3g", abs(trace[length(trace)] - trace[length(trace) - 1L]))
    expect_match(message, sprintf("last NLE change %s > ", change), fixed = TRUE)
  } else {
    expect_match(message, sprintf("its NLE trace has %d value%s, too few to measure a change",
                                  length(trace), if (length(trace) == 1L) "" else "s"),
                 fixed = TRUE)
  }
}

test_that("the not-converged warning has a message for any length of NLE trace", {
  # One type drawn, three fitted: components overlap and EM needs many
  # iterations, so none of these short runs converges.
  x <- simulate_counts(n = 40, n_taxa = 8, k = 1, depth = 50, seed = 2)
  for (accelerate in c(TRUE, FALSE)) {
    for (max_iter in 1:4) {
      messages <- character()
      fit <- withCallingHandlers(
        dmn_fit(x, 3, seed = 1, threads = 1, max_iter = max_iter, accelerate = accelerate, nstart = 1),
        fastdmm_not_converged = function(w) {
          messages <<- c(messages, conditionMessage(w))
          invokeRestart("muffleWarning")
        })
      expect_false(fit$converged)
      expect_length(messages, 1L)
      expect_not_converged_message(messages, fit)
    }
  }
  # With SQUAREM, two evaluations of the EM map make one cycle: one NLE, so
  # the message cannot quote a change.
  fit <- allow_unconverged(dmn_fit(x, 3, seed = 1, threads = 1, max_iter = 2, nstart = 1))
  expect_length(fit$nle_trace, 1L)
})

test_that("results are identical on 1 and 16 threads", {
  # More threads than cores (CRAN allows tests two, so not there).
  skip_on_cran()
  x <- simulate_counts(n = 1500, n_taxa = 300, k = 3, depth = 500, seed = 35, precision = 10)
  one <- allow_unconverged(dmn_fit(x, 4, seed = 6, threads = 1, nstart = 1))
  sixteen <- allow_unconverged(dmn_fit(x, 4, seed = 6, threads = 16, nstart = 1))
  one$threads <- sixteen$threads <- NULL
  expect_identical(without_call(one), without_call(sixteen))
})

test_that("a fit stops at a user interrupt between iterations", {
  # The interrupt comes at the verbose line of EM iteration 10 of a run that
  # goes on to iteration 20 and beyond when left alone (tol = rel_tol = 0): the
  # core's check after the next iteration must stop it, so that no other EM
  # line follows, and signal an interrupt rather than finish.
  x <- simulate_counts(n = 60, n_taxa = 20, k = 4, depth = 500, seed = 36, precision = 5)
  run <- interrupt_at_message(
    dmn_fit(x, 4, seed = 1, threads = 1, max_iter = 1000, tol = 0, rel_tol = 0,
            accelerate = FALSE, verbose = TRUE, nstart = 1),
    at = "^    iteration 10 ", after = "^  Expectation Maximization$")
  expect_identical(run$outcome, "interrupted")
  # Signalled by the core's check (.fit_dmn's frame), or by R's own periodic
  # check before the message() call that pressed returned to the core; never
  # in later R code, such as a later message's.
  expect_true(run$signalled_in %in% c(".fit_dmn", "pressed message"), label = run$signalled_in)
  em <- run$messages[-seq_len(match("  Expectation Maximization", run$messages))]
  expect_identical(length(em), 1L)
  expect_match(em, "^    iteration 10 change")
})
