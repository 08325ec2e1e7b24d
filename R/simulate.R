#' Simulate count tables from a Dirichlet-multinomial mixture
#'
#' Draws `n` samples: each picks a component with probabilities `pi`, draws
#' taxon proportions from that component's Dirichlet(alpha) distribution and
#' then `depth` counts from the multinomial with those proportions. The draws
#' come from R's random number generator (directly, or through a seed taken
#' from it), so [set.seed()] makes them reproducible.
#'
#' With `sparse = TRUE` a C++ sampler draws the table in parallel and returns
#' a `Matrix::dgCMatrix`, built from the non-zero counts alone (memory in
#' proportion to them, never samples x taxa), so tables of a million samples
#' take seconds. Each sample has its own random stream, keyed on a seed drawn
#' from R's generator and the sample's index, so the table is the same for any
#' number of `threads`. The sampler is exact: Gamma variates on the log scale
#' (so that the tiny alphas of real fits do not underflow), the multinomial by
#' conditional binomials, and the many taxa of small alpha split by a Polya
#' urn, which draws the same Dirichlet-multinomial as Gamma variates would.
#' The dense and the sparse form use different methods, so the same seed gives
#' different (equally distributed) tables.
#'
#' As alpha tends to zero a Dirichlet draw puts all its mass on one taxon
#' (taxon j with probability `alpha[j] / sum(alpha)`); alphas so small that
#' the proportions underflow (such as `1e-310`) get exactly that.
#'
#' @param n Number of samples, a whole number between 1 and `2^31 - 1`.
#' @param alpha Dirichlet parameters: a numeric vector (one component) or a
#'   taxa x components matrix of positive values, such as `fitted(fit)`.
#' @param pi Mixture weights, one per component (rescaled to sum to one);
#'   equal weights by default.
#' @param depth Sequencing depth: one whole number between 1 and `2^31 - 1`
#'   for all samples, or one per sample.
#' @param sparse `FALSE` (default) for an integer matrix; `TRUE` for a
#'   `Matrix::dgCMatrix` drawn by the parallel C++ sampler (needs the Matrix
#'   package).
#' @param threads Number of threads for `sparse = TRUE`. Default:
#'   `getOption("fastdmm.threads")`, else all cores
#'   ([RcppParallel::defaultNumThreads()]). The result does not depend on it.
#' @return The counts, samples x taxa: an integer matrix, or with `sparse =
#'   TRUE` a `dgCMatrix` (double values), with the component each sample was
#'   drawn from (an integer vector) in attribute `"component"`. Samples are
#'   named `sample1`, `sample2`, ...; taxa come from `rownames(alpha)` (or
#'   `names(alpha)`), else `taxon1`, `taxon2`, ...
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1), c(1, 1, 5, 20))
#' counts <- rdmm(10, alpha, pi = c(0.7, 0.3), depth = 1000)
#' counts
#' attr(counts, "component")
#'
#' # A sparse table: 5,000 samples x 500 taxa, mostly of tiny alphas.
#' set.seed(2)
#' alpha <- sapply(1:4, function(k) {
#'   a <- rgamma(500, 0.2) * 0.05
#'   a[sample(500, 30)] <- runif(30, 1, 5)
#'   a
#' })
#' big <- rdmm(5000, alpha, depth = 5000, sparse = TRUE, threads = 2)
#' dim(big)
#' Matrix::nnzero(big) / prod(dim(big))  # fraction of non-zero counts
#' table(attr(big, "component"))
rdmm <- function(n, alpha, pi = NULL, depth, sparse = FALSE, threads = NULL) {
  n <- check_whole_number(n, "n", min = 1, max = .Machine$integer.max)
  alpha <- check_mixture_alpha(alpha)
  pi <- check_mixture_weights(pi, ncol(alpha))
  if (missing(depth)) abort_input("depth", "is missing", "fastdmm_bad_argument")
  depth <- check_depths(depth, n)
  sparse <- check_flag(sparse, "sparse")
  # Checked against the integer range before resolve_threads() makes it an integer.
  if (!is.null(threads)) check_whole_number(threads, "threads", min = 1, max = .Machine$integer.max)
  threads <- resolve_threads(threads)
  if (sparse) require_package("Matrix", "sparse", "is TRUE")

  component <- sample.int(ncol(alpha), n, replace = TRUE, prob = pi)
  sample_names <- paste0("sample", seq_len(n))
  taxon_names <- rownames(alpha) %||% paste0("taxon", seq_len(nrow(alpha)))
  counts <- if (sparse) {
    draw_sparse_table(alpha, component, depth, threads, sample_names, taxon_names)
  } else {
    draw_dense_table(alpha, component, depth, sample_names, taxon_names)
  }
  attr(counts, "component") <- component
  counts
}

# rdmm()'s alpha as a taxa x components double matrix (names kept), refused unless
# every value is finite and positive and every column sum finite.
check_mixture_alpha <- function(alpha) {
  if (!is.numeric(alpha)) {
    abort_input("alpha", sprintf(
      "must be a numeric vector or taxa x components matrix of positive values, not %s",
      describe_class(alpha)), "fastdmm_bad_argument")
  }
  if (length(dim(alpha)) > 2L) {
    abort_input("alpha", sprintf(
      "must be a vector or a taxa x components matrix, not an array of %d dimensions",
      length(dim(alpha))), "fastdmm_bad_argument")
  }
  alpha <- if (length(dim(alpha)) == 2L) {
    matrix(as.double(alpha), nrow(alpha), ncol(alpha), dimnames = dimnames(alpha))
  } else {
    matrix(as.double(alpha), ncol = 1L, dimnames = list(names(alpha), NULL))
  }
  if (nrow(alpha) == 0L || ncol(alpha) == 0L) {
    abort_input("alpha", sprintf(
      "is empty (%d taxa x %d components): give at least one taxon and one component",
      nrow(alpha), ncol(alpha)), "fastdmm_bad_argument")
  }
  if (any(!is.finite(alpha)) || any(alpha <= 0)) {
    abort_input("alpha", "must hold finite positive values (no NA, zero, negative or infinite ones)",
                "fastdmm_bad_argument")
  }
  if (any(!is.finite(colSums(alpha)))) {
    abort_input("alpha", "has a component whose values sum beyond the largest double (1.8e308)",
                "fastdmm_bad_argument")
  }
  alpha
}

# Mixture weights for rdmm(): equal by default; otherwise k finite non-negative
# values, not all zero. sample.int() normalises them itself; weights whose sum
# overflows are first scaled by their largest.
check_mixture_weights <- function(pi, n_components) {
  if (is.null(pi)) return(rep(1 / n_components, n_components))
  if (!is.numeric(pi) || is.object(pi) || length(pi) != n_components || any(!is.finite(pi)) ||
      any(pi < 0) || all(pi == 0)) {
    abort_input("pi", sprintf("must hold %d non-negative finite weights, not all zero",
                              n_components), "fastdmm_bad_argument")
  }
  pi <- as.vector(pi)
  if (!is.finite(sum(pi))) pi <- pi / max(pi)
  pi
}

# rdmm()'s depths, one per sample, as integers.
check_depths <- function(depth, n) {
  if (!is.numeric(depth) || is.object(depth) || !(length(depth) %in% c(1L, n)) ||
      any(!is.finite(depth)) || any(depth < 1) || any(depth != round(depth)) ||
      any(depth > .Machine$integer.max)) {
    abort_input("depth", sprintf(
      "must be one whole number between 1 and %d, or %d of them (one per sample)",
      .Machine$integer.max, n), "fastdmm_bad_argument")
  }
  rep_len(as.integer(depth), n)
}

# One sample at a time in R. Gamma(a) = Gamma(a + 1) U^(1 / a), on the log scale so
# that small shapes do not underflow to an all-zero draw.
draw_dense_table <- function(alpha, component, depth, sample_names, taxon_names) {
  n <- length(component)
  n_taxa <- nrow(alpha)
  counts <- matrix(0L, n, n_taxa, dimnames = list(sample_names, taxon_names))
  for (i in seq_len(n)) {
    a <- alpha[, component[i]]
    log_gamma_draw <- log(stats::rgamma(n_taxa, a + 1))
    log_uniform <- log(stats::runif(n_taxa))
    log_gamma_draw <- log_gamma_draw + log_uniform / a
    largest <- max(log_gamma_draw)
    proportions <- if (largest == -Inf) {
      # Every logarithm overflowed (alphas like 1e-310): log G = log G(a + 1) -
      # exp(log(-log U) - log(a)) with the exponentials beyond 1e308, so the
      # proportions are one-hot in double precision, on the smallest
      # log(-log U) - log(a); the log G(a + 1) terms cannot reorder such values.
      as.numeric(seq_len(n_taxa) == which.min(log(-log_uniform) - log(a)))
    } else {
      exp(log_gamma_draw - largest)
    }
    counts[i, ] <- stats::rmultinom(1L, depth[i], proportions)[, 1L]
  }
  counts
}

# The C++ sampler (src/core/sample.cpp), seeded by 128 bits drawn from R's
# generator, building the dgCMatrix from its slots.
draw_sparse_table <- function(alpha, component, depth, threads, sample_names, taxon_names) {
  seed <- floor(stats::runif(4L) * 2^32)
  slots <- .rdmm_sparse(alpha, component, depth, seed, threads)
  if (is.null(slots$i)) {
    abort_input("n", sprintf(paste(
      "asks for a table of %.0f non-zero counts, more than a dgCMatrix holds",
      "(2^31 - 1); draw it in parts"), slots$nnz), "fastdmm_too_large")
  }
  methods::new(methods::getClass("dgCMatrix", where = asNamespace("Matrix")),
               i = slots$i, p = slots$p, x = slots$x, Dim = c(length(component), nrow(alpha)),
               Dimnames = list(sample_names, taxon_names))
}

#' Simulate count tables from a fitted mixture
#'
#' Draws new samples from the fitted Dirichlet-multinomial mixture: each picks
#' a component with the fitted weights, then taxon proportions from that
#' component's Dirichlet distribution, then `depth` counts from the multinomial
#' (as [rdmm()] with `fitted(object)` and the fitted weights).
#'
#' `stats::simulate()` methods usually return `nsim` replicates of the fitted
#' response. For a mixture, the useful unit is a sample: `nsim` is the number
#' of samples (rows) of the one table returned, so `simulate(fit, 500, depth =
#' 5000)` gives a 500-sample table to refit, compare or benchmark with. For
#' replicate tables, call it repeatedly. With `sparse = TRUE` the table is
#' drawn by [rdmm()]'s parallel C++ sampler and returned as a
#' `Matrix::dgCMatrix`, for simulating tables of many samples; the same seed
#' then gives other draws than the dense form (see [rdmm()]).
#'
#' @param object A fitted model, as returned by [dmn_fit()].
#' @param nsim Number of samples to draw, a whole number >= 1.
#' @param seed As in [stats::simulate()]: `NULL` (default) continues R's random
#'   number stream; otherwise the draws use `set.seed(seed)` and the caller's
#'   stream is restored afterwards. A seed must lie in the integer range.
#' @param depth Number of counts (sequencing depth) per sample: one whole
#'   number for all samples, or `nsim` of them (for example
#'   `sample(rowSums(counts), nsim, replace = TRUE)` to mimic the fitted
#'   table's depths).
#' @param sparse `FALSE` (default) for an integer matrix; `TRUE` for a
#'   `Matrix::dgCMatrix` (as in [rdmm()]).
#' @param threads Number of threads for `sparse = TRUE`, as in [rdmm()]; the
#'   table is the same for any number.
#' @param ... Not used; anything passed here is an error.
#' @return An integer matrix (or with `sparse = TRUE` a `dgCMatrix`), `nsim`
#'   samples x taxa (taxon names as in the fit), with attributes `"component"`
#'   (the component each sample was drawn from, an integer index or, once the
#'   fit's components have been named with [component_names<-], a factor of
#'   their names) and `"seed"` (as in [stats::simulate()]: the seed given, or
#'   the random number state before the draws).
#' @export
#' @examples
#' set.seed(1)
#' counts <- rdmm(40, cbind(c(20, 5, 1, 1), c(1, 1, 5, 20)), pi = c(0.6, 0.4),
#'                depth = 500)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' draws <- simulate(fit, nsim = 200, seed = 2, depth = 1000)
#' dim(draws)
#' table(attr(draws, "component")) / 200
#' mixturewt(fit)
#' @importFrom stats simulate
simulate.dmn_fit <- function(object, nsim = 1, seed = NULL, depth, sparse = FALSE,
                             threads = NULL, ...) {
  check_dots_empty(list(...), "simulate()")
  nsim <- check_whole_number(nsim, "nsim", min = 1)
  if (missing(depth)) {
    abort_input("depth", "is missing: give the number of counts per simulated sample",
                "fastdmm_bad_argument")
  }
  # The random number handling of stats:::simulate.lm.
  if (!exists(".Random.seed", envir = globalenv(), inherits = FALSE)) stats::runif(1)
  if (is.null(seed)) {
    rng_state <- get(".Random.seed", envir = globalenv())
  } else {
    if (!is.numeric(seed) || is.object(seed) || length(seed) != 1L || !is.finite(seed) ||
        abs(seed) > .Machine$integer.max) {
      abort_input("seed", sprintf(
        "must be NULL or a single finite number between -%d and %d (set.seed() takes an integer)",
        .Machine$integer.max, .Machine$integer.max), "fastdmm_bad_argument")
    }
    old_seed <- get(".Random.seed", envir = globalenv())
    on.exit(assign(".Random.seed", old_seed, envir = globalenv()), add = TRUE)
    set.seed(seed)
    rng_state <- structure(seed, kind = as.list(RNGkind()))
  }
  draws <- rdmm(nsim, fitted(object), pi = as.vector(object$mixture$Weight), depth = depth,
                sparse = sparse, threads = threads)
  attr(draws, "component") <- as_component_labels(attr(draws, "component"), object)
  attr(draws, "seed") <- rng_state
  draws
}
