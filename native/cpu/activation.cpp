// Activation functions and their derivatives, float32, any strides:
//   activation          x → y              attrs: op, alpha, beta
//   activationBackward  x, gy → gx         (the derivative is recomputed from x)
// ops: gelu (exact, erf), geluTanh, silu, softplus (beta = alpha, threshold = beta), leakyRelu
// (negative slope = alpha), elu (alpha). The math and the checks are in native/ops/activation.h
// (shared with the CUDA kernels); here the loops are compiled for AVX-512, AVX2 and baseline
// x86-64 (TF_CLONES), which vectorise the polynomial exp of the hot ops.
#include <cmath>
#include <cstring>

#include "core/registry.h"
#include "core/strided.h"
#include "ops/activation.h"

namespace tf {
namespace {

using act::Params;

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

template <class Fn>
Fn pick(Activation op) {
#define X(name, Op)                                                                          \
  if (op == Activation::name) {                                                              \
    if constexpr (std::is_same<Fn, ForwardFn>::value) return forward_loop<act::Op>;          \
    else return backward_loop<act::Op>;                                                      \
  }
  TF_ACTIVATIONS(X)
#undef X
  throw Error(ErrorKind::Argument, "activation: unknown op");  // unreachable: checked
}

// views: x | y
void activation_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  const ActivationArgs args = check_activation(v, a);
  ForwardFn fn = pick<ForwardFn>(args.op);
  const Params p = args.p;
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
  const ActivationArgs args = check_activation_backward(v, a);
  BackwardFn fn = pick<BackwardFn>(args.op);
  const Params p = args.p;
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
