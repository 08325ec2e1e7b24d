# FastDmmParam: fastdmm as a bluster clustering parameter, with the result
# contract of bluster's DmmParam, checked on the Twins table held in a
# SummarizedExperiment the way mia's addCluster() uses it. mia and miaViz are
# not packaged here: add_cluster_like_mia() below replicates what addCluster()
# does with clusterRows()'s result, and the checks after it call the
# DirichletMultinomial accessors that miaViz's DMN plots call.

skip_if_no_bluster <- function() {
  skip_if_not_installed("bluster")
  skip_if_not_installed("DirichletMultinomial")
  skip_if_not_installed("SummarizedExperiment")
}

# The Twins table as a SummarizedExperiment: taxa in rows, samples in columns.
twins_se <- function() {
  SummarizedExperiment::SummarizedExperiment(assays = list(counts = t(twins_counts())))
}

# What mia's addCluster(x, BLUSPARAM, by = "samples", full = TRUE, name =,
# clust.col =) does: cluster the columns (samples) of an assay by calling
# bluster::clusterRows() on its transpose, keep the clusters in colData and,
# with full = TRUE, the objects in metadata under `name`.
add_cluster_like_mia <- function(x, BLUSPARAM, assay.type = "counts", full = FALSE,
                                 name = "clusters", clust.col = "clusters") {
  mat <- t(SummarizedExperiment::assay(x, assay.type))
  result <- bluster::clusterRows(mat, BLUSPARAM, full)
  if (full) {
    clusters <- result$clusters
    S4Vectors::metadata(x)[[name]] <- result$objects
  } else {
    clusters <- result
  }
  SummarizedExperiment::colData(x)[[clust.col]] <- clusters
  x
}

# One clustering of Twins with k = 1:4 and seed 1, shared by the tests below.
twins_clustering <- local({
  result <- NULL
  function() {
    if (is.null(result)) {
      se <- twins_se()
      result <<- bluster::clusterRows(t(SummarizedExperiment::assay(se, "counts")),
                                      FastDmmParam(k = 1:4, seed = 1, threads = 1, nstart = 1),
                                      full = TRUE)
    }
    result
  }
})

# Replaces `name` in fastdmm's namespace with `value` until the calling test ends.
local_namespace_binding <- function(name, value, envir = parent.frame()) {
  ns <- asNamespace("fastdmm")
  old <- get(name, envir = ns)
  unlockBinding(name, ns)
  assign(name, value, envir = ns)
  withr::defer({
    assign(name, old, envir = ns)
    lockBinding(name, ns)
  }, envir = envir)
}

test_that("FastDmmParam() is a BlusterParam holding its settings", {
  skip_if_not_installed("bluster")
  param <- FastDmmParam()
  expect_s4_class(param, "BlusterParam")
  expect_s4_class(param, "FastDmmParam")
  expect_identical(param[["k"]], 1:3)
  expect_identical(param[["type"]], "laplace")
  expect_null(param[["seed"]])
  # NULL: the replicated search, as dmn_fit()'s default.
  expect_null(param[["nstart"]])
  expect_null(param[["max_iter"]])

  param <- FastDmmParam(k = c(2, 5), type = "bic", seed = 7, nstart = 2, max_iter = 50,
                        hessian = "reference", threads = 1)
  expect_identical(param[["k"]], c(2L, 5L))
  expect_identical(param[["type"]], "BIC")
  expect_identical(param[["seed"]], 7L)
  expect_identical(param[["nstart"]], 2L)
  expect_identical(param[["max_iter"]], 50L)
  expect_identical(param[["hessian"]], "reference")
  expect_identical(param[["threads"]], 1L)
  expect_true(methods::validObject(param))
})

test_that("show() prints the class and every setting", {
  skip_if_not_installed("bluster")
  expect_output(show(FastDmmParam()), paste0(
    "^class: FastDmmParam\nk: 1, 2, 3\ntype: laplace\n",
    "seed: NULL \\(a new random seed for every clusterRows\\(\\) call\\)\n",
    "BPPARAM: NULL \\(the k's run one after the other, each on fastdmm's threads\\)\n",
    "nstart: NULL \\(the replicated search: starts until the best optimum is reached by several\\)$"
  ))
  expect_output(show(FastDmmParam(k = 2, seed = 3, nstart = 1, tol = 1e-4)),
                "k: 2\ntype: laplace\nseed: 3\nBPPARAM: NULL.*\nnstart: 1\ntol: 1e-04")
  expect_output(
    show(FastDmmParam(k = 2, nstart = 1, init = "kmeans++", accelerate = FALSE, rel_tol = 0,
                      search = dmn_search(n_continue = 2))),
    paste0("nstart: 1\ninit: kmeans\\+\\+\naccelerate: FALSE\nrel_tol: 0\n",
           "search: dmn_search\\(screen_iter = 10, n_continue = 2, split_merge = \\(default\\), ",
           "max_moves = \\(default\\), max_tries = 5, subsample = 20000, replicates = 3, ",
           "max_starts = \\(default\\), transfers = \\(default\\), resplits = FALSE, ",
           "all_singles = FALSE, kicks = \\(default\\), divisions = TRUE, settle = TRUE, ",
           "reuse_msteps = TRUE\\)$"))
})

test_that("[[<- changes a setting, checked as the constructor checks it", {
  skip_if_not_installed("bluster")
  param <- FastDmmParam()
  param[["k"]] <- 2:4
  expect_identical(param[["k"]], 2:4)
  param[["type"]] <- "AIC"
  expect_identical(param[["type"]], "AIC")
  param[["seed"]] <- 10
  expect_identical(param[["seed"]], 10L)
  param[["seed"]] <- NULL
  expect_null(param[["seed"]])
  param[["max_iter"]] <- 20
  expect_identical(param[["max_iter"]], 20L)
  param[["max_iter"]] <- NULL
  expect_null(param[["max_iter"]])
  expect_identical(param, FastDmmParam(k = 2:4, type = "AIC"))

  expect_input_error(param[["k"]] <- 0, "fastdmm_bad_argument", "k")
  expect_input_error(param[["type"]] <- "ICL", "fastdmm_bad_argument", "type")
  expect_input_error(param[["tol"]] <- -1, "fastdmm_bad_argument", "tol")
  expect_input_error(param[["centers"]] <- 3, "fastdmm_bad_argument", "i")
  expect_input_error(param[["centers"]], "fastdmm_bad_argument", "i")
  expect_identical(param[["k"]], 2:4)
})

test_that("FastDmmParam() refuses bad settings with errors naming them", {
  skip_if_not_installed("bluster")
  expect_input_error(FastDmmParam(k = 0:3), "fastdmm_bad_argument", "k", "positive whole")
  expect_input_error(FastDmmParam(k = 1.5), "fastdmm_bad_argument", "k")
  expect_input_error(FastDmmParam(k = c(1, NA)), "fastdmm_bad_argument", "k")
  expect_input_error(FastDmmParam(k = "3"), "fastdmm_bad_argument", "k")
  expect_input_error(FastDmmParam(k = integer()), "fastdmm_bad_argument", "k")
  expect_input_error(FastDmmParam(k = c(2, 2, 3)), "fastdmm_bad_argument", "k", "duplicated")
  expect_input_error(FastDmmParam(type = "ICL"), "fastdmm_bad_argument", "type")
  expect_input_error(FastDmmParam(type = c("AIC", "BIC")), "fastdmm_bad_argument", "type")
  expect_input_error(FastDmmParam(seed = "a"), "fastdmm_bad_argument", "seed")
  expect_input_error(FastDmmParam(seed = 1:2), "fastdmm_bad_argument", "seed")
  expect_input_error(FastDmmParam(nstart = 0), "fastdmm_bad_argument", "nstart")
  expect_input_error(FastDmmParam(max_iter = -1), "fastdmm_bad_argument", "max_iter")
  expect_input_error(FastDmmParam(tol = NA), "fastdmm_bad_argument", "tol")
  expect_input_error(FastDmmParam(threads = 0), "fastdmm_bad_argument", "threads")
  expect_input_error(FastDmmParam(verbose = "yes"), "fastdmm_bad_argument", "verbose")
  expect_input_error(FastDmmParam(hessian = "approximate"), "fastdmm_bad_argument", "hessian")
  expect_input_error(FastDmmParam(centers = 3), "fastdmm_unknown_argument", "centers",
                     "not an argument of FastDmmParam.*verbose, threads, hessian, max_iter, tol")
  expect_input_error(FastDmmParam(assay.type = "counts"), "fastdmm_unknown_argument",
                     "assay.type", "addCluster\\(assay.type")
  expect_input_error(FastDmmParam(x = matrix(1, 2, 2)), "fastdmm_unknown_argument", "x",
                     "the 'x' of clusterRows")
  expect_input_error(FastDmmParam(1:3, "laplace", NULL, NULL, 1, 100),
                     "fastdmm_unknown_argument", "...", "must be named")
  expect_input_error(FastDmmParam(tol = 1e-3, tol = 1e-4), "fastdmm_bad_argument", "tol",
                     "more than once")
})

test_that("FastDmmParam() says how to install bluster when it is missing", {
  local_namespace_binding("bluster_available", function() FALSE)
  expect_input_error(FastDmmParam(), "fastdmm_missing_package", "FastDmmParam",
                     "BiocManager::install\\(\"bluster\"\\)")
})

test_that("clusterRows() returns DmmParam's result for Twins (k = 1:4, seed 1)", {
  skip_if_no_bluster()
  result <- twins_clustering()
  counts <- twins_counts()
  expect_named(result, c("clusters", "objects"))
  expect_named(result$objects, c("dmm", "best", "prob", "seed", "fits"))
  objects <- result$objects

  # One DMN per k, in the order of k.
  expect_length(objects$dmm, 4L)
  for (dmn in objects$dmm) expect_s4_class(dmn, "DMN")
  expect_identical(vapply(objects$dmm, function(dmn) ncol(DirichletMultinomial::mixture(dmn)),
                          integer(1)), 1:4)
  expect_identical(objects$seed, 1L)

  # best is the k of least Laplace, by DirichletMultinomial's own accessor.
  laplace <- vapply(objects$dmm, DirichletMultinomial::laplace, numeric(1))
  expect_identical(objects$best, (1:4)[which.min(laplace)])

  # The best fit is dmn_fit()'s for the same seed: posteriors and assignments.
  fit <- dmn_fit(counts, objects$best, seed = 1, threads = 1, nstart = 1)
  expect_identical(objects$prob, mixture(fit))
  expect_identical(dim(objects$prob), c(nrow(counts), objects$best))
  expect_identical(colnames(objects$prob), as.character(seq_len(objects$best)))
  prob_of_dmn <- DirichletMultinomial::mixture(objects$dmm[[objects$best]])
  colnames(prob_of_dmn) <- seq_len(ncol(prob_of_dmn))
  expect_identical(objects$prob, prob_of_dmn)

  clusters <- result$clusters
  expect_s3_class(clusters, "factor")
  expect_identical(names(clusters), rownames(counts))
  expect_true(all(levels(clusters) %in% as.character(seq_len(objects$best))))
  expect_identical(unname(as.character(clusters)),
                   unname(as.character(mixture(fit, assign = TRUE))))
  expect_identical(names(mixture(fit, assign = TRUE)), names(clusters))

  # fits are fastdmm's own, the same numbers as the DMN objects.
  expect_s3_class(objects$fits, "dmn_fits")
  expect_identical(vapply(objects$fits, laplace, numeric(1)), laplace)
})

test_that("full = FALSE returns the same clusters alone", {
  skip_if_no_bluster()
  counts <- twins_counts()
  clusters <- bluster::clusterRows(counts, FastDmmParam(k = 1:4, seed = 1, threads = 1, nstart = 1))
  expect_identical(clusters, twins_clustering()$clusters)
})

test_that("type = AIC and BIC choose by DirichletMultinomial's AIC() and BIC()", {
  skip_if_no_bluster()
  counts <- twins_counts()
  dmm <- twins_clustering()$objects$dmm
  for (type in c("AIC", "BIC")) {
    result <- bluster::clusterRows(counts, FastDmmParam(k = 1:4, type = type, seed = 1, nstart = 1,
                                                        threads = 1), full = TRUE)
    criterion <- switch(type, AIC = DirichletMultinomial::AIC, BIC = DirichletMultinomial::BIC)
    expect_identical(result$objects$best, (1:4)[which.min(vapply(dmm, criterion, numeric(1)))])
    expect_identical(result$objects$prob,
                     mixture(dmn_fit(counts, result$objects$best, seed = 1, threads = 1, nstart = 1)))
  }
})

test_that("best is a value of k, not its position, when k does not start at 1", {
  skip_if_no_bluster()
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  result <- bluster::clusterRows(counts, FastDmmParam(k = c(3, 1, 2), seed = 1, threads = 1, nstart = 1),
                                 full = TRUE)
  laplace <- vapply(result$objects$dmm, DirichletMultinomial::laplace, numeric(1))
  expect_identical(result$objects$best, c(3L, 1L, 2L)[which.min(laplace)])
  expect_identical(vapply(result$objects$dmm,
                          function(dmn) ncol(DirichletMultinomial::mixture(dmn)), integer(1)),
                   c(3L, 1L, 2L))
  expect_identical(ncol(result$objects$prob), result$objects$best)
})

test_that("a single k is fitted and returned without choosing", {
  skip_if_no_bluster()
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  result <- bluster::clusterRows(counts, FastDmmParam(k = 2, seed = 5, threads = 1, nstart = 1),
                                 full = TRUE)
  expect_identical(result$objects$best, 2L)
  expect_length(result$objects$dmm, 1L)
  fit <- dmn_fit(counts, 2, seed = 5, threads = 1, nstart = 1)
  expect_identical(result$objects$prob, mixture(fit))
  expect_identical(unname(as.character(result$clusters)),
                   unname(as.character(mixture(fit, assign = TRUE))))
})

test_that("seed = NULL draws the seed from R's generator and reports it", {
  skip_if_no_bluster()
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  param <- FastDmmParam(k = 2, threads = 1, nstart = 1)
  first <- with_seed(42, bluster::clusterRows(counts, param, full = TRUE))
  again <- with_seed(42, bluster::clusterRows(counts, param, full = TRUE))
  expect_identical(first, again)
  expect_identical(first$objects$seed, with_seed(42, sample.int(.Machine$integer.max, 1L)))
  fixed <- bluster::clusterRows(counts, FastDmmParam(k = 2, seed = first$objects$seed, nstart = 1,
                                                     threads = 1), full = TRUE)
  expect_identical(fixed$objects$prob, first$objects$prob)
})

test_that("further dmn_fit() arguments reach the fits", {
  skip_if_no_bluster()
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  result <- allow_unconverged(bluster::clusterRows(
    counts, FastDmmParam(k = 2, seed = 1, nstart = 2, max_iter = 3, hessian = "reference",
                         threads = 1), full = TRUE))
  fit <- result$objects$fits[[1]]
  expect_lte(fit$em_iterations, 3L)
  expect_identical(fit$hessian, "reference")
  expect_identical(nrow(fit$starts), 2L)
  expected <- allow_unconverged(dmn_fit(counts, 2, seed = 1, nstart = 2, max_iter = 3,
                                        hessian = "reference", threads = 1))
  expect_identical(goodnessOfFit(fit), goodnessOfFit(expected))
})

test_that("clusterRows() accepts sparse matrices and refuses containers and bad 'full'", {
  skip_if_no_bluster()
  skip_if_not_installed("Matrix")
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  param <- FastDmmParam(k = 1:2, seed = 1, threads = 1)
  expect_identical(bluster::clusterRows(Matrix::Matrix(counts, sparse = TRUE), param),
                   bluster::clusterRows(counts, param))
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = t(counts)))
  expect_input_error(bluster::clusterRows(se, param), "fastdmm_bad_argument", "x",
                     "t\\(assay")
  expect_input_error(bluster::clusterRows(counts, param, full = NA), "fastdmm_bad_argument",
                     "full")
  expect_input_error(bluster::clusterRows(matrix(5, 15, 1), param),
                     "fastdmm_too_few_taxa", "x")
})

test_that("mia's addCluster() route stores what miaViz's DMN functions read", {
  skip_if_no_bluster()
  skip_if_not_installed("S4Vectors")
  se <- add_cluster_like_mia(twins_se(), FastDmmParam(k = 1:4, seed = 1, threads = 1, nstart = 1),
                             full = TRUE)
  result <- twins_clustering()
  expect_identical(SummarizedExperiment::colData(se)$clusters, result$clusters)
  expect_identical(names(SummarizedExperiment::colData(se)$clusters), colnames(se))

  stored <- S4Vectors::metadata(se)$clusters
  expect_identical(stored$best, result$objects$best)
  dmm <- stored$dmm
  # miaViz's plotDMNFit(): k of each fit and its criterion.
  expect_identical(vapply(dmm, function(dmn) ncol(DirichletMultinomial::mixture(dmn)),
                          integer(1)), 1:4)
  for (criterion in list(DirichletMultinomial::laplace, DirichletMultinomial::AIC,
                         DirichletMultinomial::BIC)) {
    values <- vapply(dmm, criterion, numeric(1))
    expect_true(all(is.finite(values)))
  }
  # The best fit, the way the OMA book takes it, and its accessors.
  best <- dmm[[stored$best]]
  expect_identical(ncol(DirichletMultinomial::mixture(best)), stored$best)
  expect_identical(DirichletMultinomial::mixture(best, assign = TRUE),
                   apply(stored$prob, 1L, which.max))
  weights <- DirichletMultinomial::mixturewt(best)
  expect_identical(dim(weights), c(stored$best, 2L))
  expect_equal(sum(weights$pi), 1)
  fitted <- DirichletMultinomial::fitted(best)
  expect_identical(dim(fitted), c(ncol(twins_counts()), stored$best))
  expect_identical(rownames(fitted), colnames(twins_counts()))
  expect_equal(fitted, coef(stored$fits[[stored$best]]), ignore_attr = TRUE)
})

test_that("a saved FastDmmParam still clusters after readRDS()", {
  skip_if_no_bluster()
  file <- withr::local_tempfile(fileext = ".rds")
  param <- FastDmmParam(k = 1:2, seed = 1, threads = 1)
  saveRDS(param, file)
  restored <- readRDS(file)
  expect_identical(restored, param)
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  expect_identical(bluster::clusterRows(counts, restored), bluster::clusterRows(counts, param))
})

test_that("FastDmmParam() takes DmmParam's arguments in DmmParam's order", {
  skip_if_not_installed("bluster")
  # bluster's DmmParam(k = 1:3, type = "laplace", seed = NULL, BPPARAM = SerialParam()).
  expect_identical(names(formals(FastDmmParam))[1:4], c("k", "type", "seed", "BPPARAM"))
  skip_if_not_installed("BiocParallel")
  serial <- BiocParallel::SerialParam()
  param <- FastDmmParam(2:3, "BIC", 5, serial)
  expect_identical(param[["k"]], 2:3)
  expect_identical(param[["type"]], "BIC")
  expect_identical(param[["seed"]], 5L)
  expect_identical(param[["BPPARAM"]], serial)
  param[["BPPARAM"]] <- NULL
  expect_null(param[["BPPARAM"]])
  expect_input_error(FastDmmParam(BPPARAM = "serial"), "fastdmm_bad_argument", "BPPARAM",
                     "BiocParallel parameter")
  expect_input_error(FastDmmParam(BPPARAM = list()), "fastdmm_bad_argument", "BPPARAM")
  expect_input_error(param[["BPPARAM"]] <- 2, "fastdmm_bad_argument", "BPPARAM")
})

test_that("FastDmmParam() takes every per-k argument of dmn_fit(), checked as dmn_fit() does", {
  skip_if_not_installed("bluster")
  search <- dmn_search(n_continue = 2, split_merge = FALSE)
  param <- FastDmmParam(k = 2, init = "kmeans", accelerate = FALSE, rel_tol = 1e-10,
                        search = search, hessian = "ref")
  # Partial matching as dmn_fit()'s (match.arg()'s rules).
  expect_identical(param[["init"]], "kmeans++")
  expect_identical(param[["hessian"]], "reference")
  expect_identical(param[["accelerate"]], FALSE)
  expect_identical(param[["rel_tol"]], 1e-10)
  expect_identical(param[["search"]], search)
  expect_input_error(FastDmmParam(hessian = "bogus"), "fastdmm_bad_argument", "hessian",
                     "must be one of \"exact\", \"reference\", not \"bogus\"")
  expect_input_error(FastDmmParam(hessian = NA), "fastdmm_bad_argument", "hessian")
  expect_input_error(FastDmmParam(init = rep(1:2, 10)), "fastdmm_bad_argument", "init",
                     "one table and one k")
  expect_input_error(FastDmmParam(init = diag(2)), "fastdmm_bad_argument", "init")
  expect_input_error(FastDmmParam(init = "random"), "fastdmm_bad_argument", "init")
  expect_input_error(FastDmmParam(accelerate = NA), "fastdmm_bad_argument", "accelerate")
  expect_input_error(FastDmmParam(rel_tol = -1), "fastdmm_bad_argument", "rel_tol")
  expect_input_error(FastDmmParam(search = list(screen_iter = 2)), "fastdmm_bad_argument",
                     "search")
  edited <- dmn_search()
  edited$n_continue <- 0
  expect_input_error(FastDmmParam(search = edited), "fastdmm_bad_argument", "search\\$n_continue")
  expect_input_error(FastDmmParam(nstart = 1e10), "fastdmm_bad_argument", "nstart")
  expect_input_error(FastDmmParam(k = 1e10), "fastdmm_bad_argument", "k")
  expect_input_error(FastDmmParam(threads = 1e10), "fastdmm_bad_argument", "threads")
  expect_input_error(FastDmmParam(max_iter = 1e10), "fastdmm_bad_argument", "max_iter")
  expect_input_error(FastDmmParam(seed = 1e10), "fastdmm_bad_argument", "seed")
  expect_input_error(param[["hessian"]] <- "bogus", "fastdmm_bad_argument", "hessian")
  param[["hessian"]] <- "exact"
  expect_identical(param[["hessian"]], "exact")
})

test_that("the search and the other settings reach the fits through clusterRows()", {
  skip_if_no_bluster()
  counts <- simulate_counts(n = 20, n_taxa = 6, k = 3, seed = 3)
  search <- dmn_search(screen_iter = 3, n_continue = 2)
  param <- FastDmmParam(k = 2:3, seed = 1, init = "kmeans++", nstart = 5, search = search,
                        rel_tol = 1e-10, accelerate = FALSE, threads = 1)
  result <- bluster::clusterRows(counts, param, full = TRUE)
  for (fit in result$objects$fits) {
    expect_identical(nrow(fit$starts), 5L)
    expect_identical(fit$init, "kmeans++")
    expect_identical(fit$accelerate, FALSE)
    expect_identical(fit$starts$kind, rep("kmeans++", 5))
    # Screened: three iterations each, then the best two run on.
    expect_identical(sum(fit$starts$continued), 2L)
    # The same fit as dmn_fit() with the same settings makes.
    expected <- dmn_fit(counts, fit$k, seed = 1, init = "kmeans++", nstart = 5,
                        search = search, rel_tol = 1e-10, accelerate = FALSE, threads = 1)
    expect_identical(without_call(fit), without_call(expected))
  }
})

test_that("a BiocParallel BPPARAM gives the serial run's result, fits included", {
  skip_if_no_bluster()
  skip_if_not_installed("BiocParallel")
  counts <- simulate_counts(n = 20, n_taxa = 6, k = 3, seed = 3)
  serial <- bluster::clusterRows(
    counts, FastDmmParam(k = 1:4, seed = 1, nstart = 1, BPPARAM = BiocParallel::SerialParam()),
    full = TRUE)
  # Without BPPARAM, on one thread (a BPPARAM's workers get one thread each).
  plain <- bluster::clusterRows(counts, FastDmmParam(k = 1:4, seed = 1, threads = 1, nstart = 1),
                                full = TRUE)
  expect_identical(serial, plain)
  expect_identical(vapply(serial$objects$fits, function(fit) fit$threads, integer(1)),
                   rep(1L, 4))
  # Each fit is dmn_fit()'s for its k and the shared seed.
  for (i in 1:4) {
    expect_identical(without_call(serial$objects$fits[[i]]),
                     without_call(dmn_fit(counts, i, seed = 1, threads = 1, nstart = 1)))
  }
  skip_on_os("windows") # MulticoreParam forks
  parallel <- bluster::clusterRows(
    counts, FastDmmParam(k = 1:4, seed = 1, nstart = 1, BPPARAM = BiocParallel::MulticoreParam(2)),
    full = TRUE)
  expect_identical(parallel, serial)
})

test_that("with a BPPARAM, the fits' warnings arrive with their class", {
  skip_if_no_bluster()
  skip_if_not_installed("BiocParallel")
  counts <- simulate_counts(n = 40, n_taxa = 8, k = 1, depth = 50, seed = 2)
  for (max_iter in 1:2) {
    for (bpparam in list(NULL, BiocParallel::SerialParam())) {
      warnings <- list()
      withCallingHandlers(
        bluster::clusterRows(counts, FastDmmParam(k = 2:3, seed = 1, nstart = 1, max_iter = max_iter,
                                                  BPPARAM = bpparam, threads = 1)),
        warning = function(w) {
          warnings[[length(warnings) + 1L]] <<- w
          invokeRestart("muffleWarning")
        })
      expect_length(warnings, 2L)
      for (i in 1:2) {
        expect_s3_class(warnings[[i]], "fastdmm_not_converged")
        expect_match(conditionMessage(warnings[[i]]), sprintf(
          "^k = %d: EM did not converge in %d iterations? \\(.*; increase 'max_iter'$",
          i + 1L, max_iter))
      }
    }
  }
})

test_that("clusterRows() errors name its own argument 'x'", {
  skip_if_no_bluster()
  param <- FastDmmParam(k = 1:2, seed = 1, threads = 1)
  counts <- simulate_counts(n = 15, n_taxa = 6, k = 2, seed = 3)
  bad <- counts
  bad[2, 3] <- -1
  expect_input_error(bluster::clusterRows(bad, param), "fastdmm_bad_value", "x", "negative")
  zero <- counts
  zero[4, ] <- 0
  expect_input_error(bluster::clusterRows(zero, param), "fastdmm_zero_sample", "x")
  expect_input_error(bluster::clusterRows(letters, param), "fastdmm_not_a_table", "x")
  expect_input_error(bluster::clusterRows(counts[1, , drop = FALSE], param),
                     "fastdmm_bad_argument", "k", "must not exceed the number of samples")
})
