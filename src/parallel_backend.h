// RcppParallel's parallelFor for the glue's executor, without RcppParallel.h.
// (RcppParallel.h's RVector/RMatrix, unused here, derive from std::iterator,
// deprecated in C++17.)
#ifndef FASTDMM_PARALLEL_BACKEND_H
#define FASTDMM_PARALLEL_BACKEND_H

#include <cstddef>

// The same platform choice RcppParallel.h makes.
#ifndef RCPP_PARALLEL_USE_TBB
#if defined(__APPLE__) || defined(__gnu_linux__) || \
    (defined(__sun) && defined(__SVR4) && !defined(__sparc))
#define RCPP_PARALLEL_USE_TBB 1
#else
#define RCPP_PARALLEL_USE_TBB 0
#endif
#endif

#include <RcppParallel/TinyThread.h>
#if RCPP_PARALLEL_USE_TBB
#include <RcppParallel/TBB.h>
#endif
#include <RcppParallel/Backend.h>

// Runs worker over [0, n) on `threads` threads (TBB honours the count; the
// TinyThread fallback uses its own).
inline void run_parallel_for(std::size_t n, RcppParallel::Worker& worker, std::size_t grain,
                             int threads) {
#if RCPP_PARALLEL_USE_TBB
  if (RcppParallel::internal::backend() == RcppParallel::internal::BACKEND_TBB) {
    RcppParallel::tbbParallelFor(0, n, worker, grain, threads);
    return;
  }
#endif
  (void)threads;
  RcppParallel::ttParallelFor(0, n, worker, grain);
}

#endif
