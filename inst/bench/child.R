# Helpers of the benchmarks that measure a call in a fresh R process
# (memory.R, hdf5.R): settings from the environment, this process's memory
# figures, and running this script again as a child.

setting <- function(name, default) as.numeric(Sys.getenv(name, default))

# Resident memory fields of this process, in bytes.
vm_bytes <- function(field) {
  line <- grep(paste0("^", field, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) * 1024
}

# Runs the script this process runs, again, in a child Rscript with `...` as
# its arguments; stops if the child fails.
run_child <- function(...) {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  status <- system2(file.path(R.home("bin"), "Rscript"), c(shQuote(script), ...))
  if (status != 0) stop("child R process failed", call. = FALSE)
}
