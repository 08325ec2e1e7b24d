// RcppParallel's parallelFor for the glue's executor, without RcppParallel.h.
// (RcppParallel.h's RVector/RMatrix, unused here, derive from std::iterator,
// deprecated in C++17.)
#ifndef FASTDMM_PARALLEL_BACKEND_H
#define FASTDMM_PARALLEL_BACKEND_H

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

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

#if RCPP_PARALLEL_USE_TBB
// The task arena of `threads` threads, made on first use and kept for the life of
// the process. RcppParallel::tbbParallelFor() makes a new arena on every call; with
// the oneTBB of Debian 12 / Ubuntu (2021.8) an arena made and destroyed does not go
// away: about 7 kB stays, and every later parallel loop gets slower (a fit of
// GlobalPatterns at genus level runs ~1200 loops, and after 60 fits each fit took
// 15x longer, the process 450 MB larger; issue 20). One arena per thread count,
// reused, keeps both flat. The map only grows with distinct thread counts; it is
// never freed, so no arena is destroyed at exit after the TBB library.
inline tbb::task_arena& shared_arena(int threads) {
  static std::mutex* const mutex = new std::mutex;
  static auto* const arenas = new std::map<int, std::unique_ptr<tbb::task_arena>>;
  const std::lock_guard<std::mutex> lock(*mutex);
  std::unique_ptr<tbb::task_arena>& arena = (*arenas)[threads];
  if (!arena) arena.reset(new tbb::task_arena(threads));
  return *arena;
}
#endif

// Runs worker over [0, n) on `threads` threads (TBB honours the count; the
// TinyThread fallback uses its own): RcppParallel::tbbParallelFor() in the arena
// kept for that count.
inline void run_parallel_for(std::size_t n, RcppParallel::Worker& worker, std::size_t grain,
                             int threads) {
#if RCPP_PARALLEL_USE_TBB
  if (RcppParallel::internal::backend() == RcppParallel::internal::BACKEND_TBB) {
    RcppParallel::ThreadStackSizeControl control;
    tbb::task_arena& arena = shared_arena(threads);
    tbb::task_group group;
    arena.execute([&] {
      group.run_and_wait([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, grain),
                          [&](const tbb::blocked_range<std::size_t>& range) {
                            worker(range.begin(), range.end());
                          });
      });
    });
    return;
  }
#endif
  (void)threads;
  RcppParallel::ttParallelFor(0, n, worker, grain);
}

#endif
