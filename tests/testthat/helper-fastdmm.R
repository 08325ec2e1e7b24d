# Shared helpers: brute-force dense R versions of the model's quantities (design.md
# section 1), written without reference to the C++ so that tests compare two
# independent computations, plus small data generators and custom expectations.

prior_shape <- 0.1 # eta
prior_rate <- 0.1  # nu

# ---- expectations -----------------------------------------------------------

# Largest relative difference between `x` and `y`, with `floor` guarding the
# denominator near zero. NaN positions must agree and are ignored.
relative_difference <- function(x, y, floor = 1e-300) {
  x <- as.numeric(x)
  y <- as.numeric(y)
  stopifnot(length(x) == length(y))
  both <- !is.nan(x) & !is.nan(y)
  if (!any(both)) return(0)
  max(abs(x[both] - y[both]) / pmax(abs(y[both]), floor))
}

expect_relative <- function(object, expected, tolerance, floor = 1e-300, label = NULL) {
  label <- label %||% deparse1(substitute(object))
  nan_agree <- identical(is.nan(as.numeric(object)), is.nan(as.numeric(expected)))
  difference <- relative_difference(object, expected, floor)
  expect(
    length(object) == length(expected) && nan_agree && difference <= tolerance,
    sprintf("%s differs from the expected values: relative difference %.3g > %.3g%s",
            label, difference, tolerance, if (nan_agree) "" else " (NaN positions differ)")
  )
  invisible(object)
}

# The objective never gets worse across iterations: every step may rise by at
# most `rel_tol` of the previous value (rounding in the sums).
expect_nonincreasing <- function(x, rel_tol = 1e-8) {
  rises <- diff(x) - rel_tol * abs(utils::head(x, -1L))
  worst <- if (length(rises) > 0L) which.max(rises) else NA_integer_
  expect(
    length(rises) == 0L || (all(is.finite(x)) && all(rises <= 0)),
    sprintf("sequence increases at step %d: %.17g -> %.17g", worst, x[worst], x[worst + 1L])
  )
  invisible(x)
}

`%||%` <- function(x, y) if (is.null(x)) y else x

# A function returning one fit of a simulated table, computed on first use and
# kept for the rest of the file.
cached_fit <- function(n, n_taxa, k, depth, seed) {
  fit <- NULL
  function() {
    if (is.null(fit)) {
      x <- simulate_counts(n = n, n_taxa = n_taxa, k = k, depth = depth, seed = seed)
      fit <<- dmn_fit(x, k, seed = 1, threads = 1)
    }
    fit
  }
}

# Evaluates a fit that may stop at max_iter before meeting tol (tests of
# determinism do not need convergence), muffling only that warning.
allow_unconverged <- function(expr) {
  withCallingHandlers(expr, fastdmm_not_converged = function(w) invokeRestart("muffleWarning"))
}

# Opens a file graphics device for the rest of the calling test, then closes it
# and deletes the file.
local_file_device <- function(ext = ".png", envir = parent.frame()) {
  file <- tempfile(fileext = ext)
  if (identical(ext, ".pdf")) grDevices::pdf(file) else grDevices::png(file)
  withr::defer({
    grDevices::dev.off()
    unlink(file)
  }, envir = envir)
  invisible(file)
}

# Every refusal is a fastdmm_input_error of the given subclass whose message
# starts with the argument's name in quotes.
expect_input_error <- function(code, class, arg, regexp = NULL) {
  error <- expect_error(code, class = class)
  expect_s3_class(error, "fastdmm_input_error")
  expect_match(conditionMessage(error), sprintf("^'%s' ", arg))
  if (!is.null(regexp)) expect_match(conditionMessage(error), regexp)
  invisible(error)
}

# Captures the messages of `code` as a character vector (without trailing
# newlines) and returns list(value, messages).
capture_messages <- function(code) {
  messages <- character()
  value <- withCallingHandlers(code, message = function(m) {
    messages <<- c(messages, sub("\n$", "", conditionMessage(m)))
    invokeRestart("muffleMessage")
  })
  list(value = value, messages = messages)
}

# A fit without the call (which records how it was made, not what was fitted).
without_call <- function(fit) {
  fit$call <- NULL
  fit
}

# ---- random numbers -----------------------------------------------------------

# Evaluates `code` with R's Mersenne-Twister seeded by `seed`, restoring the
# caller's random state afterwards.
with_seed <- function(seed, code) {
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  if (had_seed) old_seed <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit(if (had_seed) {
    assign(".Random.seed", old_seed, envir = globalenv())
  } else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
    rm(".Random.seed", envir = globalenv())
  })
  set.seed(seed, kind = "Mersenne-Twister", normal.kind = "Inversion",
           sample.kind = "Rejection")
  code
}

# 32-bit unsigned arithmetic on doubles, via 16-bit halves.
xor_u32 <- function(a, b) {
  high <- bitwXor(as.integer(a %/% 65536), as.integer(b %/% 65536))
  low <- bitwXor(as.integer(a %% 65536), as.integer(b %% 65536))
  high * 65536 + low
}
multiply_u32 <- function(a, b) {
  a_high <- a %/% 65536
  a_low <- a %% 65536
  b_high <- b %/% 65536
  b_low <- b %% 65536
  ((a_low * b_low) + ((a_high * b_low + a_low * b_high) %% 65536) * 65536) %% 2^32
}

# The first `n` outputs of MT19937 seeded by init_genrand(seed) (the C++
# standard's seeding, which gsl_rng_set uses too), generated by R's own
# Mersenne-Twister from a state built here in R: independent of fastdmm's C++.
r_mt19937 <- function(seed, n) {
  state <- numeric(624)
  state[1] <- seed %% 2^32
  for (m in 2:624) {
    previous <- state[m - 1]
    state[m] <- (multiply_u32(1812433253, xor_u32(previous, previous %/% 2^30)) + (m - 1)) %% 2^32
  }
  signed <- as.integer(ifelse(state >= 2^31, state - 2^32, state))
  with_seed(1, {
    # R's MT state: the kind code, the position (624 = regenerate on next use), mt[].
    assign(".Random.seed", c(.Random.seed[1], 624L, signed), envir = globalenv())
    u <- stats::runif(n)
  })
  # runif() returns y * 2^-32 exactly, except y = 0 which R nudges off zero.
  ifelse(u < 2^-32, 0, round(u * 2^32))
}

# GSL's gsl_rng_uniform_int(n_values) applied to a raw 32-bit stream `u32`:
# scale = floor((2^32 - 1) / n_values); k = floor(u / scale), redrawn while
# k >= n_values. Returns `n` draws.
r_uniform_int <- function(u32, n_values, n) {
  scale <- floor((2^32 - 1) / n_values)
  out <- integer(n)
  position <- 0L
  for (m in seq_len(n)) {
    repeat {
      position <- position + 1L
      if (position > length(u32)) stop("raw stream too short")
      k <- floor(u32[position] / scale)
      if (k < n_values) break
    }
    out[m] <- as.integer(k)
  }
  out
}

# ---- the model, dense and brute force (design.md section 1) -------------------

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

# f_k(lambda) of the M-step, summed over every cell (zeros included).
dense_objective <- function(x, z, lambda) {
  x <- as.matrix(x)
  a <- exp(lambda)
  total <- sum(a)
  depth <- rowSums(x)
  cells <- lgamma(x + rep(a, each = nrow(x))) - rep(lgamma(a), each = nrow(x))
  sum(z * (lgamma(total + depth) - lgamma(total))) - sum(z * cells) +
    prior_rate * sum(a) - prior_shape * sum(lambda)
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
  x <- as.matrix(x)
  a <- exp(lambda)
  total <- sum(a)
  depth <- rowSums(x)
  cells <- digamma(x + rep(a, each = nrow(x))) - rep(digamma(a), each = nrow(x))
  G <- sum(z * (digamma(total + depth) - digamma(total))) - colSums(z * cells) + prior_rate
  a * G - prior_shape
}

# The exact Hessian of f_k in lambda, as a dense S x S matrix.
dense_hessian <- function(x, z, lambda) {
  x <- as.matrix(x)
  a <- exp(lambda)
  total <- sum(a)
  depth <- rowSums(x)
  T1 <- sum(z * (trigamma(total + depth) - trigamma(total)))
  cells1 <- trigamma(x + rep(a, each = nrow(x))) - rep(trigamma(a), each = nrow(x))
  H <- T1 * outer(a, a)
  diag(H) <- diag(H) + (dense_gradient(x, z, lambda) + prior_shape) -
    a^2 * colSums(z * cells1)
  H
}

# DirichletMultinomial's Hessian (design.md section 1, step 3): the per-taxon sums
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

# Soft k-means on proportions, dense, following design.md section 1 step 1;
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

# ---- data ---------------------------------------------------------------------

# Samples from a mixture of Dirichlet-multinomials with well-separated
# components: `n` samples per component over `n_taxa` taxa.
simulate_counts <- function(n = 20, n_taxa = 8, k = 2, depth = 200, seed = 1,
                            precision = 30) {
  with_seed(seed, {
    blocks <- lapply(seq_len(k), function(m) {
      centre <- stats::rgamma(n_taxa, shape = 0.5)
      centre <- centre / sum(centre)
      t(vapply(seq_len(n), function(i) {
        p <- stats::rgamma(n_taxa, shape = precision * centre + 1e-3)
        p <- p / sum(p)
        as.numeric(stats::rmultinom(1, depth, p))
      }, numeric(n_taxa)))
    })
    counts <- do.call(rbind, blocks)
    # No sample may be empty: give any empty one a single count.
    counts[rowSums(counts) == 0, 1] <- 1
    dimnames(counts) <- list(sprintf("s%02d", seq_len(nrow(counts))),
                             sprintf("taxon%d", seq_len(n_taxa)))
    counts
  })
}

# The Twins table shipped with DirichletMultinomial (278 samples x 130 taxa).
twins_counts <- function() {
  file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
  t(as.matrix(utils::read.csv(file, row.names = 1)))
}

twins_reference_file <- function() test_path("fixtures", "twins-reference.rds")

# ---- SplitMix64, for the restart seeds --------------------------------------------

# Unsigned 64-bit integers as four 16-bit limbs (least significant first), and
# as 64 bits for shifts and xor.
u64_from_hex <- function(hex) {
  digits <- strtoi(strsplit(sprintf("%016s", hex), "")[[1]], 16L)
  digits[is.na(digits)] <- 0
  rev(vapply(0:3, function(m) sum(digits[4 * m + 1:4] * 16^(3:0)), numeric(1)))
}
u64_bits <- function(limbs) unlist(lapply(limbs, function(l) as.logical(intToBits(l))[1:16]))
u64_from_bits <- function(bits) {
  vapply(0:3, function(m) sum(bits[16 * m + 1:16] * 2^(0:15)), numeric(1))
}
u64_carry <- function(r) {
  for (m in 1:3) {
    r[m + 1] <- r[m + 1] + r[m] %/% 65536
    r[m] <- r[m] %% 65536
  }
  r[4] <- r[4] %% 65536
  r
}
u64_add <- function(a, b) u64_carry(a + b)
u64_multiply <- function(a, b) {
  r <- numeric(4)
  for (i in 1:4) for (j in 1:(5 - i)) r[i + j - 1] <- r[i + j - 1] + a[i] * b[j]
  # Each limb sum is below 2^35: exact in doubles; carry one limb at a time.
  u64_carry(r)
}
u64_xor_shift <- function(a, shift) {
  bits <- u64_bits(a)
  u64_from_bits(xor(bits, c(bits[(shift + 1):64], rep(FALSE, shift))))
}

# Seeds for restarts: the user's seed, then SplitMix64 outputs from the state
# uint32(seed), each masked to 31 bits (a non-negative R integer).
r_derived_seeds <- function(seed, n) {
  state <- c(seed %% 2^32 %% 65536, seed %% 2^32 %/% 65536, 0, 0)
  out <- integer(n)
  out[1] <- as.integer(seed)
  for (s in seq_len(n - 1L)) {
    state <- u64_add(state, u64_from_hex("9e3779b97f4a7c15"))
    z <- u64_multiply(u64_xor_shift(state, 30), u64_from_hex("bf58476d1ce4e5b9"))
    z <- u64_multiply(u64_xor_shift(z, 27), u64_from_hex("94d049bb133111eb"))
    z <- u64_xor_shift(z, 31)
    out[s + 1L] <- as.integer(z[1] + (z[2] %% 32768) * 65536)
  }
  out
}
