# The simulated tables of fastdmm's benchmarks, shared by bench.R, search.R and
# threads.R (run them from the package root).

# A realistic microbiome table: heavy-tailed (log-normal) taxon abundances
# shared by all community types, each type perturbing them and boosting its own
# 5% of dominant taxa 50-fold; unequal type weights; log-normal depths around
# 5,000 reads.
simulate_table <- function(scenario) {
  set.seed(scenario$seed)
  n_taxa <- scenario$taxa
  n_types <- scenario$k
  base <- stats::rlnorm(n_taxa, 0, scenario$sdlog)
  alpha <- vapply(seq_len(n_types), function(type) {
    a <- base * stats::rlnorm(n_taxa, 0, 1)
    dominant <- sample.int(n_taxa, max(1L, round(0.05 * n_taxa)))
    a[dominant] <- a[dominant] * 50
    a / sum(a) * scenario$precision * exp(stats::runif(1, -0.5, 0.5))
  }, numeric(n_taxa))
  weights <- stats::rgamma(n_types, 3)
  # Floor of 200 reads: real pipelines drop shallower samples.
  depth <- pmax(200, round(stats::rlnorm(scenario$n, log(5000), 0.5)))
  counts <- fastdmm::rdmm(scenario$n, alpha, weights, depth)
  attr(counts, "component") <- NULL
  counts
}

# The frozen-EM generator of the issue "the best optimum, converged": K types,
# each boosting `boosted` of S taxa; returns the table and the true types.
frozen_table <- function(N, S, K, boosted = 40, depth = 5000, seed = 11) {
  set.seed(seed)
  alpha <- sapply(1:K, function(k) {
    a <- rgamma(S, 0.2, 1) * 0.05
    a[sample(S, boosted)] <- runif(boosted, 1, 5)
    a
  })
  truth <- sample(K, N, TRUE)
  x <- t(vapply(seq_len(N), function(i) {
    p <- rgamma(S, alpha[, truth[i]])
    rmultinom(1, depth, p / sum(p))
  }, numeric(S)))
  list(x = x, truth = truth)
}
