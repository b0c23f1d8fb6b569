// 2-D pooling on CUDA with the CPU kernels' semantics (native/cpu/pool.cpp): NCHW float32 views of
// any strides, int32 argmax indices (flat h*W + w within each plane), NaN wins a max window (the
// last NaN in row-major order), ties keep the first position, torch's avg-pool divisor rules, and
// adaptive windows [floor(i*H/o), ceil((i+1)*H/o)).
//
// Forward: one thread per output element, consecutive threads on consecutive output columns
// (coalesced when the output is), each scanning its window in row-major order, so every sum is
// added in the CPU's order. Adaptive pooling with large windows (the global pool before a
// classifier) gives each output a warp instead, so a few planes of many elements still fill the GPU.
//
// Backward: gathers. Each input element finds the outputs whose windows contain it (from the
// window arithmetic) and sums their gradients in row-major output order: no atomics, one write per
// input, deterministic, and for max pooling bit-identical to the CPU's scatter. maxPool2dBackward
// gathers when it is given the forward's window attributes (or adaptive = 1), as ts/ops/pool.ts
// does; a caller passing only indices gets a scatter with atomicAdd into a zeroed gradient.
//
// Data checks: the CPU rejects indices outside [-1, H*W) with an IndexError. A kernel cannot raise
// one without a synchronising read, so here such indices contribute nothing (the gather never
// matches them, the scatter skips them); indices made by maxPool2d are always in range.
#include <algorithm>
#include <cstdint>

#include "common.cuh"
#include "index_check.h"
#include "ops/pool.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// a / b for non-negative a, b: 32-bit division (far cheaper on the GPU) whenever both fit.
__device__ __forceinline__ int64_t div_nn(int64_t a, int64_t b) {
  return ((a | b) >> 31) == 0 ? static_cast<int64_t>(static_cast<uint32_t>(a) / static_cast<uint32_t>(b)) : a / b;
}

// A 4-D NCHW view's strides and channel count, to find plane p = n*C + c.
struct L4 {
  int64_t C, s0, s1, s2, s3;
  static L4 of(const View& v) { return {v.shape[1], v.strides[0], v.strides[1], v.strides[2], v.strides[3]}; }
  __device__ __forceinline__ int64_t plane(int64_t p) const {
    const int64_t n = div_nn(p, C);
    return n * s0 + (p - n * C) * s1;
  }
  __device__ __forceinline__ int64_t at(int64_t p, int64_t h, int64_t w) const { return plane(p) + h * s2 + w * s3; }
};

struct Win {
  int64_t H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
  static Win of(const PoolGeom& g) { return {g.H, g.W, g.OH, g.OW, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw}; }
};

__host__ __device__ __forceinline__ int64_t lmin(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int64_t lmax(int64_t a, int64_t b) { return a > b ? a : b; }

__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? div_nn(a, b) : -div_nn(-a + b - 1, b); }

// Valid taps [k0, k1) of a window starting at `start` (step d, k taps) over n positions.
__device__ __forceinline__ void valid_taps(int64_t start, int64_t k, int64_t d, int64_t n, int64_t& k0, int64_t& k1) {
  k0 = start < 0 ? div_nn(-start + d - 1, d) : 0;
  k1 = n - start <= 0 ? 0 : lmin(k, div_nn(n - start + d - 1, d));
  if (k1 < k0) k1 = k0;
}

// torch's max rule scanning in row-major order: a larger value or a NaN replaces the best so far.
__device__ __forceinline__ void max_take(float v, int32_t pos, float& m, int32_t& best) {
  if (best < 0 || v > m || v != v) {
    m = v;
    best = pos;
  }
}

// Splits a linear row-major index over [P, OH, OW].
__device__ __forceinline__ void split3(int64_t i, int64_t OH, int64_t OW, int64_t& p, int64_t& oh, int64_t& ow) {
  const int64_t t = div_nn(i, OW);
  ow = i - t * OW;
  p = div_nn(t, OH);
  oh = t - p * OH;
}

void launch_check(const char* op) { check_launch(op); }

// ---- maxPool2d ---------------------------------------------------------------------------------

__global__ void max_pool_fwd(const float* __restrict__ x, float* __restrict__ y, int32_t* __restrict__ ix, Win g, L4 xl,
                             L4 yl, L4 il, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
    int64_t k0, k1, j0, j1;
    valid_taps(hs, g.kh, g.dh, g.H, k0, k1);
    valid_taps(ws, g.kw, g.dw, g.W, j0, j1);
    float m = -INFINITY;
    int32_t best = -1;  // stays -1 (with -inf) when the window lies wholly in the padding
    for (int64_t a = k0; a < k1; a++) {
      const int64_t h = hs + a * g.dh;
      const float* row = xp + h * xl.s2;
      for (int64_t b = j0; b < j1; b++) {
        const int64_t w = ws + b * g.dw;
        max_take(__ldg(row + w * xl.s3), static_cast<int32_t>(h * g.W + w), m, best);
      }
    }
    y[yl.at(p, oh, ow)] = m;
    ix[il.at(p, oh, ow)] = best;
  }
}

void max_pool_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1], &ix = v[2];
  PoolGeom g = check_max_pool(v, a);
  const int64_t total = g.planes() * g.OH * g.OW;
  if (total == 0) return;
  max_pool_fwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), ix.ptr<int32_t>(),
                                                                    Win::of(g), L4::of(x), L4::of(y), L4::of(ix), total);
  launch_check("maxPool2d");
}
TF_REGISTER_KERNEL("maxPool2d", 1, 2, false, max_pool_kernel);

// Outputs [lo, hi] along one dim whose windows may hold input position h (a superset is fine:
// a gather only adds the outputs whose index names h).
struct Range {
  int64_t lo, hi;  // inclusive; empty when lo > hi
};
// Windows o*s - p + t*d, t in [0, k): o*s in [h + p - (k-1)*d, h + p].
__device__ __forceinline__ Range window_range(int64_t h, int64_t k, int64_t s, int64_t p, int64_t d, int64_t O) {
  const int64_t lo = floor_div(h + p - (k - 1) * d - 1, s) + 1;  // ceil((h + p - (k-1)d) / s)
  const int64_t hi = floor_div(h + p, s);
  return {lmax(lo, 0), lmin(hi, O - 1)};
}
// Adaptive cell o covers [floor(o*n/O), ceil((o+1)*n/O)): h lies in cells [floor(h*O/n), ceil((h+1)*O/n) - 1].
__device__ __forceinline__ Range adaptive_range(int64_t h, int64_t n, int64_t O) {
  return {div_nn(h * O, n), lmin(div_nn((h + 1) * O + n - 1, n) - 1, O - 1)};
}

// One thread per input element: the sum, in row-major output order, of the gradients of the
// outputs whose argmax is this element.
template <bool kAdaptive>
__global__ void max_pool_bwd_gather(const float* __restrict__ g, const int32_t* __restrict__ ix, float* __restrict__ gx,
                                    Win w, L4 gl, L4 il, L4 xl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, h, c;
    split3(i, w.H, w.W, p, h, c);
    Range rh = kAdaptive ? adaptive_range(h, w.H, w.OH) : window_range(h, w.kh, w.sh, w.ph, w.dh, w.OH);
    Range rw = kAdaptive ? adaptive_range(c, w.W, w.OW) : window_range(c, w.kw, w.sw, w.pw, w.dw, w.OW);
    const int32_t me = static_cast<int32_t>(h * w.W + c);
    const float* gp = g + gl.plane(p);
    const int32_t* ip = ix + il.plane(p);
    float s = 0.0f;
    for (int64_t oh = rh.lo; oh <= rh.hi; oh++)
      for (int64_t ow = rw.lo; ow <= rw.hi; ow++)
        if (__ldg(ip + oh * il.s2 + ow * il.s3) == me) s += __ldg(gp + oh * gl.s2 + ow * gl.s3);
    gx[xl.at(p, h, c)] = s;
  }
}

__global__ void fill_zero4(float* __restrict__ d, L4 l, int64_t H, int64_t W, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, h, w;
    split3(i, H, W, p, h, w);
    d[l.at(p, h, w)] = 0.0f;
  }
}

// The attribute-less fallback: each output adds its gradient at its index (atomics, since the
// caller did not say which windows overlap).
__global__ void max_pool_bwd_scatter(const float* __restrict__ g, const int32_t* __restrict__ ix, float* __restrict__ gx,
                                     int64_t OH, int64_t OW, int32_t W, int32_t HW, L4 gl, L4 il, L4 xl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, oh, ow;
    split3(i, OH, OW, p, oh, ow);
    const int32_t k = __ldg(ix + il.at(p, oh, ow));
    if (k < 0 || k >= HW) continue;  // -1: a window wholly in the padding; others: see the top
    atomicAdd(gx + xl.at(p, k / W, k % W), __ldg(g + gl.at(p, oh, ow)));
  }
}

void max_pool_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const char* op = "maxPool2dBackward";
  const View &g = v[0], &ix = v[1], &gx = v[2];
  MaxPoolBackwardArgs r = check_max_pool_backward(v, a);
  const PoolGeom& geo = r.g;
  const int64_t inputs = geo.planes() * geo.H * geo.W;
  if (inputs == 0) return;
  const Win w = Win::of(geo);
  const unsigned blocks = grid_for(inputs, kThreads);
  switch (r.mode) {
    case MaxBackwardMode::Window:
      max_pool_bwd_gather<false><<<blocks, kThreads, 0, stream()>>>(g.ptr<float>(), ix.ptr<int32_t>(), gx.ptr<float>(), w,
                                                                   L4::of(g), L4::of(ix), L4::of(gx), inputs);
      break;
    case MaxBackwardMode::Adaptive:
      max_pool_bwd_gather<true><<<blocks, kThreads, 0, stream()>>>(g.ptr<float>(), ix.ptr<int32_t>(), gx.ptr<float>(), w,
                                                                  L4::of(g), L4::of(ix), L4::of(gx), inputs);
      break;
    case MaxBackwardMode::Scatter: {
      // indices alone (no window to gather by): they must be -1 or inside a plane, as on the CPU;
      // the gather modes match positions and never follow an index, so they need no check
      const int64_t plane = geo.H * geo.W;
      const BadIndex bad = first_bad_index(ix, -1, plane, kNoExtraIndex, op);
      if (bad.position >= 0)
        throw Error(ErrorKind::Index, std::string(op) + ": index " + std::to_string(bad.value) +
                                          " is out of range for planes of " + std::to_string(plane) + " elements");
      if (gx.contiguous()) {
        check(cudaMemsetAsync(gx.data, 0, sizeof(float) * inputs, stream()), op);
      } else {
        fill_zero4<<<blocks, kThreads, 0, stream()>>>(gx.ptr<float>(), L4::of(gx), geo.H, geo.W, inputs);
        launch_check(op);
      }
      const int64_t outputs = geo.planes() * geo.OH * geo.OW;
      if (outputs == 0) return;
      max_pool_bwd_scatter<<<grid_for(outputs, kThreads), kThreads, 0, stream()>>>(
          g.ptr<float>(), ix.ptr<int32_t>(), gx.ptr<float>(), geo.OH, geo.OW, static_cast<int32_t>(geo.W),
          static_cast<int32_t>(geo.H * geo.W), L4::of(g), L4::of(ix), L4::of(gx), outputs);
      break;
    }
  }
  launch_check(op);
}
TF_REGISTER_KERNEL("maxPool2dBackward", 2, 1, false, max_pool_backward_kernel);

// ---- avgPool2d ---------------------------------------------------------------------------------

struct AvgOpt {
  bool count_include_pad;
  int64_t divisor_override;
};

// torch's divisor for window (oh, ow): its extent clipped to the padded input, or the part inside
// the input without countIncludePad, or the override. Computed in float as the CPU does.
__device__ __forceinline__ float avg_divisor(const Win& g, const AvgOpt& o, int64_t oh, int64_t ow) {
  if (o.divisor_override) return static_cast<float>(o.divisor_override);
  const int64_t hs = oh * g.sh - g.ph, he = lmin(hs + g.kh, g.H + g.ph);
  const int64_t ws = ow * g.sw - g.pw, we = lmin(ws + g.kw, g.W + g.pw);
  if (o.count_include_pad) return static_cast<float>((he - hs) * (we - ws));
  return static_cast<float>((lmin(he, g.H) - lmax(hs, 0)) * (lmin(we, g.W) - lmax(ws, 0)));
}

__global__ void avg_pool_fwd(const float* __restrict__ x, float* __restrict__ y, Win g, AvgOpt o, L4 xl, L4 yl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
    const int64_t h0 = lmax(hs, 0), h1 = lmin(lmin(hs + g.kh, g.H + g.ph), g.H);
    const int64_t w0 = lmax(ws, 0), w1 = lmin(lmin(ws + g.kw, g.W + g.pw), g.W);
    float s = 0.0f;
    for (int64_t h = h0; h < h1; h++)
      for (int64_t w = w0; w < w1; w++) s += __ldg(xp + h * xl.s2 + w * xl.s3);
    y[yl.at(p, oh, ow)] = s / avg_divisor(g, o, oh, ow);
  }
}

void avg_pool_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  AvgPoolOpts opt;
  PoolGeom g = check_avg_pool(v, a, opt);
  const int64_t total = g.planes() * g.OH * g.OW;
  if (total == 0) return;
  avg_pool_fwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), Win::of(g),
                                                                    AvgOpt{opt.count_include_pad, opt.divisor_override},
                                                                    L4::of(x), L4::of(y), total);
  launch_check("avgPool2d");
}
TF_REGISTER_KERNEL("avgPool2d", 1, 1, false, avg_pool_kernel);

// One thread per input element: Σ g[oh, ow] / divisor over the windows holding it (the windows'
// extents inside the input are what the forward summed, so only those count).
__global__ void avg_pool_bwd(const float* __restrict__ g, float* __restrict__ gx, Win w, AvgOpt o, L4 gl, L4 xl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, h, c;
    split3(i, w.H, w.W, p, h, c);
    const Range rh = window_range(h, w.kh, w.sh, w.ph, 1, w.OH), rw = window_range(c, w.kw, w.sw, w.pw, 1, w.OW);
    const float* gp = g + gl.plane(p);
    float s = 0.0f;
    for (int64_t oh = rh.lo; oh <= rh.hi; oh++)
      for (int64_t ow = rw.lo; ow <= rw.hi; ow++) s += __ldg(gp + oh * gl.s2 + ow * gl.s3) / avg_divisor(w, o, oh, ow);
    gx[xl.at(p, h, c)] = s;
  }
}

void avg_pool_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &gy = v[0], &gx = v[1];
  AvgPoolOpts opt;
  PoolGeom g = check_avg_pool_backward(v, a, opt);
  const int64_t total = g.planes() * g.H * g.W;
  if (total == 0) return;
  avg_pool_bwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(gy.ptr<float>(), gx.ptr<float>(), Win::of(g),
                                                                    AvgOpt{opt.count_include_pad, opt.divisor_override},
                                                                    L4::of(gy), L4::of(gx), total);
  launch_check("avgPool2dBackward");
}
TF_REGISTER_KERNEL("avgPool2dBackward", 1, 1, false, avg_pool_backward_kernel);

// ---- adaptive pooling --------------------------------------------------------------------------

__device__ __forceinline__ int64_t ad_start(int64_t i, int64_t n, int64_t o) { return div_nn(i * n, o); }
__device__ __forceinline__ int64_t ad_end(int64_t i, int64_t n, int64_t o) { return div_nn((i + 1) * n + o - 1, o); }

// Windows of more than this many elements get a warp per output.
constexpr int64_t kWarpWindow = 128;

// Largest adaptive window along one dim: ceil(n/o) + 1 bounds it.
int64_t max_adaptive_window(int64_t n, int64_t o) { return lmin(n, (n + o - 1) / o + 1); }

// Thread per output; sums in double like the CPU.
__global__ void adaptive_avg_fwd(const float* __restrict__ x, float* __restrict__ y, Win g, L4 xl, L4 yl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
    const int64_t ws = ad_start(ow, g.W, g.OW), we = ad_end(ow, g.W, g.OW);
    double s = 0;
    for (int64_t h = hs; h < he; h++)
      for (int64_t w = ws; w < we; w++) s += __ldg(xp + h * xl.s2 + w * xl.s3);
    y[yl.at(p, oh, ow)] = static_cast<float>(s / static_cast<double>((he - hs) * (we - ws)));
  }
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Warp per output: lanes stride over the window's elements (row-major), each in double.
__global__ void adaptive_avg_fwd_warp(const float* __restrict__ x, float* __restrict__ y, Win g, L4 xl, L4 yl, int64_t total) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; i < total; i += warps) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
    const int64_t ws = ad_start(ow, g.W, g.OW), we = ad_end(ow, g.W, g.OW);
    const int64_t ww = we - ws, area = (he - hs) * ww;
    double s = 0;
    for (int64_t e = lane; e < area; e += kWarp) {
      const int64_t dh = div_nn(e, ww);
      s += __ldg(xp + (hs + dh) * xl.s2 + (ws + e - dh * ww) * xl.s3);
    }
    s = warp_sum_d(s);
    if (lane == 0) y[yl.at(p, oh, ow)] = static_cast<float>(s / static_cast<double>(area));
  }
}

void adaptive_avg_kernel(std::vector<View>& v, const Attrs&) {
  const View &x = v[0], &y = v[1];
  PoolGeom g = check_adaptive_avg_pool(v);
  const int64_t total = g.planes() * g.OH * g.OW;
  if (total == 0) return;
  if (max_adaptive_window(g.H, g.OH) * max_adaptive_window(g.W, g.OW) > kWarpWindow)
    adaptive_avg_fwd_warp<<<grid_for(total * kWarp, kThreads), kThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), Win::of(g),
                                                                                      L4::of(x), L4::of(y), total);
  else
    adaptive_avg_fwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), Win::of(g), L4::of(x),
                                                                          L4::of(y), total);
  launch_check("adaptiveAvgPool2d");
}
TF_REGISTER_KERNEL("adaptiveAvgPool2d", 1, 1, false, adaptive_avg_kernel);

// One thread per input element: Σ g / window size over the cells holding it, in row-major order.
__global__ void adaptive_avg_bwd(const float* __restrict__ g, float* __restrict__ gx, Win w, L4 gl, L4 xl, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, h, c;
    split3(i, w.H, w.W, p, h, c);
    const Range rh = adaptive_range(h, w.H, w.OH), rw = adaptive_range(c, w.W, w.OW);
    const float* gp = g + gl.plane(p);
    float s = 0.0f;
    for (int64_t oh = rh.lo; oh <= rh.hi; oh++) {
      const int64_t hn = ad_end(oh, w.H, w.OH) - ad_start(oh, w.H, w.OH);
      for (int64_t ow = rw.lo; ow <= rw.hi; ow++) {
        const int64_t wn = ad_end(ow, w.W, w.OW) - ad_start(ow, w.W, w.OW);
        s += __ldg(gp + oh * gl.s2 + ow * gl.s3) / static_cast<float>(hn * wn);
      }
    }
    gx[xl.at(p, h, c)] = s;
  }
}

void adaptive_avg_backward_kernel(std::vector<View>& v, const Attrs&) {
  const View &gy = v[0], &gx = v[1];
  PoolGeom g = check_adaptive_avg_pool_backward(v);
  const int64_t total = g.planes() * g.H * g.W;
  if (total == 0) return;
  adaptive_avg_bwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(gy.ptr<float>(), gx.ptr<float>(), Win::of(g),
                                                                        L4::of(gy), L4::of(gx), total);
  launch_check("adaptiveAvgPool2dBackward");
}
TF_REGISTER_KERNEL("adaptiveAvgPool2dBackward", 1, 1, false, adaptive_avg_backward_kernel);

__global__ void adaptive_max_fwd(const float* __restrict__ x, float* __restrict__ y, int32_t* __restrict__ ix, Win g, L4 xl,
                                 L4 yl, L4 il, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
    const int64_t ws = ad_start(ow, g.W, g.OW), we = ad_end(ow, g.W, g.OW);
    float m = -INFINITY;
    int32_t best = -1;
    for (int64_t h = hs; h < he; h++)
      for (int64_t w = ws; w < we; w++) max_take(__ldg(xp + h * xl.s2 + w * xl.s3), static_cast<int32_t>(h * g.W + w), m, best);
    y[yl.at(p, oh, ow)] = m;
    ix[il.at(p, oh, ow)] = best;
  }
}

// The sequential max rule as a commutative, associative merge of (value, position) pairs, so a
// warp may scan a window in any split: any NaN beats numbers and the later NaN wins; otherwise the
// larger value wins and a tie goes to the earlier position. best < 0 means "nothing seen yet".
__device__ __forceinline__ void max_merge(float& m, int32_t& best, float m2, int32_t best2) {
  if (best2 < 0) return;
  bool take;
  if (best < 0) take = true;
  else if (m2 != m2 || m != m) take = (m2 != m2) && (m == m || best2 > best);
  else take = m2 > m || (m2 == m && best2 < best);
  if (take) {
    m = m2;
    best = best2;
  }
}

__global__ void adaptive_max_fwd_warp(const float* __restrict__ x, float* __restrict__ y, int32_t* __restrict__ ix, Win g,
                                      L4 xl, L4 yl, L4 il, int64_t total) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / kWarp; i < total; i += warps) {
    int64_t p, oh, ow;
    split3(i, g.OH, g.OW, p, oh, ow);
    const float* xp = x + xl.plane(p);
    const int64_t hs = ad_start(oh, g.H, g.OH), he = ad_end(oh, g.H, g.OH);
    const int64_t ws = ad_start(ow, g.W, g.OW), we = ad_end(ow, g.W, g.OW);
    const int64_t ww = we - ws, area = (he - hs) * ww;
    float m = -INFINITY;
    int32_t best = -1;
    for (int64_t e = lane; e < area; e += kWarp) {  // a lane's positions increase, so the scan rule holds
      const int64_t q = div_nn(e, ww), h = hs + q, w = ws + e - q * ww;
      max_take(__ldg(xp + h * xl.s2 + w * xl.s3), static_cast<int32_t>(h * g.W + w), m, best);
    }
    for (int o = kWarp / 2; o > 0; o >>= 1) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
      const int32_t b2 = __shfl_xor_sync(0xffffffffu, best, o);
      max_merge(m, best, m2, b2);
    }
    if (lane == 0) {
      y[yl.at(p, oh, ow)] = m;
      ix[il.at(p, oh, ow)] = best;
    }
  }
}

void adaptive_max_kernel(std::vector<View>& v, const Attrs&) {
  const View &x = v[0], &y = v[1], &ix = v[2];
  PoolGeom g = check_adaptive_max_pool(v);
  const int64_t total = g.planes() * g.OH * g.OW;
  if (total == 0) return;
  if (max_adaptive_window(g.H, g.OH) * max_adaptive_window(g.W, g.OW) > kWarpWindow)
    adaptive_max_fwd_warp<<<grid_for(total * kWarp, kThreads), kThreads, 0, stream()>>>(
        x.ptr<float>(), y.ptr<float>(), ix.ptr<int32_t>(), Win::of(g), L4::of(x), L4::of(y), L4::of(ix), total);
  else
    adaptive_max_fwd<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(x.ptr<float>(), y.ptr<float>(), ix.ptr<int32_t>(),
                                                                          Win::of(g), L4::of(x), L4::of(y), L4::of(ix), total);
  launch_check("adaptiveMaxPool2d");
}
TF_REGISTER_KERNEL("adaptiveMaxPool2d", 1, 2, false, adaptive_max_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
