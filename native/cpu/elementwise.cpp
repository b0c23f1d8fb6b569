// Elementwise kernels: unary math, binary arithmetic and comparisons, where, copy/cast, fill.
// All take strided views (broadcast inputs have stride 0) and walk them with StridedLoop, so
// one inner loop per op serves contiguous, transposed and broadcast operands alike. The argument
// checks are in native/ops/elementwise.h, shared with the CUDA kernels. Inner loops
// are compiled for AVX-512, AVX2 and baseline x86-64 (target_clones) and chosen at load time.
#include <cmath>
#include <cstring>

#include "core/registry.h"
#include "core/strided.h"
#include "ops/elementwise.h"

namespace tf {
namespace {

// ---- unary -----------------------------------------------------------------------------------
#define TF_UNARY_OPS(X)                                                \
  X(neg, -x)                                                           \
  X(abs, std::fabs(x))                                                 \
  X(sign, static_cast<float>((x > 0) - (x < 0)))                       \
  X(exp, std::exp(x))                                                  \
  X(log, std::log(x))                                                  \
  X(sqrt, std::sqrt(x))                                                \
  X(rsqrt, 1.0f / std::sqrt(x))                                        \
  X(sin, std::sin(x))                                                  \
  X(cos, std::cos(x))                                                  \
  X(tanh, std::tanh(x))                                                \
  X(sigmoid, 1.0f / (1.0f + std::exp(-x)))                             \
  X(relu, x > 0 ? x : (x == x ? 0.0f : x))                             \
  X(floor, std::floor(x))                                              \
  X(ceil, std::ceil(x))                                                \
  X(round, std::nearbyint(x))                                          \
  X(reciprocal, 1.0f / x)                                              \
  X(square, x * x)

#define X(name, expr) \
  struct U_##name { static inline float f(float x) { return expr; } };
TF_UNARY_OPS(X)
#undef X

template <class Op>
TF_CLONES void unary_f32(const float* in, int64_t si, float* out, int64_t so, int64_t n) {
  if (si == 1 && so == 1)
    for (int64_t i = 0; i < n; i++) out[i] = Op::f(in[i]);
  else
    for (int64_t i = 0; i < n; i++) out[i * so] = Op::f(in[i * si]);
}

using UnaryF32 = void (*)(const float*, int64_t, float*, int64_t, int64_t);

UnaryF32 unary_f32_kernel(UnaryOp op) {
  switch (op) {
#define X(name, expr) \
  case UnaryOp::name: return unary_f32<U_##name>;
    TF_UNARY_OPS(X)
#undef X
  }
  return nullptr;  // unreachable: every UnaryOp has a float32 form
}

// Integer versions of the ops that make sense on int32 (the rest need a float input).
int32_t unary_i32(UnaryOp op, int32_t x) {
  switch (op) {
    case UnaryOp::neg: return static_cast<int32_t>(0u - static_cast<uint32_t>(x));
    case UnaryOp::abs: return x < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(x)) : x;
    case UnaryOp::sign: return (x > 0) - (x < 0);
    case UnaryOp::relu: return x > 0 ? x : 0;
    case UnaryOp::square: return static_cast<int32_t>(static_cast<uint32_t>(x) * static_cast<uint32_t>(x));
    default: return x;  // floor, ceil, round are identities on integers (check_unary allows no other)
  }
}

void unary_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &out = v[1];
  const UnaryArgs args = check_unary(v, a);
  const UnaryOp op = args.op;
  const View* views[2] = {&out, &x};
  StridedLoop<2> loop(views);
  if (args.dtype == DType::Float32) {
    UnaryF32 k = unary_f32_kernel(op);
    float *o = out.ptr<float>(), *i = x.ptr<float>();
    loop.run([&](const int64_t* off, int64_t n, const int64_t* st) { k(i + off[1], st[1], o + off[0], st[0], n); });
  } else {
    int32_t *o = out.ptr<int32_t>(), *i = x.ptr<int32_t>();
    loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
      for (int64_t j = 0; j < n; j++) o[off[0] + j * st[0]] = unary_i32(op, i[off[1] + j * st[1]]);
    });
  }
}
TF_REGISTER_KERNEL("unary", 1, 1, true, unary_kernel);

// ---- binary ----------------------------------------------------------------------------------
// Arithmetic ops produce the input dtype; comparisons produce bool (uint8 0/1).
#define TF_ARITH_OPS(X)                      \
  X(add, a + b)                              \
  X(sub, a - b)                              \
  X(mul, a * b)                              \
  X(div, a / b)                              \
  X(maximum, (a != a || a > b) ? a : b)      \
  X(minimum, (a != a || a < b) ? a : b)
#define TF_COMPARE_OPS(X) \
  X(eq, a == b) X(ne, a != b) X(lt, a < b) X(le, a <= b) X(gt, a > b) X(ge, a >= b)

#define X(name, expr) \
  struct B_##name { template <class T> static inline auto f(T a, T b) { return expr; } };
TF_ARITH_OPS(X)
TF_COMPARE_OPS(X)
#undef X
struct B_pow { static inline float f(float a, float b) { return std::pow(a, b); } };

template <class Op, class T, class R>
TF_CLONES void binary_loop(const T* a, int64_t sa, const T* b, int64_t sb, R* o, int64_t so, int64_t n) {
  // The common layouts get their own loop so the compiler vectorises them.
  if (sa == 1 && sb == 1 && so == 1)
    for (int64_t i = 0; i < n; i++) o[i] = static_cast<R>(Op::f(a[i], b[i]));
  else if (sa == 1 && sb == 0 && so == 1)
    for (int64_t i = 0; i < n; i++) o[i] = static_cast<R>(Op::f(a[i], b[0]));
  else if (sa == 0 && sb == 1 && so == 1)
    for (int64_t i = 0; i < n; i++) o[i] = static_cast<R>(Op::f(a[0], b[i]));
  else
    for (int64_t i = 0; i < n; i++) o[i * so] = static_cast<R>(Op::f(a[i * sa], b[i * sb]));
}

template <class T, class R>
using BinaryFn = void (*)(const T*, int64_t, const T*, int64_t, R*, int64_t, int64_t);

template <class T, class R>
void run_binary(std::vector<View>& v, BinaryFn<T, R> k) {
  const View* views[3] = {&v[2], &v[0], &v[1]};
  StridedLoop<3> loop(views);
  const T *a = v[0].ptr<T>(), *b = v[1].ptr<T>();
  R* o = v[2].ptr<R>();
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    k(a + off[1], st[1], b + off[2], st[2], o + off[0], st[0], n);
  });
}

// Integer division and pow are not offered (check_binary): the TS layer promotes them to float32
// as torch does.
template <class T>
bool run_arith(std::vector<View>& v, BinaryOp op) {
#define X(name, expr)                                   \
  if (op == BinaryOp::name) {                           \
    run_binary<T, T>(v, binary_loop<B_##name, T, T>);   \
    return true;                                        \
  }
  TF_ARITH_OPS(X)
#undef X
  return false;
}

template <class T>
bool run_compare(std::vector<View>& v, BinaryOp op) {
#define X(name, expr)                                           \
  if (op == BinaryOp::name) {                                   \
    run_binary<T, uint8_t>(v, binary_loop<B_##name, T, uint8_t>); \
    return true;                                                \
  }
  TF_COMPARE_OPS(X)
#undef X
  return false;
}

void binary_kernel(std::vector<View>& v, const Attrs& attrs) {
  const BinaryArgs args = check_binary(v, attrs);
  const BinaryOp op = args.op;
  if (args.compare) {
    if (args.dtype == DType::Float32) run_compare<float>(v, op);
    else if (args.dtype == DType::Int32) run_compare<int32_t>(v, op);
    else run_compare<uint8_t>(v, op);
    return;
  }
  if (args.dtype == DType::Float32) {
    if (op == BinaryOp::pow) return run_binary<float, float>(v, binary_loop<B_pow, float, float>);
    run_arith<float>(v, op);
  } else if (args.dtype == DType::Int32) {
    run_arith<int32_t>(v, op);
  } else {
    run_arith<uint8_t>(v, op);
  }
}
TF_REGISTER_KERNEL("binary", 2, 1, true, binary_kernel);

// ---- where -----------------------------------------------------------------------------------
template <class T>
void where_typed(std::vector<View>& v) {
  const View* views[4] = {&v[3], &v[0], &v[1], &v[2]};
  StridedLoop<4> loop(views);
  const uint8_t* c = v[0].ptr<uint8_t>();
  const T *a = v[1].ptr<T>(), *b = v[2].ptr<T>();
  T* o = v[3].ptr<T>();
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; i++)
      o[off[0] + i * st[0]] = c[off[1] + i * st[1]] ? a[off[2] + i * st[2]] : b[off[3] + i * st[3]];
  });
}

void where_kernel(std::vector<View>& v, const Attrs&) {
  if (check_where(v) == DType::Bool) return where_typed<uint8_t>(v);
  where_typed<int32_t>(v);  // float32 and int32 are both 4-byte values: moving bits is exact
}
TF_REGISTER_KERNEL("where", 3, 1, true, where_kernel);

// ---- copy / cast -----------------------------------------------------------------------------
// float -> int truncates toward zero like torch; out-of-range and NaN become INT32_MIN
// instead of undefined behaviour. Anything -> bool tests for non-zero.
int32_t float_to_i32(float x) {
  if (!(x > -2147483649.0f && x < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(x);
}
template <class S, class D>
inline D convert(S x) {
  if constexpr (std::is_same<D, uint8_t>::value) return x != 0;
  else if constexpr (std::is_same<S, float>::value && std::is_same<D, int32_t>::value) return float_to_i32(x);
  else return static_cast<D>(x);
}

template <class S, class D>
TF_CLONES void convert_loop(const S* s, int64_t ss, D* d, int64_t ds, int64_t n) {
  if (ss == 1 && ds == 1)
    for (int64_t i = 0; i < n; i++) d[i] = convert<S, D>(s[i]);
  else
    for (int64_t i = 0; i < n; i++) d[i * ds] = convert<S, D>(s[i * ss]);
}

// A transposing copy (source contiguous along the destination's second-to-last dim) goes
// tile by tile so both sides stay in cache; a plain strided walk would miss on every read.
template <class S, class D>
bool copy_transposed(const StridedLoop<2>& L, const S* s, D* d) {
  const int nd = L.ndim;
  if (nd < 2) return false;
  const int64_t R = L.shape[nd - 2], C = L.shape[nd - 1];
  const int64_t d_r = L.st[0][nd - 2], d_c = L.st[0][nd - 1], s_r = L.st[1][nd - 2], s_c = L.st[1][nd - 1];
  if (!(d_c == 1 && s_r == 1 && s_c != 1)) return false;
  constexpr int64_t T = 32;
  const int64_t tiles_r = (R + T - 1) / T, tiles_c = (C + T - 1) / T;
  int64_t outer = 1;
  for (int k = 0; k < nd - 2; k++) outer *= L.shape[k];
  parallel_for(outer * tiles_r, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; t++) {
      int64_t o = t / tiles_r, r0 = (t % tiles_r) * T, so = 0, dof = 0;
      for (int k = nd - 3; k >= 0; k--) {
        int64_t i = o % L.shape[k];
        o /= L.shape[k];
        so += i * L.st[1][k];
        dof += i * L.st[0][k];
      }
      for (int64_t tc = 0; tc < tiles_c; tc++)
        for (int64_t r = r0; r < std::min(R, r0 + T); r++)
          for (int64_t c = tc * T; c < std::min(C, tc * T + T); c++)
            d[dof + r * d_r + c] = convert<S, D>(s[so + r + c * s_c]);
    }
  });
  return true;
}

template <class S, class D>
void copy_typed(const View& src, const View& dst) {
  const View* views[2] = {&dst, &src};
  StridedLoop<2> loop(views);
  const S* s = src.ptr<S>();
  D* d = dst.ptr<D>();
  if (copy_transposed<S, D>(loop, s, d)) return;
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    convert_loop<S, D>(s + off[1], st[1], d + off[0], st[0], n);
  });
}

template <class S>
void copy_from(const View& src, const View& dst) {
  switch (dst.dtype) {
    case DType::Float32: return copy_typed<S, float>(src, dst);
    case DType::Int32: return copy_typed<S, int32_t>(src, dst);
    case DType::Bool: return copy_typed<S, uint8_t>(src, dst);
  }
}

void copy_kernel(std::vector<View>& v, const Attrs&) {
  check_copy(v);
  switch (v[0].dtype) {
    case DType::Float32: return copy_from<float>(v[0], v[1]);
    case DType::Int32: return copy_from<int32_t>(v[0], v[1]);
    case DType::Bool: return copy_from<uint8_t>(v[0], v[1]);
  }
}
TF_REGISTER_KERNEL("copy", 1, 1, true, copy_kernel);

// ---- fill ------------------------------------------------------------------------------------
template <class T>
void fill_typed(const View& out, T value) {
  const View* views[1] = {&out};
  StridedLoop<1> loop(views);
  T* o = out.ptr<T>();
  loop.run([&](const int64_t* off, int64_t n, const int64_t* st) {
    for (int64_t i = 0; i < n; i++) o[off[0] + i * st[0]] = value;
  });
}

void fill_kernel(std::vector<View>& v, const Attrs& a) {
  const FillArgs f = check_fill(v, a);
  switch (v[0].dtype) {
    case DType::Float32: return fill_typed<float>(v[0], f.f);
    case DType::Int32: return fill_typed<int32_t>(v[0], f.i);
    case DType::Bool: return fill_typed<uint8_t>(v[0], f.b);
  }
}
TF_REGISTER_KERNEL("fill", 0, 1, false, fill_kernel);

}  // namespace
}  // namespace tf
