// Loss kernels: cross-entropy with class-index targets (fused with log_softmax), nll_loss, and
// binary cross-entropy with logits. Forward and backward kernels each.
//
// Class losses see the input as x [N, C, S] (any strides; S = the product of torch's extra dims
// d1.., 1 for [N, C]) and the target as [N, S] int32; weight is [C], or [0] for none. Every target
// is checked before anything is written (IndexError naming the bad value). Rows whose class dim is
// contiguous use the vectorised softmax primitives (softmax.h); other rows are gathered into a
// buffer first. Reductions sum the per-sample losses serially in double, so results do not
// depend on the thread count.
//
// torch 1.13 semantics (checked against torch.nn.functional.cross_entropy in float64):
//  - per-sample loss, with p = log_softmax(x), t the target, w the weights (all 1 without weight),
//    ε the label smoothing: l = (1−ε)·w[t]·(−p[t]) + (ε/C)·Σ_c w[c]·(−p[c]); 0 where t == ignoreIndex
//    (ignored samples contribute nothing, also not to the smoothing term);
//  - 'mean' divides Σ l by Σ w[t] over the non-ignored samples, for the smoothing term too (torch
//    normalises it "to be consistent with nll_loss"); without weight that is the count of
//    non-ignored samples. All samples ignored: 0/0 = NaN (torch gives NaN); 'sum' gives 0;
//  - ignoreIndex may be any integer, also a valid class (those samples are then ignored);
//    any other target outside [0, C) raises (torch: IndexError "Target 7 is out of bounds.").
// Gradient: ∂l/∂x[c] = (1−ε)·w[t]·(softmax[c] − δ[c,t]) + (ε/C)·(W·softmax[c] − w[c]), W = Σ w,
// times g (or g / Σ w[t] for 'mean'); 0 for ignored samples.
#include <cmath>
#include <string>

#include "core/memory.h"
#include "core/registry.h"
#include "core/strided.h"
#include "core/threadpool.h"
#include "cpu/softmax.h"
#include "ops/loss.h"

namespace tf {
namespace {

// A checked class-index problem (shapes from native/ops/loss.cpp) with access to the target
// and weight data.
struct Classes {
  int64_t N, C, S;
  const View& target;
  const char* op;

  Classes(const ClassShape& p, const View& t) : N(p.N), C(p.C), S(p.S), target(t), op(p.op) {}
  int64_t samples() const { return N * S; }
  int32_t target_at(int64_t i) const { return target.ptr<int32_t>()[(i / S) * target.strides[0] + (i % S) * target.strides[1]]; }

  // Every target must be a class or ignoreIndex; checked before any output is written.
  void check_targets(int64_t ignore) const {
    for (int64_t i = 0; i < samples(); i++) {
      const int64_t t = target_at(i);
      if (t != ignore && (t < 0 || t >= C)) throw Error(ErrorKind::Index, target_out_of_bounds({N, C, S, op}, t, i, ignore));
    }
  }
  // The class weights as a contiguous array (all 1 without weight).
  void weights(const View& w, float* out) const {
    for (int64_t c = 0; c < C; c++) out[c] = w.shape[0] ? w.ptr<float>()[c * w.strides[0]] : 1.0f;
  }
  // Σ w[t] over non-ignored samples: the 'mean' denominator.
  double weight_of_targets(const float* w, int64_t ignore) const {
    double d = 0;
    for (int64_t i = 0; i < samples(); i++) {
      const int64_t t = target_at(i);
      if (t != ignore) d += w[t];
    }
    return d;
  }
  // Writes per-sample losses (none) or their reduction.
  void write_output(const View& out, Reduction r, const double* per, double mean_denominator) const {
    float* o = out.ptr<float>();
    if (r == Reduction::None) {
      for (int64_t i = 0; i < samples(); i++) o[(i / S) * out.strides[0] + (i % S) * out.strides[1]] = static_cast<float>(per[i]);
      return;
    }
    double total = 0;
    for (int64_t i = 0; i < samples(); i++) total += per[i];
    o[0] = static_cast<float>(r == Reduction::Mean ? total / mean_denominator : total);
  }
  // The factor each sample's gradient is scaled by, from the output gradient g.
  double grad_scale(const View& g, Reduction r, int64_t i, double mean_denominator) const {
    const float* gp = g.ptr<float>();
    if (r == Reduction::None) return gp[(i / S) * g.strides[0] + (i % S) * g.strides[1]];
    return r == Reduction::Sum ? gp[0] : gp[0] / mean_denominator;
  }
};

constexpr int64_t kWorkPerTask = 32768;

// A row of x [N, C, S] for sample i: contiguous in place, or gathered into buf.
const float* class_row(const View& x, int64_t i, int64_t S, float* buf) {
  const float* p = x.ptr<float>() + (i / S) * x.strides[0] + (i % S) * x.strides[2];
  const int64_t C = x.shape[1], cs = x.strides[1];
  if (cs == 1 || C <= 1) return p;
  for (int64_t c = 0; c < C; c++) buf[c] = p[c * cs];
  return buf;
}

// views: x [N, C, S], target [N, S], weight [C] | [0]; outputs: loss ([N, S] or 0-d), stats [N, S, 2]
// (the row max and log Σ exp(x − max), for the backward). attrs: ignoreIndex, labelSmoothing, reduction.
void cross_entropy_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[2], &out = v[3], &stats = v[4];
  const ClassLossArgs args = check_cross_entropy(v, a);
  const Classes p(args.p, v[1]);
  const Reduction red = args.red;
  const int64_t ignore = args.ignore;
  const double eps = args.eps;
  p.check_targets(ignore);

  const int64_t C = p.C, S = p.S, n = p.samples();
  Scratch<float> wb(C);
  p.weights(w, wb.get());
  double wsum = 0;
  for (int64_t c = 0; c < C; c++) wsum += wb[c];
  Scratch<double> per(n);
  const SoftmaxRows& k = softmax_rows();
  float* st = stats.ptr<float>();
  parallel_for(n, std::max<int64_t>(1, kWorkPerTask / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    Scratch<float> buf(x.strides[1] == 1 ? 0 : C);
    for (int64_t i = b; i < e; i++) {
      const float* row = class_row(x, i, S, buf.get());
      double ls;
      const float m = k.max_logsum(row, C, &ls);
      float* s2 = st + (i / S) * stats.strides[0] + (i % S) * stats.strides[1];
      s2[0] = m;
      s2[stats.strides[2]] = static_cast<float>(ls);
      const int64_t t = p.target_at(i);
      if (t == ignore) {
        per[i] = 0;
        continue;
      }
      // −log_softmax[c] = log Σ − (x[c] − max), with x[c] − max exact in float
      double loss = (1 - eps) * wb[t] * (ls - (static_cast<double>(row[t]) - m));
      if (eps > 0) {
        double dot = 0;
        for (int64_t c = 0; c < C; c++) dot += wb[c] * (static_cast<double>(row[c]) - m);
        loss += eps / C * (wsum * ls - dot);
      }
      per[i] = loss;
    }
  });
  p.write_output(out, red, per.get(), red == Reduction::Mean ? p.weight_of_targets(wb.get(), ignore) : 1.0);
}
TF_REGISTER_KERNEL("crossEntropy", 3, 2, false, cross_entropy_kernel);

// views: x, target, weight, stats (from the forward), g; output gx [N, C, S]. attrs as the forward's.
void cross_entropy_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[2], &stats = v[3], &g = v[4], &gx = v[5];
  const ClassLossArgs args = check_cross_entropy_backward(v, a);
  const Classes p(args.p, v[1]);
  const Reduction red = args.red;
  const int64_t ignore = args.ignore;
  const double eps = args.eps;
  p.check_targets(ignore);

  const int64_t C = p.C, S = p.S, n = p.samples();
  Scratch<float> wb(C);
  p.weights(w, wb.get());
  double wsum = 0;
  for (int64_t c = 0; c < C; c++) wsum += wb[c];
  const double den = red == Reduction::Mean ? p.weight_of_targets(wb.get(), ignore) : 1.0;
  const SoftmaxRows& k = softmax_rows();
  const bool direct = gx.strides[1] == 1 || C <= 1;
  parallel_for(n, std::max<int64_t>(1, kWorkPerTask / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    Scratch<float> xbuf(x.strides[1] == 1 ? 0 : C), gbuf(direct ? 0 : C);
    for (int64_t i = b; i < e; i++) {
      float* gdst = gx.ptr<float>() + (i / S) * gx.strides[0] + (i % S) * gx.strides[2];
      float* grow = direct ? gdst : gbuf.get();
      const int64_t t = p.target_at(i);
      if (t == ignore) {
        for (int64_t c = 0; c < C; c++) grow[c] = 0;
      } else {
        const float* row = class_row(x, i, S, xbuf.get());
        const float* s2 = stats.ptr<float>() + (i / S) * stats.strides[0] + (i % S) * stats.strides[1];
        const double scale = p.grad_scale(g, red, i, den);
        // softmax[c] = exp(x[c] − max) · exp(−log Σ)
        const double a_c = scale * ((1 - eps) * wb[t] + eps / C * wsum) * std::exp(-static_cast<double>(s2[stats.strides[2]]));
        k.exp_affine(row, C, s2[0], static_cast<float>(a_c), static_cast<float>(scale * eps / C), wb.get(), grow);
        grow[t] -= static_cast<float>(scale * (1 - eps) * wb[t]);
      }
      if (!direct)
        for (int64_t c = 0; c < C; c++) gdst[c * gx.strides[1]] = grow[c];
    }
  });
}
TF_REGISTER_KERNEL("crossEntropyBackward", 5, 1, false, cross_entropy_backward_kernel);

// nll_loss on log-probabilities: l = −w[t]·x[t], 0 for ignored samples; 'mean' as crossEntropy.
// views: x [N, C, S], target, weight; output loss. attrs: ignoreIndex, reduction.
void nll_loss_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[2], &out = v[3];
  const ClassLossArgs args = check_nll_loss(v, a);
  const Classes p(args.p, v[1]);
  const Reduction red = args.red;
  const int64_t ignore = args.ignore;
  p.check_targets(ignore);
  Scratch<float> wb(p.C);
  p.weights(w, wb.get());
  Scratch<double> per(p.samples());
  for (int64_t i = 0; i < p.samples(); i++) {
    const int64_t t = p.target_at(i);
    per[i] = t == ignore ? 0.0
                         : -static_cast<double>(wb[t]) *
                               x.ptr<float>()[(i / p.S) * x.strides[0] + t * x.strides[1] + (i % p.S) * x.strides[2]];
  }
  p.write_output(out, red, per.get(), red == Reduction::Mean ? p.weight_of_targets(wb.get(), ignore) : 1.0);
}
TF_REGISTER_KERNEL("nllLoss", 3, 1, false, nll_loss_kernel);

// views: x (for its shape), target, weight, g; output gx [N, C, S]: −w[t]·scale at t, 0 elsewhere.
void nll_loss_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &w = v[2], &g = v[3], &gx = v[4];
  const ClassLossArgs args = check_nll_loss_backward(v, a);
  const Classes p(args.p, v[1]);
  const Reduction red = args.red;
  const int64_t ignore = args.ignore;
  p.check_targets(ignore);
  Scratch<float> wb(p.C);
  p.weights(w, wb.get());
  const double den = red == Reduction::Mean ? p.weight_of_targets(wb.get(), ignore) : 1.0;
  float* o = gx.ptr<float>();
  for (int64_t i = 0; i < p.samples(); i++) {
    float* row = o + (i / p.S) * gx.strides[0] + (i % p.S) * gx.strides[2];
    for (int64_t c = 0; c < p.C; c++) row[c * gx.strides[1]] = 0;
    const int64_t t = p.target_at(i);
    if (t != ignore) row[t * gx.strides[1]] = static_cast<float>(-wb[t] * p.grad_scale(g, red, i, den));
  }
}
TF_REGISTER_KERNEL("nllLossBackward", 4, 1, false, nll_loss_backward_kernel);

// ---- binary cross-entropy with logits, elementwise (the TS layer applies weight and reduces) ----
// l = (1 − y)·x + lw·softplus(−x), lw = 1 + (posWeight − 1)·y, softplus(−x) = log1p(exp(−|x|)) + max(−x, 0):
// never overflows, and equals torch's max(x,0) − x·y + log1p(exp(−|x|)) when posWeight = 1.
inline float softplus_neg(float x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(-x, 0.0f); }

template <bool PosWeight>
void bce_logits_kernel(std::vector<View>& v, const Attrs&) {
  constexpr int In = PosWeight ? 3 : 2;
  const View& out = v[In];
  check_bce_with_logits(v, PosWeight);
  const View* views[In + 1];
  views[0] = &out;
  for (int k = 0; k < In; k++) views[k + 1] = &v[k];
  StridedLoop<In + 1> loop(views);
  loop.run([&](const int64_t* off, int64_t n, const int64_t* s) {
    float* o = out.ptr<float>() + off[0];
    const float *x = v[0].ptr<float>() + off[1], *y = v[1].ptr<float>() + off[2];
    const float* pw = PosWeight ? v[2].ptr<float>() + off[3] : nullptr;
    for (int64_t i = 0; i < n; i++) {
      const float xi = x[i * s[1]], yi = y[i * s[2]];
      const float lw = PosWeight ? 1 + (pw[i * s[3]] - 1) * yi : 1.0f;
      o[i * s[0]] = (1 - yi) * xi + lw * softplus_neg(xi);
    }
  });
}
TF_REGISTER_KERNEL("bceWithLogits", 2, 1, false, bce_logits_kernel<false>);
TF_REGISTER_KERNEL("bceWithLogitsPosWeight", 3, 1, false, bce_logits_kernel<true>);

// views: x, y, [posWeight], g; output: the gradient with respect to operand `wrt` (0: x, 1: y,
// 2: posWeight), elementwise:
//   ∂l/∂x = lw·sigmoid(x) − posWeight·y   (= sigmoid(x) − y without posWeight; exact at x = 0)
//   ∂l/∂y = −x + (posWeight − 1)·softplus(−x)
//   ∂l/∂posWeight = y·softplus(−x)
template <bool PosWeight>
void bce_logits_backward_kernel(std::vector<View>& v, const Attrs& a) {
  constexpr int In = PosWeight ? 4 : 3;
  const View& out = v[In];
  const int wrt = check_bce_with_logits_backward(v, a, PosWeight);
  const View* views[In + 1];
  views[0] = &out;
  for (int k = 0; k < In; k++) views[k + 1] = &v[k];
  StridedLoop<In + 1> loop(views);
  loop.run([&](const int64_t* off, int64_t n, const int64_t* s) {
    float* o = out.ptr<float>() + off[0];
    const float *x = v[0].ptr<float>() + off[1], *y = v[1].ptr<float>() + off[2];
    const float* pw = PosWeight ? v[2].ptr<float>() + off[3] : nullptr;
    const float* g = v[In - 1].ptr<float>() + off[In];
    const int64_t sg = s[In];
    for (int64_t i = 0; i < n; i++) {
      const float xi = x[i * s[1]], yi = y[i * s[2]], pwi = PosWeight ? pw[i * s[3]] : 1.0f;
      float d;
      if (wrt == 0) d = (1 + (pwi - 1) * yi) / (1 + std::exp(-xi)) - pwi * yi;
      else if (wrt == 1) d = -xi + (pwi - 1) * softplus_neg(xi);
      else d = yi * softplus_neg(xi);
      o[i * s[0]] = g[i * sg] * d;
    }
  });
}
TF_REGISTER_KERNEL("bceWithLogitsBackward", 3, 1, false, bce_logits_backward_kernel<false>);
TF_REGISTER_KERNEL("bceWithLogitsPosWeightBackward", 4, 1, false, bce_logits_backward_kernel<true>);

}  // namespace
}  // namespace tf
