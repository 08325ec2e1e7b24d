# plot(fit) and the ggplot2 autoplot() methods draw without error.

plot_fit <- local({
  fits <- NULL
  function() {
    if (is.null(fits)) {
      x <- simulate_counts(n = 12, n_taxa = 9, k = 3, depth = 150, seed = 97)
      fits <<- suppressWarnings(dmn_fit(x, 1:3, seed = 1, threads = 1, nstart = 1))
    }
    fits
  }
})

# Runs `code` with a png device open on a temporary file; returns the file's size.
draw_png <- function(code) {
  file <- tempfile(fileext = ".png")
  grDevices::png(file, width = 800, height = 600)
  device <- grDevices::dev.cur()
  on.exit(unlink(file))
  tryCatch(force(code), finally = grDevices::dev.off(device))
  file.size(file)
}

test_that("driver_taxa() lists each component's largest expected proportions", {
  fit <- plot_fit()[[3]]
  drivers <- fastdmm:::driver_taxa(fit, 4)
  expect_identical(nrow(drivers), 12L)
  proportions <- fitted(fit, scale = TRUE)
  for (k in 1:3) {
    mine <- drivers[drivers$index == k, ]
    expected <- sort(proportions[, k], decreasing = TRUE)[1:4]
    expect_identical(mine$taxon, names(expected))
    expect_identical(mine$proportion, unname(expected))
    expect_identical(mine$rank, 1:4)
    expect_match(mine$title[1], sprintf("^%d \\(weight [0-9]+%%\\)$", k))
  }
  # More taxa than there are: all of them.
  expect_identical(nrow(fastdmm:::driver_taxa(fit, 100, components = 1)), 9L)
  component_names(fit) <- c("alpha", "beta", "gamma")
  drivers <- fastdmm:::driver_taxa(fit, 2, components = c("gamma", "alpha"))
  expect_identical(unique(drivers$component), c("gamma", "alpha"))
  expect_match(drivers$title[1], "^gamma \\(weight")
})

test_that("plot(fit) draws one panel per component and restores par()", {
  fits <- plot_fit()
  old_mfrow <- NULL
  size <- draw_png({
    old_mfrow <- graphics::par("mfrow")
    for (fit in fits) expect_invisible(plot(fit))
    expect_identical(graphics::par("mfrow"), old_mfrow)
  })
  expect_gt(size, 0)
  named <- fits[[3]]
  component_names(named) <- c("Bacteroides", "Prevotella", "Ruminococcus")
  expect_gt(draw_png(plot(named, ntaxa = 3, components = c("Prevotella", "Bacteroides"),
                          col = "grey50")), 0)
  # Tables without names plot with taxon1, taxon2, ...
  unnamed <- dmn_fit(unname(simulate_counts(n = 10, n_taxa = 5, seed = 98)), 2, seed = 1,
                     threads = 1, nstart = 1)
  expect_gt(draw_png(plot(unnamed)), 0)
})

test_that("plot(fit) refuses bad arguments", {
  fit <- plot_fit()[[2]]
  draw_png({
    expect_error(plot(fit, ntaxa = 0), class = "fastdmm_bad_argument", regexp = "^'ntaxa'")
    expect_error(plot(fit, components = 3), class = "fastdmm_bad_argument",
                 regexp = "^'components'")
    expect_error(plot(fit, components = "nope"), class = "fastdmm_bad_argument",
                 regexp = "^'components' names no component of the fit: nope")
  })
})

test_that("autoplot() draws fits and lists of fits with ggplot2", {
  skip_if_not_installed("ggplot2")
  fits <- plot_fit()
  fit <- fits[[3]]
  component_names(fit) <- c("Bacteroides", "Prevotella", "Ruminococcus")
  plot <- ggplot2::autoplot(fit, ntaxa = 4)
  expect_s3_class(plot, "ggplot")
  built <- ggplot2::ggplot_build(plot)
  expect_identical(nrow(built$data[[1]]), 12L)
  expect_identical(levels(plot$data$panel), unique(fastdmm:::driver_taxa(fit, 4)$title))
  expect_gt(draw_png(print(plot)), 0)
  criteria <- ggplot2::autoplot(fits, criteria = c("Laplace", "BIC"))
  expect_s3_class(criteria, "ggplot")
  expect_identical(nrow(criteria$data), 6L)
  expect_gt(draw_png(print(criteria)), 0)
  expect_gt(draw_png(print(ggplot2::autoplot(fits[[1]]))), 0)
})
