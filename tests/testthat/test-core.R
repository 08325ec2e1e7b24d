# The C++ kernels (random stream, M-step objective and derivatives, Hessian
# summaries, optimiser, soft k-means, log evidence) against independent
# brute-force R computations of DESIGN.md section 1.

# A small table that exercises every branch of the lgamma/psi difference code:
# repeated small counts (summed logs), gaps above 8 and above 32 between
# successive distinct counts of a taxon (special functions), a taxon that is zero
# in every sample, and sample depths far apart.
core_table <- function() {
  with_seed(11, {
    x <- matrix(stats::rpois(12 * 6, 3), 12, 6)
    x[, 2] <- c(1, 5, 20, 100, 1000, 0, 3, 41, 9, 250, 2, 60)
    x[, 4] <- 0
    x[, 6] <- c(0, 0, 7, 7, 7, 1, 0, 45, 45, 2, 0, 0)
    x[rowSums(x) == 0, 1] <- 1
    x
  })
}

core_posterior <- function(n, zeros = integer()) {
  z <- with_seed(12, stats::runif(n, 0.05, 1))
  z[zeros] <- 0
  z
}

# The core table's M-step problem for core_posterior(), its optimum (from lambda
# = 0) and the dense R objective there.
core_optimum <- function() {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  optimum <- fastdmm:::.optimise_component(data, z, rep(0, ncol(x)), FALSE, 0)$log_alpha
  list(x = x, data = data, z = z, optimum = optimum, best = dense_objective(x, z, optimum))
}

# ---- random stream ------------------------------------------------------------

test_that("the reference stream is MT19937 with the C++ standard's check values", {
  stream <- fastdmm:::.reference_stream(5489L, 10000L, 2L)
  expect_identical(stream$u32[1:5], c(3499211612, 581869302, 3890346734, 3586334585, 545404204))
  # The 10000th output of a default-constructed std::mt19937 ([rand.predef]).
  expect_identical(stream$u32[10000], 4123659995)
  # And R's own Mersenne-Twister, started from init_genrand(5489), agrees.
  expect_identical(r_mt19937(5489, 10000), stream$u32)
})

test_that("the reference stream matches an R implementation for other seeds", {
  for (seed in c(1L, 7L, 42L, 123456789L, .Machine$integer.max)) {
    expect_identical(fastdmm:::.reference_stream(seed, 700L, 3L)$u32, r_mt19937(seed, 700),
                     label = sprintf("stream of seed %d", seed))
  }
  # Negative R seeds reach the generator as their unsigned 32-bit value.
  expect_identical(fastdmm:::.reference_stream(-5L, 50L, 3L)$u32, r_mt19937(2^32 - 5, 50))
})

test_that("seed 0 gives the stream of seed 4357, as gsl_rng_set", {
  zero <- fastdmm:::.reference_stream(0L, 1000L, 5L)
  expect_identical(zero, fastdmm:::.reference_stream(4357L, 1000L, 5L))
  expect_identical(zero$u32, r_mt19937(4357, 1000))
})

test_that("uniform_int follows GSL's rejection rule on the raw stream", {
  for (n_values in c(1L, 2L, 3L, 7L, 10L, 1000L, 1431655766L, 2147483647L)) {
    draws <- fastdmm:::.reference_stream(42L, 2000L, as.integer(n_values))$uniform_int
    expected <- r_uniform_int(r_mt19937(42, 6000), n_values, 2000)
    expect_identical(draws, expected, label = sprintf("uniform_int(%d)", n_values))
    expect_true(all(draws >= 0 & draws < n_values))
  }
  # With n = 1431655766 the scale is 2 and a third of the raw values are
  # rejected: the redraw path is used, so the draws are not a plain map of u32.
  raw <- r_mt19937(42, 2000)
  expect_true(any(floor(raw / 2) >= 1431655766))
  expect_false(identical(
    fastdmm:::.reference_stream(42L, 2000L, 1431655766L)$uniform_int,
    as.integer(floor(raw / 2))
  ))
})

# ---- M-step objective and derivatives -------------------------------------------

test_that("the component objective matches a dense lgamma computation", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  for (lambda in list(with_seed(3, stats::rnorm(6)), rep(-3, 6), c(4, 2, 0, -2, 5, 1),
                      with_seed(4, stats::rnorm(6, 8, 2)))) {
    terms <- fastdmm:::.component_terms(data, z, lambda, FALSE)
    expect_relative(terms$objective, dense_objective(x, z, lambda), 1e-10)
  }
})

test_that("the gradient matches finite differences of the objective and the digamma formula", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  for (lambda in list(with_seed(3, stats::rnorm(6)), c(4, 2, 0, -2, 5, 1))) {
    terms <- fastdmm:::.component_terms(data, z, lambda, FALSE)
    numeric_gradient <- finite_difference(function(l) {
      fastdmm:::.component_terms(data, z, l, FALSE)$objective
    }, lambda)
    scale <- max(abs(terms$gradient))
    expect_lt(max(abs(terms$gradient - numeric_gradient)) / scale, 1e-6)
    expect_lt(max(abs(terms$gradient - dense_gradient(x, z, lambda))) / scale, 1e-10)
  }
})

test_that("the exact Hessian pieces, log-determinant and inverse diagonal are right", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  for (lambda in list(with_seed(3, stats::rnorm(6)), c(4, 2, 0, -2, 5, 1), rep(-2, 6))) {
    terms <- fastdmm:::.component_terms(data, z, lambda, FALSE)
    alpha <- exp(lambda)
    pieces <- diag(terms$diagonal) + terms$rank_one * outer(alpha, alpha)
    numeric_hessian <- finite_difference(function(l) {
      fastdmm:::.component_terms(data, z, l, FALSE)$gradient
    }, lambda)
    numeric_hessian <- (numeric_hessian + t(numeric_hessian)) / 2
    scale <- max(abs(numeric_hessian))
    expect_lt(max(abs(pieces - numeric_hessian)) / scale, 1e-6)
    expect_relative(terms$log_abs_det,
                    as.numeric(determinant(numeric_hessian)$modulus), 1e-6)
    expect_relative(terms$inverse_diagonal, diag(solve(numeric_hessian)), 1e-6)
    # Tighter, against the dense trigamma formula.
    exact <- dense_hessian(x, z, lambda)
    expect_lt(max(abs(pieces - exact)) / max(abs(exact)), 1e-10)
    expect_relative(terms$log_abs_det, as.numeric(determinant(exact)$modulus), 1e-10)
    expect_relative(terms$inverse_diagonal, diag(solve(exact)), 1e-8)
  }
})

test_that("the Hessian summary handles an indefinite Hessian (log |det|)", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  # Far from the optimum, with large alphas, the diagonal has both signs.
  lambda <- c(6, -4, 6, 0, 6, -4)
  terms <- fastdmm:::.component_terms(data, z, lambda, FALSE)
  exact <- dense_hessian(x, z, lambda)
  expect_true(any(eigen(exact, symmetric = TRUE)$values < 0))
  expect_relative(terms$log_abs_det, as.numeric(determinant(exact)$modulus), 1e-9)
  expect_relative(terms$inverse_diagonal, diag(solve(exact)), 1e-8)
})

test_that("the reference Hessian reproduces the reference's unweighted sums", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  # Some posteriors exactly zero: those samples drop out of C0 and C1.
  z <- core_posterior(nrow(x), zeros = c(2, 5, 9))
  for (lambda in list(with_seed(3, stats::rnorm(6)), c(4, 2, 0, -2, 5, 1))) {
    terms <- fastdmm:::.component_terms(data, z, lambda, TRUE)
    alpha <- exp(lambda)
    reference <- dense_reference_hessian(x, z, lambda)
    pieces <- diag(terms$diagonal) + terms$rank_one * outer(alpha, alpha)
    expect_lt(max(abs(pieces - reference)) / max(abs(reference)), 1e-10)
    expect_relative(terms$log_abs_det, as.numeric(determinant(reference)$modulus), 1e-10)
    expect_relative(terms$inverse_diagonal, diag(solve(reference)), 1e-8)
    # The objective and gradient do not depend on the Hessian chosen; LogDet does.
    exact <- fastdmm:::.component_terms(data, z, lambda, FALSE)
    expect_identical(terms$objective, exact$objective)
    expect_identical(terms$gradient, exact$gradient)
    expect_gt(abs(terms$log_abs_det - exact$log_abs_det), 1e-3)
  }
})

test_that("with unit posteriors (k = 1) the reference Hessian is the exact one", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- rep(1, nrow(x))
  lambda <- with_seed(5, stats::rnorm(6))
  reference <- fastdmm:::.component_terms(data, z, lambda, TRUE)
  exact <- fastdmm:::.component_terms(data, z, lambda, FALSE)
  expect_relative(reference$log_abs_det, exact$log_abs_det, 1e-12)
  expect_relative(reference$diagonal, exact$diagonal, 1e-12)
})

test_that("objective, gradient and Hessian are right for tables wider than one block of taxa", {
  # 700 taxa: three blocks of 256, several zero in every sample.
  x <- with_seed(13, {
    x <- matrix(stats::rpois(15 * 700, 0.3), 15, 700)
    x[, 1:3] <- x[, 1:3] + c(50, 400, 1)
    x
  })
  expect_gt(sum(colSums(x) == 0), 0)
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  lambda <- with_seed(14, stats::rnorm(700, -1))
  for (reference_hessian in c(FALSE, TRUE)) {
    terms <- fastdmm:::.component_terms(data, z, lambda, reference_hessian)
    expect_relative(terms$objective, dense_objective(x, z, lambda), 1e-10)
    expect_lt(max(abs(terms$gradient - dense_gradient(x, z, lambda))) / max(abs(terms$gradient)),
              1e-10)
    hessian <- if (reference_hessian) dense_reference_hessian(x, z, lambda) else
      dense_hessian(x, z, lambda)
    expect_relative(terms$log_abs_det, as.numeric(determinant(hessian)$modulus), 1e-9)
    expect_relative(terms$inverse_diagonal, diag(solve(hessian)), 1e-8)
  }
  result <- fastdmm:::.optimise_component(data, z, lambda, FALSE, 0)
  expect_true(result$converged)
  expect_lt(sqrt(sum(dense_gradient(x, z, result$log_alpha)^2)), 1e-6)
})

# ---- optimiser ------------------------------------------------------------------

test_that("the M-step optimiser reaches a minimum (gradient, perturbations)", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  result <- fastdmm:::.optimise_component(data, z, rep(0, ncol(x)), FALSE, 0)
  expect_true(result$converged)
  expect_lt(result$gradient_norm, 1e-6)
  lambda <- result$log_alpha
  expect_lt(sqrt(sum(dense_gradient(x, z, lambda)^2)), 1e-6)
  best <- dense_objective(x, z, lambda)
  with_seed(6, for (size in c(1e-3, 1e-2, 0.3)) {
    for (m in 1:10) {
      perturbed <- lambda + stats::rnorm(length(lambda), 0, size)
      expect_gte(dense_objective(x, z, perturbed), best - 1e-12 * abs(best))
    }
  })
  # The warm start from the optimum stays there.
  again <- fastdmm:::.optimise_component(data, z, lambda, FALSE, 0)
  expect_lte(again$iterations, 1L)
  expect_relative(again$log_alpha, lambda, 1e-8)
})

test_that("full Newton steps near the optimum never raise the objective (dense check)", {
  # Near the minimum the optimiser takes full Newton steps checked by the
  # gradient alone, without evaluating f; each M-step must still lower f (EM's
  # monotonicity rests on it) and end at the minimum, from near and far starts.
  list2env(core_optimum(), environment())  # x, data, z, optimum, best
  with_seed(7, for (size in c(1e-4, 1e-3, 1e-2, 0.1, 1)) {
    for (m in 1:5) {
      start <- optimum + stats::rnorm(length(optimum), 0, size)
      result <- fastdmm:::.optimise_component(data, z, start, FALSE, 0)
      expect_true(result$converged)
      f_start <- dense_objective(x, z, start)
      f_end <- dense_objective(x, z, result$log_alpha)
      expect_lte(f_end, f_start + 1e-12 * abs(f_start))
      expect_relative(f_end, best, 1e-12)
      expect_lt(max(abs(result$log_alpha - optimum)), 1e-5)
    }
  })
})

test_that("an M-step started as near its optimum takes the same steps as one started far", {
  # EM guesses which M-steps start near their optimum and evaluates only the
  # derivatives there; f is computed only if a line search follows. The guess
  # may be wrong either way, and must change the work, never the iterates.
  list2env(core_optimum(), environment())  # x, data, z, optimum, best
  needed <- logical()
  with_seed(8, for (size in c(0, 1e-6, 1e-3, 0.1, 1, 3)) {
    start <- optimum + stats::rnorm(length(optimum), 0, size)
    far <- fastdmm:::.optimise_component(data, z, start, FALSE, 0)
    near <- fastdmm:::.optimise_component(data, z, start, TRUE, 0)
    expect_identical(near$log_alpha, far$log_alpha)
    expect_identical(near$iterations, far$iterations)
    expect_identical(near$start_needed_objective, far$start_needed_objective)
    expect_true(near$converged)
    expect_relative(dense_objective(x, z, near$log_alpha), best, 1e-12)
    needed <- c(needed, near$start_needed_objective)
  })
  # Both kinds of start were met: at the optimum no line search is needed, far
  # from it one is.
  expect_false(needed[1])
  expect_true(needed[length(needed)])
})

test_that("with an objective tolerance, M-steps stop within it of the minimum and never rise", {
  # EM's M-steps stop once the rest of the decrease is below a tolerance, and
  # take a last full Newton step without evaluating where it lands when the
  # decrement's bound says that point would stop them. Checked by the dense R
  # objective: from near and far starts each M-step lowers f and ends within a
  # few tolerances of the minimum, in no more iterations than without one.
  list2env(core_optimum(), environment())  # x, data, z, optimum, best
  tolerance <- 1e-9
  last_steps <- 0
  with_seed(9, for (size in c(1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1)) {
    for (m in 1:4) {
      start <- optimum + stats::rnorm(length(optimum), 0, size)
      for (near in c(FALSE, TRUE)) {
        result <- fastdmm:::.optimise_component(data, z, start, near, tolerance)
        expect_true(result$converged)
        f_start <- dense_objective(x, z, start)
        f_end <- dense_objective(x, z, result$log_alpha)
        expect_lte(f_end, f_start + 1e-12 * abs(f_start))
        expect_lte(f_end - best, 4 * tolerance + 1e-12 * abs(best))
        exact <- fastdmm:::.optimise_component(data, z, start, near, 0)
        expect_lte(result$iterations, exact$iterations)
        # The tolerance decides only where to stop: after as many iterations,
        # the same point (a last step lands where the exact run's step does).
        if (result$iterations == exact$iterations) {
          expect_identical(result$log_alpha, exact$log_alpha)
          # A last step reports the gradient where it started, not where it
          # landed (the point the exact run evaluated).
          last_steps <- last_steps + (result$gradient_norm != exact$gradient_norm)
        }
      }
    }
  })
  # The last step without its walk was taken (the path under test ran).
  expect_gt(last_steps, 0)
})

test_that("the M-step optimiser agrees with optim(BFGS) on a tiny problem", {
  x <- matrix(c(10, 2, 0, 5,
                3, 8, 1, 0,
                12, 1, 1, 6,
                0, 9, 2, 1,
                7, 3, 0, 3), 5, 4, byrow = TRUE)
  expect_dense_minimum(x, c(0.9, 0.2, 1, 0.4, 0.7), rep(-1, 4))
})

test_that("the M-step on a component's support is the whole problem's minimum", {
  # Samples 4 and 5 are outside the component (z = 0) and alone count taxa 5..9:
  # those taxa are left to one shared variable, started here from lambdas that
  # differ, and must end where a dense BFGS over every taxon ends.
  x <- matrix(c(10, 2, 0, 5, 0, 0, 0, 0, 0,
                3, 8, 1, 0, 0, 0, 0, 0, 0,
                12, 1, 1, 6, 0, 0, 0, 0, 0,
                0, 9, 2, 1, 40, 3, 0, 7, 1,
                7, 3, 0, 3, 2, 0, 11, 5, 9), 5, 9, byrow = TRUE)
  z <- c(0.9, 0.6, 1, 0, 0)
  ours <- expect_dense_minimum(x, z, c(rep(-1, 4), 2, -3, 0.5, -0.2, 1))
  # The uncounted taxa's closed form: alpha = eta / (nu + sum_i z_i [psi(A + J_i) - psi(A)]).
  alpha <- exp(ours$log_alpha)
  total <- sum(alpha)
  expected <- 0.1 / (0.1 + sum(z * (digamma(total + rowSums(x)) - digamma(total))))
  expect_relative(alpha[5:9], rep(expected, 5), 1e-6)
})

test_that("exchangeable taxa of a component's support share a variable and the minimum", {
  # Within the component (samples 1-3, z = 1) taxa 3, 4 and 5 are each counted
  # once, with a 1, by sample 1, and taxa 6 and 7 with a 2 by sample 2: two
  # classes of taxa whose (value, weight) pairs are the same. Taxa 9 and 10
  # are counted by samples outside the component only. The classes start from
  # lambdas that differ within them (their mean is where a class starts), and
  # must end where a dense BFGS over every taxon ends, each class at one value.
  x <- matrix(c(20, 4, 1, 1, 1, 0, 0, 6, 0, 0,
                15, 9, 0, 0, 0, 2, 2, 3, 0, 0,
                30, 2, 0, 0, 0, 0, 0, 9, 0, 0,
                4, 25, 0, 3, 0, 0, 1, 2, 8, 0,
                2, 30, 1, 0, 0, 4, 0, 0, 0, 5), 5, 10, byrow = TRUE)
  z <- c(1, 1, 1, 0, 0)
  start <- c(1, 0.5, -2, -1, 0.3, 0.2, -0.6, 0, 1.5, -1)
  ours <- expect_dense_minimum(x, z, start)
  expect_identical(ours$log_alpha[4:5], rep(ours$log_alpha[3], 2))
  expect_identical(ours$log_alpha[7], ours$log_alpha[6])
  expect_identical(ours$log_alpha[10], ours$log_alpha[9])
  # The classes are exactly exchangeable, not merely close: a start that
  # already has each class at one value ends where the shared-variable
  # optimum is, to the optimiser's tolerance.
  level <- replace(start, 3:5, mean(start[3:5]))
  level <- replace(level, 6:7, mean(start[6:7]))
  again <- fastdmm:::.optimise_component(fastdmm:::as_counts(x), z, level, FALSE, 0)
  expect_lt(max(abs(again$log_alpha - ours$log_alpha)), 1e-6)
})

test_that("the optimiser copes with far starts and an all-zero taxon", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  z <- core_posterior(nrow(x))
  starts <- list(rep(-10, 6), rep(8, 6), c(-10, 5, -10, 5, -10, 5))
  optima <- lapply(starts, function(s) fastdmm:::.optimise_component(data, z, s, FALSE, 0))
  for (result in optima) {
    expect_true(result$converged)
    expect_true(all(is.finite(result$log_alpha)))
    expect_lt(sqrt(sum(dense_gradient(x, z, result$log_alpha)^2)), 1e-6)
    # The objective is convex enough here that every start finds one optimum.
    expect_lt(max(abs(result$log_alpha - optima[[1]]$log_alpha)), 1e-5)
  }
})

# ---- soft k-means ------------------------------------------------------------------

test_that("soft k-means matches a dense R implementation of the reference's", {
  cases <- list(
    list(x = simulate_counts(n = 10, n_taxa = 6, k = 3, seed = 3), k = 3L, seed = 42L),
    list(x = simulate_counts(n = 15, n_taxa = 9, k = 2, seed = 4), k = 2L, seed = 1L),
    list(x = simulate_counts(n = 8, n_taxa = 5, k = 4, seed = 5), k = 4L, seed = 0L),
    list(x = core_table(), k = 2L, seed = 7L)
  )
  for (case in cases) {
    ours <- fastdmm:::.soft_kmeans(fastdmm:::as_counts(case$x), case$k, case$seed, 1L)
    theirs <- r_soft_kmeans(case$x, case$k, case$seed)
    expect_identical(ours$iterations, theirs$iterations)
    expect_lt(max(abs(ours$posterior - theirs$posterior)), 1e-10)
    expect_lt(max(abs(ours$centres - theirs$centres)), 1e-10)
    expect_lt(max(abs(ours$weights - theirs$weights)), 1e-10)
  }
})

test_that("soft k-means gives identical results on 1 and 2 threads", {
  x <- simulate_counts(n = 150, n_taxa = 70, k = 3, seed = 8)
  data <- fastdmm:::as_counts(x)
  expect_identical(fastdmm:::.soft_kmeans(data, 3L, 9L, 1L),
                   fastdmm:::.soft_kmeans(data, 3L, 9L, 2L))
})

# ---- log evidence ------------------------------------------------------------------

test_that("the log evidence matches the dense lgamma formula", {
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  alpha <- cbind(with_seed(2, stats::rgamma(6, 0.5)), exp(c(4, 2, 0, -2, 5, 1)), rep(1e-4, 6))
  ours <- fastdmm:::.log_evidence(data, log(alpha), 1L)
  expected <- dense_log_evidence(x, alpha)
  expect_equal(dim(ours), c(nrow(x), 3L))
  expect_lt(max(abs(ours - expected) / pmax(abs(expected), 1)), 1e-10)
  expect_identical(fastdmm:::.log_evidence(data, log(alpha), 2L), ours)
})

test_that("taxa with the same values share their tables only where their lambda is the same", {
  # A wide sparse table: most taxa are counted by one to three samples with
  # counts 1 to 3, so many share a list of values (Counts::value_class). The
  # E-step makes one table column per list and lambda and copies it to the
  # other taxa of the list with that lambda.
  x <- with_seed(5, {
    m <- matrix(0, 40, 300)
    for (j in seq_len(ncol(m))) {
      rows <- sample(nrow(m), sample(3, 1))
      m[rows, j] <- sample(3, length(rows), replace = TRUE)
    }
    m[, 1] <- m[, 1] + 5
    m
  })
  data <- fastdmm:::as_counts(x)
  lists <- apply(x, 2, function(v) paste(sort(unique(v[v > 0])), collapse = " "))
  expect_lt(length(unique(lists)), ncol(x) / 10)
  # Component 1 gives every taxon one lambda but a few; component 2 two
  # lambdas, alternating, so taxa of one list differ; component 3 its own each.
  lambda <- cbind(rep(-3, ncol(x)), rep(c(-1, 0.5), length.out = ncol(x)),
                  with_seed(6, stats::rnorm(ncol(x), -1)))
  lambda[c(2, 7, 50), 1] <- c(1, -6, 2)
  ours <- fastdmm:::.log_evidence(data, lambda, 1L)
  expected <- dense_log_evidence(x, exp(lambda))
  expect_lt(max(abs(ours - expected) / pmax(abs(expected), 1)), 1e-10)
  expect_identical(fastdmm:::.log_evidence(data, lambda, 2L), ours)
  # Eight components whose taxa take one of three lambdas each, drawn: within
  # a list, taxa that share a lambda other than the first taxon's copy the
  # first of them made (by list, component and lambda), never a column not
  # made yet (a taxon's own, for a later component).
  many <- with_seed(7, matrix(sample(c(-2, -0.5, 1), ncol(x) * 8, replace = TRUE), ncol(x)))
  ours <- fastdmm:::.log_evidence(data, many, 1L)
  expected <- dense_log_evidence(x, exp(many))
  expect_lt(max(abs(ours - expected) / pmax(abs(expected), 1)), 1e-10)
  expect_identical(fastdmm:::.log_evidence(data, many, 2L), ours)
})

test_that("E-step columns kept by lambda give the E-step's numbers, to the bit (against R)", {
  # A search's states differ from the last in a component or two, and their
  # E-steps take the other components' columns from a cache (ColumnCache). A
  # sequence of parameters that changes one lambda of one component, reorders
  # the components, comes back to an earlier state and gives two components one
  # lambda, through caches too small to hold every column (1 and 2 evict
  # within the sequence; 13 holds them all).
  x <- core_table()
  data <- fastdmm:::as_counts(x)
  base <- log(cbind(with_seed(2, stats::rgamma(6, 0.5)), exp(c(4, 2, 0, -2, 5, 1)),
                    rep(1e-4, 6)))
  changed <- base
  changed[3, 2] <- changed[3, 2] + 0.25
  steps <- list(base, changed, base[, c(3, 1, 2)], base, base[, c(1, 1, 3)], changed)
  weights <- c(5, 4, 3)
  for (capacity in c(1L, 2L, 4L, 13L)) {
    result <- fastdmm:::.columns_cached(data, steps, weights, capacity)
    expect_identical(result$cached, result$plain)
  }
  # More components than the E-step's fixed widths (16): its own passes take
  # the run-time width, the cache's passes for a few missing columns a fixed one.
  wide <- cbind(base, base[, 3:1] + 0.5, with_seed(3, matrix(stats::rnorm(6 * 11, -1), 6, 11)))
  wider <- wide
  wider[, 5] <- wider[, 5] - 0.125
  result <- fastdmm:::.columns_cached(data, list(wide, wider, wide[, 17:1], wider),
                                     as.double(1:17), 20L)
  expect_identical(result$cached, result$plain)
  # The cached numbers are the E-step's: the dense formulas of DESIGN.md
  # section 1 (relative 1e-10).
  result <- fastdmm:::.columns_cached(data, steps, weights, 2L)
  for (m in seq_along(steps)) {
    alpha <- exp(steps[[m]])
    got <- result$cached[[m]]
    e <- dense_log_evidence(x, alpha)
    expect_lt(max(abs(got$evidence - e) / pmax(abs(e), 1)), 1e-10)
    l <- sweep(e, 2, log(weights / sum(weights)), "+")
    z <- exp(l - apply(l, 1, max))
    expect_lt(max(abs(got$posterior - z / rowSums(z))), 1e-10)
    expected <- dense_log_likelihood(x, alpha, weights / sum(weights))
    expect_lt(abs(got$log_likelihood - expected) / abs(expected), 1e-10)
    expect_lt(abs(got$prior - dense_neg_log_prior(alpha)) / abs(got$prior), 1e-10)
  }
})

test_that("the log evidence stays accurate for counts beyond 32-bit integers", {
  x <- core_table()
  x[3, 3] <- 3e9
  data <- fastdmm:::as_counts(x)
  alpha <- cbind(with_seed(2, stats::rgamma(6, 0.5)), exp(c(4, 2, 0, -2, 5, 1)), rep(1e-4, 6))
  ours <- fastdmm:::.log_evidence(data, log(alpha), 1L)
  expected <- dense_log_evidence(x, alpha)
  # e_i3 is a difference of lgamma values near 6e10, so both computations carry
  # an absolute rounding error of order eps * lgamma(J_i): allow 1e-13 of it.
  allowed <- 1e-13 * lgamma(rowSums(x) + 2) + 1e-10 * abs(expected)
  expect_true(all(abs(ours - expected) <= allowed))
  expect_true(all(is.finite(ours)))
})

test_that("the core's Stirling series match R's lgamma, digamma and trigamma", {
  x <- c(1e-12, 1e-5, 0.01, 0.3, 0.5, 1, 1.5, 2, 3.7, 7, 9.99, 10, 10.01, 55.5, 1e3, 1e6, 1e12)
  values <- fastdmm:::.gamma_values(x)
  # Absolute error relative to max(1, |value|): about 1e-15 at worst.
  scaled <- function(a, b) abs(a - b) / pmax(1, abs(b))
  expect_lt(max(scaled(values[, 1], lgamma(x))), 1e-14)
  expect_lt(max(scaled(values[, 2], digamma(x))), 1e-14)
  expect_lt(max(scaled(values[, 3], trigamma(x))), 1e-14)
})

test_that("the walks' gamma differences match R's over short and long gaps", {
  # Gaps of 1 to 12 (walked by products of up to 8 terms, or by the series) from
  # several starts, at alphas from tiny to large.
  v <- cumsum(c(1, 1, 2, 3, 1, 4, 5, 6, 7, 8, 9, 1, 12, 1, 2, 40, 3, 1000, 2, 8))
  for (a in c(1e-10, 0.003, 0.3, 1, 7.5, 123.4, 1e5)) {
    d <- fastdmm:::.gamma_differences(a, as.numeric(v))
    # R's differences lgamma(a + v) - lgamma(a) lose about eps * |lgamma(a)| to
    # cancellation (likewise digamma and trigamma): allow that and 1e-13 relative.
    lg <- lgamma(a + v) - lgamma(a)
    allowed <- 1e-13 * pmax(1, abs(lg)) + 4 * .Machine$double.eps * abs(lgamma(a))
    expect_true(all(abs(d[, 1] - lg) <= allowed), info = paste("lgamma walk, a =", a))
    expect_true(all(abs(d[, 2] - lg) <= allowed), info = paste("joint walk, a =", a))
    dg <- digamma(a + v) - digamma(a)
    dg_allowed <- 1e-13 * pmax(1, abs(dg)) + 4 * .Machine$double.eps * abs(digamma(a))
    expect_true(all(abs(d[, 3] - dg) <= dg_allowed), info = paste("digamma, a =", a))
    expect_true(all(abs(d[, 5] - dg) <= dg_allowed), info = paste("digamma alone, a =", a))
    tg <- trigamma(a + v) - trigamma(a)
    tg_allowed <- 1e-13 * pmax(1, abs(tg)) + 4 * .Machine$double.eps * abs(trigamma(a))
    expect_true(all(abs(d[, 4] - tg) <= tg_allowed), info = paste("trigamma, a =", a))
  }
  expect_error(fastdmm:::.gamma_differences(1, c(2, 2)), "increasing")
  expect_error(fastdmm:::.gamma_differences(0, 1), "'a' must be between")
})

test_that("no result depends on the table's tiles of samples", {
  # Tiles of 7 samples cut the table at many places, mid-column and mid-run of
  # equal counts; one tile holds it whole. Every output must be identical.
  x <- simulate_counts(n = 60, n_taxa = 15, k = 3, depth = 500, seed = 19, precision = 8)
  data <- fastdmm:::as_counts(x)
  but_threads <- function(fit) {
    fit <- without_call(fit)
    fit[setdiff(names(fit), "threads")]
  }
  base <- but_threads(allow_unconverged(dmn_fit(data, 3, seed = 1, threads = 1, nstart = 3)))
  for (size in c(1L, 7L, 1000L)) {
    tiled <- fastdmm:::.retile_counts(data, size)
    log_alpha <- matrix(log(seq_len(45) / 10), 15, 3)
    expect_identical(fastdmm:::.log_evidence(tiled, log_alpha, 1L),
                     fastdmm:::.log_evidence(data, log_alpha, 1L))
    for (threads in 1:2) {
      expect_identical(
        but_threads(allow_unconverged(dmn_fit(tiled, 3, seed = 1, threads = threads, nstart = 3))),
        base, label = sprintf("tiles of %d samples, %d threads", size, threads))
    }
  }
  # 32-bit pairs in the tiles (what a taxon of more than 65,536 distinct counts
  # needs) give the same results as 16-bit ranks.
  wide <- fastdmm:::.retile_counts(data, 7L, TRUE)
  expect_identical(fastdmm:::.log_evidence(wide, log_alpha, 1L),
                   fastdmm:::.log_evidence(data, log_alpha, 1L))
  for (threads in 1:2) {
    expect_identical(
      but_threads(allow_unconverged(dmn_fit(wide, 3, seed = 1, threads = threads, nstart = 3))),
      base, label = sprintf("32-bit pairs, %d threads", threads))
  }
  # The tiled E-step against the brute-force evidence (1e-12 relative).
  alpha <- matrix(seq_len(45) / 10, 15, 3)
  expect_relative(fastdmm:::.log_evidence(fastdmm:::.retile_counts(data, 7L), log(alpha), 1L),
                  dense_log_evidence(x, alpha), 1e-12)
})

test_that("sums over a taxon's samples do not depend on the tiles or on windows of rows", {
  # 12,000 samples: one default tile holds them all, walked in several windows of
  # rows (counts.h, TileColumns); tiles of 7 samples and of 5,000 cut them
  # elsewhere. The soft k-means (proportion centres) and Hellinger k-means (Lloyd
  # centres) must agree to the bit, and the Hellinger labels must be a fixed point
  # of Lloyd's step computed in R.
  x <- simulate_counts(n = 6000, n_taxa = 10, k = 2, depth = 60, seed = 41, precision = 5)
  data <- fastdmm:::as_counts(x)
  soft <- fastdmm:::.soft_kmeans(data, 3L, 5L, 1L)
  labels <- fastdmm:::.hellinger_kmeans(data, 3L, 5L, 2L)
  for (size in c(7L, 5000L)) {
    tiled <- fastdmm:::.retile_counts(data, size, size == 7L)
    expect_identical(fastdmm:::.soft_kmeans(tiled, 3L, 5L, 2L), soft)
    expect_identical(fastdmm:::.hellinger_kmeans(tiled, 3L, 5L, 1L), labels)
  }
  u <- sqrt(x / rowSums(x))
  centres <- rowsum(u, labels) / as.vector(table(labels))
  distance <- sapply(seq_len(nrow(centres)), function(k) colSums((t(u) - centres[k, ])^2))
  expect_identical(max.col(-distance, ties.method = "first"), labels)
})

test_that("2-means of some samples along their rows is the walk over the tiles to the bit (against R)", {
  # Split plans, kicks and the transfers' bisection trees divide some samples
  # by 2-means. Along the members' rows (the search's row view) it must give
  # the labels and centres of the walk over the tiles to the last bit, on tiles
  # of 7 samples and of the default size, for 1 and 2 threads; where Lloyd's
  # rounds stopped before their cap, the centres are the members' mean
  # square-root proportions per label (1e-12) and each member is nearest its own.
  x <- simulate_counts(n = 90, n_taxa = 40, k = 3, depth = 500, seed = 7, precision = 3)
  x[, 40] <- 0L
  x[c(5, 50), 40] <- 3L
  u <- sqrt(x / rowSums(x))
  data <- fastdmm:::as_counts(x)
  small <- fastdmm:::.retile_counts(data, 7L, FALSE)
  set.seed(3)
  subsets <- list(seq(1L, 90L, by = 3L), sort(sample(90L, 12L)), c(5L, 50L, 51L), 1:90)
  converged <- 0L
  for (members in subsets) for (k in 2:3) {
    rows <- fastdmm:::.hellinger_subset(data, members, k, TRUE, 1L)
    expect_identical(fastdmm:::.hellinger_subset(data, members, k, FALSE, 1L), rows)
    expect_identical(fastdmm:::.hellinger_subset(small, members, k, TRUE, 2L), rows)
    expect_identical(fastdmm:::.hellinger_subset(small, members, k, FALSE, 2L), rows)
    expect_identical(fastdmm:::.hellinger_subset(data, rev(members), k, TRUE, 1L), rows)
    expect_true(all(rows$labels %in% seq_len(k)))
    if (rows$iterations < 10L) {
      converged <- converged + 1L
      sub <- u[members, , drop = FALSE]
      used <- sort(unique(rows$labels))
      means <- rowsum(sub, rows$labels) / as.vector(table(rows$labels))
      expect_lt(max(abs(rows$centres[used, , drop = FALSE] - means)), 1e-12)
      d <- sapply(seq_len(k), function(h) colSums((t(sub) - rows$centres[h, ])^2))
      expect_identical(max.col(-d, ties.method = "first"), rows$labels)
    }
  }
  expect_gte(converged, 4L)
})

test_that("a taxon with more than 65,536 distinct counts is stored and fitted exactly", {
  # 70,000 samples whose first taxon takes 70,000 distinct values: the tile view
  # must keep 32-bit pairs. The evidence against the brute-force sum; and a
  # table of few values gives the same evidence with 32-bit pairs forced.
  n <- 70000
  x <- cbind(seq_len(n), (seq_len(n) %% 7) + 1, (seq_len(n) %% 3))
  alpha <- cbind(c(2, 1, 0.5), c(0.5, 1, 2))
  data <- fastdmm:::as_counts(x)
  expect_equal(length(data$pair_value), n + 7 + 2)
  rows <- c(1:5, 65535:65540, n)
  # (Counts near 70,000 make lgamma terms near 7e5 that cancel: 1e-9 relative
  # is what the brute-force sum itself holds; a wrong pair is off by far more.)
  expect_relative(fastdmm:::.log_evidence(data, log(alpha), 1L)[rows, ],
                  dense_log_evidence(x[rows, ], alpha), 1e-9)
  narrow <- fastdmm:::as_counts(x[, 2:3] + 1)
  expect_identical(fastdmm:::.log_evidence(fastdmm:::.retile_counts(narrow, 16384L, TRUE),
                                           log(alpha[2:3, ]), 1L),
                   fastdmm:::.log_evidence(narrow, log(alpha[2:3, ]), 1L))
})
