// The one threading abstraction the core uses: run a body over disjoint sub-ranges.
#ifndef FASTDMM_PARALLEL_H
#define FASTDMM_PARALLEL_H

#include <cstddef>
#include <functional>

namespace fastdmm {

using RangeBody = std::function<void(std::size_t begin, std::size_t end)>;

// Smallest share of a loop worth a task of its own: starting a parallel loop costs
// tens of microseconds, more than splitting a small table saves.
constexpr std::size_t kSampleGrain = 512;  // samples per task
constexpr std::size_t kTaxonGrain = 128;   // taxa per task

// Calls `body` on disjoint sub-ranges that together cover [0, n). Bodies may run
// concurrently, so a body writes only to slots owned by its indices; any reduction
// is done afterwards, serially and in index order, so results never depend on how
// the range was split (DESIGN.md section 2, "Determinism").
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void parallel_for(std::size_t n, const RangeBody& body,
                            std::size_t grain = 1) const = 0;
  virtual int threads() const = 0;
};

class SerialExecutor : public Executor {
 public:
  void parallel_for(std::size_t n, const RangeBody& body,
                    std::size_t /*grain*/ = 1) const override {
    if (n > 0) body(0, n);
  }
  int threads() const override { return 1; }
};

}  // namespace fastdmm

#endif
