# Must-show for FastDmmParam (not a test): bluster::clusterRows() on the Twins
# table held in a SummarizedExperiment, as mia's addCluster(by = "samples",
# full = TRUE) calls it; checks the result against bluster's DmmParam contract
# and times it against bluster's own DmmParam (DirichletMultinomial::dmn()),
# which takes a minute or two.
#
# Run from the package root, with fastdmm, bluster, DirichletMultinomial and
# SummarizedExperiment installed:
#   Rscript inst/bench/bluster.R
# FASTDMM_BENCH_THREADS sets fastdmm's threads (default 1, to compare one core
# with one core). bluster releases before DmmParam existed (< 1.10) lack it; the
# reference is then timed as DmmParam computes it: dmn() for every k with the
# same seed, the best k by the least laplace(), clusters from its mixture().

for (package in c("fastdmm", "bluster", "DirichletMultinomial", "SummarizedExperiment")) {
  if (!requireNamespace(package, quietly = TRUE)) {
    stop(sprintf("inst/bench/bluster.R needs the %s package", package), call. = FALSE)
  }
}
library(fastdmm)
check <- function(ok, what) {
  cat(sprintf("  [%s] %s\n", if (isTRUE(ok)) "ok" else "FAILED", what))
  if (!isTRUE(ok)) stop("contract check failed: ", what, call. = FALSE)
}
threads <- as.integer(Sys.getenv("FASTDMM_BENCH_THREADS", "1"))
k <- 1:4
seed <- 1

file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
se <- SummarizedExperiment::SummarizedExperiment(
  assays = list(counts = as.matrix(utils::read.csv(file, row.names = 1)))
)
x <- t(SummarizedExperiment::assay(se, "counts"))
cat(sprintf("Twins as a SummarizedExperiment: %d taxa x %d samples; k = %s, seed = %d\n",
            nrow(se), ncol(se), paste(range(k), collapse = ".."), seed))
cat(sprintf("R %s, fastdmm %s, bluster %s, DirichletMultinomial %s, %d fastdmm thread(s)\n\n",
            getRversion(), packageVersion("fastdmm"), packageVersion("bluster"),
            packageVersion("DirichletMultinomial"), threads))

# ---- fastdmm ----------------------------------------------------------------

param <- FastDmmParam(k = k, seed = seed, threads = threads)
print(param)
fast_time <- system.time(
  result <- bluster::clusterRows(x, param, full = TRUE)
)[["elapsed"]]
objects <- result$objects
cat(sprintf("\nclusterRows(t(assay(se, \"counts\")), FastDmmParam(k = 1:4, seed = 1), full = TRUE): %.2f s\n",
            fast_time))
laplace <- vapply(objects$dmm, DirichletMultinomial::laplace, numeric(1))
print(data.frame(k = k, Laplace = laplace,
                 AIC = vapply(objects$dmm, DirichletMultinomial::AIC, numeric(1)),
                 BIC = vapply(objects$dmm, DirichletMultinomial::BIC, numeric(1))),
      row.names = FALSE)
cat(sprintf("best k = %d; cluster sizes: %s\n", objects$best,
            paste(sprintf("%s: %d", names(table(result$clusters)), table(result$clusters)),
                  collapse = ", ")))

cat("\nContract:\n")
check(is.factor(result$clusters) && identical(names(result$clusters), colnames(se)),
      "clusters is a factor named by sample")
check(all(vapply(objects$dmm, methods::is, logical(1), "DMN")) && length(objects$dmm) == length(k),
      "objects$dmm holds one DirichletMultinomial DMN per k")
check(identical(objects$best, k[which.min(laplace)]),
      "objects$best is the k of least DirichletMultinomial::laplace() over objects$dmm")
fit <- dmn_fit(x, objects$best, seed = seed, threads = threads)
check(identical(objects$prob, mixture(fit)), "objects$prob is dmn_fit(x, best, seed = 1)'s posterior")
check(identical(unname(as.character(result$clusters)),
                unname(as.character(mixture(fit, assign = TRUE)))),
      "clusters are mixture(dmn_fit(x, best, seed = 1), assign = TRUE)")
check(identical(objects$seed, as.integer(seed)), "objects$seed is the seed")

# ---- bluster's DmmParam -------------------------------------------------------

has_dmm_param <- exists("DmmParam", envir = asNamespace("bluster"), inherits = FALSE)
cat(sprintf("\nReference: %s (a minute or two)\n", if (has_dmm_param) {
  "bluster::clusterRows(x, bluster::DmmParam(k = 1:4, seed = 1L), full = TRUE)"
} else {
  sprintf("bluster %s has no DmmParam; its steps: dmn() per k, least laplace(), mixture()",
          packageVersion("bluster"))
}))
reference_time <- system.time({
  if (has_dmm_param) {
    dmm_param <- get("DmmParam", envir = asNamespace("bluster"))
    reference <- bluster::clusterRows(x, dmm_param(k = k, seed = as.integer(seed)), full = TRUE)
  } else {
    dmm <- lapply(k, DirichletMultinomial::dmn, count = x, seed = seed)
    best <- which.min(vapply(dmm, DirichletMultinomial::laplace, numeric(1)))
    prob <- DirichletMultinomial::mixture(dmm[[best]])
    colnames(prob) <- seq_len(ncol(prob))
    clusters <- factor(colnames(prob)[max.col(prob, ties.method = "first")])
    names(clusters) <- rownames(x)
    reference <- list(clusters = clusters,
                      objects = list(dmm = dmm, best = k[[best]], prob = prob, seed = seed))
  }
})[["elapsed"]]
reference_laplace <- vapply(reference$objects$dmm, DirichletMultinomial::laplace, numeric(1))
reference_nle <- vapply(reference$objects$dmm, function(d) DirichletMultinomial::goodnessOfFit(d)[["NLE"]],
                        numeric(1))
fast_nle <- vapply(objects$dmm, function(d) DirichletMultinomial::goodnessOfFit(d)[["NLE"]],
                   numeric(1))

cat("\nSide by side:\n")
print(data.frame(k = k, NLE_fastdmm = fast_nle, NLE_reference = reference_nle,
                 NLE_rel_diff = signif((fast_nle - reference_nle) / abs(reference_nle), 3),
                 Laplace_fastdmm = laplace, Laplace_reference = reference_laplace),
      row.names = FALSE)
same_best <- identical(objects$best, reference$objects$best)
cat(sprintf("best k: fastdmm %d, reference %d\n", objects$best, reference$objects$best))
if (same_best) {
  agree <- mean(as.character(result$clusters) == as.character(reference$clusters))
  cat(sprintf("clusters agreeing with the reference's: %.1f%%\n", 100 * agree))
}
cat(sprintf("\nelapsed: FastDmmParam %.2f s, DmmParam %.2f s, ratio %.0fx\n",
            fast_time, reference_time, reference_time / fast_time))
