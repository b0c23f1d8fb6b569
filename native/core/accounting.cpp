// Memory accounting (see memory.h): one set of counters per addon, so the CPU addon counts host
// buffers and the CUDA addon device buffers.
#include <atomic>

#include "core/memory.h"

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

}  // namespace tf
