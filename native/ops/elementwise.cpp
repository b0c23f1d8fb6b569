#include "ops/elementwise.h"

#include <climits>
#include <cmath>

namespace tf {
namespace {

bool parse_unary(const std::string& s, UnaryOp& op) {
#define X(n)             \
  if (s == #n) {         \
    op = UnaryOp::n;     \
    return true;         \
  }
  TF_UNARY_OP_NAMES(X)
#undef X
  return false;
}

bool parse_binary(const std::string& s, BinaryOp& op) {
#define X(n)             \
  if (s == #n) {         \
    op = BinaryOp::n;    \
    return true;         \
  }
  TF_BINARY_OP_NAMES(X)
#undef X
  return false;
}

// The ops that have an int32 form; floor, ceil and round are identities on integers.
bool unary_int_ok(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: case UnaryOp::abs: case UnaryOp::sign: case UnaryOp::relu: case UnaryOp::square:
    case UnaryOp::floor: case UnaryOp::ceil: case UnaryOp::round: return true;
    default: return false;
  }
}

bool is_compare(BinaryOp op) { return op >= BinaryOp::eq; }

}  // namespace

UnaryArgs check_unary(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &out = v[1];
  const std::string& name = a.string("op");
  expect_same_shape(x, out, "unary", "input and output");
  expect_dtype(out, x.dtype, "unary", "output");
  UnaryOp op = UnaryOp::neg;
  const bool known = parse_unary(name, op);
  if (x.dtype == DType::Float32) {
    if (!known) throw Error(ErrorKind::Argument, "unary: unknown op '" + name + "'");
  } else if (x.dtype == DType::Int32) {
    if (!known || !unary_int_ok(op))
      throw Error(ErrorKind::DType, "unary " + name + ": needs a float32 input, got int32");
  } else {
    throw Error(ErrorKind::DType, "unary " + name + ": bool input is not supported; cast it first");
  }
  return {op, x.dtype};
}

BinaryArgs check_binary(const std::vector<View>& v, const Attrs& attrs) {
  const std::string& name = attrs.string("op");
  const View &a = v[0], &b = v[1], &out = v[2];
  expect_same_shape(a, out, "binary", "first input and output");
  expect_same_shape(b, out, "binary", "second input and output");
  if (a.dtype != b.dtype)
    throw Error(ErrorKind::DType, "binary " + name + ": inputs must share a dtype, got " +
                                      std::string(dtype_name(a.dtype)) + " and " + dtype_name(b.dtype));
  BinaryOp op = BinaryOp::add;
  const bool known = parse_binary(name, op);
  if (known && is_compare(op)) {
    expect_dtype(out, DType::Bool, "binary", "comparison output");
    return {op, a.dtype, true};
  }
  expect_dtype(out, a.dtype, "binary", "output");
  // Integer division and pow are not offered: the TS layer promotes them to float32 as torch does.
  bool ok = known && (a.dtype == DType::Float32 ||
                      (a.dtype == DType::Int32 && op != BinaryOp::div && op != BinaryOp::pow) ||
                      (a.dtype == DType::Bool && (op == BinaryOp::maximum || op == BinaryOp::minimum)));
  if (!ok) throw Error(ErrorKind::DType, "binary: op '" + name + "' is not defined for " + dtype_name(a.dtype));
  return {op, a.dtype, false};
}

DType check_where(const std::vector<View>& v) {
  expect_dtype(v[0], DType::Bool, "where", "condition");
  for (int i = 0; i < 3; i++) expect_same_shape(v[i], v[3], "where", "input and output");
  if (v[1].dtype != v[2].dtype || v[3].dtype != v[1].dtype)
    throw Error(ErrorKind::DType, "where: both branches and the output must share a dtype");
  return v[1].dtype;
}

void check_copy(const std::vector<View>& v) { expect_same_shape(v[0], v[1], "copy", "source and destination"); }

FillArgs check_fill(const std::vector<View>& v, const Attrs& a) {
  const double value = a.number("value");
  FillArgs f;
  switch (v[0].dtype) {
    case DType::Float32: f.f = static_cast<float>(value); break;
    case DType::Int32:
      if (!(value >= INT32_MIN && value <= INT32_MAX) || value != std::floor(value))
        throw Error(ErrorKind::Value, "fill: " + std::to_string(value) + " is not an int32 value");
      f.i = static_cast<int32_t>(value);
      break;
    case DType::Bool: f.b = value != 0; break;
  }
  return f;
}

}  // namespace tf
