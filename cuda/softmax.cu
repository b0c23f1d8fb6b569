// softmax / log_softmax along any dim on CUDA, forward and backward, with the CPU kernel's
// semantics (native/cpu/softmax.cpp): the row max is subtracted before exp, log_softmax is
// written as (x − max) − log Σ, a NaN anywhere in a row makes the whole row NaN, an all −inf row
// and a row holding +inf give NaN.
//
// The other dims are coalesced across all views (as the CPU does); a "row" is one softmax lane.
// Kernels, by row length n and layout:
//  - n <= 4, or a strided dim with many rows: a thread per row (two passes over the row; with
//    the innermost other dim contiguous, neighbouring threads read neighbouring addresses);
//  - n <= 1024 (512 for the backward, which holds y and g): a warp per row, the row held in
//    registers (read once, written once);
//  - longer rows: a block per row; pass 1 keeps an online (max, Σ exp(x − max)) per thread and
//    merges them over the block, pass 2 writes (16-byte loads and stores where the row is
//    contiguous and the views are alike aligned).
// Sums: float within a lane of ≤ 32 elements or a group of 4, double across them, so long rows
// keep the CPU's accuracy (it flushes float lanes into a double every 1024 elements).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "softmax_stats.cuh"
#include "ops/softmax.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kRowThreads = 512;  // block-per-row kernels
constexpr int kThreads = 256;

// The softmax dim of N same-shaped views and their other dims, coalesced (size-1 dims dropped,
// neighbours merged where every view is contiguous across them).
template <int N>
struct Along {
  int64_t n;       // length of the softmax dim
  int64_t nst[N];  // its stride in each view
  int64_t rows;    // product of the other dims
  int nd;
  int64_t shape[kMaxDims];
  int64_t st[N][kMaxDims];

  static Along of(const View* const (&v)[N], int dim) {
    Along a;
    const View& r = *v[0];
    a.n = 1;
    a.nd = 0;
    a.rows = 1;
    for (int k = 0; k < N; k++) a.nst[k] = 1;
    if (r.ndim > 0) {
      a.n = r.shape[dim];
      if (a.n > 1)
        for (int k = 0; k < N; k++) a.nst[k] = v[k]->strides[dim];
    }
    for (int d = 0; d < r.ndim; d++) {
      if (d == dim) continue;
      a.rows *= r.shape[d];
      if (r.shape[d] == 1) continue;
      if (a.nd > 0) {
        bool merge = true;
        for (int k = 0; k < N; k++) merge &= a.st[k][a.nd - 1] == v[k]->strides[d] * r.shape[d];
        if (merge) {
          a.shape[a.nd - 1] *= r.shape[d];
          for (int k = 0; k < N; k++) a.st[k][a.nd - 1] = v[k]->strides[d];
          continue;
        }
      }
      a.shape[a.nd] = r.shape[d];
      for (int k = 0; k < N; k++) a.st[k][a.nd] = v[k]->strides[d];
      a.nd++;
    }
    return a;
  }
  bool contiguous_rows() const {
    bool c = true;
    for (int k = 0; k < N; k++) c &= nst[k] == 1;
    return c;
  }
  __device__ __forceinline__ void offsets(int64_t r, int64_t (&off)[N]) const {
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = nd - 1; d >= 0; d--) {
      const int64_t q = r / shape[d], i = r - q * shape[d];
      r = q;
      for (int k = 0; k < N; k++) off[k] += i * st[k][d];
    }
  }
};

__device__ __forceinline__ double block_sum_d(double v, double* ss) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) ss[warp] = v;
  __syncthreads();
  double r = 0;
  for (int w = 0; w < warps; w++) r += ss[w];
  return r;
}

// Visits a row of n elements split over G threads (this one is t): f4(i) for 4 elements at i
// where vectors are allowed (vec: contiguous and alike aligned; head elements first reach the
// 16-byte boundary), f1(i) for single elements.
template <class F1, class F4>
__device__ __forceinline__ void row_loop(int64_t n, bool vec, int64_t head, int t, int G, F1 f1, F4 f4) {
  if (!vec) {
    for (int64_t i = t; i < n; i += G) f1(i);
    return;
  }
  if (t < head) f1(t);
  const int64_t n4 = (n - head) >> 2;
#pragma unroll 4
  for (int64_t j = t; j < n4; j += G) f4(head + 4 * j);
  for (int64_t i = head + 4 * n4 + t; i < n; i += G) f1(i);
}

__device__ __forceinline__ int64_t misalign(const float* p) { return static_cast<int64_t>((reinterpret_cast<uintptr_t>(p) >> 2) & 3); }

// ---- forward ----

// A thread per row: online statistics, then the write.
__global__ void __launch_bounds__(kThreads) softmax_thread_kernel(const float* __restrict__ x, float* __restrict__ y,
                                                                  Along<2> a, bool log) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < a.rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    a.offsets(r, off);
    const float* xr = x + off[0];
    float* yr = y + off[1];
    const int64_t sx = a.nst[0], sy = a.nst[1];
    Stats st{-INFINITY, 0.0};
    for (int64_t c = 0; c < a.n; c++) st.add(xr[c * sx]);
    if (log) {
      const float ls = static_cast<float>(::log(st.s));
      for (int64_t c = 0; c < a.n; c++) yr[c * sy] = (xr[c * sx] - st.m) - ls;
    } else {
      const float inv = static_cast<float>(1.0 / st.s);
      for (int64_t c = 0; c < a.n; c++) yr[c * sy] = expf(xr[c * sx] - st.m) * inv;
    }
  }
}

// A warp per row of n <= 32 K, element lane + 32 k in register k.
template <int K>
__global__ void __launch_bounds__(kThreads) softmax_warp_kernel(const float* __restrict__ x, float* __restrict__ y,
                                                                Along<2> a, bool log) {
  const int lane = threadIdx.x % kWarp;
  const int64_t wpb = blockDim.x / kWarp, n = a.n, sx = a.nst[0], sy = a.nst[1];
  for (int64_t r = blockIdx.x * wpb + threadIdx.x / kWarp; r < a.rows; r += static_cast<int64_t>(gridDim.x) * wpb) {
    int64_t off[2];
    a.offsets(r, off);
    float v[K];
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < K; k++) {
      const int64_t i = lane + kWarp * k;
      v[k] = i < n ? __ldg(x + off[0] + i * sx) : -INFINITY;
      m = fmaxf(m, v[k]);
    }
    m = warp_max(m);
    float s = 0;
#pragma unroll
    for (int k = 0; k < K; k++)
      if (lane + kWarp * k < n) s += expf(v[k] - m);
    s = warp_sum(s);
    float* yr = y + off[1];
    if (log) {
      const float ls = logf(s);
#pragma unroll
      for (int k = 0; k < K; k++) {
        const int64_t i = lane + kWarp * k;
        if (i < n) yr[i * sy] = (v[k] - m) - ls;
      }
    } else {
      const float inv = 1.0f / s;
#pragma unroll
      for (int k = 0; k < K; k++) {
        const int64_t i = lane + kWarp * k;
        if (i < n) yr[i * sy] = expf(v[k] - m) * inv;
      }
    }
  }
}

// A block per row.
__global__ void __launch_bounds__(kRowThreads) softmax_block_kernel(const float* __restrict__ x, float* __restrict__ y,
                                                                    Along<2> a, bool log) {
  __shared__ float sm[kWarp];
  __shared__ double ss[kWarp];
  const int64_t n = a.n, sx = a.nst[0], sy = a.nst[1];
  const int t = threadIdx.x, G = blockDim.x;
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {  // uniform across the block
    int64_t off[2];
    a.offsets(r, off);
    const float* xr = x + off[0];
    float* yr = y + off[1];
    const bool vec = sx == 1 && sy == 1 && misalign(xr) == misalign(yr);
    const int64_t head = min(n, (4 - misalign(xr)) & 3);
    Stats st{-INFINITY, 0.0};
    row_loop(
        n, vec, head, t, G, [&](int64_t i) { st.add(xr[i * sx]); },
        [&](int64_t i) { st.add4(__ldg(reinterpret_cast<const float4*>(xr + i))); });
    st = block_stats(st, sm, ss);
    const float m = st.m;
    if (log) {
      const float ls = static_cast<float>(::log(st.s));
      row_loop(
          n, vec, head, t, G, [&](int64_t i) { yr[i * sy] = (xr[i * sx] - m) - ls; },
          [&](int64_t i) {
            const float4 v = __ldg(reinterpret_cast<const float4*>(xr + i));
            *reinterpret_cast<float4*>(yr + i) = make_float4((v.x - m) - ls, (v.y - m) - ls, (v.z - m) - ls, (v.w - m) - ls);
          });
    } else {
      const float inv = static_cast<float>(1.0 / st.s);
      row_loop(
          n, vec, head, t, G, [&](int64_t i) { yr[i * sy] = expf(xr[i * sx] - m) * inv; },
          [&](int64_t i) {
            const float4 v = __ldg(reinterpret_cast<const float4*>(xr + i));
            *reinterpret_cast<float4*>(yr + i) =
                make_float4(expf(v.x - m) * inv, expf(v.y - m) * inv, expf(v.z - m) * inv, expf(v.w - m) * inv);
          });
    }
  }
}

// ---- backward: softmax gx = y∘(g − Σ g∘y); log_softmax gx = g − e^y·Σ g ----

__global__ void __launch_bounds__(kThreads) softmax_bwd_thread_kernel(const float* __restrict__ y,
                                                                      const float* __restrict__ g,
                                                                      float* __restrict__ gx, Along<3> a, bool log) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < a.rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[3];
    a.offsets(r, off);
    const float *yr = y + off[0], *gr = g + off[1];
    float* o = gx + off[2];
    const int64_t sy = a.nst[0], sg = a.nst[1], so = a.nst[2];
    double acc = 0;
    for (int64_t c = 0; c < a.n; c++) acc += log ? gr[c * sg] : gr[c * sg] * yr[c * sy];
    const float d = static_cast<float>(acc);
    for (int64_t c = 0; c < a.n; c++) {
      const float yv = yr[c * sy], gv = gr[c * sg];
      o[c * so] = log ? gv - expf(yv) * d : yv * (gv - d);
    }
  }
}

template <int K>
__global__ void __launch_bounds__(kThreads, 2) softmax_bwd_warp_kernel(const float* __restrict__ y,
                                                                    const float* __restrict__ g,
                                                                    float* __restrict__ gx, Along<3> a, bool log) {
  const int lane = threadIdx.x % kWarp;
  const int64_t wpb = blockDim.x / kWarp, n = a.n, sy = a.nst[0], sg = a.nst[1], so = a.nst[2];
  for (int64_t r = blockIdx.x * wpb + threadIdx.x / kWarp; r < a.rows; r += static_cast<int64_t>(gridDim.x) * wpb) {
    int64_t off[3];
    a.offsets(r, off);
    float yv[K], gv[K];
    float s = 0;
#pragma unroll
    for (int k = 0; k < K; k++) {
      const int64_t i = lane + kWarp * k;
      yv[k] = i < n ? __ldg(y + off[0] + i * sy) : 0.0f;
      gv[k] = i < n ? __ldg(g + off[1] + i * sg) : 0.0f;
      s += log ? gv[k] : gv[k] * yv[k];
    }
    const float d = warp_sum(s);
    float* o = gx + off[2];
#pragma unroll
    for (int k = 0; k < K; k++) {
      const int64_t i = lane + kWarp * k;
      if (i < n) o[i * so] = log ? gv[k] - expf(yv[k]) * d : yv[k] * (gv[k] - d);
    }
  }
}

__global__ void __launch_bounds__(kRowThreads) softmax_bwd_block_kernel(const float* __restrict__ y,
                                                                        const float* __restrict__ g,
                                                                        float* __restrict__ gx, Along<3> a, bool log) {
  __shared__ double ss[kWarp];
  const int64_t n = a.n, sy = a.nst[0], sg = a.nst[1], so = a.nst[2];
  const int t = threadIdx.x, G = blockDim.x;
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    int64_t off[3];
    a.offsets(r, off);
    const float *yr = y + off[0], *gr = g + off[1];
    float* o = gx + off[2];
    const bool vec = sy == 1 && sg == 1 && so == 1 && misalign(yr) == misalign(gr) && misalign(yr) == misalign(o);
    const int64_t head = min(n, (4 - misalign(yr)) & 3);
    double acc = 0;
    row_loop(
        n, vec, head, t, G, [&](int64_t i) { acc += log ? gr[i * sg] : gr[i * sg] * yr[i * sy]; },
        [&](int64_t i) {
          const float4 gv = __ldg(reinterpret_cast<const float4*>(gr + i));
          if (log) {
            acc += static_cast<double>((gv.x + gv.y) + (gv.z + gv.w));
          } else {
            const float4 yv = __ldg(reinterpret_cast<const float4*>(yr + i));
            acc += static_cast<double>((gv.x * yv.x + gv.y * yv.y) + (gv.z * yv.z + gv.w * yv.w));
          }
        });
    const float d = static_cast<float>(block_sum_d(acc, ss));
    row_loop(
        n, vec, head, t, G,
        [&](int64_t i) {
          const float yv = yr[i * sy], gv = gr[i * sg];
          o[i * so] = log ? gv - expf(yv) * d : yv * (gv - d);
        },
        [&](int64_t i) {
          const float4 yv = __ldg(reinterpret_cast<const float4*>(yr + i)), gv = __ldg(reinterpret_cast<const float4*>(gr + i));
          float4 r4;
          if (log) r4 = make_float4(gv.x - expf(yv.x) * d, gv.y - expf(yv.y) * d, gv.z - expf(yv.z) * d, gv.w - expf(yv.w) * d);
          else r4 = make_float4(yv.x * (gv.x - d), yv.y * (gv.y - d), yv.z * (gv.z - d), yv.w * (gv.w - d));
          *reinterpret_cast<float4*>(o + i) = r4;
        });
  }
}

// ---- dispatch ----

enum class Plan { Thread, Warp, Block };

// max_warp: the longest row a warp holds in registers (the backward holds two rows).
template <int N>
Plan plan_for(const Along<N>& a, int64_t max_warp) {
  const int64_t sms = device_props().multiProcessorCount;
  if (a.n <= 4) return Plan::Thread;
  if (!a.contiguous_rows() && a.rows >= sms * 512) return Plan::Thread;  // lanes side by side
  return a.n <= max_warp ? Plan::Warp : Plan::Block;
}

unsigned warp_grid(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(ceil_div(rows, kThreads / kWarp), device_props().multiProcessorCount * 32));
}
unsigned block_grid(int64_t rows) {
  return static_cast<unsigned>(std::min<int64_t>(rows, device_props().multiProcessorCount * 16));
}

template <int K>
void forward_warp(const float* x, float* y, const Along<2>& a, bool log) {
  softmax_warp_kernel<K><<<warp_grid(a.rows), kThreads, 0, stream()>>>(x, y, a, log);
}
template <int K>
void backward_warp(const float* y, const float* g, float* gx, const Along<3>& a, bool log) {
  softmax_bwd_warp_kernel<K><<<warp_grid(a.rows), kThreads, 0, stream()>>>(y, g, gx, a, log);
}

void softmax_cuda(std::vector<View>& v, const Attrs& attrs) {
  const SoftmaxArgs args = check_softmax(v, attrs);
  const View &x = v[0], &y = v[1];
  if (x.numel() == 0) return;
  const View* views[2] = {&x, &y};
  const Along<2> a = Along<2>::of(views, args.dim);
  const float* xp = x.ptr<float>();
  float* yp = y.ptr<float>();
  switch (plan_for(a, 1024)) {
    case Plan::Thread:
      softmax_thread_kernel<<<grid_for(a.rows, kThreads), kThreads, 0, stream()>>>(xp, yp, a, args.log);
      break;
    case Plan::Warp:
      if (a.n <= 32) forward_warp<1>(xp, yp, a, args.log);
      else if (a.n <= 64) forward_warp<2>(xp, yp, a, args.log);
      else if (a.n <= 128) forward_warp<4>(xp, yp, a, args.log);
      else if (a.n <= 256) forward_warp<8>(xp, yp, a, args.log);
      else if (a.n <= 512) forward_warp<16>(xp, yp, a, args.log);
      else forward_warp<32>(xp, yp, a, args.log);
      break;
    case Plan::Block:
      softmax_block_kernel<<<block_grid(a.rows), kRowThreads, 0, stream()>>>(xp, yp, a, args.log);
      break;
  }
  check_launch("softmax");
}
TF_REGISTER_KERNEL("softmax", 1, 1, false, softmax_cuda);

void softmax_backward_cuda(std::vector<View>& v, const Attrs& attrs) {
  const SoftmaxArgs args = check_softmax_backward(v, attrs);
  const View &y = v[0], &g = v[1], &gx = v[2];
  if (y.numel() == 0) return;
  const View* views[3] = {&y, &g, &gx};
  const Along<3> a = Along<3>::of(views, args.dim);
  const float *yp = y.ptr<float>(), *gp = g.ptr<float>();
  float* op = gx.ptr<float>();
  switch (plan_for(a, 512)) {
    case Plan::Thread:
      softmax_bwd_thread_kernel<<<grid_for(a.rows, kThreads), kThreads, 0, stream()>>>(yp, gp, op, a, args.log);
      break;
    case Plan::Warp:
      if (a.n <= 32) backward_warp<1>(yp, gp, op, a, args.log);
      else if (a.n <= 64) backward_warp<2>(yp, gp, op, a, args.log);
      else if (a.n <= 128) backward_warp<4>(yp, gp, op, a, args.log);
      else if (a.n <= 256) backward_warp<8>(yp, gp, op, a, args.log);
      else backward_warp<16>(yp, gp, op, a, args.log);
      break;
    case Plan::Block:
      softmax_bwd_block_kernel<<<block_grid(a.rows), kRowThreads, 0, stream()>>>(yp, gp, op, a, args.log);
      break;
  }
  check_launch("softmaxBackward");
}
TF_REGISTER_KERNEL("softmaxBackward", 2, 1, false, softmax_backward_cuda);

}  // namespace
}  // namespace cuda
}  // namespace tf
