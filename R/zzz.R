# Package load and unload hooks.

.onLoad <- function(libname, pkgname) {
  # FastDmmParam's class is defined when bluster is (or becomes) loaded; see R/bluster.R.
  setup_bluster_bridge(pkgname)
}

.onUnload <- function(libpath) {
  teardown_bluster_bridge()
}
