# Time and peak memory of rdmm(sparse = TRUE) on the table of issue 14: 1,000,000
# samples x 1,000 taxa at depth 5,000, 10 components whose alphas are mostly tiny
# (Gamma(0.2) x 0.05) with 40 large ones (1 to 5) each. Not a test: it prints, per
# thread count, the elapsed and CPU seconds, the non-zeros, the peak resident memory
# of the process (VmHWM) and its growth during the call, and whether every thread
# count drew the same table. The target is <= 30 s on 2 threads.
#
# Each call runs in a fresh child R process that loads fastdmm and Matrix, writes "5"
# to /proc/self/clear_refs (which resets VmHWM to the current resident size) and
# reads VmHWM after the call. Linux only. Timings are wall clock: run it on an
# otherwise idle machine (the load average is printed alongside).
#
#   Rscript inst/bench/rdmm.R
#
# Environment: FASTDMM_RDMM_N (samples, 1e6), FASTDMM_RDMM_THREADS (thread counts,
# "1,2").

# Resident memory fields of this process, in bytes.
vm_bytes <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) * 1024
}

# The issue's alphas (set.seed(5)), then the table (set.seed(1)).
measure <- function(n, threads, result_file) {
  suppressPackageStartupMessages(library(fastdmm))
  set.seed(5)
  S <- 1000
  K <- 10
  alpha <- sapply(1:K, function(k) {
    a <- rgamma(S, 0.2, 1) * 0.05
    a[sample(S, 40)] <- runif(40, 1, 5)
    a
  })
  # Warm up: the package's code, Matrix and the thread pool, outside the measured call.
  invisible(rdmm(10, alpha, depth = 50, sparse = TRUE, threads = threads))
  invisible(gc(full = TRUE))
  writeLines("5", "/proc/self/clear_refs")
  before <- vm_bytes("VmHWM")
  set.seed(1)
  times <- system.time(x <- rdmm(n, alpha, depth = 5000, sparse = TRUE, threads = threads))
  peak <- vm_bytes("VmHWM")
  # A checksum of the whole table, to compare thread counts.
  checksum <- sum(as.numeric(x@i) * x@x) + sum(as.numeric(x@p)) +
    sum(attr(x, "component") * seq_along(attr(x, "component")))
  saveRDS(list(elapsed = times[["elapsed"]], cpu = times[["user.self"]] + times[["sys.self"]],
               nnz = length(x@x), peak = peak, growth = peak - before, checksum = checksum,
               object = as.numeric(utils::object.size(x)),
               load = as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])),
          result_file)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) > 0L && args[1L] == "measure") {
  measure(as.numeric(args[2L]), as.integer(args[3L]), args[4L])
  quit(save = "no")
}

n <- as.numeric(Sys.getenv("FASTDMM_RDMM_N", "1e6"))
thread_counts <- as.integer(strsplit(Sys.getenv("FASTDMM_RDMM_THREADS", "1,2"), ",")[[1]])
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
cat(sprintf("fastdmm %s rdmm(sparse = TRUE): %g samples x 1000 taxa, depth 5000, k = 10\n",
            utils::packageVersion("fastdmm"), n))
results <- list()
for (threads in thread_counts) {
  result_file <- tempfile(fileext = ".rds")
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(shQuote(script), "measure", n, threads, shQuote(result_file)))
  if (status != 0) stop("child R process failed", call. = FALSE)
  r <- readRDS(result_file)
  unlink(result_file)
  results[[length(results) + 1L]] <- r
  mb <- 2^20
  cat(sprintf(paste("threads %d: %6.1f s elapsed (%6.1f s CPU), %.0f non-zeros, peak %6.0f MB",
                    "(growth %5.0f MB = %4.1f B per non-zero; the dgCMatrix itself %5.0f MB),",
                    "load average %.1f\n"),
              threads, r$elapsed, r$cpu, r$nnz, r$peak / mb, r$growth / mb, r$growth / r$nnz,
              r$object / mb, r$load))
}
checksums <- vapply(results, function(r) r$checksum, numeric(1))
cat(sprintf("same table for every thread count: %s\n", length(unique(checksums)) == 1L))
