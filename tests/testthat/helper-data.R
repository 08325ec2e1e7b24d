# Test tables: simulated well-separated mixtures, the Twins table shipped with
# DirichletMultinomial and its stored reference fit, and a fit cached per file.

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

# A function returning one fit of a simulated table, computed on first use and
# kept for the rest of the file.
cached_fit <- function(n, n_taxa, k, depth, seed) {
  fit <- NULL
  function() {
    if (is.null(fit)) {
      x <- simulate_counts(n = n, n_taxa = n_taxa, k = k, depth = depth, seed = seed)
      fit <<- dmn_fit(x, k, seed = 1, threads = 1, nstart = 1)
    }
    fit
  }
}
