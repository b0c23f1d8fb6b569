// Loss kernels on CUDA with the CPU kernels' semantics (native/cpu/loss.cpp, where the torch 1.13
// rules are written down): cross-entropy with class-index targets fused with log_softmax,
// nll_loss, binary cross-entropy with logits; forward and backward each.
//
// Class losses see x [N, C, S] (any strides), target [N, S] int32, weight [C] | [0]. A sample's
// class row is handled by a warp when the class dim is contiguous (coalesced along the row; the
// whole block for long rows over few samples), by a thread otherwise (then neighbouring samples
// are neighbouring addresses, the [N, C, d1..] case).
// Reduced losses write per-sample values in double to scratch and one block sums them in a fixed
// order; Σ weight and the 'mean' denominator Σ w[t] come from a one-block prologue. No atomics:
// results do not change from run to run.
//
// Targets: as the CPU kernel, a target outside [0, C) that is not ignoreIndex raises the same
// IndexError before anything is written (check_targets: one pass and a readback, index_check.h).
// The loss kernels never index with a target outside [0, C) either.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>

#include "common.cuh"
#include "index_check.h"
#include "ops/loss.h"
#include "softmax_stats.cuh"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSumThreads = 1024;

struct ClassData {
  const float* x;
  int64_t xs0, xs1, xs2;
  const int32_t* t;
  int64_t ts0, ts1;
  const float* w;
  int64_t ws;
  bool has_w;
  int64_t N, C, S, ignore;

  static ClassData of(const View& x, const View& t, const View& w, const ClassShape& p, int64_t ignore) {
    return ClassData{x.ptr<float>(), x.strides[0], x.strides[1], x.strides[2], t.ptr<int32_t>(), t.strides[0],
                     t.strides[1], w.ptr<float>(), w.ndim ? w.strides[0] : 0, w.shape[0] != 0, p.N, p.C, p.S, ignore};
  }
  __device__ __forceinline__ int64_t target(int64_t i) const { return t[(i / S) * ts0 + (i % S) * ts1]; }
  __device__ __forceinline__ float weight(int64_t c) const { return has_w ? w[c * ws] : 1.0f; }
  __device__ __forceinline__ const float* row(int64_t i) const { return x + (i / S) * xs0 + (i % S) * xs2; }
  __device__ __forceinline__ bool valid(int64_t tg) const { return tg >= 0 && tg < C; }
};

// A [N, S] view (loss output, output gradient) addressed by flat sample.
struct SampleView {
  int64_t s0, s1, S;
  __device__ __forceinline__ int64_t at(int64_t i) const { return (i / S) * s0 + (i % S) * s1; }
};
SampleView sample_view(const View& v, int64_t S) { return SampleView{v.strides[0], v.strides[1], S}; }

// Sum over a block in a fixed order; every thread gets it. Every thread must call it.
__device__ __forceinline__ double block_sum_double(double v, double* smem) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  double r = 0;
  for (int w = 0; w < warps; w++) r += smem[w];
  return r;
}

__device__ __forceinline__ double warp_sum_double(double v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// sums[0] = Σ_c w[c]; sums[1] = Σ w[t] over non-ignored samples (NaN with a bad target). One block.
__global__ void __launch_bounds__(kSumThreads) class_sums_kernel(ClassData d, double* __restrict__ sums) {
  __shared__ double smem[kWarp];
  double ws = 0, den = 0;
  for (int64_t c = threadIdx.x; c < d.C; c += blockDim.x) ws += d.weight(c);
  const int64_t n = d.N * d.S;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t tg = d.target(i);
    if (tg != d.ignore) den += d.valid(tg) ? static_cast<double>(d.weight(tg)) : NAN;
  }
  ws = block_sum_double(ws, smem);
  den = block_sum_double(den, smem);
  if (threadIdx.x == 0) {
    sums[0] = ws;
    sums[1] = den;
  }
}

// out[0] = Σ per (÷ sums[1] for 'mean'). One block.
__global__ void __launch_bounds__(kSumThreads) loss_total_kernel(const double* __restrict__ per, int64_t n,
                                                                 const double* __restrict__ sums, bool mean,
                                                                 float* __restrict__ out) {
  __shared__ double smem[kWarp];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += per[i];
  s = block_sum_double(s, smem);
  if (threadIdx.x == 0) out[0] = static_cast<float>(mean ? s / sums[1] : s);
}

// Who handles a sample's class row: one thread, a warp, or the whole block (long rows, few samples).
enum Group { kThread = 0, kWarpGroup = 1, kBlock = 2 };

// The sample loop of a group: the first sample, the step, this thread's lane in the group and
// the group's size. The loop is uniform across the group.
template <int Mode>
struct Groups {
  __device__ __forceinline__ static int64_t first() {
    if (Mode == kBlock) return blockIdx.x;
    if (Mode == kWarpGroup) return blockIdx.x * static_cast<int64_t>(blockDim.x / kWarp) + threadIdx.x / kWarp;
    return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  }
  __device__ __forceinline__ static int64_t step() {
    if (Mode == kBlock) return gridDim.x;
    if (Mode == kWarpGroup) return static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
    return static_cast<int64_t>(gridDim.x) * blockDim.x;
  }
  __device__ __forceinline__ static int lane() {
    return Mode == kBlock ? threadIdx.x : Mode == kWarpGroup ? threadIdx.x % kWarp : 0;
  }
  __device__ __forceinline__ static int size() { return Mode == kBlock ? blockDim.x : Mode == kWarpGroup ? kWarp : 1; }
};

// ---- crossEntropy ----

template <int Mode>
__global__ void __launch_bounds__(kThreads) cross_entropy_kernel(ClassData d, double eps, const double* __restrict__ sums,
                                                                 float* __restrict__ stats, int64_t ss0, int64_t ss1,
                                                                 int64_t ss2, float* __restrict__ out, SampleView ov,
                                                                 double* __restrict__ per) {
  using G = Groups<Mode>;
  __shared__ float sm[kWarp];
  __shared__ double ss[kWarp];
  const int64_t n = d.N * d.S;
  const int lane = G::lane();
  for (int64_t i = G::first(); i < n; i += G::step()) {  // uniform across the group
    const float* row = d.row(i);
    Stats st{-INFINITY, 0.0};
    double wx = 0;  // Σ w[c]·x[c], for the smoothing term
    for (int64_t c = lane; c < d.C; c += G::size()) {
      const float xv = row[c * d.xs1];
      st.add(xv);
      if (eps > 0) wx += static_cast<double>(d.weight(c)) * xv;
    }
    if constexpr (Mode == kWarpGroup) {
      st = warp_stats(st);
      wx = warp_sum_double(wx);
    } else if constexpr (Mode == kBlock) {
      st = block_stats(st, sm, ss);
      wx = block_sum_double(wx, ss);
    }
    if (lane != 0) continue;
    const float m = st.m;
    const double ls = ::log(st.s);
    float* s2 = stats + (i / d.S) * ss0 + (i % d.S) * ss1;
    s2[0] = m;
    s2[ss2] = static_cast<float>(ls);
    const int64_t tg = d.target(i);
    double loss = 0;
    if (tg != d.ignore) {
      if (!d.valid(tg)) {
        loss = NAN;
      } else {
        // −log_softmax[c] = log Σ − (x[c] − max)
        loss = (1 - eps) * d.weight(tg) * (ls - (static_cast<double>(row[tg * d.xs1]) - m));
        if (eps > 0) {
          const double wsum = sums[0];
          loss += eps / d.C * (wsum * ls - (wx - static_cast<double>(m) * wsum));
        }
      }
    }
    if (per) per[i] = loss;
    else out[ov.at(i)] = static_cast<float>(loss);
  }
}

// ∂l/∂x[c] = scale·((1−ε)·w[t] + (ε/C)·W)·softmax[c] − scale·(ε/C)·w[c] − scale·(1−ε)·w[t]·δ[c,t]
template <int Mode>
__global__ void __launch_bounds__(kThreads, 1) cross_entropy_backward_kernel(
    ClassData d, double eps, const double* __restrict__ sums, const float* __restrict__ stats, int64_t ss0, int64_t ss1,
    int64_t ss2, const float* __restrict__ g, SampleView gv, int red, float* __restrict__ gx, int64_t gs0, int64_t gs1,
    int64_t gs2) {
  using G = Groups<Mode>;
  const int64_t n = d.N * d.S;
  const int lane = G::lane();
  for (int64_t i = G::first(); i < n; i += G::step()) {
    float* o = gx + (i / d.S) * gs0 + (i % d.S) * gs2;
    const int64_t tg = d.target(i);
    if (tg == d.ignore || !d.valid(tg)) {
      const float v = tg == d.ignore ? 0.0f : NAN;
      for (int64_t c = lane; c < d.C; c += G::size()) o[c * gs1] = v;
      continue;
    }
    const float* row = d.row(i);
    const float* s2 = stats + (i / d.S) * ss0 + (i % d.S) * ss1;
    const float m = s2[0];
    const double scale = red == 0 ? static_cast<double>(g[gv.at(i)]) : red == 1 ? g[0] : g[0] / sums[1];
    const double wt = d.weight(tg);
    const float a = static_cast<float>(scale * ((1 - eps) * wt + eps / d.C * sums[0]) * ::exp(-static_cast<double>(s2[ss2])));
    const float b = static_cast<float>(scale * eps / d.C);
    const float at_t = static_cast<float>(scale * (1 - eps) * wt);
    for (int64_t c = lane; c < d.C; c += G::size()) {
      float v = expf(row[c * d.xs1] - m) * a - d.weight(c) * b;
      if (c == tg) v -= at_t;
      o[c * gs1] = v;
    }
  }
}

// ---- nllLoss ----

__global__ void __launch_bounds__(kThreads) nll_loss_kernel(ClassData d, float* __restrict__ out, SampleView ov,
                                                            double* __restrict__ per) {
  const int64_t n = d.N * d.S;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t tg = d.target(i);
    double loss = 0;
    if (tg != d.ignore) loss = d.valid(tg) ? -static_cast<double>(d.weight(tg)) * d.row(i)[tg * d.xs1] : NAN;
    if (per) per[i] = loss;
    else out[ov.at(i)] = static_cast<float>(loss);
  }
}

// Over every element of gx [N, C, S]: −w[t]·scale at the target class, 0 elsewhere.
__global__ void __launch_bounds__(kThreads) nll_loss_backward_kernel(ClassData d, const double* __restrict__ sums,
                                                                     const float* __restrict__ g, SampleView gv, int red,
                                                                     float* __restrict__ gx, int64_t gs0, int64_t gs1,
                                                                     int64_t gs2) {
  const int64_t total = d.N * d.C * d.S;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = e % d.S, nc = e / d.S, c = nc % d.C, nn = nc / d.C, i = nn * d.S + s;
    const int64_t tg = d.target(i);
    float v = 0;
    if (tg != d.ignore) {
      if (!d.valid(tg)) {
        v = NAN;
      } else if (c == tg) {
        const double scale = red == 0 ? static_cast<double>(g[gv.at(i)]) : red == 1 ? g[0] : g[0] / sums[1];
        v = static_cast<float>(-d.weight(tg) * scale);
      }
    }
    gx[nn * gs0 + c * gs1 + s * gs2] = v;
  }
}

int reduction_code(Reduction r) { return r == Reduction::None ? 0 : r == Reduction::Sum ? 1 : 2; }

// A warp per sample where the class dim is contiguous, the block when that leaves most of the
// device idle on long rows (a language model's vocabulary over a few samples), else a thread.
int group_for(int64_t samples, int64_t C, bool contiguous) {
  if (!contiguous || C < 8) return kThread;
  const int64_t sms = device_props().multiProcessorCount;
  return C >= 2048 && samples < sms * 16 ? kBlock : kWarpGroup;
}

unsigned group_grid(int64_t samples, int mode) {
  const int64_t cap = static_cast<int64_t>(device_props().multiProcessorCount) * 32;
  const int64_t per_block = mode == kBlock ? 1 : mode == kWarpGroup ? kThreads / kWarp : kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(cap, ceil_div(samples, per_block))));
}

#define TF_GROUP_LAUNCH(mode, kernel, ...)                                                      \
  switch (mode) {                                                                             \
    case kBlock: kernel<kBlock><<<group_grid(n, kBlock), kThreads, 0, stream()>>>(__VA_ARGS__); break;     \
    case kWarpGroup: kernel<kWarpGroup><<<group_grid(n, kWarpGroup), kThreads, 0, stream()>>>(__VA_ARGS__); break; \
    default: kernel<kThread><<<group_grid(n, kThread), kThreads, 0, stream()>>>(__VA_ARGS__); break;      \
  }

// Every target must be a class or ignoreIndex, as the CPU kernel checks before writing anything.
void check_targets(const View& target, const ClassShape& p, int64_t ignore) {
  const BadIndex bad = first_bad_index(target, 0, p.C, ignore, p.op);
  if (bad.position >= 0) throw Error(ErrorKind::Index, target_out_of_bounds(p, bad.value, bad.position, ignore));
}

void cross_entropy_cuda(std::vector<View>& v, const Attrs& a) {
  const ClassLossArgs r = check_cross_entropy(v, a);
  check_targets(v[1], r.p, r.ignore);
  const View &x = v[0], &out = v[3], &stats = v[4];
  const ClassData d = ClassData::of(x, v[1], v[2], r.p, r.ignore);
  const int64_t n = r.p.samples();
  Scratch sums(2 * sizeof(double));
  class_sums_kernel<<<1, kSumThreads, 0, stream()>>>(d, sums.as<double>());
  check_launch("crossEntropy");
  const bool reduced = r.red != Reduction::None;
  std::unique_ptr<Scratch> per;
  if (reduced) per.reset(new Scratch(std::max<int64_t>(n, 1) * sizeof(double)));
  if (n > 0) {
    const int mode = group_for(n, r.p.C, x.strides[1] == 1);
    float* o = out.ptr<float>();
    const SampleView ov = reduced ? SampleView{0, 0, 1} : sample_view(out, r.p.S);
    double* pp = reduced ? per->as<double>() : nullptr;
    TF_GROUP_LAUNCH(mode, cross_entropy_kernel, d, r.eps, sums.as<double>(), stats.ptr<float>(), stats.strides[0],
                    stats.strides[1], stats.strides[2], o, ov, pp)
    check_launch("crossEntropy");
  }
  if (reduced) {
    loss_total_kernel<<<1, kSumThreads, 0, stream()>>>(per->as<double>(), n, sums.as<double>(), r.red == Reduction::Mean,
                                                       out.ptr<float>());
    check_launch("crossEntropy");
  }
}
TF_REGISTER_KERNEL("crossEntropy", 3, 2, false, cross_entropy_cuda);

void cross_entropy_backward_cuda(std::vector<View>& v, const Attrs& a) {
  const ClassLossArgs r = check_cross_entropy_backward(v, a);
  check_targets(v[1], r.p, r.ignore);
  const View &x = v[0], &stats = v[3], &g = v[4], &gx = v[5];
  const ClassData d = ClassData::of(x, v[1], v[2], r.p, r.ignore);
  const int64_t n = r.p.samples();
  if (n == 0 || r.p.C == 0) return;
  Scratch sums(2 * sizeof(double));
  class_sums_kernel<<<1, kSumThreads, 0, stream()>>>(d, sums.as<double>());
  check_launch("crossEntropyBackward");
  const int mode = group_for(n, r.p.C, x.strides[1] == 1 && gx.strides[1] == 1);
  const SampleView gv = r.red == Reduction::None ? sample_view(g, r.p.S) : SampleView{0, 0, 1};
  TF_GROUP_LAUNCH(mode, cross_entropy_backward_kernel, d, r.eps, sums.as<double>(), stats.ptr<float>(),
                  stats.strides[0], stats.strides[1], stats.strides[2], g.ptr<float>(), gv, reduction_code(r.red),
                  gx.ptr<float>(), gx.strides[0], gx.strides[1], gx.strides[2])
  check_launch("crossEntropyBackward");
}
TF_REGISTER_KERNEL("crossEntropyBackward", 5, 1, false, cross_entropy_backward_cuda);

void nll_loss_cuda(std::vector<View>& v, const Attrs& a) {
  const ClassLossArgs r = check_nll_loss(v, a);
  check_targets(v[1], r.p, r.ignore);
  const View &x = v[0], &out = v[3];
  const ClassData d = ClassData::of(x, v[1], v[2], r.p, r.ignore);
  const int64_t n = r.p.samples();
  const bool reduced = r.red != Reduction::None;
  std::unique_ptr<Scratch> per;
  if (reduced) per.reset(new Scratch(std::max<int64_t>(n, 1) * sizeof(double)));
  if (n > 0) {
    nll_loss_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        d, out.ptr<float>(), reduced ? SampleView{0, 0, 1} : sample_view(out, r.p.S), reduced ? per->as<double>() : nullptr);
    check_launch("nllLoss");
  }
  if (reduced) {
    Scratch sums(2 * sizeof(double));
    class_sums_kernel<<<1, kSumThreads, 0, stream()>>>(d, sums.as<double>());
    check_launch("nllLoss");
    loss_total_kernel<<<1, kSumThreads, 0, stream()>>>(per->as<double>(), n, sums.as<double>(), r.red == Reduction::Mean,
                                                       out.ptr<float>());
    check_launch("nllLoss");
  }
}
TF_REGISTER_KERNEL("nllLoss", 3, 1, false, nll_loss_cuda);

void nll_loss_backward_cuda(std::vector<View>& v, const Attrs& a) {
  const ClassLossArgs r = check_nll_loss_backward(v, a);
  check_targets(v[1], r.p, r.ignore);
  const View &x = v[0], &g = v[3], &gx = v[4];
  const ClassData d = ClassData::of(x, v[1], v[2], r.p, r.ignore);
  const int64_t total = r.p.samples() * r.p.C;
  if (total == 0) return;
  Scratch sums(2 * sizeof(double));
  class_sums_kernel<<<1, kSumThreads, 0, stream()>>>(d, sums.as<double>());
  check_launch("nllLossBackward");
  nll_loss_backward_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      d, sums.as<double>(), g.ptr<float>(), r.red == Reduction::None ? sample_view(g, r.p.S) : SampleView{0, 0, 1},
      reduction_code(r.red), gx.ptr<float>(), gx.strides[0], gx.strides[1], gx.strides[2]);
  check_launch("nllLossBackward");
}
TF_REGISTER_KERNEL("nllLossBackward", 4, 1, false, nll_loss_backward_cuda);

// ---- binary cross-entropy with logits, elementwise ----
// l = (1 − y)·x + lw·softplus(−x), lw = 1 + (posWeight − 1)·y, softplus(−x) = log1p(e^−|x|) + max(−x, 0).

__device__ __forceinline__ float softplus_neg(float x) { return log1pf(expf(-fabsf(x))) + fmaxf(-x, 0.0f); }

// Up to 5 same-shaped operands (the last one written), addressed by row-major linear index.
struct Operands {
  int count;
  bool contiguous;
  Strided s[5];
  float* p[5];
  __device__ __forceinline__ float& at(int k, int64_t e) const { return p[k][contiguous ? e : s[k].offset(e)]; }
};

Operands operands(std::vector<View>& v) {
  Operands o;
  o.count = static_cast<int>(v.size());
  o.contiguous = true;
  for (int k = 0; k < o.count; k++) {
    o.s[k] = Strided::of(v[k]);
    o.p[k] = v[k].ptr<float>();
    o.contiguous &= v[k].contiguous();
  }
  return o;
}

template <bool PosWeight>
__global__ void __launch_bounds__(kThreads) bce_logits_kernel(Operands o, int64_t n) {
  constexpr int In = PosWeight ? 3 : 2;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = o.at(0, e), y = o.at(1, e);
    const float lw = PosWeight ? 1 + (o.at(2, e) - 1) * y : 1.0f;
    o.at(In, e) = (1 - y) * x + lw * softplus_neg(x);
  }
}

//   ∂l/∂x = lw·sigmoid(x) − posWeight·y;  ∂l/∂y = −x + (posWeight − 1)·softplus(−x);
//   ∂l/∂posWeight = y·softplus(−x); each times g.
template <bool PosWeight>
__global__ void __launch_bounds__(kThreads) bce_logits_backward_kernel(Operands o, int64_t n, int wrt) {
  constexpr int In = PosWeight ? 4 : 3;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = o.at(0, e), y = o.at(1, e), pw = PosWeight ? o.at(2, e) : 1.0f, g = o.at(In - 1, e);
    float d;
    if (wrt == 0) d = (1 + (pw - 1) * y) / (1 + expf(-x)) - pw * y;
    else if (wrt == 1) d = -x + (pw - 1) * softplus_neg(x);
    else d = y * softplus_neg(x);
    o.at(In, e) = g * d;
  }
}

template <bool PosWeight>
void bce_logits_cuda(std::vector<View>& v, const Attrs&) {
  check_bce_with_logits(v, PosWeight);
  const int64_t n = v.back().numel();
  if (n == 0) return;
  bce_logits_kernel<PosWeight><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(operands(v), n);
  check_launch(PosWeight ? "bceWithLogitsPosWeight" : "bceWithLogits");
}
TF_REGISTER_KERNEL("bceWithLogits", 2, 1, false, bce_logits_cuda<false>);
TF_REGISTER_KERNEL("bceWithLogitsPosWeight", 3, 1, false, bce_logits_cuda<true>);

template <bool PosWeight>
void bce_logits_backward_cuda(std::vector<View>& v, const Attrs& a) {
  const int wrt = check_bce_with_logits_backward(v, a, PosWeight);
  const int64_t n = v.back().numel();
  if (n == 0) return;
  bce_logits_backward_kernel<PosWeight><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(operands(v), n, wrt);
  check_launch(PosWeight ? "bceWithLogitsPosWeightBackward" : "bceWithLogitsBackward");
}
TF_REGISTER_KERNEL("bceWithLogitsBackward", 3, 1, false, bce_logits_backward_cuda<false>);
TF_REGISTER_KERNEL("bceWithLogitsPosWeightBackward", 4, 1, false, bce_logits_backward_cuda<true>);

}  // namespace
}  // namespace cuda
}  // namespace tf
