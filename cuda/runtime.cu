// The CUDA addon's runtime (see runtime.h): the device and stream every op uses, the caching
// allocators (device memory for tensors and scratch, pinned host memory for asynchronous reads)
// and launch error checks.
#include "runtime.h"

#include <climits>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/block_cache.h"
#include "core/memory.h"

namespace tf {
namespace cuda {
namespace {

std::string err_text(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

struct State {
  std::mutex mu;
  int requested = 0;  // set by select_device before first use
  bool ready = false;
  int device = -1;
  cudaStream_t stream = nullptr;
  cudaDeviceProp props{};
};
State& state() {
  static auto* s = new State();  // never destroyed: buffers may be freed during exit
  return *s;
}

State& ready_state() {
  State& s = state();
  if (s.ready) return s;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.ready) return s;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw Error(ErrorKind::Device, "CUDA is not available: " +
                                       (e != cudaSuccess ? err_text(e) : std::string("no CUDA device was found")));
  }
  if (s.requested >= count)
    throw Error(ErrorKind::Device, "CUDA device " + std::to_string(s.requested) + " does not exist (" +
                                       std::to_string(count) + " found)");
  check(cudaSetDevice(s.requested), "select device");
  check(cudaGetDeviceProperties(&s.props, s.requested), "device properties");
  // Non-blocking: never serialised with the legacy default stream other libraries may use.
  check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "create stream");
  s.device = s.requested;
  s.ready = true;
  return s;
}

// cudaMalloc that reports "out of memory" as nullptr (so the cache empties itself and retries)
// and any other failure as an error.
struct DeviceRaw {
  static void* alloc(size_t n) {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, n);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    check(e, "cudaMalloc");
    return p;
  }
  // cudaFree waits for the device to finish, so no queued kernel still uses the block.
  static void free(void* p) { cudaFree(p); }
};
struct PinnedRaw {
  static void* alloc(size_t n) {
    void* p = nullptr;
    if (cudaMallocHost(&p, n) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return p;
  }
  static void free(void* p) { cudaFreeHost(p); }
};

// Every size is cached (512-byte granules, 1/8 size classes from 1 MiB): device memory is only
// returned by emptyCache() or when an allocation would otherwise fail.
BlockCache<DeviceRaw>& device_cache() {
  static auto* c = new BlockCache<DeviceRaw>(512, size_t(1) << 20, SIZE_MAX);
  return *c;
}
BlockCache<PinnedRaw>& pinned_cache() {
  static auto* c = new BlockCache<PinnedRaw>(4096, size_t(1) << 20, size_t(256) << 20);
  return *c;
}

}  // namespace

void check(cudaError_t err, const char* op) {
  if (err == cudaSuccess) return;
  throw Error(ErrorKind::Device, std::string(op) + ": CUDA error " + err_text(err));
}

void check_launch(const char* op) { check(cudaGetLastError(), op); }

cudaStream_t stream() { return ready_state().stream; }
const cudaDeviceProp& device_props() { return ready_state().props; }
int current_device() { return ready_state().device; }

void select_device(int device) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.ready && device != s.device)
    throw Error(ErrorKind::Device, "setDevice(" + std::to_string(device) + "): CUDA device " +
                                       std::to_string(s.device) +
                                       " is already in use by this process; choose the device before creating CUDA tensors");
  s.requested = device;
}

void* device_alloc(size_t bytes) {
  ready_state();
  void* p = device_cache().alloc(bytes);
  if (p) return p;
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  cudaGetLastError();
  const MemoryStats m = memory_stats();
  throw Error(ErrorKind::Allocation,
              "CUDA out of memory: cannot allocate " + std::to_string(bytes) + " bytes on device " +
                  std::to_string(current_device()) + " (" + std::to_string(m.buffer_bytes) +
                  " bytes held by live tensors; the cache was emptied and the allocation retried; the device has " +
                  std::to_string(free_b) + " of " + std::to_string(total_b) +
                  " bytes free). Free tensors (dispose, tf.scope) or use smaller batches.");
}

void device_free(void* p, size_t bytes) { device_cache().free(p, bytes); }
size_t device_cached_bytes() { return device_cache().cached(); }
size_t device_fresh_allocations() { return device_cache().fresh_allocations(); }
void empty_device_cache() {
  device_cache().empty();
  pinned_cache().empty();
}

void* pinned_alloc(size_t bytes) {
  ready_state();
  void* p = pinned_cache().alloc(bytes);
  if (!p) throw Error(ErrorKind::Allocation, "out of pinned host memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}
void pinned_free(void* p, size_t bytes) { pinned_cache().free(p, bytes); }

void copy_to_device(void* dst, const void* host_src, size_t bytes) {
  // From pageable memory the runtime stages the bytes before returning, so the caller's array may
  // change right after; the copy itself is ordered on the stream with the kernels.
  check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream()), "write");
}

void copy_to_host(void* host_dst, const void* src, size_t bytes) {
  check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "read");
  check(cudaStreamSynchronize(stream()), "read");
}

void synchronize() { check(cudaStreamSynchronize(stream()), "synchronize"); }

Scratch::Scratch(size_t bytes) : bytes_(bytes) {
  p_ = device_alloc(bytes);
  note_alloc(MemKind::Scratch, bytes_);
}
Scratch::~Scratch() {
  device_free(p_, bytes_);
  note_free(MemKind::Scratch, bytes_);
}

}  // namespace cuda
}  // namespace tf
