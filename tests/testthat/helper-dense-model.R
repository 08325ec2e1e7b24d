# Brute-force dense R versions of the model's quantities (DESIGN.md section 1),
# written without reference to the C++ so that tests compare two independent
# computations: evidence, likelihood, hyperprior, the M-step's objective, its
# gradient and Hessians (exact and the reference's), their bounds, and the
# reference's soft k-means start.

prior_shape <- 0.1 # eta
prior_rate <- 0.1  # nu

# e_ik = lgamma(A_k) - lgamma(A_k + J_i) + sum_j [lgamma(alpha_kj + x_ij) - lgamma(alpha_kj)],
# for an N x S table and an S x K alpha matrix.
dense_log_evidence <- function(x, alpha) {
  x <- as.matrix(x)
  alpha <- as.matrix(alpha)
  depth <- rowSums(x)
  vapply(seq_len(ncol(alpha)), function(k) {
    a <- alpha[, k]
    total <- sum(a)
    cells <- lgamma(x + rep(a, each = nrow(x))) - rep(lgamma(a), each = nrow(x))
    lgamma(total) - lgamma(total + depth) + rowSums(cells)
  }, numeric(nrow(x)))
}

dense_log_multinomial <- function(x) {
  x <- as.matrix(x)
  lgamma(rowSums(x) + 1) - rowSums(lgamma(x + 1))
}

log_sum_exp <- function(v) {
  m <- max(v)
  m + log(sum(exp(v - m)))
}

# sum_i log sum_k pi_k DM(x_i | alpha_k), with the multinomial coefficient.
dense_log_likelihood <- function(x, alpha, weights) {
  e <- dense_log_evidence(x, alpha)
  per_sample <- apply(e, 1L, function(row) log_sum_exp(row + log(weights)))
  sum(per_sample + dense_log_multinomial(x))
}

# The Gamma(eta, nu) hyperprior's contribution to the NLE, on lambda = log(alpha).
dense_neg_log_prior <- function(alpha) {
  cells <- length(alpha)
  cells * lgamma(prior_shape) - prior_shape * cells * log(prior_rate) +
    prior_rate * sum(alpha) - prior_shape * sum(log(alpha))
}

# The sums f_k and its derivatives are made of, for `f` = lgamma, digamma or
# trigamma at alpha = exp(lambda): `samples`, sum_i z_i [f(A + J_i) - f(A)],
# and `cells`, the N x S matrix f(alpha_j + x_ij) - f(alpha_j) (zeros included).
dense_sums <- function(x, z, lambda, f) {
  x <- as.matrix(x)
  a <- exp(lambda)
  total <- sum(a)
  depth <- rowSums(x)
  list(alpha = a,
       samples = sum(z * (f(total + depth) - f(total))),
       cells = f(x + rep(a, each = nrow(x))) - rep(f(a), each = nrow(x)))
}

# f_k(lambda) of the M-step, summed over every cell (zeros included).
dense_objective <- function(x, z, lambda) {
  sums <- dense_sums(x, z, lambda, lgamma)
  sums$samples - sum(z * sums$cells) + prior_rate * sum(sums$alpha) - prior_shape * sum(lambda)
}

# Lower/Upper = exp(lambda -/+ 2 sd) with sd from the inverse of a dense Hessian
# (`hessian(x, z, lambda)`), NaN where the variance is negative or sd >= 100.
dense_bounds <- function(x, z, lambda, hessian) {
  variance <- diag(solve(hessian(x, z, lambda)))
  sd <- ifelse(variance >= 0, sqrt(pmax(variance, 0)), NaN)
  sd[sd >= 100] <- NaN
  list(lower = exp(lambda - 2 * sd), upper = exp(lambda + 2 * sd))
}

# df/dlambda_j = alpha_j G_j - eta.
dense_gradient <- function(x, z, lambda) {
  sums <- dense_sums(x, z, lambda, digamma)
  G <- sums$samples - colSums(z * sums$cells) + prior_rate
  sums$alpha * G - prior_shape
}

# The exact Hessian of f_k in lambda, as a dense S x S matrix.
dense_hessian <- function(x, z, lambda) {
  sums <- dense_sums(x, z, lambda, trigamma)
  a <- sums$alpha
  H <- sums$samples * outer(a, a)
  diag(H) <- diag(H) + (dense_gradient(x, z, lambda) + prior_shape) -
    a^2 * colSums(z * sums$cells)
  H
}

# DirichletMultinomial's Hessian (DESIGN.md section 1): the per-taxon sums
# C0_j, C1_j run unweighted over all samples, taking psi(alpha_j + x_ij) where
# z_ik x_ij != 0 and psi(alpha_j) elsewhere.
dense_reference_hessian <- function(x, z, lambda) {
  x <- as.matrix(x)
  a <- exp(lambda)
  total <- sum(a)
  depth <- rowSums(x)
  W <- sum(z)
  shifted <- x + rep(a, each = nrow(x))
  at_alpha <- matrix(rep(a, each = nrow(x)), nrow(x))
  used <- (z != 0) & (x != 0) # z recycles down the rows: one value per sample
  C0 <- colSums(ifelse(used, digamma(shifted), digamma(at_alpha)))
  C1 <- colSums(ifelse(used, trigamma(shifted), trigamma(at_alpha)))
  diagonal <- -a * (W * digamma(total) - sum(z * digamma(total + depth)) + C0 - W * digamma(a)) -
    a^2 * (W * trigamma(total) - sum(z * trigamma(total + depth)) + C1 - W * trigamma(a)) +
    prior_rate * a
  H <- sum(z * (trigamma(total + depth) - trigamma(total))) * outer(a, a)
  diag(H) <- diagonal
  H
}

# Central finite differences of a scalar function `f` (gradient) or of a vector
# function (Jacobian, one column per coordinate).
finite_difference <- function(f, at, step = 1e-5) {
  columns <- lapply(seq_along(at), function(j) {
    up <- at
    down <- at
    up[j] <- up[j] + step
    down[j] <- down[j] - step
    (f(up) - f(down)) / (2 * step)
  })
  if (length(columns[[1]]) == 1L) unlist(columns) else do.call(cbind, columns)
}

# Soft k-means on proportions, dense, following DESIGN.md section 1 (the start);
# `changes` holds the largest centre movement of every iteration.
r_soft_kmeans <- function(x, k, seed, max_iter = 1000, tol = 1e-6) {
  x <- as.matrix(x)
  n <- nrow(x)
  y <- x / rowSums(x)
  seed <- if (seed == 0) 4357 else seed %% 2^32
  start <- r_uniform_int(r_mt19937(seed, 2L * n + 100L), k, n)
  z <- matrix(0, n, k)
  z[cbind(seq_len(n), start + 1L)] <- 1
  centres <- matrix(0, ncol(x), k)
  change <- Inf
  changes <- numeric()
  iteration <- 0L
  while (change > tol && iteration < max_iter) {
    weights <- colSums(z)
    updated <- crossprod(y, z) / rep(weights, each = ncol(x))
    change <- max(sqrt(colSums((updated - centres)^2)))
    changes <- c(changes, change)
    centres <- updated
    distance <- sqrt(vapply(seq_len(k), function(m) {
      colSums((t(y) - centres[, m])^2)
    }, numeric(n)))
    distance <- matrix(distance, n, k)
    kernel <- exp(-50 * distance)
    z <- kernel / rowSums(kernel)
    iteration <- iteration + 1L
  }
  list(posterior = z, centres = centres, weights = colSums(z), iterations = iteration,
       changes = changes)
}

# The M-step optimiser's lambda for table x, posteriors z and start lambda,
# checked against a dense BFGS over every taxon (optim() on dense_objective()):
# converged, the dense gradient vanishing, an objective no higher than BFGS's
# and the same lambda to 1e-4. Returns the optimiser's result.
expect_dense_minimum <- function(x, z, start) {
  ours <- fastdmm:::.optimise_component(fastdmm:::as_counts(x), z, start, FALSE, 0)
  expect_true(ours$converged)
  expect_lt(sqrt(sum(dense_gradient(x, z, ours$log_alpha)^2)), 1e-6)
  theirs <- stats::optim(start, function(l) dense_objective(x, z, l),
                         function(l) dense_gradient(x, z, l), method = "BFGS",
                         control = list(reltol = 1e-15, maxit = 10000))
  expect_identical(theirs$convergence, 0L)
  expect_lte(dense_objective(x, z, ours$log_alpha), theirs$value + 1e-10 * abs(theirs$value))
  expect_lt(max(abs(ours$log_alpha - theirs$par)), 1e-4)
  invisible(ours)
}
