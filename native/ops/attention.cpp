#include "ops/attention.h"

#include <cmath>
#include <string>

#include "core/registry.h"

namespace tf {
namespace {

// Checks that v is [lead..., rows(, cols)] with the lead dims of `ref`.
void expect_matrix(const View& v, const View& ref, int nlead, int64_t rows, int64_t cols, const char* op,
                   const char* what, const char* expected) {
  bool ok = v.ndim == nlead + (cols < 0 ? 1 : 2) && v.shape[nlead] == rows && (cols < 0 || v.shape[nlead + 1] == cols);
  for (int d = 0; ok && d < nlead; d++) ok = v.shape[d] == ref.shape[d];
  if (!ok)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " has shape " + shape_str(v) + ", expected " +
                                      expected + " with q's leading dims (q is " + shape_str(ref) + ")");
}

}  // namespace

std::vector<int64_t> attention_batch_offsets(const View& v, int nlead, int64_t batch) {
  std::vector<int64_t> off(static_cast<size_t>(batch));
  int64_t idx[kMaxDims] = {};
  for (int64_t i = 0; i < batch; i++) {
    int64_t o = 0;
    for (int d = 0; d < nlead; d++) o += idx[d] * v.strides[d];
    off[i] = o;
    for (int d = nlead - 1; d >= 0; d--) {
      if (++idx[d] < v.shape[d]) break;
      idx[d] = 0;
    }
  }
  return off;
}

AttentionArgs check_attention(const std::vector<View>& views, const Attrs& attrs, bool masked, bool backward) {
  const char* op = backward ? (masked ? "attentionBackwardMasked" : "attentionBackward")
                            : (masked ? "attentionMasked" : "attention");
  const View &q = views[0], &k = views[1], &v = views[2];
  for (const View* x : {&q, &k, &v}) expect_float(*x, op, "q, k and v");
  if (q.ndim < 2)
    throw Error(ErrorKind::Shape, std::string(op) + ": q must have at least 2 dims [..., Tq, D], got " + shape_str(q));
  const int nlead = q.ndim - 2;
  AttentionArgs p;
  p.op = op;
  p.nlead = nlead;
  p.Tq = q.shape[nlead];
  p.D = q.shape[nlead + 1];
  p.Tk = k.shape[nlead < k.ndim ? nlead : 0];
  expect_matrix(k, q, nlead, p.Tk, p.D, op, "k", "[..., Tk, D]");
  p.Dv = v.ndim == q.ndim ? v.shape[nlead + 1] : 0;
  expect_matrix(v, q, nlead, p.Tk, p.Dv, op, "v", "[..., Tk, Dv]");
  p.batch = 1;
  for (int d = 0; d < nlead; d++) p.batch *= q.shape[d];

  const double scale = attrs.number("scale");
  if (!std::isfinite(scale))
    throw Error(ErrorKind::Value, std::string(op) + ": scale must be finite, got " + std::to_string(scale));
  p.scale = static_cast<float>(scale);
  const int64_t causal = attrs.integer("causal");
  if (causal != 0 && causal != 1)
    throw Error(ErrorKind::Argument, std::string(op) + ": causal must be 0 or 1, got " + std::to_string(causal));
  p.causal = causal == 1;
  if (p.causal && masked)
    throw Error(ErrorKind::Argument, std::string(op) + ": a mask and causal=1 cannot be combined");

  size_t next = 3;
  if (masked) {
    p.mask = next++;
    const View& m = views[p.mask];
    if (m.dtype == DType::Bool)
      p.mask_kind = AttnMaskKind::Bool;
    else if (m.dtype == DType::Float32)
      p.mask_kind = AttnMaskKind::Float;
    else
      throw Error(ErrorKind::DType, std::string(op) + ": mask must be bool or float32, got " + dtype_name(m.dtype));
    expect_matrix(m, q, nlead, p.Tq, p.Tk, op, "mask", "[..., Tq, Tk]");
  }

  auto output = [&](size_t i, int64_t rows, int64_t cols, const char* what, const char* expected) {
    const View& x = views[i];
    expect_float(x, op, what);
    expect_matrix(x, q, nlead, rows, cols, op, what, expected);
    if (!x.contiguous()) throw Error(ErrorKind::Argument, std::string(op) + ": " + what + " must be contiguous");
    return i;
  };
  if (!backward) {
    p.out = output(next, p.Tq, p.Dv, "out", "[..., Tq, Dv]");
    p.lse = output(next + 1, p.Tq, -1, "lse", "[..., Tq]");
  } else {
    p.out = next, p.lse = next + 1, p.dout = next + 2;
    const View &o = views[p.out], &lse = views[p.lse], &dout = views[p.dout];
    for (const View* x : {&o, &lse, &dout}) expect_float(*x, op, "out, lse and dOut");
    expect_matrix(o, q, nlead, p.Tq, p.Dv, op, "out", "[..., Tq, Dv]");
    expect_matrix(lse, q, nlead, p.Tq, -1, op, "lse", "[..., Tq]");
    expect_matrix(dout, q, nlead, p.Tq, p.Dv, op, "dOut", "[..., Tq, Dv]");
    p.dq = output(next + 3, p.Tq, p.D, "dq", "[..., Tq, D]");
    p.dk = output(next + 4, p.Tk, p.D, "dk", "[..., Tk, D]");
    p.dv = output(next + 5, p.Tk, p.Dv, "dv", "[..., Tk, Dv]");
  }
  return p;
}

}  // namespace tf
