# What biom.R and scale.R write alike into a BIOM 2.1 file (HDF5, through
# rhdf5): its groups, its ids and its top-level attributes. The two compressed
# copies of the table (sample/matrix, observation/matrix) each script writes in
# its own way.

# A new, empty BIOM 2.1 file at `path` with the format's groups.
biom_create <- function(path) {
  unlink(path)
  rhdf5::h5createFile(path)
  for (group in c("observation", "observation/matrix", "observation/metadata",
                  "observation/group-metadata", "sample", "sample/matrix",
                  "sample/metadata", "sample/group-metadata")) {
    rhdf5::h5createGroup(path, group)
  }
}

# Character ids as dataset `name` of `file` (a path or an open file), gzip level 1
# in chunks of at most `chunk`.
biom_write_ids <- function(file, name, ids, chunk = 2^16) {
  rhdf5::h5createDataset(file, name, length(ids), storage.mode = "character",
                         size = max(nchar(ids)) + 1L, chunk = min(length(ids), chunk),
                         level = 1)
  rhdf5::h5write(ids, file, name)
}

# The top-level attributes BIOM 2.1 requires, for a table of n_taxa x n_samples
# with nnz non-zeros written by script `by` (`file` an open file).
biom_write_attributes <- function(file, n_taxa, n_samples, nnz, by) {
  attributes <- list(id = "fastdmm bench", type = "OTU table",
                     `format-url` = "http://biom-format.org", `format-version` = c(2L, 1L),
                     `generated-by` = paste("fastdmm", by),
                     `creation-date` = format(Sys.time(), "%Y-%m-%dT%H:%M:%S"),
                     shape = c(n_taxa, n_samples), nnz = nnz)
  for (name in names(attributes)) rhdf5::h5writeAttribute(attributes[[name]], file, name)
}
