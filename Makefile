# fastdmm developer commands. Each target installs what is missing first.
R ?= R
RSCRIPT ?= Rscript
PKG := fastdmm
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz
# Compile jobs for every build of the package (R CMD INSTALL, build, check and
# the sanitized build read MAKEFLAGS): by default one per core.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
BUILD_MAKEFLAGS := MAKEFLAGS=-j$(JOBS)
# Extra arguments of R CMD check, e.g. CHECK_ARGS=--no-tests when the suite has
# just run (.ci/run).
CHECK_ARGS ?=

.PHONY: deps install demo test sanitize check bench bench-scale document clean

deps:
	bash .ci/install-deps

install: deps
	$(BUILD_MAKEFLAGS) $(R) CMD INSTALL --preclean --no-multiarch .

demo: install
	$(RSCRIPT) inst/scripts/demo.R

test: install
	$(RSCRIPT) .ci/test.R

# The test suite against an AddressSanitizer + UBSan build in a private library;
# fails on any sanitizer report.
sanitize: deps
	$(BUILD_MAKEFLAGS) bash .ci/sanitize

document: deps
	$(RSCRIPT) -e 'Rcpp::compileAttributes("."); roxygen2::roxygenise(".")'

check: deps
	$(BUILD_MAKEFLAGS) $(R) CMD build .
	$(BUILD_MAKEFLAGS) _R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false _R_CHECK_SYSTEM_CLOCK_=false _R_CHECK_FORCE_SUGGESTS_=false \
	  $(R) CMD check --as-cran --no-manual $(CHECK_ARGS) $(TARBALL)

bench: install
	$(RSCRIPT) inst/bench/bench.R

# fastdmm at 10^4 to 10^6 samples: kernels, the subsampled search, memory.
bench-scale: install
	$(RSCRIPT) inst/bench/scale.R

clean:
	rm -rf src/*.o src/*.so src/core/*.o $(PKG).Rcheck $(PKG)_*.tar.gz
