// Online softmax row statistics (max m and s = Σ e^(x − m)) shared by the CUDA softmax and
// cross-entropy kernels, with the CPU's special values: NaN anywhere poisons s, an all −inf row
// leaves m = −inf (so x − m is NaN downstream), +inf gives NaN. Include from .cu files only.
#pragma once
#include <cmath>

#include "common.cuh"

namespace tf {
namespace cuda {

// e^(x − m), 0 for x = −inf whatever m is, so a row that starts with −inf stays finite (NaN
// still poisons the sum, and m = +inf gives NaN, as on the CPU).
__device__ __forceinline__ float exp_shift(float x, float m) { return x == -INFINITY ? 0.0f : expf(x - m); }
// The factor that moves a sum taken against max a onto max b >= a.
__device__ __forceinline__ double rescale(float a, float b) { return a == b ? 1.0 : static_cast<double>(expf(a - b)); }

// Online row statistics: max m and s = Σ e^(x − m).
struct Stats {
  float m;
  double s;
  __device__ __forceinline__ void add(float x) {
    if (x > m) {
      s *= rescale(m, x);
      m = x;
    }
    s += exp_shift(x, m);
  }
  __device__ __forceinline__ void add4(float4 v) {
    const float mx = fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w));
    if (mx > m) {
      s *= rescale(m, mx);
      m = mx;
    }
    s += static_cast<double>((exp_shift(v.x, m) + exp_shift(v.y, m)) + (exp_shift(v.z, m) + exp_shift(v.w, m)));
  }
  __device__ __forceinline__ void merge(float om, double os) {
    const float nm = fmaxf(m, om);
    s = s * rescale(m, nm) + os * rescale(om, nm);
    m = nm;
  }
};

__device__ __forceinline__ Stats warp_stats(Stats st) {
  for (int o = kWarp / 2; o > 0; o >>= 1) st.merge(__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o));
  return st;
}

// Block-wide merge of every thread's Stats; all threads get the result. Every thread of the
// block must call it. smem: 32 floats, 32 doubles.
__device__ __forceinline__ Stats block_stats(Stats st, float* sm, double* ss) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  st = warp_stats(st);
  __syncthreads();  // the previous row's readers are done
  if (lane == 0) {
    sm[warp] = st.m;
    ss[warp] = st.s;
  }
  __syncthreads();
  Stats r{-INFINITY, 0.0};
  for (int w = 0; w < warps; w++) r.merge(sm[w], ss[w]);  // the same order in every thread
  return r;
}

}  // namespace cuda
}  // namespace tf
