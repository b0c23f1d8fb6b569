// Argument validation of the pooling family (see pool.h). The messages are the CPU kernels'.
#include "ops/pool.h"

#include <limits>
#include <string>
#include <tuple>
#include <utility>

namespace tf {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

Error arg_error(const char* op, const std::string& msg) { return Error(ErrorKind::Argument, std::string(op) + ": " + msg); }

// An [h, w] attribute with both entries in [lo, hi].
std::pair<int64_t, int64_t> pair_attr(const Attrs& a, const char* key, const char* op, int64_t lo, int64_t hi = 1 << 30) {
  const auto& l = a.list(key);
  if (l.size() != 2) throw arg_error(op, std::string(key) + " must hold 2 integers [h, w], got " + std::to_string(l.size()));
  for (int64_t v : l)
    if (v < lo || v > hi)
      throw arg_error(op, std::string(key) + " entries must lie in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                              "], got " + std::to_string(v));
  return {l[0], l[1]};
}

bool flag_attr(const Attrs& a, const char* key, const char* op) {
  int64_t v = a.integer(key);
  if (v != 0 && v != 1) throw arg_error(op, std::string(key) + " must be a boolean (0 or 1), got " + std::to_string(v));
  return v == 1;
}

void expect_4d(const View& v, DType d, const char* op, const char* what) {
  if (v.ndim != 4)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " must be 4-D [N, C, H, W], got " + shape_str(v));
  expect_dtype(v, d, op, what);
}

// The input's sizes; planes must be non-empty and small enough for int32 flat indices.
PoolGeom input_geom(const View& x, const char* op, const char* what) {
  expect_4d(x, DType::Float32, op, what);
  PoolGeom g;
  g.N = x.shape[0], g.C = x.shape[1], g.H = x.shape[2], g.W = x.shape[3];
  if (g.H < 1 || g.W < 1)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " " + shape_str(x) + " must have non-empty H and W");
  if (g.H * g.W > std::numeric_limits<int32_t>::max())
    throw Error(ErrorKind::Shape, std::string(op) + ": planes of " + shape_str(x) + " exceed int32 index range");
  return g;
}

// Window attributes and the output size they give for the input sizes in g.
void window_geom(PoolGeom& g, const Attrs& a, const char* op, bool has_dilation) {
  std::tie(g.kh, g.kw) = pair_attr(a, "kernelSize", op, 1);
  std::tie(g.sh, g.sw) = pair_attr(a, "stride", op, 1);
  std::tie(g.ph, g.pw) = pair_attr(a, "padding", op, 0);
  if (has_dilation) std::tie(g.dh, g.dw) = pair_attr(a, "dilation", op, 1);
  g.ceil = flag_attr(a, "ceilMode", op);
  if (2 * g.ph > g.kh || 2 * g.pw > g.kw)
    throw arg_error(op, "padding must be at most half of kernelSize, got padding [" + std::to_string(g.ph) + ", " +
                            std::to_string(g.pw) + "] and kernelSize [" + std::to_string(g.kh) + ", " + std::to_string(g.kw) + "]");
  g.OH = pooled_size(g.H, g.kh, g.sh, g.ph, g.dh, g.ceil);
  g.OW = pooled_size(g.W, g.kw, g.sw, g.pw, g.dw, g.ceil);
  if (g.OH < 1 || g.OW < 1)
    throw Error(ErrorKind::Shape, std::string(op) + ": input planes " + std::to_string(g.H) + "x" + std::to_string(g.W) +
                                      " are too small for the window: output would be " + std::to_string(g.OH) + "x" +
                                      std::to_string(g.OW));
}

void expect_shape(const View& v, int64_t n, int64_t c, int64_t h, int64_t w, DType d, const char* op, const char* what) {
  expect_4d(v, d, op, what);
  if (v.shape[0] != n || v.shape[1] != c || v.shape[2] != h || v.shape[3] != w)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " must have shape [" + std::to_string(n) + ", " +
                                      std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "], got " +
                                      shape_str(v));
}

AvgPoolOpts avg_opts(const Attrs& a, const char* op) {
  AvgPoolOpts o{flag_attr(a, "countIncludePad", op), a.integer("divisorOverride")};
  if (o.divisor_override < -(1LL << 31) || o.divisor_override > (1LL << 31))
    throw arg_error(op, "divisorOverride is out of range");
  return o;
}

PoolGeom adaptive_geom(const View& x, const View& y, const char* op) {
  PoolGeom g = input_geom(x, op, "input");
  expect_4d(y, DType::Float32, op, "output");
  if (y.shape[2] < 1 || y.shape[3] < 1)
    throw Error(ErrorKind::Shape, std::string(op) + ": output size must be at least 1x1, got " + shape_str(y));
  expect_shape(y, g.N, g.C, y.shape[2], y.shape[3], DType::Float32, op, "output");
  g.OH = y.shape[2], g.OW = y.shape[3];
  return g;
}

}  // namespace

int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  int64_t out = floor_div(in + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1;
  if (ceil && (out - 1) * s >= in + p) out--;
  return out;
}

PoolGeom check_max_pool(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1], &ix = v[2];
  PoolGeom g = input_geom(x, "maxPool2d", "input");
  window_geom(g, a, "maxPool2d", true);
  expect_shape(y, g.N, g.C, g.OH, g.OW, DType::Float32, "maxPool2d", "output");
  expect_shape(ix, g.N, g.C, g.OH, g.OW, DType::Int32, "maxPool2d", "indices");
  return g;
}

MaxPoolBackwardArgs check_max_pool_backward(const std::vector<View>& v, const Attrs& a) {
  const char* op = "maxPool2dBackward";
  const View &g = v[0], &ix = v[1], &gx = v[2];
  MaxPoolBackwardArgs r;
  r.g = input_geom(gx, op, "input gradient");
  expect_4d(g, DType::Float32, op, "output gradient");
  expect_shape(g, r.g.N, r.g.C, g.shape[2], g.shape[3], DType::Float32, op, "output gradient");
  expect_shape(ix, r.g.N, r.g.C, g.shape[2], g.shape[3], DType::Int32, op, "indices");
  r.g.OH = g.shape[2], r.g.OW = g.shape[3];
  if (a.ints.count("kernelSize")) {
    PoolGeom w = r.g;
    window_geom(w, a, op, true);
    if (w.OH != r.g.OH || w.OW != r.g.OW)
      throw Error(ErrorKind::Shape, std::string(op) + ": output gradient " + shape_str(g) + " does not match the window, which gives " +
                                        std::to_string(w.OH) + "x" + std::to_string(w.OW) + " outputs per plane");
    r.g = w;
    r.mode = MaxBackwardMode::Window;
  } else if (a.num.count("adaptive") && flag_attr(a, "adaptive", op)) {
    r.mode = MaxBackwardMode::Adaptive;
  }
  return r;
}

PoolGeom check_avg_pool(const std::vector<View>& v, const Attrs& a, AvgPoolOpts& opt) {
  const View &x = v[0], &y = v[1];
  PoolGeom g = input_geom(x, "avgPool2d", "input");
  window_geom(g, a, "avgPool2d", false);
  opt = avg_opts(a, "avgPool2d");
  expect_shape(y, g.N, g.C, g.OH, g.OW, DType::Float32, "avgPool2d", "output");
  return g;
}

PoolGeom check_avg_pool_backward(const std::vector<View>& v, const Attrs& a, AvgPoolOpts& opt) {
  const char* op = "avgPool2dBackward";
  const View &gy = v[0], &gx = v[1];
  PoolGeom g = input_geom(gx, op, "input gradient");
  window_geom(g, a, op, false);
  opt = avg_opts(a, op);
  expect_shape(gy, g.N, g.C, g.OH, g.OW, DType::Float32, op, "output gradient");
  return g;
}

PoolGeom check_adaptive_avg_pool(const std::vector<View>& v) { return adaptive_geom(v[0], v[1], "adaptiveAvgPool2d"); }

PoolGeom check_adaptive_avg_pool_backward(const std::vector<View>& v) {
  return adaptive_geom(v[1], v[0], "adaptiveAvgPool2dBackward");
}

PoolGeom check_adaptive_max_pool(const std::vector<View>& v) {
  const char* op = "adaptiveMaxPool2d";
  PoolGeom g = adaptive_geom(v[0], v[1], op);
  expect_shape(v[2], g.N, g.C, g.OH, g.OW, DType::Int32, op, "indices");
  return g;
}

}  // namespace tf
