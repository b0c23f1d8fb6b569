// Optimizer updates, fused: one pass over each parameter reads the gradient and the state and
// writes the parameter and the state in place (torch.optim's single-tensor formulas, PyTorch 1.13).
//   sgdStep      grad | param, momentumBuffer         momentum, Nesterov, dampening, weight decay
//   adamStep     grad | param, expAvg, expAvgSq, maxExpAvgSq   Adam and AdamW (decoupled), AMSGrad
//   rmspropStep  grad | param, squareAvg, momentumBuffer, gradAvg   plain, momentum, centered
// and the gradient-clipping helpers:
//   gradNorm     grad | norm[1]   the p-norm (p > 0 or inf) of one gradient, accumulated in double
//   gradScale    | grad           grad *= scale (clipGradNorm)
//   gradClamp    | grad           grad = clamp(grad, -clipValue, clipValue) (clipGradValue)
// Optional state (absent momentum buffer, ...) travels as an empty view with a flag off.
// Argument checks and the float32 update constants live in native/ops/optim.cpp, shared with
// the CUDA kernels (cuda/optim.cu), which perform the same operations in the same order.
// Each element goes through the float32 operations torch's ops perform, in the same order
// (hyperparameters rounded to float32 first, as a Python scalar is when it meets a float
// tensor), so results track torch to within an ulp or so. Contraction into FMA is turned off
// for this file: otherwise the AVX-512 clone would fuse where the baseline clone does not, and
// a parameter's trajectory would depend on the machine.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/memory.h"
#include "core/registry.h"
#include "core/strided.h"
#include "ops/optim.h"

namespace tf {
namespace {

// Walks grad, param and the present state views together; absent views stay at null with
// stride 0 so the element functions can test the pointer once per run. Contiguous runs go to
// `contig` (vectorised), strided ones to `strided`, both given base pointers and strides.
template <int N, class Contig, class Strided>
void for_each_run(const std::vector<View>& v, const bool* present, Contig&& contig, Strided&& strided) {
  View walk[N];
  const View* ptrs[N];
  for (int k = 0; k < N; k++) {
    walk[k] = v[k];
    if (k >= 2 && !present[k - 2]) {  // an absent view walks nowhere
      walk[k] = v[1];
      walk[k].data = nullptr;
      std::fill(walk[k].strides, walk[k].strides + kMaxDims, 0);
    }
    ptrs[k] = &walk[k];
  }
  if (v[1].numel() == 0) return;
  StridedLoop<N> loop(ptrs);
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    float* p[N];
    bool unit = true;
    for (int k = 0; k < N; k++) {
      p[k] = walk[k].data ? static_cast<float*>(walk[k].data) + off[k] : nullptr;
      if (p[k] && st[k] != 1) unit = false;
    }
    if (unit) contig(p, n);
    else strided(p, n, st);
  });
}

// ---- SGD ---------------------------------------------------------------------------------------
// torch: d = ±g (+ wd·p); buf = first ? d : buf·m + (1 − dampening)·d; d = nesterov ? d + m·buf : buf;
// p += −lr·d

inline void sgd_elem(const SgdConst& c, float g, float& p, float* buf) {
  float d = c.maximize ? -g : g;
  if (c.has_wd) d = d + c.wd * p;
  if (c.has_mom) {
    float b = c.first ? d : *buf * c.mom + c.one_minus_damp * d;
    *buf = b;
    d = c.nesterov ? d + c.mom * b : b;
  }
  p = p + c.neg_lr * d;
}

TF_CLONES void sgd_run(SgdConst c, const float* g, float* p, float* buf, int64_t n) {
  if (c.has_mom)
    for (int64_t i = 0; i < n; i++) sgd_elem(c, g[i], p[i], buf + i);
  else
    for (int64_t i = 0; i < n; i++) sgd_elem(c, g[i], p[i], nullptr);
}

// views and attrs: see check_sgd (native/ops/optim.h).
void sgd_kernel(std::vector<View>& v, const Attrs& a) {
  const SgdArgs args = check_sgd(v, a);
  const bool* present = args.present;
  const SgdConst& c = args.c;
  for_each_run<3>(
      v, present, [&](float* const* p, int64_t n) { sgd_run(c, p[0], p[1], p[2], n); },
      [&](float* const* p, int64_t n, const int64_t* st) {
        for (int64_t i = 0; i < n; i++) sgd_elem(c, p[0][i * st[0]], p[1][i * st[1]], p[2] ? p[2] + i * st[2] : nullptr);
      });
}
TF_REGISTER_KERNEL("sgdStep", 1, 2, false, sgd_kernel);

// ---- Adam / AdamW ------------------------------------------------------------------------------
// torch: g = ±g (+ wd·p, Adam) ; p *= 1 − lr·wd (AdamW) ; m = m·β1 + (1 − β1)·g ;
// v = v·β2 + (1 − β2)·g·g ; v̂ = amsgrad ? max(vmax, v) : v ;
// p += (−lr/bc1 · m) / (sqrt(v̂) / sqrt(bc2) + eps)      bc = 1 − β^step

inline void adam_elem(const AdamConst& c, float g, float& p, float& m, float& v, float* vmax) {
  if (c.maximize) g = -g;
  if (c.l2) g = g + c.wd * p;
  if (c.decoupled) p = p * c.decay;
  m = m * c.b1 + c.one_minus_b1 * g;
  v = v * c.b2 + c.one_minus_b2 * g * g;
  float vh = v;
  if (c.amsgrad) {  // torch.maximum: NaN wins
    float mx = *vmax;
    vh = (mx > v || mx != mx) ? mx : v;
    *vmax = vh;
  }
  const float denom = std::sqrt(vh) / c.bc2_sqrt + c.eps;
  p = p + c.neg_step_size * m / denom;
}

TF_CLONES void adam_run(AdamConst c, const float* g, float* p, float* m, float* v, float* vmax, int64_t n) {
  if (c.amsgrad)
    for (int64_t i = 0; i < n; i++) adam_elem(c, g[i], p[i], m[i], v[i], vmax + i);
  else
    for (int64_t i = 0; i < n; i++) adam_elem(c, g[i], p[i], m[i], v[i], nullptr);
}

// views and attrs: see check_adam (native/ops/optim.h).
void adam_kernel(std::vector<View>& v, const Attrs& a) {
  const AdamArgs args = check_adam(v, a);
  const bool* present = args.present;
  const AdamConst& c = args.c;
  for_each_run<5>(
      v, present, [&](float* const* p, int64_t n) { adam_run(c, p[0], p[1], p[2], p[3], p[4], n); },
      [&](float* const* p, int64_t n, const int64_t* st) {
        for (int64_t i = 0; i < n; i++)
          adam_elem(c, p[0][i * st[0]], p[1][i * st[1]], p[2][i * st[2]], p[3][i * st[3]], p[4] ? p[4] + i * st[4] : nullptr);
      });
}
TF_REGISTER_KERNEL("adamStep", 1, 4, false, adam_kernel);

// ---- RMSprop -----------------------------------------------------------------------------------
// torch: g = ±g (+ wd·p) ; s = s·α + (1 − α)·g·g ; centered: ga = ga·α + (1 − α)·g, avg = sqrt(s − ga·ga)
// else avg = sqrt(s) ; avg += eps ; momentum: buf = buf·μ + g/avg, p += −lr·buf ; else p += (−lr·g)/avg

inline void rms_elem(const RmsConst& c, float g, float& p, float& s, float* buf, float* ga) {
  if (c.maximize) g = -g;
  if (c.has_wd) g = g + c.wd * p;
  s = s * c.alpha + c.one_minus_alpha * g * g;
  float avg;
  if (c.centered) {
    const float gav = *ga * c.alpha + c.one_minus_alpha * g;
    *ga = gav;
    avg = std::sqrt(s + -1.0f * gav * gav);
  } else {
    avg = std::sqrt(s);
  }
  avg = avg + c.eps;
  if (c.has_mom) {
    const float b = *buf * c.mom + 1.0f * g / avg;
    *buf = b;
    p = p + c.neg_lr * b;
  } else {
    p = p + c.neg_lr * g / avg;
  }
}

TF_CLONES void rms_run(RmsConst c, const float* g, float* p, float* s, float* buf, float* ga, int64_t n) {
  if (c.has_mom && c.centered)
    for (int64_t i = 0; i < n; i++) rms_elem(c, g[i], p[i], s[i], buf + i, ga + i);
  else if (c.has_mom)
    for (int64_t i = 0; i < n; i++) rms_elem(c, g[i], p[i], s[i], buf + i, nullptr);
  else if (c.centered)
    for (int64_t i = 0; i < n; i++) rms_elem(c, g[i], p[i], s[i], nullptr, ga + i);
  else
    for (int64_t i = 0; i < n; i++) rms_elem(c, g[i], p[i], s[i], nullptr, nullptr);
}

// views and attrs: see check_rmsprop (native/ops/optim.h).
void rmsprop_kernel(std::vector<View>& v, const Attrs& a) {
  const RmsArgs args = check_rmsprop(v, a);
  const bool* present = args.present;
  const RmsConst& c = args.c;
  for_each_run<5>(
      v, present, [&](float* const* p, int64_t n) { rms_run(c, p[0], p[1], p[2], p[3], p[4], n); },
      [&](float* const* p, int64_t n, const int64_t* st) {
        for (int64_t i = 0; i < n; i++)
          rms_elem(c, p[0][i * st[0]], p[1][i * st[1]], p[2][i * st[2]], p[3] ? p[3] + i * st[3] : nullptr,
                   p[4] ? p[4] + i * st[4] : nullptr);
      });
}
TF_REGISTER_KERNEL("rmspropStep", 1, 4, false, rmsprop_kernel);

// ---- gradient clipping -------------------------------------------------------------------------
constexpr int kLanes = 8;

// Σ|x|^p in double lanes (p = 1, 2 fast paths), or max|x| for p = inf (NaN propagates).
TF_CLONES double norm_run(const float* x, int64_t n, int64_t stride, double p, double acc) {
  const bool inf = std::isinf(p);
  if (inf) {
    for (int64_t i = 0; i < n; i++) {
      double a = std::fabs(static_cast<double>(x[i * stride]));
      acc = (a > acc || a != a) ? a : acc;
      if (acc != acc) return acc;
    }
    return acc;
  }
  double lanes[kLanes] = {};
  int64_t i = 0;
  if (stride == 1 && p == 2) {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += static_cast<double>(x[i + l]) * x[i + l];
  } else if (stride == 1 && p == 1) {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += std::fabs(static_cast<double>(x[i + l]));
  }
  for (; i < n; i++) {
    double a = std::fabs(static_cast<double>(x[i * stride]));
    acc += p == 2 ? a * a : p == 1 ? a : std::pow(a, p);
  }
  for (int l = 0; l < kLanes; l++) acc += lanes[l];
  return acc;
}

// views and attrs: see check_grad_norm (native/ops/optim.h).
// Single-threaded and in a fixed order, so the norm never depends on the thread count.
void grad_norm_kernel(std::vector<View>& v, const Attrs& a) {
  const double p = check_grad_norm(v, a);
  const View &g = v[0], &out = v[1];
  double acc = 0;
  const View* views[1] = {&g};
  if (g.numel() > 0) {
    StridedLoop<1> loop(views);
    loop.run([&](const int64_t* off, int64_t n, const int64_t* st) { acc = norm_run(g.ptr<float>() + off[0], n, st[0], p, acc); },
             std::numeric_limits<int64_t>::max());
  }
  const double norm = std::isinf(p) ? acc : p == 1 ? acc : p == 2 ? std::sqrt(acc) : std::pow(acc, 1 / p);
  *out.ptr<float>() = static_cast<float>(norm);
}
TF_REGISTER_KERNEL("gradNorm", 1, 1, false, grad_norm_kernel);

TF_CLONES void scale_run(float* x, int64_t n, int64_t stride, float s) {
  if (stride == 1)
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * s;
  else
    for (int64_t i = 0; i < n; i++) x[i * stride] = x[i * stride] * s;
}

TF_CLONES void clamp_run(float* x, int64_t n, int64_t stride, float c) {
  for (int64_t i = 0; i < n; i++) {  // NaN stays NaN, as torch.clamp leaves it
    float& e = x[i * stride];
    e = e < -c ? -c : (e > c ? c : e);
  }
}

// views and attrs: see check_grad_scale (native/ops/optim.h). grad *= scale.
void grad_scale_kernel(std::vector<View>& v, const Attrs& a) {
  const float sf = check_grad_scale(v, a);
  const View& g = v[0];
  if (g.numel() == 0) return;
  const View* views[1] = {&g};
  StridedLoop<1>(views).run([&](const int64_t* off, int64_t n, const int64_t* st) { scale_run(g.ptr<float>() + off[0], n, st[0], sf); });
}
TF_REGISTER_KERNEL("gradScale", 0, 1, false, grad_scale_kernel);

// views and attrs: see check_grad_clamp (native/ops/optim.h).
void grad_clamp_kernel(std::vector<View>& v, const Attrs& a) {
  const float c = check_grad_clamp(v, a);
  const View& g = v[0];
  if (g.numel() == 0) return;
  const View* views[1] = {&g};
  StridedLoop<1>(views).run([&](const int64_t* off, int64_t n, const int64_t* st) { clamp_run(g.ptr<float>() + off[0], n, st[0], c); });
}
TF_REGISTER_KERNEL("gradClamp", 0, 1, false, grad_clamp_kernel);

}  // namespace
}  // namespace tf
