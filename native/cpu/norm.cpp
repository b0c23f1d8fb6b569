// Normalisation kernels, fused forward and backward:
//   layerNorm / layerNormBackward  rows = leading dims, normalised over the trailing `normDims`
//   batchNorm / batchNormBackward  [N, C, *spatial], statistics per channel (dim 1)
// Statistics accumulate in double, two passes (mean, then squared deviations), so rows whose
// mean dwarfs their spread (1e4 + noise) keep full accuracy. The float mean is kept as hi + lo
// parts when centring, and backward recovers the part the saved float32 mean lost by summing
// x - mean_hi exactly (see centred sums below). Threads take rows (layerNorm) or channels
// (batchNorm); layerNorm's weight/bias gradients sum over rows in a fixed number of row blocks,
// merged in block order, so results never depend on the thread count or timing.
// Every view may have any strides: contiguous rows/planes run through vectorised loops
// (TF_CLONES); other layouts are gathered through an offset table.
#include <algorithm>
#include <cmath>
#include <memory>

#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "ops/norm.h"

namespace tf {
namespace {

// ---- layout helpers ----------------------------------------------------------------------------

// The trailing dims [begin, ndim) of a view as a flat block of n elements: offset(i) of the i-th
// element (row-major) from the block's start. Contiguous blocks (the usual case) need no table.
struct Block {
  int64_t n = 1;
  bool unit = true;
  std::unique_ptr<Scratch<int64_t>> table;

  Block(const View& v, int begin) {
    int64_t expect = 1;
    for (int d = v.ndim - 1; d >= begin; d--) {
      if (v.shape[d] != 1 && v.strides[d] != expect) unit = false;
      expect *= v.shape[d];
      n *= v.shape[d];
    }
    if (unit || n == 0) return;
    table.reset(new Scratch<int64_t>(n));
    int64_t idx[kMaxDims] = {};
    int64_t* t = table->get();
    for (int64_t i = 0; i < n; i++) {
      int64_t off = 0;
      for (int d = begin; d < v.ndim; d++) off += idx[d] * v.strides[d];
      t[i] = off;
      for (int d = v.ndim - 1; d >= begin; d--) {
        if (++idx[d] < v.shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  int64_t at(int64_t i) const { return unit ? i : (*table)[i]; }
};

// Offset of the r-th (row-major) position of the leading dims [0, end) of a view.
int64_t lead_offset(const View& v, int end, int64_t r) {
  int64_t off = 0;
  for (int d = end - 1; d >= 0 && r; d--) {
    off += (r % v.shape[d]) * v.strides[d];
    r /= v.shape[d];
  }
  return off;
}

// Copies a block of a view into contiguous floats (weights, non-contiguous rows).
void gather(const float* base, const Block& b, float* out) {
  for (int64_t i = 0; i < b.n; i++) out[i] = base[b.at(i)];
}

// ---- vectorised inner loops --------------------------------------------------------------------
// Independent double lanes let the compiler vectorise without reassociating a single sum.
constexpr int kLanes = 16;

TF_CLONES double sum_f64(const float* x, int64_t n) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] += static_cast<double>(x[i + l]);
  double s = 0;
  for (; i < n; i++) s += x[i];
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

TF_CLONES double sum_sq_dev(const float* x, int64_t n, double m) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      double d = static_cast<double>(x[i + l]) - m;
      lanes[l] += d * d;
    }
  double s = 0;
  for (; i < n; i++) s += (x[i] - m) * (x[i] - m);
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

// x - mean as (x - hi) - lo: the first subtraction is exact when x is near the mean, so a large
// mean costs no accuracy although the arithmetic stays in float.
struct Centre {
  float hi, lo;
  explicit Centre(double mean) : hi(static_cast<float>(mean)), lo(static_cast<float>(mean - static_cast<float>(mean))) {}
};

// y = (x - mean) * rstd * w + b, elementwise weights (layerNorm)
TF_CLONES void ln_apply(const float* x, int64_t n, float hi, float lo, float rstd, const float* w, const float* b,
                        float* y) {
  for (int64_t i = 0; i < n; i++) y[i] = ((x[i] - hi) - lo) * rstd * w[i] + b[i];
}

// y = (x - mean) * scale + shift, one scale per run (batchNorm's channel)
TF_CLONES void bn_apply(const float* x, int64_t n, float hi, float lo, float scale, float shift, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] = ((x[i] - hi) - lo) * scale + shift;
}

// Backward sums with d = x - hi (exact for x near hi): Σd, Σg, Σg·d, where g = gy (·w).
struct CentredSums {
  double d = 0, g = 0, gd = 0;
};
TF_CLONES void centred_sums(const float* x, const float* gy, const float* w, int64_t n, float hi, CentredSums& s) {
  double ld[kLanes] = {}, lg[kLanes] = {}, lgd[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      float d = x[i + l] - hi, g = w ? gy[i + l] * w[i + l] : gy[i + l];
      ld[l] += d;
      lg[l] += g;
      lgd[l] += static_cast<double>(g) * d;
    }
  for (; i < n; i++) {
    float d = x[i] - hi, g = w ? gy[i] * w[i] : gy[i];
    s.d += d;
    s.g += g;
    s.gd += static_cast<double>(g) * d;
  }
  for (int l = 0; l < kLanes; l++) {
    s.d += ld[l];
    s.g += lg[l];
    s.gd += lgd[l];
  }
}

// layerNorm's gx = rstd·(gy·w − mean(g) − x̂·mean(g·x̂)) with x̂ = (x − hi − c)·rstd, plus the
// row's contribution to the weight and bias gradients (double partials of this row block).
// No FMA contraction here: fused, gy·w − mean_g subtracts the rounded product from the exact one,
// so a row whose terms cancel exactly (one normalised element) would get rstd × rounding error.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
TF_CLONES void ln_backward_row(const float* x, const float* gy, const float* w, int64_t n, float hi, float c, float rstd,
                               float mean_g, float mean_gx, float* gx, double* gw, double* gb) {
  for (int64_t i = 0; i < n; i++) {
    float xhat = ((x[i] - hi) - c) * rstd;
    gx[i] = rstd * (gy[i] * w[i] - mean_g - xhat * mean_gx);
    gw[i] += static_cast<double>(gy[i] * xhat);
    gb[i] += static_cast<double>(gy[i]);
  }
}
#pragma GCC pop_options

// batchNorm's gx = a·gy + k·(x − hi − c) + s: the training formula folded into three constants
// per channel (in eval mode k = s = 0).
TF_CLONES void bn_backward_run(const float* x, const float* gy, int64_t n, float hi, float c, float a, float k, float s,
                               float* gx) {
  for (int64_t i = 0; i < n; i++) gx[i] = a * gy[i] + k * ((x[i] - hi) - c) + s;
}

// ---- layerNorm ---------------------------------------------------------------------------------
// views: x, weight, bias | y, mean, rstd. attrs: normDims (k >= 1), eps, hasWeight, hasBias.
// x [..., *norm] (k trailing dims), weight/bias [*norm] or empty, y like x, mean/rstd [...].
// Argument checks are shared with the CUDA kernels (native/ops/norm.h).
// Contiguous copies of the optional weight and bias (1 and 0 where absent).
void load_affine(const View& v, bool present, int64_t n, float fallback, float* out) {
  if (!present) {
    std::fill(out, out + n, fallback);
    return;
  }
  gather(v.ptr<float>(), Block(v, 0), out);
}

void layer_norm_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &mean = v[4], &rstd = v[5];
  const LayerNormArgs s = check_layer_norm(v, a);
  const bool has_w = s.has_w, has_b = s.has_b;
  const double eps = s.eps;
  const int64_t n = s.n;

  Scratch<float> wbuf(n), bbuf(n);
  load_affine(w, has_w, n, 1.0f, wbuf.get());
  load_affine(b, has_b, n, 0.0f, bbuf.get());
  const Block xb(x, s.lead), yb(y, s.lead);
  const float* xp = x.ptr<float>();
  float *yp = y.ptr<float>(), *mp = mean.ptr<float>(), *rp = rstd.ptr<float>();
  parallel_for(s.rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)), [&](int64_t r0, int64_t r1) {
    Scratch<float> xrow(xb.unit ? 0 : n), yrow(yb.unit ? 0 : n);
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = xp + lead_offset(x, s.lead, r);
      if (!xb.unit) {
        gather(xr, xb, xrow.get());
        xr = xrow.get();
      }
      float* yr = yb.unit ? yp + lead_offset(y, s.lead, r) : yrow.get();
      const double m = n ? sum_f64(xr, n) / n : NAN;
      const double var = n ? sum_sq_dev(xr, n, m) / n : NAN;
      const float rs = static_cast<float>(1.0 / std::sqrt(var + eps));
      const Centre c(m);
      ln_apply(xr, n, c.hi, c.lo, rs, wbuf.get(), bbuf.get(), yr);
      if (!yb.unit) {
        float* dst = yp + lead_offset(y, s.lead, r);
        for (int64_t i = 0; i < n; i++) dst[yb.at(i)] = yr[i];
      }
      mp[lead_offset(mean, s.lead, r)] = c.hi;
      rp[lead_offset(rstd, s.lead, r)] = rs;
    }
  });
}
TF_REGISTER_KERNEL("layerNorm", 3, 3, false, layer_norm_kernel);

// views: x, weight, mean, rstd, gy | gx, gWeight, gBias. attrs: normDims, hasWeight, hasBias.
// gWeight is present iff hasWeight, gBias iff hasBias (both [*norm]); mean/rstd as saved by
// layerNorm (mean is the float32-rounded mean; the exact one is recovered from x here).
void layer_norm_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &mean = v[2], &rstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const LayerNormArgs s = check_layer_norm_backward(v, a);
  const bool has_w = s.has_w, has_b = s.has_b;
  const int64_t n = s.n, rows = s.rows;

  Scratch<float> wbuf(n);
  load_affine(w, has_w, n, 1.0f, wbuf.get());
  const Block xb(x, s.lead), gyb(gy, s.lead), gxb(gx, s.lead);
  // A fixed block count (never the thread count) keeps the weight-gradient sums deterministic;
  // partials cost 16 bytes per normalised element per block, capped at ~32 MiB.
  const int64_t want_partials = (has_w || has_b) ? 1 : 0;
  int64_t blocks = std::max<int64_t>(1, std::min<int64_t>({rows, 64, (int64_t(32) << 20) / std::max<int64_t>(1, 16 * n)}));
  if (!want_partials || rows == 0) blocks = std::max<int64_t>(1, std::min<int64_t>(rows, 64));
  const int64_t per = rows ? (rows + blocks - 1) / blocks : 0;
  Scratch<double> partial(want_partials ? 2 * blocks * n : 0);
  const float *xp = x.ptr<float>(), *gyp = gy.ptr<float>(), *mp = mean.ptr<float>(), *rp = rstd.ptr<float>();
  float* gxp = gx.ptr<float>();

  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    Scratch<float> xrow(xb.unit ? 0 : n), gyrow(gyb.unit ? 0 : n), gxrow(gxb.unit ? 0 : n);
    Scratch<double> sink(want_partials ? 0 : 2 * n);  // rows still need somewhere to add partials
    for (int64_t blk = b0; blk < b1; blk++) {
      double* pw = want_partials ? partial.get() + 2 * blk * n : sink.get();
      double* pb = pw + n;
      std::fill(pw, pw + 2 * n, 0.0);
      for (int64_t r = blk * per; r < std::min(rows, (blk + 1) * per); r++) {
        const float* xr = xp + lead_offset(x, s.lead, r);
        const float* gr = gyp + lead_offset(gy, s.lead, r);
        if (!xb.unit) {
          gather(xr, xb, xrow.get());
          xr = xrow.get();
        }
        if (!gyb.unit) {
          gather(gr, gyb, gyrow.get());
          gr = gyrow.get();
        }
        float* gxr = gxb.unit ? gxp + lead_offset(gx, s.lead, r) : gxrow.get();
        const float hi = mp[lead_offset(mean, s.lead, r)], rs = rp[lead_offset(rstd, s.lead, r)];
        CentredSums cs;
        centred_sums(xr, gr, wbuf.get(), n, hi, cs);
        const double c = cs.d / n;                 // exact mean − hi
        const double sum_gx = rs * (cs.gd - c * cs.g);  // Σ g·x̂
        ln_backward_row(xr, gr, wbuf.get(), n, hi, static_cast<float>(c), rs, static_cast<float>(cs.g / n),
                        static_cast<float>(sum_gx / n), gxr, pw, pb);
        if (!gxb.unit) {
          float* dst = gxp + lead_offset(gx, s.lead, r);
          for (int64_t i = 0; i < n; i++) dst[gxb.at(i)] = gxr[i];
        }
      }
    }
  });
  if (!want_partials) return;
  for (int which = 0; which < 2; which++) {
    const View& out = which ? gb : gw;
    if (!(which ? has_b : has_w)) continue;
    const Block ob(out, 0);
    float* o = out.ptr<float>();
    parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) {
        double acc = 0;
        for (int64_t blk = 0; blk < blocks; blk++) acc += partial[(2 * blk + which) * n + i];
        o[ob.at(i)] = static_cast<float>(acc);
      }
    });
  }
}
TF_REGISTER_KERNEL("layerNormBackward", 5, 3, false, layer_norm_backward_kernel);

// ---- batchNorm ---------------------------------------------------------------------------------
// One channel of K [N, C, *spatial] views at a time (the last W views are written), handed to
// callbacks f(p, n) as runs contiguous in every view. Planes that are contiguous and long enough
// are used in place, one run per sample. Otherwise (a [N, C] input, tiny or strided planes) a tile
// of channels is gathered into per-thread scratch and each channel processed as one run; outputs
// are scattered back when the walk leaves the tile. Tiles of up to 16 channels make a [N, C]
// gather read whole cache lines, and no layout costs a call per element.
template <int K, int W>
class ChannelWalker {
 public:
  ChannelWalker(const View* const (&v)[K], const Block* const (&blk)[K], int64_t c_end) : c_end_(c_end) {
    bool unit = true;
    for (int k = 0; k < K; k++) {
      v_[k] = v[k];
      blk_[k] = blk[k];
      unit &= blk[k]->unit;
    }
    m_ = v[0]->shape[0] * blk[0]->n;
    direct_ = unit && (blk[0]->n >= 16 || v[0]->shape[0] == 1);
    if (direct_) return;
    tile_ = blk[0]->n == 1 ? std::max<int64_t>(1, std::min<int64_t>(16, (int64_t(64) << 10) / std::max<int64_t>(1, K * m_))) : 1;
    scratch_.reset(new Scratch<float>(K * tile_ * m_));
  }

  void load(int64_t c) {
    c_ = c;
    if (direct_ || (c >= t0_ && c < t1_)) return;
    flush();
    t0_ = c;
    t1_ = std::min(c + tile_, c_end_);
    for (int k = 0; k < K - W; k++) transfer(k, true);
  }

  template <class F>
  void runs(F&& f) const {
    float* p[K];
    if (!direct_) {
      for (int k = 0; k < K; k++) p[k] = scratch_->get() + (k * tile_ + (c_ - t0_)) * m_;
      f(p, m_);
      return;
    }
    const int64_t n = v_[0]->shape[0], len = blk_[0]->n;
    for (int64_t s = 0; s < n; s++) {
      for (int k = 0; k < K; k++) p[k] = static_cast<float*>(v_[k]->data) + s * v_[k]->strides[0] + c_ * v_[k]->strides[1];
      f(p, len);
    }
  }

  // Writes the outputs of the gathered tile back; call once the walk is done.
  void flush() {
    if (direct_ || t1_ <= t0_) return;
    for (int k = K - W; k < K; k++) transfer(k, false);
    t0_ = t1_ = 0;
  }

 private:
  // Copies view k's channels [t0_, t1_) into (gather) or out of (scatter) the scratch tile.
  void transfer(int k, bool gather) {
    const View& v = *v_[k];
    const Block& b = *blk_[k];
    float* base = static_cast<float*>(v.data) + t0_ * v.strides[1];
    float* tile = scratch_->get() + k * tile_ * m_;
    const int64_t n = v.shape[0], len = b.n, chans = t1_ - t0_, sc = v.strides[1];
    for (int64_t s = 0; s < n; s++) {
      float* row = base + s * v.strides[0];
      float* near = tile + s * len;
      if (len == 1) {  // [N, C]: one sample's channels of the tile lie side by side
        if (gather)
          for (int64_t j = 0; j < chans; j++) near[j * m_] = row[j * sc];
        else
          for (int64_t j = 0; j < chans; j++) row[j * sc] = near[j * m_];
        continue;
      }
      for (int64_t j = 0; j < chans; j++)
        for (int64_t i = 0; i < len; i++) {
          if (gather) near[j * m_ + i] = row[j * sc + b.at(i)];
          else row[j * sc + b.at(i)] = near[j * m_ + i];
        }
    }
  }

  const View* v_[K];
  const Block* blk_[K];
  int64_t m_ = 0, c_ = 0, c_end_ = 0, tile_ = 1, t0_ = 0, t1_ = 0;
  bool direct_ = true;
  std::unique_ptr<Scratch<float>> scratch_;
};

// views: x, weight, bias | y, saveMean, saveRstd, runningMean, runningVar.
// attrs: training, momentum, eps, hasWeight, hasBias, hasRunning.
// Training normalises with the batch mean and biased variance, saves them, and (with running
// stats) updates runningMean/runningVar in place with the unbiased variance, as torch does.
// Eval normalises with the running stats (read only) and saves them for the backward.
void batch_norm_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &b = v[2], &y = v[3], &smean = v[4], &srstd = v[5], &rmean = v[6], &rvar = v[7];
  const BatchNormArgs s = check_batch_norm(v, a);
  const int64_t C = s.C, M = s.M;  // M: values per channel
  const bool training = s.training, has_w = s.has_w, has_b = s.has_b, has_r = s.has_r;
  const double eps = s.eps, momentum = s.momentum;
  const Block xb(x, 2), yb(y, 2);

  const float *wp = w.ptr<float>(), *bp = b.ptr<float>();
  float *smp = smean.ptr<float>(), *srp = srstd.ptr<float>();
  float *rmp = rmean.ptr<float>(), *rvp = rvar.ptr<float>();
  const View* views[2] = {&x, &y};
  const Block* blocks[2] = {&xb, &yb};
  parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, M)), [&](int64_t c0, int64_t c1) {
    ChannelWalker<2, 1> walk(views, blocks, c1);
    for (int64_t c = c0; c < c1; c++) {
      walk.load(c);
      double m, var;
      if (training) {
        double sum = 0, sq = 0;
        walk.runs([&](float* const* p, int64_t n) { sum += sum_f64(p[0], n); });
        m = sum / M;
        walk.runs([&](float* const* p, int64_t n) { sq += sum_sq_dev(p[0], n, m); });
        var = sq / M;
        if (has_r) {
          float& rm = rmp[c * rmean.strides[0]];
          float& rv = rvp[c * rvar.strides[0]];
          rm = static_cast<float>((1 - momentum) * rm + momentum * m);
          rv = static_cast<float>((1 - momentum) * rv + momentum * var * M / (M - 1));
        }
      } else {
        m = rmp[c * rmean.strides[0]];
        var = rvp[c * rvar.strides[0]];
      }
      const float rs = static_cast<float>(1.0 / std::sqrt(var + eps));
      const Centre ce(m);
      const float wc = has_w ? wp[c * w.strides[0]] : 1.0f, bc = has_b ? bp[c * b.strides[0]] : 0.0f;
      walk.runs([&](float* const* p, int64_t n) { bn_apply(p[0], n, ce.hi, ce.lo, rs * wc, bc, p[1]); });
      smp[c * smean.strides[0]] = ce.hi;
      srp[c * srstd.strides[0]] = rs;
    }
    walk.flush();
  });
}
TF_REGISTER_KERNEL("batchNorm", 3, 5, false, batch_norm_kernel);

// views: x, weight, saveMean, saveRstd, gy | gx, gWeight, gBias. attrs: training, hasWeight, hasBias.
// Training: gx includes the batch statistics' dependence on x; eval: they are constants.
void batch_norm_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &w = v[1], &smean = v[2], &srstd = v[3], &gy = v[4], &gx = v[5], &gw = v[6], &gb = v[7];
  const BatchNormArgs s = check_batch_norm_backward(v, a);
  const int64_t C = s.C, M = s.M;
  const bool training = s.training, has_w = s.has_w;
  const bool has_b = s.has_b;
  const Block xb(x, 2), gyb(gy, 2), gxb(gx, 2);

  const float* wp = w.ptr<float>();
  float *gwp = gw.ptr<float>(), *gbp = gb.ptr<float>();
  const View* views[3] = {&x, &gy, &gx};
  const Block* blocks[3] = {&xb, &gyb, &gxb};
  parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, M)), [&](int64_t c0, int64_t c1) {
    ChannelWalker<3, 1> walk(views, blocks, c1);
    for (int64_t c = c0; c < c1; c++) {
      const float hi = smean.ptr<float>()[c * smean.strides[0]], rs = srstd.ptr<float>()[c * srstd.strides[0]];
      const float wc = has_w ? wp[c * w.strides[0]] : 1.0f;
      walk.load(c);
      CentredSums cs;
      walk.runs([&](float* const* p, int64_t n) { centred_sums(p[0], p[1], nullptr, n, hi, cs); });
      // eval mode saved the running mean itself: nothing was lost in rounding it
      const double cen = training && M ? cs.d / M : 0;
      const double sum_gy_xhat = rs * (cs.gd - cen * cs.g);
      float ka = wc * rs, kk = 0, ks = 0;
      if (training && M) {
        kk = static_cast<float>(-static_cast<double>(wc) * rs * rs * sum_gy_xhat / M);
        ks = static_cast<float>(-static_cast<double>(wc) * rs * cs.g / M);
      }
      walk.runs([&](float* const* p, int64_t n) {
        bn_backward_run(p[0], p[1], n, hi, static_cast<float>(cen), ka, kk, ks, p[2]);
      });
      if (has_w) gwp[c * gw.strides[0]] = static_cast<float>(sum_gy_xhat);
      if (has_b) gbp[c * gb.strides[0]] = static_cast<float>(cs.g);
    }
    walk.flush();
  });
}
TF_REGISTER_KERNEL("batchNormBackward", 5, 3, false, batch_norm_backward_kernel);

}  // namespace
}  // namespace tf
