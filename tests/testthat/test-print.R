# print() and summary() of fits.

print_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) {
      fit <<- dmn_fit(simulate_counts(n = 20, n_taxa = 6, k = 2, depth = 150, seed = 51), 2,
                      seed = 1, threads = 1, nstart = 1)
    }
    fit
  }
})

test_that("print() shows k, dimensions, criteria and how EM ended", {
  fit <- print_fit()
  output <- capture.output(print(fit))
  expect_identical(output[1:3], c("class: dmn_fit ", "k: 2 ", "samples x taxa: 40 x 6 "))
  numbers <- as.numeric(regmatches(output[4], gregexpr("-?[0-9.]+(e[-+][0-9]+)?", output[4]))[[1]])
  expect_relative(numbers, unname(goodnessOfFit(fit)[c("Laplace", "BIC", "AIC")]), 1e-6)
  expect_match(output[5], sprintf("^EM: converged after %d iterations \\(seed 1, exact Hessian\\)$",
                                  fit$em_iterations))
  capture.output(expect_invisible(print(fit)))
})

test_that("summary() lists each component's weight, precision and top taxa", {
  fit <- print_fit()
  s <- summary(fit, ntaxa = 2)
  expect_s3_class(s, "summary.dmn_fit")
  expect_identical(s$goodness_of_fit, goodnessOfFit(fit))
  components <- s$components
  expect_identical(rownames(components), c("1", "2"))
  expect_identical(components$pi, fit$mixture$Weight)
  proportions <- sweep(fitted(fit), 2, colSums(fitted(fit)), "/")
  for (k in 1:2) {
    top <- names(sort(proportions[, k], decreasing = TRUE))[1:2]
    expect_match(components$top_taxa[k],
                 sprintf("^%s \\([0-9.]+%%\\), %s \\([0-9.]+%%\\)$", top[1], top[2]))
  }
  output <- capture.output(print(s))
  expect_identical(output[1], "Dirichlet-multinomial mixture: k = 2, 40 samples x 6 taxa")
  expect_match(output[2], "^EM converged after [0-9]+ iterations; exact Hessian$")
  expect_true(any(grepl("Components", output)))
  expect_error(summary(fit, ntaxa = 0), class = "fastdmm_bad_argument")
  # Unnamed taxa are labelled by position.
  unnamed <- summary(dmn_fit(unname(simulate_counts(n = 20, n_taxa = 6, k = 2, depth = 150, seed = 51)), 2, seed = 1, threads = 1, nstart = 1))
  expect_match(unnamed$components$top_taxa[1], "^taxon[0-9]+ ")
})

test_that("print() and summary() say when EM did not converge", {
  x <- simulate_counts(n = 20, n_taxa = 6, k = 2, depth = 150, seed = 51)
  fit <- suppressWarnings(dmn_fit(x, 2, seed = 1, threads = 1, max_iter = 1, hessian = "reference", nstart = 1))
  output <- capture.output(print(fit))
  expect_identical(output[5], "EM: did not converge after 1 iterations (seed 1, reference Hessian)")
  output <- capture.output(print(summary(fit)))
  expect_identical(output[2], "EM did not converge after 1 iterations; reference Hessian")
})
