// 2-D convolution on CUDA (NCHW, the CPU kernels' semantics: native/cpu/conv.cpp), as implicit
// GEMMs: the column matrix is never written to global memory; each tile of it is gathered from
// the image straight into shared memory.
//
//   forward  M = N·Ho·Wo (output positions), N = Co/G, K = (tap, input channel)
//            A(m, k) = x[n, c, oh·sh - pt + r·dh, ow·sw - pl + s·dw]   B(k, co) = weight
//   dgrad    M = N·H·W (input positions),  N = C/G,  K = (tap, output channel)
//            A(m, k) = gOut[n, co, (ih + pt - r·dh) / sh, (iw + pl - s·dw) / sw] where both
//            divide exactly and land inside gOut (0 otherwise)            B(k, c) = weight
//   wgrad    M = C/G·kh·kw (gW's columns), N = Co/G, K = N·Ho·Wo (split over blocks)
//            A(m, k) = x gathered as in the forward,  B(k, co) = gOut
//
// K order. Forward and dgrad run K tap-major: tap (r, s), then channel chunks of one tile depth
// (a tile never straddles taps, the last chunk of a tap is zero-padded). The tap is then the
// same for the whole tile, so each thread works out its row's source pixel (and its bounds)
// once per tile, and a gathered element costs one compare and one load. The price is the
// zero-padded chunk: nothing for channel counts that are multiples of 16 (32 for BF16), up to
// 15/16 of the K work for 1-channel groups (depthwise), which stay correct but slow.
// The weights are first reordered (a small kernel) to [G][tap][k-channel][n-channel], so B
// tiles are coalesced rows. wgrad runs K image by image in chunks of positions (a tile never
// straddles images); each split of K writes its own partial gW and a final kernel sums the
// partials in a fixed order: no float atomics, results are reproducible run to run.
//
// Arithmetic (tf.setMatmulPrecision): Highest = FFMA on an 8×4 register tile per thread;
// High = mma.sync TF32 m16n8k8; Medium = mma.sync BF16 m16n8k16 (tensor cores only where
// has_tensor_cores(), else FFMA). Block tile 128 (M) × 64 (N) × 16 K-units (a unit is one float,
// or for BF16 a pair of k values packed in one 32-bit word), 256 threads, two shared-memory
// stages: the next tile's gathers are in flight in registers while the current one is
// multiplied. Both operands are stored K-row-major ([unit][m], [unit][n]) with rows padded to
// ≡ 8 (mod 32) words, so the mma fragment reads (lane -> row t, column g) hit 32 distinct banks,
// and so do the stores of operands gathered K-contiguous (lanes 4 units × 8 rows).
#include <algorithm>
#include <string>

#include "common.cuh"
#include "mma.cuh"
#include "ops/conv.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBM = 128, kBN = 64;
constexpr int kUnits = 16;          // K units per stage
constexpr int kSA = kBM + 8;        // shared row strides in 32-bit words, ≡ 8 (mod 32)
constexpr int kSB = kBN + 8;

enum class Pass { Fwd, Dgrad, Wgrad };
enum class Math { F32, TF32, BF16 };

template <Math MT> struct MathTraits { static constexpr int KU = 1; };
template <> struct MathTraits<Math::BF16> { static constexpr int KU = 2; };

// n / d and n % d for 0 <= n < 2^31 and 1 <= d < 2^31 by a multiply and a shift (the divisor's
// magic number is computed once on the host): (umulhi(n, m) + n) >> l with l = ceil(log2 d),
// m = 2^32·(2^l - d)/d + 1.
struct FastDiv {
  uint32_t d = 1, m = 1, l = 0;
  FastDiv() = default;
  explicit FastDiv(int64_t div) {
    d = static_cast<uint32_t>(div);
    l = 0;
    while ((uint64_t(1) << l) < d) l++;
    m = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << l) - d)) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, m) + n) >> l; }
};

// Everything a pass needs, by value (kernel parameter space).
struct Args {
  const float* a;  // fwd, wgrad: x; dgrad: gOut
  const float* b;  // fwd, dgrad: reordered weights; wgrad: gOut
  const float* bias;
  int64_t bstride;
  float* out;
  int64_t zstride;  // wgrad: floats between the partial sums of two splits
  int64_t N, C, Co, Cg, Cog, Kg, G, taps;
  // Spatial sizes and coordinates: every one, and every padded coordinate, fits int32
  // (check_sizes).
  int H, W, Ho, Wo, HW, P, kw;
  int sh, sw, dh, dw, pt, pl;
  int64_t M;        // GEMM rows (all groups share them)
  int64_t KC, NC;   // fwd/dgrad: channels along K and along N per group (wgrad: NC = Cog)
  int64_t kchunks;  // fwd/dgrad: K tiles per tap; wgrad: K tiles per image
  int64_t ktiles;   // K tiles in all
  int64_t per;      // wgrad: K tiles per split
  int64_t R, RS;    // output offset of GEMM row m: (m / R)·RS + m % R (wgrad: m); of column n: n·R
  int64_t g0;       // first group of this launch
  int ntiles;       // N tiles per group
  FastDiv fdWo;
};

// Which (row, k unit) of a kRows × kUnits tile the thread's element e gathers. Rows-contiguous
// operands (threads along rows, coalesced along m) or K-contiguous ones (lanes: 4 units × 8 rows,
// 16-byte runs along k, and 32 distinct banks on the store).
template <int kRows, bool KMajor>
struct Map {
  static constexpr int kPer = kRows * kUnits / kThreads;  // units per thread
  __device__ __forceinline__ static int row(int tid, int e) {
    if (KMajor) return (tid / 4 + 64 * e) % kRows;
    return tid % kRows;
  }
  __device__ __forceinline__ static int unit(int tid, int e) {
    if (KMajor) return tid % 4 + 4 * ((tid / 4 + 64 * e) / kRows);
    return tid / kRows + (kThreads / kRows) * e;
  }
};

// ---- A operand: forward / dgrad (rows are output or input positions, coalesced along m) ------
template <Pass PS, int KU>
struct LoaderA_Pos {
  using MP = Map<kBM, false>;
  static constexpr int kVals = MP::kPer * KU;
  const float* base;  // image n's first K channel of group g
  int y0, x0;         // fwd: oh·sh - pt, ow·sw - pl; dgrad: ih + pt, iw + pl
  bool valid;

  __device__ __forceinline__ void init(const Args& p, int64_t m0, int64_t g, int tid) {
    const int64_t m = m0 + MP::row(tid, 0);
    valid = m < p.M;
    const int64_t mm = valid ? m : 0;
    if (PS == Pass::Fwd) {
      const int64_t n = mm / p.P;
      const int q = static_cast<int>(mm - n * p.P), oh = q / p.Wo, ow = q % p.Wo;
      base = p.a + (n * p.C + g * p.Cg) * p.HW;
      y0 = oh * p.sh - p.pt, x0 = ow * p.sw - p.pl;
    } else {
      const int64_t n = mm / p.HW;
      const int q = static_cast<int>(mm - n * p.HW), ih = q / p.W, iw = q % p.W;
      base = p.a + (n * p.Co + g * p.Cog) * p.P;
      y0 = ih + p.pt, x0 = iw + p.pl;
    }
  }
  // K tile (tap, channel chunk kc).
  __device__ __forceinline__ void load(const Args& p, int tap, int kc, int tid, float (&v)[kVals]) const {
    const int64_t c0 = kc * (kUnits * KU);
    const int r = static_cast<int>(tap) / p.kw, s = static_cast<int>(tap) - r * p.kw;
    bool ok = valid;
    const float* src = base;
    int cstride;
    if (PS == Pass::Fwd) {
      const int ih = y0 + r * p.dh, iw = x0 + s * p.dw;
      ok = ok && ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
      if (ok) src += ih * p.W + iw;
      cstride = p.HW;
    } else {
      int th = y0 - r * p.dh, tw = x0 - s * p.dw;
      ok = ok && th >= 0 && tw >= 0;
      if (p.sh != 1) {
        ok = ok && th % p.sh == 0;
        th /= p.sh;
      }
      if (p.sw != 1) {
        ok = ok && tw % p.sw == 0;
        tw /= p.sw;
      }
      ok = ok && th < p.Ho && tw < p.Wo;
      if (ok) src += th * p.Wo + tw;
      cstride = p.P;
    }
#pragma unroll
    for (int e = 0; e < MP::kPer; e++)
#pragma unroll
      for (int j = 0; j < KU; j++) {
        const int64_t c = c0 + MP::unit(tid, e) * KU + j;
        v[e * KU + j] = ok && c < p.KC ? __ldg(src + c * cstride) : 0.f;  // c·cstride: int64
      }
  }
};

// ---- A operand: wgrad (rows are gW columns (c, r, s), K = positions of one image) ------------
template <int KU>
struct LoaderA_Wgrad {
  using MP = Map<kBM, true>;
  static constexpr int kVals = MP::kPer * KU;
  // The thread's two rows (e even / odd): their channel plane's offset in an image (< C·H·W <
  // 2^31, check_sizes) and tap offsets.
  int plane[2];
  int rb[2], sb[2];
  bool valid[2];

  __device__ __forceinline__ void init(const Args& p, int64_t m0, int64_t g, int tid) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t m = m0 + MP::row(tid, h);
      valid[h] = m < p.M;
      const int64_t mm = valid[h] ? m : 0;
      const int64_t c = mm / p.taps;
      const int t = static_cast<int>(mm - c * p.taps), r = t / p.kw, s = t % p.kw;
      plane[h] = static_cast<int>((g * p.Cg + c) * p.HW);
      rb[h] = r * p.dh - p.pt, sb[h] = s * p.dw - p.pl;
    }
  }
  // K tile (image n, position chunk kc).
  __device__ __forceinline__ void load(const Args& p, int n, int kc, int tid, float (&v)[kVals]) const {
    const int64_t p0 = kc * (kUnits * KU);
    const float* img = p.a + n * p.C * p.HW;
#pragma unroll
    for (int q = 0; q < MP::kPer / 2; q++)
#pragma unroll
      for (int j = 0; j < KU; j++) {
        const int64_t pos = p0 + MP::unit(tid, 2 * q) * KU + j;  // < P + 32 < 2^31 + 32
        const bool pv = pos < p.P;
        const uint32_t pu = pv ? static_cast<uint32_t>(pos) : 0u;
        const int oh = static_cast<int>(p.fdWo.div(pu)), ow = static_cast<int>(pu) - oh * p.Wo;
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int ih = oh * p.sh + rb[h], iw = ow * p.sw + sb[h];
          const bool ok = pv && valid[h] && ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
          v[(2 * q + h) * KU + j] = ok ? __ldg(img + (plane[h] + ih * p.W + iw)) : 0.f;
        }
      }
  }
};

// ---- B operand: forward / dgrad (reordered weights [G][tap][KC][NC], coalesced along n) -------
template <int KU>
struct LoaderB_Weight {
  using MP = Map<kBN, false>;
  static constexpr int kVals = MP::kPer * KU;
  const float* base;
  bool valid;
  __device__ __forceinline__ void init(const Args& p, int64_t n0, int64_t g, int tid) {
    const int64_t n = n0 + MP::row(tid, 0);
    valid = n < p.NC;
    base = p.b + g * p.taps * p.KC * p.NC + (valid ? n : 0);
  }
  __device__ __forceinline__ void load(const Args& p, int tap, int kc, int tid, float (&v)[kVals]) const {
    const int64_t c0 = kc * (kUnits * KU);
    const float* src = base + tap * p.KC * p.NC;
#pragma unroll
    for (int e = 0; e < MP::kPer; e++)
#pragma unroll
      for (int j = 0; j < KU; j++) {
        const int64_t c = c0 + MP::unit(tid, e) * KU + j;
        v[e * KU + j] = valid && c < p.KC ? __ldg(src + c * p.NC) : 0.f;
      }
  }
};

// ---- B operand: wgrad (gOut rows, K-contiguous) -----------------------------------------------
template <int KU>
struct LoaderB_Gout {
  using MP = Map<kBN, true>;
  static constexpr int kVals = MP::kPer * KU;
  int64_t off;
  bool valid;
  __device__ __forceinline__ void init(const Args& p, int64_t n0, int64_t g, int tid) {
    const int64_t co = n0 + MP::row(tid, 0);
    valid = co < p.Cog;
    off = (g * p.Cog + (valid ? co : 0)) * p.P;
  }
  __device__ __forceinline__ void load(const Args& p, int n, int kc, int tid, float (&v)[kVals]) const {
    const int64_t p0 = kc * (kUnits * KU);
    const float* src = p.b + n * p.Co * p.P + off;
#pragma unroll
    for (int e = 0; e < MP::kPer; e++)
#pragma unroll
      for (int j = 0; j < KU; j++) {
        const int64_t pos = p0 + MP::unit(tid, e) * KU + j;
        v[e * KU + j] = valid && pos < p.P ? __ldg(src + pos) : 0.f;
      }
  }
};

template <Pass PS, int KU> struct Loaders {
  using A = LoaderA_Pos<PS, KU>;
  using B = LoaderB_Weight<KU>;
};
template <int KU> struct Loaders<Pass::Wgrad, KU> {
  using A = LoaderA_Wgrad<KU>;
  using B = LoaderB_Gout<KU>;
};

// Gathered registers -> one shared stage, in the math's storage format.
template <Math MT, class MP, int kStride, int N>
__device__ __forceinline__ void store_stage(uint32_t* s, const float (&v)[N], int tid) {
#pragma unroll
  for (int e = 0; e < MP::kPer; e++) {
    uint32_t w;
    if (MT == Math::BF16) w = pack_bf16(v[e * 2], v[e * 2 + 1]);
    else if (MT == Math::TF32) w = to_tf32(v[e]);
    else w = __float_as_uint(v[e]);
    s[MP::unit(tid, e) * kStride + MP::row(tid, e)] = w;
  }
}

template <Pass PS, Math MT>
__global__ void __launch_bounds__(kThreads, 2) conv_gemm(const Args p) {
  constexpr int KU = MathTraits<MT>::KU;
  using LA = typename Loaders<PS, KU>::A;
  using LB = typename Loaders<PS, KU>::B;
  __shared__ __align__(16) uint32_t As[2][kUnits * kSA];
  __shared__ __align__(16) uint32_t Bs[2][kUnits * kSB];

  const int tid = threadIdx.x;
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int ntile = blockIdx.y % p.ntiles;
  const int64_t g = p.g0 + blockIdx.y / p.ntiles;
  const int64_t n0 = int64_t(ntile) * kBN;
  // K tile counts fit int32 (launch checks).
  int kt0 = 0, kt1 = static_cast<int>(p.ktiles);
  if (PS == Pass::Wgrad) {
    kt0 = static_cast<int>(blockIdx.z * p.per);
    kt1 = static_cast<int>(min(p.ktiles, kt0 + p.per));
  }

  LA la;
  LB lb;
  la.init(p, m0, g, tid);
  lb.init(p, n0, g, tid);
  float va[LA::kVals], vb[LB::kVals];

  constexpr bool kMma = MT != Math::F32;
  // FFMA: thread (tx, ty) owns rows 4tx..4tx+3 and 64+4tx..64+4tx+3, columns 4ty..4ty+3.
  // MMA: warp (wm, wn) owns a 32 × 32 tile: 2 m16 × 4 n8 fragments.
  constexpr int kAcc = 32;
  float acc[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; i++) acc[i] = 0.f;
  const int tx = tid % 16, ty = tid / 16;
  const int warp = tid / 32, lane = tid % 32, wm = warp % 4, wn = warp / 4, gq = lane / 4, tq = lane % 4;

  if (kt0 < kt1) {
    // K tile kt = (outer ko: tap or image, chunk kc), advanced without dividing.
    const int kchunks = static_cast<int>(p.kchunks);
    int ko = kt0 / kchunks, kc = kt0 - ko * kchunks;
    la.load(p, ko, kc, tid, va);
    lb.load(p, ko, kc, tid, vb);
    store_stage<MT, typename LA::MP, kSA>(As[0], va, tid);
    store_stage<MT, typename LB::MP, kSB>(Bs[0], vb, tid);
    __syncthreads();
    for (int kt = kt0; kt < kt1; kt++) {
      const int buf = (kt - kt0) & 1;
      const bool more = kt + 1 < kt1;
      if (more) {
        if (++kc == kchunks) kc = 0, ko++;
        la.load(p, ko, kc, tid, va);
        lb.load(p, ko, kc, tid, vb);
      }
      const uint32_t* A = As[buf];
      const uint32_t* B = Bs[buf];
      if constexpr (!kMma) {
#pragma unroll
        for (int u = 0; u < kUnits; u++) {
          const float4 a0 = *reinterpret_cast<const float4*>(A + u * kSA + tx * 4);
          const float4 a1 = *reinterpret_cast<const float4*>(A + u * kSA + 64 + tx * 4);
          const float4 b = *reinterpret_cast<const float4*>(B + u * kSB + ty * 4);
          const float ar[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
          const float br[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
          for (int i = 0; i < 8; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[i * 4 + j] = fmaf(ar[i], br[j], acc[i * 4 + j]);
        }
      } else {
#pragma unroll
        for (int ks = 0; ks < kUnits / 8; ks++) {
          const int r0 = ks * 8 + tq;
          uint32_t af[2][4], bf[4][2];
#pragma unroll
          for (int mt = 0; mt < 2; mt++) {
            const int mb = wm * 32 + mt * 16 + gq;
            af[mt][0] = A[r0 * kSA + mb];
            af[mt][1] = A[r0 * kSA + mb + 8];
            af[mt][2] = A[(r0 + 4) * kSA + mb];
            af[mt][3] = A[(r0 + 4) * kSA + mb + 8];
          }
#pragma unroll
          for (int nt = 0; nt < 4; nt++) {
            const int nb = wn * 32 + nt * 8 + gq;
            bf[nt][0] = B[r0 * kSB + nb];
            bf[nt][1] = B[(r0 + 4) * kSB + nb];
          }
#pragma unroll
          for (int mt = 0; mt < 2; mt++)
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
              float(&d)[4] = *reinterpret_cast<float(*)[4]>(&acc[(mt * 4 + nt) * 4]);
              if (MT == Math::TF32) mma_tf32_16x8x8(d, af[mt], bf[nt]);
              else mma_bf16_16x8x16(d, af[mt], bf[nt]);
            }
        }
      }
      if (more) {
        store_stage<MT, typename LA::MP, kSA>(As[buf ^ 1], va, tid);
        store_stage<MT, typename LB::MP, kSB>(Bs[buf ^ 1], vb, tid);
      }
      __syncthreads();
    }
  }

  // Epilogue: element (m, n) of group g goes to out[zoff + (m / R)·RS + m % R + (g·NC + n)·R].
  float* out = p.out + (PS == Pass::Wgrad ? int64_t(blockIdx.z) * p.zstride : 0);
  auto row_off = [&](int64_t m) { return PS == Pass::Wgrad ? m : (m / p.R) * p.RS + m % p.R; };
  auto put = [&](int64_t roff, int64_t n, float val) {
    if (n >= p.NC) return;
    const int64_t col = g * p.NC + n;
    if (PS == Pass::Fwd && p.bias) val += __ldg(p.bias + col * p.bstride);
    out[roff + col * p.R] = val;
  };
  if constexpr (!kMma) {
    // Rows 4tx..4tx+3 (a multiple of 4) lie in one run of R contiguous outputs when R % 4 == 0:
    // one 16-byte store per column when the output is 16-byte aligned.
    const bool vec = p.R % 4 == 0 && (reinterpret_cast<uintptr_t>(out) & 15) == 0;
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t mq = m0 + h * 64 + tx * 4;
      if (vec && mq + 3 < p.M) {
        const int64_t roff = row_off(mq);
#pragma unroll
        for (int j = 0; j < 4; j++) {
          const int64_t n = n0 + ty * 4 + j;
          if (n >= p.NC) continue;
          const int64_t col = g * p.NC + n;
          const float b = PS == Pass::Fwd && p.bias ? __ldg(p.bias + col * p.bstride) : 0.f;
          *reinterpret_cast<float4*>(out + roff + col * p.R) =
              make_float4(acc[h * 16 + j] + b, acc[h * 16 + 4 + j] + b, acc[h * 16 + 8 + j] + b, acc[h * 16 + 12 + j] + b);
        }
        continue;
      }
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int64_t m = mq + i;
        if (m >= p.M) continue;
        const int64_t roff = row_off(m);
#pragma unroll
        for (int j = 0; j < 4; j++) put(roff, n0 + ty * 4 + j, acc[(h * 4 + i) * 4 + j]);
      }
    }
  } else {
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
      for (int half = 0; half < 2; half++) {
        const int64_t m = m0 + wm * 32 + mt * 16 + gq + half * 8;
        if (m >= p.M) continue;
        const int64_t roff = row_off(m);
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
          for (int e = 0; e < 2; e++)
            put(roff, n0 + wn * 32 + nt * 8 + tq * 2 + e, acc[(mt * 4 + nt) * 4 + half * 2 + e]);
      }
  }
}

// Weight [G·Cog][Cg][taps] -> [G][tap][Cg][Cog] (forward, dgrad = false) or [G][tap][Cog][Cg]
// (dgrad = true): the GEMM's B with n contiguous.
__global__ void reorder_weight(const float* __restrict__ w, float* __restrict__ dst, int64_t total, int64_t Cog,
                               int64_t Cg, int64_t taps, bool dgrad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t tap = i % taps, c = i / taps % Cg, co = i / (taps * Cg) % Cog, g = i / (taps * Cg * Cog);
    const int64_t o = dgrad ? ((g * taps + tap) * Cog + co) * Cg + c : ((g * taps + tap) * Cg + c) * Cog + co;
    dst[o] = w[i];
  }
}

// gW[i] = Σ_s partial[s][i], s in order (reproducible).
__global__ void sum_splits(const float* __restrict__ partial, float* __restrict__ gw, int64_t n, int splits) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int k = 0; k < splits; k++) s += partial[k * n + i];
    gw[i] = s;
  }
}

Math pick_math(const Attrs& attrs) {
  const Precision pr = precision(attrs);
  if (pr == Precision::Highest || !has_tensor_cores()) return Math::F32;
  return pr == Precision::High ? Math::TF32 : Math::BF16;
}

int units_depth(Math mt) { return kUnits * (mt == Math::BF16 ? 2 : 1); }

// The kernels index within one image, one output image and one gW row with 32-bit arithmetic
// (spatial coordinates, fast division of positions), and only image and group bases in 64 bits.
// Called once the tensors are known not to be empty (their element counts then fit int64).
void check_sizes(const char* op, const ConvParams& c) {
  constexpr int64_t kLim = (int64_t(1) << 31) - 1 - 64;  // room for a tile's overhang
  if (c.HW() > kLim || c.P() > kLim || c.C * c.HW() > kLim || c.Co * c.P() > kLim || c.Kg() > kLim ||
      c.H + c.pt + c.pb > kLim || c.W + c.pl + c.pr > kLim || c.sh * c.Ho > kLim || c.sw * c.Wo > kLim)
    throw Error(ErrorKind::Value, std::string(op) + ": one image, one output image, a weight row or a padded "
                                                    "coordinate exceeds 2^31 - 65 elements, more than the CUDA kernels index");
}

template <Pass PS>
void launch(const char* op, Args p, Math mt, int splits) {
  const int64_t mtiles = ceil_div(p.M, kBM);
  const int64_t G = p.G;
  if (mtiles > 0x7fffffff || p.ktiles > 0x7fffffff)
    throw Error(ErrorKind::Value, std::string(op) + ": the GEMM is too large for one CUDA launch (" +
                                      std::to_string(mtiles) + " row tiles, " + std::to_string(p.ktiles) + " K tiles)");
  // Groups go in grid.y with the N tiles (<= 65535 per launch).
  const int64_t per_launch = std::max<int64_t>(1, 65535 / p.ntiles);
  for (int64_t g0 = 0; g0 < G; g0 += per_launch) {
    p.g0 = g0;
    const int64_t gn = std::min(per_launch, G - g0);
    const dim3 grid(static_cast<unsigned>(mtiles), static_cast<unsigned>(gn * p.ntiles), static_cast<unsigned>(splits));
    switch (mt) {
      case Math::F32: conv_gemm<PS, Math::F32><<<grid, kThreads, 0, stream()>>>(p); break;
      case Math::TF32: conv_gemm<PS, Math::TF32><<<grid, kThreads, 0, stream()>>>(p); break;
      case Math::BF16: conv_gemm<PS, Math::BF16><<<grid, kThreads, 0, stream()>>>(p); break;
    }
    check_launch(op);
  }
}

Args base_args(const ConvParams& c) {
  Args p{};
  auto i32 = [](int64_t v) { return static_cast<int>(v); };  // in range: check_sizes
  p.N = c.N, p.C = c.C, p.Co = c.Co;
  p.H = i32(c.H), p.W = i32(c.W), p.Ho = i32(c.Ho), p.Wo = i32(c.Wo), p.HW = i32(c.HW()), p.P = i32(c.P());
  p.Cg = c.Cg(), p.Cog = c.Cog(), p.Kg = c.Kg(), p.G = c.G, p.taps = c.taps(), p.kw = i32(c.kw);
  p.sh = i32(c.sh), p.sw = i32(c.sw), p.dh = i32(c.dh), p.dw = i32(c.dw), p.pt = i32(c.pt), p.pl = i32(c.pl);
  p.fdWo = FastDiv(std::max<int64_t>(c.Wo, 1));
  return p;
}

// Reordered weights for the forward (dgrad = false) or the input gradient.
void reorder(const ConvParams& c, const float* w, float* dst, bool dgrad, const char* op) {
  const int64_t total = c.Co * c.Kg();
  reorder_weight<<<grid_for(total, 256), 256, 0, stream()>>>(w, dst, total, c.Cog(), c.Cg(), c.taps(), dgrad);
  check_launch(op);
}

void conv2d_cuda(std::vector<View>& v, const Attrs& attrs) {
  const bool has_bias = v.size() == 4;
  const char* op = has_bias ? "conv2dBias" : "conv2d";
  const ConvParams c = check_conv2d(v, attrs);
  const View &x = v[0], &w = v[1], &out = v.back();
  if (out.numel() == 0) return;
  check_sizes(op, c);
  const Math mt = pick_math(attrs);
  // Kg > 0 here: Co > 0 and kh, kw >= 1; Cg may be 0 (then K is empty and out = bias or 0).
  Scratch wr(static_cast<size_t>(std::max<int64_t>(c.Co * c.Kg(), 1)) * sizeof(float));
  if (c.Kg() > 0) reorder(c, w.ptr<float>(), wr.as<float>(), false, op);
  Args p = base_args(c);
  p.a = x.ptr<float>(), p.b = wr.as<float>();
  if (has_bias) p.bias = v[2].ptr<float>(), p.bstride = v[2].strides[0];
  p.out = out.ptr<float>();
  p.M = c.N * c.P();
  p.KC = c.Cg(), p.NC = c.Cog();
  p.kchunks = ceil_div(c.Cg(), units_depth(mt));
  p.ktiles = c.taps() * p.kchunks;
  p.R = c.P(), p.RS = c.Co * c.P();
  p.ntiles = static_cast<int>(ceil_div(c.Cog(), kBN));
  launch<Pass::Fwd>(op, p, mt, 1);
}
TF_REGISTER_KERNEL("conv2d", 2, 1, false, conv2d_cuda);
TF_REGISTER_KERNEL("conv2dBias", 3, 1, false, conv2d_cuda);

void conv2d_input_grad_cuda(std::vector<View>& v, const Attrs& attrs) {
  const char* op = "conv2dInputGrad";
  const ConvParams c = check_conv2d_input_grad(v, attrs);
  const View &gout = v[0], &w = v[1], &gx = v[2];
  if (gx.numel() == 0) return;
  check_sizes(op, c);
  const Math mt = pick_math(attrs);
  // Co may be 0 (K empty: gx = 0); Cg > 0 since gx is not empty.
  Scratch wr(static_cast<size_t>(std::max<int64_t>(c.Co * c.Kg(), 1)) * sizeof(float));
  if (c.Co > 0) reorder(c, w.ptr<float>(), wr.as<float>(), true, op);
  Args p = base_args(c);
  p.a = gout.ptr<float>(), p.b = wr.as<float>();
  p.out = gx.ptr<float>();
  p.M = c.N * c.HW();
  p.KC = c.Cog(), p.NC = c.Cg();
  p.kchunks = ceil_div(c.Cog(), units_depth(mt));
  p.ktiles = c.taps() * p.kchunks;
  p.R = c.HW(), p.RS = c.C * c.HW();
  p.ntiles = static_cast<int>(ceil_div(c.Cg(), kBN));
  launch<Pass::Dgrad>(op, p, mt, 1);
}
TF_REGISTER_KERNEL("conv2dInputGrad", 2, 1, false, conv2d_input_grad_cuda);

void conv2d_weight_grad_cuda(std::vector<View>& v, const Attrs& attrs) {
  const char* op = "conv2dWeightGrad";
  const ConvParams c = check_conv2d_weight_grad(v, attrs);
  const View &x = v[0], &gout = v[1], &gw = v[2];
  const int64_t wsize = c.Co * c.Kg();
  if (wsize == 0) return;
  float* GW = gw.ptr<float>();
  if (c.N == 0) {
    check(cudaMemsetAsync(GW, 0, static_cast<size_t>(wsize) * sizeof(float), stream()), op);
    return;
  }
  check_sizes(op, c);
  const Math mt = pick_math(attrs);
  Args p = base_args(c);
  p.a = x.ptr<float>(), p.b = gout.ptr<float>();
  p.M = c.Kg();
  p.KC = 0, p.NC = c.Cog();
  p.kchunks = ceil_div(c.P(), units_depth(mt));
  p.ktiles = c.N * p.kchunks;
  p.R = c.Kg(), p.RS = 0;
  p.ntiles = static_cast<int>(ceil_div(c.Cog(), kBN));
  // Split K until about four blocks per SM (two resident), each split at least 8 K tiles.
  const int64_t blocks = ceil_div(p.M, kBM) * p.ntiles * c.G;
  const int64_t want = 4 * static_cast<int64_t>(device_props().multiProcessorCount);
  int64_t splits = std::clamp<int64_t>(ceil_div(want, blocks), 1, 64);
  splits = std::min(splits, std::max<int64_t>(1, p.ktiles / 8));
  p.per = ceil_div(p.ktiles, splits);
  splits = ceil_div(p.ktiles, p.per);
  if (splits == 1) {
    p.out = GW;
    launch<Pass::Wgrad>(op, p, mt, 1);
    return;
  }
  Scratch partial(static_cast<size_t>(splits * wsize) * sizeof(float));
  p.out = partial.as<float>();
  p.zstride = wsize;
  launch<Pass::Wgrad>(op, p, mt, static_cast<int>(splits));
  sum_splits<<<grid_for(wsize, 256), 256, 0, stream()>>>(partial.as<float>(), GW, wsize, static_cast<int>(splits));
  check_launch(op);
}
TF_REGISTER_KERNEL("conv2dWeightGrad", 2, 1, false, conv2d_weight_grad_cuda);

}  // namespace
}  // namespace cuda
}  // namespace tf
