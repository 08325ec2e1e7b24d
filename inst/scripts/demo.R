# fastdmm demo: fit Dirichlet-multinomial mixtures to an example count table,
# choose the number of components by the Laplace criterion, summarise the best.
library(fastdmm)

twins_file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
if (nzchar(twins_file)) {
  counts <- t(as.matrix(utils::read.csv(twins_file, row.names = 1)))
  cat("Example: the Twins gut microbiome table (from DirichletMultinomial)\n")
} else {
  set.seed(2012)
  n_taxa <- 60
  alpha <- sapply(1:3, function(k) stats::rlnorm(n_taxa, meanlog = -1, sdlog = 1.5))
  rownames(alpha) <- sprintf("taxon%02d", seq_len(n_taxa))
  counts <- rdmm(250, alpha, pi = c(0.5, 0.3, 0.2), depth = 3000)
  cat("Example: a table simulated by rdmm() with 3 community types",
      "(install DirichletMultinomial for the Twins table)\n")
}
cat(sprintf("%d samples x %d taxa, %.0f%% zeros\n\n", nrow(counts), ncol(counts),
            100 * mean(counts == 0)))

elapsed <- system.time(
  fits <- lapply(1:5, function(k) dmn_fit(counts, k = k, seed = 1))
)[["elapsed"]]
criteria <- t(vapply(fits, goodnessOfFit, numeric(5)))
rownames(criteria) <- paste0("k=", 1:5)
print(round(criteria, 2))
best <- fits[[which.min(criteria[, "Laplace"])]]
cat(sprintf("\nFitted k = 1..5 in %.2f s; best by Laplace: k = %d\n\n", elapsed, best$k))
print(summary(best))
