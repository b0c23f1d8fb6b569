// CUDA kernels of the activation family: activation (x | y) and activationBackward (x, gy | gx)
// for gelu, geluTanh, silu, softplus, leakyRelu and elu. The checks and the math are the CPU's
// own (native/ops/activation.h, host/device functions), so both devices evaluate the same
// formulas in the same order; they may differ in the last bit where nvcc fuses a multiply-add
// the CPU build does not (or vice versa), and in softplus/elu through expf/log1pf/expm1f.
#include "common.cuh"
#include "elementwise.cuh"
#include "ops/activation.h"

namespace tf {
namespace cuda {
namespace {

using ew::In;

template <class Op>
struct Forward {
  act::Params p;
  __device__ __forceinline__ float operator()(float x) const { return Op::f(x, p); }
};
template <class Op>
struct Backward {
  act::Params p;
  __device__ __forceinline__ float operator()(float x, float g) const { return Op::df(x, g, p); }
};

void activation_kernel(std::vector<View>& v, const Attrs& a) {
  const ActivationArgs args = check_activation(v, a);
  switch (args.op) {
#define X(name, Op)                                                                                 \
  case Activation::name:                                                                            \
    return ew::launch<float>("activation", Forward<act::Op>{args.p}, v[1], In<float>{v[0]});
    TF_ACTIVATIONS(X)
#undef X
  }
}
TF_REGISTER_KERNEL("activation", 1, 1, true, activation_kernel);

void activation_backward_kernel(std::vector<View>& v, const Attrs& a) {
  const ActivationArgs args = check_activation_backward(v, a);
  switch (args.op) {
#define X(name, Op)                                                                                   \
  case Activation::name:                                                                              \
    return ew::launch<float>("activationBackward", Backward<act::Op>{args.p}, v[2], In<float>{v[0]},   \
                             In<float>{v[1]});
    TF_ACTIVATIONS(X)
#undef X
  }
}
TF_REGISTER_KERNEL("activationBackward", 2, 1, true, activation_backward_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
