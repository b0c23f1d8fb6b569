// Fused scaled dot-product attention on CUDA: the same four kernels as native/cpu/attention.cpp
// (same names, views, attrs, argument checks via native/ops/attention.cpp, and the same numerics
// at the edges: masked scores are -inf, a row that may attend nothing outputs 0 with lse = +inf,
// NaN scores are skipped by the running max but still reach the sums).
//
//   attention[Masked]          q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (, mask [..., Tq, Tk])
//                              -> out [..., Tq, Dv], lse [..., Tq]
//   attentionBackward[Masked]  q, k, v (, mask), out, lse, dOut -> dq, dk, dv
//
// Scores are (q·scale)·k, causal is top-left aligned (query i sees keys j <= i), the mask is bool
// (false = may not attend) or float (added). Inputs may have any strides (stride 0 where the
// leading dims were broadcast); outputs are contiguous.
//
// Kernels, by head size (Dmax = max(D, Dv)):
// - Dmax <= 128, float32 arithmetic (precision 'highest' and 'high'): flash-attention tiles.
//   Forward: a block of 128 threads owns 64 queries of one batch entry and walks 64-key tiles
//   in shared memory, online softmax in registers, O in registers (4 rows x Dmax/8 columns a
//   thread), the score tile never leaves the SM; causal key tiles past the diagonal are skipped.
//   Backward: Di = rowsum(dO ∘ O) first (one warp a row); then one kernel where a block owns a
//   key tile and loops over the query tiles, accumulating dK and dV in registers (at Dmax 128,
//   two launches, dV then dK, since both accumulators do not fit the registers), and one where
//   a block owns a query tile and loops over the key tiles for dQ (deterministic, no atomics).
//   P is recomputed from Q, K and the saved lse.
// - precision 'medium' (BF16 tensor cores) with D, Dv <= 128 on sm_80+: the forward runs
//   mma.sync m16n8k16 tiles (eight warps, 16 queries each); the backward uses the float32 tiles.
// - anything else (Dmax > 128, or a tile that does not fit the device's shared memory): one warp
//   per query row (forward, dQ) or key row (dK, dV), accumulating in the output rows in global
//   memory: slow, but correct for every size.
// 'high' (TF32) uses the float32 kernels: attention is bound by the exp and the softmax
// bookkeeping as much as by the products at these tile sizes, and true float32 is never less
// accurate than asked for.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common.cuh"
#include "mma.cuh"
#include "ops/attention.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kLead = kMaxDims - 2;

// Leading (batch) dims shared by every view; each operand has its own strides for them.
struct Lead {
  int n;
  int64_t shape[kLead];
};

// One operand: batch entry b's matrix starts at p + offset(b); element (i, j) at i*rs + j*cs.
struct Mat {
  const void* p;
  int64_t rs, cs;
  int64_t ls[kLead];
};

struct Params {
  int64_t batch, Tq, Tk, D, Dv;
  float scale;
  int causal;
  int mask_kind;  // 0 none, 1 bool, 2 float
  Lead lead;
  Mat q, k, v, mask, o, lse_in, dout;  // o, lse_in, dout: backward inputs
  float *out, *lse;                    // forward outputs (contiguous)
  float *dq, *dk, *dv;                 // backward outputs (contiguous)
  float* di;                           // backward scratch: rowsum(dO ∘ O), [batch, Tq]
};

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

__device__ __forceinline__ int64_t batch_offset(const Lead& L, const Mat& m, int64_t b) {
  int64_t off = 0;
  for (int d = L.n - 1; d >= 0; d--) {
    const int64_t q = b / L.shape[d];
    off += (b - q * L.shape[d]) * m.ls[d];
    b = q;
  }
  return off;
}
__device__ __forceinline__ const float* fptr(const Params& p, const Mat& m, int64_t b) {
  return static_cast<const float*>(m.p) + batch_offset(p.lead, m, b);
}

// The score after masking, as the CPU's mask_scores: causal and false bool entries become
// -inf, a float mask is added. mrow points at the mask row of query qi (unused without a mask).
__device__ __forceinline__ float mask_score(const Params& p, float s, int64_t qi, int64_t kj, const void* mrow) {
  if (p.causal && kj > qi) return -INFINITY;
  if (p.mask_kind == 0) return s;
  if (p.mask_kind == 1) return static_cast<const uint8_t*>(mrow)[kj * p.mask.cs] ? s : -INFINITY;
  if (p.mask_kind == 2) return s + static_cast<const float*>(mrow)[kj * p.mask.cs];
  return s;
}
// The tiled kernels are compiled with and without mask support (kMasked), so the unmasked
// ones carry none of the per-score mask loads.
template <bool kMasked>
__device__ __forceinline__ float mask_score_t(const Params& p, float s, int64_t qi, int64_t kj, const void* mrow) {
  if (!kMasked) return p.causal && kj > qi ? -INFINITY : s;
  return mask_score(p, s, qi, kj, mrow);
}
__device__ __forceinline__ const void* mask_row(const Params& p, int64_t b, int64_t qi) {
  if (p.mask_kind == 0) return nullptr;
  const int64_t off = batch_offset(p.lead, p.mask, b) + qi * p.mask.rs;
  return p.mask_kind == 1 ? static_cast<const void*>(static_cast<const uint8_t*>(p.mask.p) + off)
                          : static_cast<const void*>(static_cast<const float*>(p.mask.p) + off);
}

// ---------------------------------------------------------------------------------------------
// Generic kernels: one warp per row, any D and Dv. The accumulators live in the (contiguous)
// output rows, which only this warp writes, each element by one lane.

__global__ void fwd_generic(Params p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.Tq;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps) {
    const int64_t b = row / p.Tq, qi = row % p.Tq;
    const float* q = fptr(p, p.q, b) + qi * p.q.rs;
    const float* k = fptr(p, p.k, b);
    const float* v = fptr(p, p.v, b);
    const void* mrow = mask_row(p, b, qi);
    float* out = p.out + row * p.Dv;
    for (int64_t e = lane; e < p.Dv; e += kWarp) out[e] = 0.f;
    const int64_t key_end = p.causal ? min64(p.Tk, qi + 1) : p.Tk;
    float m = -INFINITY, l = 0.f;
    for (int64_t j = 0; j < key_end; j++) {
      const float* kr = k + j * p.k.rs;
      float s = 0.f;
      for (int64_t d = lane; d < p.D; d += kWarp) s += (q[d * p.q.cs] * p.scale) * kr[d * p.k.cs];
      s = mask_score(p, warp_sum(s), qi, j, mrow);
      const float mn = fmaxf(m, s);  // NaN is skipped, as the CPU's x > mx ? x : mx
      const float sh = mn == -INFINITY ? 0.f : mn;
      const float alpha = __expf(m - sh), pj = __expf(s - sh);
      l = l * alpha + pj;
      m = mn;
      const float* vr = v + j * p.v.rs;
      for (int64_t e = lane; e < p.Dv; e += kWarp) out[e] = out[e] * alpha + pj * vr[e * p.v.cs];
    }
    const bool none = l == 0.f || key_end == 0;
    const float inv = 1.f / l;
    for (int64_t e = lane; e < p.Dv; e += kWarp) out[e] = none ? 0.f : out[e] * inv;
    if (lane == 0) p.lse[row] = none ? INFINITY : m + logf(l);
  }
}

// Di = rowsum(dO ∘ O) per query row, in double as the CPU (a long sum).
__global__ void bwd_di(Params p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.Tq;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps) {
    const int64_t b = row / p.Tq, qi = row % p.Tq;
    const float* o = fptr(p, p.o, b) + qi * p.o.rs;
    const float* g = fptr(p, p.dout, b) + qi * p.dout.rs;
    double s = 0;
    for (int64_t e = lane; e < p.Dv; e += kWarp) s += static_cast<double>(g[e * p.dout.cs]) * o[e * p.o.cs];
    for (int off = kWarp / 2; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) p.di[row] = static_cast<float>(s);
  }
}

__device__ __forceinline__ float row_lse(const Params& p, int64_t b, int64_t qi) {
  return fptr(p, p.lse_in, b)[qi * p.lse_in.rs];
}

// dQ row qi: Σ_j dS_ij k_j · scale, dS = P ∘ (dP - Di), P = exp(s - lse), dP = dO·vᵀ.
__global__ void bwd_dq_generic(Params p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.Tq;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps) {
    const int64_t b = row / p.Tq, qi = row % p.Tq;
    const float* q = fptr(p, p.q, b) + qi * p.q.rs;
    const float* g = fptr(p, p.dout, b) + qi * p.dout.rs;
    const float* k = fptr(p, p.k, b);
    const float* v = fptr(p, p.v, b);
    const void* mrow = mask_row(p, b, qi);
    const float lse = row_lse(p, b, qi), di = p.di[row];
    float* dq = p.dq + row * p.D;
    for (int64_t d = lane; d < p.D; d += kWarp) dq[d] = 0.f;
    const int64_t key_end = p.causal ? min64(p.Tk, qi + 1) : p.Tk;
    for (int64_t j = 0; j < key_end; j++) {
      const float* kr = k + j * p.k.rs;
      const float* vr = v + j * p.v.rs;
      float s = 0.f, dp = 0.f;
      for (int64_t d = lane; d < p.D; d += kWarp) s += (q[d * p.q.cs] * p.scale) * kr[d * p.k.cs];
      for (int64_t e = lane; e < p.Dv; e += kWarp) dp += g[e * p.dout.cs] * vr[e * p.v.cs];
      s = mask_score(p, warp_sum(s), qi, j, mrow);
      const float pij = __expf(s - lse);
      const float ds = pij * (warp_sum(dp) - di);
      for (int64_t d = lane; d < p.D; d += kWarp) dq[d] += ds * kr[d * p.k.cs];
    }
    for (int64_t d = lane; d < p.D; d += kWarp) dq[d] *= p.scale;
  }
}

// dK, dV row kj: dV = Σ_i P_ij dO_i, dK = Σ_i dS_ij (q_i · scale).
__global__ void bwd_dkdv_generic(Params p) {
  const int lane = threadIdx.x % kWarp;
  const int64_t rows = p.batch * p.Tk;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps) {
    const int64_t b = row / p.Tk, kj = row % p.Tk;
    const float* kr = fptr(p, p.k, b) + kj * p.k.rs;
    const float* vr = fptr(p, p.v, b) + kj * p.v.rs;
    const float* q = fptr(p, p.q, b);
    const float* g = fptr(p, p.dout, b);
    float* dk = p.dk + row * p.D;
    float* dv = p.dv + row * p.Dv;
    for (int64_t d = lane; d < p.D; d += kWarp) dk[d] = 0.f;
    for (int64_t e = lane; e < p.Dv; e += kWarp) dv[e] = 0.f;
    for (int64_t qi = p.causal ? kj : 0; qi < p.Tq; qi++) {
      const float* qr = q + qi * p.q.rs;
      const float* gr = g + qi * p.dout.rs;
      float s = 0.f, dp = 0.f;
      for (int64_t d = lane; d < p.D; d += kWarp) s += (qr[d * p.q.cs] * p.scale) * kr[d * p.k.cs];
      for (int64_t e = lane; e < p.Dv; e += kWarp) dp += gr[e * p.dout.cs] * vr[e * p.v.cs];
      s = mask_score(p, warp_sum(s), qi, kj, mask_row(p, b, qi));
      const float pij = __expf(s - row_lse(p, b, qi));
      const float ds = pij * (warp_sum(dp) - p.di[b * p.Tq + qi]);
      for (int64_t e = lane; e < p.Dv; e += kWarp) dv[e] += pij * gr[e * p.dout.cs];
      for (int64_t d = lane; d < p.D; d += kWarp) dk[d] += ds * (qr[d * p.q.cs] * p.scale);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tiled float32 kernels. 128 threads as a 16 x 8 grid (ty = tid / 8, tx = tid % 8; the 8
// threads of a row group are 8 consecutive lanes, so row reductions are 3 shuffles). A thread
// owns 4 rows r = 4·ty + i and the columns 32·j + 4·tx + u (u < 4) of its tiles: float4 reads
// from shared memory, 8 consecutive threads covering 32 consecutive floats (no bank conflicts).
// Operands whose rows a thread walks are stored transposed ([d][row]) so its 4 rows are one
// float4. Padding rows and columns are zero-filled, so they add nothing to the products.

constexpr int kThreads = 128;
constexpr int kTile = 64;            // queries and keys per tile
constexpr int kLdT = kTile + 4;      // leading dim of [d][row] tiles (float4-aligned rows)

template <int DP>
struct FwdSmem {
  static constexpr int kLdV = DP + 4;
  // Pt (the probabilities, [key][query]) reuses Kt's space: K is not read once S is computed
  static constexpr int kRows = DP > kTile ? DP : kTile;  // Kt's region also holds Pt's kTile rows
  static constexpr int qt = 0, kt = qt + DP * kLdT, vs = kt + kRows * kLdT, pt = kt;
  static constexpr int floats = vs + kTile * kLdV;
  static constexpr size_t bytes = floats * sizeof(float);
};

// dst[d·ld + r] = src(r, d)·mul for r < rows, d < cols; zeros elsewhere in [DP) x [kTile).
template <int DP>
__device__ __forceinline__ void load_t(float* dst, int ld, const float* src, int64_t rs, int64_t cs, int64_t rows,
                                       int64_t cols, float mul) {
  for (int idx = threadIdx.x; idx < kTile * DP; idx += kThreads) {
    const int r = idx / DP, d = idx % DP;
    dst[d * ld + r] = r < rows && d < cols ? src[r * rs + d * cs] * mul : 0.f;
  }
}
// dst[r·ld + d] = src(r, d) for r < rows, d < cols; zeros elsewhere in [kTile) x [DP).
template <int DP>
__device__ __forceinline__ void load_n(float* dst, int ld, const float* src, int64_t rs, int64_t cs, int64_t rows,
                                       int64_t cols, float mul) {
  for (int idx = threadIdx.x; idx < kTile * DP; idx += kThreads) {
    const int r = idx / DP, d = idx % DP;
    dst[r * ld + d] = r < rows && d < cols ? src[r * rs + d * cs] * mul : 0.f;
  }
}

__device__ __forceinline__ float4 ld4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float f4(const float4& v, int u) { return u == 0 ? v.x : u == 1 ? v.y : u == 2 ? v.z : v.w; }

// acc[i][4j+u] += Σ_k A[k][4ty+i] · B[k][32j+4tx+u] over k < K; A is [k][row] (lda), B [k][col] (ldb).
template <int NJ>
__device__ __forceinline__ void tile_mma(float (&acc)[4][4 * NJ], const float* A, int lda, const float* B, int ldb,
                                         int K, int ty, int tx) {
#pragma unroll 4
  for (int k = 0; k < K; k++) {
    const float4 a = ld4(A + k * lda + 4 * ty);
    float4 bv[NJ];
#pragma unroll
    for (int j = 0; j < NJ; j++) bv[j] = ld4(B + k * ldb + 32 * j + 4 * tx);
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int u = 0; u < 4; u++) acc[i][4 * j + u] = fmaf(f4(a, i), f4(bv[j], u), acc[i][4 * j + u]);
  }
}

__device__ __forceinline__ float group8_max(float v) {
  for (int o = 4; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float group8_sum(float v) {
  for (int o = 4; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <int DP, bool kMasked>
__global__ void __launch_bounds__(kThreads) fwd_tiled(Params p) {
  using S = FwdSmem<DP>;
  constexpr int NJ = DP / 32;
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  float *Qt = sm + S::qt, *Kt = sm + S::kt, *Vs = sm + S::vs, *Pt = sm + S::pt;
  const int tid = threadIdx.x, tx = tid % 8, ty = tid / 8;
  const int64_t nqb = (p.Tq + kTile - 1) / kTile, ntiles = nqb * p.batch;
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    // the longest causal rows first, so the short ones fill the tail of the grid
    const int64_t b = t % p.batch, q0 = (nqb - 1 - t / p.batch) * kTile, nq = min64(kTile, p.Tq - q0);
    const float* kb = fptr(p, p.k, b);
    const float* vb = fptr(p, p.v, b);
    __syncthreads();  // the previous tile's reads of Qt are done
    load_t<DP>(Qt, kLdT, fptr(p, p.q, b) + q0 * p.q.rs, p.q.rs, p.q.cs, nq, p.D, p.scale);
    float m[4], l[4], acc[4][4 * NJ];
#pragma unroll
    for (int i = 0; i < 4; i++) {
      m[i] = -INFINITY, l[i] = 0.f;
#pragma unroll
      for (int e = 0; e < 4 * NJ; e++) acc[i][e] = 0.f;
    }
    const void* mrow[4];
#pragma unroll
    for (int i = 0; i < 4; i++) mrow[i] = 4 * ty + i < nq && kMasked ? mask_row(p, b, q0 + 4 * ty + i) : nullptr;
    const int64_t key_end = p.causal ? min64(p.Tk, q0 + nq) : p.Tk;
    for (int64_t k0 = 0; k0 < key_end; k0 += kTile) {
      const int64_t nk = min64(kTile, key_end - k0);
      __syncthreads();  // the previous key tile's reads of Kt, Vs and Pt are done
      load_t<DP>(Kt, kLdT, kb + k0 * p.k.rs, p.k.rs, p.k.cs, nk, p.D, 1.f);
      load_n<DP>(Vs, S::kLdV, vb + k0 * p.v.rs, p.v.rs, p.v.cs, nk, p.Dv, 1.f);
      __syncthreads();
      float s[4][8];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int c = 0; c < 8; c++) s[i][c] = 0.f;
      tile_mma<2>(s, Qt, kLdT, Kt, kLdT, static_cast<int>(p.D), ty, tx);
      __syncthreads();  // every thread is done with Kt before Pt overwrites it
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int r = 4 * ty + i;
        const int64_t qi = q0 + r;
        float mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < 8; c++) {
          const int kc = 32 * (c / 4) + 4 * tx + c % 4;
          float x = s[i][c];
          if (kc >= nk)
            x = -INFINITY;
          else if (r < nq)
            x = mask_score_t<kMasked>(p, x, qi, k0 + kc, mrow[i]);
          s[i][c] = x;
          mx = fmaxf(mx, x);
        }
        const float mn = fmaxf(m[i], group8_max(mx));
        const float sh = mn == -INFINITY ? 0.f : mn;
        const float alpha = __expf(m[i] - sh);
        float sum = 0.f;
#pragma unroll
        for (int c = 0; c < 8; c++) {
          const float pc = __expf(s[i][c] - sh);
          sum += pc;
          Pt[(32 * (c / 4) + 4 * tx + c % 4) * kLdT + r] = pc;
        }
        l[i] = l[i] * alpha + group8_sum(sum);
        m[i] = mn;
#pragma unroll
        for (int e = 0; e < 4 * NJ; e++) acc[i][e] *= alpha;
      }
      __syncthreads();
      tile_mma<NJ>(acc, Pt, kLdT, Vs, S::kLdV, static_cast<int>(nk), ty, tx);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int r = 4 * ty + i;
      if (r >= nq) continue;
      const int64_t row = b * p.Tq + q0 + r;
      const bool none = l[i] == 0.f || key_end == 0;
      const float inv = 1.f / l[i];
#pragma unroll
      for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int u = 0; u < 4; u++) {
          const int e = 32 * j + 4 * tx + u;
          if (e < p.Dv) p.out[row * p.Dv + e] = none ? 0.f : acc[i][4 * j + u] * inv;
        }
      if (tx == 0) p.lse[row] = none ? INFINITY : m[i] + logf(l[i]);
    }
  }
}

// Backward, key-tile owner: dV = Σ Pᵀ dO, dK = Σ dSᵀ (Q·scale) for 64 keys, over query tiles.
// Everything transposed relative to the forward: the thread's rows are keys. Shared memory:
// Kt [d][key], Vt [e][key] (fixed), and per query tile Qt [d][query] and dOt [e][query] for the
// score products, Qn [query][d] and dOn [query][e] for the gradient products, Pn and dSn
// [query][key] written by the thread that computed them.
template <int DP>
struct DkvSmem {
  static constexpr int kLdN = DP + 4;
  // Pn and dSn reuse the space of Qt and dOt, which are not read once S and dP are computed
  static constexpr int kRows = DP > kTile ? DP : kTile;  // Qt's and dOt's regions also hold Pn and dSn
  static constexpr int kt = 0, vt = kt + DP * kLdT, qt = vt + DP * kLdT, ot = qt + kRows * kLdT,
                       qn = ot + kRows * kLdT, on = qn + kTile * kLdN, pn = qt, dsn = ot, lse = on + kTile * kLdN,
                       di = lse + kTile;
  static constexpr int floats = di + kTile;
  static constexpr size_t bytes = floats * sizeof(float);
};

// kPart: 0 computes dK and dV; at DP = 128 their accumulators do not fit the registers
// together, so dV (1) and dK (2) are computed by two launches, each recomputing P.
template <int DP, bool kMasked, int kPart>
__global__ void __launch_bounds__(kThreads) bwd_dkdv_tiled(Params p) {
  constexpr bool kDk = kPart != 1, kDv = kPart != 2;
  using S = DkvSmem<DP>;
  constexpr int NJ = DP / 32;
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  float *Kt = sm + S::kt, *Vt = sm + S::vt, *Qt = sm + S::qt, *Ot = sm + S::ot, *Qn = sm + S::qn, *On = sm + S::on,
        *Pn = sm + S::pn, *dSn = sm + S::dsn, *Ls = sm + S::lse, *Ds = sm + S::di;
  const int tid = threadIdx.x, tx = tid % 8, ty = tid / 8;
  const int64_t nkb = (p.Tk + kTile - 1) / kTile, ntiles = nkb * p.batch;
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    // causal: the first key tiles see the most queries; start those first
    const int64_t b = t % p.batch, k0 = (t / p.batch) * kTile, nk = min64(kTile, p.Tk - k0);
    const float* qb = fptr(p, p.q, b);
    const float* gb = fptr(p, p.dout, b);
    __syncthreads();
    load_t<DP>(Kt, kLdT, fptr(p, p.k, b) + k0 * p.k.rs, p.k.rs, p.k.cs, nk, p.D, 1.f);
    load_t<DP>(Vt, kLdT, fptr(p, p.v, b) + k0 * p.v.rs, p.v.rs, p.v.cs, nk, p.Dv, 1.f);
    float dk[4][4 * NJ], dv[4][4 * NJ];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int e = 0; e < 4 * NJ; e++) dk[i][e] = 0.f, dv[i][e] = 0.f;
    // causal: queries before k0 see none of these keys
    for (int64_t q0 = p.causal ? k0 / kTile * kTile : 0; q0 < p.Tq; q0 += kTile) {
      const int64_t nq = min64(kTile, p.Tq - q0);
      __syncthreads();  // the previous query tile's reads are done
      const float* qr = qb + q0 * p.q.rs;
      const float* gr = gb + q0 * p.dout.rs;
      load_t<DP>(Qt, kLdT, qr, p.q.rs, p.q.cs, nq, p.D, p.scale);
      load_t<DP>(Ot, kLdT, gr, p.dout.rs, p.dout.cs, nq, p.Dv, 1.f);
      load_n<DP>(Qn, S::kLdN, qr, p.q.rs, p.q.cs, nq, p.D, p.scale);
      load_n<DP>(On, S::kLdN, gr, p.dout.rs, p.dout.cs, nq, p.Dv, 1.f);
      if (tid < kTile) {
        Ls[tid] = tid < nq ? row_lse(p, b, q0 + tid) : INFINITY;
        Ds[tid] = tid < nq ? p.di[b * p.Tq + q0 + tid] : 0.f;
      }
      __syncthreads();
      // Sᵀ[key][query] and dPᵀ[key][query]
      float s[4][8], dp[4][8];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int c = 0; c < 8; c++) s[i][c] = 0.f, dp[i][c] = 0.f;
      tile_mma<2>(s, Kt, kLdT, Qt, kLdT, static_cast<int>(p.D), ty, tx);
      if constexpr (kDk) tile_mma<2>(dp, Vt, kLdT, Ot, kLdT, static_cast<int>(p.Dv), ty, tx);
      __syncthreads();  // Pn and dSn overwrite Qt and dOt
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int r = 4 * ty + i;  // key
#pragma unroll
        for (int c = 0; c < 8; c++) {
          const int qc = 32 * (c / 4) + 4 * tx + c % 4;  // query
          float pv = 0.f, ds = 0.f;
          // padding keys and queries, and causal entries, get exactly 0 (the CPU zeroes dS there)
          if (r < nk && qc < nq && !(p.causal && k0 + r > q0 + qc)) {
            const float x = mask_score_t<kMasked>(p, s[i][c], q0 + qc, k0 + r, kMasked ? mask_row(p, b, q0 + qc) : nullptr);
            pv = __expf(x - Ls[qc]);
            if constexpr (kDk) ds = pv * (dp[i][c] - Ds[qc]);
          }
          if constexpr (kDv) Pn[qc * kLdT + r] = pv;
          if constexpr (kDk) dSn[qc * kLdT + r] = ds;
        }
      }
      __syncthreads();
      // dV[key][e] += Σ_q P[q][key] dO[q][e]; dK[key][d] += Σ_q dS[q][key] (Q·scale)[q][d]
      if constexpr (kDv) tile_mma<NJ>(dv, Pn, kLdT, On, S::kLdN, static_cast<int>(nq), ty, tx);
      if constexpr (kDk) tile_mma<NJ>(dk, dSn, kLdT, Qn, S::kLdN, static_cast<int>(nq), ty, tx);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int r = 4 * ty + i;
      if (r >= nk) continue;
      const int64_t row = b * p.Tk + k0 + r;
#pragma unroll
      for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int u = 0; u < 4; u++) {
          const int e = 32 * j + 4 * tx + u;
          if (kDk && e < p.D) p.dk[row * p.D + e] = dk[i][4 * j + u];
          if (kDv && e < p.Dv) p.dv[row * p.Dv + e] = dv[i][4 * j + u];
        }
    }
  }
}

// Backward, query-tile owner: dQ = Σ dS K · scale for 64 queries, over key tiles.
template <int DP>
struct DqSmem {
  static constexpr int kLdN = DP + 4;
  static constexpr int kRows = DP > kTile ? DP : kTile;  // Kt's region also holds dSt
  static constexpr int qt = 0, ot = qt + DP * kLdT, kt = ot + DP * kLdT, vt = kt + kRows * kLdT, kn = vt + DP * kLdT,
                       dst = kt;  // dSt reuses Kt's space: Kᵀ is not read once S is computed
  static constexpr int floats = kn + kTile * kLdN;
  static constexpr size_t bytes = floats * sizeof(float);
};

template <int DP, bool kMasked>
__global__ void __launch_bounds__(kThreads) bwd_dq_tiled(Params p) {
  using S = DqSmem<DP>;
  constexpr int NJ = DP / 32;
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  float *Qt = sm + S::qt, *Ot = sm + S::ot, *Kt = sm + S::kt, *Vt = sm + S::vt, *Kn = sm + S::kn, *dSt = sm + S::dst;
  const int tid = threadIdx.x, tx = tid % 8, ty = tid / 8;
  const int64_t nqb = (p.Tq + kTile - 1) / kTile, ntiles = nqb * p.batch;
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    const int64_t b = t % p.batch, q0 = (nqb - 1 - t / p.batch) * kTile, nq = min64(kTile, p.Tq - q0);
    const float* kb = fptr(p, p.k, b);
    const float* vb = fptr(p, p.v, b);
    __syncthreads();
    load_t<DP>(Qt, kLdT, fptr(p, p.q, b) + q0 * p.q.rs, p.q.rs, p.q.cs, nq, p.D, p.scale);
    load_t<DP>(Ot, kLdT, fptr(p, p.dout, b) + q0 * p.dout.rs, p.dout.rs, p.dout.cs, nq, p.Dv, 1.f);
    float lse[4], di[4];
    const void* mrow[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int r = 4 * ty + i;
      lse[i] = r < nq ? row_lse(p, b, q0 + r) : INFINITY;
      di[i] = r < nq ? p.di[b * p.Tq + q0 + r] : 0.f;
      mrow[i] = r < nq && kMasked ? mask_row(p, b, q0 + r) : nullptr;
    }
    float dq[4][4 * NJ];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int e = 0; e < 4 * NJ; e++) dq[i][e] = 0.f;
    const int64_t key_end = p.causal ? min64(p.Tk, q0 + nq) : p.Tk;
    for (int64_t k0 = 0; k0 < key_end; k0 += kTile) {
      const int64_t nk = min64(kTile, key_end - k0);
      __syncthreads();
      load_t<DP>(Kt, kLdT, kb + k0 * p.k.rs, p.k.rs, p.k.cs, nk, p.D, 1.f);
      load_t<DP>(Vt, kLdT, vb + k0 * p.v.rs, p.v.rs, p.v.cs, nk, p.Dv, 1.f);
      load_n<DP>(Kn, S::kLdN, kb + k0 * p.k.rs, p.k.rs, p.k.cs, nk, p.D, 1.f);
      __syncthreads();
      float s[4][8], dp[4][8];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int c = 0; c < 8; c++) s[i][c] = 0.f, dp[i][c] = 0.f;
      tile_mma<2>(s, Qt, kLdT, Kt, kLdT, static_cast<int>(p.D), ty, tx);
      tile_mma<2>(dp, Ot, kLdT, Vt, kLdT, static_cast<int>(p.Dv), ty, tx);
      __syncthreads();  // dSt overwrites Kt
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int r = 4 * ty + i;  // query
#pragma unroll
        for (int c = 0; c < 8; c++) {
          const int kc = 32 * (c / 4) + 4 * tx + c % 4;  // key
          float ds = 0.f;
          if (r < nq && kc < nk && !(p.causal && k0 + kc > q0 + r)) {
            const float x = mask_score_t<kMasked>(p, s[i][c], q0 + r, k0 + kc, mrow[i]);
            ds = __expf(x - lse[i]) * (dp[i][c] - di[i]);
          }
          dSt[kc * kLdT + r] = ds;
        }
      }
      __syncthreads();
      tile_mma<NJ>(dq, dSt, kLdT, Kn, S::kLdN, static_cast<int>(nk), ty, tx);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int r = 4 * ty + i;
      if (r >= nq) continue;
      const int64_t row = b * p.Tq + q0 + r;
#pragma unroll
      for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int u = 0; u < 4; u++) {
          const int e = 32 * j + 4 * tx + u;
          if (e < p.D) p.dq[row * p.D + e] = dq[i][4 * j + u] * p.scale;
        }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BF16 tensor-core forward (precision 'medium', sm_80+): mma.sync m16n8k16, eight warps, each
// owning 16 of the block's 128 queries (rows g and g + 8 of its fragments, g = lane / 4). Q·scale
// stays in A fragments for the whole tile; K (row-major) and Vᵀ go to shared memory as bf16
// pairs, one 32-bit word per fragment register, rows padded by 4 words so the eight groups of a
// fragment load hit distinct banks. The score accumulators become P's A fragments directly (the
// C layout of two n-tiles is the A layout of one k-step). Softmax statistics stay float32.

constexpr int kBfThreads = 256, kBfRows = 128;  // 8 warps x 16 queries: K and V are read once per 128 queries

template <int DP>
struct Bf16Smem {
  static constexpr int kLdK = DP / 2 + 4;     // words per key row of K
  static constexpr int kLdV = kTile / 2 + 4;  // words per e row of Vᵀ
};

__device__ __forceinline__ float ld_or0(const float* base, int64_t r, int64_t c, int64_t rs, int64_t cs, int64_t rows,
                                        int64_t cols) {
  return r < rows && c < cols ? base[r * rs + c * cs] : 0.f;
}

template <int DP, bool kMasked>
__global__ void __launch_bounds__(kBfThreads) fwd_bf16_kernel(Params p) {
  using S = Bf16Smem<DP>;
  constexpr int KS = DP / 16, NT = DP / 8;
  __shared__ uint32_t Ks[kTile * S::kLdK];
  __shared__ uint32_t Vts[DP * S::kLdV];
  const int tid = threadIdx.x, warp = tid / kWarp, lane = tid % kWarp, g = lane / 4, tq = lane % 4;
  const int64_t nqb = (p.Tq + kBfRows - 1) / kBfRows, ntiles = nqb * p.batch;
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    const int64_t b = t % p.batch, q0 = (nqb - 1 - t / p.batch) * kBfRows, nq = min64(kBfRows, p.Tq - q0);
    const float* qb = fptr(p, p.q, b) + q0 * p.q.rs;
    const float* kb = fptr(p, p.k, b);
    const float* vb = fptr(p, p.v, b);
    const int r0 = 16 * warp + g;  // this thread's rows: r0 and r0 + 8
    uint32_t qa[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ks++)
#pragma unroll
      for (int f = 0; f < 4; f++) {
        const int r = r0 + 8 * (f & 1), d = 16 * ks + 2 * tq + 8 * (f >> 1);
        qa[ks][f] = pack_bf16(ld_or0(qb, r, d, p.q.rs, p.q.cs, nq, p.D) * p.scale,
                              ld_or0(qb, r, d + 1, p.q.rs, p.q.cs, nq, p.D) * p.scale);
      }
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, o[NT][4];
#pragma unroll
    for (int n = 0; n < NT; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    const void* mrow[2];
#pragma unroll
    for (int h = 0; h < 2; h++) mrow[h] = r0 + 8 * h < nq && kMasked ? mask_row(p, b, q0 + r0 + 8 * h) : nullptr;
    const int64_t key_end = p.causal ? min64(p.Tk, q0 + nq) : p.Tk;
    for (int64_t k0 = 0; k0 < key_end; k0 += kTile) {
      const int64_t nk = min64(kTile, key_end - k0);
      const float* kt = kb + k0 * p.k.rs;
      const float* vt = vb + k0 * p.v.rs;
      __syncthreads();  // the previous key tile's fragment loads are done
      for (int idx = tid; idx < kTile * (DP / 2); idx += kBfThreads) {
        const int key = idx / (DP / 2), dp = idx % (DP / 2);
        Ks[key * S::kLdK + dp] = pack_bf16(ld_or0(kt, key, 2 * dp, p.k.rs, p.k.cs, nk, p.D),
                                           ld_or0(kt, key, 2 * dp + 1, p.k.rs, p.k.cs, nk, p.D));
      }
      // 32 threads cover 8 consecutive e (one 32-byte sector of each V row) x 4 key pairs, and
      // write banks 4·e + pair: all distinct
      for (int idx = tid; idx < DP * (kTile / 2); idx += kBfThreads) {
        const int chunk = idx / kWarp, ln = idx % kWarp;
        const int e = (chunk % (DP / 8)) * 8 + ln % 8, kp = (chunk / (DP / 8)) * 4 + ln / 8;
        Vts[e * S::kLdV + kp] = pack_bf16(ld_or0(vt, 2 * kp, e, p.v.rs, p.v.cs, nk, p.Dv),
                                          ld_or0(vt, 2 * kp + 1, e, p.v.rs, p.v.cs, nk, p.Dv));
      }
      __syncthreads();
      float s[8][4];
#pragma unroll
      for (int n = 0; n < 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < KS; ks++)
#pragma unroll
        for (int n = 0; n < 8; n++) {
          const uint32_t* kr = Ks + (8 * n + g) * S::kLdK + 8 * ks + tq;
          const uint32_t bfr[2] = {kr[0], kr[4]};
          mma_bf16_16x8x16(s[n], qa[ks], bfr);
        }
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int r = r0 + 8 * h;
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
          for (int u = 0; u < 2; u++) {
            const int kc = 8 * n + 2 * tq + u;
            float x = s[n][2 * h + u];
            if (kc >= nk)
              x = -INFINITY;
            else if (r < nq)
              x = mask_score_t<kMasked>(p, x, q0 + r, k0 + kc, mrow[h]);
            s[n][2 * h + u] = x;
            mx = fmaxf(mx, x);
          }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mn = fmaxf(m[h], mx);
        const float sh = mn == -INFINITY ? 0.f : mn;
        const float alpha = __expf(m[h] - sh);
        float sum = 0.f;
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
          for (int u = 0; u < 2; u++) {
            const float pv = __expf(s[n][2 * h + u] - sh);
            s[n][2 * h + u] = pv;
            sum += pv;
          }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        l[h] = l[h] * alpha + sum;
        m[h] = mn;
#pragma unroll
        for (int n = 0; n < NT; n++) o[n][2 * h] *= alpha, o[n][2 * h + 1] *= alpha;
      }
#pragma unroll
      for (int kk = 0; kk < kTile / 16; kk++) {
        const uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                                pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int n = 0; n < NT; n++) {
          const uint32_t* vr = Vts + (8 * n + g) * S::kLdV + 8 * kk + tq;
          const uint32_t bfr[2] = {vr[0], vr[4]};
          mma_bf16_16x8x16(o[n], pa, bfr);
        }
      }
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int r = r0 + 8 * h;
      if (r >= nq) continue;
      const int64_t row = b * p.Tq + q0 + r;
      const bool none = l[h] == 0.f || key_end == 0;
      const float inv = 1.f / l[h];
#pragma unroll
      for (int n = 0; n < NT; n++)
#pragma unroll
        for (int u = 0; u < 2; u++) {
          const int e = 8 * n + 2 * tq + u;
          if (e < p.Dv) p.out[row * p.Dv + e] = none ? 0.f : o[n][2 * h + u] * inv;
        }
      if (tq == 0) p.lse[row] = none ? INFINITY : m[h] + logf(l[h]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side.

Mat mat_of(const View& v, int nlead) {
  Mat m{};
  m.p = v.data;
  m.rs = v.ndim > nlead ? v.strides[nlead] : 0;
  m.cs = v.ndim > nlead + 1 ? v.strides[nlead + 1] : 0;
  for (int d = 0; d < nlead; d++) m.ls[d] = v.strides[d];
  return m;
}

Params params_of(const std::vector<View>& views, const AttentionArgs& a) {
  Params p{};
  p.batch = a.batch, p.Tq = a.Tq, p.Tk = a.Tk, p.D = a.D, p.Dv = a.Dv;
  p.scale = a.scale;
  p.causal = a.causal ? 1 : 0;
  p.mask_kind = a.mask_kind == AttnMaskKind::None ? 0 : a.mask_kind == AttnMaskKind::Bool ? 1 : 2;
  p.lead.n = a.nlead;
  for (int d = 0; d < a.nlead; d++) p.lead.shape[d] = views[0].shape[d];
  p.q = mat_of(views[0], a.nlead);
  p.k = mat_of(views[1], a.nlead);
  p.v = mat_of(views[2], a.nlead);
  if (a.mask != SIZE_MAX) p.mask = mat_of(views[a.mask], a.nlead);
  return p;
}

// Blocks for a grid-stride loop over `tiles` tiles of `per_sm` resident blocks an SM.
unsigned tile_grid(int64_t tiles) {
  const int64_t cap = INT32_MAX;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(tiles, cap)));
}

unsigned warp_grid(int64_t rows, int threads) { return grid_for(rows * kWarp, threads); }

// The tile size for a head size, 0 when the tiled kernels do not apply.
int padded_dim(int64_t dmax) {
  if (dmax <= 32) return 32;
  if (dmax <= 64) return 64;
  if (dmax <= 128) return 128;
  return 0;
}

// Opts a kernel into more than 48 KiB of dynamic shared memory; false when the device has less.
template <typename K>
bool smem_fits(K kernel, size_t bytes, const char* op) {
  if (bytes > static_cast<size_t>(device_props().sharedMemPerBlockOptin)) return false;
  if (bytes > 48 * 1024)
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), op);
  return true;
}

template <int DP, bool kMasked>
bool launch_fwd_tiled(const Params& p, const char* op) {
  if (!smem_fits(fwd_tiled<DP, kMasked>, FwdSmem<DP>::bytes, op)) return false;
  const int64_t tiles = (p.Tq + kTile - 1) / kTile * p.batch;
  fwd_tiled<DP, kMasked><<<tile_grid(tiles), kThreads, FwdSmem<DP>::bytes, stream()>>>(p);
  check_launch(op);
  return true;
}
template <int DP>
bool launch_fwd_tiled(const Params& p, const char* op) {
  return p.mask_kind ? launch_fwd_tiled<DP, true>(p, op) : launch_fwd_tiled<DP, false>(p, op);
}

template <int DP, bool kMasked, int kPart>
bool launch_dkdv(const Params& p, const char* op, bool run) {
  if (!run) return smem_fits(bwd_dkdv_tiled<DP, kMasked, kPart>, DkvSmem<DP>::bytes, op);
  bwd_dkdv_tiled<DP, kMasked, kPart>
      <<<tile_grid((p.Tk + kTile - 1) / kTile * p.batch), kThreads, DkvSmem<DP>::bytes, stream()>>>(p);
  check_launch(op);
  return true;
}

template <int DP, bool kMasked>
bool launch_bwd_tiled(const Params& p, const char* op) {
  if constexpr (DP == 128) {
    if (!launch_dkdv<DP, kMasked, 1>(p, op, false) || !launch_dkdv<DP, kMasked, 2>(p, op, false) ||
        !smem_fits(bwd_dq_tiled<DP, kMasked>, DqSmem<DP>::bytes, op))
      return false;
    launch_dkdv<DP, kMasked, 1>(p, op, true);
    launch_dkdv<DP, kMasked, 2>(p, op, true);
  } else {
    if (!launch_dkdv<DP, kMasked, 0>(p, op, false) || !smem_fits(bwd_dq_tiled<DP, kMasked>, DqSmem<DP>::bytes, op))
      return false;
    launch_dkdv<DP, kMasked, 0>(p, op, true);
  }
  bwd_dq_tiled<DP, kMasked>
      <<<tile_grid((p.Tq + kTile - 1) / kTile * p.batch), kThreads, DqSmem<DP>::bytes, stream()>>>(p);
  check_launch(op);
  return true;
}
template <int DP>
bool launch_bwd_tiled(const Params& p, const char* op) {
  return p.mask_kind ? launch_bwd_tiled<DP, true>(p, op) : launch_bwd_tiled<DP, false>(p, op);
}

bool fwd_bf16(const Params& p, const char* op);

void forward_cuda(std::vector<View>& views, const Attrs& attrs, bool masked) {
  const AttentionArgs a = check_attention(views, attrs, masked, false);
  if (a.batch == 0 || a.Tq == 0) return;  // nothing to write
  Params p = params_of(views, a);
  p.out = views[a.out].ptr<float>();
  p.lse = views[a.lse].ptr<float>();
  const int dp = padded_dim(std::max(a.D, a.Dv));
  if (precision(attrs) == Precision::Medium && has_tensor_cores() && fwd_bf16(p, a.op)) return;
  bool done = false;
  if (dp == 32) done = launch_fwd_tiled<32>(p, a.op);
  if (dp == 64) done = launch_fwd_tiled<64>(p, a.op);
  if (dp == 128) done = launch_fwd_tiled<128>(p, a.op);
  if (done) return;
  fwd_generic<<<warp_grid(a.batch * a.Tq, 256), 256, 0, stream()>>>(p);
  check_launch(a.op);
}

void backward_cuda(std::vector<View>& views, const Attrs& attrs, bool masked) {
  const AttentionArgs a = check_attention(views, attrs, masked, true);
  Params p = params_of(views, a);
  p.o = mat_of(views[a.out], a.nlead);
  p.lse_in = mat_of(views[a.lse], a.nlead);
  p.dout = mat_of(views[a.dout], a.nlead);
  p.dq = views[a.dq].ptr<float>();
  p.dk = views[a.dk].ptr<float>();
  p.dv = views[a.dv].ptr<float>();
  if (a.batch == 0) return;
  if (a.Tq == 0 || a.Tk == 0) {  // no scores: every gradient is 0
    cudaStream_t s = stream();
    if (a.Tq * a.D > 0) check(cudaMemsetAsync(p.dq, 0, a.batch * a.Tq * a.D * sizeof(float), s), a.op);
    if (a.Tk * a.D > 0) check(cudaMemsetAsync(p.dk, 0, a.batch * a.Tk * a.D * sizeof(float), s), a.op);
    if (a.Tk * a.Dv > 0) check(cudaMemsetAsync(p.dv, 0, a.batch * a.Tk * a.Dv * sizeof(float), s), a.op);
    return;
  }
  Scratch di(static_cast<size_t>(a.batch * a.Tq) * sizeof(float));
  p.di = di.as<float>();
  bwd_di<<<warp_grid(a.batch * a.Tq, 256), 256, 0, stream()>>>(p);
  check_launch(a.op);
  const int dp = padded_dim(std::max(a.D, a.Dv));
  bool done = false;
  if (dp == 32) done = launch_bwd_tiled<32>(p, a.op);
  if (dp == 64) done = launch_bwd_tiled<64>(p, a.op);
  if (dp == 128) done = launch_bwd_tiled<128>(p, a.op);
  if (done) return;
  bwd_dkdv_generic<<<warp_grid(a.batch * a.Tk, 256), 256, 0, stream()>>>(p);
  check_launch(a.op);
  bwd_dq_generic<<<warp_grid(a.batch * a.Tq, 256), 256, 0, stream()>>>(p);
  check_launch(a.op);
}

template <int DP, bool kMasked>
void launch_bf16(const Params& p, const char* op) {
  fwd_bf16_kernel<DP, kMasked><<<tile_grid((p.Tq + kBfRows - 1) / kBfRows * p.batch), kBfThreads, 0, stream()>>>(p);
  check_launch(op);
}
template <int DP>
void launch_bf16(const Params& p, const char* op) {
  p.mask_kind ? launch_bf16<DP, true>(p, op) : launch_bf16<DP, false>(p, op);
}

// The BF16 forward for D, Dv <= 128; false when it does not apply (the caller then runs float32).
bool fwd_bf16(const Params& p, const char* op) {
  const int dp = padded_dim(std::max(p.D, p.Dv));
  if (dp == 32) launch_bf16<32>(p, op);
  if (dp == 64) launch_bf16<64>(p, op);
  if (dp == 128) launch_bf16<128>(p, op);
  return dp != 0;
}

TF_REGISTER_KERNEL("attention", 3, 2, false, [](std::vector<View>& v, const Attrs& a) { forward_cuda(v, a, false); });
TF_REGISTER_KERNEL("attentionMasked", 4, 2, false,
                   [](std::vector<View>& v, const Attrs& a) { forward_cuda(v, a, true); });
TF_REGISTER_KERNEL("attentionBackward", 6, 3, false,
                   [](std::vector<View>& v, const Attrs& a) { backward_cuda(v, a, false); });
TF_REGISTER_KERNEL("attentionBackwardMasked", 7, 3, false,
                   [](std::vector<View>& v, const Attrs& a) { backward_cuda(v, a, true); });

}  // namespace
}  // namespace cuda
}  // namespace tf
