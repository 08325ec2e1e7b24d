# heatmapdmn(): the reference's picture, drawn to a file device. The choice of
# taxa is checked against an independent computation (the reference vignette's
# formula), the picture by comparing files drawn from equivalent inputs, and
# the graphical state by comparing par() before and after.

heatmap_data <- local({
  data <- NULL
  function() {
    if (is.null(data)) {
      alpha <- cbind(c(30, 10, 4, 2, 1, 1, 3, 2), c(2, 3, 20, 30, 2, 1, 3, 2),
                     c(1, 2, 3, 5, 25, 30, 3, 2))
      rownames(alpha) <- paste0("taxon", 1:8)
      counts <- with_seed(21, rdmm(45, alpha, depth = 300))
      fit1 <- dmn_fit(counts, 1, seed = 1, threads = 1, nstart = 1)
      fit3 <- dmn_fit(counts, 3, seed = 1, threads = 1, nstart = 1)
      data <<- list(counts = counts, fit1 = fit1, fit3 = fit3)
    }
    data
  }
})

# Draws `code` on a png device in tempdir() and returns the file's bytes and
# the value of `code`; the device is closed and the file removed afterwards.
draw_png <- function(code) {
  file <- tempfile("heatmap", fileext = ".png")
  grDevices::png(file, width = 480, height = 360)
  device <- grDevices::dev.cur()
  value <- tryCatch(code, finally = grDevices::dev.off(device))
  on.exit(unlink(file))
  list(value = value, bytes = readBin(file, "raw", file.info(file)$size))
}

# The ntaxa taxa whose expected proportions differ most between the fits,
# most differing first, as the reference's vignette computes the difference.
top_taxa <- function(fit1, fitN, ntaxa) {
  p1 <- fitted(fit1, scale = TRUE)
  pN <- fitted(fitN, scale = TRUE)
  difference <- rowSums(abs(pN - as.vector(p1)))
  names(sort(difference, decreasing = TRUE))[seq_len(ntaxa)]
}

test_that("heatmapdmn() draws the taxa that differ most between the fits", {
  d <- heatmap_data()
  drawn <- draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 5))
  expect_identical(drawn$value, top_taxa(d$fit1, d$fit3, 5))
  expect_gt(length(drawn$bytes), 1000)
  # ntaxa beyond the number of taxa draws them all.
  all <- draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 100))
  expect_identical(all$value, top_taxa(d$fit1, d$fit3, 8))
  one <- draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 1))
  expect_identical(one$value, top_taxa(d$fit1, d$fit3, 1))
  # The value is invisible.
  local_file_device(".png")
  expect_invisible(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 3))
})

test_that("heatmapdmn() restores the graphical parameters and the layout", {
  d <- heatmap_data()
  local_file_device(".png")
  graphics::par(mar = c(2, 3, 4, 5), cex = 0.9)
  before <- graphics::par(no.readonly = TRUE)
  heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 4)
  expect_identical(graphics::par(no.readonly = TRUE), before)
  # An error after drawing started restores them too.
  expect_error(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 4, transform = function(x) stop("boom")),
               "boom")
  expect_identical(graphics::par(no.readonly = TRUE), before)
})

test_that("heatmapdmn() draws the same picture from a matrix, data.frame or dgCMatrix", {
  d <- heatmap_data()
  dense <- draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 6))
  frame <- draw_png(heatmapdmn(as.data.frame(d$counts), d$fit1, d$fit3, ntaxa = 6))
  expect_identical(frame$bytes, dense$bytes)
  # Columns and rows of count are matched by name.
  shuffled <- d$counts[nrow(d$counts):1, c(8:1)]
  expect_identical(draw_png(heatmapdmn(shuffled, d$fit1, d$fit3, ntaxa = 6))$bytes, dense$bytes)
  # Another transform or palette changes the picture.
  expect_false(identical(draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 6,
                                             transform = log1p))$bytes, dense$bytes))
  expect_false(identical(draw_png(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 6,
                                             col = grDevices::gray.colors(9)))$bytes,
                         dense$bytes))
  skip_if_not_installed("Matrix")
  sparse <- Matrix::Matrix(d$counts, sparse = TRUE)
  expect_s4_class(sparse, "dgCMatrix")
  expect_identical(draw_png(heatmapdmn(sparse, d$fit1, d$fit3, ntaxa = 6))$bytes, dense$bytes)
})

test_that("heatmapdmn() draws components without samples and components of one sample", {
  d <- heatmap_data()
  # Posteriors where component 2 is nobody's most probable component and
  # component 3 is only the first sample's.
  fit <- d$fit3
  posterior <- matrix(c(0.6, 0.3, 0.1), nrow(fit$group), 3, byrow = TRUE,
                      dimnames = dimnames(fit$group))
  posterior[1, ] <- c(0.1, 0.2, 0.7)
  fit$group <- posterior
  expect_identical(unname(tabulate(mixture(fit, assign = TRUE), 3)), c(44L, 0L, 1L))
  drawn <- draw_png(heatmapdmn(d$counts, d$fit1, fit, ntaxa = 5))
  expect_identical(drawn$value, top_taxa(d$fit1, fit, 5))
  # With no component left empty the picture differs (the empty one has no
  # sample panel).
  expect_false(identical(drawn$bytes, draw_png(heatmapdmn(d$counts, d$fit1, d$fit3,
                                                          ntaxa = 5))$bytes))
})

test_that("heatmapdmn() refuses fits and tables that do not match", {
  d <- heatmap_data()
  local_file_device(".png")
  other <- d$counts[, 1:7]
  fit_other <- dmn_fit(other, 1, seed = 1, threads = 1, nstart = 1)
  expect_error(heatmapdmn(d$counts, fit_other, d$fit3), class = "fastdmm_taxa_mismatch",
               regexp = "^'fit1' has other taxa than 'fitN': taxon8")
  expect_error(heatmapdmn(other, d$fit1, d$fit3, ntaxa = 8), class = "fastdmm_taxa_mismatch",
               regexp = "^'count' lacks taxa of the fits: taxon8")
  expect_error(heatmapdmn(d$counts[-1, ], d$fit1, d$fit3), class = "fastdmm_sample_mismatch",
               regexp = "^'count' lacks samples of 'fitN': sample1")
  unnamed <- unname(d$counts)
  expect_error(heatmapdmn(unnamed[-1, ], dmn_fit(unnamed, 1, seed = 1, threads = 1, nstart = 1),
                          dmn_fit(unnamed, 2, seed = 1, threads = 1, nstart = 1)),
               class = "fastdmm_sample_mismatch", regexp = "has 44 samples \\(rows\\) but 'fitN'")
  expect_error(heatmapdmn(d$counts, list(), d$fit3), class = "fastdmm_bad_argument",
               regexp = "^'fit1' must be a dmn_fit")
  expect_error(heatmapdmn(d$counts, d$fit1, d$fit3, ntaxa = 0), class = "fastdmm_bad_argument",
               regexp = "^'ntaxa'")
  expect_error(heatmapdmn(d$counts, d$fit1, d$fit3, transform = "sqrt"),
               class = "fastdmm_bad_argument", regexp = "^'transform'")
  expect_error(heatmapdmn(d$counts, d$fit1, d$fit3, lblwidth = -1),
               class = "fastdmm_bad_argument", regexp = "^'lblwidth'")
  expect_error(heatmapdmn(as.list(d$counts), d$fit1, d$fit3), class = "fastdmm_not_a_table")
})

test_that("heatmapdmn() works without taxon or sample names", {
  d <- heatmap_data()
  unnamed <- unname(d$counts)
  fit1 <- dmn_fit(unnamed, 1, seed = 1, threads = 1, nstart = 1)
  fit3 <- dmn_fit(unnamed, 3, seed = 1, threads = 1, nstart = 1)
  drawn <- draw_png(heatmapdmn(unnamed, fit1, fit3, ntaxa = 4))
  expect_identical(drawn$value, as.character(match(top_taxa(d$fit1, d$fit3, 4),
                                                   colnames(d$counts))))
})

test_that("heatmapdmn() selects the reference's taxa on the Twins data", {
  skip_if_not_installed("DirichletMultinomial")
  file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
  count <- t(as.matrix(utils::read.csv(file, row.names = 1)))
  fit1 <- dmn_fit(count, 1, seed = 1, threads = 2, nstart = 1)
  fit4 <- dmn_fit(count, 4, seed = 1, threads = 2, nstart = 1)
  drawn <- draw_png(heatmapdmn(count, fit1, fit4, 30))
  expect_identical(drawn$value, top_taxa(fit1, fit4, 30))
  # The vignette's picture (from its stored fits) shows these taxa first
  # ("Uknown" is the data's spelling).
  expect_identical(drawn$value[1:4], c("Bacteroides", "Uknown", "Faecalibacterium", "Prevotella"))
})
