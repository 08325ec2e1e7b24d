# The memory check before a fit: an estimate of what the fit will allocate,
# compared with the memory the system has available, so that a k too large for
# the machine is refused with a classed error instead of the kernel killing R.

# Bytes the system can still give this process: MemAvailable of /proc/meminfo
# (Linux), or the option fastdmm.available_memory (bytes; Inf turns the check
# off). NA where neither says (the check is then skipped).
available_memory <- function() {
  option <- getOption("fastdmm.available_memory")
  if (!is.null(option)) {
    if (!is.numeric(option) || length(option) != 1L || is.na(option) || option < 0) {
      abort_input("options(fastdmm.available_memory)", sprintf(
        "must be a number of bytes (>= 0, Inf to turn the memory check off); it is %s",
        describe_value(option)), "fastdmm_bad_argument")
    }
    return(as.double(option))
  }
  meminfo <- "/proc/meminfo"
  if (!file.exists(meminfo)) return(NA_real_)
  lines <- tryCatch(readLines(meminfo, warn = FALSE), error = function(e) character())
  line <- grep("^MemAvailable:", lines, value = TRUE)
  if (length(line) != 1L) return(NA_real_)
  kb <- suppressWarnings(as.numeric(sub("^MemAvailable:\\s*([0-9]+).*$", "\\1", line)))
  if (is.na(kb)) NA_real_ else kb * 1024
}

# What one fit with k components allocates beyond the count table (which is
# built already), in bytes, from the arrays of src/core and the glue, 8 bytes a
# double:
# - per sample and component (the largest term): every EmState holds
#   `posterior` and `next_posterior` (em.h); an EM run keeps two states at once
#   during a SQUAREM cycle (em.cpp, `two` and `jump`); the histogram workspace's
#   dense posteriors (mstep.cpp, up to N x k) and the evidence of the moves
#   (split_merge.cpp); the result's posterior, copied into an R matrix by the
#   glue and once more by the fit object. The search holds n_continue + 1
#   states while it screens (search.cpp, all nstart when it does not), one
#   more for SQUAREM and one for a split-merge trial, on the subsample when it
#   uses one; the refinement on all samples two. A given start adds R's N x k matrix and
#   the glue's sample-major copy of it; the reference's start its z.
# - per (taxon, count) pair and component: the E-step's pair table, the
#   histogram sums and each live state's histograms.
# - per taxon and component: parameters of every state, SQUAREM's vectors,
#   Hessians, bounds and the R result (a few dozen; 32 counted), 8 more for
#   each further start a replicated search runs side by side.
# - with reused M-steps (search$reuse_msteps, every search but one start from
#   the reference's or a given start): each state's settled posteriors (one more N x k) and
#   settled parameters, and per workspace the E-step's copy of the table's
#   pairs and the parameters its pair table was made from (em.h, evidence.h).
# - per running start of a replicated search on the whole table, and for the
#   start whose division moves run: its cache of E-step columns (evidence.h's
#   ColumnCache: 3 k + 4 columns of 2 taxa + N doubles, fewer when they would
#   take more than 64 MiB, but at least k + 2; none when k + 2 would take more
#   than 256 MiB) and the tables and evidence of the columns an E-step makes
#   (k pairs, 2 k taxa and N k doubles at most).
# Nothing per non-zero: the table is built already and a fit keeps no array
# over the non-zeros. Not counted either: the points a replicated search's
# start keeps while a start before it has not been taken (search.cpp's
# StartPoint): a partition of 4 bytes a sample and a row per move the start
# tried each, a few a start, against the 8 k bytes a sample and the k (taxa +
# pairs) doubles counted for each of its states.
fit_memory_estimate <- function(n_samples, n_taxa, nnz, n_pairs, k, nstart, search,
                                given, concurrent = 1L, kmeanspp = FALSE) {
  double <- 8
  # In doubles: N x k overflows R's integers at a million samples and k = 2,148.
  n_samples <- as.numeric(n_samples)
  n_taxa <- as.numeric(n_taxa)
  nnz <- as.numeric(nnz)
  n_pairs <- as.numeric(n_pairs)
  k <- as.numeric(k)
  # One start from the reference's or a given start is the reference's
  # algorithm: all samples, every M-step (search.cpp's plain_start), whatever
  # moves it is given; one k-means++ start is searched.
  plain <- nstart == 1L && !kmeanspp
  subsampled <- !plain && search$subsample > 0 && n_samples >= 2 * search$subsample
  n <- if (subsampled) search$subsample else n_samples
  # The subsample's own table: its share of the non-zeros, built straight into
  # its tiles at 4 B each (6 with 32-bit pairs), and 20 B per sample (depth,
  # multinomial coefficient, depth index).
  search_table <- if (subsampled) 6 * nnz * n / n_samples + 20 * n else 0
  screening <- nstart > search$n_continue
  moves <- isTRUE(search$split_merge)
  # States alive at once: the kept ones (and the one being screened), SQUAREM's
  # extrapolated state, a split-merge trial. A replicated search running
  # `concurrent` starts side by side keeps the best state and, per start, its
  # own current, SQUAREM and trial states and workspace.
  live_states <- if (concurrent > 1) {
    1 + concurrent * (2 + moves)
  } else {
    (if (screening) search$n_continue + 1 else nstart) + 1 + moves
  }
  reuse <- !plain && !isFALSE(search$reuse_msteps)
  search_rows <- n * k * ((2 + reuse) * live_states + concurrent * (1 + moves))
  refine_rows <- if (subsampled) n_samples * k * 5 else 0
  result_rows <- n_samples * k * 3
  given_rows <- if (given) n_samples * k * 2 + n * k else 0
  pair_terms <- n_pairs * k * (live_states + 3 * concurrent) + reuse * n_pairs * concurrent
  taxon_terms <- (32 + 8 * (concurrent - 1) + reuse * (live_states + concurrent)) * n_taxa * k
  column <- double * (2 * n_taxa + n)
  cached <- !plain && !subsampled && isTRUE(search$replicates > 0) &&
    !isFALSE(search$column_cache) && (k + 2) * column <= 4 * 64 * 2^20
  columns <- if (cached) {
    (concurrent + 1) * (min((3 * k + 4) * column, max((k + 2) * column, 64 * 2^20)) +
                          double * k * (n_pairs + 2 * n_taxa + n))
  } else {
    0
  }
  double * (max(search_rows, refine_rows) + result_rows + given_rows + pair_terms +
              taxon_terms) + columns + search_table + 16 * 2^20
}

# Refuses (class fastdmm_insufficient_memory) a fit whose estimate exceeds the
# memory available; `k` may hold several values (the largest counts, fits run
# one after another in a process).
check_fit_memory <- function(data, k, nstart, search, init) {
  check_memory(max(k), data$n_samples, data$n_taxa, table_nnz(data),
               length(data$pair_value), table_fit_estimate(data, nstart, search, init))
}

# The number of starts a replicated search runs side by side: `threads` (at
# least 1), or fewer when the memory available does not hold that many starts'
# states at once (fit_memory_estimate()'s `concurrent`).
start_concurrency <- function(threads, data, k, search, init) {
  available <- available_memory()
  if (is.na(available) || is.infinite(available)) return(as.integer(threads))
  needed <- table_fit_estimate(data, 2L, search, init)
  w <- as.integer(threads)
  while (w > 1L && needed(max(k), concurrent = w) > available) w <- w - 1L
  w
}

# fit_memory_estimate() for a built table `data` and `init`, as a function of
# k (and of the starts run side by side).
table_fit_estimate <- function(data, nstart, search, init) {
  kind <- given_kind(init)
  given <- identical(kind, "given")
  kmeanspp <- identical(kind, "kmeans++")
  function(k, concurrent = 1L) {
    fit_memory_estimate(data$n_samples, data$n_taxa, table_nnz(data),
                        length(data$pair_value), k, nstart, search, given,
                        concurrent = concurrent, kmeanspp = kmeanspp)
  }
}

# The same check before a BIOM file is read, from its header: the fit's
# estimate as above with no distinct counts (not known yet), plus the table
# still to be built (4 B per non-zero in its tiles and 20 B per sample; while
# it is built, 8 B more per non-zero: build_taxa.h), so that a fit that cannot
# fit is refused before minutes of reading. Invalid arguments are left to
# dmn_fit()'s own checks, which follow.
check_biom_memory <- function(header, k, nstart, search, init) {
  settings <- tryCatch({
    k <- check_components(k, header$n_samples)
    nstart <- check_fit_arg("nstart", nstart)
    list(k = max(k), nstart = nstart %||% 2L, search = resolve_search(search, nstart))
  }, error = function(e) NULL)
  if (is.null(settings)) return(invisible(NULL))
  kind <- given_kind(init)
  n <- header$n_samples
  nnz <- header$nnz
  check_memory(settings$k, n, header$n_taxa, nnz, NA, function(kk) {
    fit <- fit_memory_estimate(n, header$n_taxa, nnz, 0, kk, settings$nstart,
                               settings$search, identical(kind, "given"),
                               kmeanspp = identical(kind, "kmeans++"))
    max(12 * nnz, 4 * nnz + fit) + 20 * n
  })
}

# Refuses k_max components when needed(k_max) bytes exceed what is available,
# naming the largest k that would fit.
check_memory <- function(k_max, n_samples, n_taxa, nnz, n_pairs, needed_for) {
  available <- available_memory()
  if (is.na(available) || is.infinite(available)) return(invisible(NULL))
  needed <- needed_for(k_max)
  if (needed <= available) return(invisible(needed))
  # The largest k that would fit, everything else unchanged.
  fits <- vapply(seq_len(k_max), function(kk) needed_for(kk) <= available, logical(1))
  largest <- if (any(fits)) max(which(fits)) else 0L
  pairs <- if (is.na(n_pairs)) "" else sprintf(", %.0f distinct counts", as.numeric(n_pairs))
  stop(structure(
    class = c("fastdmm_insufficient_memory", "fastdmm_input_error", "error", "condition"),
    list(message = sprintf(paste(
      "'k' = %d on %d samples x %d taxa (%.0f non-zeros%s) needs about",
      "%s for the fit, but %s is available.%s Use fewer components, a subsample of the",
      "samples, fewer starts ('nstart') or a machine with more memory;",
      "options(fastdmm.available_memory = Inf) skips this check."),
      k_max, n_samples, n_taxa, as.numeric(nnz), pairs, format_bytes(needed),
      format_bytes(available),
      if (largest > 0L) sprintf(" At most k = %d would fit.", largest) else ""),
      call = NULL, needed = needed, available = available)
  ))
}

# The kind of start `init` asks for ("given" for labels or posteriors), NA when
# it is neither (check_init() refuses it later with its own words).
given_kind <- function(init) {
  if (!(is.character(init) && length(init) == 1L)) return("given")
  tryCatch(check_choice(init, start_kinds[1:2], "init"), error = function(e) NA_character_)
}

format_bytes <- function(bytes) {
  units <- c("B", "KB", "MB", "GB", "TB")
  power <- max(0, min(length(units) - 1, floor(log(max(bytes, 1), 1024))))
  sprintf("%.1f %s", bytes / 1024^power, units[power + 1])
}
