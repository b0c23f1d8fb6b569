// layerNorm and batchNorm on CUDA with the CPU kernels' semantics and formulas (native/cpu/norm.cpp):
// statistics in double, two passes (mean, then squared deviations); the saved mean is the
// float32-rounded mean and the centring uses it as hi + lo parts; the backward recovers the part
// the saved mean lost by summing x - hi; the same folded constants, the same running-stat update.
// Views may have any strides (a contiguous normalised block takes the index-free path).
//
// layerNorm: a warp per row when rows are at most 1024 elements (eight rows per block), a block of
// 512 per row beyond. The backward computes gx per row the same way and saves each row's centring
// correction; the weight and bias gradients are column sums over rows done by a separate kernel in
// a fixed number of row chunks (double partials in scratch, merged in chunk order by a third), so
// they never depend on timing, atomics or the device.
// batchNorm: channel statistics are reduced by (channel, split) blocks into double partials, the
// split count a function of the shape alone; a per-channel kernel merges them in split order and
// folds everything into per-channel constants; an elementwise kernel applies them.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "ops/norm.h"

namespace tf {
namespace cuda {
namespace {

// a / b for non-negative a, b: 32-bit division (far cheaper on the GPU) whenever both fit.
__device__ __forceinline__ int64_t div_nn(int64_t a, int64_t b) {
  return ((a | b) >> 31) == 0 ? static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b)) : a / b;
}

// ---- layout ----------------------------------------------------------------------------------

// A view split into leading dims [0, lead) (the row) and the trailing block [lead, ndim) (the
// element within the row); both row-major.
struct RowL {
  int lead, ndim;
  bool unit;  // the trailing block is contiguous: element i is at offset i
  int64_t shape[kMaxDims], strides[kMaxDims];

  static RowL of(const View& v, int lead) {
    RowL l{};
    l.lead = lead, l.ndim = v.ndim;
    int64_t expect = 1;
    l.unit = true;
    for (int d = v.ndim - 1; d >= 0; d--) {
      l.shape[d] = v.shape[d], l.strides[d] = v.strides[d];
      if (d >= lead) {
        if (v.shape[d] != 1 && v.strides[d] != expect) l.unit = false;
        expect *= v.shape[d];
      }
    }
    for (int d = v.ndim; d < kMaxDims; d++) l.shape[d] = 1, l.strides[d] = 0;
    return l;
  }
  __device__ __forceinline__ int64_t row(int64_t r) const {
    int64_t off = 0;
    for (int d = lead - 1; d >= 0 && r; d--) {
      const int64_t q = div_nn(r, shape[d]);
      off += (r - q * shape[d]) * strides[d];
      r = q;
    }
    return off;
  }
  __device__ __forceinline__ int64_t elem(int64_t i) const {
    if (unit) return i;
    int64_t off = 0;
    for (int d = ndim - 1; d >= lead && i; d--) {
      const int64_t q = div_nn(i, shape[d]);
      off += (i - q * shape[d]) * strides[d];
      i = q;
    }
    return off;
  }
};

__host__ __device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }

// Scratch of `bytes` (at least one byte, so an unused one never asks the allocator for nothing).
inline size_t at_least_one(size_t bytes) { return bytes ? bytes : 1; }

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over a group of G threads (a warp, or the whole block when G == blockDim.x), in a fixed
// order; every thread gets the result. `smem` holds G / 32 doubles; all G threads must call it.
template <int G>
__device__ __forceinline__ double group_sum(double v, double* smem) {
  v = warp_sum_d(v);
  if (G == kWarp) return v;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  __syncthreads();  // smem may still be read by the previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < G / kWarp ? smem[lane] : 0.0;
  return warp_sum_d(v);
}

// Rows handled by a block and this thread's row slot and rank within its group.
template <int G>
struct Group {
  static constexpr int kBlock = G == kWarp ? 256 : G;
  static constexpr int kRowsPerBlock = kBlock / G;
  __device__ static int slot() { return threadIdx.x / G; }
  __device__ static int rank() { return threadIdx.x % G; }
};

constexpr int kLnBigGroup = 512;  // threads per row beyond 1024 elements

// ---- layerNorm forward -----------------------------------------------------------------------

struct LnFwd {
  const float *x, *w, *b;
  float *y, *mean, *rstd;
  RowL xl, yl, wl, bl, ml, rl;
  int64_t rows, n;
  double eps;
  bool has_w, has_b;
};

template <int G>
__global__ void __launch_bounds__(Group<G>::kBlock) ln_fwd(const LnFwd a) {
  __shared__ double smem[kWarp];
  const int t = Group<G>::rank();
  const int64_t n = a.n;
  for (int64_t r = int64_t(blockIdx.x) * Group<G>::kRowsPerBlock + Group<G>::slot(); r < a.rows;
       r += int64_t(gridDim.x) * Group<G>::kRowsPerBlock) {
    // r is uniform over the group (a warp or the block), so group_sum is reached by all of it
    const float* xr = a.x + a.xl.row(r);
    double s = 0;
    for (int64_t i = t; i < n; i += G) s += static_cast<double>(xr[a.xl.elem(i)]);
    const double m = n ? group_sum<G>(s, smem) / n : NAN;
    double q = 0;
    for (int64_t i = t; i < n; i += G) {
      const double d = static_cast<double>(xr[a.xl.elem(i)]) - m;
      q += d * d;
    }
    const double var = n ? group_sum<G>(q, smem) / n : NAN;
    const float rs = static_cast<float>(1.0 / sqrt(var + a.eps));
    const float hi = static_cast<float>(m), lo = static_cast<float>(m - static_cast<double>(hi));
    float* yr = a.y + a.yl.row(r);
    for (int64_t i = t; i < n; i += G) {
      const float wv = a.has_w ? a.w[a.wl.elem(i)] : 1.0f, bv = a.has_b ? a.b[a.bl.elem(i)] : 0.0f;
      yr[a.yl.elem(i)] = ((xr[a.xl.elem(i)] - hi) - lo) * rs * wv + bv;
    }
    if (t == 0) {
      a.mean[a.ml.row(r)] = hi;
      a.rstd[a.rl.row(r)] = rs;
    }
  }
}

void layer_norm_kernel(std::vector<View>& v, const Attrs& attrs) {
  const LayerNormArgs s = check_layer_norm(v, attrs);
  if (s.rows == 0) return;
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &mean = v[4], &rstd = v[5];
  LnFwd a{x.ptr<float>(), w.ptr<float>(), b.ptr<float>(), y.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(),
          RowL::of(x, s.lead), RowL::of(y, s.lead), RowL::of(w, 0), RowL::of(b, 0), RowL::of(mean, s.lead),
          RowL::of(rstd, s.lead), s.rows, s.n, s.eps, s.has_w, s.has_b};
  const int64_t blocks_warp = ceil_div(s.rows, Group<kWarp>::kRowsPerBlock);
  const int64_t blocks_big = s.rows;
  const int64_t cap = static_cast<int64_t>(device_props().multiProcessorCount) * 32;
  if (s.n <= 1024)
    ln_fwd<kWarp><<<static_cast<unsigned>(std::min(blocks_warp, cap)), Group<kWarp>::kBlock, 0, stream()>>>(a);
  else
    ln_fwd<kLnBigGroup><<<static_cast<unsigned>(std::min(blocks_big, cap)), kLnBigGroup, 0, stream()>>>(a);
  check_launch("layerNorm");
}
TF_REGISTER_KERNEL("layerNorm", 3, 3, false, layer_norm_kernel);

// ---- layerNorm backward ----------------------------------------------------------------------

struct LnBwd {
  const float *x, *w, *mean, *rstd, *gy;
  float *gx, *gw, *gb;
  float* cen;  // per row: exact mean − saved mean (float), for the weight-gradient pass; may be null
  RowL xl, wl, ml, rl, gyl, gxl, gwl, gbl;
  int64_t rows, n;
  bool has_w, has_b;
};

// gx = rstd·(gy·w − mean(g) − x̂·mean(g·x̂)), x̂ = (x − hi − c)·rstd, g = gy·w. The _rn intrinsics
// keep the compiler from fusing into FMAs, which the CPU forbids here too: a fused gy·w − mean_g
// would leave rstd × rounding error where the terms cancel exactly (rows of one element).
template <int G>
__global__ void __launch_bounds__(Group<G>::kBlock) ln_bwd_rows(const LnBwd a) {
  __shared__ double smem[kWarp];
  const int t = Group<G>::rank();
  const int64_t n = a.n;
  for (int64_t r = int64_t(blockIdx.x) * Group<G>::kRowsPerBlock + Group<G>::slot(); r < a.rows;
       r += int64_t(gridDim.x) * Group<G>::kRowsPerBlock) {
    const float* xr = a.x + a.xl.row(r);
    const float* gr = a.gy + a.gyl.row(r);
    const float hi = a.mean[a.ml.row(r)], rs = a.rstd[a.rl.row(r)];
    double sd = 0, sg = 0, sgd = 0;
    for (int64_t i = t; i < n; i += G) {
      const float d = __fsub_rn(xr[a.xl.elem(i)], hi);
      const float g = a.has_w ? __fmul_rn(gr[a.gyl.elem(i)], a.w[a.wl.elem(i)]) : gr[a.gyl.elem(i)];
      sd += d;
      sg += g;
      sgd += static_cast<double>(g) * d;
    }
    sd = group_sum<G>(sd, smem);
    sg = group_sum<G>(sg, smem);
    sgd = group_sum<G>(sgd, smem);
    const double c = sd / n;                                   // exact mean − hi
    const double sum_gx = rs * (sgd - c * sg);                 // Σ g·x̂
    const float cf = static_cast<float>(c), mean_g = static_cast<float>(sg / n), mean_gx = static_cast<float>(sum_gx / n);
    float* gxr = a.gx + a.gxl.row(r);
    for (int64_t i = t; i < n; i += G) {
      const float xhat = __fmul_rn(__fsub_rn(__fsub_rn(xr[a.xl.elem(i)], hi), cf), rs);
      const float wv = a.has_w ? a.w[a.wl.elem(i)] : 1.0f;
      const float inner = __fsub_rn(__fsub_rn(__fmul_rn(gr[a.gyl.elem(i)], wv), mean_g), __fmul_rn(xhat, mean_gx));
      gxr[a.gxl.elem(i)] = __fmul_rn(rs, inner);
    }
    if (t == 0 && a.cen) a.cen[r] = cf;
  }
}

// Column sums over the rows of one chunk: gw[i] = Σ gy·x̂, gb[i] = Σ gy (double), 32 columns ×
// 8 row lanes per block, merged over the row lanes in a fixed order. With one chunk the block
// writes the gradients; otherwise its partials (2 · n doubles per chunk: gw, then gb).
constexpr int kColTile = 32, kRowLanes = 8;

__global__ void __launch_bounds__(kColTile* kRowLanes) ln_bwd_cols(const LnBwd a, int64_t per_chunk, double* partial) {
  __shared__ double sw[kRowLanes][kColTile], sb[kRowLanes][kColTile];
  const int tx = threadIdx.x % kColTile, ty = threadIdx.x / kColTile;
  const int64_t i = int64_t(blockIdx.x) * kColTile + tx;
  const int64_t chunk = blockIdx.y, r0 = chunk * per_chunk, r1 = lmin(a.rows, r0 + per_chunk);
  double gw = 0, gb = 0;
  if (i < a.n) {
    const int64_t xo = a.xl.elem(i), go = a.gyl.elem(i);
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
      const float g = a.gy[a.gyl.row(r) + go];
      const float hi = a.mean[a.ml.row(r)], rs = a.rstd[a.rl.row(r)];
      const float xhat = __fmul_rn(__fsub_rn(__fsub_rn(a.x[a.xl.row(r) + xo], hi), a.cen[r]), rs);
      gw += static_cast<double>(__fmul_rn(g, xhat));
      gb += static_cast<double>(g);
    }
  }
  sw[ty][tx] = gw;
  sb[ty][tx] = gb;
  __syncthreads();
  if (ty == 0 && i < a.n) {
    for (int k = 1; k < kRowLanes; k++) gw += sw[k][tx], gb += sb[k][tx];
    if (gridDim.y == 1) {
      if (a.has_w) a.gw[a.gwl.elem(i)] = static_cast<float>(gw);
      if (a.has_b) a.gb[a.gbl.elem(i)] = static_cast<float>(gb);
    } else {
      partial[2 * chunk * a.n + i] = gw;
      partial[(2 * chunk + 1) * a.n + i] = gb;
    }
  }
}

__global__ void ln_bwd_merge(const LnBwd a, int chunks, const double* __restrict__ partial) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < a.n; i += int64_t(gridDim.x) * blockDim.x) {
    double gw = 0, gb = 0;
    for (int c = 0; c < chunks; c++) gw += partial[2 * c * a.n + i], gb += partial[(2 * c + 1) * a.n + i];
    if (a.has_w) a.gw[a.gwl.elem(i)] = static_cast<float>(gw);
    if (a.has_b) a.gb[a.gbl.elem(i)] = static_cast<float>(gb);
  }
}

void layer_norm_backward_kernel(std::vector<View>& v, const Attrs& attrs) {
  const char* op = "layerNormBackward";
  const LayerNormArgs s = check_layer_norm_backward(v, attrs);
  const View &x = v[0], &w = v[1], &mean = v[2], &rstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const bool affine = s.has_w || s.has_b;
  if (s.rows == 0) {
    // no rows: the weight and bias gradients are empty sums (a merge of zero chunks writes 0)
    if (affine && s.n > 0) {
      LnBwd z{};
      z.gw = gw.ptr<float>(), z.gb = gb.ptr<float>(), z.gwl = RowL::of(gw, 0), z.gbl = RowL::of(gb, 0);
      z.n = s.n, z.has_w = s.has_w, z.has_b = s.has_b;
      ln_bwd_merge<<<grid_for(s.n, 256), 256, 0, stream()>>>(z, 0, nullptr);
      check_launch(op);
    }
    return;
  }
  if (s.n == 0) return;  // nothing to write: gx, gw and gb are all empty

  Scratch cen(at_least_one(affine ? sizeof(float) * s.rows : 0));
  LnBwd a{x.ptr<float>(), w.ptr<float>(), mean.ptr<float>(), rstd.ptr<float>(), gy.ptr<float>(), gx.ptr<float>(),
          gw.ptr<float>(), gb.ptr<float>(), affine ? cen.as<float>() : nullptr, RowL::of(x, s.lead), RowL::of(w, 0),
          RowL::of(mean, s.lead), RowL::of(rstd, s.lead), RowL::of(gy, s.lead), RowL::of(gx, s.lead), RowL::of(gw, 0),
          RowL::of(gb, 0), s.rows, s.n, s.has_w, s.has_b};
  const int64_t cap = static_cast<int64_t>(device_props().multiProcessorCount) * 32;
  if (s.n <= 1024)
    ln_bwd_rows<kWarp><<<static_cast<unsigned>(std::min(ceil_div(s.rows, Group<kWarp>::kRowsPerBlock), cap)),
                         Group<kWarp>::kBlock, 0, stream()>>>(a);
  else
    ln_bwd_rows<kLnBigGroup><<<static_cast<unsigned>(std::min(s.rows, cap)), kLnBigGroup, 0, stream()>>>(a);
  check_launch(op);
  if (!affine) return;

  // Chunks of >= 64 rows, at most 256 of them and 32 MiB of partials: a function of the shape only.
  const int64_t mem_cap = std::max<int64_t>(1, (int64_t(32) << 20) / (16 * s.n));
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>({ceil_div(s.rows, 64), 256, mem_cap}));
  const int64_t per_chunk = ceil_div(s.rows, chunks);
  const int64_t used = ceil_div(s.rows, per_chunk);  // chunks that hold rows
  Scratch partial(at_least_one(used > 1 ? sizeof(double) * 2 * used * s.n : 0));
  const int64_t col_tiles = ceil_div(s.n, kColTile);
  if (col_tiles > 0x7fffffff) throw Error(ErrorKind::Shape, std::string(op) + ": rows of " + std::to_string(s.n) + " elements are too long");
  dim3 grid(static_cast<unsigned>(col_tiles), static_cast<unsigned>(used));
  ln_bwd_cols<<<grid, kColTile * kRowLanes, 0, stream()>>>(a, per_chunk, partial.as<double>());
  check_launch(op);
  if (used > 1) {
    ln_bwd_merge<<<grid_for(s.n, 256), 256, 0, stream()>>>(a, static_cast<int>(used), partial.as<double>());
    check_launch(op);
  }
}
TF_REGISTER_KERNEL("layerNormBackward", 5, 3, false, layer_norm_backward_kernel);

// ---- batchNorm -------------------------------------------------------------------------------

// x [N, C, *spatial]: value j of channel c is sample j / S, spatial position j % S.
struct BnL {
  int64_t C, S, s0, s1;
  int sp;  // spatial dims
  bool unit;
  int64_t shape[kMaxDims], strides[kMaxDims];
  static BnL of(const View& v) {
    BnL l{};
    l.C = v.shape[1], l.s0 = v.strides[0], l.s1 = v.strides[1], l.sp = v.ndim - 2, l.S = 1, l.unit = true;
    int64_t expect = 1;
    for (int d = v.ndim - 1; d >= 2; d--) {
      l.shape[d - 2] = v.shape[d], l.strides[d - 2] = v.strides[d];
      if (v.shape[d] != 1 && v.strides[d] != expect) l.unit = false;
      expect *= v.shape[d];
      l.S *= v.shape[d];
    }
    return l;
  }
  __device__ __forceinline__ int64_t spatial(int64_t s) const {
    if (unit) return s;
    int64_t off = 0;
    for (int d = sp - 1; d >= 0 && s; d--) {
      const int64_t q = div_nn(s, shape[d]);
      off += (s - q * shape[d]) * strides[d];
      s = q;
    }
    return off;
  }
  // Offset of value j of channel c.
  __device__ __forceinline__ int64_t at(int64_t c, int64_t j) const {
    const int64_t n = div_nn(j, S);
    return n * s0 + c * s1 + spatial(j - n * S);
  }
};

constexpr int kBnThreads = 256;
constexpr int64_t kBnSplitValues = 16384;  // values per (channel, split) block, roughly
constexpr int kBnMaxSplits = 256;

int bn_splits(int64_t M) { return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(kBnMaxSplits, ceil_div(M, kBnSplitValues)))); }

__device__ __forceinline__ void split_range(int64_t M, int splits, int k, int64_t& j0, int64_t& j1) {
  const int64_t per = (M + splits - 1) / splits;
  j0 = lmin(M, k * per);
  j1 = lmin(M, j0 + per);
}

// Mean of channel c from its split partial sums, merged in split order.
__device__ __forceinline__ double bn_mean(const double* part_sum, int64_t c, int splits, int64_t M) {
  double s = 0;
  for (int k = 0; k < splits; k++) s += part_sum[c * splits + k];
  return s / M;
}

// Pass 1 (sq == false): Σ x per (channel, split). Pass 2 (sq == true): Σ (x − mean)², the mean
// merged from pass 1's partials by one thread with bn_mean, as bn_finalize does, so the centring
// and the saved mean are the same double.
template <bool kSq>
__global__ void __launch_bounds__(kBnThreads) bn_stat_partial(const float* __restrict__ x, BnL xl, int64_t M,
                                                             const double* __restrict__ part_sum, double* __restrict__ out) {
  __shared__ double smem[kWarp];
  const int64_t c = blockIdx.x;
  const int splits = gridDim.y, k = blockIdx.y;
  int64_t j0, j1;
  split_range(M, splits, k, j0, j1);
  __shared__ double mean_s;
  double m = 0.0;
  if (kSq) {  // kSq is a template constant: every thread of the block reaches the barrier
    if (threadIdx.x == 0) mean_s = bn_mean(part_sum, c, splits, M);
    __syncthreads();
    m = mean_s;
  }
  double s = 0;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += kBnThreads) {
    const double v = x[xl.at(c, j)];
    if (kSq) s += (v - m) * (v - m);
    else s += v;
  }
  s = group_sum<kBnThreads>(s, smem);
  if (threadIdx.x == 0) out[c * splits + k] = s;
}

struct BnFinal {
  const float *w, *b;
  float *smean, *srstd, *rmean, *rvar;
  int64_t sw, sb, ssm, ssr, srm, srv;  // strides of the channel vectors
  const double *part_sum, *part_sq;
  float4* coef;  // per channel: hi, lo, scale, shift
  int64_t C, M;
  int splits;
  double eps, momentum;
  bool training, has_w, has_b, has_r;
};

// Per channel: the statistics, the running update (training with running stats), the saved
// mean and rstd, and the constants of y = ((x − hi) − lo)·scale + shift.
__global__ void bn_finalize(const BnFinal a) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < a.C; c += int64_t(gridDim.x) * blockDim.x) {
    double m, var;
    if (a.training) {
      m = bn_mean(a.part_sum, c, a.splits, a.M);
      double q = 0;
      for (int k = 0; k < a.splits; k++) q += a.part_sq[c * a.splits + k];
      var = q / a.M;
      if (a.has_r) {
        float& rm = a.rmean[c * a.srm];
        float& rv = a.rvar[c * a.srv];
        // the CPU's expressions, unfused: (1 − momentum)·running + momentum·batch
        const double md = static_cast<double>(a.M);
        rm = static_cast<float>(__dadd_rn(__dmul_rn(1 - a.momentum, rm), __dmul_rn(a.momentum, m)));
        rv = static_cast<float>(
            __dadd_rn(__dmul_rn(1 - a.momentum, rv), __ddiv_rn(__dmul_rn(__dmul_rn(a.momentum, var), md), md - 1)));
      }
    } else {
      m = a.rmean[c * a.srm];
      var = a.rvar[c * a.srv];
    }
    const float rs = static_cast<float>(1.0 / sqrt(var + a.eps));
    const float hi = static_cast<float>(m), lo = static_cast<float>(m - static_cast<double>(hi));
    const float wc = a.has_w ? a.w[c * a.sw] : 1.0f, bc = a.has_b ? a.b[c * a.sb] : 0.0f;
    a.coef[c] = make_float4(hi, lo, rs * wc, bc);
    a.smean[c * a.ssm] = hi;
    a.srstd[c * a.ssr] = rs;
  }
}

// Elementwise over [N, C, S] in the output's row-major order.
__global__ void bn_apply(const float* __restrict__ x, float* __restrict__ y, BnL xl, BnL yl, const float4* __restrict__ coef,
                         int64_t total) {
  const int64_t CS = xl.C * xl.S;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = div_nn(i, CS), rem = i - n * CS, c = div_nn(rem, xl.S), s = rem - c * xl.S;
    const float4 k = coef[c];
    const float xv = x[n * xl.s0 + c * xl.s1 + xl.spatial(s)];
    y[n * yl.s0 + c * yl.s1 + yl.spatial(s)] = ((xv - k.x) - k.y) * k.z + k.w;
  }
}

void batch_norm_kernel(std::vector<View>& v, const Attrs& attrs) {
  const char* op = "batchNorm";
  const BatchNormArgs s = check_batch_norm(v, attrs);
  if (s.C == 0) return;
  if (s.C > 0x7fffffff) throw Error(ErrorKind::Shape, std::string(op) + ": too many channels");
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &smean = v[4], &srstd = v[5], &rmean = v[6], &rvar = v[7];
  const BnL xl = BnL::of(x), yl = BnL::of(y);
  const int splits = bn_splits(s.M);
  Scratch part(at_least_one(s.training ? sizeof(double) * 2 * s.C * splits : 0));
  Scratch coef(sizeof(float4) * s.C);
  double* part_sum = s.training ? part.as<double>() : nullptr;
  double* part_sq = s.training ? part.as<double>() + s.C * splits : nullptr;
  if (s.training) {
    dim3 grid(static_cast<unsigned>(s.C), static_cast<unsigned>(splits));
    bn_stat_partial<false><<<grid, kBnThreads, 0, stream()>>>(x.ptr<float>(), xl, s.M, nullptr, part_sum);
    check_launch(op);
    bn_stat_partial<true><<<grid, kBnThreads, 0, stream()>>>(x.ptr<float>(), xl, s.M, part_sum, part_sq);
    check_launch(op);
  }
  auto stride0 = [](const View& t) { return t.ndim ? t.strides[0] : int64_t(0); };
  BnFinal f{w.ptr<float>(),     b.ptr<float>(),     smean.ptr<float>(), srstd.ptr<float>(), rmean.ptr<float>(),
            rvar.ptr<float>(),  stride0(w),         stride0(b),         stride0(smean),     stride0(srstd),
            stride0(rmean),     stride0(rvar),      part_sum,           part_sq,            coef.as<float4>(),
            s.C,                s.M,                splits,             s.eps,              s.momentum,
            s.training,         s.has_w,            s.has_b,            s.has_r};
  bn_finalize<<<grid_for(s.C, 128), 128, 0, stream()>>>(f);
  check_launch(op);
  const int64_t total = s.C * s.M;
  if (total == 0) return;
  bn_apply<<<grid_for(total, kBnThreads), kBnThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), xl, yl, coef.as<float4>(), total);
  check_launch(op);
}
TF_REGISTER_KERNEL("batchNorm", 3, 5, false, batch_norm_kernel);

// ---- batchNorm backward ----------------------------------------------------------------------

// Σ d, Σ gy, Σ gy·d per (channel, split) with d = x − hi (float, exact near the mean).
__global__ void __launch_bounds__(kBnThreads) bn_bwd_partial(const float* __restrict__ x, const float* __restrict__ gy, BnL xl,
                                                            BnL gl, const float* __restrict__ smean, int64_t ssm, int64_t M,
                                                            double* __restrict__ out) {
  __shared__ double smem[kWarp];
  const int64_t c = blockIdx.x;
  const int splits = gridDim.y, k = blockIdx.y;
  int64_t j0, j1;
  split_range(M, splits, k, j0, j1);
  const float hi = smean[c * ssm];
  double sd = 0, sg = 0, sgd = 0;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += kBnThreads) {
    const float d = __fsub_rn(x[xl.at(c, j)], hi), g = gy[gl.at(c, j)];
    sd += d;
    sg += g;
    sgd += static_cast<double>(g) * d;
  }
  sd = group_sum<kBnThreads>(sd, smem);
  sg = group_sum<kBnThreads>(sg, smem);
  sgd = group_sum<kBnThreads>(sgd, smem);
  if (threadIdx.x == 0) {
    double* o = out + 3 * (c * splits + k);
    o[0] = sd, o[1] = sg, o[2] = sgd;
  }
}

struct BnBwdFinal {
  const float *w, *smean, *srstd;
  float *gw, *gb;
  int64_t sw, ssm, ssr, sgw, sgb;
  const double* part;
  float4* coef;  // hi, c, a, k
  float* shift;  // s
  int64_t C, M;
  int splits;
  bool training, has_w, has_b;
};

// gx = a·gy + k·(x − hi − c) + s: the training formula folded per channel (eval: k = s = 0).
__global__ void bn_bwd_finalize(const BnBwdFinal f) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < f.C; c += int64_t(gridDim.x) * blockDim.x) {
    double sd = 0, sg = 0, sgd = 0;
    for (int k = 0; k < f.splits; k++) {
      const double* p = f.part + 3 * (c * f.splits + k);
      sd += p[0], sg += p[1], sgd += p[2];
    }
    const float hi = f.smean[c * f.ssm], rs = f.srstd[c * f.ssr];
    const float wc = f.has_w ? f.w[c * f.sw] : 1.0f;
    // eval mode saved the running mean itself: nothing was lost in rounding it
    const double cen = f.training && f.M ? sd / f.M : 0;
    const double sum_gy_xhat = rs * (sgd - cen * sg);
    float ka = wc * rs, kk = 0, ks = 0;
    if (f.training && f.M) {
      kk = static_cast<float>(-static_cast<double>(wc) * rs * rs * sum_gy_xhat / f.M);
      ks = static_cast<float>(-static_cast<double>(wc) * rs * sg / f.M);
    }
    f.coef[c] = make_float4(hi, static_cast<float>(cen), ka, kk);
    f.shift[c] = ks;
    if (f.has_w) f.gw[c * f.sgw] = static_cast<float>(sum_gy_xhat);
    if (f.has_b) f.gb[c * f.sgb] = static_cast<float>(sg);
  }
}

__global__ void bn_bwd_apply(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ gx, BnL xl, BnL gl,
                             BnL ol, const float4* __restrict__ coef, const float* __restrict__ shift, int64_t total) {
  const int64_t CS = xl.C * xl.S;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = div_nn(i, CS), rem = i - n * CS, c = div_nn(rem, xl.S), s = rem - c * xl.S;
    const float4 k = coef[c];
    const float xv = x[n * xl.s0 + c * xl.s1 + xl.spatial(s)], g = gy[n * gl.s0 + c * gl.s1 + gl.spatial(s)];
    gx[n * ol.s0 + c * ol.s1 + ol.spatial(s)] = k.z * g + k.w * ((xv - k.x) - k.y) + shift[c];
  }
}

void batch_norm_backward_kernel(std::vector<View>& v, const Attrs& attrs) {
  const char* op = "batchNormBackward";
  const BatchNormArgs s = check_batch_norm_backward(v, attrs);
  if (s.C == 0) return;
  if (s.C > 0x7fffffff) throw Error(ErrorKind::Shape, std::string(op) + ": too many channels");
  const View &x = v[0], &w = v[1], &smean = v[2], &srstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const BnL xl = BnL::of(x), gl = BnL::of(gy), ol = BnL::of(gx);
  const int splits = bn_splits(s.M);
  Scratch part(sizeof(double) * 3 * s.C * splits);
  Scratch coef(sizeof(float4) * s.C), shift(sizeof(float) * s.C);
  auto stride0 = [](const View& t) { return t.ndim ? t.strides[0] : int64_t(0); };
  dim3 grid(static_cast<unsigned>(s.C), static_cast<unsigned>(splits));
  bn_bwd_partial<<<grid, kBnThreads, 0, stream()>>>(x.ptr<float>(), gy.ptr<float>(), xl, gl, smean.ptr<float>(), stride0(smean),
                                                    s.M, part.as<double>());
  check_launch(op);
  BnBwdFinal f{w.ptr<float>(), smean.ptr<float>(), srstd.ptr<float>(), gw.ptr<float>(), gb.ptr<float>(),
               stride0(w),     stride0(smean),     stride0(srstd),     stride0(gw),     stride0(gb),
               part.as<double>(), coef.as<float4>(), shift.as<float>(), s.C, s.M, splits, s.training, s.has_w, s.has_b};
  bn_bwd_finalize<<<grid_for(s.C, 128), 128, 0, stream()>>>(f);
  check_launch(op);
  const int64_t total = s.C * s.M;
  if (total == 0) return;
  bn_bwd_apply<<<grid_for(total, kBnThreads), kBnThreads, 0, stream()>>>(x.ptr<float>(), gy.ptr<float>(), gx.ptr<float>(), xl, gl,
                                                                        ol, coef.as<float4>(), shift.as<float>(), total);
  check_launch(op);
}
TF_REGISTER_KERNEL("batchNormBackward", 5, 3, false, batch_norm_backward_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
