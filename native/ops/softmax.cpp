#include "ops/softmax.h"

#include <algorithm>
#include <string>

namespace tf {
namespace {

int softmax_dim(const View& x, const Attrs& attrs, const char* op) {
  const int64_t dim = attrs.integer("dim");
  const int64_t nd = std::max(x.ndim, 1);
  if (dim < 0 || dim >= nd)
    throw Error(ErrorKind::Argument, std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a " +
                                         std::to_string(x.ndim) + "-d tensor (expected 0.." + std::to_string(nd - 1) +
                                         ", already normalised)");
  return static_cast<int>(dim);
}

bool log_flag(const Attrs& attrs, const char* op) {
  const int64_t log = attrs.integer("log");
  if (log != 0 && log != 1) throw Error(ErrorKind::Argument, std::string(op) + ": attribute 'log' must be 0 or 1");
  return log == 1;
}

}  // namespace

SoftmaxArgs check_softmax(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &y = v[1];
  expect_float(x, "softmax", "input");
  expect_float(y, "softmax", "output");
  expect_same_shape(x, y, "softmax", "input and output");
  const int dim = softmax_dim(x, a, "softmax");
  return {dim, log_flag(a, "softmax")};
}

SoftmaxArgs check_softmax_backward(const std::vector<View>& v, const Attrs& a) {
  const View &y = v[0], &g = v[1], &gx = v[2];
  expect_float(y, "softmaxBackward", "output");
  expect_float(g, "softmaxBackward", "gradient");
  expect_float(gx, "softmaxBackward", "input gradient");
  expect_same_shape(y, g, "softmaxBackward", "output and gradient");
  expect_same_shape(y, gx, "softmaxBackward", "output and input gradient");
  const int dim = softmax_dim(y, a, "softmaxBackward");
  return {dim, log_flag(a, "softmaxBackward")};
}

}  // namespace tf
