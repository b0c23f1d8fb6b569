// Emulated cuda/mma.cuh (test tooling): the same functions, computed by the fragment layouts
// documented in cuda/mma.cuh; a warp's lanes exchange their fragments through the warp's slots.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "runtime.h"

namespace tf {
namespace cuda {

inline bool has_tensor_cores() { return device_props().major >= 8; }

// cvt.rna.tf32.f32: round to nearest, ties away from zero, to 10 mantissa bits.
inline uint32_t to_tf32(float x) {
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return u;  // inf / NaN unchanged
  return (u + 0x1000u) & 0xffffe000u;
}

inline uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return uint32_t(v.x.x) | (uint32_t(v.y.x) << 16);
}

void emu_mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool bf16);
inline void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) { emu_mma(d, a, b, false); }
inline void mma_bf16_16x8x16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) { emu_mma(d, a, b, true); }

// cp.async: the source is read at issue, the shared-memory bytes land only at the
// cp_async_wait that covers their group (or when the thread exits), so a missing wait shows.
inline void cp_async16(void* smem, const void* gmem, int src_bytes) { emu_cp_async(smem, gmem, src_bytes); }
inline void cp_async_commit() { emu_cp_async_commit(); }
template <int N>
inline void cp_async_wait() { emu_cp_async_wait(N); }

}  // namespace cuda
}  // namespace tf
