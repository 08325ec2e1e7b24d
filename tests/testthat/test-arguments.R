# The argument sweep: every exported function and every argument, given
# boundary values, wrong types and lengths, NA/NaN/Inf, values beyond the int
# range, negative, empty, NULL, lists, factors and combinations. Each case runs
# in a child process (helper-sweep.R) and must end in a value that passes its
# check, or in a classed fastdmm error whose message names the argument;
# warnings must be fastdmm's own. R's own messages and crashes fail the sweep.
#
# The table is built from rows: a row is a call template with `.v` where the
# probed value goes, the argument it probes, the probes it accepts and the
# check of a value. Adding an argument is adding a row.

skip_if_not_installed("callr")

# ---- the probes -----------------------------------------------------------------

probes <- list(
  "NA" = NA, "NA_integer_" = NA_integer_, "NA_real_" = NA_real_,
  "NA_character_" = NA_character_, "NaN" = NaN, "Inf" = Inf, "-Inf" = -Inf,
  "1e10" = 1e10, "int_max+1" = .Machine$integer.max + 1, "-1" = -1, "0" = 0, "1.5" = 1.5,
  "'a'" = "a", "''" = "", "TRUE" = TRUE, "c(1, 2)" = c(1, 2), "numeric(0)" = numeric(0),
  "character(0)" = character(0), "NULL" = NULL, "list(1)" = list(1),
  "factor('a')" = factor("a"), "matrix(1)" = matrix(1), "a Date" = as.Date("2020-01-01"),
  "a function" = identity
)

# The probes each kind of argument accepts (all others must be refused).
accepts <- list(
  count = "matrix(1)",                          # whole number >= 1
  count0 = c("0", "matrix(1)"),                 # whole number >= 0
  flag = "TRUE",
  number0 = c("0", "1.5", "1e10", "int_max+1", "matrix(1)"), # finite >= 0
  positive = c("1.5", "1e10", "int_max+1", "matrix(1)"),    # finite > 0
  seed = c("0", "-1", "1.5", "matrix(1)"),
  choice = character(),
  none = character()
)

# One row: the cases of `template` with every probe. `accept` names the
# probes that must give a value passing `check`; `either` those that may give
# a value or a refusal; every other probe must be refused naming `arg`.
probe_row <- function(label, template, arg, accept, check = NULL, either = character()) {
  lapply(names(probes), function(name) {
    expect <- if (name %in% either) "either" else if (name %in% accept) "value" else "error"
    sweep_case(sprintf("%s [%s = %s]", label, arg, name), with_value(template, probes[[name]]),
               expect, arg = arg, check = check)
  })
}

# Cases written out one by one: list(label, expression, expect, arg, check).
explicit <- function(label, expr, expect, arg = NULL, check = NULL) {
  list(sweep_case(label, expr, expect, arg = arg, check = check))
}

# ---- the fixtures every child process starts from --------------------------------

sweep_setup <- quote({
  suppressPackageStartupMessages(library(fastdmm))
  grDevices::pdf(NULL)
  set.seed(1)
  alpha <- cbind(c(20, 10, 5, 2, 1, 1, 1, 1, 2, 3, 1, 1),
                 c(1, 1, 2, 5, 20, 10, 3, 1, 1, 1, 2, 1),
                 c(2, 1, 1, 1, 1, 2, 5, 20, 10, 3, 1, 1))
  x <- rdmm(60, alpha, depth = 200)
  grp <- rep(c("a", "b"), 30)
  fit <- dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1)
  fit1 <- dmn_fit(x, 1, seed = 1, threads = 1, nstart = 1)
  fits <- dmn_fit(x, 1:3, seed = 1, threads = 1, nstart = 1)
  group_fit <- dmngroup(x, grp, k = 1, seed = 1, threads = 1, nstart = 1)
  edit_search <- function(field, value) {
    search <- dmn_search()
    search[field] <- list(value)
    search
  }
  table <- fastdmm:::as_counts(x)
  # The table without its C++ pointer, as after serialisation: rebuilt from
  # the arrays, which an edit may have broken.
  edit_table <- function(field, value) {
    edited <- unclass(table)
    edited$pointer <- NULL
    edited[field] <- list(value)
    structure(edited, class = "fastdmm_counts")
  }
  # Made when a case needs it: loading Matrix costs more than most batches.
  sparse <- function() methods::as(Matrix::Matrix(x, sparse = TRUE), "CsparseMatrix")
  raw_search <- list(screen_iter = 10L, n_continue = 1L, split_merge = FALSE,
                     max_moves = 2L, max_tries = 5L, subsample = 0, replicates = 0L,
                     max_starts = NA_integer_, transfers = FALSE, resplits = FALSE,
                     all_singles = FALSE, kicks = 0L, divisions = FALSE, settle = FALSE,
                     reuse_msteps = TRUE, column_cache = TRUE,
                     concurrent_starts = 1L)
  raw_fit <- function(...) {
    args <- list(counts = table, k = 2L, seeds = 1L, kinds = 0L, given = NULL, threads = 1L,
                 max_iter = 5L, tol = 1e-6, rel_tol = 1e-12, accelerate = TRUE,
                 reference_hessian = FALSE, verbose = FALSE, search = raw_search)
    changes <- list(...)
    args[names(changes)] <- changes
    do.call(fastdmm:::.fit_dmn, args)
  }
  raw_search_with <- function(field, value) {
    search <- raw_search
    search[field] <- list(value)
    search
  }
})

is_fit <- quote(inherits(.value, "dmn_fit"))
is_fit_or_fits <- quote(inherits(.value, c("dmn_fit", "dmn_fits")))

# ---- rows: the fitting entry points ------------------------------------------------

fit_rows <- c(
  probe_row("dmn_fit", quote(dmn_fit(.v, 2, seed = 1, threads = 1, nstart = 1)), "counts", accepts$none),
  probe_row("dmn_fit", quote(dmn_fit(x, .v, seed = 1, threads = 1, nstart = 1)), "k",
            c(accepts$count, "c(1, 2)"), is_fit_or_fits),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, verbose = .v, seed = 1, threads = 1, nstart = 1)), "verbose",
            accepts$flag, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = .v, threads = 1, nstart = 1)), "seed", accepts$seed,
            is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = .v, nstart = 1)), "threads",
            c(accepts$count, "NULL"), is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, hessian = .v, nstart = 1)), "hessian",
            accepts$choice, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, max_iter = .v, nstart = 1)), "max_iter",
            accepts$count, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, tol = .v, nstart = 1)), "tol",
            accepts$number0, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, nstart = .v,
                                     search = dmn_search(max_starts = 4))), "nstart",
            c(accepts$count, "NULL"), is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, assay.type = .v, nstart = 1)),
            "assay.type", "NULL", is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, init = .v, nstart = 1)), "init",
            accepts$none, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, accelerate = .v, nstart = 1)),
            "accelerate", accepts$flag, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, rel_tol = .v, nstart = 1)), "rel_tol",
            accepts$number0, is_fit),
  probe_row("dmn_fit", quote(dmn_fit(x, 2, seed = 1, threads = 1, search = .v, nstart = 1)), "search",
            accepts$none, is_fit),
  # dmn_search() and objects of its class edited afterwards.
  probe_row("dmn_search", quote(dmn_search(screen_iter = .v)), "screen_iter", accepts$count,
            quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(n_continue = .v)), "n_continue",
            c(accepts$count, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(split_merge = .v)), "split_merge",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(max_moves = .v)), "max_moves",
            c(accepts$count0, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(max_tries = .v)), "max_tries", accepts$count,
            quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(subsample = .v)), "subsample", c("Inf", "NULL"),
            quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(replicates = .v)), "replicates",
            c(accepts$count, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(max_starts = .v)), "max_starts",
            c(accepts$count, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(transfers = .v)), "transfers",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(resplits = .v)), "resplits",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(all_singles = .v)), "all_singles",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(kicks = .v)), "kicks",
            c(accepts$count0, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(divisions = .v)), "divisions",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(settle = .v)), "settle",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("dmn_search", quote(dmn_search(reuse_msteps = .v)), "reuse_msteps",
            c(accepts$flag, "NULL"), quote(inherits(.value, "dmn_search"))),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, seed = 1, threads = 1, search = {
              search <- dmn_search(max_starts = 2)
              search["kicks"] <- list(.v)
              search
            })),
            "search$kicks", c(accepts$count0, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 2, seed = 1, threads = 1,
                          search = edit_search("replicates", .v))),
            "search$replicates", c(accepts$count, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 2, seed = 1, threads = 1,
                          search = edit_search("max_starts", .v))),
            "search$max_starts", c(accepts$count, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("transfers", .v))),
            "search$transfers", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("resplits", .v))),
            "search$resplits", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("all_singles", .v))),
            "search$all_singles", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, seed = 1, threads = 1,
                          search = edit_search("divisions", .v))),
            "search$divisions", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, seed = 1, threads = 1,
                          search = edit_search("settle", .v))),
            "search$settle", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, seed = 1, threads = 1,
                          search = edit_search("reuse_msteps", .v))),
            "search$reuse_msteps", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("subsample", .v))),
            "search$subsample", c("Inf", "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("screen_iter", .v))),
            "search$screen_iter", accepts$count, is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("n_continue", .v))),
            "search$n_continue", c(accepts$count, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("split_merge", .v))),
            "search$split_merge", c(accepts$flag, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("max_moves", .v))),
            "search$max_moves", c(accepts$count0, "NULL"), is_fit),
  probe_row("edited dmn_search",
            quote(dmn_fit(x, 3, nstart = 3, seed = 1, threads = 1,
                          search = edit_search("max_tries", .v))),
            "search$max_tries", accepts$count, is_fit),
  # Lists of fits.
  probe_row("best_fit", quote(best_fit(.v)), "fits", accepts$none),
  probe_row("best_fit", quote(best_fit(fits, by = .v)), "by", "'a'", is_fit),
  probe_row("[.dmn_fits", quote(fits[.v]), "i",
            c("-1", "0", "TRUE", "c(1, 2)", "numeric(0)", "NULL", "character(0)"),
            quote(inherits(.value, "dmn_fits"))),
  probe_row("plot.dmn_fits", quote(plot(fits, criteria = .v)), "criteria", accepts$choice,
            quote(inherits(.value, "dmn_fits"))),
  # Per-group models.
  probe_row("dmngroup", quote(dmngroup(.v, grp, k = 1, seed = 1, threads = 1, nstart = 1)), "count",
            accepts$none),
  probe_row("dmngroup", quote(dmngroup(x, .v, k = 1, seed = 1, threads = 1, nstart = 1)), "group",
            accepts$none),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = .v, seed = 1, threads = 1, nstart = 1)), "k",
            c(accepts$count, "c(1, 2)"), quote(inherits(.value, "dmn_group"))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, simplify = .v, nstart = 1)),
            "simplify", accepts$flag, quote(is.list(.value))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, assay.type = .v, nstart = 1)),
            "assay.type", "NULL", quote(inherits(.value, "dmn_group"))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, hessian = .v, nstart = 1)),
            "hessian", accepts$choice, quote(inherits(.value, "dmn_group"))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, nstart = .v)),
            "nstart", c(accepts$count, "NULL"), quote(inherits(.value, "dmn_group"))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, init = .v, nstart = 1)),
            "init", accepts$none, quote(inherits(.value, "dmn_group"))),
  probe_row("dmngroup", quote(dmngroup(x, grp, k = 1, seed = 1, threads = 1, bogus = .v, nstart = 1)),
            "bogus", accepts$none),
  probe_row("dmngroup", quote(dmngroup(x, grp, 1, .v, seed = 1, threads = 1, nstart = 1)), "...",
            accepts$none),
  probe_row("cvdmngroup", quote(cvdmngroup(.v, x, c(a = 1, b = 1), grp, seed = 1, threads = 1, nstart = 1)),
            "ncv", accepts$none),
  probe_row("cvdmngroup", quote(cvdmngroup(2, .v, c(a = 1, b = 1), grp, seed = 1, threads = 1, nstart = 1)),
            "count", accepts$none),
  probe_row("cvdmngroup", quote(cvdmngroup(2, x, .v, grp, seed = 1, threads = 1, nstart = 1)), "k",
            accepts$none),
  probe_row("cvdmngroup", quote(cvdmngroup(2, x, c(a = 1, b = 1), .v, seed = 1, threads = 1, nstart = 1)),
            "z", accepts$none),
  probe_row("cvdmngroup",
            quote(cvdmngroup(2, x, c(a = 1, b = 1), grp, seed = 1, threads = 1, verbose = .v, nstart = 1)),
            "verbose", accepts$flag, quote(is.data.frame(.value))),
  probe_row("cvdmngroup",
            quote(cvdmngroup(2, x, c(a = 1, b = 1), grp, seed = 1, threads = 1,
                             assay.type = .v, nstart = 1)),
            "assay.type", "NULL", quote(is.data.frame(.value))),
  probe_row("cvdmngroup",
            quote(cvdmngroup(2, x, c(a = 1, b = 1), grp, seed = 1, threads = 1, max_iter = .v, nstart = 1)),
            "max_iter", accepts$count, quote(is.data.frame(.value))),
  probe_row("cvdmngroup",
            quote(cvdmngroup(2, x, c(a = 1, b = 1), grp, seed = 1, threads = 1, bogus = .v, nstart = 1)),
            "bogus", accepts$none),
  probe_row("predict.dmn_group", quote(predict(group_fit, .v)), "newdata", accepts$none),
  probe_row("predict.dmn_group", quote(predict(group_fit, x, assign = .v)), "assign",
            accepts$flag, quote(is.character(.value))),
  probe_row("predict.dmn_group", quote(predict(group_fit, x, threads = .v)), "threads",
            c(accepts$count, "NULL"), quote(is.matrix(.value))),
  probe_row("predict.dmn_group", quote(predict(group_fit, x, bogus = .v)), "bogus",
            accepts$none),
  probe_row("[.dmn_group", quote(group_fit[.v]), "i",
            c("-1", "0", "TRUE", "c(1, 2)", "numeric(0)", "NULL", "character(0)", "'a'"),
            quote(inherits(.value, "dmn_group"))),
  probe_row("csubset", quote(csubset(.v, x, grp)), "val",
            setdiff(names(probes), c("list(1)", "a function", "matrix(1)")),
            quote(is.matrix(.value))),
  probe_row("csubset", quote(csubset("a", .v, rep("a", NROW(.v)))), "x", "matrix(1)",
            quote(is.matrix(.value))),
  probe_row("csubset", quote(csubset("a", x, .v)), "pheno", accepts$none),
  probe_row("csubset", quote(csubset("a", x, grp, cidx = .v)), "cidx",
            c("-1", "0", "TRUE", "c(1, 2)", "numeric(0)", "NULL", "character(0)"),
            quote(is.matrix(.value))),
  probe_row("roc", quote(roc(.v, seq_along(.v) / 10)), "exp", accepts$none),
  probe_row("roc", quote(roc(c(TRUE, FALSE), .v)), "obs", "c(1, 2)",
            quote(is.data.frame(.value))),
  probe_row("roc", quote(roc(c(TRUE, FALSE), c(0.3, 0.6), bogus = .v)), "bogus", accepts$none)
)

# ---- rows: methods of fits ----------------------------------------------------------

method_rows <- c(
  probe_row("mixture", quote(mixture(.v)), "object", accepts$none),
  probe_row("mixture", quote(mixture(fit, assign = .v)), "assign", accepts$flag,
            quote(is.integer(.value))),
  probe_row("mixture", quote(mixture(fit, .v)), "...", accepts$none),
  probe_row("mixturewt", quote(mixturewt(.v)), "object", accepts$none),
  probe_row("mixturewt", quote(mixturewt(fit, .v)), "...", accepts$none),
  probe_row("goodnessOfFit", quote(goodnessOfFit(.v)), "object", accepts$none),
  probe_row("goodnessOfFit", quote(goodnessOfFit(fit, .v)), "...", accepts$none),
  probe_row("laplace", quote(laplace(.v)), "object", accepts$none),
  probe_row("laplace", quote(laplace(fit, .v)), "...", accepts$none),
  probe_row("AIC", quote(AIC(fit, .v)), "...", accepts$none),
  probe_row("BIC", quote(BIC(fit, .v)), "...", accepts$none),
  probe_row("fitted", quote(fitted(fit, scale = .v)), "scale", accepts$flag,
            quote(is.matrix(.value))),
  probe_row("fitted", quote(fitted(fit, .v)), "...", accepts$none),
  probe_row("coef", quote(coef(fit, .v)), "...", accepts$none),
  probe_row("logLik", quote(logLik(fit, .v)), "...", accepts$none),
  probe_row("nobs", quote(nobs(fit, .v)), "...", accepts$none),
  probe_row("predict", quote(predict(fit, .v)), "newdata", accepts$none),
  probe_row("predict", quote(predict(fit, x, logevidence = .v)), "logevidence", accepts$flag,
            quote(is.matrix(.value))),
  probe_row("predict", quote(predict(fit, x, threads = .v)), "threads",
            c(accepts$count, "NULL"), quote(is.matrix(.value))),
  probe_row("predict", quote(predict(fit, x, assay.type = .v)), "assay.type", "NULL",
            quote(is.matrix(.value))),
  probe_row("predict", quote(predict(fit, x, .v)), "...", accepts$none),
  probe_row("summary", quote(summary(fit, ntaxa = .v)), "ntaxa", accepts$count,
            quote(inherits(.value, "summary.dmn_fit"))),
  probe_row("plot", quote(plot(fit, ntaxa = .v)), "ntaxa", accepts$count, is_fit),
  probe_row("plot", quote(plot(fit, components = .v)), "components",
            c("c(1, 2)", "matrix(1)", "NULL"), is_fit),
  probe_row("plot", quote(plot(fit, col = .v)), "col", "NULL", is_fit,
            either = c("NA_character_", "NA_integer_", "NA_real_", "NaN", "0", "1.5",
                       "-1", "c(1, 2)", "matrix(1)", "'a'", "''", "character(0)", "numeric(0)")),
  probe_row("heatmapdmn", quote(heatmapdmn(.v, fit1, fit, ntaxa = 5)), "count", accepts$none),
  probe_row("heatmapdmn", quote(heatmapdmn(x, .v, fit, ntaxa = 5)), "fit1", accepts$none),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, .v, ntaxa = 5)), "fitN", accepts$none),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, fit, ntaxa = .v)), "ntaxa", accepts$count,
            quote(is.character(.value))),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, fit, ntaxa = 5, transform = .v)),
            "transform", "a function", quote(is.character(.value))),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, fit, ntaxa = 5, lblwidth = .v)),
            "lblwidth", accepts$positive, quote(is.character(.value))),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, fit, ntaxa = 5, col = .v)), "col",
            character(), quote(is.character(.value)),
            either = c("NA_character_", "NA_integer_", "NA_real_", "NaN", "0", "1.5", "-1",
                       "c(1, 2)", "matrix(1)", "'a'", "''")),
  probe_row("heatmapdmn", quote(heatmapdmn(x, fit1, fit, ntaxa = 5, bogus = .v)), "bogus",
            accepts$none),
  probe_row("component_names", quote(component_names(.v)), "object", accepts$none),
  probe_row("component_names<-", quote({
    renamed <- fit
    component_names(renamed) <- .v
    renamed
  }), "value", "NULL", is_fit),
  probe_row("AIC", quote(AIC(fit, k = .v)), "k", names(probes), quote(is.numeric(.value))),
  probe_row("component_names<- of a non-fit", quote({
    object <- .v
    component_names(object) <- "a"
    object
  }), "object", accepts$none),
  explicit("print of a fit", quote(print(fit)), "value", check = is_fit),
  explicit("summary of a fit printed", quote(print(summary(fit))), "value",
           check = quote(inherits(.value, "summary.dmn_fit"))),
  explicit("summary of fits", quote(summary(fits)), "value",
           check = quote(inherits(.value, "summary.dmn_fits") && nrow(.value) == 3L)),
  explicit("as.data.frame of fits", quote(as.data.frame(fits)), "value",
           check = quote(identical(.value$k, 1:3))),
  explicit("as.data.frame of no fits", quote(as.data.frame(fits[0])), "value",
           check = quote(nrow(.value) == 0L && "Laplace" %in% names(.value))),
  explicit("summary and print of a dmn_group", quote(print(group_fit)), "value",
           check = quote(inherits(.value, "dmn_group"))),
  explicit("print of a dmn_search", quote(print(dmn_search(max_moves = 2))), "value",
           check = quote(inherits(.value, "dmn_search"))),
  explicit("logLik and nobs", quote(c(logLik(fit), nobs(fit))), "value",
           check = quote(.value[[2]] == 60)),
  probe_row("as_DMN", quote(as_DMN(.v)), "fit", accepts$none),
  probe_row("as_dmn_fit", quote(as_dmn_fit(.v)), "x", accepts$none)
)

if (requireNamespace("ggplot2", quietly = TRUE)) {
  method_rows <- c(
    method_rows,
    probe_row("autoplot", quote(ggplot2::autoplot(fit, ntaxa = .v)), "ntaxa", accepts$count,
              quote(inherits(.value, "ggplot"))),
    probe_row("autoplot", quote(ggplot2::autoplot(fits, criteria = .v)), "criteria",
              accepts$choice, quote(inherits(.value, "ggplot")))
  )
}

# ---- rows: bluster ---------------------------------------------------------------------

is_param <- quote(methods::is(.value, "FastDmmParam"))
param_rows <- if (requireNamespace("bluster", quietly = TRUE)) c(
  probe_row("FastDmmParam", quote(FastDmmParam(k = .v)), "k", c(accepts$count, "c(1, 2)"),
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(type = .v)), "type", "'a'", is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(seed = .v)), "seed", c(accepts$seed, "NULL"),
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(BPPARAM = .v)), "BPPARAM", "NULL", is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(nstart = .v)), "nstart",
            c(accepts$count, "NULL"), is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(verbose = .v)), "verbose", accepts$flag,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(threads = .v)), "threads",
            c(accepts$count, "NULL"), is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(hessian = .v)), "hessian", accepts$choice,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(max_iter = .v)), "max_iter", accepts$count,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(tol = .v)), "tol", accepts$number0, is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(init = .v)), "init", accepts$none, is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(accelerate = .v)), "accelerate", accepts$flag,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(rel_tol = .v)), "rel_tol", accepts$number0,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(search = .v)), "search", accepts$none,
            is_param),
  probe_row("FastDmmParam", quote(FastDmmParam(bogus = .v)), "bogus", accepts$none),
  probe_row("FastDmmParam [[", quote(FastDmmParam()[[.v]]), "i", accepts$none),
  probe_row("FastDmmParam [[<-", quote({
    param <- FastDmmParam()
    param[["k"]] <- .v
    param
  }), "k", c(accepts$count, "c(1, 2)"), is_param),
  probe_row("FastDmmParam [[<-", quote({
    param <- FastDmmParam()
    param[["hessian"]] <- .v
    param
  }), "hessian", "NULL", is_param),
  probe_row("clusterRows", quote(bluster::clusterRows(.v, FastDmmParam(k = 1:2, seed = 1,
                                                                      threads = 1, nstart = 1))),
            "x", accepts$none),
  probe_row("clusterRows", quote(bluster::clusterRows(x, FastDmmParam(k = 1:2, seed = 1,
                                                                     threads = 1, nstart = 1),
                                                      full = .v)),
            "full", accepts$flag, quote(is.list(.value)))
)

# ---- rows: written out (combinations, edited objects, the issue's examples) --------

explicit_rows <- c(
  # Issue 13, item 1: the not-converged warning with a one-value NLE trace.
  explicit("issue 1: dmn_fit max_iter = 1", quote(dmn_fit(x, 3, seed = 1, max_iter = 1, nstart = 1)),
           "value", check = is_fit),
  explicit("issue 1: dmn_fit max_iter = 2, accelerated",
           quote(dmn_fit(x, 3, seed = 1, max_iter = 2, accelerate = TRUE, nstart = 1)), "value",
           check = is_fit),
  explicit("issue 1: dmngroup max_iter = 1",
           quote(dmngroup(x, grp, k = 2, seed = 1, threads = 1, max_iter = 1, nstart = 1)), "value",
           check = quote(inherits(.value, "dmn_group"))),
  explicit("issue 1: cvdmngroup max_iter = 2",
           quote(cvdmngroup(2, x, c(a = 2, b = 2), grp, seed = 1, threads = 1, max_iter = 2, nstart = 1)),
           "value", check = quote(is.data.frame(.value) && !anyNA(.value))),
  # Issue 13, item 2: whole numbers beyond the int range.
  explicit("issue 2: nstart = 1e10", quote(dmn_fit(x, 3, nstart = 1e10)), "error", "nstart"),
  explicit("issue 2: threads = 1e10", quote(dmn_fit(x, 3, threads = 1e10, nstart = 1)), "error", "threads"),
  explicit("issue 2: max_iter = 1e10", quote(dmn_fit(x, 3, max_iter = 1e10, nstart = 1)), "error",
           "max_iter"),
  explicit("issue 2: dmn_search(screen_iter = 1e10)", quote(dmn_search(screen_iter = 1e10)),
           "error", "screen_iter"),
  # Issue 13, item 3: choices.
  explicit("issue 3: hessian = 'bogus'", quote(dmn_fit(x, 3, hessian = "bogus", nstart = 1)), "error",
           "hessian"),
  explicit("issue 3: hessian = NA", quote(dmn_fit(x, 3, hessian = NA, nstart = 1)), "error", "hessian"),
  explicit("issue 3: hessian = 'ref' is 'reference'",
           quote(dmn_fit(x, 3, seed = 1, threads = 1, hessian = "ref", nstart = 1)), "value",
           check = quote(.value$hessian == "reference")),
  explicit("issue 3: best_fit by = 'bogus'", quote(best_fit(fits, by = "bogus")), "error", "by"),
  explicit("issue 3: best_fit by = 'bic' is BIC", quote(best_fit(fits, by = "bic")), "value",
           check = quote(identical(.value, fits[[which.min(vapply(fits, BIC, 0))]]))),
  # Issue 13, item 4: an edited dmn_search.
  explicit("issue 4: n_continue edited to 0",
           quote(dmn_fit(x, 3, nstart = 3, search = edit_search("n_continue", 0))), "error",
           "search$n_continue"),
  explicit("issue 4: an empty dmn_search",
           quote(dmn_fit(x, 3, nstart = 3, search = structure(list(), class = "dmn_search"))),
           "error", "search"),
  explicit("issue 4: a dmn_search with an unknown setting",
           quote(dmn_fit(x, 3, search = edit_search("bogus", 10), nstart = 1)), "error", "search"),
  # Issue 13, item 6: unknown arguments through `...`.
  explicit("issue 6: dmngroup bogus = 1", quote(dmngroup(x, grp, k = 1:2, bogus = 1, nstart = 1)), "error",
           "bogus"),
  explicit("issue 6: cvdmngroup bogus = 1",
           quote(cvdmngroup(2, x, c(a = 1, b = 1), grp, bogus = 1, nstart = 1)), "error", "bogus"),
  # Issue 13, item 7: best_fit() of nothing.
  explicit("issue 7: best_fit(list())", quote(best_fit(list())), "error", "fits"),
  explicit("issue 7: best_fit of an empty dmn_fits", quote(best_fit(fits[0])), "error", "fits"),
  explicit("issue 7: best_fit of a dmn_fits holding other things",
           quote(best_fit(structure(list(1, 2), class = c("dmn_fits", "list")))), "error",
           "fits"),
  # Combinations of the search's settings.
  explicit("several k, k-means++ starts, plain EM",
           quote(dmn_fit(x, 1:3, seed = 1, threads = 1, init = "kmeans++", nstart = 3,
                         accelerate = FALSE)), "value",
           check = quote(inherits(.value, "dmn_fits"))),
  explicit("k = n_samples with two starts",
           quote(dmn_fit(x, 60, seed = 1, threads = 1, nstart = 2, max_iter = 3)), "value",
           check = is_fit),
  explicit("k = 1 with five starts and split-merge on",
           quote(dmn_fit(x, 1, seed = 1, threads = 1, nstart = 5,
                         search = dmn_search(split_merge = TRUE))), "value", check = is_fit),
  explicit("a given start with more starts",
           quote(dmn_fit(x, 3, seed = 1, threads = 1, nstart = 3, init = rep(1:3, 20))),
           "value", check = quote(.value$starts$kind[1] == "given")),
  explicit("no moves allowed, one try",
           quote(dmn_fit(x, 3, seed = 1, threads = 1, nstart = 4,
                         search = dmn_search(max_moves = 0, max_tries = 1, screen_iter = 1,
                                             transfers = FALSE))),
           "value", check = quote(nrow(.value$moves) == 0L)),
  explicit("more continued than starts",
           quote(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 2,
                         search = dmn_search(n_continue = 1000))), "value", check = is_fit),
  explicit("tol and rel_tol both 0", quote(dmn_fit(x, 2, seed = 1, threads = 1, tol = 0,
                                                   rel_tol = 0, max_iter = 20, nstart = 1)),
           "value", check = is_fit),
  explicit("the most starts", quote(dmn_fit(x, 2, nstart = 100001)), "error", "nstart"),
  explicit("k beyond the samples", quote(dmn_fit(x, 61, nstart = 1)), "error", "k"),
  explicit("k duplicated", quote(dmn_fit(x, c(2, 2), nstart = 1)), "error", "k"),
  explicit("k with NA", quote(dmn_fit(x, c(2, NA), nstart = 1)), "error", "k"),
  explicit("k missing", quote(dmn_fit(x, nstart = 1)), "error", "k"),
  explicit("seed beyond the int range", quote(dmn_fit(x, 2, seed = 2^31, nstart = 1)), "error", "seed"),
  explicit("seed at the int range", quote(dmn_fit(x, 2, seed = -.Machine$integer.max,
                                                   threads = 1, nstart = 1)), "value", check = is_fit),
  explicit("init labels of the wrong length", quote(dmn_fit(x, 2, init = rep(1, 59), nstart = 1)), "error",
           "init"),
  explicit("init labels beyond k", quote(dmn_fit(x, 2, init = rep(1:3, 20), nstart = 1)), "error", "init"),
  explicit("init posteriors not summing to 1", quote(dmn_fit(x, 2, init = matrix(0.3, 60, 2), nstart = 1)),
           "error", "init"),
  explicit("init posteriors as a data.frame",
           quote(dmn_fit(x, 2, threads = 1, init = as.data.frame(diag(2)[rep(1:2, 30), ]), nstart = 1)),
           "value", check = is_fit),
  explicit("init as a character vector", quote(dmn_fit(x, 2, init = c("a", "b"), nstart = 1)), "error",
           "init"),
  explicit("a count table with one taxon", quote(dmn_fit(x[, 1, drop = FALSE], 1, nstart = 1)), "error",
           "counts"),
  explicit("a count table with NA", quote(dmn_fit(replace(x, 3, NA), 1, nstart = 1)), "error", "counts"),
  explicit("a count table with a zero sample", quote(dmn_fit(replace(x, cbind(2, 1:12), 0L), 1, nstart = 1)),
           "error", "counts"),
  explicit("a character data.frame", quote(dmn_fit(as.data.frame(matrix("a", 3, 3)), 1, nstart = 1)),
           "error", "counts"),
  explicit("a sparse table", quote(dmn_fit(sparse(), 2, seed = 1, threads = 1, nstart = 1)), "value",
           check = is_fit),
  explicit("a sparse table with row indices edited out of range", quote({
    bad <- sparse()
    bad@i[1] <- 1000L
    dmn_fit(bad, 2, nstart = 1)
  }), "error", "counts"),
  explicit("a sparse table with its column starts edited", quote({
    bad <- sparse()
    bad@p[3] <- 100000L
    dmn_fit(bad, 2, nstart = 1)
  }), "error", "counts"),
  # Count tables (fastdmm_counts) kept and edited: rebuilt from arrays that
  # an edit may have broken.
  explicit("a kept count table", quote(dmn_fit(table, 2, seed = 1, threads = 1, nstart = 1)), "value",
           check = is_fit),
  explicit("a kept count table without its pointer",
           quote(dmn_fit(edit_table("n_samples", 60L), 2, seed = 1, threads = 1, nstart = 1)), "value",
           check = is_fit),
  explicit("a count table with another external pointer",
           quote(dmn_fit(edit_table("pointer", new("externalptr")), 2, seed = 1, threads = 1, nstart = 1)),
           "value", check = is_fit),
  explicit("a count table with n_samples edited, pointer kept", quote({
    edited <- table
    edited$n_samples <- 100L
    dmn_fit(edited, 2, nstart = 1)
  }), "error", "counts"),
  explicit("a count table with n_samples 1e10", quote(dmn_fit(edit_table("n_samples", 1e10), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table with n_taxa -1", quote(dmn_fit(edit_table("n_taxa", -1L), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table with samples out of range",
           quote(dmn_fit(edit_table("tile_row", as.raw(rep(255, length(table$tile_row)))), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table with a sample twice in a taxon",
           quote(dmn_fit(edit_table("tile_row", raw(length(table$tile_row))), 2, nstart = 1)), "error",
           "counts"),
  explicit("a count table with pairs out of range",
           quote(dmn_fit(edit_table("tile_pair", as.raw(rep(255, length(table$tile_pair)))), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table with entries out of order",
           quote(dmn_fit(edit_table("tile_pair", rev(table$tile_pair)), 2, nstart = 1)), "error", "counts"),
  explicit("a count table with 32-bit pairs of other taxa",
           quote(dmn_fit(edit_table("tile_pair", rep(0L, length(table$tile_pair) / 2)), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table with tile_size edited",
           quote(dmn_fit(edit_table("tile_size", 3L), 2, nstart = 1)), "error", "counts"),
  explicit("a count table with zero counts",
           quote(dmn_fit(edit_table("pair_value", table$pair_value * 0), 2, nstart = 1)), "error", "counts"),
  explicit("a count table with tile_ptr decreasing",
           quote(dmn_fit(edit_table("tile_ptr", rev(table$tile_ptr)), 2, nstart = 1)), "error", "counts"),
  explicit("a count table with tile_ptr of the wrong type",
           quote(dmn_fit(edit_table("tile_ptr", as.integer(table$tile_ptr)), 2, nstart = 1)), "error",
           "counts"),
  explicit("a count table with short arrays",
           quote(dmn_fit(edit_table("tile_row", table$tile_row[-(1:2)]), 2, nstart = 1)), "error", "counts"),
  explicit("a count table without arrays",
           quote(dmn_fit(structure(list(n_samples = 60L), class = "fastdmm_counts"), 2, nstart = 1)),
           "error", "counts"),
  explicit("a count table that is not a list",
           quote(dmn_fit(structure(1:5, class = "fastdmm_counts"), 2, nstart = 1)), "error", "counts"),
  # Damaged fits.
  explicit("predict with a damaged fit", quote({
    damaged <- fit
    damaged$fit$Estimate <- damaged$fit$Estimate[, 1, drop = FALSE]
    predict(damaged, x)
  }), "error", "object"),
  explicit("predict with a fit without parameters", quote({
    damaged <- fit
    damaged$fit <- NULL
    predict(damaged, x)
  }), "error", "object"),
  explicit("heatmapdmn with a damaged fit", quote({
    damaged <- fit
    damaged$mixture$Weight <- NA
    heatmapdmn(x, fit1, damaged)
  }), "error", "fitN"),
  explicit("plot with a damaged fit", quote(plot(structure(list(), class = "dmn_fit"))),
           "error", "x"),
  explicit("plot of an empty dmn_fits", quote(plot(fits[0])), "error", "x"),
  explicit("print of an empty dmn_fits", quote(print(fits[0])), "value",
           check = quote(inherits(.value, "dmn_fits"))),
  explicit("fits selected beyond their number", quote(fits[4]), "error", "i"),
  explicit("fits selected with mixed signs", quote(fits[c(-1, 2)]), "error", "i"),
  explicit("a group selected that does not exist", quote(group_fit["c"]), "error", "i"),
  explicit("components named that do not exist", quote(plot(fit, components = "z")), "error",
           "components"),
  explicit("component names of the wrong length", quote(component_names(fit) <- "a"), "error",
           "value")
)

if (requireNamespace("bluster", quietly = TRUE)) {
  explicit_rows <- c(
    explicit_rows,
    explicit("issue 1: clusterRows max_iter = 1",
             quote(bluster::clusterRows(x, FastDmmParam(k = 2:3, seed = 1, max_iter = 1,
                                                        threads = 1, nstart = 1))),
             "value", check = quote(is.factor(.value))),
    explicit("issue 2: FastDmmParam nstart = 1e10", quote(FastDmmParam(nstart = 1e10)), "error",
             "nstart"),
    explicit("issue 3: FastDmmParam hessian = 'ref' as dmn_fit",
             quote(FastDmmParam(hessian = "ref")[["hessian"]]), "value",
             check = quote(identical(.value, "reference"))),
    explicit("issue 8: clusterRows errors name x",
             quote(bluster::clusterRows(replace(x, 1, -1), FastDmmParam(k = 2, seed = 1))),
             "error", "x"),
    explicit("issue 8: clusterRows with one taxon",
             quote(bluster::clusterRows(x[, 1, drop = FALSE], FastDmmParam(k = 2, seed = 1))),
             "error", "x"),
    explicit("clusterRows k beyond the samples",
             quote(bluster::clusterRows(x[1:3, ], FastDmmParam(k = 1:4, seed = 1))), "error",
             "k"),
    explicit("clusterRows with a search",
             quote(bluster::clusterRows(x, FastDmmParam(k = 2:3, seed = 1, nstart = 3,
                                                        init = "kmeans++", threads = 1,
                                                        search = dmn_search(n_continue = 2)))),
             "value", check = quote(is.factor(.value))),
    explicit("clusterRows with a serial BPPARAM",
             quote(bluster::clusterRows(x, FastDmmParam(k = 1:2, seed = 1,
                                                        BPPARAM = BiocParallel::SerialParam()))),
             "value", check = quote(is.factor(.value))),
    explicit("FastDmmParam with a given start", quote(FastDmmParam(init = rep(1:2, 30))),
             "error", "init"),
    explicit("FastDmmParam with assay.type", quote(FastDmmParam(assay.type = "counts")),
             "error", "assay.type"),
    explicit("FastDmmParam with an unnamed further argument",
             quote(FastDmmParam(1:2, "AIC", 1, NULL, 1, 5)), "error", "..."),
    explicit("FastDmmParam with an edited search",
             quote(FastDmmParam(search = edit_search("max_tries", -1))), "error",
             "search$max_tries")
  )
}

# ---- the C++ glue's own checks, reached through `:::` -----------------------------------

internal <- function(label, expr, pattern) {
  explicit(sprintf("internal: %s", label), expr, "internal", arg = pattern)
}

internal_cases <- c(
  explicit("internal: a good raw fit", quote(raw_fit()), "value", check = quote(is.list(.value))),
  explicit("internal: max_moves NA is k", quote(raw_fit(search = raw_search_with("max_moves",
                                                                                  NA_integer_))),
           "value", check = quote(is.list(.value))),
  internal("k = 0", quote(raw_fit(k = 0L)), "'k' must be between 1 and 60"),
  internal("k = 61", quote(raw_fit(k = 61L)), "'k' must be between 1 and 60"),
  internal("k = NA", quote(raw_fit(k = NA_integer_)), "'k' must not be NA"),
  internal("k = 1e10", quote(raw_fit(k = 1e10)), "'k' must be between"),
  internal("k = '2'", quote(raw_fit(k = "2")), "'k' must be a single whole number"),
  internal("k = 1:2", quote(raw_fit(k = 1:2)), "'k' must be a single whole number"),
  internal("no seeds", quote(raw_fit(seeds = integer(0), kinds = integer(0))), "'seeds'"),
  internal("seeds NA", quote(raw_fit(seeds = NA_integer_)), "'seeds' must not hold NA"),
  internal("seeds as doubles", quote(raw_fit(seeds = 1)), "'seeds' must be an integer vector"),
  internal("kinds too long", quote(raw_fit(kinds = c(0L, 1L))), "'kinds'"),
  internal("kind 3", quote(raw_fit(kinds = 3L)), "'kinds' must hold 0"),
  internal("kind -1", quote(raw_fit(kinds = -1L)), "'kinds' must hold 0"),
  internal("given missing", quote(raw_fit(kinds = 2L)), "'given' must be a double matrix"),
  internal("given of the wrong shape", quote(raw_fit(kinds = 2L, given = matrix(0.5, 59, 2))),
           "'given' must have 60 rows"),
  internal("given of too many columns", quote(raw_fit(kinds = 2L, given = matrix(0.5, 60, 3))),
           "'given' must have 2 columns"),
  internal("given with NA", quote(raw_fit(kinds = 2L, given = matrix(NA_real_, 60, 2))),
           "'given' must hold posteriors between 0 and 1"),
  internal("given rows not summing to 1", quote(raw_fit(kinds = 2L, given = matrix(0.2, 60, 2))),
           "'given' must have rows summing to 1"),
  internal("threads 0", quote(raw_fit(threads = 0L)), "'threads' must be between 1"),
  internal("max_iter 0", quote(raw_fit(max_iter = 0L)), "'max_iter' must be between 1"),
  internal("max_iter NA", quote(raw_fit(max_iter = NA_integer_)), "'max_iter' must not be NA"),
  internal("tol -1", quote(raw_fit(tol = -1)), "'tol' must be >= 0"),
  internal("tol NaN", quote(raw_fit(tol = NaN)), "'tol' must be a finite number"),
  internal("rel_tol Inf", quote(raw_fit(rel_tol = Inf)), "'rel_tol' must be a finite number"),
  internal("accelerate NA", quote(raw_fit(accelerate = NA)), "'accelerate' must be TRUE or FALSE"),
  internal("verbose 1", quote(raw_fit(verbose = 1)), "'verbose' must be TRUE or FALSE"),
  internal("search not a list", quote(raw_fit(search = 1:5)), "'search' must be a list"),
  internal("search empty", quote(raw_fit(search = list())), "'search\\$screen_iter' is missing"),
  internal("counts not a list", quote(raw_fit(counts = 1:5)), "corrupt count table"),
  internal("counts without arrays", quote(raw_fit(counts = list(n_samples = 3L, n_taxa = 2L))),
           "corrupt count table"),
  internal("log_evidence rows", quote(fastdmm:::.log_evidence(table, matrix(0, 5, 2), 1L)),
           "'log_alpha' must have 12 rows"),
  internal("log_evidence not a matrix", quote(fastdmm:::.log_evidence(table, rep(0, 12), 1L)),
           "'log_alpha' must be a double matrix"),
  internal("log_evidence threads", quote(fastdmm:::.log_evidence(table, matrix(0, 12, 2), 0L)),
           "'threads' must be between 1"),
  internal("component_terms posterior", quote(fastdmm:::.component_terms(table, rep(1, 59),
                                                                         rep(0, 12), FALSE)),
           "'posterior' must be a double vector of length 60"),
  internal("component_terms log_alpha", quote(fastdmm:::.component_terms(table, rep(1, 60),
                                                                         rep(0L, 12), FALSE)),
           "'log_alpha' must be a double vector of length 12"),
  internal("optimise_component log_alpha", quote(fastdmm:::.optimise_component(table, rep(1, 60),
                                                                               rep(0, 13), FALSE, 0)),
           "'log_alpha' must be a double vector of length 12"),
  internal("optimise_component near_optimum NA",
           quote(fastdmm:::.optimise_component(table, rep(1, 60), rep(0, 12), NA, 0)),
           "'near_optimum' must be TRUE or FALSE"),
  internal("optimise_component objective_tolerance -1",
           quote(fastdmm:::.optimise_component(table, rep(1, 60), rep(0, 12), FALSE, -1)),
           "'objective_tolerance' must be"),
  internal("transfers_twice labels length",
           quote(fastdmm:::.transfers_twice(table, rep(1L, 59), matrix(0, 12, 2))),
           "'labels' must be an integer vector of length 60"),
  internal("transfers_twice labels 3 of 2",
           quote(fastdmm:::.transfers_twice(table, rep(1:3, 20), matrix(0, 12, 2))),
           "'labels' must be components 1 to 2"),
  internal("transfers_twice empty component",
           quote(fastdmm:::.transfers_twice(table, rep(1L, 60), matrix(0, 12, 2))),
           "'labels' must leave no component empty"),
  internal("transfers_twice log_alpha rows",
           quote(fastdmm:::.transfers_twice(table, rep(1:2, 30), matrix(0, 11, 2))),
           "'log_alpha' must have 12 rows"),
  internal("transfers_reuse labels length",
           quote(fastdmm:::.transfers_reuse(table, rep(1L, 59), matrix(0, 12, 2))),
           "'labels' must be an integer vector of length 60"),
  internal("transfers_reuse log_alpha rows",
           quote(fastdmm:::.transfers_reuse(table, rep(1:2, 30), matrix(0, 11, 2))),
           "'log_alpha' must have 12 rows"),
  internal("transfers_join_start labels length",
           quote(fastdmm:::.transfers_join_start(table, rep(1L, 59), matrix(0, 12, 2))),
           "'labels' must be an integer vector of length 60"),
  internal("split_merge_twice log_alpha NaN",
           quote(fastdmm:::.split_merge_twice(table, rep(1:2, 30), matrix(NaN, 12, 2), 1L)),
           "'log_alpha' must hold values in \\[-50, 50\\]"),
  internal("split_merge_twice seed",
           quote(fastdmm:::.split_merge_twice(table, rep(1:2, 30), matrix(0, 12, 2), -1L)),
           "'seed'"),
  internal("columns_cached log_alphas not a list",
           quote(fastdmm:::.columns_cached(table, matrix(0, 12, 2), c(1, 1), 4L)),
           "'log_alphas' must be a non-empty list of matrices"),
  internal("columns_cached log_alphas rows",
           quote(fastdmm:::.columns_cached(table, list(matrix(0, 11, 2)), c(1, 1), 4L)),
           "'log_alphas\\[\\[1\\]\\]' must have 12 rows"),
  internal("columns_cached log_alphas columns differ",
           quote(fastdmm:::.columns_cached(table, list(matrix(0, 12, 2), matrix(0, 12, 3)),
                                           c(1, 1), 4L)),
           "'log_alphas\\[\\[2\\]\\]' must have 2 columns"),
  internal("columns_cached log_alphas NaN",
           quote(fastdmm:::.columns_cached(table, list(matrix(NaN, 12, 2)), c(1, 1), 4L)),
           "'log_alphas\\[\\[1\\]\\]' must hold values in \\[-50, 50\\]"),
  internal("columns_cached weights length",
           quote(fastdmm:::.columns_cached(table, list(matrix(0, 12, 2)), 1, 4L)),
           "'weights' must be a double vector of length 2"),
  internal("columns_cached weights all 0",
           quote(fastdmm:::.columns_cached(table, list(matrix(0, 12, 2)), c(0, 0), 4L)),
           "'weights' must not all be 0"),
  internal("columns_cached capacity 0",
           quote(fastdmm:::.columns_cached(table, list(matrix(0, 12, 2)), c(1, 1), 0L)),
           "'capacity'"),
  internal("transfers_cached labels length",
           quote(fastdmm:::.transfers_cached(table, rep(1L, 59), matrix(0, 12, 2))),
           "'labels' must be an integer vector of length 60"),
  internal("transfers_cached log_alpha NaN",
           quote(fastdmm:::.transfers_cached(table, rep(1:2, 30), matrix(NaN, 12, 2))),
           "'log_alpha' must hold values in \\[-50, 50\\]"),
  internal("transfers_twice log_alpha Inf",
           quote(fastdmm:::.transfers_twice(table, rep(1:2, 30), matrix(Inf, 12, 2))),
           "'log_alpha' must hold values in \\[-50, 50\\]"),
  internal("transfers_cached log_alpha rows",
           quote(fastdmm:::.transfers_cached(table, rep(1:2, 30), matrix(0, 11, 2))),
           "'log_alpha' must have 12 rows"),
  internal("em_reuse reuse NA",
           quote(fastdmm:::.em_reuse(table, rep(1:2, 30), matrix(0, 12, 2), NA)),
           "'reuse'"),
  internal("em_reuse labels 3 of 2",
           quote(fastdmm:::.em_reuse(table, rep(1:3, 20), matrix(0, 12, 2), TRUE)),
           "'labels' must be components 1 to 2"),
  internal("known_optima posteriors not a list",
           quote(fastdmm:::.known_optima(diag(2), 1, diag(2), 1, 1e-6)),
           "'posteriors' must be a list of matrices"),
  internal("known_optima posteriors of another shape",
           quote(fastdmm:::.known_optima(list(diag(3)), 1, diag(2), 1, 1e-6)),
           "'posteriors' must be matrices of the query's shape"),
  internal("known_optima nles too short",
           quote(fastdmm:::.known_optima(list(diag(2)), numeric(0), diag(2), 1, 1e-6)),
           "'nles' must be a double vector of length 1"),
  internal("known_optima nles NA",
           quote(fastdmm:::.known_optima(list(diag(2)), NA_real_, diag(2), 1, 1e-6)),
           "'nles' must be finite"),
  internal("known_optima query not a matrix",
           quote(fastdmm:::.known_optima(list(diag(2)), 1, c(1, 0), 1, 1e-6)),
           "'query' must be a double matrix"),
  internal("known_optima tolerance NA",
           quote(fastdmm:::.known_optima(list(diag(2)), 1, diag(2), 1, NA_real_)),
           "'tolerance' must be a finite number"),
  internal("bisection_nodes members double",
           quote(fastdmm:::.bisection_nodes(table, c(1, 2, 3), TRUE)),
           "'members' must be an integer vector of sample indices"),
  internal("bisection_nodes members out of range",
           quote(fastdmm:::.bisection_nodes(table, c(1L, 61L), TRUE)),
           "'members' must be sample indices from 1 to the number of samples"),
  internal("bisection_nodes members NA",
           quote(fastdmm:::.bisection_nodes(table, c(1L, NA_integer_), TRUE)),
           "'members' must be sample indices from 1 to the number of samples"),
  internal("bisection_nodes members repeated",
           quote(fastdmm:::.bisection_nodes(table, c(1L, 2L, 1L), FALSE)),
           "'members' must be distinct"),
  internal("bisection_nodes by_rows NA",
           quote(fastdmm:::.bisection_nodes(table, c(1L, 2L, 3L), NA)),
           "'by_rows' must be TRUE or FALSE"),
  internal("hellinger_subset members repeated",
           quote(fastdmm:::.hellinger_subset(table, c(3L, 2L, 3L), 2L, TRUE, 1L)),
           "'members' must be distinct"),
  internal("hellinger_subset k = 0",
           quote(fastdmm:::.hellinger_subset(table, 1:5, 0L, TRUE, 1L)),
           "'k' must be between 1 and 60"),
  internal("hellinger_subset by_rows a string",
           quote(fastdmm:::.hellinger_subset(table, 1:5, 2L, "yes", 1L)),
           "'by_rows' must be TRUE or FALSE"),
  internal("hellinger_subset threads = 0",
           quote(fastdmm:::.hellinger_subset(table, 1:5, 2L, TRUE, 0L)),
           "'threads' must be"),
  internal("model_division members out of range",
           quote(fastdmm:::.model_division(table, c(1L, 61L), 1L)),
           "'members' must be sample indices from 1 to the number of samples"),
  internal("model_division members repeated",
           quote(fastdmm:::.model_division(table, c(4L, 5L, 4L), 1L)),
           "'members' must be distinct"),
  internal("group_trial to out of range",
           quote(fastdmm:::.group_trial(table, rep(1:2, 30), matrix(0, 12, 2), 1:2, 3L, TRUE)),
           "'to' must be between 1 and 2"),
  internal("group_trial after_em NA",
           quote(fastdmm:::.group_trial(table, rep(1:2, 30), matrix(0, 12, 2), 1:2, 2L, NA)),
           "'after_em'"),
  internal("group_trial members repeated",
           quote(fastdmm:::.group_trial(table, rep(1:2, 30), matrix(0, 12, 2), c(1L, 1L), 2L,
                                        TRUE)),
           "'members' must be distinct"),
  internal("group_trial members everywhere",
           quote(fastdmm:::.group_trial(table, rep(1:2, 30), matrix(0, 12, 2), 1:60, 2L, TRUE)),
           "'members' must (be in one component|leave their component)"),
  internal("group_trial labels 3 of 2",
           quote(fastdmm:::.group_trial(table, rep(1:3, 20), matrix(0, 12, 2), 1:2, 2L, TRUE)),
           "'labels' must be components 1 to 2"),
  internal("model_division threads NA",
           quote(fastdmm:::.model_division(table, 1:5, NA_integer_)),
           "'threads' must not be NA"),
  internal("gamma_differences a = 0", quote(fastdmm:::.gamma_differences(0, c(1, 2))),
           "'a' must be between"),
  internal("gamma_differences a NaN", quote(fastdmm:::.gamma_differences(NaN, c(1, 2))),
           "'a' must be a finite number"),
  internal("gamma_differences v integer", quote(fastdmm:::.gamma_differences(1, 1:3)),
           "'v' must be a double vector"),
  internal("gamma_differences v not increasing", quote(fastdmm:::.gamma_differences(1, c(2, 1))),
           "'v' must hold increasing whole numbers"),
  internal("gamma_differences v fractional", quote(fastdmm:::.gamma_differences(1, 1.5)),
           "'v' must hold increasing whole numbers"),
  internal("gamma_differences v NA", quote(fastdmm:::.gamma_differences(1, NA_real_)),
           "'v' must hold increasing whole numbers"),
  internal("gamma_differences v too long",
           quote(fastdmm:::.gamma_differences(1, as.numeric(seq_len(10000001)))),
           "'v' must have at most"),
  internal("hellinger_kmeans k = 0", quote(fastdmm:::.hellinger_kmeans(table, 0L, 1L, 1L)),
           "'k' must be between 1 and 60"),
  internal("soft_kmeans k = 61", quote(fastdmm:::.soft_kmeans(table, 61L, 1L, 1L)),
           "'k' must be between 1 and 60"),
  internal("derive_seeds n = -1", quote(fastdmm:::.derive_seeds(1L, -1L)),
           "'n' must be between 0"),
  internal("derive_seeds seed NA", quote(fastdmm:::.derive_seeds(NA_integer_, 2L)),
           "'seed' must not be NA"),
  internal("reference_stream n_values 0", quote(fastdmm:::.reference_stream(1L, 5L, 0L)),
           "'n_values' must be between 1"),
  internal("subset_counts decreasing rows", quote(fastdmm:::.subset_counts(table, c(2L, 1L), 1L)),
           "'rows' must be increasing row numbers"),
  internal("subset_counts row 0", quote(fastdmm:::.subset_counts(table, 0L, 1L)),
           "'rows' must be increasing row numbers"),
  internal("subset_counts row 61", quote(fastdmm:::.subset_counts(table, 61L, 1L)),
           "'rows' must be increasing row numbers"),
  internal("subset_counts row NA", quote(fastdmm:::.subset_counts(table, NA_integer_, 1L)),
           "'rows' must be increasing row numbers"),
  internal("build_counts edited dgCMatrix p", quote({
    bad <- sparse()
    bad@p[3] <- 100000L
    fastdmm:::.build_counts(bad, 1L)
  }), "invalid dgCMatrix"),
  internal("build_counts edited dgCMatrix i", quote({
    bad <- sparse()
    bad@i[1] <- 1000L
    fastdmm:::.build_counts(bad, 1L)
  }), "invalid compressed-column table"),
  internal("build_counts threads NA", quote(fastdmm:::.build_counts(x, NA_integer_)),
           "'threads' must not be NA")
)
# Every setting of the search, out of range in every way.
for (field in c("screen_iter", "n_continue", "max_tries", "max_moves", "subsample",
                "replicates", "max_starts", "concurrent_starts", "kicks")) {
  for (value in list(0L, -1L, 1e10, 1.5, "a", c(1L, 2L), NULL, TRUE)) {
    # 0 is a valid max_moves (no moves), subsample (never subsample),
    # replicates (a screened search) and kicks (none).
    if (field %in% c("max_moves", "subsample", "replicates", "kicks") && identical(value, 0L)) next
    internal_cases <- c(internal_cases, internal(
      sprintf("search$%s = %s", field, deparse1(value)),
      bquote(raw_fit(search = raw_search_with(.(field), .(value)))),
      sprintf("'search\\$%s'", field)))
  }
}

for (flag in c("transfers", "resplits", "all_singles", "divisions", "settle", "reuse_msteps",
               "column_cache")) {
  for (value in list(NA, "a", c(TRUE, FALSE), NULL, 1L)) {
    internal_cases <- c(internal_cases, internal(
      sprintf("search$%s = %s", flag, deparse1(value)),
      bquote(raw_fit(search = raw_search_with(.(flag), .(value)))),
      sprintf("'search\\$%s'", flag)))
  }
}

# ---- the sweeps ------------------------------------------------------------------------

# bluster's cases last, so that only the batches holding them load it.
all_cases <- c(fit_rows, method_rows, explicit_rows, internal_cases, param_rows)

test_that("every exported function ends every case in a value or a classed error naming the argument", {
  expect_sweep(all_cases, sweep_setup, batch_size = 1000)
  # The sweep is as large as its table says (the count is in the report).
  expect_gt(length(all_cases), 2500L)
})

# ---- rdmm() (its edge cases are issue 13, item 5) ---------------------------------------

is_counts <- quote(is.matrix(.value) && is.integer(.value))
is_sparse_counts <- quote(inherits(.value, "dgCMatrix") && nrow(.value) %in% c(5L, 10L) &&
                            length(attr(.value, "component")) == nrow(.value))
rdmm_cases <- c(
  probe_row("rdmm", quote(rdmm(.v, alpha, depth = 100)), "n", accepts$count, is_counts),
  probe_row("rdmm", quote(rdmm(10, .v, depth = 100)), "alpha",
            c("1.5", "1e10", "int_max+1", "matrix(1)", "c(1, 2)"), is_counts,
            either = "a Date"),
  probe_row("rdmm", quote(rdmm(10, alpha, pi = .v, depth = 100)), "pi", "NULL", is_counts),
  probe_row("rdmm", quote(rdmm(10, alpha, depth = .v)), "depth", accepts$count, is_counts),
  probe_row("simulate", quote(simulate(fit, nsim = .v, depth = 100)), "nsim", accepts$count,
            is_counts),
  probe_row("simulate", quote(simulate(fit, 5, depth = .v)), "depth", accepts$count, is_counts),
  probe_row("simulate", quote(simulate(fit, 5, seed = .v, depth = 100)), "seed",
            c("0", "-1", "1.5", "matrix(1)", "NULL"), is_counts),
  probe_row("rdmm", quote(rdmm(10, alpha, depth = 100, sparse = .v)), "sparse",
            accepts$flag, is_sparse_counts),
  probe_row("rdmm", quote(rdmm(10, alpha, depth = 100, sparse = TRUE, threads = .v)),
            "threads", c(accepts$count, "NULL"), is_sparse_counts),
  probe_row("simulate", quote(simulate(fit, 5, depth = 100, sparse = .v)), "sparse",
            accepts$flag, is_sparse_counts),
  probe_row("simulate", quote(simulate(fit, 5, depth = 100, sparse = TRUE, threads = .v)),
            "threads", c(accepts$count, "NULL"), is_sparse_counts),
  probe_row("simulate", quote(simulate(fit, 5, depth = 100, bogus = .v)), "bogus",
            accepts$none),
  explicit("issue 5: rdmm of tiny alphas", quote(rdmm(10, rep(1e-310, 12), depth = 100)),
           "either", "alpha", is_counts),
  explicit("issue 5: rdmm of no taxa", quote(rdmm(10, numeric(0), depth = 100)), "error",
           "alpha"),
  explicit("issue 5: rdmm of a 0-row alpha", quote(rdmm(10, matrix(numeric(0), 0, 2),
                                                         depth = 100)), "error", "alpha"),
  explicit("issue 2: rdmm(1e10)", quote(rdmm(1e10, alpha, depth = 100)), "error", "n")
)

test_that("rdmm() and simulate() end every case in a value or a classed error naming the argument", {
  expect_sweep(rdmm_cases, sweep_setup)
})

# ---- the harness can fail --------------------------------------------------------------

test_that("the sweep reports a crash, R's own errors and unclassed warnings as failures", {
  planted <- c(
    # Signal 11 is SIGSEGV on Linux and macOS: the child dies as on a segfault.
    explicit("planted crash", quote(tools::pskill(Sys.getpid(), 11L)), "value"),
    explicit("after the crash", quote(dmn_fit(x, 2, seed = 1, threads = 1, nstart = 1)), "value",
             check = is_fit),
    explicit("R's match.arg", quote(match.arg("bogus", c("exact", "reference"))), "error",
             "arg"),
    explicit("an unclassed warning", quote({
      warning("NAs introduced by coercion")
      1
    }), "value"),
    explicit("a value where an error is due", quote(1), "error", "x"),
    explicit("a value failing its check", quote(1), "value", check = quote(.value == 2)),
    explicit("a fastdmm error naming another argument", quote(dmn_fit(x, 0, nstart = 1)), "error", "seed")
  )
  results <- run_sweep(planted, sweep_setup)
  expect_identical(results[["planted crash"]]$outcome, "crash")
  # The cases after the crash still ran, in a new process.
  expect_identical(results[["after the crash"]]$outcome, "value")
  verdicts <- vapply(seq_along(planted), function(i) judge_case(planted[[i]], results[[i]]),
                     character(1))
  names(verdicts) <- names(results)
  expect_match(verdicts[["planted crash"]], "^CRASH")
  expect_identical(verdicts[["after the crash"]], "")
  expect_match(verdicts[["R's match.arg"]], "not fastdmm's")
  expect_match(verdicts[["an unclassed warning"]], "warning that is not fastdmm's")
  expect_match(verdicts[["a value where an error is due"]], "returned a value")
  expect_match(verdicts[["a value failing its check"]], "fails the case's check")
  expect_match(verdicts[["a fastdmm error naming another argument"]], "not naming 'seed'")
  # And expect_sweep() fails on them.
  expect_failure(expect_sweep(planted[1:2], sweep_setup), "planted crash: CRASH")
})
