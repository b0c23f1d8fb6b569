#pragma once
#include <cuda_runtime.h>
#include "runtime.h"
namespace tf { namespace cuda {
inline bool has_tensor_cores() { return true; }
struct WarpX { std::barrier<>* bar; uint32_t a[32][4], b[32][2]; float c[32][4]; };
extern WarpX* g_warps;
inline uint32_t to_tf32(float x) {  // round to nearest, ties away, 10-bit mantissa
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return u;
  u += 0x1000u;
  return u & 0xffffe000u;
}
inline uint16_t bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline uint32_t pack_bf16(float lo, float hi) { return uint32_t(bf16_bits(lo)) | (uint32_t(bf16_bits(hi)) << 16); }
inline float bf16f(uint32_t w, int half) { return __uint_as_float(((w >> (16 * half)) & 0xffffu) << 16); }
inline void mma_emu(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool bf) {
  const int tid = threadIdx.x, lane = tid % 32;
  WarpX& X = g_warps[tid / 32];
  for (int i = 0; i < 4; i++) X.a[lane][i] = a[i], X.c[lane][i] = d[i];
  X.b[lane][0] = b[0], X.b[lane][1] = b[1];
  X.bar->arrive_and_wait();
  auto A = [&](int r, int k) -> float {
    if (!bf) { int reg = (r < 8 ? 0 : 1) + (k < 4 ? 0 : 2); return __uint_as_float(X.a[(r % 8) * 4 + k % 4][reg]); }
    int reg = (r < 8 ? 0 : 1) + (k < 8 ? 0 : 2), kk = k % 8; return bf16f(X.a[(r % 8) * 4 + kk / 2][reg], kk % 2);
  };
  auto B = [&](int k, int n) -> float {
    if (!bf) return __uint_as_float(X.b[n * 4 + k % 4][k < 4 ? 0 : 1]);
    int kk = k % 8; return bf16f(X.b[n * 4 + kk / 2][k < 8 ? 0 : 1], kk % 2);
  };
  const int g = lane / 4, t = lane % 4, K = bf ? 16 : 8;
  float out[4];
  for (int e = 0; e < 4; e++) {
    int r = g + (e >= 2 ? 8 : 0), n = 2 * t + (e & 1);
    double s = X.c[lane][e];
    for (int k = 0; k < K; k++) s += double(A(r, k)) * B(k, n);
    out[e] = float(s);
  }
  X.bar->arrive_and_wait();
  for (int e = 0; e < 4; e++) d[e] = out[e];
}
inline void mma_tf32_16x8x8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) { mma_emu(d, a, b, false); }
inline void mma_bf16_16x8x16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) { mma_emu(d, a, b, true); }
}}
