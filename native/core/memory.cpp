#include "core/memory.h"

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tf {
namespace {
std::atomic<int64_t> g_buffers{0}, g_buffer_bytes{0}, g_scratch_bytes{0}, g_peak{0};

void raise_peak() {
  const int64_t now = g_buffer_bytes.load() + g_scratch_bytes.load();
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
}  // namespace

void note_alloc(MemKind kind, size_t bytes) {
  if (kind == MemKind::Buffer) {
    g_buffers++;
    g_buffer_bytes += static_cast<int64_t>(bytes);
  } else {
    g_scratch_bytes += static_cast<int64_t>(bytes);
  }
  raise_peak();
}

void note_free(MemKind kind, size_t bytes) {
  if (kind == MemKind::Buffer) {
    g_buffers--;
    g_buffer_bytes -= static_cast<int64_t>(bytes);
  } else {
    g_scratch_bytes -= static_cast<int64_t>(bytes);
  }
}

MemoryStats memory_stats() {
  return {g_buffers.load(), g_buffer_bytes.load(), g_scratch_bytes.load(), g_peak.load()};
}

void reset_peak_bytes() { g_peak = g_buffer_bytes.load() + g_scratch_bytes.load(); }

namespace {
constexpr size_t kCachedMin = size_t(256) << 10;
constexpr size_t kCacheLimit = size_t(1) << 30;

struct BlockCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_by_size;
  size_t cached = 0;
};
BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: blocks may be freed during exit
  return *c;
}

// The block size an allocation really gets: 64-byte multiples below kCachedMin, else rounded up
// to a multiple of 1/8 of its power of two, so similar sizes share blocks.
size_t block_size(size_t bytes) {
  size_t b = ((bytes ? bytes : 1) + 63) / 64 * 64;
  if (b < kCachedMin) return b;
  size_t pow2 = size_t(1) << (63 - __builtin_clzll(b));
  size_t step = pow2 / 8;
  return (b + step - 1) / step * step;
}
}  // namespace

void* block_alloc(size_t bytes) {
  const size_t size = block_size(bytes);
  if (size >= kCachedMin) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_by_size.find(size);
    if (it != c.free_by_size.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) {
    empty_cache();
    p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
  }
  return p;
}

void block_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = block_size(bytes);
  if (size >= kCachedMin) {
    BlockCache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + size <= kCacheLimit) {
      c.free_by_size[size].push_back(p);
      c.cached += size;
      return;
    }
  }
  std::free(p);
}

size_t cached_bytes() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

void empty_cache() {
  BlockCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, blocks] : c.free_by_size)
    for (void* p : blocks) std::free(p);
  c.free_by_size.clear();
  c.cached = 0;
}

}  // namespace tf
