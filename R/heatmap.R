# The reference's heatmap of samples by component: counts of the taxa that
# separate the components, next to each component's expected proportions.

# A 9-colour sequential gradient from pale yellow to dark red (HCL-based, the
# "YlOrRd" palette of grDevices::hcl.colors(9, "YlOrRd", rev = TRUE)).
heatmap_colours <- c("#FFFFC8", "#FDEEAE", "#F9D67E", "#F6B732", "#F39300",
                     "#EE6700", "#DA3500", "#AF1100", "#7D0025")

#' Heatmap of samples grouped by mixture component
#'
#' Draws the picture of `DirichletMultinomial::heatmapdmn()`: for each
#' component of `fitN`, an image of the (transformed) counts of the samples
#' assigned to it (columns of the image, one per sample) for the `ntaxa` taxa
#' whose expected proportions differ most between `fit1` and `fitN`, followed
#' by a narrow image of that component's (transformed) expected proportions;
#' taxon names are written on the right, the most differing taxon at the top.
#' Each image scales its colours to its own range, as the reference does.
#'
#' A taxon's difference is `sum_k |p_Nk - p_1|`, where `p_Nk` are the expected
#' proportions (`fitted(fitN, scale = TRUE)`) of component k of `fitN` and
#' `p_1` those of `fit1`, usually the single-component fit (when `fit1` has
#' several components, its weighted mean proportions are used).
#'
#' Differences from the reference: taxa are matched by name between the two
#' fits and `count`, and samples between `fitN` and `count` (by position when
#' names are missing), with a clear error when they do not match; components
#' to which no sample is assigned get only their proportions' image (the
#' reference fails); graphical parameters, the layout included, are restored
#' on exit; sparse `Matrix` tables are densified only for the plotted taxa.
#'
#' @param count The count table the fits were made from, samples x taxa: a
#'   matrix, data.frame or `Matrix` sparse matrix.
#' @param fit1 A reference fit, usually with one component (`dmn_fit(count,
#'   1)`).
#' @param fitN The fit whose components are drawn.
#' @param ntaxa Number of taxa to draw (at most the number of taxa).
#' @param ... Unused; anything passed here is refused.
#' @param transform Function applied to counts and proportions before drawing.
#' @param lblwidth Width of the label panel, in the units of the sample panels
#'   (one per sample).
#' @param assay.type For a SummarizedExperiment `count`: the assay holding the
#'   counts (see [dmn_fit()]).
#' @param col Colours of the images, from low to high; by default a 9-colour
#'   gradient from pale yellow to dark red.
#' @return The names (or indices, without names) of the drawn taxa, most
#'   differing first, invisibly.
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1, 2), c(1, 1, 5, 20, 2))
#' counts <- rdmm(40, alpha, depth = 300)
#' fit1 <- dmn_fit(counts, 1, seed = 1, threads = 1)
#' fit2 <- dmn_fit(counts, 2, seed = 1, threads = 1)
#' heatmapdmn(counts, fit1, fit2, ntaxa = 5)
heatmapdmn <- function(count, fit1, fitN, ntaxa = 30, ..., transform = sqrt,
                       lblwidth = 0.2 * nrow(count), col = heatmap_colours,
                       assay.type = NULL) {
  check_dots_empty(list(...), "heatmapdmn()")
  count <- check_count_table(count, "count", assay.type)
  check_fit(fit1, "fit1")
  check_fit(fitN, "fitN")
  ntaxa <- check_whole_number(ntaxa, "ntaxa", min = 1)
  if (!is.function(transform)) {
    abort_input("transform", sprintf("must be a function, not %s", describe_class(transform)),
                "fastdmm_bad_argument")
  }
  if (!is.numeric(lblwidth) || length(lblwidth) != 1L || !is.finite(lblwidth) ||
      lblwidth <= 0) {
    abort_input("lblwidth", "must be a single positive number", "fastdmm_bad_argument")
  }
  check_colours(col, "col")

  p1 <- fitted(fit1, scale = TRUE)
  pN <- fitted(fitN, scale = TRUE)
  taxa_names <- rownames(pN)
  if (!is.null(rownames(p1)) && !is.null(taxa_names)) {
    if (!setequal(rownames(p1), taxa_names) || nrow(p1) != nrow(pN)) {
      abort_input("fit1", sprintf(
        "has other taxa than 'fitN': %s",
        format_names(union(setdiff(rownames(p1), taxa_names), setdiff(taxa_names, rownames(p1))))
      ), "fastdmm_taxa_mismatch")
    }
    p1 <- p1[taxa_names, , drop = FALSE]
  } else if (nrow(p1) != nrow(pN)) {
    abort_input("fit1", sprintf("has %d taxa but 'fitN' has %d", nrow(p1), nrow(pN)),
                "fastdmm_taxa_mismatch")
  }
  baseline <- drop(p1 %*% fit1$mixture$Weight)
  difference <- rowSums(abs(pN - baseline))
  shown <- utils::head(order(difference, decreasing = TRUE), min(ntaxa, nrow(pN)))
  # Bottom to top in the images, so that the most differing taxon is on top.
  shown <- rev(shown)
  proportions <- pN[shown, , drop = FALSE]

  columns <- heatmap_columns(count, taxa_names, shown, nrow(pN))
  # Component indices, also when components are named (then a factor).
  assigned <- as.integer(mixture(fitN, assign = TRUE))
  rows <- heatmap_rows(count, rownames(fitN$group), length(assigned))
  # Only the plotted taxa are densified (a sparse table stays sparse until here).
  counts <- as.matrix(count[rows, columns, drop = FALSE])
  if (!is.numeric(counts)) {
    abort_input("count", "must hold numeric counts", "fastdmm_not_numeric")
  }

  n_components <- ncol(pN)
  members <- split(seq_along(assigned), factor(assigned, levels = seq_len(n_components)))
  occupied <- lengths(members) > 0L
  proportion_width <- 0.15 * length(assigned) / sum(occupied)
  widths <- unlist(lapply(seq_len(n_components), function(m) {
    if (occupied[[m]]) c(length(members[[m]]), proportion_width) else proportion_width
  }))
  widths <- c(widths, lblwidth)

  old_par <- graphics::par(no.readonly = TRUE)
  # Restoring mfrow/mfcol (which undoes the layout) resets cex to 1, so cex is
  # set again afterwards.
  on.exit({
    graphics::par(old_par)
    graphics::par(cex = old_par$cex)
  }, add = TRUE)
  graphics::layout(matrix(seq_along(widths), nrow = 1L), widths = widths)
  graphics::par(mar = c(1, 0, 1, 0))
  n_shown <- length(shown)
  draw <- function(z) {
    # Cell boundaries 0..n: works for one sample or one taxon too.
    graphics::image(x = seq(0, nrow(z)), y = seq(0, ncol(z)), z = z, col = col,
                    xaxt = "n", yaxt = "n", xlab = "", ylab = "")
  }
  for (m in seq_len(n_components)) {
    if (occupied[[m]]) draw(transform(counts[members[[m]], , drop = FALSE]))
    draw(t(transform(proportions[, m, drop = FALSE])))
  }
  graphics::plot.new()
  graphics::plot.window(xlim = c(0, 1), ylim = c(0, n_shown), xaxs = "i", yaxs = "i")
  labels <- rownames(proportions) %||% as.character(shown)
  graphics::text(0.05, seq_len(n_shown) - 0.5, labels, adj = c(0, 0.5), xpd = NA,
                 cex = min(1, graphics::par("cex.axis")))
  invisible(rev(labels))
}

# Columns of `count` holding the model's taxa `shown` (indices into the
# model's taxa): by name when both have names, else by position.
heatmap_columns <- function(count, taxa_names, shown, n_taxa) {
  if (!is.null(taxa_names) && !is.null(colnames(count))) {
    missing_taxa <- setdiff(taxa_names[shown], colnames(count))
    if (length(missing_taxa) > 0L) {
      abort_input("count", sprintf("lacks taxa of the fits: %s", format_names(missing_taxa)),
                  "fastdmm_taxa_mismatch")
    }
    return(match(taxa_names[shown], colnames(count)))
  }
  if (ncol(count) != n_taxa) {
    abort_input("count", sprintf("has %d taxa (columns) but the fits have %d", ncol(count),
                                 n_taxa), "fastdmm_taxa_mismatch")
  }
  shown
}

# Rows of `count` holding the fitted samples: by name when both have names,
# else by position.
heatmap_rows <- function(count, sample_names, n_samples) {
  if (!is.null(sample_names) && !is.null(rownames(count))) {
    missing_samples <- setdiff(sample_names, rownames(count))
    if (length(missing_samples) > 0L) {
      abort_input("count", sprintf("lacks samples of 'fitN': %s",
                                   format_names(missing_samples)), "fastdmm_sample_mismatch")
    }
    return(match(sample_names, rownames(count)))
  }
  if (nrow(count) != n_samples) {
    abort_input("count", sprintf("has %d samples (rows) but 'fitN' was fitted to %d",
                                 nrow(count), n_samples), "fastdmm_sample_mismatch")
  }
  seq_len(n_samples)
}
