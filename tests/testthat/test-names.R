# Component names (component_names<-) and sample / taxon names reach every output.

names_fit <- cached_fit(n = 15, n_taxa = 6, k = 3, depth = 150, seed = 91)
names_counts <- function() simulate_counts(n = 15, n_taxa = 6, k = 3, depth = 150, seed = 91)

test_that("dmn_fit() names components 1..k and component_names() reads them", {
  fit <- names_fit()
  expect_identical(component_names(fit), c("1", "2", "3"))
  # Default names: integer assignments, as the reference.
  assigned <- mixture(fit, assign = TRUE)
  expect_type(assigned, "integer")
  expect_identical(names(assigned), rownames(names_counts()))
})

test_that("component names set by the user reach every output", {
  fit <- names_fit()
  x <- names_counts()
  labels <- c("Bacteroides", "Prevotella", "Ruminococcus")
  named <- fit
  component_names(named) <- labels
  expect_identical(component_names(named), labels)
  expect_identical(colnames(mixture(named)), labels)
  expect_identical(colnames(fitted(named)), labels)
  expect_identical(colnames(fitted(named, scale = TRUE)), labels)
  expect_identical(colnames(coef(named)), labels)
  expect_identical(colnames(named$fit$Lower), labels)
  expect_identical(colnames(named$fit$Upper), labels)
  expect_identical(rownames(mixturewt(named)), labels)
  expect_identical(colnames(predict(named, x, threads = 1)), labels)
  expect_identical(colnames(predict(named, x, logevidence = TRUE, threads = 1)), labels)
  expect_identical(rownames(summary(named)$components), labels)
  expect_true(any(grepl("components: Bacteroides, Prevotella, Ruminococcus",
                        capture.output(print(named)), fixed = TRUE)))
  # Assignments become a factor whose levels are the names, in component order,
  # with the same codes as the integer assignments.
  assigned <- mixture(named, assign = TRUE)
  expect_s3_class(assigned, "factor")
  expect_identical(levels(assigned), labels)
  expect_identical(as.integer(assigned), unname(mixture(fit, assign = TRUE)))
  expect_identical(names(assigned), rownames(x))
  # Nothing else changes.
  expect_identical(unname(mixture(named)), unname(mixture(fit)))
  expect_identical(mixturewt(named)$pi, mixturewt(fit)$pi)
  expect_identical(goodnessOfFit(named), goodnessOfFit(fit))
  # Simulated components carry the names too.
  draws <- simulate(named, nsim = 20, seed = 1, depth = 50)
  expect_s3_class(attr(draws, "component"), "factor")
  expect_identical(levels(attr(draws, "component")), labels)
})

test_that("component_names<- NULL restores the defaults", {
  fit <- names_fit()
  named <- fit
  component_names(named) <- c("a", "b", "c")
  component_names(named) <- NULL
  expect_identical(component_names(named), c("1", "2", "3"))
  expect_type(mixture(named, assign = TRUE), "integer")
  expect_identical(mixture(named), mixture(fit))
  # Names equal to the defaults, given explicitly, are still the user's.
  explicit <- fit
  component_names(explicit) <- c("1", "2", "3")
  expect_s3_class(mixture(explicit, assign = TRUE), "factor")
})

test_that("component names are validated", {
  fit <- names_fit()
  rename <- function(value) {
    component_names(fit) <- value
    fit
  }
  expect_error(rename(c("a", "b")), class = "fastdmm_bad_argument",
               regexp = "^'value' must hold one name per component \\(3\\), not 2")
  expect_error(rename(c("a", "b", "c", "d")), class = "fastdmm_bad_argument", regexp = "^'value'")
  expect_error(rename(c("a", "b", "a")), class = "fastdmm_bad_argument",
               regexp = "unique names; duplicated: a")
  expect_error(rename(c("a", NA, "c")), class = "fastdmm_bad_argument", regexp = "NA or empty")
  expect_error(rename(c("a", "", "c")), class = "fastdmm_bad_argument", regexp = "NA or empty")
  expect_error(rename(1:3), class = "fastdmm_bad_argument", regexp = "character vector")
  expect_error(rename(list("a", "b", "c")), class = "fastdmm_bad_argument")
  expect_error(rename(c("a", "b", "c"))$k, NA)
  expect_identical(component_names(rename(factor(c("x", "y", "z")))), c("x", "y", "z"))
})

test_that("sample and taxon names carry through every output", {
  fit <- names_fit()
  x <- names_counts()
  expect_identical(rownames(mixture(fit)), rownames(x))
  expect_identical(names(mixture(fit, assign = TRUE)), rownames(x))
  expect_identical(rownames(fitted(fit)), colnames(x))
  expect_identical(rownames(fit$fit$Lower), colnames(x))
  expect_identical(rownames(predict(fit, x[4:6, ], threads = 1)), rownames(x)[4:6])
  expect_identical(colnames(simulate(fit, nsim = 3, seed = 1, depth = 10)), colnames(x))
  expect_true(all(fastdmm:::driver_taxa(fit, 3)$taxon %in% colnames(x)))
  # Without dimnames, outputs have none (the reference's behaviour).
  unnamed <- dmn_fit(unname(x), 3, seed = 1, threads = 1, nstart = 1)
  expect_null(rownames(mixture(unnamed)))
  expect_null(rownames(fitted(unnamed)))
})
