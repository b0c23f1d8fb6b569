// Argument validation of the elementwise family (unary, binary, where, copy, fill), shared by
// the CPU kernels (native/cpu/elementwise.cpp) and the CUDA kernels (cuda/elementwise.cu).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/registry.h"

namespace tf {

#define TF_UNARY_OP_NAMES(X) \
  X(neg) X(abs) X(sign) X(exp) X(log) X(sqrt) X(rsqrt) X(sin) X(cos) X(tanh) X(sigmoid) X(relu) \
  X(floor) X(ceil) X(round) X(reciprocal) X(square)
#define TF_BINARY_OP_NAMES(X) \
  X(add) X(sub) X(mul) X(div) X(maximum) X(minimum) X(pow) X(eq) X(ne) X(lt) X(le) X(gt) X(ge)

enum class UnaryOp : int {
#define X(n) n,
  TF_UNARY_OP_NAMES(X)
#undef X
};
enum class BinaryOp : int {
#define X(n) n,
  TF_BINARY_OP_NAMES(X)
#undef X
};

// views: x | out. Throws as the kernel must: unknown op (float32), op without an integer form
// (int32), bool input.
struct UnaryArgs {
  UnaryOp op;
  DType dtype;  // Float32 or Int32
};
UnaryArgs check_unary(const std::vector<View>& v, const Attrs& a);

// views: a, b | out (broadcast inputs carry stride 0).
struct BinaryArgs {
  BinaryOp op;
  DType dtype;   // of the inputs
  bool compare;  // output is bool
};
BinaryArgs check_binary(const std::vector<View>& v, const Attrs& a);

// views: cond, a, b | out. Returns the value dtype.
DType check_where(const std::vector<View>& v);

// views: src | dst
void check_copy(const std::vector<View>& v);

// views: out. The fill value in the output's dtype.
struct FillArgs {
  float f = 0;
  int32_t i = 0;
  uint8_t b = 0;
};
FillArgs check_fill(const std::vector<View>& v, const Attrs& a);

}  // namespace tf
