# Every input type -- data.frame, dgCMatrix, phyloseq, otu_table,
# SummarizedExperiment -- gives exactly the dense matrix's result, through the
# one coercion as_counts() / as_count_table().

container_counts <- function() {
  x <- simulate_counts(n = 12, n_taxa = 7, k = 2, depth = 120, seed = 81)
  # Some zero cells, so that sparse storage has something to leave out.
  x[cbind(c(1, 5, 14, 20), c(2, 3, 6, 7))] <- 0
  x[rowSums(x) == 0, 1] <- 1
  x
}

fit_parts <- function(fit) {
  list(goodnessOfFit = fit$goodnessOfFit, group = fit$group, mixture = fit$mixture,
       fit = fit$fit, log_likelihood = fit$log_likelihood, nle_trace = fit$nle_trace)
}

expect_same_fit <- function(object, expected) {
  expect_identical(fit_parts(object), fit_parts(expected))
}

test_that("data.frame and dgCMatrix input give exactly the dense matrix's fit", {
  x <- container_counts()
  dense <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  expect_same_fit(dmn_fit(as.data.frame(x), 2, seed = 3, threads = 1, nstart = 1), dense)
  skip_if_not_installed("Matrix")
  sparse <- Matrix::Matrix(x, sparse = TRUE)
  expect_s4_class(sparse, "dgCMatrix")
  expect_same_fit(dmn_fit(sparse, 2, seed = 3, threads = 1, nstart = 1), dense)
})

test_that("phyloseq objects and otu_tables give the dense fit whatever taxa_are_rows()", {
  skip_if_not_installed("phyloseq")
  x <- container_counts()
  dense <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  samples <- phyloseq::sample_data(data.frame(group = rep(c("a", "b"), length.out = nrow(x)),
                                              row.names = rownames(x)))
  by_sample <- phyloseq::otu_table(x, taxa_are_rows = FALSE)
  by_taxon <- phyloseq::otu_table(t(x), taxa_are_rows = TRUE)
  expect_same_fit(dmn_fit(by_sample, 2, seed = 3, threads = 1, nstart = 1), dense)
  expect_same_fit(dmn_fit(by_taxon, 2, seed = 3, threads = 1, nstart = 1), dense)
  expect_same_fit(dmn_fit(phyloseq::phyloseq(by_sample, samples), 2, seed = 3, threads = 1, nstart = 1),
                  dense)
  expect_same_fit(dmn_fit(phyloseq::phyloseq(by_taxon, samples), 2, seed = 3, threads = 1, nstart = 1),
                  dense)
  # Sample and taxon names come from the container.
  fit <- dmn_fit(phyloseq::phyloseq(by_taxon, samples), 2, seed = 3, threads = 1, nstart = 1)
  expect_identical(rownames(mixture(fit)), rownames(x))
  expect_identical(names(mixture(fit, assign = TRUE)), rownames(x))
  expect_identical(rownames(fitted(fit)), colnames(x))
})

test_that("SummarizedExperiments give the dense fit, choosing the assay by assay.type", {
  skip_if_not_installed("SummarizedExperiment")
  x <- container_counts()
  dense <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  other <- t(x) * 2 + 1
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(relative = other / 10,
                                                                 counts = t(x)))
  # Default: the assay named "counts", wherever it is.
  expect_same_fit(dmn_fit(se, 2, seed = 3, threads = 1, nstart = 1), dense)
  expect_same_fit(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = "counts", nstart = 1), dense)
  raw <- SummarizedExperiment::SummarizedExperiment(assays = list(raw = t(x), doubled = other))
  # No "counts": the first assay, or the one named.
  expect_same_fit(dmn_fit(raw, 2, seed = 3, threads = 1, nstart = 1), dense)
  expect_same_fit(dmn_fit(raw, 2, seed = 3, threads = 1, assay.type = "raw", nstart = 1), dense)
  expect_same_fit(dmn_fit(raw, 2, seed = 3, threads = 1, assay.type = "doubled", nstart = 1),
                  dmn_fit(t(other), 2, seed = 3, threads = 1, nstart = 1))
  unnamed <- SummarizedExperiment::SummarizedExperiment(assays = list(t(x)))
  expect_same_fit(dmn_fit(unnamed, 2, seed = 3, threads = 1, nstart = 1), dense)
  fit <- dmn_fit(se, 2, seed = 3, threads = 1, nstart = 1)
  expect_identical(rownames(mixture(fit)), rownames(x))
  expect_identical(rownames(fitted(fit)), colnames(x))
})

test_that("subclasses of SummarizedExperiment (such as TreeSummarizedExperiment) work", {
  skip_if_not_installed("SummarizedExperiment")
  x <- container_counts()
  dense <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  base <- SummarizedExperiment::SummarizedExperiment(assays = list(abundance = t(x)))
  # A subclass defined here stands in for TreeSummarizedExperiment, which
  # Debian does not package (and so CI does not have).
  env <- new.env()
  methods::setClass("FastdmmTestTreeSE", contains = "SummarizedExperiment", where = env)
  on.exit(methods::removeClass("FastdmmTestTreeSE", where = env), add = TRUE)
  subclassed <- methods::new("FastdmmTestTreeSE", base)
  expect_same_fit(dmn_fit(subclassed, 2, seed = 3, threads = 1, nstart = 1), dense)
  expect_same_fit(dmn_fit(subclassed, 2, seed = 3, threads = 1, assay.type = "abundance", nstart = 1),
                  dense)
})

test_that("a sparse assay stays sparse and gives the dense fit", {
  skip_if_not_installed("SummarizedExperiment")
  skip_if_not_installed("Matrix")
  x <- container_counts()
  sparse <- Matrix::Matrix(t(x), sparse = TRUE)
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = sparse))
  table <- fastdmm:::as_count_table(se)
  expect_s4_class(table, "dgCMatrix")
  expect_identical(dim(table), dim(x))
  expect_same_fit(dmn_fit(se, 2, seed = 3, threads = 1, nstart = 1), dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1))
})

test_that("predict() takes the same containers and matches taxa by name", {
  x <- container_counts()
  fit <- dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1)
  expected <- predict(fit, x, threads = 1)
  expect_identical(rownames(expected), rownames(x))
  expect_identical(predict(fit, as.data.frame(x), threads = 1), expected)
  if (requireNamespace("Matrix", quietly = TRUE)) {
    expect_identical(predict(fit, Matrix::Matrix(x, sparse = TRUE), threads = 1), expected)
  }
  if (requireNamespace("phyloseq", quietly = TRUE)) {
    # Taxa in another order are matched by name.
    shuffled <- t(x)[rev(seq_len(ncol(x))), ]
    by_taxon <- phyloseq::otu_table(shuffled, taxa_are_rows = TRUE)
    expect_identical(predict(fit, by_taxon, threads = 1), expected)
    expect_identical(predict(fit, phyloseq::otu_table(x, taxa_are_rows = FALSE), threads = 1),
                     expected)
  }
  if (requireNamespace("SummarizedExperiment", quietly = TRUE)) {
    se <- SummarizedExperiment::SummarizedExperiment(assays = list(other = t(x) + 1,
                                                                   raw = t(x)))
    expect_identical(predict(fit, se, assay.type = "raw", threads = 1), expected)
    expect_identical(predict(fit, se, assay.type = "other", threads = 1),
                     predict(fit, x + 1, threads = 1))
    expect_identical(predict(fit, se, assay.type = "raw", logevidence = TRUE, threads = 1),
                     predict(fit, x, logevidence = TRUE, threads = 1))
  }
})

test_that("a missing assay, a container without counts and assay.type misuse are refused", {
  x <- container_counts()
  expect_input_error(dmn_fit(x, 2, seed = 3, threads = 1, assay.type = "counts", nstart = 1),
                     "fastdmm_bad_argument", "assay.type", "only to SummarizedExperiment")
  expect_input_error(predict(dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1), x, assay.type = "counts"),
                     "fastdmm_bad_argument", "assay.type")
  skip_if_not_installed("SummarizedExperiment")
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(raw = t(x), rel = t(x) / 2))
  error <- expect_input_error(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = "counts", nstart = 1),
                              "fastdmm_missing_assay", "assay.type", "no assay of that name")
  expect_match(conditionMessage(error), "its assays are: raw, rel", fixed = TRUE)
  expect_input_error(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = c("raw", "rel"), nstart = 1),
                     "fastdmm_bad_argument", "assay.type")
  expect_input_error(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = NA_character_, nstart = 1),
                     "fastdmm_bad_argument", "assay.type")
  expect_input_error(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = 1, nstart = 1),
                     "fastdmm_bad_argument", "assay.type")
  # Not counts: the usual validation, naming the argument.
  expect_input_error(dmn_fit(se, 2, seed = 3, threads = 1, assay.type = "rel", nstart = 1),
                     "fastdmm_bad_value", "counts", "non-integer")
  empty <- SummarizedExperiment::SummarizedExperiment()
  expect_input_error(dmn_fit(empty, 2, seed = 3, threads = 1, nstart = 1), "fastdmm_no_counts",
                     "counts", "without assays")
  expect_input_error(predict(dmn_fit(x, 2, seed = 3, threads = 1, nstart = 1), empty),
                     "fastdmm_no_counts", "newdata")
  skip_if_not_installed("phyloseq")
  ps <- phyloseq::phyloseq(
    phyloseq::otu_table(x, taxa_are_rows = FALSE),
    phyloseq::sample_data(data.frame(g = seq_len(nrow(x)), row.names = rownames(x)))
  )
  expect_input_error(dmn_fit(ps, 2, seed = 3, threads = 1, assay.type = "counts", nstart = 1),
                     "fastdmm_bad_argument", "assay.type", "only to SummarizedExperiment")
  ps@otu_table <- NULL
  expect_input_error(dmn_fit(ps, 2, seed = 3, threads = 1, nstart = 1), "fastdmm_no_counts", "counts",
                     "without an OTU table")
})

test_that("a missing optional package is named, with how to install it", {
  error <- expect_error(fastdmm:::require_package("fastdmmNoSuchPackage", "counts",
                                                  "is a fastdmmNoSuchPackage object"),
                        class = "fastdmm_missing_package")
  expect_s3_class(error, "fastdmm_input_error")
  expect_identical(conditionMessage(error), paste0(
    "'counts' is a fastdmmNoSuchPackage object, but the fastdmmNoSuchPackage package is not ",
    "installed; install it with install.packages(\"fastdmmNoSuchPackage\")"
  ))
  expect_identical(fastdmm:::install_hint("phyloseq"), "BiocManager::install(\"phyloseq\")")
  expect_identical(fastdmm:::install_hint("SummarizedExperiment"),
                   "BiocManager::install(\"SummarizedExperiment\")")
  expect_identical(fastdmm:::install_hint("ggplot2"), "install.packages(\"ggplot2\")")
  expect_true(fastdmm:::require_package("stats", "counts", "is a thing"))
  # An S4 object whose class comes from a package that is not installed (here
  # a made-up one) is refused naming that package, before anything touches it.
  orphan <- asS4(structure(list(), class = structure("TreeLikeExperiment",
                                                     package = "fastdmmNoSuchPackage")))
  expect_input_error(dmn_fit(orphan, 2, seed = 1, threads = 1, nstart = 1), "fastdmm_missing_package",
                     "counts", "fastdmmNoSuchPackage package is not installed")
})

test_that("orientation is never guessed: matrices are samples x taxa, containers their own", {
  x <- container_counts()
  # A transposed matrix is simply a different table (taxa taken as samples).
  flipped <- dmn_fit(t(x), 2, seed = 3, threads = 1, nstart = 1)
  expect_identical(rownames(mixture(flipped)), colnames(x))
  skip_if_not_installed("SummarizedExperiment")
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = t(x)))
  expect_identical(dim(fastdmm:::as_count_table(se)), dim(x))
  expect_identical(fastdmm:::as_count_table(se), x)
})

test_that("non-container inputs pass through as_count_table() untouched", {
  x <- container_counts()
  expect_identical(fastdmm:::as_count_table(x), x)
  df <- as.data.frame(x)
  expect_identical(fastdmm:::as_count_table(df), df)
  expect_identical(fastdmm:::as_count_table(c(a = 1, b = 2)), c(a = 1, b = 2))
})
