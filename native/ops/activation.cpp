#include "ops/activation.h"

namespace tf {
namespace {

Activation parse(const std::string& op, bool backward) {
#define X(name, Op) \
  if (op == #name) return Activation::name;
  TF_ACTIVATIONS(X)
#undef X
  throw Error(ErrorKind::Argument, std::string(backward ? "activationBackward" : "activation") + ": unknown op '" + op +
                                       "' (expected gelu, geluTanh, silu, softplus, leakyRelu or elu)");
}

act::Params params(Activation op, const Attrs& a, const char* kernel) {
  act::Params p{static_cast<float>(a.number("alpha")), static_cast<float>(a.number("beta"))};
  if (op == Activation::softplus && !(p.alpha != 0 && std::isfinite(p.alpha)))
    throw Error(ErrorKind::Value, std::string(kernel) + " softplus: beta must be finite and non-zero");
  return p;
}

}  // namespace

ActivationArgs check_activation(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  const Activation op = parse(a.string("op"), false);
  expect_float(x, "activation", "input");
  expect_float(y, "activation", "output");
  expect_same_shape(x, y, "activation", "input and output");
  return {op, params(op, a, "activation")};
}

ActivationArgs check_activation_backward(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &g = v[1], &gx = v[2];
  const Activation op = parse(a.string("op"), true);
  expect_float(x, "activationBackward", "input");
  expect_float(g, "activationBackward", "output gradient");
  expect_float(gx, "activationBackward", "input gradient");
  expect_same_shape(x, gx, "activationBackward", "input and input gradient");
  expect_same_shape(g, gx, "activationBackward", "output gradient and input gradient");
  return {op, params(op, a, "activationBackward")};
}

}  // namespace tf
