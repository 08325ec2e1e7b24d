# Accessors and S3 methods: DirichletMultinomial's names and return shapes.

methods_counts <- function() simulate_counts(n = 20, n_taxa = 6, k = 2, depth = 150, seed = 51)

methods_fit <- cached_fit(n = 20, n_taxa = 6, k = 2, depth = 150, seed = 51)

test_that("mixture() returns the posteriors or each sample's most probable component", {
  fit <- methods_fit()
  x <- methods_counts()
  posterior <- mixture(fit)
  expect_identical(posterior, fit$group)
  assigned <- mixture(fit, assign = TRUE)
  expect_identical(names(assigned), rownames(x))
  expect_identical(unname(assigned), unname(max.col(posterior, ties.method = "first")))
  expect_error(mixture(fit, assign = NA), class = "fastdmm_bad_argument")
})

test_that("mixturewt() gives weights and precisions per component", {
  fit <- methods_fit()
  weights <- mixturewt(fit)
  expect_s3_class(weights, "data.frame")
  expect_named(weights, c("pi", "theta"))
  expect_identical(nrow(weights), 2L)
  expect_relative(weights$pi, colMeans(mixture(fit)), 1e-12)
  expect_relative(weights$theta, unname(colSums(fitted(fit))), 1e-14)
})

test_that("fitted() and coef() return the alphas, scaled to proportions on request", {
  fit <- methods_fit()
  alpha <- fitted(fit)
  expect_identical(alpha, fit$fit$Estimate)
  expect_identical(coef(fit), alpha)
  proportions <- fitted(fit, scale = TRUE)
  expect_relative(unname(colSums(proportions)), c(1, 1), 1e-14)
  expect_relative(proportions, sweep(alpha, 2, colSums(alpha), "/"), 1e-14)
  expect_identical(dimnames(proportions), dimnames(alpha))
  expect_error(fitted(fit, scale = "yes"), class = "fastdmm_bad_argument")
})

test_that("goodnessOfFit(), laplace(), AIC() and BIC() agree and use P = kS + k - 1", {
  fit <- methods_fit()
  gof <- goodnessOfFit(fit)
  nle <- gof[["NLE"]]
  p <- 2 * 6 + 2 - 1
  expect_identical(laplace(fit), gof[["Laplace"]])
  expect_identical(AIC(fit), gof[["AIC"]])
  expect_identical(BIC(fit), gof[["BIC"]])
  expect_relative(AIC(fit), nle + p, 1e-15)
  expect_relative(BIC(fit), nle + p * log(40) / 2, 1e-15)
})

test_that("AIC() and BIC() of several fits compare them in a data.frame", {
  x <- methods_counts()
  one <- dmn_fit(x, 1, seed = 1, threads = 1, nstart = 1)
  two <- methods_fit()
  table <- AIC(one, two)
  expect_s3_class(table, "data.frame")
  expect_named(table, c("df", "AIC"))
  # Rows are labelled by the arguments' expressions, as stats::AIC() does.
  expect_identical(rownames(table), c("one", "two"))
  expect_identical(table$df, c(6, 13))
  expect_identical(table$AIC, c(AIC(one), AIC(two)))
  table <- BIC(one, two)
  expect_named(table, c("df", "BIC"))
  expect_identical(table$BIC, c(BIC(one), BIC(two)))
  # Two well-separated groups: two components win on every criterion.
  expect_lt(BIC(two), BIC(one))
  expect_error(AIC(one, 3), class = "fastdmm_bad_argument")
})

test_that("logLik() carries df and nobs, and nobs() is the number of samples", {
  fit <- methods_fit()
  x <- methods_counts()
  ll <- logLik(fit)
  expect_s3_class(ll, "logLik")
  expect_identical(attr(ll, "df"), 13)
  expect_identical(attr(ll, "nobs"), 40L)
  expect_identical(nobs(fit), 40L)
  expect_relative(as.numeric(ll), dense_log_likelihood(x, fitted(fit), fit$mixture$Weight), 1e-10)
  # stats' generic criteria work from it (on the deviance scale).
  expect_relative(stats::AIC(ll), -2 * as.numeric(ll) + 2 * 13, 1e-15)
})

test_that("predict() posteriors sum to one and follow the weighted evidence", {
  fit <- methods_fit()
  newdata <- simulate_counts(n = 4, n_taxa = 6, k = 2, depth = 90, seed = 52)
  posterior <- predict(fit, newdata, threads = 1)
  expect_relative(rowSums(posterior), rep(1, 8), 1e-14)
  e <- -predict(fit, newdata, logevidence = TRUE, threads = 1)
  weighted <- exp(e - apply(e, 1, max)) * rep(fit$mixture$Weight, each = 8)
  expect_relative(posterior, weighted / rowSums(weighted), 1e-12)
})
