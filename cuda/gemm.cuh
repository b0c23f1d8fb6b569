// Warp-level tensor-core GEMM steps over float32 tiles in shared memory, shared by the kernels
// that stage float32 operands in shared memory and convert them to TF32 / BF16 only when a warp
// loads its fragments (matmul; convolution's implicit GEMM can use the same inner loop).
//
// A warp computes an (MT*16) x (NT*8) tile of C: acc[i][j] is the m16n8 accumulator of rows
// i*16.. and columns j*8.. in the mma.cuh C layout. The operand tiles are addressed relative to
// the warp tile's origin and the current k step:
//   A element (m, k) at As[m * ARS + k * AKS]        B element (k, n) at Bs[n * BNS + k * BKS]
// The strides are compile-time so every address folds into an immediate offset; the caller
// chooses them (with padding) so the fragment loads are free of bank conflicts.
#pragma once
#include "mma.cuh"

namespace tf {
namespace cuda {

// One k8 step with TF32 inputs.
template <int MT, int NT, int ARS, int AKS, int BNS, int BKS>
__device__ __forceinline__ void warp_mma_tf32_k8(float (&acc)[MT][NT][4], const float* As, const float* Bs, int lane) {
  const int g = lane >> 2, t = lane & 3;
  uint32_t a[MT][4], b[NT][2];
#pragma unroll
  for (int i = 0; i < MT; i++) {
    const float* p = As + (i * 16 + g) * ARS + t * AKS;
    a[i][0] = to_tf32(p[0]);
    a[i][1] = to_tf32(p[8 * ARS]);
    a[i][2] = to_tf32(p[4 * AKS]);
    a[i][3] = to_tf32(p[8 * ARS + 4 * AKS]);
  }
#pragma unroll
  for (int j = 0; j < NT; j++) {
    const float* q = Bs + (j * 8 + g) * BNS + t * BKS;
    b[j][0] = to_tf32(q[0]);
    b[j][1] = to_tf32(q[4 * BKS]);
  }
#pragma unroll
  for (int i = 0; i < MT; i++)
#pragma unroll
    for (int j = 0; j < NT; j++) mma_tf32_16x8x8(acc[i][j], a[i], b[j]);
}

// Two consecutive-k floats (k, k+1) of a tile as one bf16 pair; a float2 load where k is the
// contiguous direction (S == 1: the caller keeps rows 8-byte aligned and k even).
template <int S>
__device__ __forceinline__ uint32_t bf16_pair(const float* p) {
  if constexpr (S == 1) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    return pack_bf16(v.x, v.y);
  } else {
    return pack_bf16(p[0], p[S]);
  }
}

// One k16 step with BF16 inputs.
template <int MT, int NT, int ARS, int AKS, int BNS, int BKS>
__device__ __forceinline__ void warp_mma_bf16_k16(float (&acc)[MT][NT][4], const float* As, const float* Bs, int lane) {
  const int g = lane >> 2, t = lane & 3;
  uint32_t a[MT][4], b[NT][2];
#pragma unroll
  for (int i = 0; i < MT; i++) {
    const float* p = As + (i * 16 + g) * ARS + 2 * t * AKS;
    a[i][0] = bf16_pair<AKS>(p);
    a[i][1] = bf16_pair<AKS>(p + 8 * ARS);
    a[i][2] = bf16_pair<AKS>(p + 8 * AKS);
    a[i][3] = bf16_pair<AKS>(p + 8 * ARS + 8 * AKS);
  }
#pragma unroll
  for (int j = 0; j < NT; j++) {
    const float* q = Bs + (j * 8 + g) * BNS + 2 * t * BKS;
    b[j][0] = bf16_pair<BKS>(q);
    b[j][1] = bf16_pair<BKS>(q + 8 * BKS);
  }
#pragma unroll
  for (int i = 0; i < MT; i++)
#pragma unroll
    for (int j = 0; j < NT; j++) mma_bf16_16x8x16(acc[i][j], a[i], b[j]);
}

}  // namespace cuda
}  // namespace tf
