# Pictures of fits: the taxa that drive each component (base graphics and
# ggplot2), and the criteria over k for dmn_fits (ggplot2; base graphics in
# select.R).

#' Plot the taxa that drive each component
#'
#' For each component, a panel of horizontal bars: the `ntaxa` taxa with the
#' largest expected proportions in that component (its scaled Dirichlet
#' parameters, `fitted(fit, scale = TRUE)`, drawn as percentages), largest at
#' the top, each labelled with its percentage. Panels are titled with the component's name (see
#' [component_names()]) and weight. `autoplot()` draws the same with ggplot2
#' (when it is installed), for `dmn_fit` objects and, for `dmn_fits`, the
#' criteria against `k` as [plot.dmn_fits()] does.
#'
#' @param x,object A fitted model, as returned by [dmn_fit()] (for
#'   `autoplot()`, also a `dmn_fits`).
#' @param ntaxa Number of taxa shown per component.
#' @param components Components to show, by index or name; all by default.
#' @param col Bar colours, recycled over the components shown.
#' @param criteria For `dmn_fits`: the criteria to draw, any of `"Laplace"`,
#'   `"BIC"`, `"AIC"`, `"NLE"`.
#' @param ... Passed on to [graphics::barplot()] by `plot()`; `autoplot()`
#'   takes none (anything given is an error).
#' @return `plot()` returns `x` invisibly; `autoplot()` returns a ggplot
#'   object.
#' @seealso `heatmapdmn()` for samples and taxa together, [plot.dmn_fits()].
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(30, 10, 5, 2, 1, 1), c(1, 2, 4, 8, 16, 32))
#' rownames(alpha) <- c("Bacteroides", "Faecalibacterium", "Roseburia",
#'                      "Ruminococcus", "Blautia", "Prevotella")
#' counts <- rdmm(60, alpha, pi = c(0.6, 0.4), depth = 500)
#' fit <- dmn_fit(counts, k = 2, seed = 1, threads = 1)
#' plot(fit, ntaxa = 4)
#' component_names(fit) <- c("Bacteroides-rich", "Prevotella-rich")
#' plot(fit, ntaxa = 4)
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   ggplot2::autoplot(fit, ntaxa = 4)
#' }
plot.dmn_fit <- function(x, ntaxa = 10, components = NULL, col = NULL, ...) {
  if (!is.null(col)) check_colours(col, "col")
  drivers <- driver_taxa(x, ntaxa, components, "x")
  panels <- split(drivers, drivers$component)[unique(drivers$component)]
  n_panels <- length(panels)
  col <- rep_len(col %||% component_palette(ncol(x$fit$Estimate))[unique(drivers$index)],
                 n_panels)

  columns <- ceiling(sqrt(n_panels))
  rows <- ceiling(n_panels / columns)
  old <- graphics::par(no.readonly = TRUE)
  on.exit(graphics::par(old), add = TRUE)
  # Room on the left for the longest taxon name of any panel, in inches.
  label_width <- max(graphics::strwidth(drivers$taxon, units = "inches", cex = 0.8))
  graphics::par(mfrow = c(rows, columns), mai = c(0.6, label_width + 0.15, 0.45, 0.15),
                mgp = c(1.7, 0.5, 0), cex = 1)
  for (p in seq_len(n_panels)) {
    panel <- panels[[p]]
    # barplot draws the first bar at the bottom: reverse so the largest is on top.
    panel <- panel[rev(seq_len(nrow(panel))), , drop = FALSE]
    percent <- 100 * panel$proportion
    mids <- graphics::barplot(percent, names.arg = panel$taxon, horiz = TRUE,
                              las = 1, col = col[p], border = NA,
                              xlim = c(0, max(percent) * 1.25),
                              cex.names = 0.8, cex.axis = 0.8,
                              xlab = "Expected proportion (%)", cex.lab = 0.8, ...)
    graphics::text(percent, mids, sprintf("%.1f%%", percent), pos = 4, cex = 0.7, xpd = TRUE)
    graphics::title(main = panel$title[1L], cex.main = 0.9, font.main = 2)
  }
  invisible(x)
}

# The top `ntaxa` taxa of each chosen component: a data.frame of component
# (name), index, title, taxon, proportion and rank (1 = largest), components
# in order and taxa by decreasing proportion within each.
driver_taxa <- function(fit, ntaxa, components = NULL, arg = "object") {
  check_fit(fit, arg)
  ntaxa <- check_whole_number(ntaxa, "ntaxa", min = 1)
  proportions <- fitted(fit, scale = TRUE)
  names <- component_names(fit)
  taxa <- rownames(proportions) %||% paste0("taxon", seq_len(nrow(proportions)))
  index <- select_components(components, names)
  weights <- as.vector(fit$mixture$Weight)
  rows <- lapply(index, function(k) {
    top <- order(proportions[, k], decreasing = TRUE)[seq_len(min(ntaxa, nrow(proportions)))]
    data.frame(
      component = names[k], index = k,
      title = sprintf("%s (weight %.0f%%)", names[k], 100 * weights[k]),
      taxon = taxa[top], proportion = unname(proportions[top, k]),
      rank = seq_along(top), stringsAsFactors = FALSE
    )
  })
  do.call(rbind, rows)
}

select_components <- function(components, names) {
  if (is.null(components)) return(seq_along(names))
  if (length(components) == 0L) {
    abort_input("components", "is empty: give NULL for every component, or some of them",
                "fastdmm_bad_argument")
  }
  if (is.character(components)) {
    unknown <- setdiff(components, names)
    if (length(unknown) > 0L) {
      abort_input("components", sprintf("names no component of the fit: %s (it has %s)",
                                        format_names(unknown), format_names(names)),
                  "fastdmm_bad_argument")
    }
    return(unique(match(components, names)))
  }
  ok <- is.numeric(components) && length(components) >= 1L && !anyNA(components) &&
    all(components == round(components)) && all(components >= 1) &&
    all(components <= length(names))
  if (!ok) {
    abort_input("components", sprintf("must be component names or indices from 1 to %d",
                                      length(names)), "fastdmm_bad_argument")
  }
  unique(as.integer(components))
}

# Dark2 (ColorBrewer) then greys: distinct, colour-blind-friendly first colours.
component_palette <- function(k) {
  rep_len(c("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
            "#a6761d", "#666666"), k)
}

#' @rdname plot.dmn_fit
#' @exportS3Method ggplot2::autoplot
autoplot.dmn_fit <- function(object, ntaxa = 10, components = NULL, ...) {
  check_dots_empty(list(...), "autoplot()")
  require_package("ggplot2", "object", "is to be drawn by autoplot()")
  drivers <- driver_taxa(object, ntaxa, components)
  # One y level per (component, taxon), so each panel orders its own taxa;
  # the labels drop the component part again.
  drivers$key <- paste(drivers$taxon, drivers$index, sep = "\r")
  drivers$key <- factor(drivers$key, levels = rev(unique(drivers$key)))
  drivers$panel <- factor(drivers$title, levels = unique(drivers$title))
  drivers$label <- sprintf("%.1f%%", 100 * drivers$proportion)
  drivers$component <- factor(drivers$component, levels = unique(drivers$component))
  colours <- stats::setNames(component_palette(ncol(object$fit$Estimate))[unique(drivers$index)],
                             levels(drivers$component))
  drivers$percent <- 100 * drivers$proportion
  ggplot2::ggplot(drivers, ggplot2::aes(x = percent, y = key, fill = component)) +
    ggplot2::geom_col(show.legend = FALSE) +
    ggplot2::geom_text(ggplot2::aes(label = label), hjust = -0.1, size = 2.8) +
    ggplot2::facet_wrap(~panel, scales = "free") +
    ggplot2::scale_y_discrete(labels = function(keys) sub("\r[0-9]+$", "", keys)) +
    ggplot2::scale_x_continuous(expand = ggplot2::expansion(mult = c(0, 0.3))) +
    ggplot2::scale_fill_manual(values = colours) +
    ggplot2::labs(x = "Expected proportion (%)", y = NULL) +
    ggplot2::theme_minimal()
}

#' @rdname plot.dmn_fit
#' @exportS3Method ggplot2::autoplot
autoplot.dmn_fits <- function(object, criteria = c("Laplace", "BIC", "AIC"), ...) {
  check_dots_empty(list(...), "autoplot()")
  require_package("ggplot2", "object", "is to be drawn by autoplot()")
  criteria <- check_choice(criteria, c("Laplace", "BIC", "AIC", "NLE"), "criteria",
                           several_ok = TRUE)
  check_fits(object, "object")
  table <- as.data.frame(object)
  long <- do.call(rbind, lapply(criteria, function(criterion) {
    values <- table[[criterion]]
    data.frame(k = table$k, criterion = criterion, value = values,
               best = values == min(values), stringsAsFactors = FALSE)
  }))
  long$criterion <- factor(long$criterion, levels = criteria)
  colours <- c(Laplace = "#1b9e77", BIC = "#d95f02", AIC = "#7570b3", NLE = "grey40")[criteria]
  ggplot2::ggplot(long, ggplot2::aes(x = k, y = value, colour = criterion)) +
    ggplot2::geom_line() +
    ggplot2::geom_point() +
    ggplot2::geom_point(data = long[long$best, , drop = FALSE], size = 3.5) +
    ggplot2::scale_x_continuous(breaks = table$k) +
    ggplot2::scale_colour_manual(values = colours) +
    ggplot2::labs(x = "Number of components k", y = "Criterion (NLE scale)", colour = NULL,
                  caption = "large point: the smallest value of each criterion") +
    ggplot2::theme_minimal()
}

# Columns named in ggplot2::aes() above.
utils::globalVariables(c("percent", "key", "component", "label", "k", "value",
                         "criterion"))
