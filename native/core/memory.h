// Native memory accounting: tensor buffers (allocated by the binding) and kernel scratch space
// (im2col columns, attention tiles, ...) both count here, so `tf.memory()` reports the bytes a
// computation really holds and the benchmark can report a kernel's peak footprint.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tf {

enum class MemKind { Buffer, Scratch };
void note_alloc(MemKind kind, size_t bytes);
void note_free(MemKind kind, size_t bytes);

struct MemoryStats {
  int64_t buffers, buffer_bytes;  // live tensor buffers
  int64_t scratch_bytes;          // live kernel scratch
  int64_t peak_bytes;             // max of buffer_bytes + scratch_bytes since the last reset
};
MemoryStats memory_stats();
void reset_peak_bytes();

// 64-byte-aligned blocks for tensor buffers and scratch. Blocks of 256 KiB and more are rounded up
// to a size class (at most 1/8 larger) and kept on free for reuse, up to 1 GiB: a training step
// frees and re-makes the same large tensors, and memory handed back to the OS costs a page fault
// per 4 KiB when it is touched again (measured: 20 ms instead of 0.4 ms for an op writing 6 MiB).
// Throws std::bad_alloc when out of memory (after emptying the cache and retrying once).
void* block_alloc(size_t bytes);
void block_free(void* p, size_t bytes);
size_t cached_bytes();
void empty_cache();

// A kernel's temporary array: 64-byte aligned, uninitialised, counted as scratch, freed on scope
// exit. Throws std::bad_alloc (which the binding reports as an allocation error) when out of memory.
template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t n) : bytes_(n * sizeof(T)) {
    p_ = static_cast<T*>(block_alloc(bytes_));
    note_alloc(MemKind::Scratch, bytes_);
  }
  ~Scratch() {
    block_free(p_, bytes_);
    note_free(MemKind::Scratch, bytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }
  T& operator[](size_t i) const { return p_[i]; }

 private:
  size_t bytes_;
  T* p_;
};

}  // namespace tf
