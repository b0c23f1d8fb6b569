// Shape, dtype and attribute checks of the convolution kernels (see conv.h).
#include "ops/conv.h"

#include <string>

#include "core/registry.h"

namespace tf {
namespace {

std::string dims(const int64_t* s, int n) {
  std::string r = "[";
  for (int i = 0; i < n; i++) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Attributes: stride [sh, sw] >= 1, padding [top, bottom, left, right] >= 0, dilation [dh, dw]
// >= 1, groups >= 1. The cap keeps every size product far from int64 overflow.
// `xs`, `os`: the input's and output's shapes (for the backward kernels, those of the gradients,
// named by `out_name`).
ConvParams parse(const char* op, const int64_t* xs, const View& w, const int64_t* os, const char* out_name,
                 const Attrs& a) {
  constexpr int64_t kCap = int64_t(1) << 31;
  auto list = [&](const char* key, size_t n, int64_t lo) {
    const std::vector<int64_t>& v = a.list(key);
    if (v.size() != n)
      throw Error(ErrorKind::Argument, std::string(op) + ": attribute '" + key + "' needs " + std::to_string(n) +
                                           " values, got " + std::to_string(v.size()));
    for (int64_t x : v)
      if (x < lo || x > kCap)
        throw Error(ErrorKind::Argument, std::string(op) + ": attribute '" + key + "' values must lie in [" +
                                             std::to_string(lo) + ", 2^31], got " + std::to_string(x));
    return v;
  };
  const auto stride = list("stride", 2, 1), pad = list("padding", 4, 0), dil = list("dilation", 2, 1);
  const int64_t G = a.integer("groups");
  if (G < 1 || G > kCap)
    throw Error(ErrorKind::Argument, std::string(op) + ": groups must be a positive integer, got " + std::to_string(G));
  ConvParams c{};
  c.N = xs[0], c.C = xs[1], c.H = xs[2], c.W = xs[3];
  c.Co = w.shape[0], c.kh = w.shape[2], c.kw = w.shape[3];
  c.sh = stride[0], c.sw = stride[1], c.dh = dil[0], c.dw = dil[1];
  c.pt = pad[0], c.pb = pad[1], c.pl = pad[2], c.pr = pad[3];
  c.G = G;
  const std::string shapes =
      " (input " + dims(xs, 4) + ", weight " + shape_str(w) + ", " + out_name + " " + dims(os, 4) + ")";
  if (c.C % G || c.Co % G)
    throw Error(ErrorKind::Shape, std::string(op) + ": input channels and output channels must be divisible by groups=" +
                                      std::to_string(G) + shapes);
  if (w.shape[1] != c.C / G || c.kh < 1 || c.kw < 1)
    throw Error(ErrorKind::Shape, std::string(op) + ": weight must be [outChannels, inChannels / groups = " +
                                      std::to_string(c.C / G) + ", kh >= 1, kw >= 1]" + shapes);
  const int64_t spanH = c.H + c.pt + c.pb - c.dh * (c.kh - 1) - 1;
  const int64_t spanW = c.W + c.pl + c.pr - c.dw * (c.kw - 1) - 1;
  if (spanH < 0 || spanW < 0)
    throw Error(ErrorKind::Shape, std::string(op) + ": the (dilated) kernel is larger than the padded input" + shapes);
  c.Ho = spanH / c.sh + 1, c.Wo = spanW / c.sw + 1;
  if (os[0] != c.N || os[1] != c.Co || os[2] != c.Ho || os[3] != c.Wo)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + out_name + " must be [" + std::to_string(c.N) + ", " +
                                      std::to_string(c.Co) + ", " + std::to_string(c.Ho) + ", " + std::to_string(c.Wo) +
                                      "]" + shapes);
  return c;
}

void expect_nchw(const View& v, const char* op, const char* what) {
  expect_float(v, op, what);
  if (v.ndim != 4 || !v.contiguous())
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " must be a contiguous 4-D tensor, got shape " +
                                      shape_str(v) + (v.ndim == 4 ? " with non-contiguous strides" : ""));
}

}  // namespace

ConvParams check_conv2d(const std::vector<View>& v, const Attrs& a) {
  const bool has_bias = v.size() == 4;
  const View &x = v[0], &w = v[1], &out = v.back();
  const char* op = has_bias ? "conv2dBias" : "conv2d";
  expect_nchw(x, op, "input");
  expect_nchw(w, op, "weight");
  expect_nchw(out, op, "output");
  const ConvParams c = parse(op, x.shape, w, out.shape, "output", a);
  if (has_bias) {
    const View& b = v[2];
    expect_float(b, op, "bias");
    if (b.ndim != 1 || b.shape[0] != c.Co)
      throw Error(ErrorKind::Shape, std::string(op) + ": bias must be [" + std::to_string(c.Co) + "], got " + shape_str(b));
  }
  return c;
}

ConvParams check_conv2d_input_grad(const std::vector<View>& v, const Attrs& a) {
  const char* op = "conv2dInputGrad";
  const View &gout = v[0], &w = v[1], &gx = v[2];
  expect_nchw(gout, op, "output gradient");
  expect_nchw(w, op, "weight");
  expect_nchw(gx, op, "input gradient");
  return parse(op, gx.shape, w, gout.shape, "output gradient", a);
}

ConvParams check_conv2d_weight_grad(const std::vector<View>& v, const Attrs& a) {
  const char* op = "conv2dWeightGrad";
  const View &x = v[0], &gout = v[1], &gw = v[2];
  expect_nchw(x, op, "input");
  expect_nchw(gout, op, "output gradient");
  expect_nchw(gw, op, "weight gradient");
  return parse(op, x.shape, gw, gout.shape, "output gradient", a);
}

}  // namespace tf
