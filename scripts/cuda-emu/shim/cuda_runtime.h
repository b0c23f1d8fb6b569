// Host emulation of the CUDA runtime and device builtins (test tooling, see ../build.sh).
// Kernels run as fibers on the calling thread: the threads of one block are switched at each
// __syncthreads / warp collective, blocks of a launch run one after another. So `__shared__`
// becomes `static` and atomics are plain read-modify-writes.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
using std::max;
using std::min;

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) int2 { int x, y; };
inline float2 make_float2(float a, float b) { return {a, b}; }
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline int4 make_int4(int a, int b, int c, int d) { return {a, b, c, d}; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __constant__ static

constexpr int warpSize = 32;

// ---- the emulator (runtime_emu.cpp) ----
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
// What build.sh rewrites `k<<<grid, block, smem, stream>>>(args)` into:
//   emu_launch(emu_fn(k), dim3(grid), dim3(block), smem, [&] { k(args); })
void emu_launch(const void* kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body);
template <class F> inline const void* emu_fn(F* f) { return reinterpret_cast<const void*>(f); }
void emu_cp_async(void* smem, const void* gmem, int src_bytes);
void emu_cp_async_commit();
void emu_cp_async_wait(int n);
void emu_syncthreads();
void emu_syncwarp();
int emu_lane_id();   // linear thread id % 32
int emu_warp_id();   // linear thread id / 32
uint64_t* emu_warp_slots();  // 32 exchange slots of the calling thread's warp
void* emu_dynamic_smem();
void emu_poison_shared(void* p, size_t bytes);
[[noreturn]] void emu_trap(const char* why);

inline void __syncthreads() { emu_syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu_syncwarp(); }
inline void __trap() { emu_trap("__trap() called"); }
inline void emu_check_launch_bounds(long n) {
  if (long(blockDim.x) * blockDim.y * blockDim.z > n) emu_trap("launch has more threads than the kernel's __launch_bounds__");
}

template <class T>
inline T emu_shfl(unsigned mask, T v, int src_of_lane_fn_kind, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  if (mask != 0xffffffffu) emu_trap("warp shuffle with a partial mask (the emulator supports full masks only)");
  const int lane = emu_lane_id();
  uint64_t* slots = emu_warp_slots();
  std::memcpy(&slots[lane], &v, sizeof(T));
  emu_syncwarp();
  const int base = lane & ~(width - 1);
  int src;
  switch (src_of_lane_fn_kind) {
    case 0: src = lane ^ arg; if (src >= base + width) src = lane; break;  // xor
    case 1: src = base + (arg & (width - 1)); break;                       // idx
    case 2: src = lane + arg < base + width ? lane + arg : lane; break;    // down
    default: src = lane - arg >= base ? lane - arg : lane; break;          // up
  }
  T r;
  std::memcpy(&r, &slots[src], sizeof(T));
  emu_syncwarp();
  return r;
}
template <class T> inline T __shfl_xor_sync(unsigned m, T v, int x, int w = 32) { return emu_shfl(m, v, 0, x, w); }
template <class T> inline T __shfl_sync(unsigned m, T v, int s, int w = 32) { return emu_shfl(m, v, 1, s, w); }
template <class T> inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) { return emu_shfl(m, v, 2, int(d), w); }
template <class T> inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) { return emu_shfl(m, v, 3, int(d), w); }
inline unsigned __ballot_sync(unsigned m, int p) {
  unsigned r = 0;
  for (int i = 0; i < 32; i++) r |= unsigned(__shfl_sync(m, p ? 1 : 0, i)) << i;
  return r;
}
inline int __any_sync(unsigned m, int p) { return __ballot_sync(m, p) != 0; }
inline int __all_sync(unsigned m, int p) { return __ballot_sync(m, p) == 0xffffffffu; }

// Fibers of one block never run at once, so a plain read-modify-write is atomic.
template <class T> inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
template <class T> inline T atomicMin(T* p, T v) { T o = *p; *p = v < o ? v : o; return o; }
template <class T> inline T atomicMax(T* p, T v) { T o = *p; *p = v > o ? v : o; return o; }
template <class T> inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <class T> inline T atomicCAS(T* p, T c, T v) { T o = *p; if (o == c) *p = v; return o; }

template <class T> inline T __ldg(const T* p) { return *p; }
inline uint32_t __umulhi(uint32_t a, uint32_t b) { return uint32_t((uint64_t(a) * b) >> 32); }
inline uint32_t __float_as_uint(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
inline int __ffs(int x) { return __builtin_ffs(x); }
// Correctly rounded IEEE operations: plain C++ arithmetic, compiled with -ffp-contract=off.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __frsqrt_rn(float a) { return float(1.0 / std::sqrt(double(a))); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __double2float_rn(double a) { return float(a); }
inline float __int2float_rn(int a) { return float(a); }
inline int __float2int_rn(float a) { return int(std::nearbyint(a)); }
// Fast-math intrinsics: the emulator uses the accurate functions (tests compare with tolerances).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0 ? 0.0f : x > 1 ? 1.0f : x; }
inline float rsqrtf(float x) { return float(1.0 / std::sqrt(double(x))); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
inline void* __cvta_generic_to_shared(const void* p) { return const_cast<void*>(p); }

// ---- runtime API subset ----
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2,
                   cudaErrorLaunchFailure = 719, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice,
                      cudaMemcpyDefault };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
constexpr unsigned cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2;
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin, sharedMemPerMultiprocessor;
  int major, minor, multiProcessorCount, warpSize, maxThreadsPerBlock, maxThreadsPerMultiProcessor;
  int regsPerBlock, l2CacheSize, memoryBusWidth, integrated, ECCEnabled;
  int maxGridSize[3];
};
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t);
const char* cudaGetErrorName(cudaError_t);
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr);
cudaError_t cudaMemset(void* p, int v, size_t n);
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t = nullptr);
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind);
cudaError_t cudaMemcpy2DAsync(void* d, size_t dp, const void* s, size_t sp, size_t w, size_t h, cudaMemcpyKind,
                              cudaStream_t = nullptr);
cudaError_t cudaStreamSynchronize(cudaStream_t);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreateWithFlags(cudaEvent_t*, unsigned);
cudaError_t cudaEventCreate(cudaEvent_t*);
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t);
cudaError_t cudaEventDestroy(cudaEvent_t);
cudaError_t cudaEventElapsedTime(float*, cudaEvent_t, cudaEvent_t);
cudaError_t emu_func_set_attribute(const void* fn, cudaFuncAttribute attr, int value);
template <class F> cudaError_t cudaFuncSetAttribute(F* fn, cudaFuncAttribute a, int v) {
  return emu_func_set_attribute(reinterpret_cast<const void*>(fn), a, v);
}
