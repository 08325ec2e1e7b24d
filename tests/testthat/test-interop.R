# as_DMN() and as_dmn_fit(): conversions to and from DirichletMultinomial's DMN.

interop_fit <- cached_fit(n = 15, n_taxa = 6, k = 2, depth = 150, seed = 95)
# The four slots of a DMN, read as attributes (the reference's own data(fit)
# objects have a class registered to ".GlobalEnv", so identical() on the
# objects compares that too).
dmn_slots <- function(dmn) attributes(dmn)[c("goodnessOfFit", "group", "mixture", "fit")]

interop_counts <- function() simulate_counts(n = 15, n_taxa = 6, k = 2, depth = 150, seed = 95)

accessor_outputs <- function(fit, x) {
  list(mixture = mixture(fit), assign = mixture(fit, assign = TRUE),
       mixturewt = mixturewt(fit), goodnessOfFit = goodnessOfFit(fit),
       laplace = laplace(fit), AIC = AIC(fit), BIC = BIC(fit), fitted = fitted(fit),
       scaled = fitted(fit, scale = TRUE), coef = coef(fit),
       predict = predict(fit, x, threads = 1),
       logevidence = predict(fit, x, logevidence = TRUE, threads = 1),
       component_names = component_names(fit))
}

test_that("as_DMN() gives a DMN whose accessors agree with ours", {
  skip_if_not_installed("DirichletMultinomial")
  fit <- interop_fit()
  x <- interop_counts()
  dmn <- as_DMN(fit)
  expect_s4_class(dmn, "DMN")
  expect_true(methods::validObject(dmn))
  expect_identical(DirichletMultinomial::goodnessOfFit(dmn), goodnessOfFit(fit))
  expect_identical(DirichletMultinomial::laplace(dmn), laplace(fit))
  expect_identical(unname(DirichletMultinomial::mixture(dmn)), unname(mixture(fit)))
  expect_identical(rownames(DirichletMultinomial::mixture(dmn)), rownames(x))
  expect_identical(DirichletMultinomial::mixture(dmn, assign = TRUE),
                   mixture(fit, assign = TRUE))
  expect_equal(DirichletMultinomial::mixturewt(dmn), mixturewt(fit), ignore_attr = TRUE)
  expect_identical(unname(DirichletMultinomial::fitted(dmn)), unname(fitted(fit)))
  expect_identical(rownames(DirichletMultinomial::fitted(dmn)), colnames(x))
  # The reference's pure-R predict() on our fit agrees with our C++ one.
  expect_relative(DirichletMultinomial::predict(dmn, x), predict(fit, x, threads = 1), 1e-8)
  expect_relative(DirichletMultinomial::predict(dmn, x, logevidence = TRUE),
                  predict(fit, x, logevidence = TRUE, threads = 1), 1e-10)
  # Default component names are left out, as the reference leaves them.
  expect_null(colnames(dmn@group))
  expect_null(colnames(dmn@fit$Estimate))
})

test_that("fit -> DMN -> fit keeps every accessor's output", {
  skip_if_not_installed("DirichletMultinomial")
  fit <- interop_fit()
  x <- interop_counts()
  back <- as_dmn_fit(as_DMN(fit))
  expect_s3_class(back, "dmn_fit")
  expect_identical(accessor_outputs(back, x), accessor_outputs(fit, x))
  # The log-likelihood is recovered from the NLE and the hyperprior.
  expect_relative(as.numeric(logLik(back)), as.numeric(logLik(fit)), 1e-10)
  expect_identical(attributes(logLik(back)), attributes(logLik(fit)))
  # What a DMN does not record is NA.
  expect_true(is.na(back$seed) && is.na(back$em_iterations) && is.na(back$converged) &&
                is.na(back$hessian))
  # User component names travel too.
  named <- fit
  component_names(named) <- c("Bacteroides", "Prevotella")
  expect_identical(colnames(as_DMN(named)@fit$Estimate), c("Bacteroides", "Prevotella"))
  named_back <- as_dmn_fit(as_DMN(named))
  expect_identical(accessor_outputs(named_back, x), accessor_outputs(named, x))
  expect_s3_class(mixture(named_back, assign = TRUE), "factor")
})

test_that("a reference DMN becomes a working dmn_fit, and converts back identically", {
  skip_if_not_installed("DirichletMultinomial")
  reference <- new.env()
  utils::data("fit", package = "DirichletMultinomial", envir = reference)
  dmn <- reference$fit[[3]]
  fit <- as_dmn_fit(dmn)
  expect_s3_class(fit, "dmn_fit")
  expect_identical(fit$k, 3L)
  expect_identical(goodnessOfFit(fit), DirichletMultinomial::goodnessOfFit(dmn))
  expect_identical(unname(mixture(fit)), unname(DirichletMultinomial::mixture(dmn)))
  expect_identical(mixture(fit, assign = TRUE), DirichletMultinomial::mixture(dmn, assign = TRUE))
  expect_identical(unname(fitted(fit)), unname(DirichletMultinomial::fitted(dmn)))
  expect_equal(mixturewt(fit), DirichletMultinomial::mixturewt(dmn), ignore_attr = TRUE)
  expect_identical(component_names(fit), c("1", "2", "3"))
  expect_identical(dmn_slots(as_DMN(fit)), dmn_slots(dmn))
  # predict, simulate, summary, print and plot work on it.
  counts <- twins_counts()
  expect_relative(predict(fit, counts[1:5, ], threads = 1),
                  DirichletMultinomial::predict(dmn, counts[1:5, ]), 1e-8)
  draws <- simulate(fit, nsim = 4, seed = 1, depth = 100)
  expect_identical(dim(draws), c(4L, nrow(fitted(fit))))
  output <- capture.output(print(fit))
  expect_identical(output[5], "EM: not recorded (converted from a DirichletMultinomial DMN object)")
  output <- capture.output(print(summary(fit)))
  expect_match(output[2], "^EM not recorded")
  expect_true(is.finite(as.numeric(logLik(fit))))
  # A list of DMN (the reference's lapply(1:7, dmn, ...)) becomes a dmn_fits.
  fits <- as_dmn_fit(reference$fit)
  expect_s3_class(fits, "dmn_fits")
  expect_identical(as.data.frame(fits)$k, 1:7)
  expect_identical(as.data.frame(fits)$Laplace,
                   vapply(reference$fit, DirichletMultinomial::laplace, numeric(1)))
  expect_identical(best_fit(fits)$k, 4L)
  back <- as_DMN(fits)
  expect_length(back, 7L)
  for (k in 1:7) expect_identical(dmn_slots(back[[k]]), dmn_slots(reference$fit[[k]]))
})

test_that("conversions refuse what they cannot convert", {
  expect_error(as_DMN("a"), class = "fastdmm_bad_argument", regexp = "^'fit'")
  expect_error(as_dmn_fit(1), class = "fastdmm_bad_argument", regexp = "^'x'")
  expect_error(as_dmn_fit(list(1, 2)), class = "fastdmm_bad_argument", regexp = "^'x'")
  fit <- interop_fit()
  expect_identical(as_dmn_fit(fit), fit)
  skip_if_not_installed("DirichletMultinomial")
  dmn <- as_DMN(fit)
  expect_error(as_dmn_fit(list(dmn, dmn)), class = "fastdmm_bad_argument",
               regexp = "same k \\(2\\)")
})
