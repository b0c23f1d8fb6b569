// Argument validation of the normalisation family (see norm.h). The messages are the CPU kernels'.
#include "ops/norm.h"

#include <cmath>
#include <string>

namespace tf {
namespace {

bool same_dims(const View& a, int a0, const View& b, int b0, int count) {
  for (int i = 0; i < count; i++)
    if (a.shape[a0 + i] != b.shape[b0 + i]) return false;
  return true;
}

// A weight-like input (or gradient output): present views must have `shape`-like dims, absent
// ones (flag 0) must be empty, so a caller cannot smuggle a mismatched buffer in.
void check_optional(const View& v, bool present, const View& like, int from, int count, const char* op,
                    const char* what) {
  expect_float(v, op, what);
  if (!present) {
    if (v.numel() != 0)
      throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " is absent (flag 0) but its view has " +
                                        std::to_string(v.numel()) + " elements; pass an empty view");
    return;
  }
  if (v.ndim != count || !same_dims(v, 0, like, from, count))
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " has shape " + shape_str(v) +
                                      ", expected the normalised dims of " + shape_str(like));
}

bool flag(const Attrs& a, const char* name) {
  double v = a.number(name);
  if (v != 0 && v != 1) throw Error(ErrorKind::Argument, std::string("attribute '") + name + "' must be 0 or 1");
  return v == 1;
}

double check_eps(const Attrs& a, const char* op) {
  double eps = a.number("eps");
  if (!(eps >= 0) || !std::isfinite(eps))
    throw Error(ErrorKind::Value, std::string(op) + ": eps must be a finite number >= 0, got " + std::to_string(eps));
  return eps;
}

LayerNormArgs ln_shape(const View& x, const Attrs& a, const char* op) {
  expect_float(x, op, "input");
  int64_t k = a.integer("normDims");
  if (k < 1 || k > x.ndim)
    throw Error(ErrorKind::Argument, std::string(op) + ": normDims must be in [1, " + std::to_string(x.ndim) +
                                         "] for input " + shape_str(x) + ", got " + std::to_string(k));
  LayerNormArgs s;
  s.k = static_cast<int>(k);
  s.lead = x.ndim - s.k;
  for (int d = 0; d < s.lead; d++) s.rows *= x.shape[d];
  for (int d = s.lead; d < x.ndim; d++) s.n *= x.shape[d];
  return s;
}

void check_row_stat(const View& v, const View& x, int lead, const char* op, const char* what) {
  expect_float(v, op, what);
  if (v.ndim != lead || !same_dims(v, 0, x, 0, lead))
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " has shape " + shape_str(v) +
                                      ", expected the leading dims of " + shape_str(x));
}

void check_channel_vec(const View& v, bool present, int64_t C, const char* op, const char* what) {
  expect_float(v, op, what);
  if (!present) {
    if (v.numel() != 0)
      throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " is absent (flag 0) but its view has " +
                                        std::to_string(v.numel()) + " elements; pass an empty view");
    return;
  }
  if (v.ndim != 1 || v.shape[0] != C)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " has shape " + shape_str(v) + ", expected [" +
                                      std::to_string(C) + "]");
}

int64_t bn_channels(const View& x, const char* op) {
  expect_float(x, op, "input");
  if (x.ndim < 2)
    throw Error(ErrorKind::Shape, std::string(op) + ": input must be [N, C, ...] (at least 2 dims), got " + shape_str(x));
  return x.shape[1];
}

// Values per channel: N times the spatial size.
int64_t bn_values(const View& x) {
  int64_t m = x.shape[0];
  for (int d = 2; d < x.ndim; d++) m *= x.shape[d];
  return m;
}

}  // namespace

LayerNormArgs check_layer_norm(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &mean = v[4], &rstd = v[5];
  const char* op = "layerNorm";
  LayerNormArgs s = ln_shape(x, a, op);
  s.has_w = flag(a, "hasWeight"), s.has_b = flag(a, "hasBias");
  check_optional(w, s.has_w, x, s.lead, s.k, op, "weight");
  check_optional(b, s.has_b, x, s.lead, s.k, op, "bias");
  expect_float(y, op, "output");
  expect_same_shape(x, y, op, "input and output");
  check_row_stat(mean, x, s.lead, op, "mean");
  check_row_stat(rstd, x, s.lead, op, "rstd");
  s.eps = check_eps(a, op);
  return s;
}

LayerNormArgs check_layer_norm_backward(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &mean = v[2], &rstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const char* op = "layerNormBackward";
  LayerNormArgs s = ln_shape(x, a, op);
  s.has_w = flag(a, "hasWeight"), s.has_b = flag(a, "hasBias");
  check_optional(w, s.has_w, x, s.lead, s.k, op, "weight");
  check_optional(gw, s.has_w, x, s.lead, s.k, op, "weight gradient");
  check_optional(gb, s.has_b, x, s.lead, s.k, op, "bias gradient");
  check_row_stat(mean, x, s.lead, op, "mean");
  check_row_stat(rstd, x, s.lead, op, "rstd");
  expect_float(gy, op, "output gradient");
  expect_float(gx, op, "input gradient");
  expect_same_shape(x, gy, op, "input and output gradient");
  expect_same_shape(x, gx, op, "input and input gradient");
  return s;
}

BatchNormArgs check_batch_norm(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &smean = v[4], &srstd = v[5], &rmean = v[6], &rvar = v[7];
  const char* op = "batchNorm";
  BatchNormArgs s;
  s.C = bn_channels(x, op);
  s.training = flag(a, "training"), s.has_w = flag(a, "hasWeight"), s.has_b = flag(a, "hasBias");
  s.has_r = flag(a, "hasRunning");
  check_channel_vec(w, s.has_w, s.C, op, "weight");
  check_channel_vec(b, s.has_b, s.C, op, "bias");
  check_channel_vec(smean, true, s.C, op, "saved mean");
  check_channel_vec(srstd, true, s.C, op, "saved rstd");
  check_channel_vec(rmean, s.has_r, s.C, op, "running mean");
  check_channel_vec(rvar, s.has_r, s.C, op, "running var");
  expect_float(y, op, "output");
  expect_same_shape(x, y, op, "input and output");
  s.eps = check_eps(a, op), s.momentum = a.number("momentum");
  if (!std::isfinite(s.momentum)) throw Error(ErrorKind::Value, "batchNorm: momentum must be finite");
  if (!s.training && !s.has_r) throw Error(ErrorKind::Argument, "batchNorm: eval mode needs running mean and var");
  s.M = bn_values(x);
  if (s.training && s.M <= 1)
    throw Error(ErrorKind::Value, "batchNorm: expected more than 1 value per channel when training, got input of shape " +
                                      shape_str(x));
  return s;
}

BatchNormArgs check_batch_norm_backward(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &smean = v[2], &srstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const char* op = "batchNormBackward";
  BatchNormArgs s;
  s.C = bn_channels(x, op);
  s.training = flag(a, "training"), s.has_w = flag(a, "hasWeight"), s.has_b = flag(a, "hasBias");
  check_channel_vec(w, s.has_w, s.C, op, "weight");
  check_channel_vec(gw, s.has_w, s.C, op, "weight gradient");
  check_channel_vec(gb, s.has_b, s.C, op, "bias gradient");
  check_channel_vec(smean, true, s.C, op, "saved mean");
  check_channel_vec(srstd, true, s.C, op, "saved rstd");
  expect_float(gy, op, "output gradient");
  expect_float(gx, op, "input gradient");
  expect_same_shape(x, gy, op, "input and output gradient");
  expect_same_shape(x, gx, op, "input and input gradient");
  s.M = bn_values(x);
  return s;
}

}  // namespace tf
