# Long sessions (issue 20): many fits in one process must not make the process
# grow. Each parallel loop used to make (and destroy) its own TBB task arena,
# and oneTBB 2021.8 keeps part of every arena destroyed: a deep table's fit runs
# about a thousand loops, so a session grew by megabytes per fit and slowed
# down. The fits run in a child R process, so that this process's history does
# not count; only resident memory is compared, never time.

test_that("repeated fits on two threads keep resident memory flat", {
  skip_on_cran()
  skip_if_not_installed("callr")
  skip_if_not(file.exists("/proc/self/status"), "needs /proc/self/status (Linux)")
  growth <- callr::r(function() {
    library(fastdmm)
    rss_mb <- function() {
      line <- grep("^VmRSS:", readLines("/proc/self/status"), value = TRUE)
      as.numeric(gsub("[^0-9]", "", line)) / 1024
    }
    # A deep table like GlobalPatterns at genus level: few samples, a thousand
    # taxa, counts in the tens of thousands, three kinds of samples.
    set.seed(20)
    n <- 26; s <- 1000
    profile <- matrix(rexp(3 * s)^3, 3, s)
    kind <- rep(1:3, length.out = n)
    x <- t(vapply(seq_len(n), function(i) {
      stats::rmultinom(1, 2e5, profile[kind[i], ] * rexp(s, 2))
    }, numeric(s)))
    storage.mode(x) <- "integer"
    fit <- function(seed) dmn_fit(x, 3, seed = seed, nstart = 5, threads = 2)
    # Warm-up: R's heap and the allocator settle within the first fits (R's
    # heap grows in steps of a few MB until its garbage collector's limits do).
    for (seed in 1:10) fit(seed)
    before <- rss_mb()
    for (seed in 11:40) fit(seed)
    rss_mb() - before
  }, timeout = 600)
  # Measured: about 13 MB (R's own heap); with an arena per loop, hundreds.
  expect_lt(growth, 30)
})
