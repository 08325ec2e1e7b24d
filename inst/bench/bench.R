# Benchmark: fastdmm::dmn_fit() against DirichletMultinomial::dmn() on the same
# tables and seed, every fit in a fresh R process (see inst/bench/README.md).
#
# Run from the package root:  Rscript inst/bench/bench.R   (or: make bench)
# Environment variables:
#   FASTDMM_BENCH_SCENARIOS   comma-separated scenario names (or prefixes: "Twins"
#                             selects all Twins rows); default all
#   FASTDMM_BENCH_QUICK=1     smoke test: Twins k=3, Small, Medium
#   FASTDMM_BENCH_SKIP_REF    comma-separated scenarios whose reference is not run
#   FASTDMM_BENCH_REF_LIMIT   seconds after which the reference fit is stopped (600)
#   FASTDMM_BENCH_FAST_LIMIT  the same for each fastdmm fit (3600)
#   FASTDMM_BENCH_REPS        fastdmm repetitions per thread count, median kept (3)
#   FASTDMM_BENCH_OUT         also write the table as CSV to this path

# ---- settings ---------------------------------------------------------------

# One line per scenario in the printed table.
options(width = 250)

env_number <- function(name, default) {
  value <- Sys.getenv(name, "")
  if (!nzchar(value)) return(default)
  number <- suppressWarnings(as.numeric(value))
  if (is.na(number) || number <= 0) stop(sprintf("%s must be a positive number, not '%s'",
                                                 name, value), call. = FALSE)
  number
}
env_list <- function(name) {
  value <- trimws(strsplit(Sys.getenv(name, ""), ",", fixed = TRUE)[[1]])
  value[nzchar(value)]
}

ref_limit <- env_number("FASTDMM_BENCH_REF_LIMIT", 600)
fast_limit <- env_number("FASTDMM_BENCH_FAST_LIMIT", 3600)
reps <- as.integer(env_number("FASTDMM_BENCH_REPS", 3))
quick <- identical(Sys.getenv("FASTDMM_BENCH_QUICK", ""), "1")
out_csv <- Sys.getenv("FASTDMM_BENCH_OUT", "")
fit_seed <- 1L
have_reference <- requireNamespace("DirichletMultinomial", quietly = TRUE)
have_callr <- requireNamespace("callr", quietly = TRUE)
if (!requireNamespace("fastdmm", quietly = TRUE)) {
  stop("fastdmm is not installed: run 'make install' (or 'make bench') first", call. = FALSE)
}
all_threads <- RcppParallel::defaultNumThreads()

# ---- scenarios --------------------------------------------------------------
# Simulated tables: `sdlog` sets how heavy-tailed the taxon abundances are and
# `precision` the Dirichlet sum (small = overdispersed); both were chosen per
# width so that 70-95% of the cells are zero, as in real 16S tables.

twins <- function(k) list(name = sprintf("Twins k=%d", k), data = "twins", k = k)
simulated <- function(name, n, taxa, k, sdlog, precision, seed) {
  list(name = name, data = "simulated", n = n, taxa = taxa, k = k, sdlog = sdlog,
       precision = precision, seed = seed)
}
scenarios <- c(lapply(1:7, twins), list(
  simulated("Small", 100, 20, 3, sdlog = 4, precision = 5, seed = 101),
  simulated("Medium", 1000, 50, 5, sdlog = 3, precision = 10, seed = 102),
  simulated("Wide", 1000, 500, 5, sdlog = 1.5, precision = 30, seed = 103),
  simulated("Many components", 1000, 50, 20, sdlog = 3, precision = 10, seed = 104),
  simulated("Large", 10000, 100, 10, sdlog = 2.5, precision = 20, seed = 105),
  simulated("Huge", 100000, 1000, 10, sdlog = 1.2, precision = 50, seed = 106),
  # 20,000 x 300, k = 6: the target for the parallel speed-up.
  simulated("Parallel", 20000, 300, 6, sdlog = 1.8, precision = 30, seed = 107)
))
scenario_names <- vapply(scenarios, `[[`, "", "name")

normalise <- function(x) gsub("[^a-z0-9=]", "", tolower(x))
matches <- function(selectors) {
  hit <- rep(FALSE, length(scenario_names))
  for (selector in selectors) {
    this <- startsWith(normalise(scenario_names), normalise(selector))
    if (!any(this)) {
      stop(sprintf("unknown scenario '%s'; choose from: %s", selector,
                   paste(scenario_names, collapse = ", ")), call. = FALSE)
    }
    hit <- hit | this
  }
  hit
}
selected <- if (quick) {
  matches(c("Twins k=3", "Small", "Medium"))
} else if (length(env_list("FASTDMM_BENCH_SCENARIOS")) > 0L) {
  matches(env_list("FASTDMM_BENCH_SCENARIOS"))
} else {
  rep(TRUE, length(scenarios))
}
skip_reference <- if (length(env_list("FASTDMM_BENCH_SKIP_REF")) > 0L) {
  matches(env_list("FASTDMM_BENCH_SKIP_REF"))
} else {
  rep(FALSE, length(scenarios))
}

# simulate_table(scenario): the shared generator of the simulated tables.
source("inst/bench/tables.R")

load_twins <- function() {
  file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
  t(as.matrix(utils::read.csv(file, row.names = 1)))
}

# ---- one fit in a fresh R process -------------------------------------------

# Runs inside the child: reads the table, fits, and reports the fit time (the
# fit call only, not R start-up or loading), peak resident memory of the whole
# process (VmHWM, so it includes R itself and the table) and the result.
fit_worker <- function(data_file, method, k, threads, seed, started_file) {
  vm <- function(field) {
    status <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
    line <- grep(paste0("^", field, ":"), status, value = TRUE)
    if (length(line) == 0L) return(NA_real_)
    as.numeric(gsub("[^0-9]", "", line)) / 1024
  }
  result <- list(ok = FALSE, error = NA_character_, warnings = character())
  counts <- readRDS(data_file)
  if (method == "reference") {
    suppressPackageStartupMessages(loadNamespace("DirichletMultinomial"))
  } else {
    loadNamespace("fastdmm")
  }
  invisible(gc())
  result$base_mb <- vm("VmRSS")
  writeLines(c(as.character(Sys.getpid()), format(as.numeric(Sys.time()), digits = 15)),
             started_file)
  keep_warning <- function(w) {
    result$warnings <<- c(result$warnings, conditionMessage(w))
    invokeRestart("muffleWarning")
  }
  started <- proc.time()[["elapsed"]]
  fit <- tryCatch(withCallingHandlers({
    if (method == "reference") {
      verbose <- utils::capture.output(
        fit <- DirichletMultinomial::dmn(counts, k, verbose = TRUE, seed = seed))
      result$verbose <- verbose
      fit
    } else {
      fastdmm::dmn_fit(counts, k, seed = seed, threads = threads, nstart = 1)
    }
  }, warning = keep_warning), error = function(e) {
    result$error <<- conditionMessage(e)
    NULL
  })
  result$seconds <- proc.time()[["elapsed"]] - started
  result$peak_mb <- vm("VmHWM")
  if (is.null(fit)) return(result)
  result$ok <- TRUE
  if (method == "reference") {
    result$nle <- DirichletMultinomial::goodnessOfFit(fit)[["NLE"]]
  } else {
    result$nle <- fastdmm::goodnessOfFit(fit)[["NLE"]]
    result$em_iterations <- fit$em_iterations
    result$converged <- fit$converged
    # Everything but the call and the thread count, for identical() across runs.
    fit$call <- NULL
    fit$threads <- NULL
    result$fit <- fit
  }
  result
}

# Starts fit_worker() in a new R process (callr if installed, else Rscript) and
# stops it once the fit itself has run `limit` seconds.
run_fit <- function(data_file, method, k, threads, limit) {
  started_file <- tempfile("started")
  args <- list(data_file = data_file, method = method, k = k, threads = threads,
               seed = fit_seed, started_file = started_file)
  log_file <- tempfile("child", fileext = ".log")
  if (have_callr) {
    process <- callr::r_bg(fit_worker, args = args, stdout = log_file, stderr = "2>&1",
                           package = FALSE)
    alive <- function() process$is_alive()
    stop_child <- function() process$kill()
    collect <- function() tryCatch(process$get_result(), error = function(e) {
      list(ok = FALSE, error = paste("child process failed:", conditionMessage(e)))
    })
  } else {
    job_file <- tempfile("job", fileext = ".rds")
    result_file <- tempfile("result", fileext = ".rds")
    saveRDS(list(fun = fit_worker, args = args), job_file)
    code <- sprintf("job <- readRDS('%s'); saveRDS(do.call(job$fun, job$args), '%s')",
                    job_file, result_file)
    system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(code)),
            stdout = log_file, stderr = log_file, wait = FALSE)
    child_pid <- function() {
      if (!file.exists(started_file)) return(NA_integer_)
      as.integer(readLines(started_file, n = 1L, warn = FALSE))
    }
    alive <- function() {
      if (file.exists(result_file)) return(FALSE)
      pid <- child_pid()
      if (is.na(pid)) return(TRUE)  # still starting up
      state <- tryCatch(readLines(sprintf("/proc/%d/status", pid)), error = function(e) "")
      !any(grepl("^State:\\s+Z", state)) && isTRUE(tools::pskill(pid, 0L))
    }
    stop_child <- function() tools::pskill(child_pid(), tools::SIGKILL)
    collect <- function() {
      Sys.sleep(0.5)  # let saveRDS() finish
      if (file.exists(result_file)) readRDS(result_file) else
        list(ok = FALSE, error = paste("child process died:",
                                       paste(readLines(log_file), collapse = " | ")))
    }
  }
  # An interrupt (Ctrl-C) of the benchmark must not leave a fit running.
  on.exit(if (alive()) stop_child(), add = TRUE)
  timed_out <- FALSE
  while (alive()) {
    Sys.sleep(0.2)
    if (file.exists(started_file)) {
      stamp <- readLines(started_file, warn = FALSE)
      if (length(stamp) == 2L &&
          as.numeric(Sys.time()) - as.numeric(stamp[2]) > limit) {
        stop_child()
        timed_out <- TRUE
        break
      }
    }
  }
  if (timed_out) return(list(ok = FALSE, timed_out = TRUE, error = NA_character_))
  result <- collect()
  result$timed_out <- FALSE
  result
}

# ---- reporting helpers ------------------------------------------------------

reference_iterations <- function(verbose) {
  # The reference prints "iteration <i> change <x>" after every 10th EM
  # iteration (and caps EM at 100), so the count is known to within 10.
  em <- which(trimws(verbose) == "Expectation Maximization")
  if (length(em) == 0L) return(NA_character_)
  lines <- verbose[seq.int(em[1], length(verbose))]
  printed <- as.integer(sub(".*iteration ([0-9]+) .*", "\\1",
                            grep("iteration [0-9]+ change", lines, value = TRUE)))
  if (length(printed) == 0L) return("1-9")
  last <- max(printed)
  if (last >= 100L) "100" else sprintf("%d-%d", last, last + 9L)
}

fmt <- function(x, digits = 3) {
  if (length(x) == 0L || is.na(x)) return("NA")
  trimws(formatC(signif(x, digits), digits = digits, format = "fg"))
}
fmt_seconds <- function(x) {
  if (is.na(x)) return("NA")
  if (x >= 100) sprintf("%.0f", x) else if (x >= 1) sprintf("%.2f", x) else sprintf("%.3f", x)
}

log_line <- function(...) {
  cat(format(Sys.time(), "[%H:%M:%S] "), sprintf(...), "\n", sep = "")
}

# ---- run --------------------------------------------------------------------

cat("fastdmm benchmark\n")
cat(sprintf("fastdmm %s; DirichletMultinomial %s; %s; %d threads (RcppParallel::defaultNumThreads()); %s\n",
            utils::packageVersion("fastdmm"),
            if (have_reference) as.character(utils::packageVersion("DirichletMultinomial")) else "not installed",
            R.version.string, all_threads, if (have_callr) "callr" else "Rscript subprocesses"))
cat(sprintf("reference limit %g s; fastdmm repetitions %d (median); fit seed %d\n\n",
            ref_limit, reps, fit_seed))

if (!have_reference && any(selected[startsWith(scenario_names, "Twins")])) {
  log_line("DirichletMultinomial is not installed: skipping the Twins scenarios")
  selected[startsWith(scenario_names, "Twins")] <- FALSE
}

work_dir <- tempfile("fastdmm-bench")
dir.create(work_dir)
rows <- list()
notes <- character()
note <- function(scenario, text) notes <<- c(notes, sprintf("%s: %s", scenario, text))
run_started <- Sys.time()

for (index in which(selected)) {
  scenario <- scenarios[[index]]
  name <- scenario$name
  counts <- if (scenario$data == "twins") load_twins() else simulate_table(scenario)
  data_file <- file.path(work_dir, "counts.rds")
  saveRDS(counts, data_file, compress = FALSE)
  n <- nrow(counts)
  taxa <- ncol(counts)
  zeros <- 100 * mean(counts == 0)
  empty_taxa <- sum(colSums(counts) == 0)
  rm(counts)
  invisible(gc())
  log_line("%s: %d x %d, k = %d, %.1f%% zeros, %d taxa all zero",
           name, n, taxa, scenario$k, zeros, empty_taxa)

  # Reference, once.
  ref <- list(ok = FALSE, timed_out = FALSE, error = NA_character_)
  ref_status <- "not installed"
  if (have_reference && skip_reference[index]) {
    ref_status <- "not run"
  } else if (have_reference) {
    ref <- run_fit(data_file, "reference", scenario$k, 1L, ref_limit)
    ref_status <- if (ref$ok) "ok" else if (isTRUE(ref$timed_out)) "timed out" else "error"
    if (!ref$ok && !isTRUE(ref$timed_out)) note(name, paste("reference error:", ref$error))
    if (length(ref$warnings) > 0L) {
      note(name, paste("reference warning:", paste(unique(ref$warnings), collapse = "; ")))
    }
    log_line("  reference: %s", if (ref$ok) sprintf("%.2f s, NLE %.4f, %.0f MB", ref$seconds,
                                                   ref$nle, ref$peak_mb) else ref_status)
  }

  # fastdmm, alternating 1 thread and all threads so drift in machine load
  # affects both alike.
  fast <- list(`1` = list(), all = list())
  first_fit <- NULL
  all_identical <- TRUE
  for (rep in seq_len(reps)) {
    for (setting in c("1", "all")) {
      threads <- if (setting == "1") 1L else all_threads
      run <- run_fit(data_file, "fastdmm", scenario$k, threads, fast_limit)
      if (run$ok) {
        if (is.null(first_fit)) {
          first_fit <- run$fit
        } else if (!identical(first_fit, run$fit)) {
          all_identical <- FALSE
          note(name, sprintf("fastdmm result differs from the first run (rep %d, threads = %d)",
                             rep, threads))
        }
        if (!isTRUE(run$converged)) note(name, sprintf(
          "fastdmm did not converge in %d EM iterations (threads = %d)", run$em_iterations, threads))
        if (length(run$warnings) > 0L) note(name, sprintf(
          "fastdmm warning (threads = %d): %s", threads, paste(unique(run$warnings), collapse = "; ")))
        run$fit <- NULL
      } else if (isTRUE(run$timed_out)) {
        note(name, sprintf("fastdmm stopped after %g s (threads = %d)", fast_limit, threads))
      } else {
        note(name, sprintf("fastdmm error (threads = %d): %s", threads, run$error))
      }
      fast[[setting]][[rep]] <- run
      log_line("  fastdmm %d thread(s), rep %d: %s", threads, rep,
               if (run$ok) sprintf("%.3f s, NLE %.4f, %d EM iterations, %.0f MB",
                                   run$seconds, run$nle, run$em_iterations, run$peak_mb)
               else if (isTRUE(run$timed_out)) "timed out" else run$error)
    }
  }
  notes <- unique(notes)
  field <- function(runs, what) {
    vapply(runs, function(r) if (isTRUE(r$ok)) as.numeric(r[[what]]) else NA_real_, 0)
  }
  all_runs <- c(fast[["1"]], fast[["all"]])
  ok_runs <- vapply(all_runs, function(r) isTRUE(r$ok), TRUE)
  t1 <- if (all(ok_runs[seq_len(reps)])) stats::median(field(fast[["1"]], "seconds")) else NA
  tn <- if (all(ok_runs[reps + seq_len(reps)])) stats::median(field(fast[["all"]], "seconds")) else NA
  fast_iterations <- unique(stats::na.omit(field(all_runs, "em_iterations")))
  fast_nle <- field(all_runs, "nle")
  if (ref$ok && any(!is.na(fast_nle))) {
    relative <- (fast_nle - ref$nle) / abs(ref$nle)
    nle_diff <- relative[which.max(abs(relative))]
  } else {
    nle_diff <- NA
  }

  ref_seconds <- switch(ref_status, ok = fmt_seconds(ref$seconds),
                        `timed out` = sprintf("> %g", ref_limit), ref_status)
  fast_seconds <- function(runs, median_seconds) {
    timed_out <- any(vapply(runs, function(r) isTRUE(r$timed_out), TRUE))
    if (is.na(median_seconds) && timed_out) sprintf("> %g", fast_limit) else
      fmt_seconds(median_seconds)
  }
  speedup <- if (is.na(t1)) "NA" else if (ref$ok) fmt(ref$seconds / t1) else
    if (ref_status == "timed out") sprintf("> %s", fmt(ref_limit / t1)) else "NA"
  row <- data.frame(
    scenario = name,
    N = n,
    S = taxa,
    K = scenario$k,
    zeros_pct = sprintf("%.1f", zeros),
    ref_s = ref_seconds,
    fast_1thr_s = fast_seconds(fast[["1"]], t1),
    fast_allthr_s = fast_seconds(fast[["all"]], tn),
    speedup = speedup,
    par_eff = fmt(t1 / (all_threads * tn), 2),
    ref_em_iter = if (ref$ok) reference_iterations(ref$verbose) else "NA",
    fast_em_iter = if (length(fast_iterations) == 0L) "NA" else
      paste(fast_iterations, collapse = "/"),
    ref_peak_MB = if (ref$ok) sprintf("%.0f", ref$peak_mb) else "NA",
    fast_peak_MB = if (any(ok_runs)) sprintf("%.0f", max(field(all_runs, "peak_mb"), na.rm = TRUE)) else "NA",
    nle_rel_diff = if (is.na(nle_diff)) "NA" else sprintf("%.2e", nle_diff),
    identical = if (sum(ok_runs) >= 2L) as.character(all_identical) else "NA",
    stringsAsFactors = FALSE
  )
  extra <- data.frame(
    ref_status = ref_status,
    ref_nle = if (ref$ok) sprintf("%.6f", ref$nle) else "NA",
    fast_nle = if (any(ok_runs)) sprintf("%.6f", fast_nle[which(ok_runs)[1]]) else "NA",
    ref_base_MB = if (ref$ok) sprintf("%.0f", ref$base_mb) else "NA",
    fast_base_MB = if (any(ok_runs)) sprintf("%.0f", max(field(all_runs, "base_mb"), na.rm = TRUE)) else "NA",
    threads = all_threads,
    fast_1thr_all_s = paste(vapply(field(fast[["1"]], "seconds"), fmt_seconds, ""), collapse = " "),
    fast_allthr_all_s = paste(vapply(field(fast[["all"]], "seconds"), fmt_seconds, ""), collapse = " "),
    stringsAsFactors = FALSE
  )
  rows[[length(rows) + 1L]] <- cbind(row, extra)
  cat("\n")
  print(row, row.names = FALSE)
  cat("\n")
}

unlink(work_dir, recursive = TRUE)
if (length(rows) == 0L) stop("no scenario was run", call. = FALSE)
table <- do.call(rbind, rows)
printed_columns <- c("scenario", "N", "S", "K", "zeros_pct", "ref_s", "fast_1thr_s",
                     "fast_allthr_s", "speedup", "par_eff", "ref_em_iter", "fast_em_iter",
                     "ref_peak_MB", "fast_peak_MB", "nle_rel_diff", "identical")
cat(sprintf("==== Results (%d threads; wall time %.1f min) ====\n", all_threads,
            as.numeric(difftime(Sys.time(), run_started, units = "mins"))))
print(table[, printed_columns], row.names = FALSE)
cat(sprintf(paste0(
  "\nref_s: DirichletMultinomial::dmn() seconds (one run; '> %g' = stopped at the limit);",
  "\nfast_1thr_s / fast_allthr_s: fastdmm::dmn_fit() median seconds of %d run(s) at 1 / %d threads;",
  "\nspeedup = ref_s / fast_1thr_s; par_eff = fast_1thr_s / (%d * fast_allthr_s);",
  "\nref_em_iter: from the reference's verbose output, printed every 10th iteration",
  " (so a range);\npeak_MB: VmHWM of the whole R process (R, the table and the fit);",
  "\nnle_rel_diff = (NLE fastdmm - NLE reference) / |NLE reference|, negative = fastdmm lower;",
  "\nidentical: every fastdmm run (1 and %d threads, all repetitions) gave an identical() fit.\n"),
  ref_limit, reps, all_threads, all_threads, all_threads))
if (length(notes) > 0L) {
  cat("\nNotes:\n")
  cat(paste0("  ", notes, "\n"), sep = "")
} else {
  cat("\nNotes: none (no errors, warnings, non-convergence or thread differences)\n")
}
if (nzchar(out_csv)) {
  utils::write.csv(table, out_csv, row.names = FALSE)
  cat(sprintf("\nTable written to %s\n", out_csv))
}
