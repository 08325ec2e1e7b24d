# The layers of src/core (src/core/README.md, DESIGN.md section 3): every file
# includes only headers of its own layer or of lower ones. This test reads the
# `#include "..."` lines of every file in src/core and fails on an include of a
# higher layer, of a file it does not know, or of an R header, and on a file of
# src/core that is not in the table below.

# Layer of each file of src/core, by name without its extension (.h and .cpp).
core_layers <- c(
  # 0 leaf helpers
  parallel = 0, ordered_tasks = 0, memory = 0, width = 0, special = 0, rng = 0, hash = 0,
  model = 0,
  # 1 the table and its builders
  counts = 1, build_counts = 1, build_taxa = 1,
  # 2 kernels
  evidence = 2, mstep = 2, hellinger_kmeans = 2,
  # 3 EM
  em = 3,
  # 4 starts
  reference_start = 4, starts = 4,
  # 5 search moves
  split_merge = 5, transfer = 5, resplit = 5, known_optima = 5, moves = 5,
  # 6 search
  search = 6,
  # 7 fit, the top
  fit = 7
)
# Beside the layers: the sampler of rdmm(sparse = TRUE) includes leaf helpers
# only, and no core file includes it.
core_beside <- "sample"

# src/core of the sources the tests run from: the source tree (tests run from
# tests/testthat by .ci/test.R, make test and make sanitize), or the sources R CMD
# check unpacked (fastdmm.Rcheck/tests/testthat, next to 00_pkg_src). NULL when
# neither is there: only an installed package's tests run without sources.
core_directory <- function() {
  candidates <- c(file.path("..", "..", "src", "core"),
                  file.path("..", "..", "00_pkg_src", "fastdmm", "src", "core"))
  found <- candidates[dir.exists(candidates)]
  if (length(found) > 0) return(found[[1]])
  # A source tree (or R CMD check's copy of one) without src/core is an error,
  # not a reason to skip.
  in_sources <- file.exists(file.path("..", "..", "DESCRIPTION")) ||
    dir.exists(file.path("..", "..", "00_pkg_src"))
  if (in_sources) stop("src/core not found from ", normalizePath("."))
  NULL
}

# Every #include of every .h and .cpp file in `dir`: file, line, included and
# whether it is a quoted (project) include.
core_includes <- function(dir) {
  files <- sort(list.files(dir, pattern = "\\.(h|cpp)$"))
  rows <- lapply(files, function(file) {
    lines <- readLines(file.path(dir, file), warn = FALSE)
    at <- grep("^\\s*#\\s*include\\s*[\"<]", lines)
    included <- sub("^\\s*#\\s*include\\s*[\"<]([^\">]+)[\">].*$", "\\1", lines[at])
    quoted <- grepl("^\\s*#\\s*include\\s*\"", lines[at])
    data.frame(file = rep(file, length(at)), line = at, included = included, quoted = quoted,
               stringsAsFactors = FALSE)
  })
  list(files = files, includes = do.call(rbind, c(list(data.frame(
    file = character(), line = integer(), included = character(), quoted = logical(),
    stringsAsFactors = FALSE)), rows)))
}

# The layer of a file name (NA when unknown), Inf for the sampler beside the layers.
layer_of <- function(file) {
  stem <- sub("\\.(h|cpp)$", "", file)
  ifelse(stem %in% core_beside, Inf,
         ifelse(stem %in% names(core_layers), core_layers[stem], NA_real_))
}

# One line per breach of the layer rule in `dir` (character(0) when none).
layer_violations <- function(dir) {
  found <- core_includes(dir)
  problems <- character()
  unknown_files <- found$files[is.na(layer_of(found$files))]
  problems <- c(problems, sprintf("%s: a file of no layer (add it to core_layers)",
                                  unknown_files))
  inc <- found$includes
  r_headers <- !inc$quoted & grepl("^(R|Rinternals|Rmath|Rcpp|RcppParallel|RcppEigen)(\\.h|/|$)",
                                   inc$included)
  problems <- c(problems, sprintf("%s:%d includes <%s>: the core has no R header",
                                  inc$file[r_headers], inc$line[r_headers],
                                  inc$included[r_headers]))
  inc <- inc[inc$quoted, , drop = FALSE]
  for (r in seq_len(nrow(inc))) {
    from <- inc$file[r]
    to <- inc$included[r]
    where <- sprintf("%s:%d includes \"%s\"", from, inc$line[r], to)
    if (!to %in% found$files) {
      problems <- c(problems, paste0(where, ": not a file of src/core"))
      next
    }
    from_layer <- layer_of(from)
    to_layer <- layer_of(to)
    if (is.na(from_layer) || is.na(to_layer)) next  # reported above
    if (is.infinite(to_layer) && sub("\\.(h|cpp)$", "", from) != sub("\\.h$", "", to)) {
      problems <- c(problems, paste0(where, ": the sampler stands beside the layers"))
    } else if (is.infinite(from_layer) && !is.infinite(to_layer) && to_layer > 0) {
      problems <- c(problems, sprintf("%s: the sampler includes leaf helpers only (layer 0), not layer %g",
                                      where, to_layer))
    } else if (!is.infinite(from_layer) && to_layer > from_layer) {
      problems <- c(problems, sprintf("%s: layer %g includes layer %g", where, from_layer,
                                      to_layer))
    }
  }
  problems
}

test_that("every file of src/core includes only its own layer or lower ones", {
  dir <- core_directory()
  if (is.null(dir)) {
    skip("run from an installed package without its sources (no src/core to read)")
  }
  found <- core_includes(dir)
  # The table is not vacuous: every layer has files, and the includes were read.
  expect_setequal(unique(sub("\\.(h|cpp)$", "", found$files)), c(names(core_layers), core_beside))
  expect_gt(sum(found$includes$quoted), 40)
  expect_identical(layer_violations(dir), character())
})

test_that("the layer check fails on a backwards include, an unknown file and an R header", {
  dir <- core_directory()
  if (is.null(dir)) {
    skip("run from an installed package without its sources (no src/core to read)")
  }
  copy <- file.path(tempfile("core"), "core")
  dir.create(copy, recursive = TRUE)
  on.exit(unlink(dirname(copy), recursive = TRUE), add = TRUE)
  file.copy(list.files(dir, pattern = "\\.(h|cpp)$", full.names = TRUE), copy)
  expect_identical(layer_violations(copy), character())
  # EM (3) including the search (6): backwards.
  em <- file.path(copy, "em.h")
  writeLines(c(readLines(em), "#include \"search.h\""), em)
  expect_match(layer_violations(copy), "em.h:[0-9]+ includes \"search.h\": layer 3 includes layer 6",
               all = FALSE)
  # A file of no layer, an include of a file that is not there, an R header.
  writeLines(c("#include \"counts.h\"", "#include \"nowhere.h\"", "#include <Rcpp.h>"),
             file.path(copy, "stray.cpp"))
  problems <- layer_violations(copy)
  expect_match(problems, "stray.cpp: a file of no layer", all = FALSE, fixed = TRUE)
  expect_match(problems, "nowhere.h\": not a file of src/core", all = FALSE, fixed = TRUE)
  expect_match(problems, "includes <Rcpp.h>", all = FALSE, fixed = TRUE)
  # The sampler beside the layers: no core file includes it.
  fit <- file.path(copy, "fit.cpp")
  writeLines(c(readLines(fit), "#include \"sample.h\""), fit)
  expect_match(layer_violations(copy), "fit.cpp:[0-9]+ includes \"sample.h\": the sampler",
               all = FALSE)
})
