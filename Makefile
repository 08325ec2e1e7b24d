# fastdmm developer commands. Each target installs what is missing first.
R ?= R
RSCRIPT ?= Rscript
PKG := fastdmm
VERSION := $(shell sed -n 's/^Version: //p' DESCRIPTION)
TARBALL := $(PKG)_$(VERSION).tar.gz

.PHONY: deps install demo test sanitize check bench bench-scale document clean

deps:
	bash .ci/install-deps

install: deps
	$(R) CMD INSTALL --preclean --no-multiarch .

demo: install
	$(RSCRIPT) inst/scripts/demo.R

test: install
	$(RSCRIPT) .ci/test.R

# The test suite against an AddressSanitizer + UBSan build in a private library;
# fails on any sanitizer report.
sanitize: deps
	bash .ci/sanitize

document: deps
	$(RSCRIPT) -e 'Rcpp::compileAttributes("."); roxygen2::roxygenise(".")'

check: deps
	$(R) CMD build .
	_R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false _R_CHECK_SYSTEM_CLOCK_=false _R_CHECK_FORCE_SUGGESTS_=false \
	  $(R) CMD check --as-cran --no-manual $(TARBALL)

bench: install
	$(RSCRIPT) inst/bench/bench.R

# fastdmm at 10^4 to 10^6 samples: kernels, the subsampled search, memory.
bench-scale: install
	$(RSCRIPT) inst/bench/scale.R

clean:
	rm -rf src/*.o src/*.so src/core/*.o $(PKG).Rcheck $(PKG)_*.tar.gz
