# The simulated tables of fastdmm's benchmarks, shared by bench.R, search.R,
# threads.R, scale.R, memory.R and hdf5.R.

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

# The entries of a DMM-like table with a fixed number of non-zeros per sample
# (memory.R, hdf5.R): 10 community types, each sample drawing `nnz_per_sample`
# distinct taxa (weighted sampling without replacement by exponential keys) with
# counts 1 + Poisson around its type's abundance of each. Returns the taxa and
# counts of sample 1, then sample 2, ... (`nnz_per_sample` each).
dmm_like_entries <- function(n, n_taxa, nnz_per_sample) {
  set.seed(1)
  n_types <- 10L
  weights <- matrix(stats::rgamma(n_taxa * n_types, shape = 0.3), n_taxa, n_types)
  type <- sample.int(n_types, n, replace = TRUE)
  taxa <- integer(n * nnz_per_sample)
  values <- numeric(n * nnz_per_sample)
  for (i in seq_len(n)) {
    w <- weights[, type[i]]
    keys <- log(stats::runif(n_taxa)) / w
    chosen <- order(keys, decreasing = TRUE)[seq_len(nnz_per_sample)]
    slots <- (i - 1L) * nnz_per_sample + seq_len(nnz_per_sample)
    taxa[slots] <- chosen
    values[slots] <- 1 + stats::rpois(nnz_per_sample, 40 * w[chosen] / mean(w[chosen]))
  }
  list(taxa = taxa, values = values)
}
