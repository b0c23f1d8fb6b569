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
// Each element goes through the float32 operations torch's ops perform, in the same order
// (hyperparameters rounded to float32 first, as a Python scalar is when it meets a float
// tensor), so results track torch to within an ulp or so. Contraction into FMA is turned off
// for this file: otherwise the AVX-512 clone would fuse where the baseline clone does not, and
// a parameter's trajectory would depend on the machine.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/memory.h"
#include "core/registry.h"
#include "core/strided.h"

namespace tf {
namespace {

// ---- argument checks ---------------------------------------------------------------------------

bool flag(const Attrs& a, const char* op, const char* name) {
  double v = a.number(name);
  if (v != 0 && v != 1)
    throw Error(ErrorKind::Argument, std::string(op) + ": attribute '" + name + "' must be 0 or 1 (or a boolean)");
  return v == 1;
}

std::string num_str(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A finite hyperparameter in [lo, hi] (hi_open: [lo, hi)).
double hyper(const Attrs& a, const char* op, const char* name, double lo = 0,
             double hi = std::numeric_limits<double>::infinity(), bool hi_open = false) {
  double v = a.number(name);
  bool ok = std::isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi);
  if (!ok) {
    std::string range = "[" + num_str(lo) + ", " + (std::isinf(hi) ? std::string("inf)") : num_str(hi) + (hi_open ? ")" : "]"));
    throw Error(ErrorKind::Value, std::string(op) + ": " + name + " must be a finite number in " + range + ", got " +
                                      num_str(v));
  }
  return v;
}

// Written views must not have two elements sharing memory (an expanded view): the update
// would apply twice to one location.
void expect_no_self_overlap(const View& v, const char* op, const char* what) {
  int order[kMaxDims];
  int n = 0;
  for (int d = 0; d < v.ndim; d++)
    if (v.shape[d] > 1) order[n++] = d;
  for (int i = 1; i < n; i++)  // insertion sort by stride: at most kMaxDims entries
    for (int j = i; j > 0 && v.strides[order[j]] < v.strides[order[j - 1]]; j--) std::swap(order[j], order[j - 1]);
  int64_t reach = 0;  // furthest offset covered by the dims so far
  for (int i = 0; i < n; i++) {
    const int d = order[i];
    if (v.strides[d] <= reach)
      throw Error(ErrorKind::Argument, std::string(op) + ": " + what + " of shape " + shape_str(v) +
                                           " has elements that share memory (an expanded view) and cannot be updated in place");
    reach += (v.shape[d] - 1) * v.strides[d];
  }
}

// The gradient, the parameter and every present state view: float32, the parameter's shape.
// Absent state (flag off) must be an empty view, so a caller cannot smuggle a stray buffer in.
void check_views(const std::vector<View>& v, const bool* present, const char* const* names, const char* op) {
  const View &grad = v[0], &param = v[1];
  expect_float(grad, op, "grad");
  expect_float(param, op, "param");
  if (grad.ndim != param.ndim || !std::equal(grad.shape, grad.shape + grad.ndim, param.shape))
    throw Error(ErrorKind::Shape, std::string(op) + ": grad has shape " + shape_str(grad) +
                                      ", expected the param's shape " + shape_str(param));
  expect_no_self_overlap(param, op, "param");
  for (size_t i = 2; i < v.size(); i++) {
    const char* what = names[i - 2];
    expect_float(v[i], op, what);
    if (!present[i - 2]) {
      if (v[i].numel() != 0)
        throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " is absent (its flag is off) but its view has " +
                                          std::to_string(v[i].numel()) + " elements; pass an empty view");
      continue;
    }
    if (v[i].ndim != param.ndim || !std::equal(v[i].shape, v[i].shape + v[i].ndim, param.shape))
      throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " has shape " + shape_str(v[i]) +
                                        ", expected the param's shape " + shape_str(param));
    expect_no_self_overlap(v[i], op, what);
  }
}

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
struct SgdConst {
  float wd, mom, one_minus_damp, neg_lr;
  bool maximize, has_wd, has_mom, first, nesterov;
};

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

// views: grad | param, momentumBuffer. attrs: lr, momentum, dampening, weightDecay, nesterov,
// maximize, hasBuffer (whether the buffer holds a previous step; when off it is initialised
// with this step's direction, as torch clones it). The buffer is present iff momentum != 0.
void sgd_kernel(std::vector<View>& v, const Attrs& a) {
  const char* op = "sgdStep";
  const double lr = hyper(a, op, "lr"), momentum = hyper(a, op, "momentum"), wd = hyper(a, op, "weightDecay");
  const double dampening = hyper(a, op, "dampening", -std::numeric_limits<double>::infinity());
  const bool nesterov = flag(a, op, "nesterov"), maximize = flag(a, op, "maximize"), has_buffer = flag(a, op, "hasBuffer");
  if (nesterov && (momentum <= 0 || dampening != 0))
    throw Error(ErrorKind::Value, "sgdStep: Nesterov momentum requires a momentum > 0 and zero dampening");
  const bool present[1] = {momentum != 0};
  const char* names[1] = {"momentum buffer"};
  check_views(v, present, names, op);
  const SgdConst c{static_cast<float>(wd), static_cast<float>(momentum), static_cast<float>(1 - dampening),
                   static_cast<float>(-lr), maximize, wd != 0, momentum != 0, !has_buffer, nesterov};
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
struct AdamConst {
  float wd, decay, b1, one_minus_b1, b2, one_minus_b2, bc2_sqrt, eps, neg_step_size;
  bool maximize, l2, decoupled, amsgrad;
};

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

// views: grad | param, expAvg, expAvgSq, maxExpAvgSq. attrs: lr, beta1, beta2, eps, weightDecay,
// step (the count after this update, >= 1), decoupled (AdamW), amsgrad, maximize.
// maxExpAvgSq is present iff amsgrad.
void adam_kernel(std::vector<View>& v, const Attrs& a) {
  const char* op = "adamStep";
  const double lr = hyper(a, op, "lr"), eps = hyper(a, op, "eps"), wd = hyper(a, op, "weightDecay");
  const double beta1 = hyper(a, op, "beta1", 0, 1, true), beta2 = hyper(a, op, "beta2", 0, 1, true);
  const double step = a.number("step");
  if (!(step >= 1 && step <= 9007199254740991.0) || step != std::floor(step))
    throw Error(ErrorKind::Value, "adamStep: step must be an integer >= 1 (the count including this update), got " +
                                      num_str(step));
  const bool decoupled = flag(a, op, "decoupled"), amsgrad = flag(a, op, "amsgrad"), maximize = flag(a, op, "maximize");
  const bool present[3] = {true, true, amsgrad};
  const char* names[3] = {"expAvg", "expAvgSq", "maxExpAvgSq"};
  check_views(v, present, names, op);
  // Python-side scalars of torch's loop, in double
  const double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
  const double step_size = lr / bc1;
  const AdamConst c{static_cast<float>(wd), static_cast<float>(1 - lr * wd), static_cast<float>(beta1),
                    static_cast<float>(1 - beta1), static_cast<float>(beta2), static_cast<float>(1 - beta2),
                    static_cast<float>(std::sqrt(bc2)), static_cast<float>(eps), static_cast<float>(-step_size),
                    maximize, !decoupled && wd != 0, decoupled, amsgrad};
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
struct RmsConst {
  float wd, alpha, one_minus_alpha, eps, mom, neg_lr;
  bool maximize, has_wd, centered, has_mom;
};

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

// views: grad | param, squareAvg, momentumBuffer, gradAvg. attrs: lr, alpha, eps, weightDecay,
// momentum, centered, maximize. momentumBuffer is present iff momentum > 0, gradAvg iff centered.
void rmsprop_kernel(std::vector<View>& v, const Attrs& a) {
  const char* op = "rmspropStep";
  const double lr = hyper(a, op, "lr"), alpha = hyper(a, op, "alpha"), eps = hyper(a, op, "eps");
  const double wd = hyper(a, op, "weightDecay"), momentum = hyper(a, op, "momentum");
  const bool centered = flag(a, op, "centered"), maximize = flag(a, op, "maximize");
  const bool present[3] = {true, momentum > 0, centered};
  const char* names[3] = {"squareAvg", "momentum buffer", "gradAvg"};
  check_views(v, present, names, op);
  const RmsConst c{static_cast<float>(wd), static_cast<float>(alpha), static_cast<float>(1 - alpha),
                   static_cast<float>(eps), static_cast<float>(momentum), static_cast<float>(-lr),
                   maximize, wd != 0, centered, momentum > 0};
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

// views: grad | norm (float32, one element). attrs: normType (> 0, or Infinity).
// Single-threaded and in a fixed order, so the norm never depends on the thread count.
void grad_norm_kernel(std::vector<View>& v, const Attrs& a) {
  const View &g = v[0], &out = v[1];
  expect_float(g, "gradNorm", "grad");
  expect_float(out, "gradNorm", "norm");
  if (out.numel() != 1)
    throw Error(ErrorKind::Shape, "gradNorm: norm must have exactly one element, got shape " + shape_str(out));
  const double p = a.number("normType");
  if (!(p > 0))
    throw Error(ErrorKind::Value, "gradNorm: normType must be > 0 or Infinity, got " + num_str(p));
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

// views: | grad. attrs: scale (finite, float32 after rounding). grad *= scale.
void grad_scale_kernel(std::vector<View>& v, const Attrs& a) {
  const View& g = v[0];
  expect_float(g, "gradScale", "grad");
  expect_no_self_overlap(g, "gradScale", "grad");
  const double s = a.number("scale");
  if (std::isinf(s)) throw Error(ErrorKind::Value, "gradScale: scale must not be infinite, got " + num_str(s));
  const float sf = static_cast<float>(s);  // NaN (a NaN total norm) spreads to the grads, as in torch
  if (g.numel() == 0) return;
  const View* views[1] = {&g};
  StridedLoop<1>(views).run([&](const int64_t* off, int64_t n, const int64_t* st) { scale_run(g.ptr<float>() + off[0], n, st[0], sf); });
}
TF_REGISTER_KERNEL("gradScale", 0, 1, false, grad_scale_kernel);

// views: | grad. attrs: clipValue (finite, >= 0).
void grad_clamp_kernel(std::vector<View>& v, const Attrs& a) {
  const View& g = v[0];
  expect_float(g, "gradClamp", "grad");
  expect_no_self_overlap(g, "gradClamp", "grad");
  const float c = static_cast<float>(hyper(a, "gradClamp", "clipValue"));
  if (g.numel() == 0) return;
  const View* views[1] = {&g};
  StridedLoop<1>(views).run([&](const int64_t* off, int64_t n, const int64_t* st) { clamp_run(g.ptr<float>() + off[0], n, st[0], c); });
}
TF_REGISTER_KERNEL("gradClamp", 0, 1, false, grad_clamp_kernel);

}  // namespace
}  // namespace tf
