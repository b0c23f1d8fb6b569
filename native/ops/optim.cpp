// Argument checks of the optimizer kernels, shared by the CPU and CUDA addons (see optim.h).
// The update constants are computed here in double (1 − lr·wd, lr/bc1, ...) exactly as torch's
// Python loop does; no FMA contraction, so they are the same numbers on every machine.
#pragma GCC optimize("fp-contract=off")
#include "ops/optim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace tf {
namespace {

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
// would apply twice to one location (on CUDA, from two threads at once).
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

}  // namespace

SgdArgs check_sgd(const std::vector<View>& v, const Attrs& a) {
  const char* op = "sgdStep";
  const double lr = hyper(a, op, "lr"), momentum = hyper(a, op, "momentum"), wd = hyper(a, op, "weightDecay");
  const double dampening = hyper(a, op, "dampening", -std::numeric_limits<double>::infinity());
  const bool nesterov = flag(a, op, "nesterov"), maximize = flag(a, op, "maximize"), has_buffer = flag(a, op, "hasBuffer");
  if (nesterov && (momentum <= 0 || dampening != 0))
    throw Error(ErrorKind::Value, "sgdStep: Nesterov momentum requires a momentum > 0 and zero dampening");
  SgdArgs r;
  r.present[0] = momentum != 0;
  const char* names[1] = {"momentum buffer"};
  check_views(v, r.present, names, op);
  r.c = SgdConst{static_cast<float>(wd), static_cast<float>(momentum), static_cast<float>(1 - dampening),
                 static_cast<float>(-lr), maximize, wd != 0, momentum != 0, !has_buffer, nesterov};
  return r;
}

AdamArgs check_adam(const std::vector<View>& v, const Attrs& a) {
  const char* op = "adamStep";
  const double lr = hyper(a, op, "lr"), eps = hyper(a, op, "eps"), wd = hyper(a, op, "weightDecay");
  const double beta1 = hyper(a, op, "beta1", 0, 1, true), beta2 = hyper(a, op, "beta2", 0, 1, true);
  const double step = a.number("step");
  if (!(step >= 1 && step <= 9007199254740991.0) || step != std::floor(step))
    throw Error(ErrorKind::Value, "adamStep: step must be an integer >= 1 (the count including this update), got " +
                                      num_str(step));
  const bool decoupled = flag(a, op, "decoupled"), amsgrad = flag(a, op, "amsgrad"), maximize = flag(a, op, "maximize");
  AdamArgs r;
  r.present[0] = true;
  r.present[1] = true;
  r.present[2] = amsgrad;
  const char* names[3] = {"expAvg", "expAvgSq", "maxExpAvgSq"};
  check_views(v, r.present, names, op);
  // Python-side scalars of torch's loop, in double
  const double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
  const double step_size = lr / bc1;
  r.c = AdamConst{static_cast<float>(wd), static_cast<float>(1 - lr * wd), static_cast<float>(beta1),
                  static_cast<float>(1 - beta1), static_cast<float>(beta2), static_cast<float>(1 - beta2),
                  static_cast<float>(std::sqrt(bc2)), static_cast<float>(eps), static_cast<float>(-step_size),
                  maximize, !decoupled && wd != 0, decoupled, amsgrad};
  return r;
}

RmsArgs check_rmsprop(const std::vector<View>& v, const Attrs& a) {
  const char* op = "rmspropStep";
  const double lr = hyper(a, op, "lr"), alpha = hyper(a, op, "alpha"), eps = hyper(a, op, "eps");
  const double wd = hyper(a, op, "weightDecay"), momentum = hyper(a, op, "momentum");
  const bool centered = flag(a, op, "centered"), maximize = flag(a, op, "maximize");
  RmsArgs r;
  r.present[0] = true;
  r.present[1] = momentum > 0;
  r.present[2] = centered;
  const char* names[3] = {"squareAvg", "momentum buffer", "gradAvg"};
  check_views(v, r.present, names, op);
  r.c = RmsConst{static_cast<float>(wd), static_cast<float>(alpha), static_cast<float>(1 - alpha),
                 static_cast<float>(eps), static_cast<float>(momentum), static_cast<float>(-lr),
                 maximize, wd != 0, centered, momentum > 0};
  return r;
}

double check_grad_norm(const std::vector<View>& v, const Attrs& a) {
  const View &g = v[0], &out = v[1];
  expect_float(g, "gradNorm", "grad");
  expect_float(out, "gradNorm", "norm");
  if (out.numel() != 1)
    throw Error(ErrorKind::Shape, "gradNorm: norm must have exactly one element, got shape " + shape_str(out));
  const double p = a.number("normType");
  if (!(p > 0))
    throw Error(ErrorKind::Value, "gradNorm: normType must be > 0 or Infinity, got " + num_str(p));
  return p;
}

float check_grad_scale(const std::vector<View>& v, const Attrs& a) {
  const View& g = v[0];
  expect_float(g, "gradScale", "grad");
  expect_no_self_overlap(g, "gradScale", "grad");
  const double s = a.number("scale");
  if (std::isinf(s)) throw Error(ErrorKind::Value, "gradScale: scale must not be infinite, got " + num_str(s));
  return static_cast<float>(s);  // NaN (a NaN total norm) spreads to the grads, as in torch
}

float check_grad_clamp(const std::vector<View>& v, const Attrs& a) {
  const View& g = v[0];
  expect_float(g, "gradClamp", "grad");
  expect_no_self_overlap(g, "gradClamp", "grad");
  return static_cast<float>(hyper(a, "gradClamp", "clipValue"));
}

}  // namespace tf
