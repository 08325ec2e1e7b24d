#' fastdmm: fast parallel Dirichlet-multinomial mixture models
#'
#' Fits Dirichlet-multinomial mixture (DMM) models to count tables (samples x
#' taxa), the model of Holmes, Harris and Quince (2012) used to find community
#' types in microbiome data. The interface mirrors Bioconductor's
#' DirichletMultinomial (`dmn()` becomes [dmn_fit()]; [mixture()],
#' [mixturewt()], [goodnessOfFit()], [laplace()], `AIC()`, `BIC()`, `fitted()`
#' and `predict()` keep their names and return shapes), and the same seed gives
#' the same start. The C++ core works on the non-zero counts only and runs its
#' E-step, M-step and likelihood in parallel.
#'
#' @section Options:
#' * `fastdmm.threads`: default number of threads for fits and predictions
#'   (otherwise, for a fit, as many as the table's size pays for, see
#'   [dmn_fit()]; for a prediction, [RcppParallel::defaultNumThreads()]).
#' * `fastdmm.available_memory`: the bytes [dmn_fit()] may assume are free
#'   (otherwise `MemAvailable` of `/proc/meminfo` on Linux; no check
#'   elsewhere). A fit whose estimated needs exceed it is refused with an error
#'   of class `fastdmm_insufficient_memory` before it allocates; `Inf` turns the
#'   check off.
#' * `fastdmm.column_cache`: `FALSE` makes each start of the replicated search
#'   compute every E-step column afresh instead of keeping those of its recent
#'   states (the same fits, to the bit, only slower; for comparisons).
#'
#' @references Holmes I, Harris K, Quince C (2012). Dirichlet multinomial
#'   mixtures: generative models for microbial metagenomics. PLoS ONE 7(2):
#'   e30126. \doi{10.1371/journal.pone.0030126}
#' @keywords internal
#' @useDynLib fastdmm, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom RcppParallel RcppParallelLibs
#' @importFrom stats AIC BIC coef fitted logLik nobs predict runif
"_PACKAGE"
