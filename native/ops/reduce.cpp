#include "ops/reduce.h"

#include <string>

namespace tf {

ReduceArgs check_reduce(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &out = v[1];
  const std::string& op = a.string("op");
  const int64_t r = a.integer("reduceDims");
  if (r < 0 || r > x.ndim) throw Error(ErrorKind::Argument, "reduce: reduceDims out of range");
  ReduceArgs args{};
  args.kept = x.ndim - static_cast<int>(r);
  bool shape_ok = out.ndim == args.kept && out.contiguous();
  for (int d = 0; shape_ok && d < args.kept; d++) shape_ok = out.shape[d] == x.shape[d];
  if (!shape_ok)
    throw Error(ErrorKind::Shape, "reduce: output must be contiguous with shape " + shape_str(x) + " minus its last " +
                                      std::to_string(r) + " dims, got " + shape_str(out));
  args.arg = op == "argmax" || op == "argmin";
  expect_dtype(out, args.arg ? DType::Int32 : x.dtype, "reduce", "output");
  if (x.dtype != DType::Float32 && x.dtype != DType::Int32)
    throw Error(ErrorKind::DType, "reduce: bool input is not supported; cast it first");
  if (op == "sum") args.op = ReduceOp::Sum;
  else if (op == "prod") args.op = ReduceOp::Prod;
  else if (op == "max") args.op = ReduceOp::Max;
  else if (op == "min") args.op = ReduceOp::Min;
  else if (op == "argmax") args.op = ReduceOp::ArgMax;
  else if (op == "argmin") args.op = ReduceOp::ArgMin;
  else throw Error(ErrorKind::Argument, "reduce: unknown op '" + op + "'");
  args.extreme = args.op != ReduceOp::Sum && args.op != ReduceOp::Prod;
  int64_t n_red = 1;
  for (int d = args.kept; d < x.ndim; d++) n_red *= x.shape[d];
  if (n_red == 0 && args.extreme)
    throw Error(ErrorKind::Shape, "reduce: cannot take the max/min/arg of an empty reduction");
  return args;
}

}  // namespace tf
