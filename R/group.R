# Per-group models: one Dirichlet-multinomial mixture per level of a phenotype,
# used as a classifier (dmngroup, predict), cross-validated (cvdmngroup) and
# judged by ROC curves (roc); csubset() selects one group's samples.

#' Samples of one or more groups
#'
#' Selects the rows of a count table whose phenotype is one of `val`, as
#' `DirichletMultinomial::csubset()`.
#'
#' @param val Phenotype value(s) to keep.
#' @param x A count table, samples x taxa: a matrix, data.frame or `Matrix`
#'   sparse matrix (such as a `dgCMatrix`).
#' @param pheno The phenotype of each sample, one value per row of `x`.
#' @param cidx Which taxa (columns) to keep: `TRUE` (default) keeps all of them,
#'   so that models fitted to different subsets share their taxa; `FALSE` keeps
#'   only the taxa with a non-zero count in the selected samples; any other
#'   value is used as a column index.
#' @return `x[pheno %in% val, cidx]`, of the same class as `x`. Unlike the
#'   reference, a single selected sample stays a one-row table (never
#'   `drop`ped to a vector), and `cidx = FALSE` works for sparse matrices.
#' @export
#' @examples
#' counts <- matrix(c(5, 0, 3, 2, 0, 4, 1, 0, 6), 3, 3,
#'                  dimnames = list(c("s1", "s2", "s3"), c("a", "b", "c")))
#' pheno <- c("x", "y", "x")
#' csubset("x", counts, pheno)
#' csubset("x", counts, pheno, cidx = FALSE)
csubset <- function(val, x, pheno, cidx = TRUE) {
  x <- check_count_table(x, "x")
  if (is.null(pheno) || !is.atomic(pheno) || !is.null(dim(pheno))) {
    abort_input("pheno", sprintf("must be a vector with one value per sample, not %s",
                                 describe_value(pheno)), "fastdmm_bad_argument")
  }
  if (length(pheno) != nrow(x)) {
    abort_input("pheno", sprintf("has %d values but 'x' has %d samples (rows)",
                                 length(pheno), nrow(x)), "fastdmm_bad_argument")
  }
  if (!is.null(val) && (!is.atomic(val) || !is.null(dim(val)))) {
    abort_input("val", sprintf("must be a vector of phenotype values, not %s",
                               describe_value(val)), "fastdmm_bad_argument")
  }
  rows <- pheno %in% val
  if (!isTRUE(cidx) && !isFALSE(cidx)) {
    cidx <- check_index(cidx, ncol(x), colnames(x), "cidx")
  }
  if (isFALSE(cidx)) {
    selected <- x[rows, , drop = FALSE]
    column_sums <- if (inherits(x, "Matrix")) Matrix::colSums(selected) else colSums(selected)
    cidx <- column_sums != 0
  }
  x[rows, cidx, drop = FALSE]
}

#' Fit one Dirichlet-multinomial mixture per group
#'
#' For each level of `group`, fits [dmn_fit()] with every `k` to that level's
#' samples (all taxa kept, see [csubset()]) and keeps the fit with the smallest
#' Laplace criterion, as `DirichletMultinomial::dmngroup()`. The result
#' classifies new samples with [predict()][predict.dmn_group].
#'
#' The fits of one level run through [dmn_fit()]'s vector `k`, so a
#' `future::plan()` spreads them over workers and progressr reports them (see
#' [dmn_fit()]); the levels are fitted one after the other.
#'
#' @param count A count table, samples x taxa (any input [dmn_fit()] accepts).
#' @param group The group of each sample (a factor, or a vector made into one
#'   with [factor()]); one value per row of `count`, no `NA`. Every level,
#'   unused ones included, needs at least `max(k)` samples.
#' @param k Numbers of components to try for every group.
#' @param ... Passed to [dmn_fit()], by name (checked before any fit starts;
#'   other names are an error naming them): `seed`, `nstart`, `threads`, `verbose`,
#'   `hessian`, `max_iter`, `tol`. `hessian = "reference"` reproduces the
#'   reference's (inexact, for k >= 2) Laplace criterion and hence its choice
#'   of `k`.
#' @param simplify If `TRUE` (default), keep the best fit of each group;
#'   otherwise return all fits.
#' @param assay.type For a SummarizedExperiment `count`: the assay holding the
#'   counts (see [dmn_fit()]).
#' @return With `simplify = TRUE`, an object of class `dmn_group`: a list of
#'   `dmn_fit`, one per level of `group` and named by it, with `print()`,
#'   `summary()` (a data.frame with columns `k`, `samples`, `taxa`, `NLE`,
#'   `LogDet`, `Laplace`, `BIC`, `AIC` and one row per group), `predict()` and
#'   `[` methods. With `simplify = FALSE`, a list named by the levels of
#'   `group` holding each level's `dmn_fits` (all values of `k`, even when
#'   there is one); unlike the reference, which returns a flat unnamed list.
#' @references Holmes I, Harris K, Quince C (2012). Dirichlet multinomial
#'   mixtures: generative models for microbial metagenomics. PLoS ONE 7(2):
#'   e30126. \doi{10.1371/journal.pone.0030126}
#' @seealso [predict.dmn_group()], [cvdmngroup()], [roc()]
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1), c(1, 1, 5, 20), c(5, 20, 5, 1))
#' lean <- rdmm(30, alpha[, 1:2], depth = 300)
#' obese <- rdmm(30, alpha[, 2:3], depth = 300)
#' counts <- rbind(lean, obese)
#' rownames(counts) <- paste0("s", 1:60)
#' group <- rep(c("Lean", "Obese"), each = 30)
#' grp <- dmngroup(counts, group, k = 1:2, seed = 1, threads = 1)
#' grp
#' summary(grp)
#' table(group, predict(grp, counts, assign = TRUE))
dmngroup <- function(count, group, k, ..., simplify = TRUE, assay.type = NULL) {
  call <- match.call()
  dots <- check_fit_args(list(...), dmngroup_fit_args, "dmngroup() or dmn_fit()")
  simplify <- check_flag(simplify, "simplify")
  count <- check_count_table(count, "count", assay.type)
  # The table is read and checked once; each level's samples are taken from its
  # compressed form (all taxa kept, as csubset() does).
  table <- as_counts(count, "count", threads = dots[["threads"]])
  check_enough_taxa(table, "count")
  group <- check_group(group, count, "group", "count")
  if (missing(k)) {
    abort_input("k", "is missing: give the numbers of components to try",
                "fastdmm_bad_argument")
  }
  k <- check_components(k)
  sizes <- table(group)
  too_small <- sizes < max(k)
  if (any(too_small)) {
    abort_input("group", sprintf(
      "has level%s with fewer samples than max(k) = %d: %s; drop %s (droplevels()) or lower 'k'",
      plural(sum(too_small)), max(k),
      format_names(sprintf("%s (%d)", names(sizes)[too_small], sizes[too_small])),
      if (sum(too_small) == 1L) "it" else "them"
    ), "fastdmm_group_too_small")
  }
  group_levels <- stats::setNames(nm = levels(group))
  fits <- lapply(group_levels, function(level) {
    dmn_fit(subset_counts(table, which(group == level)), k = k, ...)
  })
  if (!simplify) {
    return(lapply(fits, function(fit) {
      if (inherits(fit, "dmn_fit")) new_dmn_fits(list(fit), call) else fit
    }))
  }
  new_dmn_group(lapply(fits, best_fit, by = "laplace"), call)
}

# The dmn_fit() arguments that dmngroup() and cvdmngroup() pass on through
# `...` (the table, k and the assay are their own).
dmngroup_fit_args <- setdiff(names(formals(dmn_fit)), c("counts", "k", "assay.type"))
cvdmngroup_fit_args <- setdiff(dmngroup_fit_args, "verbose")

new_dmn_group <- function(fits, call = NULL) {
  structure(fits, class = c("dmn_group", "list"), call = call)
}

#' Print, summarise and subset per-group models
#'
#' @param x,object A `dmn_group` object from [dmngroup()].
#' @param i Indices or names of the groups to keep.
#' @param ... Unused.
#' @return `summary()`: a data.frame with one row per group (named by it) and
#'   columns `k`, `samples`, `taxa`, `NLE`, `LogDet`, `Laplace`, `BIC` and
#'   `AIC`, as the reference's `summary()` of a `DMNGroup`. `print()`: `x`,
#'   invisibly. `[`: a `dmn_group` of the selected groups.
#' @name dmn_group
#' @examples
#' set.seed(1)
#' counts <- rdmm(40, cbind(c(20, 5, 1, 1), c(1, 1, 5, 20)), depth = 300)
#' group <- c("a", "b")[attr(counts, "component")]
#' grp <- dmngroup(counts, group, k = 1:2, seed = 1, threads = 1)
#' summary(grp)
#' grp["b"]
NULL

#' @rdname dmn_group
#' @export
summary.dmn_group <- function(object, ...) {
  goodness <- t(vapply(object, goodnessOfFit, criteria_template))
  data.frame(
    k = vapply(object, function(fit) ncol(fit$group), integer(1)),
    samples = vapply(object, function(fit) nrow(fit$group), integer(1)),
    taxa = vapply(object, function(fit) nrow(fit$fit$Estimate), integer(1)),
    goodness,
    row.names = names(object),
    check.names = FALSE
  )
}

#' @rdname dmn_group
#' @export
print.dmn_group <- function(x, ...) {
  cat("class:", class(x)[1L], "\n")
  cat(sprintf("one Dirichlet-multinomial mixture for each of %d group%s\n",
              length(x), plural(length(x))))
  cat("summary:\n")
  print(summary(x))
  invisible(x)
}

#' @rdname dmn_group
#' @export
`[.dmn_group` <- function(x, i) {
  new_dmn_group(unclass(x)[check_index(i, length(x), names(x), "i")], attr(x, "call"))
}

#' Classify samples with per-group models
#'
#' The posterior probability of each group for each sample: group g has prior
#' probability `n_g / n` (its share of the training samples) and likelihood
#' `sum_k pi_gk DM(x | alpha_gk)` under its mixture, computed on the log scale
#' (log-sum-exp) so that no likelihood underflows.
#'
#' Unlike `DirichletMultinomial`'s `predict()` for a `DMNGroup`, which stops
#' when there are more than two groups, this works for any number of groups;
#' with two groups it gives the reference's probabilities.
#'
#' @param object A `dmn_group` object from [dmngroup()].
#' @param newdata A count table of samples to classify (samples x the models'
#'   taxa, matched by name when both have names) or one sample as a numeric
#'   vector.
#' @param ... Passed to [predict.dmn_fit()]: `threads` or `assay.type`;
#'   other arguments are an error naming them.
#' @param assign If `TRUE`, return the most probable group of each sample
#'   instead of the probabilities. An exact tie goes to the later group, as in
#'   the reference's two-group rule (group 1 only when its probability exceeds
#'   one half).
#' @return A samples x groups matrix of probabilities (rows sum to one; column
#'   names are the group names, row names the sample names), or with
#'   `assign = TRUE` a character vector of group names, named by sample (the
#'   reference's is unnamed).
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1), c(1, 1, 5, 20), c(5, 20, 5, 1))
#' counts <- rdmm(60, alpha, depth = 300)
#' group <- c("a", "b", "c")[attr(counts, "component")]
#' grp <- dmngroup(counts, group, k = 1, seed = 1, threads = 1)
#' head(predict(grp, counts))
#' table(group, predict(grp, counts, assign = TRUE))
#' predict(grp, c(10, 2, 1, 1))
predict.dmn_group <- function(object, newdata, ..., assign = FALSE) {
  check_dots(list(...), c("threads", "assay.type"), "predict() of a dmn_group")
  if (missing(newdata)) {
    abort_input("newdata", "is missing: give the samples to classify",
                "fastdmm_bad_argument")
  }
  assign <- check_flag(assign, "assign")
  if (length(object) == 0L) {
    abort_input("object", "has no groups", "fastdmm_bad_argument")
  }
  samples <- vapply(object, function(fit) nrow(fit$group), integer(1))
  log_prior <- log(samples / sum(samples))
  # log p(x, g) = log prior_g + log sum_k pi_gk exp(e_gk(x)), by log-sum-exp over
  # the components; predict(logevidence = TRUE) gives -e.
  log_joint <- lapply(seq_along(object), function(g) {
    log_evidence <- -predict(object[[g]], newdata, ..., logevidence = TRUE)
    terms <- log_evidence + rep(log(object[[g]]$mixture$Weight), each = nrow(log_evidence))
    matrix(log_prior[[g]] + row_log_sum_exp(terms), ncol = 1L,
           dimnames = list(rownames(log_evidence), NULL))
  })
  log_joint <- do.call(cbind, log_joint)
  colnames(log_joint) <- names(object)
  probability <- exp(log_joint - apply(log_joint, 1L, max))
  probability <- probability / rowSums(probability)
  if (assign) {
    best <- max.col(probability, ties.method = "last")
    return(stats::setNames(names(object)[best], rownames(probability)))
  }
  probability
}

row_log_sum_exp <- function(x) {
  offset <- apply(x, 1L, max)
  offset[!is.finite(offset)] <- 0
  offset + log(rowSums(exp(x - offset)))
}

#' Cross-validate per-group classifiers
#'
#' `ncv`-fold cross-validation of the classifier of [dmngroup()] with a fixed
#' number of components per group, as `DirichletMultinomial::cvdmngroup()`:
#' the samples are split at random into `ncv` folds (with R's random number
#' generator, so [set.seed()] makes the split reproducible); for each fold,
#' one model per group is fitted to the other folds' samples and the fold's
#' samples are classified with [predict()][predict.dmn_group].
#'
#' Folds run through [future.apply::future_lapply()] (with
#' `future.seed = TRUE`), so a `future::plan()` spreads them over workers and
#' the result is the same whatever the plan. When folds run side by side, each
#' fit gets one thread unless `threads` is given in `...`.
#'
#' @param ncv Number of folds, from 2 to the number of samples (which is
#'   leave-one-out).
#' @param count A count table, samples x taxa (any input [dmn_fit()] accepts).
#' @param k Number of components for each group: a named vector such as
#'   `c(Lean = 1, Obese = 3)`, one whole number per group, at most the
#'   group's number of samples.
#' @param z The group of each sample, one value per row of `count`, each one
#'   of `names(k)`.
#' @param ... Passed to [dmn_fit()], by name: `seed`, `nstart`, `threads`,
#'   `hessian`, ... (every argument of [dmn_fit()] but `counts`, `k`, `verbose`
#'   and `assay.type`). They are checked before any fold runs, so a bad value
#'   or an unknown name is an error at once (naming it), not a failure of every
#'   fold.
#' @param verbose If `TRUE`, report each fold and pass `verbose = TRUE` on to
#'   [dmn_fit()].
#' @param assay.type For a SummarizedExperiment `count`: the assay holding the
#'   counts (see [dmn_fit()]).
#' @return A data.frame with one row per sample, in fold order: column `group`,
#'   the fold's number, then one column per group (in the order of `z`'s levels
#'   when it is a factor, else of `names(k)`) with the predicted probabilities;
#'   row names are the sample names. A fold whose fits fail (for example when
#'   one group has fewer training samples than its `k`) gets `NA`
#'   probabilities and a warning of class `fastdmm_cv_fold_failed` (the
#'   reference only prints a message).
#' @seealso [roc()] to summarise the predictions.
#' @export
#' @examples
#' set.seed(1)
#' alpha <- cbind(c(20, 5, 1, 1), c(1, 1, 5, 20))
#' counts <- rdmm(40, alpha, depth = 300)
#' group <- c("Lean", "Obese")[attr(counts, "component")]
#' cv <- cvdmngroup(4, counts, k = c(Lean = 1, Obese = 1), z = group,
#'                  seed = 1, threads = 1)
#' head(cv)
#' roc(group[match(rownames(cv), rownames(counts))] == "Obese", cv[, "Obese"])
cvdmngroup <- function(ncv, count, k, z, ..., verbose = FALSE, assay.type = NULL) {
  # Arguments for the fits are checked before any fold runs, so that a typo is
  # refused at once rather than failing every fold.
  dots <- check_fit_args(list(...), cvdmngroup_fit_args, "cvdmngroup() or dmn_fit()")
  verbose <- check_flag(verbose, "verbose")
  count <- check_count_table(count, "count", assay.type)
  # Every value is checked here, once, rather than by the fits of every fold.
  check_enough_taxa(as_counts(count, "count", threads = dots[["threads"]]), "count")
  n_samples <- nrow(count)
  ncv <- check_whole_number(ncv, "ncv", min = 2)
  if (ncv > n_samples) {
    abort_input("ncv", sprintf("(%d) must not exceed the number of samples (%d)",
                               ncv, n_samples), "fastdmm_bad_argument")
  }
  k <- check_group_components(k)
  z <- check_cv_groups(z, k, count)
  groups <- levels(z)
  k <- k[groups]
  sizes <- as.vector(table(z))
  if (any(sizes < k)) {
    small <- sizes < k
    abort_input("k", sprintf("asks for more components than some groups have samples: %s",
                             format_names(sprintf("%s (k = %d, %d samples)", groups[small],
                                                  k[small], sizes[small]))),
                "fastdmm_group_too_small")
  }

  # The reference's split: a random permutation cut into ncv consecutive folds.
  positions <- seq_len(n_samples)
  folds <- split(sample(n_samples), cut(positions, ncv))
  names(folds) <- seq_along(folds)

  # Folds running side by side get one thread per fit, unless the user says
  # otherwise, so they do not oversubscribe the cores (results do not depend
  # on the number of threads).
  if (is.null(dots$threads) && future::nbrOfWorkers() > 1) dots$threads <- 1L
  progress <- progressr::progressor(steps = length(folds))
  results <- future.apply::future_lapply(names(folds), function(fold) {
    if (verbose) message("cross-validation group ", fold)
    held_out <- folds[[fold]]
    result <- tryCatch(
      list(probability = cv_fold(held_out, count, k, z, dots, verbose), error = NULL),
      error = function(err) list(probability = NULL, error = conditionMessage(err))
    )
    progress()
    result
  }, future.seed = TRUE)

  sample_names <- rownames(count)
  probabilities <- Map(function(result, fold) {
    held_out <- folds[[fold]]
    if (is.null(result$error)) return(result$probability)
    warning(structure(
      class = c("fastdmm_cv_fold_failed", "warning", "condition"),
      list(message = sprintf(
        "cross-validation fold %s failed, its %d sample%s get NA probabilities: %s",
        fold, length(held_out), plural(length(held_out)), result$error
      ), call = NULL)
    ))
    matrix(NA_real_, length(held_out), length(groups),
           dimnames = list(sample_names[held_out], groups))
  }, results, names(folds))
  probabilities <- do.call(rbind, probabilities)

  out <- data.frame(group = rep(seq_along(folds), lengths(folds)))
  for (g in groups) out[[g]] <- unname(probabilities[, g])
  row_names <- rownames(probabilities)
  if (!is.null(row_names) && !anyDuplicated(row_names)) rownames(out) <- row_names
  out
}

# One fold: per-group fits on the other folds' samples, then the held-out
# samples' class probabilities.
cv_fold <- function(held_out, count, k, z, dots, verbose) {
  train <- count[-held_out, , drop = FALSE]
  train_z <- z[-held_out]
  fits <- lapply(stats::setNames(nm = names(k)), function(g) {
    n_train <- sum(train_z == g)
    if (n_train < k[[g]]) {
      stop(sprintf("group '%s' has %d training sample%s, fewer than its k = %d",
                   g, n_train, plural(n_train), k[[g]]), call. = FALSE)
    }
    do.call(dmn_fit, c(list(csubset(g, train, train_z), k = k[[g]], verbose = verbose),
                       dots))
  })
  predict(new_dmn_group(fits), count[held_out, , drop = FALSE])
}

#' Receiver operating characteristic curve
#'
#' The true- and false-positive rates of the classifier "positive when `obs`
#' exceeds a threshold", for every threshold, as `DirichletMultinomial::roc()`:
#' samples are sorted by decreasing `obs` and the rates accumulated along that
#' order.
#'
#' @param exp The truth: a logical vector (or 0/1), `TRUE` for positives. It
#'   needs both positives and negatives.
#' @param obs The score of each sample, such as the predicted probability of
#'   the positive group; `NA` scores sort last, as in the reference.
#' @param ... Unused; anything passed here is an error (kept for the reference's
#'   signature).
#' @return A data.frame with one row per sample and columns `TruePostive` (sic:
#'   the reference's spelling, kept so that code written for it works) and
#'   `FalsePositive`, the cumulative fractions of positives and of negatives
#'   among the samples with the highest scores.
#' @export
#' @examples
#' truth <- c(TRUE, TRUE, FALSE, TRUE, FALSE)
#' score <- c(0.9, 0.8, 0.7, 0.4, 0.2)
#' roc(truth, score)
roc <- function(exp, obs, ...) {
  check_dots_empty(list(...), "roc()")
  if (is.numeric(exp) && !is.object(exp) && all(exp %in% c(0, 1))) {
    exp <- exp == 1
  }
  if (!is.logical(exp) || !is.null(dim(exp))) {
    abort_input("exp", "must be a logical vector (or 0/1): TRUE for the positive samples",
                "fastdmm_bad_argument")
  }
  if (anyNA(exp)) {
    abort_input("exp", sprintf("has %d NA value%s", sum(is.na(exp)), plural(sum(is.na(exp)))),
                "fastdmm_bad_argument")
  }
  if (!is.numeric(obs)) {
    abort_input("obs", sprintf("must be numeric scores, not %s", describe_class(obs)),
                "fastdmm_bad_argument")
  }
  if (length(obs) != length(exp)) {
    abort_input("obs", sprintf("has %d values but 'exp' has %d", length(obs), length(exp)),
                "fastdmm_bad_argument")
  }
  if (!any(exp) || all(exp)) {
    abort_input("exp", "must contain both positive (TRUE) and negative (FALSE) samples",
                "fastdmm_bad_argument")
  }
  ordered <- exp[order(obs, decreasing = TRUE)]
  data.frame(TruePostive = cumsum(ordered) / sum(ordered),
             FalsePositive = cumsum(!ordered) / sum(!ordered))
}

# ---- validation -----------------------------------------------------------------

# The group of every sample as a factor without NA (levels kept, as factor()
# does for the reference).
check_group <- function(group, count, arg, count_arg) {
  check_count_table(count, count_arg)
  if (is.null(group) || !is.null(dim(group)) || !is.atomic(group)) {
    abort_input(arg, sprintf("must be a vector or factor with one value per sample, not %s",
                             describe_class(group)), "fastdmm_bad_argument")
  }
  if (length(group) != nrow(count)) {
    abort_input(arg, sprintf("has %d values but '%s' has %d samples (rows)",
                             length(group), count_arg, nrow(count)),
                "fastdmm_bad_argument")
  }
  if (anyNA(group)) {
    missing_at <- which(is.na(group))
    abort_input(arg, sprintf("has NA for %d sample%s (rows %s)", length(missing_at),
                             plural(length(missing_at)), format_names(missing_at)),
                "fastdmm_bad_argument")
  }
  if (!is.factor(group)) group <- factor(group)
  group
}

check_group_components <- function(k) {
  ok <- is.numeric(k) && !is.object(k) && length(k) >= 1L && !anyNA(k) &&
    all(is.finite(k)) && all(k == round(k)) && all(k >= 1) && all(k <= int_max)
  if (!ok) {
    abort_input("k", sprintf(paste(
      "must hold one positive whole number of components per group (at most",
      ".Machine$integer.max), not %s"), describe_value(k)), "fastdmm_bad_argument")
  }
  if (is.null(names(k)) || any(names(k) == "") || anyNA(names(k))) {
    abort_input("k", "must be named by group, for example c(Lean = 1, Obese = 3)",
                "fastdmm_bad_argument")
  }
  if (anyDuplicated(names(k))) {
    abort_input("k", sprintf("names the same group more than once: %s",
                             format_names(unique(names(k)[duplicated(names(k))]))),
                "fastdmm_bad_argument")
  }
  stats::setNames(as.integer(k), names(k))
}

# z as a factor whose levels are exactly names(k): in z's own level order when
# z is a factor, else in the order of names(k).
check_cv_groups <- function(z, k, count) {
  z <- check_group(z, count, "z", "count")
  values <- as.character(z)
  unknown <- setdiff(unique(values), names(k))
  if (length(unknown) > 0L) {
    abort_input("z", sprintf("has values that are not in names(k): %s",
                             format_names(unknown)), "fastdmm_bad_argument")
  }
  absent <- setdiff(names(k), values)
  if (length(absent) > 0L) {
    abort_input("k", sprintf("names groups that no sample of 'z' belongs to: %s",
                             format_names(absent)), "fastdmm_bad_argument")
  }
  order <- intersect(levels(z), names(k))
  factor(values, levels = order)
}
