// Optimizer updates and gradient clipping on CUDA: the same ops, views, attributes and checks as
// native/cpu/optim.cpp (argument checks and the float32 update constants are shared, from
// native/ops/optim.cpp).
//   sgdStep      grad | param, momentumBuffer
//   adamStep     grad | param, expAvg, expAvgSq, maxExpAvgSq
//   rmspropStep  grad | param, squareAvg, momentumBuffer, gradAvg
//   gradNorm     grad | norm[1]
//   gradScale    | grad
//   gradClamp    | grad
//
// Bit-exact with the CPU kernels: every element goes through the same float32 operations in the
// same order, written with the _rn intrinsics (IEEE round-to-nearest, never contracted into an
// FMA by nvcc, denormals kept unless the addon is built with -ftz=true / --use_fast_math), the
// way the CPU file is compiled with fp-contract=off. NaNs keep their place but not necessarily
// their payload or sign bit. gradNorm accumulates in double as the CPU does, in a different
// order (a deterministic two-pass tree), so the float32 result can differ from the CPU's only
// when the two double sums round to different floats; the inf-norm is exact.
//
// Elementwise steps: one thread per element (four per thread with float4 when every view is
// contiguous and 16-byte aligned), grid-stride, 64-bit indices; optional state is an absent
// pointer the element never touches.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "core/registry.h"
#include "ops/optim.h"
#include "runtime.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// ---- per-element updates -----------------------------------------------------------------------
// x[0] is the gradient (read), x[1..] the parameter and state (read and written) for the steps;
// x[0] the gradient (read and written) for the clip ops. An absent view's slot holds 0 and is
// not read by the update (its flag is off), nor stored.

struct SgdOp {
  static constexpr int N = 3, kFirstOut = 1;
  SgdConst c;
  __device__ __forceinline__ void operator()(float* x) const {
    const float g = x[0];
    float p = x[1];
    float d = c.maximize ? -g : g;
    if (c.has_wd) d = __fadd_rn(d, __fmul_rn(c.wd, p));
    if (c.has_mom) {
      const float b = c.first ? d : __fadd_rn(__fmul_rn(x[2], c.mom), __fmul_rn(c.one_minus_damp, d));
      x[2] = b;
      d = c.nesterov ? __fadd_rn(d, __fmul_rn(c.mom, b)) : b;
    }
    x[1] = __fadd_rn(p, __fmul_rn(c.neg_lr, d));
  }
};

struct AdamOp {
  static constexpr int N = 5, kFirstOut = 1;
  AdamConst c;
  __device__ __forceinline__ void operator()(float* x) const {
    float g = x[0], p = x[1], m = x[2], v = x[3];
    if (c.maximize) g = -g;
    if (c.l2) g = __fadd_rn(g, __fmul_rn(c.wd, p));
    if (c.decoupled) p = __fmul_rn(p, c.decay);
    m = __fadd_rn(__fmul_rn(m, c.b1), __fmul_rn(c.one_minus_b1, g));
    v = __fadd_rn(__fmul_rn(v, c.b2), __fmul_rn(__fmul_rn(c.one_minus_b2, g), g));
    float vh = v;
    if (c.amsgrad) {  // torch.maximum: NaN wins
      const float mx = x[4];
      vh = (mx > v || mx != mx) ? mx : v;
      x[4] = vh;
    }
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vh), c.bc2_sqrt), c.eps);
    x[1] = __fadd_rn(p, __fdiv_rn(__fmul_rn(c.neg_step_size, m), denom));
    x[2] = m;
    x[3] = v;
  }
};

struct RmsOp {
  static constexpr int N = 5, kFirstOut = 1;
  RmsConst c;
  __device__ __forceinline__ void operator()(float* x) const {
    float g = x[0], p = x[1], s = x[2];
    if (c.maximize) g = -g;
    if (c.has_wd) g = __fadd_rn(g, __fmul_rn(c.wd, p));
    s = __fadd_rn(__fmul_rn(s, c.alpha), __fmul_rn(__fmul_rn(c.one_minus_alpha, g), g));
    x[2] = s;
    float avg;
    if (c.centered) {
      const float gav = __fadd_rn(__fmul_rn(x[4], c.alpha), __fmul_rn(c.one_minus_alpha, g));
      x[4] = gav;
      avg = __fsqrt_rn(__fadd_rn(s, __fmul_rn(__fmul_rn(-1.0f, gav), gav)));
    } else {
      avg = __fsqrt_rn(s);
    }
    avg = __fadd_rn(avg, c.eps);
    if (c.has_mom) {
      const float b = __fadd_rn(__fmul_rn(x[3], c.mom), __fdiv_rn(__fmul_rn(1.0f, g), avg));
      x[3] = b;
      x[1] = __fadd_rn(p, __fmul_rn(c.neg_lr, b));
    } else {
      x[1] = __fadd_rn(p, __fdiv_rn(__fmul_rn(c.neg_lr, g), avg));
    }
  }
};

struct ScaleOp {
  static constexpr int N = 1, kFirstOut = 0;
  float s;
  __device__ __forceinline__ void operator()(float* x) const { x[0] = __fmul_rn(x[0], s); }
};

struct ClampOp {
  static constexpr int N = 1, kFirstOut = 0;
  float c;
  __device__ __forceinline__ void operator()(float* x) const {  // NaN stays NaN, as torch.clamp leaves it
    const float e = x[0];
    x[0] = e < -c ? -c : (e > c ? c : e);
  }
};

// ---- elementwise launch --------------------------------------------------------------------------

template <int N> struct Ptrs {
  float* p[N];  // nullptr: absent
};

// The shared shape and each view's strides; offsets() maps a row-major linear index to every
// view's element offset with one division per dimension.
template <int N> struct Layout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
  __device__ __forceinline__ void offsets(int64_t linear, int64_t* off) const {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = ndim - 1; d >= 0; d--) {
      const int64_t q = linear / shape[d], i = linear - q * shape[d];
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += i * strides[k][d];
      linear = q;
    }
  }
};

template <class Op>
__device__ __forceinline__ void apply_at(const Op& op, const Ptrs<Op::N>& ptr, const int64_t* off) {
  float x[Op::N];
#pragma unroll
  for (int k = 0; k < Op::N; k++) x[k] = ptr.p[k] ? ptr.p[k][off[k]] : 0.0f;
  op(x);
#pragma unroll
  for (int k = Op::kFirstOut; k < Op::N; k++)
    if (ptr.p[k]) ptr.p[k][off[k]] = x[k];
}

// Every view contiguous: element i of each at p[k] + i. kStrided: offsets from the layout.
template <class Op, bool kStrided>
__global__ void __launch_bounds__(kThreads) apply_scalar(Op op, Ptrs<Op::N> ptr, Layout<Op::N> lay, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[Op::N];
    if (kStrided) {
      lay.offsets(i, off);
    } else {
#pragma unroll
      for (int k = 0; k < Op::N; k++) off[k] = i;
    }
    apply_at(op, ptr, off);
  }
}

// Component j of a float4; j is a constant once the loop over it is unrolled, so no local memory.
__device__ __forceinline__ float& lane_of(float4& v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

// Every view contiguous and 16-byte aligned: n4 groups of four through float4 loads and stores,
// then the last n − 4·n4 (< 4) elements by the first threads of the grid.
template <class Op>
__global__ void __launch_bounds__(kThreads) apply_vec4(Op op, Ptrs<Op::N> ptr, int64_t n4, int64_t n) {
  constexpr int N = Op::N;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = first; i < n4; i += stride) {
    float4 v[N];
#pragma unroll
    for (int k = 0; k < N; k++) v[k] = ptr.p[k] ? reinterpret_cast<const float4*>(ptr.p[k])[i] : make_float4(0, 0, 0, 0);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      float x[N];
#pragma unroll
      for (int k = 0; k < N; k++) x[k] = lane_of(v[k], j);
      op(x);
#pragma unroll
      for (int k = 0; k < N; k++) lane_of(v[k], j) = x[k];
    }
#pragma unroll
    for (int k = Op::kFirstOut; k < N; k++)
      if (ptr.p[k]) reinterpret_cast<float4*>(ptr.p[k])[i] = v[k];
  }
  const int64_t tail = n - n4 * 4;
  if (first < tail) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = n4 * 4 + first;
    apply_at(op, ptr, off);
  }
}

// Runs op over every element of the views (all of `shape`'s shape; use[k] false: absent).
template <class Op>
void launch_elementwise(const char* name, const Op& op, const std::vector<View>& v, const bool* use, const View& shape) {
  constexpr int N = Op::N;
  const int64_t n = shape.numel();
  if (n == 0) return;
  Ptrs<N> ptr;
  bool contiguous = true, aligned = true;
  for (int k = 0; k < N; k++) {
    ptr.p[k] = use[k] ? static_cast<float*>(v[k].data) : nullptr;
    if (!use[k]) continue;
    contiguous = contiguous && v[k].contiguous();
    aligned = aligned && reinterpret_cast<uintptr_t>(v[k].data) % 16 == 0;
  }
  Layout<N> lay{};
  if (contiguous && aligned) {
    const int64_t n4 = n / 4;
    apply_vec4<Op><<<grid_for(n4 > 0 ? n4 : 1, kThreads), kThreads, 0, stream()>>>(op, ptr, n4, n);
  } else if (contiguous) {
    apply_scalar<Op, false><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(op, ptr, lay, n);
  } else {
    // size-1 dims carry no offset: drop them so the per-element divisions are fewer
    for (int d = 0; d < shape.ndim; d++) {
      if (shape.shape[d] == 1) continue;
      lay.shape[lay.ndim] = shape.shape[d];
      for (int k = 0; k < N; k++) lay.strides[k][lay.ndim] = use[k] ? v[k].strides[d] : 0;
      lay.ndim++;
    }
    apply_scalar<Op, true><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(op, ptr, lay, n);
  }
  check_launch(name);
}

void sgd_cuda(std::vector<View>& v, const Attrs& a) {
  const SgdArgs args = check_sgd(v, a);
  const bool use[3] = {true, true, args.present[0]};
  launch_elementwise("sgdStep", SgdOp{args.c}, v, use, v[1]);
}
TF_REGISTER_KERNEL("sgdStep", 1, 2, false, sgd_cuda);

void adam_cuda(std::vector<View>& v, const Attrs& a) {
  const AdamArgs args = check_adam(v, a);
  const bool use[5] = {true, true, args.present[0], args.present[1], args.present[2]};
  launch_elementwise("adamStep", AdamOp{args.c}, v, use, v[1]);
}
TF_REGISTER_KERNEL("adamStep", 1, 4, false, adam_cuda);

void rmsprop_cuda(std::vector<View>& v, const Attrs& a) {
  const RmsArgs args = check_rmsprop(v, a);
  const bool use[5] = {true, true, args.present[0], args.present[1], args.present[2]};
  launch_elementwise("rmspropStep", RmsOp{args.c}, v, use, v[1]);
}
TF_REGISTER_KERNEL("rmspropStep", 1, 4, false, rmsprop_cuda);

void grad_scale_cuda(std::vector<View>& v, const Attrs& a) {
  const float s = check_grad_scale(v, a);
  const bool use[1] = {true};
  launch_elementwise("gradScale", ScaleOp{s}, v, use, v[0]);
}
TF_REGISTER_KERNEL("gradScale", 0, 1, false, grad_scale_cuda);

void grad_clamp_cuda(std::vector<View>& v, const Attrs& a) {
  const float c = check_grad_clamp(v, a);
  const bool use[1] = {true};
  launch_elementwise("gradClamp", ClampOp{c}, v, use, v[0]);
}
TF_REGISTER_KERNEL("gradClamp", 0, 1, false, grad_clamp_cuda);

// ---- gradNorm ------------------------------------------------------------------------------------
// Pass 1: each block folds its grid-stride share into one double (Σ|x|^p, or max|x| for inf) in
// partials[block]. Pass 2: one block folds the partials in a fixed order and writes the norm.
// The grid size depends only on n and the device, so the result is the same on every run.

enum NormMode { kInf = 0, kOne = 1, kTwo = 2, kPow = 3 };
constexpr int kMaxPartials = 1024;

template <int kMode>
__device__ __forceinline__ double norm_fold(double acc, double b) {
  if (kMode == kInf) return (b > acc || b != b) ? b : acc;  // NaN sticks
  return acc + b;
}

template <int kMode>
__device__ __forceinline__ double norm_term(float x, double p) {
  const double a = fabs(static_cast<double>(x));
  if (kMode == kTwo) return a * a;
  if (kMode == kPow) return pow(a, p);
  return a;  // kOne, kInf
}

// Block-wide fold; the result is valid in thread 0. smem: kThreads / 32 doubles.
template <int kMode>
__device__ __forceinline__ double block_fold(double v, double* smem) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
#pragma unroll
  for (int o = kWarp / 2; o > 0; o >>= 1) v = norm_fold<kMode>(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / kWarp ? smem[lane] : 0.0;  // 0 is neutral for both sum and max of |x|
#pragma unroll
    for (int o = kWarp / 2; o > 0; o >>= 1) v = norm_fold<kMode>(v, __shfl_xor_sync(0xffffffffu, v, o));
  }
  return v;
}

template <int kMode, bool kStrided>
__global__ void __launch_bounds__(kThreads) norm_partials(const float* x, Strided s, int64_t n, double p, double* partials) {
  __shared__ double smem[kThreads / kWarp];
  double acc = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    acc = norm_fold<kMode>(acc, norm_term<kMode>(x[kStrided ? s.offset(i) : i], p));
  acc = block_fold<kMode>(acc, smem);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <int kMode>
__global__ void __launch_bounds__(kThreads) norm_finish(const double* partials, int count, double inv_p, float* out) {
  __shared__ double smem[kThreads / kWarp];
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += kThreads) acc = norm_fold<kMode>(acc, partials[i]);
  acc = block_fold<kMode>(acc, smem);
  if (threadIdx.x == 0) {
    const double norm = kMode == kInf || kMode == kOne ? acc : kMode == kTwo ? sqrt(acc) : pow(acc, inv_p);
    *out = static_cast<float>(norm);
  }
}

template <int kMode>
void norm_launch(const View& g, float* out, double p) {
  const int64_t n = g.numel();
  const int blocks = n > 0 ? static_cast<int>(std::min<int64_t>(grid_for(n, kThreads), kMaxPartials)) : 0;
  Scratch partials(sizeof(double) * std::max(blocks, 1));
  if (n > 0) {
    const Strided s = Strided::of(g);
    if (g.contiguous())
      norm_partials<kMode, false><<<blocks, kThreads, 0, stream()>>>(g.ptr<float>(), s, n, p, partials.as<double>());
    else
      norm_partials<kMode, true><<<blocks, kThreads, 0, stream()>>>(g.ptr<float>(), s, n, p, partials.as<double>());
    check_launch("gradNorm");
  }
  // an empty grad has norm 0: the finishing block folds no partials
  norm_finish<kMode><<<1, kThreads, 0, stream()>>>(partials.as<double>(), blocks, 1 / p, out);
  check_launch("gradNorm");
}

void grad_norm_cuda(std::vector<View>& v, const Attrs& a) {
  const double p = check_grad_norm(v, a);
  float* out = v[1].ptr<float>();
  if (std::isinf(p)) norm_launch<kInf>(v[0], out, p);
  else if (p == 1) norm_launch<kOne>(v[0], out, p);
  else if (p == 2) norm_launch<kTwo>(v[0], out, p);
  else norm_launch<kPow>(v[0], out, p);
}
TF_REGISTER_KERNEL("gradNorm", 1, 1, false, grad_norm_cuda);

}  // namespace
}  // namespace cuda
}  // namespace tf
