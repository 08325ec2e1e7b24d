# Real count tables (samples x taxa) of installed packages, for the benches:
# Twins (DirichletMultinomial), GlobalPatterns at genus level and soilrep
# (phyloseq), BCI (vegan), mouseData (metagenomeSeq). A table whose package is
# missing is left out. GlobalPatterns' tax_glom() takes a while: the result is
# cached in FASTDMM_BENCH_DIR (default tempdir()).
real_tables <- local({
  cache <- NULL
  function() {
    if (!is.null(cache)) return(cache)
    dir <- Sys.getenv("FASTDMM_BENCH_DIR", tempdir())
    have <- function(p) requireNamespace(p, quietly = TRUE)
    tables <- list()
    if (have("DirichletMultinomial")) {
      file <- system.file("extdata", "Twins.csv", package = "DirichletMultinomial")
      tables$Twins <- t(as.matrix(utils::read.csv(file, row.names = 1)))
    }
    if (have("phyloseq")) {
      genus_file <- file.path(dir, "globalpatterns-genus.rds")
      if (!file.exists(genus_file)) {
        env <- new.env()
        utils::data("GlobalPatterns", package = "phyloseq", envir = env)
        genus <- phyloseq::tax_glom(env$GlobalPatterns, "Genus")
        saveRDS(t(as(phyloseq::otu_table(genus), "matrix")), genus_file)
      }
      genus <- readRDS(genus_file)
      tables$`GlobalPatterns genus` <- genus[, colSums(genus) > 0]
      env <- new.env()
      utils::data("soilrep", package = "phyloseq", envir = env)
      soil <- as(phyloseq::otu_table(env$soilrep), "matrix")
      if (!phyloseq::taxa_are_rows(env$soilrep)) soil <- t(soil)
      tables$soilrep <- t(soil)[, rowSums(soil) > 0]
    }
    if (have("vegan")) {
      env <- new.env()
      utils::data("BCI", package = "vegan", envir = env)
      tables$BCI <- as.matrix(env$BCI)
    }
    if (have("metagenomeSeq")) {
      env <- new.env()
      utils::data("mouseData", package = "metagenomeSeq", envir = env)
      mouse <- t(metagenomeSeq::MRcounts(env$mouseData))
      tables$mouseData <- mouse[, colSums(mouse) > 0]
    }
    tables <- lapply(tables, function(x) { storage.mode(x) <- "double"; x })
    cache <<- tables
    tables
  }
})

# A table by its short name (stability.R, stopping.R): those of real_tables(), and
# two more that no default was tuned on (lung, mite).
bench_table <- function(name) {
  real <- c(twins = "Twins", soilrep = "soilrep", gp = "GlobalPatterns genus",
            mouse = "mouseData", bci = "BCI")
  if (name %in% names(real)) {
    x <- real_tables()[[real[[name]]]]
    if (is.null(x)) stop("the package holding table ", name, " is not installed")
    return(x)
  }
  env <- new.env()
  x <- switch(name,
    lung = {
      utils::data("lungData", package = "metagenomeSeq", envir = env)
      t(metagenomeSeq::MRcounts(env$lungData))
    },
    mite = {
      utils::data("mite", package = "vegan", envir = env)
      as.matrix(env$mite)
    },
    stop("unknown table ", name))
  x[, colSums(x) > 0, drop = FALSE]
}
