// The "matmul" op on CUDA: [..., M, K] · [..., K, N] -> contiguous [..., M, N], float32, with the
// CPU kernel's argument checks (native/ops/matmul.h). Batch dims arrive broadcast (stride 0).
//
// Each batch's A and B are read in place when their last two dims are row-major or transposed
// (one of the two strides is 1; any leading dimension, 0 included): the kernels are compiled for
// both layouts of each operand, so `a.T` and `b.T` views cost nothing. Other strides are first
// gathered into a contiguous scratch copy.
//
// Kernels, by tf.setMatmulPrecision (the "precision" attr):
//   highest  sgemm_kernel: FFMA, 128x128x8 block tile, 256 threads each computing 8x8, register
//            prefetch of the next k tile into double-buffered shared memory.
//   high     mma_gemm_kernel<BF16 = false>: TF32 mma.sync m16n8k8, 128x128x32 block tile, eight
//            warps of 64x32, a 3-stage cp.async pipeline (2 where shared memory is smaller).
//   medium   the same with BF16 mma.sync m16n8k16.
// Operands stay float32 in shared memory and are rounded to TF32 / BF16 as fragments are loaded;
// accumulation is float32 throughout. Without tensor cores (before sm_80) high and medium run
// the FFMA kernel, as PyTorch does. Small products use gemm_small_kernel (any strides).
//
// Vector paths (float4 loads, 16-byte cp.async) need 16-byte-aligned operands whose contiguous
// extent and leading dimensions are multiples of 4; otherwise the same kernels are instantiated
// with per-element bounds-checked loads (VEC = false).
#include <algorithm>
#include <atomic>
#include <memory>

#include "common.cuh"
#include "gemm.cuh"
#include "mma.cuh"
#include "ops/matmul.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

// Per-batch element offsets of A and B, from the batch index (row-major over the batch dims).
struct BatchDesc {
  int nb;
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims];

  __device__ __forceinline__ void offsets(int64_t z, int64_t& oa, int64_t& ob) const {
    oa = 0;
    ob = 0;
#pragma unroll
    for (int i = kMaxDims - 1; i >= 0; i--) {
      if (i < nb) {
        const int64_t q = z / shape[i], r = z - q * shape[i];
        oa += r * sa[i];
        ob += r * sb[i];
        z = q;
      }
    }
  }
};

// A's element (m, k) at A[m*lda + k] (row-major) or, when the kernel's AT is set, A[k*lda + m].
// B's element (k, n) at B[k*ldb + n], or with BT, B[n*ldb + k]. C is contiguous M x N per batch.
struct GemmParams {
  const float* A;
  const float* B;
  float* C;
  int64_t M, N, K, lda, ldb;
  int64_t tiles_m, tiles_n;
  int64_t z0;  // the batch of blockIdx.y == 0 (launches are split every 65535 batches)
  bool cvec;   // C rows allow aligned float4 (SIMT) / float2 (MMA) stores
  int stages;  // MMA pipeline depth (2 or 3)
  BatchDesc bd;
};

// Block tile (tm, tn) of blockIdx.x, ordered in groups of 8 tile rows so blocks running together
// share A rows and B columns in L2.
__device__ __forceinline__ void tile_of(const GemmParams& p, int64_t& tm, int64_t& tn) {
  constexpr int64_t kGroup = 8;
  const int64_t pid = blockIdx.x;
  const int64_t per_group = kGroup * p.tiles_n;
  const int64_t first = (pid / per_group) * kGroup;
  const int64_t rows = min(p.tiles_m - first, kGroup);
  const int64_t in = pid % per_group;
  tm = first + in % rows;
  tn = in / rows;
}

// ---- highest: FFMA ------------------------------------------------------------------------------
namespace sg {
constexpr int BM = 128, BN = 128, BK = 8;
constexpr int LDS = BM + 4;  // the padding makes the transposed stores of k-contiguous tiles conflict-free
}  // namespace sg

// One thread's 4 elements of an operand's 128 x 8 tile, walking down K one tile at a time. The
// operand has R rows of K (element (r, k) at g[r*ld + k] when KCONTIG, else g[k*ld + r]); the
// thread owns row r and k..k+3 (KCONTIG) or rows r..r+3 and k. Out-of-range elements read 0.
template <bool KCONTIG, bool VEC>
struct Loader4 {
  const float* p;
  int64_t step, left;  // left: K minus the k of element 0
  int rows;            // rows of the thread's 4 (KCONTIG: its 1 row, as 0 or 4) inside the operand

  __device__ __forceinline__ Loader4(const float* g, int64_t ld, int64_t R, int64_t K, int64_t r0, int r_, int k) {
    const int64_t r = r0 + r_;
    left = K - k;
    p = KCONTIG ? g + r * ld + k : g + k * ld + r;
    step = KCONTIG ? sg::BK : sg::BK * ld;
    rows = KCONTIG ? (r < R ? 4 : 0) : static_cast<int>(max(int64_t{0}, min(R - r, int64_t{4})));
  }
  __device__ __forceinline__ void load(float (&x)[4]) const {
    if (VEC) {
      // the contiguous extent is a multiple of 4: the chunk is wholly inside or outside
      const float4 v = (rows > 0 && left > 0) ? *reinterpret_cast<const float4*>(p) : make_float4(0.f, 0.f, 0.f, 0.f);
      x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
    } else {
#pragma unroll
      for (int e = 0; e < 4; e++) x[e] = (KCONTIG ? rows > 0 && e < left : left > 0 && e < rows) ? p[e] : 0.f;
    }
  }
  __device__ __forceinline__ void next(float (&x)[4]) {
    p += step;
    left -= sg::BK;
    load(x);
  }
};

template <bool AT, bool BT, bool VEC>
__global__ void __launch_bounds__(kThreads, 2) sgemm_kernel(const GemmParams p) {
  using namespace sg;
  __shared__ __align__(16) float As[2][BK][LDS];  // (k, m)
  __shared__ __align__(16) float Bs[2][BK][LDS];  // (k, n)
  const int tid = threadIdx.x;
  int64_t tm, tn, oa, ob;
  tile_of(p, tm, tn);
  const int64_t z = p.z0 + blockIdx.y;
  p.bd.offsets(z, oa, ob);
  const float* A = p.A + oa;
  const float* B = p.B + ob;
  const int64_t M = p.M, N = p.N, K = p.K, m0 = tm * BM, n0 = tn * BN;

  // Loader coordinates. A k-contiguous operand tile (128 rows x 8 k): the thread loads k kc..kc+3
  // of row kr. An mn-contiguous one (8 k x 128 rows): rows mc..mc+3 of k row mk.
  const int kr = tid >> 1, kc = (tid & 1) * 4;
  const int mk = tid >> 5, mc = (tid & 31) * 4;
  Loader4<!AT, VEC> la(A, p.lda, M, K, m0, AT ? mc : kr, AT ? mk : kc);
  Loader4<BT, VEC> lb(B, p.ldb, N, K, n0, BT ? kr : mc, BT ? kc : mk);
  float ra[4], rb[4];

  auto store = [&](int buf) {
    if (!AT) {
#pragma unroll
      for (int e = 0; e < 4; e++) As[buf][kc + e][kr] = ra[e];
    } else {
      *reinterpret_cast<float4*>(&As[buf][mk][mc]) = make_float4(ra[0], ra[1], ra[2], ra[3]);
    }
    if (BT) {
#pragma unroll
      for (int e = 0; e < 4; e++) Bs[buf][kc + e][kr] = rb[e];
    } else {
      *reinterpret_cast<float4*>(&Bs[buf][mk][mc]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
    }
  };

  // Warps tile the block 2 (M) x 4 (N), 64x32 each; a lane computes rows {0,32} + lm*4 + 0..3
  // and columns {0,16} + ln*4 + 0..3 of its warp's tile, reading each k's values as float4s
  // (8 distinct A and 4 distinct B addresses per warp: no bank conflicts).
  const int warp = tid >> 5, lane = tid & 31;
  const int ar = (warp >> 2) * 64 + (lane >> 2) * 4;
  const int bc = (warp & 3) * 32 + (lane & 3) * 4;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; i++)
#pragma unroll
    for (int j = 0; j < 8; j++) acc[i][j] = 0.f;

  const int64_t kt_count = (K + BK - 1) / BK;
  la.load(ra);
  lb.load(rb);
  store(0);
  __syncthreads();
  int buf = 0;
  for (int64_t kt = 0; kt < kt_count; kt++) {
    const bool more = kt + 1 < kt_count;
    if (more) {  // in flight while this tile is multiplied
      la.next(ra);
      lb.next(rb);
    }
#pragma unroll
    for (int k = 0; k < BK; k++) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][k][ar]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][k][ar + 32]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][k][bc]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][k][bc + 16]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    // The other buffer was last read before the previous iteration's barrier: safe to refill.
    if (more) store(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

  float* C = p.C + z * M * N;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    const int64_t r = m0 + ar + (i < 4 ? i : 28 + i);
    if (r >= M) continue;
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t c = n0 + bc + h * 16;
      float* dst = C + r * N + c;
      if (p.cvec) {
        if (c < N) *reinterpret_cast<float4*>(dst) = make_float4(acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]);
      } else {
#pragma unroll
        for (int e = 0; e < 4; e++)
          if (c + e < N) dst[e] = acc[i][h * 4 + e];
      }
    }
  }
}

// ---- high / medium: tensor cores ------------------------------------------------------------------
template <bool BF16>
struct Tc {
  static constexpr int BM = 128, BN = 128, BK = 32;
  // Row strides of the float32 tiles, padded so each precision's fragment loads hit 32 distinct
  // banks: k-contiguous tiles are read 4 (tf32) or 4 float2 (bf16) k wide, mn-contiguous tiles
  // 8 rows wide at 4 (tf32) or 8 (bf16) k offsets.
  static constexpr int PAD_K = BF16 ? 8 : 4;
  static constexpr int PAD_MN = BF16 ? 4 : 8;
  static constexpr int KSTEP = BF16 ? 16 : 8;
};

template <bool BF16, bool KCONTIG, int ROWS>
struct TileShape {
  // element (r, k) of the tile at r * RS + k * KS
  static constexpr int LDS = KCONTIG ? Tc<BF16>::BK + Tc<BF16>::PAD_K : ROWS + Tc<BF16>::PAD_MN;
  static constexpr int RS = KCONTIG ? LDS : 1;
  static constexpr int KS = KCONTIG ? 1 : LDS;
  static constexpr int SIZE = KCONTIG ? ROWS * LDS : Tc<BF16>::BK * LDS;
};

// One thread's share (4 chunks of 4 floats) of an operand's ROWS x BK tiles, walking down K one
// tile at a time. The operand has R rows of K: element (r, k) at g[r*ld + k] when KCONTIG, else
// g[k*ld + r]. Chunk i of a k-contiguous tile is row r + 32i, k..k+3; of an mn-contiguous one,
// k row k + 8i, rows r..r+3. Out-of-range elements are zero. Addresses are kept incrementally so
// the main loop does no 64-bit multiplies.
template <bool BF16, bool KCONTIG, int ROWS, bool VEC>
struct TileLoader {
  using S = TileShape<BF16, KCONTIG, ROWS>;
  static constexpr int BK = Tc<BF16>::BK;
  static constexpr int CHUNKS = ROWS * BK / 4 / kThreads;  // per thread
  static constexpr int RSTEP = KCONTIG ? kThreads / (BK / 4) : 0;   // rows between chunks
  static constexpr int KSTEP = KCONTIG ? 0 : kThreads / (ROWS / 4);  // k between chunks
  static_assert(ROWS * BK / 4 % kThreads == 0, "whole chunks per thread");

  const float* p;     // chunk 0 of the current tile
  int64_t chunk_ld;   // from one chunk to the next
  int64_t tile_ld;    // from one k tile to the next
  int64_t left;       // K minus the k of chunk 0's first element
  int sofs;           // chunk 0's offset in the stage
  int rows;           // KCONTIG: chunks whose row is in range (the first `rows`); else rows of the 4 in range

  __device__ __forceinline__ TileLoader(const float* g, int64_t ld, int64_t R, int64_t K, int64_t r0, int tid) {
    int r, kk;
    if (KCONTIG) {
      r = tid / (BK / 4);
      kk = (tid % (BK / 4)) * 4;
    } else {
      kk = tid / (ROWS / 4);
      r = (tid % (ROWS / 4)) * 4;
    }
    const int64_t gr = r0 + r;
    left = K - kk;
    sofs = r * S::RS + kk * S::KS;
    p = KCONTIG ? g + gr * ld + kk : g + kk * ld + gr;
    chunk_ld = KCONTIG ? RSTEP * ld : KSTEP * ld;
    tile_ld = KCONTIG ? BK : BK * ld;
    if constexpr (KCONTIG) {
      const int64_t below = R - gr;  // of rows gr, gr + RSTEP, ..., those < R
      rows = below <= 0 ? 0 : static_cast<int>(min(int64_t{CHUNKS}, (below + RSTEP - 1) / RSTEP));
    } else {
      rows = static_cast<int>(max(int64_t{0}, min(R - gr, int64_t{4})));
    }
  }

  __device__ __forceinline__ void load(float* stage) const {
#pragma unroll
    for (int i = 0; i < CHUNKS; i++) {
      float* dst = stage + sofs + (KCONTIG ? i * RSTEP * S::RS : i * KSTEP * S::KS);
      const float* src = p + i * chunk_ld;
      const int64_t kl = left - (KCONTIG ? 0 : i * KSTEP);  // K minus the chunk's k
      if (VEC) {
        // the contiguous extent is a multiple of 4: a chunk is wholly inside or outside
        const bool in = (KCONTIG ? i < rows : rows > 0) && kl > 0;
        cp_async16(dst, in ? src : p, in ? 16 : 0);
      } else {
#pragma unroll
        for (int e = 0; e < 4; e++)
          dst[e] = (KCONTIG ? i < rows && e < kl : e < rows && kl > 0) ? src[e] : 0.f;
      }
    }
  }
  __device__ __forceinline__ void advance() {
    p += tile_ld;
    left -= BK;
  }
};

template <bool AT, bool BT, bool VEC, bool BF16>
__global__ void __launch_bounds__(kThreads, 2) mma_gemm_kernel(const GemmParams p) {
  using T = Tc<BF16>;
  using SA = TileShape<BF16, !AT, T::BM>;
  using SB = TileShape<BF16, BT, T::BN>;
  constexpr int STAGE = SA::SIZE + SB::SIZE;
  static_assert(SA::SIZE % 4 == 0 && STAGE % 4 == 0, "stages stay 16-byte aligned");
  extern __shared__ __align__(16) float smem[];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int64_t tm, tn, oa, ob;
  tile_of(p, tm, tn);
  const int64_t z = p.z0 + blockIdx.y;
  p.bd.offsets(z, oa, ob);
  const float* A = p.A + oa;
  const float* B = p.B + ob;
  const int64_t M = p.M, N = p.N, K = p.K, m0 = tm * T::BM, n0 = tn * T::BN;
  const int stages = p.stages;

  TileLoader<BF16, !AT, T::BM, VEC> la(A, p.lda, M, K, m0, tid);
  TileLoader<BF16, BT, T::BN, VEC> lb(B, p.ldb, N, K, n0, tid);
  // Loads the next k tile into `stage`.
  auto load = [&](int stage) {
    float* s = smem + stage * STAGE;
    la.load(s);
    lb.load(s + SA::SIZE);
    la.advance();
    lb.advance();
  };

  // Warps tile the block 2 (M) x 4 (N): 64x32 each, 4 x 4 mma tiles.
  const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[i][j][c] = 0.f;

  const int64_t kt_count = (K + T::BK - 1) / T::BK;
  // One commit group per k tile (empty past the end) so "wait until at most stages-2 groups are
  // pending" always means "tile kt has landed".
  for (int s = 0; s < stages - 1; s++) {
    if (s < kt_count) load(s);
    cp_async_commit();
  }
  int read = 0, write = stages - 1;
  for (int64_t kt = 0; kt < kt_count; kt++) {
    if (stages == 3)
      cp_async_wait<1>();
    else
      cp_async_wait<0>();
    // Tile kt is visible to every thread, and every thread is done with the stage refilled next
    // (it was read in iteration kt - 1).
    __syncthreads();
    if (kt + stages - 1 < kt_count) load(write);
    cp_async_commit();
    const float* As = smem + read * STAGE + wm * SA::RS;
    const float* Bs = smem + read * STAGE + SA::SIZE + wn * SB::RS;
#pragma unroll
    for (int kk = 0; kk < T::BK; kk += T::KSTEP) {
      if (BF16)
        warp_mma_bf16_k16<4, 4, SA::RS, SA::KS, SB::RS, SB::KS>(acc, As + kk * SA::KS, Bs + kk * SB::KS, lane);
      else
        warp_mma_tf32_k8<4, 4, SA::RS, SA::KS, SB::RS, SB::KS>(acc, As + kk * SA::KS, Bs + kk * SB::KS, lane);
    }
    read = read + 1 == stages ? 0 : read + 1;
    write = write + 1 == stages ? 0 : write + 1;
  }
  cp_async_wait<0>();

  float* C = p.C + z * M * N;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t r = m0 + wm + i * 16 + g + h * 8;
      if (r >= M) continue;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int64_t c = n0 + wn + j * 8 + 2 * t;
        float* dst = C + r * N + c;
        const float v0 = acc[i][j][h * 2], v1 = acc[i][j][h * 2 + 1];
        if (p.cvec) {
          if (c < N) *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
        } else {
          if (c < N) dst[0] = v0;
          if (c + 1 < N) dst[1] = v1;
        }
      }
    }
}

// ---- small products: any strides -------------------------------------------------------------
struct SmallParams {
  const float* A;
  const float* B;
  float* C;
  int64_t M, N, K, rsa, csa, rsb, csb, tiles_n, z0;
  BatchDesc bd;
};

constexpr int kSmall = 16;

__global__ void __launch_bounds__(kSmall * kSmall) gemm_small_kernel(const SmallParams p) {
  __shared__ float As[kSmall][kSmall + 1], Bs[kSmall][kSmall + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t tm = blockIdx.x / p.tiles_n, tn = blockIdx.x % p.tiles_n;
  const int64_t z = p.z0 + blockIdx.y;
  int64_t oa, ob;
  p.bd.offsets(z, oa, ob);
  const float* A = p.A + oa;
  const float* B = p.B + ob;
  const int64_t m0 = tm * kSmall, n0 = tn * kSmall;
  float acc = 0.f;
  for (int64_t k0 = 0; k0 < p.K; k0 += kSmall) {
    // ty walks M (A) and K (B), tx walks K (A) and N (B)
    As[ty][tx] = (m0 + ty < p.M && k0 + tx < p.K) ? A[(m0 + ty) * p.rsa + (k0 + tx) * p.csa] : 0.f;
    Bs[ty][tx] = (k0 + ty < p.K && n0 + tx < p.N) ? B[(k0 + ty) * p.rsb + (n0 + tx) * p.csb] : 0.f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSmall; k++) acc = fmaf(As[ty][k], Bs[k][tx], acc);
    __syncthreads();
  }
  if (m0 + ty < p.M && n0 + tx < p.N) p.C[z * p.M * p.N + (m0 + ty) * p.N + n0 + tx] = acc;
}

// dst (contiguous) = the strided view s, for operands whose last two dims are neither row-major
// nor transposed.
__global__ void gather_kernel(const float* src, const Strided s, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = src[s.offset(i)];
}

// ---- host ---------------------------------------------------------------------------------------
using GemmFn = void (*)(const GemmParams);

GemmFn pick_sgemm(bool at, bool bt, bool vec) {
  static const GemmFn table[8] = {
      sgemm_kernel<false, false, false>, sgemm_kernel<false, false, true>, sgemm_kernel<false, true, false>,
      sgemm_kernel<false, true, true>,   sgemm_kernel<true, false, false>, sgemm_kernel<true, false, true>,
      sgemm_kernel<true, true, false>,   sgemm_kernel<true, true, true>};
  return table[at * 4 + bt * 2 + vec];
}

template <bool BF16>
GemmFn pick_mma(bool at, bool bt, bool vec) {
  static const GemmFn table[8] = {
      mma_gemm_kernel<false, false, false, BF16>, mma_gemm_kernel<false, false, true, BF16>,
      mma_gemm_kernel<false, true, false, BF16>,  mma_gemm_kernel<false, true, true, BF16>,
      mma_gemm_kernel<true, false, false, BF16>,  mma_gemm_kernel<true, false, true, BF16>,
      mma_gemm_kernel<true, true, false, BF16>,   mma_gemm_kernel<true, true, true, BF16>};
  return table[at * 4 + bt * 2 + vec];
}

template <bool BF16>
size_t mma_stage_bytes(bool at, bool bt) {
  using T = Tc<BF16>;
  const int a = at ? T::BK * (T::BM + T::PAD_MN) : T::BM * (T::BK + T::PAD_K);
  const int b = bt ? T::BN * (T::BK + T::PAD_K) : T::BK * (T::BN + T::PAD_MN);
  return static_cast<size_t>(a + b) * sizeof(float);
}

// Raises a tensor-core kernel's dynamic shared memory limit, once per kernel and device (the
// attribute is per device). `slot` names the kernel: bf16 * 8 + its index in pick_mma's table.
void allow_smem(GemmFn fn, int slot, size_t bytes) {
  static std::atomic<uint64_t> done[16] = {};
  const int dev = current_device();
  const uint64_t bit = dev < 64 ? uint64_t{1} << dev : 0;
  if (bit && (done[slot].load() & bit)) return;
  check(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), "matmul");
  done[slot].fetch_or(bit);
}

// The two layouts a kernel reads in place, for an operand seen as R rows (M for A, N for B) of
// K: k-contiguous, element (r, k) at r*ld + k, or r-contiguous (t), at r + k*ld. So A is
// transposed (AT) when t, and B is transposed (BT: k-contiguous) when not t. Size-1 dims have no
// meaningful stride, so they never prevent a layout (their stride becomes 0, which keeps the
// alignment checks honest).
struct Layout {
  bool ok;
  bool t;
  int64_t ld;
};
Layout layout_of(int64_t R, int64_t Kd, int64_t rs, int64_t ks) {
  if (ks == 1 || Kd == 1) return {true, false, R == 1 ? 0 : rs};
  if (rs == 1 || R == 1) return {true, true, Kd == 1 ? 0 : ks};
  return {false, false, 0};
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void matmul_cuda(std::vector<View>& v, const Attrs& attrs) {
  MatmulArgs m = check_matmul(v);
  const Precision prec = precision(attrs);
  const int64_t M = m.M, N = m.N, K = m.K, batch = m.batch;
  if (batch == 0 || M == 0 || N == 0) return;
  float* C = v[2].ptr<float>();
  if (K == 0) {
    check(cudaMemsetAsync(C, 0, static_cast<size_t>(batch * M * N) * sizeof(float), stream()), "matmul");
    return;
  }
  BatchDesc bd;
  bd.nb = m.nb;
  for (int d = 0; d < kMaxDims; d++) {
    bd.shape[d] = d < m.nb ? m.bshape[d] : 1;
    bd.sa[d] = d < m.nb ? m.astride[d] : 0;
    bd.sb[d] = d < m.nb ? m.bstride[d] : 0;
  }
  const float* A = v[0].ptr<float>();
  const float* B = v[1].ptr<float>();
  auto launch_batches = [&](auto&& launch) {
    for (int64_t z0 = 0; z0 < batch; z0 += kMaxGridY) launch(z0, static_cast<unsigned>(std::min(kMaxGridY, batch - z0)));
  };

  // Small products: one 16x16 tile per block reads any strides in place.
  if (static_cast<double>(M) * N * K <= 262144.0 || M < 16 || N < 16) {
    SmallParams sp{A, B, C, M, N, K, m.rsa, m.csa, m.rsb, m.csb, ceil_div(N, kSmall), 0, bd};
    const int64_t tiles = ceil_div(M, kSmall) * sp.tiles_n;
    launch_batches([&](int64_t z0, unsigned zn) {
      sp.z0 = z0;
      gemm_small_kernel<<<dim3(static_cast<unsigned>(tiles), zn), dim3(kSmall, kSmall), 0, stream()>>>(sp);
      check_launch("matmul");
    });
    return;
  }

  // Operands in neither layout are gathered into contiguous scratch (batch dims included).
  Layout la = layout_of(M, K, m.rsa, m.csa), lb = layout_of(N, K, m.csb, m.rsb);
  std::unique_ptr<Scratch> copies[2];
  for (int w = 0; w < 2; w++) {
    Layout& l = w == 0 ? la : lb;
    if (l.ok) continue;
    const View& src = v[w];
    const int64_t n = src.numel();
    copies[w] = std::make_unique<Scratch>(static_cast<size_t>(n) * sizeof(float));
    float* dst = copies[w]->as<float>();
    gather_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(src.ptr<float>(), Strided::of(src), dst, n);
    check_launch("matmul");
    int64_t step = src.shape[src.ndim - 2] * src.shape[src.ndim - 1];
    for (int d = m.nb - 1; d >= 0; d--) {
      (w == 0 ? bd.sa : bd.sb)[d] = step;
      step *= m.bshape[d];
    }
    if (w == 0) {
      A = dst;
      l = {true, false, K};  // row-major M x K
    } else {
      B = dst;
      l = {true, true, N};  // row-major K x N: n-contiguous
    }
  }

  // float4 / 16-byte cp.async loads: every row start of every batch 16-byte aligned and the
  // contiguous extent a multiple of 4 (then a 4-wide chunk is wholly in or out of range).
  const bool at = la.t, bt = !lb.t;
  bool vec = aligned16(A) && aligned16(B) && la.ld % 4 == 0 && lb.ld % 4 == 0 && (la.t ? M : K) % 4 == 0 &&
             (lb.t ? N : K) % 4 == 0;
  for (int d = 0; d < m.nb; d++) vec = vec && bd.sa[d] % 4 == 0 && bd.sb[d] % 4 == 0;

  GemmParams gp;
  gp.A = A;
  gp.B = B;
  gp.C = C;
  gp.M = M;
  gp.N = N;
  gp.K = K;
  gp.lda = la.ld;
  gp.ldb = lb.ld;
  gp.z0 = 0;
  gp.bd = bd;
  gp.stages = 0;

  if (prec != Precision::Highest && has_tensor_cores()) {
    const bool bf16 = prec == Precision::Medium;
    constexpr int BM = Tc<false>::BM, BN = Tc<false>::BN;
    gp.tiles_m = ceil_div(M, BM);
    gp.tiles_n = ceil_div(N, BN);
    gp.cvec = N % 2 == 0 && reinterpret_cast<uintptr_t>(C) % 8 == 0;
    const size_t stage = bf16 ? mma_stage_bytes<true>(at, bt) : mma_stage_bytes<false>(at, bt);
    const size_t optin = device_props().sharedMemPerBlockOptin;
    gp.stages = 3 * stage <= optin ? 3 : 2;
    const size_t smem = gp.stages * stage;
    const GemmFn fn = bf16 ? pick_mma<true>(at, bt, vec) : pick_mma<false>(at, bt, vec);
    if (smem > 48 * 1024) allow_smem(fn, bf16 * 8 + at * 4 + bt * 2 + vec, smem);
    const unsigned tiles = static_cast<unsigned>(gp.tiles_m * gp.tiles_n);
    launch_batches([&](int64_t z0, unsigned zn) {
      gp.z0 = z0;
      fn<<<dim3(tiles, zn), kThreads, smem, stream()>>>(gp);
      check_launch("matmul");
    });
    return;
  }

  gp.tiles_m = ceil_div(M, sg::BM);
  gp.tiles_n = ceil_div(N, sg::BN);
  gp.cvec = N % 4 == 0 && aligned16(C);
  const GemmFn fn = pick_sgemm(at, bt, vec);
  const unsigned tiles = static_cast<unsigned>(gp.tiles_m * gp.tiles_n);
  launch_batches([&](int64_t z0, unsigned zn) {
    gp.z0 = z0;
    fn<<<dim3(tiles, zn), kThreads, 0, stream()>>>(gp);
    check_launch("matmul");
  });
}

TF_REGISTER_KERNEL("matmul", 2, 1, false, matmul_cuda);

}  // namespace
}  // namespace cuda
}  // namespace tf
