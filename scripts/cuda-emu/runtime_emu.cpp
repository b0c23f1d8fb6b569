// The emulated build's stand-in for cuda/runtime.cu and cuda/device.cu (test tooling, see
// build.sh): host memory as "device" memory, one emulated H100-like device, and the kernel
// emulator that runs each CUDA thread of a block as a fiber on the calling thread.
//
// Blocks of a launch run one after another; the fibers of a block are switched at every
// __syncthreads and warp collective (shuffles, mma, __syncwarp), in thread order. A barrier opens
// when every live thread of its scope waits at it. Exited threads count as arrived at
// __syncthreads (as on sm_70+); a warp collective reached after lanes of that warp exited, threads
// of one warp waiting at different barriers, or a block that cannot make progress are reported as
// launch errors (check_launch throws), since on a GPU they hang or read undefined values.
// Threads run in thread order (a read of another thread's shared-memory write without a barrier
// in between then sees the old value when the writer has the higher index);
// TF_CUDA_EMU_REVERSE=1 runs threads and blocks in reverse order, to catch the other direction.
#include <sys/mman.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/block_cache.h"
#include "core/memory.h"
#include "device.h"
#include "device_props.h"
#include "mma.cuh"
#include "runtime.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;

// ---- fibers --------------------------------------------------------------------------------
// emu_switch(save, to): saves the callee-saved registers on the current stack, stores its stack
// pointer in *save and resumes the fiber whose stack pointer is `to`.
extern "C" void emu_switch(void** save, void* to);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch, .-emu_switch
.section .note.GNU-stack,"",@progbits
.text
)");

namespace {

enum State { kReady, kWaitBlock, kWaitWarp, kDone };
struct Copy {
  int group;  // -1 until committed
  char* dst;
  char data[16];
};
struct Fiber {
  void* sp = nullptr;
  State state = kDone;
  dim3 tid;
  std::vector<Copy> copies;  // cp.async copies not yet landed
  int next_group = 0;
};

constexpr size_t kStackBytes = 256 << 10;
constexpr int kMaxThreads = 1024;

struct Emu {
  char* stacks = nullptr;
  Fiber fibers[kMaxThreads];
  int nthreads = 0;
  int current = -1;  // fiber running now, -1 on the host
  void* host_sp = nullptr;
  const std::function<void()>* body = nullptr;
  uint64_t warp_slots[kMaxThreads / 32][32];
  uint32_t mma_a[kMaxThreads / 32][32][4], mma_b[kMaxThreads / 32][32][2];
  float mma_c[kMaxThreads / 32][32][4];
  std::vector<char> dyn_smem;
  size_t dyn_bytes = 0;
  std::string error;  // first launch error not yet reported
  std::unordered_map<const void*, int> max_dyn_smem;
  std::vector<const void*> poisoned;  // static __shared__ arrays already filled in this block
};
Emu& emu() {
  static Emu* e = new Emu();
  return *e;
}

void set_error(const std::string& msg) {
  Emu& E = emu();
  if (E.error.empty()) E.error = msg;
}

void yield_to_host() {
  Emu& E = emu();
  Fiber& f = E.fibers[E.current];
  emu_switch(&f.sp, E.host_sp);
}

void land_copies(Fiber& f, int below_group, bool all) {
  auto& c = f.copies;
  size_t keep = 0;
  for (size_t i = 0; i < c.size(); i++) {
    if (all || (c[i].group >= 0 && c[i].group < below_group)) std::memcpy(c[i].dst, c[i].data, 16);
    else c[keep++] = c[i];
  }
  c.resize(keep);
}

[[noreturn]] void fiber_main() {
  Emu& E = emu();
  (*E.body)();
  Fiber& f = E.fibers[E.current];
  land_copies(f, 0, true);
  f.state = kDone;
  emu_switch(&f.sp, E.host_sp);
  std::abort();  // a finished fiber is never resumed
}

void start_fiber(int i) {
  Emu& E = emu();
  char* top = E.stacks + size_t(i + 1) * kStackBytes;
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                        // fake return address of fiber_main
  *--sp = reinterpret_cast<void*>(&fiber_main);          // emu_switch's ret
  for (int r = 0; r < 6; r++) *--sp = nullptr;            // rbp rbx r12..r15
  --sp;                                                   // mxcsr + x87 control word
  uint32_t mx = 0x1f80;
  uint16_t cw = 0x037f;
  std::memcpy(sp, &mx, 4);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &cw, 2);
  Fiber& f = E.fibers[i];
  f.sp = sp;
  f.state = kReady;
  f.copies.clear();
  f.next_group = 0;
}

bool run_block() {
  Emu& E = emu();
  const int T = E.nthreads;
  E.poisoned.clear();
  for (int i = 0; i < T; i++) start_fiber(i);
  static const bool reverse = std::getenv("TF_CUDA_EMU_REVERSE") && std::getenv("TF_CUDA_EMU_REVERSE")[0] == '1';
  for (;;) {
    for (int n = 0; n < T; n++) {
      const int i = reverse ? T - 1 - n : n;
      Fiber& f = E.fibers[i];
      if (f.state != kReady) continue;
      E.current = i;
      threadIdx = f.tid;
      emu_switch(&E.host_sp, f.sp);
      E.current = -1;
    }
    bool any_ready = false, all_done = true;
    for (int w = 0; w * 32 < T; w++) {
      const int lo = w * 32, hi = std::min(T, lo + 32);
      int done = 0, warp_wait = 0, block_wait = 0;
      for (int i = lo; i < hi; i++) {
        done += E.fibers[i].state == kDone;
        warp_wait += E.fibers[i].state == kWaitWarp;
        block_wait += E.fibers[i].state == kWaitBlock;
      }
      if (warp_wait == 0) continue;
      if (block_wait) {
        set_error("warp " + std::to_string(w) + " of block (" + std::to_string(blockIdx.x) + "," +
                  std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) +
                  ") deadlocks: some lanes wait at __syncthreads, others at a warp collective");
        return false;
      }
      if (done || hi - lo < 32) {
        set_error("warp " + std::to_string(w) + " of block (" + std::to_string(blockIdx.x) + "," +
                  std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) + ") runs a full-mask warp collective with " +
                  std::to_string(32 - (hi - lo) + done) + " lanes exited or absent (undefined on a GPU)");
        return false;
      }
      for (int i = lo; i < hi; i++) E.fibers[i].state = kReady;
      any_ready = true;
    }
    if (any_ready) continue;
    int waiting = 0;
    for (int i = 0; i < T; i++) {
      if (E.fibers[i].state != kDone) all_done = false;
      waiting += E.fibers[i].state == kWaitBlock;
    }
    if (all_done) return true;
    // Every live thread waits at __syncthreads (no warp waits remain): open it.
    for (int i = 0; i < T; i++)
      if (E.fibers[i].state == kWaitBlock) E.fibers[i].state = kReady;
    if (waiting == 0) {
      set_error("emulator: block makes no progress");
      return false;
    }
  }
}

}  // namespace

void emu_check_smem(const void* fn, size_t smem);

void emu_launch(const void* kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body) {
  Emu& E = emu();
  emu_check_smem(kernel, smem);
  if (!E.error.empty()) return;  // a failed launch runs nothing
  if (E.current >= 0) {
    set_error("kernel launched from device code");
    return;
  }
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
      grid.z > 65535 || grid.x > 2147483647u) {
    set_error("invalid configuration argument: grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
              std::to_string(grid.z) + ") block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
              std::to_string(block.z) + ")");
    return;
  }
  if (smem > (227u << 10)) {
    set_error("too much dynamic shared memory: " + std::to_string(smem) + " bytes");
    return;
  }
  if (!E.stacks) {
    const size_t total = kStackBytes * kMaxThreads;
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "cuda-emu: cannot map fiber stacks\n");
      std::abort();
    }
    E.stacks = static_cast<char*>(p);
    for (int i = 0; i < kMaxThreads; i++) mprotect(E.stacks + size_t(i) * kStackBytes, 4096, PROT_NONE);  // guard
  }
  E.nthreads = int(threads);
  for (int i = 0; i < E.nthreads; i++)
    E.fibers[i].tid = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
  E.body = &body;
  E.dyn_smem.assign(smem + 128, char(0xff));  // NaN-filled: reads of unwritten shared memory show
  E.dyn_bytes = smem;
  blockDim = block;
  gridDim = grid;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  static const bool reverse = std::getenv("TF_CUDA_EMU_REVERSE") && std::getenv("TF_CUDA_EMU_REVERSE")[0] == '1';
  for (uint64_t n = 0; n < blocks; n++) {
    const uint64_t b = reverse ? blocks - 1 - n : n;
    blockIdx = dim3(unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y)));
    if (!run_block()) return;
  }
}

// Launch-time check that a kernel needing more than 48 KiB of dynamic shared memory opted in.
void emu_check_smem(const void* fn, size_t smem) {
  if (smem <= (48u << 10)) return;
  auto it = emu().max_dyn_smem.find(fn);
  if (it == emu().max_dyn_smem.end() || size_t(it->second) < smem)
    set_error("launch needs " + std::to_string(smem) +
              " bytes of dynamic shared memory but cudaFuncSetAttribute(MaxDynamicSharedMemorySize) allowed " +
              std::to_string(it == emu().max_dyn_smem.end() ? 49152 : it->second));
}

cudaError_t emu_func_set_attribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > (227 << 10))
    return cudaErrorInvalidValue;
  emu().max_dyn_smem[fn] = value;
  return cudaSuccess;
}

// Shared memory starts as garbage on a GPU: the first thread of a block to reach a static
// __shared__ declaration fills it with 0xff bytes (NaN as float/double, -1 as integers).
void emu_poison_shared(void* p, size_t bytes) {
  Emu& E = emu();
  if (E.current < 0) return;
  for (const void* q : E.poisoned)
    if (q == p) return;
  E.poisoned.push_back(p);
  std::memset(p, 0xff, bytes);
}

void emu_syncthreads() {
  Emu& E = emu();
  if (E.current < 0) return;
  E.fibers[E.current].state = kWaitBlock;
  yield_to_host();
}
void emu_syncwarp() {
  Emu& E = emu();
  if (E.current < 0) return;
  E.fibers[E.current].state = kWaitWarp;
  yield_to_host();
}
static int linear_tid() { return int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }
int emu_lane_id() { return linear_tid() % 32; }
int emu_warp_id() { return linear_tid() / 32; }
uint64_t* emu_warp_slots() { return emu().warp_slots[emu_warp_id()]; }
void* emu_dynamic_smem() {
  uintptr_t p = reinterpret_cast<uintptr_t>(emu().dyn_smem.data());
  return reinterpret_cast<void*>((p + 127) & ~uintptr_t(127));
}
void emu_trap(const char* why) {
  Emu& E = emu();
  set_error(std::string("device-side trap: ") + why);
  if (E.current < 0) {
    std::fprintf(stderr, "cuda-emu: %s outside a kernel\n", why);
    std::abort();
  }
  Fiber& f = E.fibers[E.current];
  f.state = kDone;
  emu_switch(&f.sp, E.host_sp);
  std::abort();
}

void emu_cp_async(void* smem, const void* gmem, int src_bytes) {
  Emu& E = emu();
  Copy c{-1, static_cast<char*>(smem), {}};
  for (int i = 0; i < 16; i++) c.data[i] = i < src_bytes ? static_cast<const char*>(gmem)[i] : 0;
  if (E.current < 0) {
    std::memcpy(c.dst, c.data, 16);
    return;
  }
  E.fibers[E.current].copies.push_back(c);
}
void emu_cp_async_commit() {
  Emu& E = emu();
  if (E.current < 0) return;
  Fiber& f = E.fibers[E.current];
  for (auto& c : f.copies)
    if (c.group < 0) c.group = f.next_group;
  f.next_group++;
}
void emu_cp_async_wait(int n) {
  Emu& E = emu();
  if (E.current < 0) return;
  Fiber& f = E.fibers[E.current];
  land_copies(f, f.next_group - n, false);
}

namespace tf {
namespace cuda {

// The operands of mma.sync as the PTX fragment layouts place them (see cuda/mma.cuh).
void emu_mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool bf16) {
  Emu& E = emu();
  const int lane = emu_lane_id(), w = emu_warp_id();
  for (int i = 0; i < 4; i++) E.mma_a[w][lane][i] = a[i], E.mma_c[w][lane][i] = d[i];
  E.mma_b[w][lane][0] = b[0];
  E.mma_b[w][lane][1] = b[1];
  emu_syncwarp();
  auto half = [](uint32_t v, int h) { return __uint_as_float(((v >> (16 * h)) & 0xffffu) << 16); };
  auto tf32 = [](uint32_t v) { return __uint_as_float(v & 0xffffe000u); };  // the unit reads 19 bits
  auto A = [&](int r, int k) -> float {
    if (!bf16) return tf32(E.mma_a[w][(r % 8) * 4 + k % 4][(r >= 8) + 2 * (k >= 4)]);
    return half(E.mma_a[w][(r % 8) * 4 + (k % 8) / 2][(r >= 8) + 2 * (k >= 8)], k % 2);
  };
  auto B = [&](int k, int n) -> float {
    if (!bf16) return tf32(E.mma_b[w][n * 4 + k % 4][k >= 4]);
    return half(E.mma_b[w][n * 4 + (k % 8) / 2][k >= 8], k % 2);
  };
  const int g = lane / 4, t = lane % 4, K = bf16 ? 16 : 8;
  float out[4];
  for (int e = 0; e < 4; e++) {
    const int r = g + (e >= 2 ? 8 : 0), n = 2 * t + (e & 1);
    double s = E.mma_c[w][lane][e];
    for (int k = 0; k < K; k++) s += double(A(r, k)) * double(B(k, n));
    out[e] = float(s);
  }
  emu_syncwarp();
  for (int e = 0; e < 4; e++) d[e] = out[e];
}

}  // namespace cuda
}  // namespace tf

// ---- CUDA runtime API subset ----------------------------------------------------------------
static std::string g_last_text;
cudaError_t cudaGetLastError() {
  Emu& E = emu();
  if (E.error.empty()) return cudaSuccess;
  g_last_text = E.error;
  E.error.clear();
  return cudaErrorLaunchFailure;
}
cudaError_t cudaPeekAtLastError() { return emu().error.empty() ? cudaSuccess : cudaErrorLaunchFailure; }
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    default: return "cudaErrorLaunchFailure";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorLaunchFailure ? g_last_text.c_str() : cudaGetErrorName(e);
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) { std::memset(p, v, n); return cudaSuccess; }
cudaError_t cudaMemset(void* p, int v, size_t n) { std::memset(p, v, n); return cudaSuccess; }
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  if (n) std::memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) { return cudaMemcpyAsync(d, s, n, k, nullptr); }
cudaError_t cudaMemcpy2DAsync(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind,
                              cudaStream_t) {
  for (size_t r = 0; r < h; r++) std::memmove(static_cast<char*>(d) + r * dp, static_cast<const char*>(s) + r * sp, w);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = reinterpret_cast<cudaEvent_t>(new char);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<char*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0;
  return cudaSuccess;
}

// ---- cuda/runtime.h -------------------------------------------------------------------------
namespace tf {
namespace cuda {
namespace {

cudaDeviceProp make_props() {
  cudaDeviceProp p{};
  std::snprintf(p.name, sizeof p.name, "tensorforge CUDA emulator (host fibers)");
  p.totalGlobalMem = size_t(16) << 30;
  p.sharedMemPerBlock = 48 << 10;
  p.sharedMemPerBlockOptin = 227 << 10;
  p.sharedMemPerMultiprocessor = 228 << 10;
  p.major = 9;
  p.minor = 0;
  p.multiProcessorCount = 4;
  p.warpSize = 32;
  p.maxThreadsPerBlock = 1024;
  p.maxThreadsPerMultiProcessor = 2048;
  p.regsPerBlock = 65536;
  p.l2CacheSize = 50 << 20;
  p.memoryBusWidth = 5120;
  p.maxGridSize[0] = INT_MAX;
  p.maxGridSize[1] = p.maxGridSize[2] = 65535;
  return p;
}

struct DeviceRaw {
  static void* alloc(size_t n) { return std::aligned_alloc(256, (n + 255) / 256 * 256); }
  static void free(void* p) { std::free(p); }
};
BlockCache<DeviceRaw>& device_cache() {
  static auto* c = new BlockCache<DeviceRaw>(512, size_t(1) << 20, SIZE_MAX);
  return *c;
}
BlockCache<DeviceRaw>& pinned_cache() {
  static auto* c = new BlockCache<DeviceRaw>(4096, size_t(1) << 20, size_t(256) << 20);
  return *c;
}
int g_requested = 0;
bool g_used = false;

}  // namespace

cudaStream_t stream() {
  g_used = true;
  return nullptr;
}
const cudaDeviceProp& device_props() {
  static const cudaDeviceProp p = make_props();
  return p;
}
int current_device() { return g_requested; }

void check(cudaError_t err, const char* op) {
  if (err == cudaSuccess) return;
  throw Error(ErrorKind::Device, std::string(op) + ": CUDA error " + cudaGetErrorName(err) + ": " +
                                     cudaGetErrorString(err) + " (emulated)");
}
void check_launch(const char* op) { check(cudaGetLastError(), op); }

void select_device(int device) {
  if (g_used && device != g_requested)
    throw Error(ErrorKind::Device, "setDevice(" + std::to_string(device) + "): CUDA device " +
                                       std::to_string(g_requested) +
                                       " is already in use by this process; choose the device before creating CUDA tensors");
  g_requested = device;
}

void* device_alloc(size_t bytes) {
  g_used = true;
  void* p = device_cache().alloc(bytes);
  if (p) return p;
  throw Error(ErrorKind::Allocation, "CUDA out of memory (emulated): cannot allocate " + std::to_string(bytes) + " bytes");
}
void device_free(void* p, size_t bytes) { device_cache().free(p, bytes); }
size_t device_cached_bytes() { return device_cache().cached(); }
size_t device_fresh_allocations() { return device_cache().fresh_allocations(); }
void empty_device_cache() {
  device_cache().empty();
  pinned_cache().empty();
}
void* pinned_alloc(size_t bytes) {
  void* p = pinned_cache().alloc(bytes);
  if (!p) throw Error(ErrorKind::Allocation, "out of pinned host memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}
void pinned_free(void* p, size_t bytes) { pinned_cache().free(p, bytes); }
void copy_to_device(void* dst, const void* host_src, size_t bytes) {
  if (bytes) std::memcpy(dst, host_src, bytes);
}
void copy_to_host(void* host_dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(host_dst, src, bytes);
}
void synchronize() {}

Scratch::Scratch(size_t bytes) : bytes_(bytes) {
  p_ = device_alloc(bytes);
  std::memset(p_, 0xff, bytes);  // NaN-filled: reads of unwritten scratch show
  note_alloc(MemKind::Scratch, bytes_);
}
Scratch::~Scratch() {
  device_free(p_, bytes_);
  note_free(MemKind::Scratch, bytes_);
}

}  // namespace cuda
}  // namespace tf

// ---- cuda/device.h --------------------------------------------------------------------------
namespace tfcuda {

int device_count() { return 1; }
int runtime_version() { return 13000; }
int driver_version() { return 13000; }

std::string device_properties(int, DeviceProperties* out) {
  copy_properties(tf::cuda::device_props(), out);
  out->pciBusId = "0000:00:00.0";
  return {};
}

std::string memory_info(int, MemoryInfo* out) {
  out->total = tf::cuda::device_props().totalGlobalMem;
  out->free = out->total;
  return {};
}

}  // namespace tfcuda
