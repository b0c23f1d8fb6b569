// What a CUDA kernel family needs from the CUDA addon's runtime (runtime.cu): the stream every
// op runs on, the properties of the device it runs on, launch error checks, and scratch memory
// from the caching allocator. Host-only declarations, so .cu files and plain C++ both include it.
//
// Every op of one process runs on one stream of the current device, so work is ordered without
// events, a kernel returns to JS as soon as it is queued, and a freed block can be handed to the
// next allocation at once (the stream runs the later kernel after the earlier one is done).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/registry.h"

namespace tf {
namespace cuda {

// The stream of the current device (created on first use).
cudaStream_t stream();
// Properties of the current device, queried once.
const cudaDeviceProp& device_props();
int current_device();

// Throws tf::Error(ErrorKind::Device, "<op>: CUDA error: <text>") when `err` is not cudaSuccess.
void check(cudaError_t err, const char* op);
// After a <<<...>>> launch: reports a launch failure (bad configuration, no kernel image for this
// GPU, a sticky error from an earlier kernel) as a tf::Error naming the op.
void check_launch(const char* op);

// Device memory from the caching allocator. Throws tf::Error(ErrorKind::Allocation) when the
// device is out of memory even after the cache was emptied and the allocation retried.
void* device_alloc(size_t bytes);
// Returns a block to the cache. Safe while queued kernels still use it: later users of the block
// are queued on the same stream, after them.
void device_free(void* p, size_t bytes);

// A kernel's temporary device array, returned to the cache when the scope ends (stream-ordered,
// see device_free). Counted as scratch in the memory stats.
class Scratch {
 public:
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }
  template <typename T> T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// ---- for the binding (cuda/binding.cpp) ----
// Chooses the device used by this process; only before the first CUDA allocation or kernel.
void select_device(int device);
size_t device_cached_bytes();
// cudaMalloc calls so far (allocations the cache could not serve).
size_t device_fresh_allocations();
void empty_device_cache();
// Page-locked host memory for asynchronous reads, from its own cache.
void* pinned_alloc(size_t bytes);
void pinned_free(void* p, size_t bytes);
// Host <-> device copies ordered on the stream. copy_to_host returns when the bytes have arrived.
void copy_to_device(void* dst, const void* host_src, size_t bytes);
void copy_to_host(void* host_dst, const void* src, size_t bytes);
// Waits for every queued op.
void synchronize();

// tf.setMatmulPrecision, passed to matmul, conv and attention kernels as the numeric attribute
// "precision" (absent means Highest). As in PyTorch: Highest = true float32 arithmetic;
// High = TF32 tensor cores (10-bit mantissa inputs, float32 accumulation); Medium = BF16 tensor
// cores (8-bit mantissa inputs, float32 accumulation).
enum class Precision { Highest = 0, High = 1, Medium = 2 };
Precision precision(const Attrs& attrs);

}  // namespace cuda
}  // namespace tf
