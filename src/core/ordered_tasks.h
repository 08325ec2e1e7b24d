// Independent tasks run side by side on threads of their own, their results
// taken in task order on the calling thread (the replicated search's starts,
// search.cpp). The calling thread runs no task: it waits, checks for interrupts
// and consumes, so that everything that talks to R stays on it.
#ifndef FASTDMM_ORDERED_TASKS_H
#define FASTDMM_ORDERED_TASKS_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace fastdmm {

// Thrown by a task that sees `cancelled` set: it stops, and its result is not
// wanted.
struct TaskCancelled {};

// Runs produce(i, cancelled) for i = 0..n-1 on `workers` threads and hands the
// results to consume(i, result) on the calling thread in the order of i, each
// once; consume returns false to stop, and tasks after i are then cancelled
// (those running see `cancelled` and throw TaskCancelled) or never started.
// Tasks start at most 2 * workers ahead of the one consumed next, so that an
// early stop wastes little. The calling thread calls poll() after each task
// it consumes and every `interval` while it waits. An exception from poll or
// consume, or from a task when its turn comes, cancels the rest and is rethrown
// once every thread has stopped.
// With workers == 0 (or no thread could be made) the tasks run on the calling
// thread, one after another, each consumed as it ends.
template <class Result>
void run_ordered(std::size_t n, std::size_t workers,
                 const std::function<Result(std::size_t, const std::atomic<bool>&)>& produce,
                 const std::function<bool(std::size_t, Result&)>& consume,
                 const std::function<void()>& poll,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  std::atomic<bool> cancelled(false);
  struct Slot {
    std::unique_ptr<Result> result;
    std::exception_ptr error;
    bool ready = false;
  };
  std::vector<Slot> slots(n);
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t next = 0;      // the next task to start (under mutex)
  std::size_t consumed = 0;  // tasks consumed so far (under mutex)
  const std::size_t ahead = 2 * workers;

  const auto work = [&] {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return cancelled.load() || next >= n || next < consumed + ahead; });
        if (cancelled.load() || next >= n) return;
        i = next++;
      }
      std::unique_ptr<Result> result;
      std::exception_ptr error;
      try {
        result.reset(new Result(produce(i, cancelled)));
      } catch (const TaskCancelled&) {
        return;
      } catch (...) {
        error = std::current_exception();
      }
      {
        const std::lock_guard<std::mutex> lock(mutex);
        slots[i].result = std::move(result);
        slots[i].error = error;
        slots[i].ready = true;
      }
      changed.notify_all();
    }
  };

  // Every thread made is stopped and joined on the way out, whatever the exit.
  struct Threads {
    std::vector<std::thread> threads;
    std::atomic<bool>& cancelled;
    std::mutex& mutex;
    std::condition_variable& changed;
    ~Threads() {
      {
        const std::lock_guard<std::mutex> lock(mutex);
        cancelled.store(true);
      }
      changed.notify_all();
      for (std::thread& thread : threads) thread.join();
    }
  } pool{{}, cancelled, mutex, changed};
  for (std::size_t w = 0; w < workers && w < n; ++w) {
    try {
      pool.threads.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // the threads made so far do the work
    }
  }

  if (pool.threads.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      Result result = produce(i, cancelled);
      const bool go_on = consume(i, result);
      poll();
      if (!go_on) return;
    }
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::unique_lock<std::mutex> lock(mutex);
    while (!slots[i].ready) {
      if (changed.wait_for(lock, interval, [&] { return slots[i].ready; })) break;
      lock.unlock();
      poll();
      lock.lock();
    }
    std::unique_ptr<Result> result = std::move(slots[i].result);
    const std::exception_ptr error = slots[i].error;
    lock.unlock();
    if (error) std::rethrow_exception(error);
    const bool go_on = consume(i, *result);
    result.reset();
    {
      const std::lock_guard<std::mutex> relock(mutex);
      consumed = i + 1;
    }
    changed.notify_all();
    poll();
    if (!go_on) return;
  }
}

}  // namespace fastdmm

#endif
