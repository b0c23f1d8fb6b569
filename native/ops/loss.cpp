#include "ops/loss.h"

namespace tf {
namespace {

Reduction reduction_of(const Attrs& a, const char* op) {
  const std::string& r = a.string("reduction");
  if (r == "none") return Reduction::None;
  if (r == "sum") return Reduction::Sum;
  if (r == "mean") return Reduction::Mean;
  throw Error(ErrorKind::Argument, std::string(op) + ": reduction must be 'none', 'sum' or 'mean', got '" + r + "'");
}

double label_smoothing_of(const Attrs& a, const char* op) {
  const double eps = a.number("labelSmoothing");
  if (!(eps >= 0 && eps <= 1))
    throw Error(ErrorKind::Value, std::string(op) + ": labelSmoothing must be in [0, 1], got " + std::to_string(eps));
  return eps;
}

ClassShape check_classes(const View& x, const View& t, const View& w, const char* op) {
  const std::string o(op);
  expect_float(x, op, "input");
  expect_dtype(t, DType::Int32, op, "target");
  expect_float(w, op, "weight");
  if (x.ndim != 3) throw Error(ErrorKind::Shape, o + ": input must be viewed as [N, C, S], got " + shape_str(x));
  ClassShape p{x.shape[0], x.shape[1], x.shape[2], op};
  if (t.ndim != 2 || t.shape[0] != p.N || t.shape[1] != p.S)
    throw Error(ErrorKind::Shape, o + ": target must have shape [" + std::to_string(p.N) + ", " + std::to_string(p.S) +
                                      "] for input " + shape_str(x) + ", got " + shape_str(t));
  if (w.ndim != 1 || (w.shape[0] != p.C && w.shape[0] != 0))
    throw Error(ErrorKind::Shape, o + ": weight must have shape [" + std::to_string(p.C) + "] (or [0] for none), got " +
                                      shape_str(w));
  return p;
}

void check_output(const ClassShape& p, const View& out, Reduction r) {
  const bool ok = r == Reduction::None ? out.ndim == 2 && out.shape[0] == p.N && out.shape[1] == p.S : out.ndim == 0;
  if (!ok)
    throw Error(ErrorKind::Shape, std::string(p.op) + ": output must be " +
                                      (r == Reduction::None ? "[" + std::to_string(p.N) + ", " + std::to_string(p.S) + "]"
                                                            : std::string("0-d for a reduced loss")) +
                                      ", got " + shape_str(out));
  expect_float(out, p.op, "output");
}

void check_grad(const ClassShape& p, const View& g, Reduction r) {
  const bool ok = r == Reduction::None ? g.ndim == 2 && g.shape[0] == p.N && g.shape[1] == p.S : g.ndim == 0;
  if (!ok) throw Error(ErrorKind::Shape, std::string(p.op) + ": output gradient has the wrong shape " + shape_str(g));
  expect_float(g, p.op, "output gradient");
}

void check_stats(const ClassShape& p, const View& stats) {
  expect_float(stats, p.op, "stats");
  if (stats.ndim != 3 || stats.shape[0] != p.N || stats.shape[1] != p.S || stats.shape[2] != 2)
    throw Error(ErrorKind::Shape, std::string(p.op) + ": stats must have shape [N, S, 2], got " + shape_str(stats));
}

}  // namespace

ClassLossArgs check_cross_entropy(const std::vector<View>& v, const Attrs& a) {
  ClassLossArgs r{check_classes(v[0], v[1], v[2], "crossEntropy"), Reduction::None, 0, 0};
  r.red = reduction_of(a, r.p.op);
  r.ignore = a.integer("ignoreIndex");
  r.eps = label_smoothing_of(a, r.p.op);
  check_output(r.p, v[3], r.red);
  check_stats(r.p, v[4]);
  return r;
}

ClassLossArgs check_cross_entropy_backward(const std::vector<View>& v, const Attrs& a) {
  ClassLossArgs r{check_classes(v[0], v[1], v[2], "crossEntropyBackward"), Reduction::None, 0, 0};
  r.red = reduction_of(a, r.p.op);
  r.ignore = a.integer("ignoreIndex");
  r.eps = label_smoothing_of(a, r.p.op);
  check_grad(r.p, v[4], r.red);
  check_stats(r.p, v[3]);
  expect_float(v[5], r.p.op, "input gradient");
  expect_same_shape(v[0], v[5], r.p.op, "input and input gradient");
  return r;
}

ClassLossArgs check_nll_loss(const std::vector<View>& v, const Attrs& a) {
  ClassLossArgs r{check_classes(v[0], v[1], v[2], "nllLoss"), Reduction::None, 0, 0};
  r.red = reduction_of(a, r.p.op);
  r.ignore = a.integer("ignoreIndex");
  check_output(r.p, v[3], r.red);
  return r;
}

ClassLossArgs check_nll_loss_backward(const std::vector<View>& v, const Attrs& a) {
  ClassLossArgs r{check_classes(v[0], v[1], v[2], "nllLossBackward"), Reduction::None, 0, 0};
  r.red = reduction_of(a, r.p.op);
  r.ignore = a.integer("ignoreIndex");
  check_grad(r.p, v[3], r.red);
  expect_float(v[4], r.p.op, "input gradient");
  expect_same_shape(v[0], v[4], r.p.op, "input and input gradient");
  return r;
}

std::string target_out_of_bounds(const ClassShape& p, int64_t t, int64_t i, int64_t ignore) {
  return std::string(p.op) + ": target " + std::to_string(t) + " (sample " + std::to_string(i / p.S) +
         (p.S > 1 ? ", position " + std::to_string(i % p.S) : "") + ") is out of bounds for " + std::to_string(p.C) +
         " classes (expected 0.." + std::to_string(p.C - 1) + " or ignoreIndex " + std::to_string(ignore) + ")";
}

void check_bce_with_logits(const std::vector<View>& v, bool pos_weight) {
  const int in = pos_weight ? 3 : 2;
  const char* op = pos_weight ? "bceWithLogitsPosWeight" : "bceWithLogits";
  const View& out = v[in];
  for (int k = 0; k <= in; k++) {
    expect_float(v[k], op, k == in ? "output" : "input");
    expect_same_shape(v[k], out, op, "operand and output");
  }
}

int check_bce_with_logits_backward(const std::vector<View>& v, const Attrs& a, bool pos_weight) {
  const int in = pos_weight ? 4 : 3;
  const char* op = pos_weight ? "bceWithLogitsPosWeightBackward" : "bceWithLogitsBackward";
  const View& out = v[in];
  for (int k = 0; k <= in; k++) {
    expect_float(v[k], op, k == in ? "output" : "input");
    expect_same_shape(v[k], out, op, "operand and output");
  }
  const int64_t wrt = a.integer("wrt");
  if (wrt < 0 || wrt > (pos_weight ? 2 : 1))
    throw Error(ErrorKind::Argument, std::string(op) + ": wrt must be 0 (input), 1 (target)" +
                                         (pos_weight ? ", 2 (posWeight)" : "") + ", got " + std::to_string(wrt));
  return static_cast<int>(wrt);
}

}  // namespace tf
