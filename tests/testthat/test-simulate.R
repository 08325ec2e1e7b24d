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
  fit <- dmn_fit(counts, 2, seed = 1, threads = 2, nstart = 1)
  expect_relative(fit$mixture$Weight, as.numeric(prop.table(table(attr(counts, "component")))),
                  1e-6)
  expect_identical(unname(mixture(fit, assign = TRUE)), attr(counts, "component"))
  expect_lt(max(abs(fitted(fit, scale = TRUE) - sweep(alpha, 2, colSums(alpha), "/"))), 0.02)
  expect_relative(mixturewt(fit)$theta, colSums(alpha), 0.25)
  # And the criteria prefer the true number of components.
  bic <- vapply(1:3, function(k) BIC(suppressWarnings(dmn_fit(counts, k, seed = 1, threads = 2, nstart = 1))),
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

test_that("rdmm() refuses every kind of bad value in every argument, in both forms", {
  skip_if_not_installed("Matrix")
  alpha <- cbind(c(3, 2, 1), c(1, 2, 3))
  cases <- list(
    n = list(1e10, 2^31, NA, NA_real_, NaN, Inf, -1, 0, 2.5, "5", c(5, 6), numeric(0), NULL,
             TRUE),
    alpha = list(numeric(0), matrix(numeric(0), 0, 2), matrix(numeric(0), 3, 0), c(1, NA),
                 c(1, NaN), c(1, Inf), c(1, 0), c(1, -1), "a", list(1, 2), NULL, TRUE,
                 factor(c("a", "b")), array(1, c(2, 2, 2)), c(1e308, 1e308),
                 data.frame(a = 1:3)),
    pi = list(c(1, 2, 3), 1, NA, c(1, NA), c(1, Inf), c(-1, 2), c(0, 0), "a", list(1, 2),
              numeric(0)),
    depth = list(0, -1, NA, NA_real_, Inf, NaN, 2^31, 1e10, 10.5, c(10, 20), "10", TRUE,
                 numeric(0), NULL, rep(10, 6)),
    sparse = list(NA, "yes", c(TRUE, FALSE), 1, NULL, logical(0)),
    threads = list(0, -1, NA, 1e10, 2.5, "a", c(1, 2), Inf)
  )
  defaults <- list(n = 5, alpha = alpha, pi = NULL, depth = 10, sparse = FALSE, threads = 1)
  for (arg in names(cases)) {
    for (value in cases[[arg]]) {
      for (sparse in c(FALSE, TRUE)) {
        args <- defaults
        args["sparse"] <- list(sparse)
        args[arg] <- list(value)
        expect_input_error(do.call(rdmm, args), "fastdmm_bad_argument", arg)
      }
    }
  }
  # A missing depth is named too.
  expect_input_error(rdmm(5, alpha, sparse = TRUE), "fastdmm_bad_argument", "depth")
  # Weights are relative: huge ones whose sum overflows are fine, and a zero weight
  # leaves its component out.
  for (sparse in c(FALSE, TRUE)) {
    huge <- with_seed(80, rdmm(400, alpha, pi = c(1e308, 1e308), depth = 10, sparse = sparse))
    expect_true(all(table(attr(huge, "component")) > 150))
    only_second <- with_seed(80, rdmm(50, alpha, pi = c(0, 3), depth = 10, sparse = sparse))
    expect_true(all(attr(only_second, "component") == 2L))
  }
})

test_that("rdmm() gives a tiny alpha's limit: all counts on one taxon, taxon j with probability a_j / sum(a)", {
  skip_if_not_installed("Matrix")
  # As a -> 0 the Dirichlet puts all its mass on one taxon, taxon j with probability
  # a_j / A. Alphas of 1e-310 underflow every proportion; the draws must still be exactly
  # that limit, in both forms and for shallow (urn) and deep (Gamma) samples.
  expect_silent(equal <- with_seed(70, rdmm(20, rep(1e-310, 12), depth = 25)))
  expect_true(all(rowSums(equal > 0) == 1L))
  tiny <- c(1, 2, 3, 4) * 1e-310
  expected <- tiny / sum(tiny)
  n <- 4000
  for (sparse in c(FALSE, TRUE)) {
    for (depth in c(25, 1e6)) {
      if (!sparse && depth > 1000) next  # the dense form draws the same way at any depth
      counts <- with_seed(71, rdmm(n, tiny, depth = depth, sparse = sparse, threads = 2))
      counts <- as.matrix(counts)
      expect_true(all(rowSums(counts > 0) == 1L))
      expect_true(all(rowSums(counts) == depth))
      frequency <- colSums(counts > 0) / n
      # Binomial frequencies: within 5 standard errors (about 0.039 at most here).
      expect_true(all(abs(frequency - expected) < 5 * sqrt(expected * (1 - expected) / n)),
                  label = sprintf("taxon frequencies (sparse = %s, depth = %g): %s", sparse, depth,
                                  paste(round(frequency, 3), collapse = " ")))
    }
  }
  # A tiny alpha next to ordinary ones gets (essentially) nothing.
  mixed <- with_seed(72, rdmm(200, c(1, 2, 1e-310), depth = 100, sparse = TRUE))
  expect_true(all(mixed[, 3] == 0))
})

# ---- rdmm(sparse = TRUE) -------------------------------------------------------

# The Dirichlet-multinomial pmf, with its multinomial coefficient.
dm_probability <- function(x, alpha) {
  depth <- sum(x)
  total <- sum(alpha)
  exp(lgamma(depth + 1) - sum(lgamma(x + 1)) + lgamma(total) - lgamma(total + depth) +
        sum(lgamma(alpha + x) - lgamma(alpha)))
}

# Chi-square goodness of fit of the rows of `counts` (n x 3) to DM(depth, alpha), over
# every composition of depth into 3 parts (cells of expected count < 5 pooled).
dm_chisq_p_value <- function(counts, alpha, depth) {
  grid <- expand.grid(x1 = 0:depth, x2 = 0:depth)
  grid <- grid[grid$x1 + grid$x2 <= depth, ]
  grid$x3 <- depth - grid$x1 - grid$x2
  probability <- apply(grid, 1, dm_probability, alpha = alpha)
  key <- paste(grid$x1, grid$x2, grid$x3)
  observed <- as.numeric(table(factor(paste(counts[, 1], counts[, 2], counts[, 3]), levels = key)))
  expected <- probability * nrow(counts)
  small <- expected < 5
  if (any(small)) {
    observed <- c(observed[!small], sum(observed[small]))
    expected <- c(expected[!small], sum(expected[small]))
  }
  statistic <- sum((observed - expected)^2 / expected)
  stats::pchisq(statistic, length(expected) - 1, lower.tail = FALSE)
}

test_that("rdmm(sparse = TRUE) returns a valid dgCMatrix with the dense form's names and components", {
  skip_if_not_installed("Matrix")
  alpha <- cbind(c(a = 20, b = 5, c = 1, d = 1, e = 0.01), c(1, 1, 5, 20, 0.02))
  counts <- with_seed(73, rdmm(300, alpha, pi = c(0.7, 0.3), depth = 500, sparse = TRUE))
  expect_s4_class(counts, "dgCMatrix")
  expect_true(methods::validObject(counts))
  expect_identical(dim(counts), c(300L, 5L))
  expect_identical(dimnames(counts), list(paste0("sample", 1:300), c("a", "b", "c", "d", "e")))
  expect_true(all(counts@x >= 1 & counts@x == round(counts@x)))
  expect_identical(unname(Matrix::rowSums(counts)), rep(500, 300))
  component <- attr(counts, "component")
  expect_type(component, "integer")
  expect_length(component, 300L)
  expect_true(all(component %in% 1:2))
  # Per-sample depths, unnamed taxa, a vector alpha.
  depths <- c(1, 7, 100, 5000, 123456)
  varied <- with_seed(73, rdmm(5, unname(alpha), depth = depths, sparse = TRUE))
  expect_identical(unname(Matrix::rowSums(varied)), depths)
  expect_identical(colnames(varied), paste0("taxon", 1:5))
  single <- with_seed(73, rdmm(3, c(x = 1, y = 2), depth = 7, sparse = TRUE))
  expect_identical(colnames(single), c("x", "y"))
  expect_identical(attr(single, "component"), rep(1L, 3))
})

test_that("rdmm(sparse = TRUE) is reproducible under set.seed() and identical for any thread count", {
  skip_if_not_installed("Matrix")
  alpha <- with_seed(74, cbind(stats::rgamma(200, 0.2) * 0.05 + c(rep(2, 10), rep(0, 190)),
                               stats::rgamma(200, 0.2) * 0.05 + c(rep(0, 190), rep(3, 10))))
  draw <- function(seed, threads) {
    with_seed(seed, rdmm(5000, alpha, depth = 2000, sparse = TRUE, threads = threads))
  }
  one <- draw(75, 1)
  expect_identical(draw(75, 2), one)
  expect_identical(draw(75, 1), one)
  expect_false(identical(draw(76, 2), one))
  # Thread-independence must not come from a serial run: 5000 samples make 5 blocks.
  expect_gt(length(one@x), 5000)
  # Past the first 65,536 samples, blocks are sized by the bytes drawn so far.
  many <- function(threads) {
    with_seed(81, rdmm(80000, alpha[1:30, ], depth = 50, sparse = TRUE, threads = threads))
  }
  expect_identical(many(2), many(1))
})

test_that("rdmm(sparse = TRUE) draws the Dirichlet-multinomial exactly (chi-square on every outcome)", {
  skip_if_not_installed("Matrix")
  # Small enough to enumerate every outcome. The first table mixes the sampler's paths
  # (taxon 1 by a Gamma variate and binomial, taxa 2 and 3 by the Polya urn), the second
  # draws every taxon by Gamma variates and binomials.
  cases <- list(list(alpha = c(5, 0.3, 0.1), depth = 20),
                list(alpha = c(1, 1, 1), depth = 30),
                list(alpha = c(0.5, 2, 0.05), depth = 12))
  for (case in cases) {
    counts <- as.matrix(with_seed(77, rdmm(20000, case$alpha, depth = case$depth, sparse = TRUE,
                                           threads = 2)))
    # A fixed seed makes the p-value fixed; it must not be extreme.
    expect_gt(dm_chisq_p_value(counts, case$alpha, case$depth), 1e-3)
  }
})

test_that("rdmm(sparse = TRUE) has the Dirichlet-multinomial's means and variances and the mixture's weights", {
  skip_if_not_installed("Matrix")
  # Component 1 mixes large and small alphas (Gamma cells and a Polya urn group);
  # component 2 has the tiny alphas of real fits; in component 3 the group (taxa 2 and
  # 3) gets most of its counts in the ~1% of samples where it takes more than 64
  # counts per taxon, and is then split by Gamma variates instead of the urn.
  alpha <- cbind(c(8, 4, 2, 1, 0.5, 0.05, 0.02, 0.01),
                 c(3, 0.2, 0.01, 0.005, 0.02, 0.001, 0.05, 0.3),
                 c(0.1, 0.001, 0.003, 0.05, 0.04, 0.03, 0.02, 0.06))
  pi <- c(0.4, 0.35, 0.25)
  n <- 30000
  depth <- 300
  counts <- with_seed(78, rdmm(n, alpha, pi = pi, depth = depth, sparse = TRUE, threads = 2))
  component <- attr(counts, "component")
  frequency <- tabulate(component, 3) / n
  # Binomial frequencies: within 5 standard errors.
  expect_true(all(abs(frequency - pi) < 5 * sqrt(pi * (1 - pi) / n)))
  for (k in 1:3) {
    x <- as.matrix(counts[component == k, , drop = FALSE])
    a <- alpha[, k]
    total <- sum(a)
    p <- a / total
    # E x_j = J p_j; Var x_j = J p_j (1 - p_j) (J + A) / (1 + A). Means within 5 standard
    # errors; variances within 5 standard errors of the sample variance, estimated from
    # the spread of the squared deviations.
    mean_expected <- depth * p
    variance_expected <- depth * p * (1 - p) * (depth + total) / (1 + total)
    mean_error <- colMeans(x) - mean_expected
    expect_true(all(abs(mean_error) < 5 * sqrt(variance_expected / nrow(x))),
                label = sprintf("component %d means: z = %s", k,
                                paste(round(mean_error / sqrt(variance_expected / nrow(x)), 2),
                                      collapse = " ")))
    squared <- sweep(x, 2, mean_expected)^2
    variance_se <- apply(squared, 2, stats::sd) / sqrt(nrow(x))
    variance_error <- colMeans(squared) - variance_expected
    expect_true(all(abs(variance_error) < 5 * variance_se),
                label = sprintf("component %d variances: z = %s", k,
                                paste(round(variance_error / variance_se, 2), collapse = " ")))
  }
})

test_that("the sampler's binomial and Gamma draws follow their distributions", {
  seed <- c(11, 12, 13, 14)
  # Binomial: inversion (n p < 10), transformed rejection (n p >= 10), and p > 1/2.
  # Transformed rejection's hat lies within a few per cent of the target, so a wrong
  # constant in it biases the draws only slightly: those cases get 2 million draws.
  cases <- list(c(30, 0.2, 2e5), c(200, 0.95, 2e5), c(10, 0.5, 2e5), c(1000, 0.3, 2e6),
                c(5000, 0.05, 2e6), c(1e6, 0.3, 2e6))
  for (case in cases) {
    size <- case[1]
    prob <- case[2]
    draws <- fastdmm:::.draw_binomial(size, prob, case[3], seed)
    # Chi-square over the values of expected count >= 5 (tails pooled).
    values <- 0:size
    expected <- stats::dbinom(values, size, prob) * length(draws)
    keep <- expected >= 5
    low <- min(values[keep])
    high <- max(values[keep])
    observed <- tabulate(pmin(pmax(draws, low), high) - low + 1, high - low + 1)
    pooled <- c(stats::pbinom(low, size, prob), stats::dbinom((low + 1):(high - 1), size, prob),
                stats::pbinom(high - 1, size, prob, lower.tail = FALSE)) * length(draws)
    statistic <- sum((observed - pooled)^2 / pooled)
    expect_gt(stats::pchisq(statistic, length(pooled) - 1, lower.tail = FALSE), 1e-3,
              label = sprintf("binomial(%g, %g) chi-square p-value", size, prob))
  }
  expect_identical(fastdmm:::.draw_binomial(7, 0, 3, seed), c(0, 0, 0))
  expect_identical(fastdmm:::.draw_binomial(7, 1, 3, seed), c(7, 7, 7))
  # log Gamma(shape): Kolmogorov-Smirnov against pgamma, on the log scale
  # (P(log G <= x) = pgamma(exp(x), shape)), for small and large shapes.
  for (shape in c(0.01, 0.3, 1, 3.7, 60)) {
    draws <- fastdmm:::.draw_log_gamma(shape, 20000, seed)
    expect_gt(suppressWarnings(stats::ks.test(draws, function(x) stats::pgamma(exp(x), shape)))$p.value,
              1e-3, label = sprintf("log Gamma(%g) Kolmogorov-Smirnov p-value", shape))
  }
})

test_that("rdmm() leaves its arguments unmodified", {
  skip_if_not_installed("Matrix")
  alpha <- cbind(a = c(x = 2, y = 1, z = 0.01), b = c(0.5, 3, 0.02))
  storage.mode(alpha) <- "double"
  integer_alpha <- matrix(1:6, 3)
  pi <- c(2, 1)
  depth <- c(10, 20, 30)
  saved <- list(alpha, integer_alpha, pi, depth)
  for (sparse in c(FALSE, TRUE)) {
    with_seed(79, rdmm(3, alpha, pi = pi, depth = depth, sparse = sparse))
    with_seed(79, rdmm(3, integer_alpha, pi = pi, depth = depth, sparse = sparse))
  }
  expect_identical(list(alpha, integer_alpha, pi, depth), saved)
})

# ---- simulate(fit) -------------------------------------------------------------

simulate_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      alpha <- cbind(c(a = 30, b = 10, c = 4, d = 2, e = 1), c(1, 2, 4, 10, 30))
      counts <- with_seed(67, rdmm(120, alpha, pi = c(0.7, 0.3), depth = 300))
      fit <<- dmn_fit(counts, 2, seed = 1, threads = 1, nstart = 1)
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
  refit <- dmn_fit(simulate(fit, nsim = 60, seed = 2, depth = 300), 2, seed = 1, threads = 1, nstart = 1)
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

test_that("simulate(fit, sparse = TRUE) is rdmm(sparse = TRUE) of the fit, on any threads", {
  skip_if_not_installed("Matrix")
  fit <- simulate_fit()
  draws <- simulate(fit, nsim = 300, seed = 3, depth = 250, sparse = TRUE, threads = 1)
  expect_s4_class(draws, "dgCMatrix")
  expect_identical(dim(draws), c(300L, 5L))
  expect_identical(colnames(draws), rownames(fitted(fit)))
  expect_true(all(Matrix::rowSums(draws) == 250))
  expect_identical(attr(draws, "seed"), structure(3, kind = as.list(RNGkind())))
  # The same draws as rdmm() with the fit's parameters from the same seed.
  direct <- with_seed(3, rdmm(300, fitted(fit), pi = fit$mixture$Weight, depth = 250,
                              sparse = TRUE, threads = 1))
  expect_identical(unname(as.matrix(draws)), unname(as.matrix(direct)))
  expect_identical(as.vector(attr(draws, "component")), attr(direct, "component"))
  expect_identical(simulate(fit, nsim = 300, seed = 3, depth = 250, sparse = TRUE, threads = 2),
                   draws)
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
  expect_error(simulate(fit, 3, depth = 10, sparse = NA), class = "fastdmm_bad_argument",
               regexp = "^'sparse'")
  expect_error(simulate(fit, 3, depth = 10, bogus = 1), class = "fastdmm_unknown_argument",
               regexp = "'bogus'")
})
