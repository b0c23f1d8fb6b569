// Activation functions and their derivatives, float32, any strides:
//   activation          x → y              attrs: op, alpha, beta
//   activationBackward  x, gy → gx         (the derivative is recomputed from x)
// ops: gelu (exact, erf), geluTanh, silu, softplus (beta = alpha, threshold = beta), leakyRelu
// (negative slope = alpha), elu (alpha). gelu and silu are the hot ones in networks: they use a
// polynomial exp that the compiler vectorises (TF_CLONES: AVX-512 / AVX2 / baseline), where
// std::exp would be one library call per element. softplus and elu keep std::log1p / std::expm1,
// whose accuracy near 0 a polynomial exp cannot give; they are rarely hot.
#include <cmath>
#include <cstring>

#include "core/registry.h"
#include "core/strided.h"

namespace tf {
namespace {

// ---- vectorisable math ---------------------------------------------------------------------
inline float bits_to_float(int32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// cond ? a : b on bits. Written as a plain ?: GCC (with its default -ftrapping-math) moves the
// arithmetic of an arm into a branch and then cannot vectorise the loop for AVX2.
inline float select(bool cond, float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  const int32_t m = -static_cast<int32_t>(cond);
  return bits_to_float((ia & m) | (ib & ~m));
}

// e^(hi + lo) for float, about 1 ulp: hi + lo = n·ln2 + r with |r| <= ln2/2, e^r by its
// degree-7 Taylor polynomial (truncation < 1e-8), 2^n applied as two exponent-built factors so
// results down to the subnormals and up to overflow (inf) come out right. NaN stays NaN. `lo`
// carries what a float cannot hold of a large argument (see exp_neg_half_square).
inline float exp_approx(float hi, float lo = 0.0f) {
  hi = select(hi < -104.0f, -104.0f, hi);  // comparisons are false for NaN, which flows through
  hi = select(hi > 89.0f, 89.0f, hi);
  const float shifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  float n = ((hi + lo) * 1.44269504088896341f + shifter) - shifter;
  float r = (hi - n * 0.693145751953125f) + (lo - n * 1.428606765330187e-6f);
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t ni = static_cast<int32_t>(n);
  int32_t half = ni >> 1;
  return p * bits_to_float((half + 127) << 23) * bits_to_float((ni - half + 127) << 23);
}

// e^(extra − x²/2) without rounding x² first: x = xh + xl with xh holding 12 significant bits,
// so xh² is exact and the rest is small. A rounded x² (error ~ulp(x²)) would cost ~1e-6
// relative accuracy for |x| > 5 in the normal density and the gelu tails.
inline float exp_neg_half_square(float x, float extra) {
  x = std::fabs(x);
  x = select(x > 20.0f, 20.0f, x);  // e^-200 is 0 in float; keeps inf from making inf − inf
  int32_t b;
  std::memcpy(&b, &x, sizeof b);
  float xh = bits_to_float(b & ~0xfff), xl = x - xh;
  return exp_approx(-0.5f * (xh * xh), extra - (xh * xl + 0.5f * (xl * xl)));
}

inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// Φ(x) = P(N(0,1) <= x) = erfc(-x/√2)/2. erfc(z) for z >= 0 by the Chebyshev-fitted form
// t·exp(−z² + P(t)), t = 1/(1 + z/2) (Numerical Recipes' erfcc, relative error < 1.2e-7 in
// exact arithmetic): relative accuracy in the lower tail, where 1 + erf(x) would cancel.
inline float normal_cdf(float x) {
  float z = std::fabs(x) * 0.70710678118654752f;
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float half_erfc = 0.5f * t * exp_neg_half_square(x, p);  // t·exp(−z² + P(t)), z² = x²/2
  return select(x >= 0, 1.0f - half_erfc, half_erfc);  // NaN: half_erfc is NaN
}

constexpr float kInvSqrt2Pi = 0.3989422804014327f;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

// ---- ops: f(x) and f'(x)·g -----------------------------------------------------------------------
struct Params {
  float alpha, beta;
};

struct Gelu {
  static float f(float x, Params) { return x * normal_cdf(x); }
  static float df(float x, float g, Params) {
    return g * (normal_cdf(x) + x * kInvSqrt2Pi * exp_neg_half_square(x, 0.0f));
  }
};

// x·(1 + tanh(u))/2 = x·sigmoid(2u), u = √(2/π)(x + 0.044715x³): no cancellation for x < 0
struct GeluTanh {
  static float f(float x, Params) { return x * sigmoid_approx(2.0f * kSqrt2OverPi * (x + kGeluCubic * x * x * x)); }
  static float df(float x, float g, Params) {
    float s = sigmoid_approx(2.0f * kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    float du = 2.0f * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    return g * (s + x * s * (1.0f - s) * du);
  }
};

struct Silu {
  static float f(float x, Params) { return x / (1.0f + exp_approx(-x)); }
  static float df(float x, float g, Params) {
    float s = sigmoid_approx(x);
    return g * (s * (1.0f + x * (1.0f - s)));
  }
};

// torch.nn.functional.softplus(x, beta, threshold): linear once beta·x > threshold
struct Softplus {
  static float f(float x, Params p) {
    float bx = x * p.alpha;
    return bx > p.beta ? x : std::log1p(std::exp(bx)) / p.alpha;
  }
  static float df(float x, float g, Params p) {
    float bx = x * p.alpha;
    if (bx > p.beta) return g;
    float z = std::exp(bx);
    return g * (z / (z + 1.0f));
  }
};

struct LeakyRelu {
  static float f(float x, Params p) { return select(x > 0, x, x * p.alpha); }
  static float df(float x, float g, Params p) { return select(x > 0, g, g * p.alpha); }
};

struct Elu {
  static float f(float x, Params p) { return x > 0 ? x : p.alpha * std::expm1(x); }
  static float df(float x, float g, Params p) { return x > 0 ? g : g * p.alpha * std::exp(x); }
};

template <class Op>
TF_CLONES void forward_loop(const float* x, int64_t sx, float* y, int64_t sy, int64_t n, Params p) {
  if (sx == 1 && sy == 1)
    for (int64_t i = 0; i < n; i++) y[i] = Op::f(x[i], p);
  else
    for (int64_t i = 0; i < n; i++) y[i * sy] = Op::f(x[i * sx], p);
}

template <class Op>
TF_CLONES void backward_loop(const float* x, int64_t sx, const float* g, int64_t sg, float* gx, int64_t so, int64_t n,
                             Params p) {
  if (sx == 1 && sg == 1 && so == 1)
    for (int64_t i = 0; i < n; i++) gx[i] = Op::df(x[i], g[i], p);
  else
    for (int64_t i = 0; i < n; i++) gx[i * so] = Op::df(x[i * sx], g[i * sg], p);
}

using ForwardFn = void (*)(const float*, int64_t, float*, int64_t, int64_t, Params);
using BackwardFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, Params);

#define TF_ACTIVATIONS(X) X(gelu, Gelu) X(geluTanh, GeluTanh) X(silu, Silu) X(softplus, Softplus) \
  X(leakyRelu, LeakyRelu) X(elu, Elu)

template <class Fn>
Fn pick(const std::string& op, bool backward) {
#define X(name, Op)                                                                     \
  if (op == #name) {                                                                    \
    if constexpr (std::is_same<Fn, ForwardFn>::value) return forward_loop<Op>;          \
    else return backward_loop<Op>;                                                      \
  }
  TF_ACTIVATIONS(X)
#undef X
  throw Error(ErrorKind::Argument, std::string(backward ? "activationBackward" : "activation") + ": unknown op '" + op +
                                       "' (expected gelu, geluTanh, silu, softplus, leakyRelu or elu)");
}

Params params(const std::string& op, const Attrs& a, const char* kernel) {
  Params p{static_cast<float>(a.number("alpha")), static_cast<float>(a.number("beta"))};
  if (op == "softplus" && !(p.alpha != 0 && std::isfinite(p.alpha)))
    throw Error(ErrorKind::Value, std::string(kernel) + " softplus: beta must be finite and non-zero");
  return p;
}

// views: x | y
void activation_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  const std::string& op = a.string("op");
  ForwardFn fn = pick<ForwardFn>(op, false);
  expect_float(x, "activation", "input");
  expect_float(y, "activation", "output");
  expect_same_shape(x, y, "activation", "input and output");
  const Params p = params(op, a, "activation");
  const View* views[2] = {&y, &x};
  StridedLoop<2> loop(views);
  const float* xp = x.ptr<float>();
  float* yp = y.ptr<float>();
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) { fn(xp + off[1], st[1], yp + off[0], st[0], n, p); });
}
TF_REGISTER_KERNEL("activation", 1, 1, true, activation_kernel);

// views: x, gy | gx
void activation_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &g = v[1], &gx = v[2];
  const std::string& op = a.string("op");
  BackwardFn fn = pick<BackwardFn>(op, true);
  expect_float(x, "activationBackward", "input");
  expect_float(g, "activationBackward", "output gradient");
  expect_float(gx, "activationBackward", "input gradient");
  expect_same_shape(x, gx, "activationBackward", "input and input gradient");
  expect_same_shape(g, gx, "activationBackward", "output gradient and input gradient");
  const Params p = params(op, a, "activationBackward");
  const View* views[3] = {&gx, &x, &g};
  StridedLoop<3> loop(views);
  const float *xp = x.ptr<float>(), *gp = g.ptr<float>();
  float* op_ = gx.ptr<float>();
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    fn(xp + off[1], st[1], gp + off[2], st[2], op_ + off[0], st[0], n, p);
  });
}
TF_REGISTER_KERNEL("activationBackward", 2, 1, true, activation_backward_kernel);

}  // namespace
}  // namespace tf
