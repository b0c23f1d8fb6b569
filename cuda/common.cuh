// Device-side helpers shared by the CUDA kernel families: strided indexing, warp and block
// reductions, and launch-size arithmetic. Include from .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/common.h"
#include "runtime.h"

namespace tf {
namespace cuda {

constexpr int kWarp = 32;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
inline unsigned grid_for(int64_t n, int threads) {
  int64_t want = ceil_div(n, threads);
  int64_t cap = static_cast<int64_t>(device_props().multiProcessorCount) * 32;
  if (want > cap) want = cap;
  return static_cast<unsigned>(want < 1 ? 1 : want);
}

// A View's shape and strides by value, for kernels over arbitrary strided operands.
// offset(i) maps a row-major linear index over `shape` to an element offset from the data pointer.
struct Strided {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];

  static Strided of(const View& v) {
    Strided s;
    s.ndim = v.ndim;
    for (int i = 0; i < v.ndim; i++) {
      s.shape[i] = v.shape[i];
      s.strides[i] = v.strides[i];
    }
    return s;
  }
  __device__ __forceinline__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
      int64_t q = linear / shape[d];
      off += (linear - q * shape[d]) * strides[d];
      linear = q;
    }
    return off;
  }
};

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block; every thread gets the result. `smem` holds blockDim.x / 32 floats.
// Must be reached by every thread of the block.
__device__ __forceinline__ float block_sum(float v, float* smem) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = (blockDim.x + kWarp - 1) / kWarp;
  v = warp_sum(v);
  __syncthreads();  // smem may still be read by a previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < warps ? smem[lane] : 0.0f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* smem) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = (blockDim.x + kWarp - 1) / kWarp;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < warps ? smem[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace cuda
}  // namespace tf
