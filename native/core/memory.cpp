// The CPU allocator: host blocks through the shared size-class cache (block_cache.h).
#include "core/memory.h"

#include <cstdlib>

#include "core/block_cache.h"

namespace tf {
namespace {
struct HostRaw {
  static void* alloc(size_t size) { return std::aligned_alloc(64, size); }
  static void free(void* p) { std::free(p); }
};
// 64-byte granules; blocks of 256 KiB and more are cached, up to 1 GiB (see memory.h).
BlockCache<HostRaw>& cache() {
  static auto* c = new BlockCache<HostRaw>(64, size_t(256) << 10, size_t(1) << 30);  // never destroyed: blocks may be freed during exit
  return *c;
}
}  // namespace

void* block_alloc(size_t bytes) {
  void* p = cache().alloc(bytes);
  if (!p) throw std::bad_alloc();
  return p;
}
void block_free(void* p, size_t bytes) { cache().free(p, bytes); }
size_t cached_bytes() { return cache().cached(); }
void empty_cache() { cache().empty(); }

}  // namespace tf
