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

// A kernel's temporary array: 64-byte aligned, uninitialised, counted as scratch, freed on scope
// exit. Throws std::bad_alloc (which the binding reports as an allocation error) when out of memory.
template <typename T>
class Scratch {
 public:
  explicit Scratch(size_t n) : bytes_(n * sizeof(T)) {
    size_t rounded = (bytes_ + 63) / 64 * 64;
    p_ = static_cast<T*>(std::aligned_alloc(64, rounded ? rounded : 64));
    if (!p_) throw std::bad_alloc();
    note_alloc(MemKind::Scratch, bytes_);
  }
  ~Scratch() {
    std::free(p_);
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
