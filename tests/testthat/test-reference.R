# Agreement with DirichletMultinomial::dmn() on its Twins table: live for k = 1
# and 2 (seed 1; each reference fit in a fresh process, see helper-reference.R),
# and from stored reference fits (fixtures/twins-reference.rds, made by
# fixtures/make-reference.R from the reference alone) for k = 1..7 and seeds 1,
# 7 and 42.
#
# Tolerances: NLE, AIC and BIC agree to 1e-6 (relative) where both land on the
# same optimum; the reference's BFGS M-step stops at a gradient norm of 1e-3, so
# its alphas are off by up to about 1% (3e-2 allowed), its weights by a few 1e-6
# (1e-4 allowed) and its posteriors by a few 1e-4 (1e-3 allowed).

skip_if_no_twins <- function() {
  skip_if_not_installed("DirichletMultinomial")
}

skip_if_no_reference_fixture <- function() {
  skip_if_no_twins()
  skip_if_not(file.exists(twins_reference_file()), "reference fixture not generated")
}

reference_fixture <- local({
  fixture <- NULL
  function() {
    if (is.null(fixture)) fixture <<- readRDS(twins_reference_file())
    fixture
  }
})

# The k-means part of the verbose output: the "iteration N change X" lines
# printed before "  Expectation Maximization setup".
kmeans_lines <- function(lines) {
  lines <- lines[seq_len(match("  Expectation Maximization setup", lines) - 1L)]
  grep("^    iteration ", lines, value = TRUE)
}

# Our fit (exact and reference Hessians) with its verbose lines.
fit_twins <- function(counts, k, seed) {
  run <- capture_messages(dmn_fit(counts, k, seed = seed, threads = 2, verbose = TRUE, nstart = 1))
  reference_hessian <- suppressWarnings(
    dmn_fit(counts, k, seed = seed, threads = 2, hessian = "reference", nstart = 1)
  )
  list(fit = run$value, messages = run$messages, reference_hessian = reference_hessian)
}

# The tight agreement expected where fastdmm and the reference reach the same
# optimum (k <= 2): components are in the same (weight) order.
expect_same_optimum <- function(ours, reference, label) {
  fit <- ours$fit
  gof <- goodnessOfFit(fit)
  for (criterion in c("NLE", "AIC", "BIC")) {
    expect_relative(gof[[criterion]], reference$goodness_of_fit[[criterion]], 1e-6,
                    label = paste(label, criterion))
  }
  expect_lt(max(abs(fit$mixture$Weight - reference$weights)), 1e-4,
            label = paste(label, "weights"))
  expect_lt(max(abs(unname(mixture(fit)) - reference$group)), 1e-3,
            label = paste(label, "posteriors"))
  expect_relative(unname(fitted(fit)), reference$estimate, 3e-2, label = paste(label, "alphas"))
  # With the reference's Hessian at our (slightly better) optimum, the Laplace
  # criterion agrees closely too.
  expect_relative(laplace(ours$reference_hessian), reference$goodness_of_fit[["Laplace"]], 1e-5,
                  label = paste(label, "Laplace (reference Hessian)"))
}

# LogDet from the reference Hessian evaluated at the reference's own
# parameters and posteriors. The component that came first out of the
# reference's initialisation is unknown after its sort by weight: take the
# candidate that fits best.
log_det_at_reference <- function(data, reference) {
  n <- nrow(reference$group)
  terms <- lapply(seq_len(reference$k), function(k) {
    fastdmm:::.component_terms(data, reference$group[, k], log(reference$estimate[, k]), TRUE)
  })
  per_component <- vapply(terms, `[[`, numeric(1), "log_abs_det")
  weights <- colSums(reference$group)
  candidates <- vapply(seq_len(reference$k), function(first) {
    sum(per_component) + sum(2 * log(n) - log(weights[-first]))
  }, numeric(1))
  list(terms = terms, candidates = candidates)
}

closest_candidate <- function(candidates, target) candidates[which.min(abs(candidates - target))]

# Lower/Upper = exp(lambda -/+ 2 sd), NaN where the variance is negative or the
# sd reaches 100 (DESIGN.md section 1, the bounds).
bounds_from_variance <- function(lambda, variance, sign) {
  sd <- ifelse(variance >= 0, sqrt(pmax(variance, 0)), NaN)
  sd[!is.nan(sd) & sd >= 100] <- NaN
  exp(lambda + sign * 2 * sd)
}

# ---- live --------------------------------------------------------------------------

test_that("tests fit with the reference only in fresh processes, through reference_call()", {
  # An in-process fit could depend on what earlier tests left on the heap
  # (helper-reference.R). Accessors on its results may run here.
  files <- list.files(test_path(), pattern = "\\.[Rr]$", full.names = TRUE)
  files <- files[basename(files) != "helper-reference.R"]
  direct <- unlist(lapply(files, function(file) {
    lines <- readLines(file, warn = FALSE)
    code <- sub("#.*$", "", lines)
    hits <- grepl("DirichletMultinomial::(dmn|dmngroup|cvdmngroup)\\((?!\\))", code, perl = TRUE) |
      grepl("(library|require)\\(\"?DirichletMultinomial", code)
    sprintf("%s:%d", basename(file), which(hits))
  }))
  expect(length(direct) == 0L,
         paste("DirichletMultinomial fits in the test process at", paste(direct, collapse = ", ")))
})

test_that("fits agree with DirichletMultinomial::dmn() run now (Twins, k = 1 and 2, seed 1)", {
  skip_if_no_twins()
  counts <- twins_counts()
  expect_identical(dim(counts), c(278L, 130L))
  for (k in 1:2) {
    reference_messages <- reference_call("dmn", counts, k, verbose = TRUE, seed = 1,
                                         capture = TRUE)
    reference_output <- reference_messages$output
    reference_fit <- reference_messages$value
    reference <- list(
      k = k,
      goodness_of_fit = reference_fit@goodnessOfFit,
      weights = reference_fit@mixture$Weight,
      group = unname(reference_fit@group),
      estimate = unname(reference_fit@fit$Estimate),
      lower = unname(reference_fit@fit$Lower)
    )
    ours <- fit_twins(counts, k, 1)
    label <- sprintf("live k = %d", k)
    expect_same_optimum(ours, reference, label)
    expect_identical(rownames(mixture(ours$fit)), rownames(reference_fit@group))
    expect_identical(rownames(fitted(ours$fit)), rownames(reference_fit@fit$Estimate))
    # The same progress report: the reference's message, then its printed lines
    # (identical k-means iterations; the EM's changes differ with the M-step).
    expect_identical(ours$messages[1], reference_messages$messages[1])
    expect_identical(kmeans_lines(ours$messages[-1]), kmeans_lines(reference_output))
    if (k == 2) expect_gte(length(kmeans_lines(reference_output)), 1L)
    expect_identical(grep("iteration", ours$messages[-1], value = TRUE, invert = TRUE),
                     grep("iteration", reference_output, value = TRUE, invert = TRUE))
    # The reference Hessian at the reference's parameters gives its LogDet.
    at_reference <- log_det_at_reference(fastdmm:::as_counts(counts), reference)
    expect_relative(closest_candidate(at_reference$candidates, reference$goodness_of_fit[["LogDet"]]),
                    reference$goodness_of_fit[["LogDet"]], 1e-6, label = paste(label, "LogDet"))
  }
})

# ---- stored reference fits -----------------------------------------------------------

test_that("the stored reference fits cover k = 1..7 for seeds 1, 7 and 42", {
  skip_if_no_reference_fixture()
  fixture <- reference_fixture()
  expected <- as.vector(outer(sprintf("k%d", 1:7), sprintf("_seed%d", c(1, 7, 42)), paste0))
  expect_setequal(names(fixture), expected)
  for (reference in fixture) {
    expect_identical(dim(reference$group), c(278L, reference$k))
    expect_identical(dim(reference$estimate), c(130L, reference$k))
  }
})

test_that("every stored fit: our NLE is as good, and the k-means progress is identical", {
  skip_if_no_reference_fixture()
  counts <- twins_counts()
  for (reference in reference_fixture()) {
    label <- sprintf("k = %d, seed = %d", reference$k, reference$seed)
    run <- capture_messages(dmn_fit(counts, reference$k, seed = reference$seed, threads = 2,
                                    verbose = TRUE, nstart = 1))
    nle <- goodnessOfFit(run$value)[["NLE"]]
    expect_lte(nle, reference$goodness_of_fit[["NLE"]] * (1 + 1e-6), label = paste(label, "NLE"))
    expect_identical(kmeans_lines(run$messages[-1]), kmeans_lines(reference$verbose),
                     label = paste(label, "k-means lines"))
    expect_identical(run$messages[2], reference$verbose[1])
    expect_nonincreasing(run$value$nle_trace)
  }
})

test_that("stored fits with k <= 2 agree closely with ours", {
  skip_if_no_reference_fixture()
  counts <- twins_counts()
  for (reference in reference_fixture()) {
    if (reference$k > 2) next
    expect_same_optimum(fit_twins(counts, reference$k, reference$seed), reference,
                        sprintf("k = %d, seed = %d", reference$k, reference$seed))
  }
})

test_that("hessian = 'reference' reproduces the reference's LogDet and bounds at its parameters", {
  skip_if_no_reference_fixture()
  data <- fastdmm:::as_counts(twins_counts())
  for (reference in reference_fixture()) {
    label <- sprintf("k = %d, seed = %d", reference$k, reference$seed)
    at_reference <- log_det_at_reference(data, reference)
    target <- reference$goodness_of_fit[["LogDet"]]
    # Observed agreement is ~1e-13 (LogDet) and ~1e-10 (bounds).
    expect_relative(closest_candidate(at_reference$candidates, target), target, 1e-9,
                    label = paste(label, "LogDet"))
    for (k in seq_len(reference$k)) {
      lambda <- log(reference$estimate[, k])
      variance <- at_reference$terms[[k]]$inverse_diagonal
      expect_relative(bounds_from_variance(lambda, variance, -1), reference$lower[, k], 1e-8,
                      label = sprintf("%s Lower[, %d]", label, k))
      expect_relative(bounds_from_variance(lambda, variance, +1), reference$upper[, k], 1e-8,
                      label = sprintf("%s Upper[, %d]", label, k))
    }
  }
})

test_that("the exact Hessian differs from the reference's only when k >= 2", {
  skip_if_no_reference_fixture()
  data <- fastdmm:::as_counts(twins_counts())
  fixture <- reference_fixture()
  one <- fixture[["k1_seed1"]]
  exact <- fastdmm:::.component_terms(data, one$group[, 1], log(one$estimate[, 1]), FALSE)
  as_reference <- fastdmm:::.component_terms(data, one$group[, 1], log(one$estimate[, 1]), TRUE)
  expect_relative(exact$log_abs_det, as_reference$log_abs_det, 1e-12)
  three <- fixture[["k3_seed1"]]
  exact <- vapply(1:3, function(k) {
    fastdmm:::.component_terms(data, three$group[, k], log(three$estimate[, k]), FALSE)$log_abs_det
  }, numeric(1))
  as_reference <- vapply(1:3, function(k) {
    fastdmm:::.component_terms(data, three$group[, k], log(three$estimate[, k]), TRUE)$log_abs_det
  }, numeric(1))
  # The reference's Hessian (DESIGN.md section 1): the Laplace criterion is off
  # by tens at k = 3.
  expect_gt(abs(sum(exact) - sum(as_reference)) / 2, 10)
})
