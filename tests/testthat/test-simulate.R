# rdmm(): draws from a Dirichlet-multinomial mixture.

test_that("rdmm() returns an integer samples x taxa table with the drawn components", {
  alpha <- cbind(c(a = 20, b = 5, c = 1, d = 1), c(1, 1, 5, 20))
  counts <- with_seed(61, rdmm(30, alpha, pi = c(0.7, 0.3), depth = 500))
  expect_true(is.integer(counts))
  expect_identical(dim(counts), c(30L, 4L))
  expect_identical(colnames(counts), c("a", "b", "c", "d"))
  expect_identical(rownames(counts), paste0("sample", 1:30))
  expect_true(all(rowSums(counts) == 500))
  component <- attr(counts, "component")
  expect_length(component, 30L)
  expect_true(all(component %in% 1:2))
  unnamed <- with_seed(61, rdmm(5, unname(alpha), depth = c(10, 20, 30, 40, 50)))
  expect_identical(colnames(unnamed), paste0("taxon", 1:4))
  expect_identical(unname(rowSums(unnamed)), c(10, 20, 30, 40, 50))
  single <- with_seed(61, rdmm(3, c(x = 1, y = 2), depth = 7))
  expect_identical(colnames(single), c("x", "y"))
  expect_true(all(attr(single, "component") == 1L))
})

test_that("rdmm() is reproducible under set.seed()", {
  alpha <- cbind(c(3, 2, 1), c(1, 2, 3))
  expect_identical(with_seed(62, rdmm(10, alpha, depth = 100)),
                   with_seed(62, rdmm(10, alpha, depth = 100)))
  expect_false(identical(with_seed(62, rdmm(10, alpha, depth = 100)),
                         with_seed(63, rdmm(10, alpha, depth = 100))))
})

test_that("rdmm() draws have the Dirichlet-multinomial's moments and the mixture's weights", {
  alpha <- cbind(c(8, 4, 2, 1, 0.5), c(0.5, 1, 2, 4, 8))
  pi <- c(0.8, 0.2)
  n <- 4000
  depth <- 50
  counts <- with_seed(64, rdmm(n, alpha, pi = pi, depth = depth))
  component <- attr(counts, "component")
  # Component frequencies: binomial, within 5 standard errors.
  expect_lt(abs(mean(component == 1) - pi[1]), 5 * sqrt(pi[1] * pi[2] / n))
  for (k in 1:2) {
    x <- counts[component == k, , drop = FALSE]
    p <- alpha[, k] / sum(alpha[, k])
    total <- sum(alpha[, k])
    # E x_j = J p_j, Var x_j = J p_j (1 - p_j) (J + A) / (1 + A).
    mean_error <- colMeans(x) - depth * p
    variance <- depth * p * (1 - p) * (depth + total) / (1 + total)
    expect_true(all(abs(mean_error) < 5 * sqrt(variance / nrow(x))))
    expect_relative(apply(x, 2, stats::var), variance, 0.15)
  }
})

test_that("rdmm() copes with tiny alphas (no all-zero proportions)", {
  counts <- with_seed(65, rdmm(200, rep(1e-3, 6), depth = 25))
  expect_true(all(rowSums(counts) == 25))
  # Nearly all the mass lands on one taxon per sample.
  expect_gt(mean(apply(counts, 1, max) == 25), 0.9)
})

test_that("a fit recovers the parameters rdmm() drew from", {
  alpha <- cbind(c(40, 20, 10, 5, 2, 1, 1, 1), c(1, 1, 2, 5, 10, 20, 40, 1))
  counts <- with_seed(66, rdmm(300, alpha, pi = c(0.6, 0.4), depth = 400))
  fit <- dmn_fit(counts, 2, seed = 1, threads = 2)
  expect_relative(fit$mixture$Weight, as.numeric(prop.table(table(attr(counts, "component")))),
                  1e-6)
  expect_identical(unname(mixture(fit, assign = TRUE)), attr(counts, "component"))
  expect_lt(max(abs(fitted(fit, scale = TRUE) - sweep(alpha, 2, colSums(alpha), "/"))), 0.02)
  expect_relative(mixturewt(fit)$theta, colSums(alpha), 0.25)
  # And the criteria prefer the true number of components.
  bic <- vapply(1:3, function(k) BIC(suppressWarnings(dmn_fit(counts, k, seed = 1, threads = 2))),
                numeric(1))
  expect_identical(which.min(bic), 2L)
})

test_that("rdmm() refuses bad arguments, naming them", {
  alpha <- cbind(c(3, 2, 1), c(1, 2, 3))
  expect_error(rdmm(0, alpha, depth = 10), class = "fastdmm_bad_argument", regexp = "^'n'")
  expect_error(rdmm(2.5, alpha, depth = 10), class = "fastdmm_bad_argument", regexp = "^'n'")
  expect_error(rdmm(5, -alpha, depth = 10), class = "fastdmm_bad_argument", regexp = "^'alpha'")
  expect_error(rdmm(5, c(1, NA), depth = 10), class = "fastdmm_bad_argument", regexp = "^'alpha'")
  expect_error(rdmm(5, "a", depth = 10), class = "fastdmm_bad_argument", regexp = "^'alpha'")
  expect_error(rdmm(5, alpha, pi = c(1, 2, 3), depth = 10), class = "fastdmm_bad_argument",
               regexp = "^'pi'")
  expect_error(rdmm(5, alpha, pi = c(0, 0), depth = 10), class = "fastdmm_bad_argument",
               regexp = "^'pi'")
  expect_error(rdmm(5, alpha, pi = c(-1, 2), depth = 10), class = "fastdmm_bad_argument",
               regexp = "^'pi'")
  expect_error(rdmm(5, alpha), class = "fastdmm_bad_argument", regexp = "^'depth'")
  expect_error(rdmm(5, alpha, depth = 0), class = "fastdmm_bad_argument", regexp = "^'depth'")
  expect_error(rdmm(5, alpha, depth = 10.5), class = "fastdmm_bad_argument", regexp = "^'depth'")
  expect_error(rdmm(5, alpha, depth = c(10, 20)), class = "fastdmm_bad_argument",
               regexp = "^'depth'")
  expect_error(rdmm(5, alpha, depth = 2^31), class = "fastdmm_bad_argument", regexp = "^'depth'")
})

# ---- simulate(fit) -------------------------------------------------------------

simulate_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      alpha <- cbind(c(a = 30, b = 10, c = 4, d = 2, e = 1), c(1, 2, 4, 10, 30))
      counts <- with_seed(67, rdmm(120, alpha, pi = c(0.7, 0.3), depth = 300))
      fit <<- dmn_fit(counts, 2, seed = 1, threads = 1)
    }
    fit
  }
})

test_that("simulate(fit) draws an nsim x taxa table with the asked depths", {
  fit <- simulate_fit()
  draws <- simulate(fit, nsim = 25, seed = 1, depth = 400)
  expect_true(is.integer(draws))
  expect_identical(dim(draws), c(25L, 5L))
  expect_identical(colnames(draws), rownames(fitted(fit)))
  expect_true(all(rowSums(draws) == 400))
  expect_type(attr(draws, "component"), "integer")
  expect_length(attr(draws, "component"), 25L)
  expect_true(all(attr(draws, "component") %in% 1:2))
  varied <- simulate(fit, nsim = 4, seed = 1, depth = c(10, 200, 3000, 1))
  expect_identical(unname(rowSums(varied)), c(10, 200, 3000, 1))
  one <- simulate(fit, seed = 1, depth = 7)
  expect_identical(dim(one), c(1L, 5L))
  # The table refits: a simulation is a count table like any other.
  refit <- dmn_fit(simulate(fit, nsim = 60, seed = 2, depth = 300), 2, seed = 1, threads = 1)
  expect_s3_class(refit, "dmn_fit")
})

test_that("simulate(fit) follows stats::simulate's seed conventions", {
  fit <- simulate_fit()
  expect_identical(simulate(fit, 10, seed = 5, depth = 100),
                   simulate(fit, 10, seed = 5, depth = 100))
  expect_false(identical(simulate(fit, 10, seed = 5, depth = 100),
                         simulate(fit, 10, seed = 6, depth = 100)))
  expect_identical(attr(simulate(fit, 10, seed = 5, depth = 100), "seed"),
                   structure(5, kind = as.list(RNGkind())))
  # A given seed leaves the caller's random stream where it was.
  with_seed(1, {
    before <- .Random.seed
    simulate(fit, 10, seed = 5, depth = 100)
    expect_identical(.Random.seed, before)
  })
  # seed = NULL continues the stream, and records the state it started from.
  with_seed(2, {
    state <- .Random.seed
    first <- simulate(fit, 10, depth = 100)
    expect_identical(attr(first, "seed"), state)
    assign(".Random.seed", state, envir = globalenv())
    expect_identical(simulate(fit, 10, depth = 100), first)
  })
})

test_that("a large simulation's component frequencies match the weights", {
  fit <- simulate_fit()
  nsim <- 20000
  draws <- simulate(fit, nsim = nsim, seed = 11, depth = 5)
  frequency <- tabulate(attr(draws, "component"), nbins = 2) / nsim
  weights <- fit$mixture$Weight
  # Binomial frequencies: within 5 standard errors (about 0.016 here) of the weights.
  expect_true(all(abs(frequency - weights) < 5 * sqrt(weights * (1 - weights) / nsim)))
})

test_that("simulate(fit) refuses bad arguments, naming them", {
  fit <- simulate_fit()
  expect_error(simulate(fit, 10), class = "fastdmm_bad_argument", regexp = "^'depth' is missing")
  expect_error(simulate(fit, 0, depth = 10), class = "fastdmm_bad_argument", regexp = "^'nsim'")
  expect_error(simulate(fit, 2.5, depth = 10), class = "fastdmm_bad_argument", regexp = "^'nsim'")
  expect_error(simulate(fit, 3, depth = c(1, 2)), class = "fastdmm_bad_argument",
               regexp = "^'depth'")
  expect_error(simulate(fit, 3, depth = 0), class = "fastdmm_bad_argument", regexp = "^'depth'")
  expect_error(simulate(fit, 3, seed = "a", depth = 10), class = "fastdmm_bad_argument",
               regexp = "^'seed'")
})
