# Draws the README's figure, man/figures/README-plot.png: the taxa that drive
# each community type of the Twins data (plot() of the Laplace-best fit).
# Run from the package root after installing fastdmm:
#   Rscript inst/scripts/readme-figure.R
# Needs DirichletMultinomial for the Twins table.
library(fastdmm)
if (!requireNamespace("DirichletMultinomial", quietly = TRUE)) {
  stop("the README figure uses the Twins table of DirichletMultinomial; install it first",
       call. = FALSE)
}
file <- system.file(package = "DirichletMultinomial", "extdata", "Twins.csv")
count <- t(as.matrix(utils::read.csv(file, row.names = 1)))
fits <- dmn_fit(count, k = 1:7, nstart = 3, seed = 1, threads = 2)
best <- best_fit(fits, by = "laplace")
# Name each component after the taxon most enriched in it relative to the
# single-component fit, among taxa making up at least 1% of it.
p0 <- fitted(fits[[1]], scale = TRUE)
pk <- fitted(best, scale = TRUE)
enrichment <- log(pk / as.vector(p0))
enrichment[pk < 0.01] <- -Inf
component_names(best) <- make.unique(paste(rownames(pk)[apply(enrichment, 2, which.max)], "type"))
dir.create(file.path("man", "figures"), recursive = TRUE, showWarnings = FALSE)
output <- file.path("man", "figures", "README-plot.png")
grDevices::png(output, width = 1600, height = 1200, res = 200)
plot(best, ntaxa = 8)
invisible(grDevices::dev.off())
message("wrote ", output)
