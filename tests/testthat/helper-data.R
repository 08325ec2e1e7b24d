# Test tables: simulated well-separated mixtures, the Twins table shipped with
# DirichletMultinomial and its stored reference fit, and a fit cached per file.

# Samples from a mixture of Dirichlet-multinomials with well-separated
# components: `n` samples per component over `n_taxa` taxa.
simulate_counts <- function(n = 20, n_taxa = 8, k = 2, depth = 200, seed = 1,
                            precision = 30) {
  with_seed(seed, {
    blocks <- lapply(seq_len(k), function(m) {
      centre <- stats::rgamma(n_taxa, shape = 0.5)
      centre <- centre / sum(centre)
      t(vapply(seq_len(n), function(i) {
        p <- stats::rgamma(n_taxa, shape = precision * centre + 1e-3)
        p <- p / sum(p)
        as.numeric(stats::rmultinom(1, depth, p))
      }, numeric(n_taxa)))
    })
    counts <- do.call(rbind, blocks)
    # No sample may be empty: give any empty one a single count.
    counts[rowSums(counts) == 0, 1] <- 1
    dimnames(counts) <- list(sprintf("s%02d", seq_len(nrow(counts))),
                             sprintf("taxon%d", seq_len(n_taxa)))
    counts
  })
}

# A wide sparse deep table drawn by rdmm() after set.seed(seed): `n` samples
# of `depth` reads from `k` components over `n_taxa` taxa, each component with
# `common` abundant taxa and the rest rare (alpha = `rare` times the cube of an
# exponential); taxa no sample counts are dropped.
wide_sparse_counts <- function(n, n_taxa, k, common, rare, depth, seed) {
  set.seed(seed)
  alpha <- sapply(seq_len(k), function(m) {
    a <- stats::rexp(n_taxa)^3 * rare
    a[sample(n_taxa, common)] <- stats::runif(common, 0.5, 3)
    a
  })
  x <- rdmm(n, alpha, depth = rep(depth, n), threads = 1)
  x[, colSums(x) > 0]
}

# The Twins table shipped with DirichletMultinomial (278 samples x 130 taxa).
twins_counts <- function() {
  file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
  t(as.matrix(utils::read.csv(file, row.names = 1)))
}

twins_reference_file <- function() test_path("fixtures", "twins-reference.rds")

# A function returning one fit of a simulated table, computed on first use and
# kept for the rest of the file.
cached_fit <- function(n, n_taxa, k, depth, seed) {
  fit <- NULL
  function() {
    if (is.null(fit)) {
      x <- simulate_counts(n = n, n_taxa = n_taxa, k = k, depth = depth, seed = seed)
      fit <<- dmn_fit(x, k, seed = 1, threads = 1, nstart = 1)
    }
    fit
  }
}

# The non-zeros of a count table object, read in R from its tile vectors (an
# independent reading of the layout in src/core/counts.h): a data frame of
# sample, taxon, pair (1-based) and count, in the tiles' order (tile, taxon,
# pair, sample), which the reading checks.
table_entries <- function(table) {
  nnz <- length(table$tile_row) / 2
  endian <- .Platform$endian
  row <- readBin(table$tile_row, "integer", n = nnz, size = 2, signed = FALSE, endian = endian)
  narrow <- is.raw(table$tile_pair)
  pair <- if (narrow) {
    readBin(table$tile_pair, "integer", n = nnz, size = 2, signed = FALSE, endian = endian)
  } else {
    table$tile_pair
  }
  S <- table$n_taxa
  n_tiles <- ceiling(table$n_samples / table$tile_size)
  cell_size <- diff(table$tile_ptr)
  stopifnot(length(cell_size) == n_tiles * S, sum(cell_size) == nnz)
  cell <- rep.int(seq_len(n_tiles * S) - 1, cell_size)
  tile <- cell %/% S
  taxon <- cell %% S + 1
  if (narrow) pair <- pair + table$pair_ptr[taxon]
  sample <- as.integer(tile * table$tile_size + row + 1)
  stopifnot(all(sample <= table$n_samples),
            all(pair >= table$pair_ptr[taxon] & pair < table$pair_ptr[taxon + 1]),
            !is.unsorted(order(tile, taxon, pair, sample)) || nnz == 0,
            !anyDuplicated(cbind(sample, taxon)))
  data.frame(sample = sample, taxon = taxon, pair = pair + 1,
             count = table$pair_value[pair + 1])
}

# The dense samples x taxa matrix a count table object stands for.
dense_from_table <- function(table) {
  x <- matrix(0, table$n_samples, table$n_taxa)
  if (!is.null(table$sample_names) || !is.null(table$taxon_names)) {
    dimnames(x) <- list(table$sample_names, table$taxon_names)
  }
  entries <- table_entries(table)
  x[cbind(entries$sample, entries$taxon)] <- entries$count
  x
}
