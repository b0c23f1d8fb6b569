// The activation family (gelu, geluTanh, silu, softplus, leakyRelu, elu): argument validation
// and the math itself, written once for the CPU kernels (native/cpu/activation.cpp) and the
// CUDA kernels (cuda/activation.cu), so both devices compute the same formulas step by step.
//
// gelu and silu are the hot ones in networks: they use a polynomial exp that the CPU compiler
// vectorises (where std::exp would be one library call per element). softplus and elu keep
// log1p / expm1, whose accuracy near 0 a polynomial exp cannot give; they are rarely hot.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/registry.h"
#include "ops/hd.h"

namespace tf {
namespace act {

TF_HD float bits_to_float(int32_t b) {
#ifdef __CUDA_ARCH__
  return __int_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
#endif
}
TF_HD int32_t float_to_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_int(f);
#else
  int32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
#endif
}

// cond ? a : b on bits. Written as a plain ?: GCC (with its default -ftrapping-math) moves the
// arithmetic of an arm into a branch and then cannot vectorise the loop for AVX2.
TF_HD float select(bool cond, float a, float b) {
  const int32_t m = -static_cast<int32_t>(cond);
  return bits_to_float((float_to_bits(a) & m) | (float_to_bits(b) & ~m));
}

// e^(hi + lo) for float, about 1 ulp: hi + lo = n·ln2 + r with |r| <= ln2/2, e^r by its
// degree-7 Taylor polynomial (truncation < 1e-8), 2^n applied as two exponent-built factors so
// results down to the subnormals and up to overflow (inf) come out right. NaN stays NaN. `lo`
// carries what a float cannot hold of a large argument (see exp_neg_half_square).
TF_HD float exp_approx(float hi, float lo = 0.0f) {
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
TF_HD float exp_neg_half_square(float x, float extra) {
  x = std::fabs(x);
  x = select(x > 20.0f, 20.0f, x);  // e^-200 is 0 in float; keeps inf from making inf − inf
  float xh = bits_to_float(float_to_bits(x) & ~0xfff), xl = x - xh;
  return exp_approx(-0.5f * (xh * xh), extra - (xh * xl + 0.5f * (xl * xl)));
}

TF_HD float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// Φ(x) = P(N(0,1) <= x) = erfc(-x/√2)/2. erfc(z) for z >= 0 by the Chebyshev-fitted form
// t·exp(−z² + P(t)), t = 1/(1 + z/2) (Numerical Recipes' erfcc, relative error < 1.2e-7 in
// exact arithmetic): relative accuracy in the lower tail, where 1 + erf(x) would cancel.
TF_HD float normal_cdf(float x) {
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

struct Params {
  float alpha, beta;
};

// ---- ops: f(x) and f'(x)·g -----------------------------------------------------------------
struct Gelu {
  static TF_HD float f(float x, Params) { return x * normal_cdf(x); }
  static TF_HD float df(float x, float g, Params) {
    return g * (normal_cdf(x) + x * kInvSqrt2Pi * exp_neg_half_square(x, 0.0f));
  }
};

// x·(1 + tanh(u))/2 = x·sigmoid(2u), u = √(2/π)(x + 0.044715x³): no cancellation for x < 0
struct GeluTanh {
  static TF_HD float f(float x, Params) {
    return x * sigmoid_approx(2.0f * kSqrt2OverPi * (x + kGeluCubic * x * x * x));
  }
  static TF_HD float df(float x, float g, Params) {
    float s = sigmoid_approx(2.0f * kSqrt2OverPi * (x + kGeluCubic * x * x * x));
    float du = 2.0f * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
    return g * (s + x * s * (1.0f - s) * du);
  }
};

struct Silu {
  static TF_HD float f(float x, Params) { return x / (1.0f + exp_approx(-x)); }
  static TF_HD float df(float x, float g, Params) {
    float s = sigmoid_approx(x);
    return g * (s * (1.0f + x * (1.0f - s)));
  }
};

// torch.nn.functional.softplus(x, beta, threshold): linear once beta·x > threshold
struct Softplus {
  static TF_HD float f(float x, Params p) {
    float bx = x * p.alpha;
    return bx > p.beta ? x : log1pf(expf(bx)) / p.alpha;
  }
  static TF_HD float df(float x, float g, Params p) {
    float bx = x * p.alpha;
    if (bx > p.beta) return g;
    float z = expf(bx);
    return g * (z / (z + 1.0f));
  }
};

struct LeakyRelu {
  static TF_HD float f(float x, Params p) { return select(x > 0, x, x * p.alpha); }
  static TF_HD float df(float x, float g, Params p) { return select(x > 0, g, g * p.alpha); }
};

struct Elu {
  static TF_HD float f(float x, Params p) { return x > 0 ? x : p.alpha * expm1f(x); }
  static TF_HD float df(float x, float g, Params p) { return x > 0 ? g : g * p.alpha * expf(x); }
};

}  // namespace act

#define TF_ACTIVATIONS(X) \
  X(gelu, Gelu) X(geluTanh, GeluTanh) X(silu, Silu) X(softplus, Softplus) X(leakyRelu, LeakyRelu) X(elu, Elu)

enum class Activation : int {
#define X(name, Op) name,
  TF_ACTIVATIONS(X)
#undef X
};

struct ActivationArgs {
  Activation op;
  act::Params p;
};
// views: x | y
ActivationArgs check_activation(const std::vector<View>& v, const Attrs& a);
// views: x, gy | gx
ActivationArgs check_activation_backward(const std::vector<View>& v, const Attrs& a);

}  // namespace tf
