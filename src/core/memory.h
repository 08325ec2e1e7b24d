// A memory hint for large buffers that are written once, right after allocation.
#ifndef FASTDMM_MEMORY_H
#define FASTDMM_MEMORY_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastdmm {

// Asks Linux to back the whole 2 MB pages inside [data, data + bytes) with transparent
// huge pages when they are first written. With 4 KB pages, the first writes to a fresh
// buffer take one page fault per 4 KB, which on virtual machines (where each fault can
// reach the host) costs more than computing what is written: measured 3x faster
// writing of rdmm()'s table. Only a hint: without effect where transparent huge pages
// are off or unavailable, and elsewhere than Linux.
inline void prefer_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = (start + bytes) & ~(kHugePage - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// std::allocator, except that the elements a vector adds without a value (its
// resize(n)) are default-initialised: for numbers, left as the memory holds them
// rather than zero-filled. For buffers that are written in full before they are
// read, made afresh many times per fit (the M-step's histograms), where zero-filling
// them cost as much as writing them.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  using std::allocator<T>::allocator;
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible<U>::value) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// A vector whose resize() leaves new numbers unwritten (DefaultInitAllocator),
// for storage that is resized and written in full again and again (unlike
// Buffer, counts.h, which is allocated once at its size).
template <class T>
using OverwriteVector = std::vector<T, DefaultInitAllocator<T>>;

// Gives `v` size n for a caller that writes every element before reading it. When
// it must grow, fresh storage is reserved and advised onto huge pages before it is
// first touched (the old contents are dropped, not copied), then filled with
// zeros for a std::vector, left unwritten for an OverwriteVector; otherwise the existing
// storage is reused untouched (its contents unspecified).
template <class Vector>
void resize_for_overwrite(Vector& v, std::size_t n) {
  if (v.capacity() < n) {
    Vector fresh;
    fresh.reserve(n);
    prefer_huge_pages(fresh.data(), n * sizeof(typename Vector::value_type));
    fresh.resize(n);
    v.swap(fresh);
  } else {
    v.resize(n);
  }
}

}  // namespace fastdmm

#endif
