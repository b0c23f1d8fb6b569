// Tensor-core building blocks (mma.sync, sm_80 and newer) shared by matmul, conv and attention.
// Each wrapper is one warp-wide instruction; the fragment layouts below are the PTX ISA's and
// every caller fills its registers by them. g = lane / 4 (the "group"), t = lane % 4.
//
//   TF32 m16n8k8   A 16x8 row-major  a0 (g, t)     a1 (g+8, t)     a2 (g, t+4)     a3 (g+8, t+4)
//                  B 8x8  (k x n)    b0 (k=t, n=g) b1 (k=t+4, n=g)
//   BF16 m16n8k16  A 16x16           a0 (g, 2t..2t+1)     a1 (g+8, 2t..2t+1)
//                                    a2 (g, 2t+8..2t+9)   a3 (g+8, 2t+8..2t+9)   (low half = lower column)
//                  B 16x8 (k x n)    b0 (k=2t..2t+1, n=g) b1 (k=2t+8..2t+9, n=g)
//   C/D 16x8 f32 (both shapes)       c0 (g, 2t) c1 (g, 2t+1) c2 (g+8, 2t) c3 (g+8, 2t+1)
//
// On GPUs older than sm_80 these compile to a trap; hosts check has_tensor_cores() first.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "runtime.h"

namespace tf {
namespace cuda {

// True when the current device runs the mma.sync shapes below (compute capability 8.0 or newer).
inline bool has_tensor_cores() { return device_props().major >= 8; }

// float -> tf32 (round to nearest, ties away, as cuBLAS does), kept in a 32-bit register.
__device__ __forceinline__ uint32_t to_tf32(float x) {
#if __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return __float_as_uint(x);
#endif
}

// Two floats -> two bf16 in one register, `lo` in the low half (round to nearest even).
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// d += a * b, TF32 inputs, f32 accumulate.
__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();
#endif
}

// d += a * b, BF16 inputs, f32 accumulate.
__device__ __forceinline__ void mma_bf16_16x8x16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  __trap();
#endif
}

// Asynchronous global -> shared copies (sm_80+), 16 bytes each; `src_bytes` < 16 zero-fills the
// rest (0 reads nothing, for out-of-bounds tiles). Older GPUs copy synchronously.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
#if __CUDA_ARCH__ >= 800
  uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
  const char* g = static_cast<const char*>(gmem);
  char* d = static_cast<char*>(smem);
  for (int i = 0; i < 16; i++) d[i] = i < src_bytes ? g[i] : 0;
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most `N` committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

}  // namespace cuda
}  // namespace tf
