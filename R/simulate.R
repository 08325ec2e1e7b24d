#' Simulate count tables from a Dirichlet-multinomial mixture
#'
#' Draws `n` samples: each picks a component with probabilities `pi`, draws
#' taxon proportions from that component's Dirichlet(alpha) distribution and
#' then `depth` counts from the multinomial with those proportions. Uses R's
#' random number generator, so [set.seed()] makes draws reproducible.
#'
#' @param n Number of samples, a whole number >= 1.
#' @param alpha Dirichlet parameters: a numeric vector (one component) or a
#'   taxa x components matrix of positive values, such as `fitted(fit)`.
#' @param pi Mixture weights, one per component (rescaled to sum to one);
#'   equal weights by default.
#' @param depth Sequencing depth: one whole number >= 1 for all samples, or one
#'   per sample.
#' @return An integer matrix of counts, samples x taxa, with the component each
#'   sample was drawn from in attribute `"component"`. Taxon names come from
#'   `rownames(alpha)` (or `names(alpha)`), else `taxon1`, `taxon2`, ...
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1), c(1, 1, 5, 20))
#' counts <- rdmm(10, alpha, pi = c(0.7, 0.3), depth = 1000)
#' counts
#' attr(counts, "component")
rdmm <- function(n, alpha, pi = NULL, depth) {
  n <- check_whole_number(n, "n", min = 1)
  if (is.null(dim(alpha))) {
    alpha <- matrix(alpha, ncol = 1L, dimnames = list(names(alpha), NULL))
  }
  if (!is.numeric(alpha) || length(dim(alpha)) != 2L || any(!is.finite(alpha)) ||
      any(alpha <= 0)) {
    abort_input("alpha", "must be a numeric vector or taxa x components matrix of finite positive values",
                "fastdmm_bad_argument")
  }
  n_components <- ncol(alpha)
  if (is.null(pi)) pi <- rep(1 / n_components, n_components)
  if (!is.numeric(pi) || length(pi) != n_components || any(!is.finite(pi)) ||
      any(pi < 0) || sum(pi) <= 0) {
    abort_input("pi", sprintf("must hold %d non-negative finite weights, not all zero",
                              n_components), "fastdmm_bad_argument")
  }
  if (missing(depth)) abort_input("depth", "is missing", "fastdmm_bad_argument")
  if (!is.numeric(depth) || !(length(depth) %in% c(1L, n)) || any(!is.finite(depth)) ||
      any(depth < 1) || any(depth != round(depth)) || any(depth > .Machine$integer.max)) {
    abort_input("depth", sprintf("must be one whole number >= 1 or %d of them", n),
                "fastdmm_bad_argument")
  }
  depth <- rep_len(depth, n)
  component <- sample.int(n_components, n, replace = TRUE, prob = pi)
  n_taxa <- nrow(alpha)
  counts <- matrix(0L, n, n_taxa, dimnames = list(
    paste0("sample", seq_len(n)),
    rownames(alpha) %||% paste0("taxon", seq_len(n_taxa))
  ))
  for (i in seq_len(n)) {
    a <- alpha[, component[i]]
    # Gamma(a) = Gamma(a + 1) U^(1 / a), on the log scale so that small shapes do
    # not underflow to an all-zero draw.
    log_gamma_draw <- log(stats::rgamma(n_taxa, a + 1)) + log(stats::runif(n_taxa)) / a
    proportions <- exp(log_gamma_draw - max(log_gamma_draw))
    counts[i, ] <- stats::rmultinom(1L, depth[i], proportions)[, 1L]
  }
  attr(counts, "component") <- component
  counts
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
#' replicate tables, call it repeatedly.
#'
#' @param object A fitted model, as returned by [dmn_fit()].
#' @param nsim Number of samples to draw, a whole number >= 1.
#' @param seed As in [stats::simulate()]: `NULL` (default) continues R's random
#'   number stream; otherwise the draws use `set.seed(seed)` and the caller's
#'   stream is restored afterwards.
#' @param depth Number of counts (sequencing depth) per sample: one whole
#'   number for all samples, or `nsim` of them (for example
#'   `sample(rowSums(counts), nsim, replace = TRUE)` to mimic the fitted
#'   table's depths).
#' @param ... Unused.
#' @return An integer matrix, `nsim` samples x taxa (taxon names as in the
#'   fit), with attributes `"component"` (the component each sample was drawn
#'   from, an integer index or, once the fit's components have been named with
#'   [component_names<-], a factor of their names) and `"seed"` (as in
#'   [stats::simulate()]: the seed given, or the random number state before
#'   the draws).
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
simulate.dmn_fit <- function(object, nsim = 1, seed = NULL, depth, ...) {
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
    if (!is.numeric(seed) || length(seed) != 1L || !is.finite(seed)) {
      abort_input("seed", "must be NULL or a single finite number", "fastdmm_bad_argument")
    }
    old_seed <- get(".Random.seed", envir = globalenv())
    on.exit(assign(".Random.seed", old_seed, envir = globalenv()), add = TRUE)
    set.seed(seed)
    rng_state <- structure(seed, kind = as.list(RNGkind()))
  }
  draws <- rdmm(nsim, fitted(object), pi = as.vector(object$mixture$Weight), depth = depth)
  attr(draws, "component") <- as_component_labels(attr(draws, "component"), object)
  attr(draws, "seed") <- rng_state
  draws
}
