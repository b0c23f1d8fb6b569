// A cache of freed memory blocks by size class, shared by the CPU allocator (host memory) and the
// CUDA allocator (device memory): a training step frees and re-makes tensors of the same sizes,
// and going back to the system allocator for each costs page faults on the CPU and a device-wide
// synchronisation (cudaFree) on the GPU.
//
// Sizes are rounded up to `granule` bytes and, from `min_cached` up, to a multiple of 1/8 of their
// power of two, so similar sizes share a class and at most 1/8 is wasted. Blocks below min_cached
// are not kept. The cache holds at most `limit` bytes; freeing beyond that returns memory at once.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tf {

template <class Raw>  // Raw: static void* alloc(size_t) (nullptr when out of memory), static void free(void*)
class BlockCache {
 public:
  BlockCache(size_t granule, size_t min_cached, size_t limit)
      : granule_(granule), min_cached_(min_cached), limit_(limit) {}

  size_t block_size(size_t bytes) const {
    size_t b = ((bytes ? bytes : 1) + granule_ - 1) / granule_ * granule_;
    if (b < min_cached_) return b;
    size_t pow2 = size_t(1) << (63 - __builtin_clzll(b));
    size_t step = pow2 / 8 > granule_ ? pow2 / 8 : granule_;
    return (b + step - 1) / step * step;
  }

  // A block of at least `bytes`; nullptr when the system is out of memory even after the cache
  // was emptied and the allocation retried. `fresh` counts allocations the cache could not serve.
  void* alloc(size_t bytes) {
    const size_t size = block_size(bytes);
    if (size >= min_cached_) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        return p;
      }
    }
    void* p = Raw::alloc(size);
    if (!p) {
      empty();
      p = Raw::alloc(size);
    }
    if (p) {
      std::lock_guard<std::mutex> lock(mu_);
      fresh_++;
    }
    return p;
  }

  void free(void* p, size_t bytes) {
    if (!p) return;
    const size_t size = block_size(bytes);
    if (size >= min_cached_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + size <= limit_) {
        free_[size].push_back(p);
        cached_ += size;
        return;
      }
    }
    Raw::free(p);
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }
  size_t fresh_allocations() {
    std::lock_guard<std::mutex> lock(mu_);
    return fresh_;
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) Raw::free(p);
    free_.clear();
    cached_ = 0;
  }

 private:
  const size_t granule_, min_cached_, limit_;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  size_t fresh_ = 0;
};

}  // namespace tf
