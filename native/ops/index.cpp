#include "ops/index.h"

#include <algorithm>
#include <string>

namespace tf {
namespace {

int check_dim(const View& x, const Attrs& a, const char* op) {
  int64_t dim = a.integer("dim");
  if (dim < 0 || dim >= std::max(1, x.ndim))
    throw Error(ErrorKind::Argument, std::string(op) + ": dim " + std::to_string(dim) + " out of range");
  return static_cast<int>(dim);
}

// x and index for gather/scatter: same ndim; index may be smaller than x except along dim.
void check_gather_shapes(const View& x, const View& index, int dim, const char* op) {
  bool ok = x.ndim == index.ndim;
  for (int d = 0; ok && d < x.ndim; d++) ok = d == dim || index.shape[d] <= x.shape[d];
  if (!ok)
    throw Error(ErrorKind::Shape, std::string(op) + ": index " + shape_str(index) + " must have the rank of " +
                                      shape_str(x) + " and be no larger outside dim " + std::to_string(dim));
}

void check_select_shapes(const View& big, const View& small, const View& index, int dim, const char* op) {
  bool ok = index.ndim == 1 && big.ndim == small.ndim && small.ndim > 0 && small.shape[dim] == index.shape[0];
  for (int d = 0; ok && d < big.ndim; d++) ok = d == dim || big.shape[d] == small.shape[d];
  if (!ok)
    throw Error(ErrorKind::Shape, std::string(op) + ": shapes " + shape_str(big) + ", " + shape_str(small) +
                                      " and 1-D index " + shape_str(index) + " do not agree along dim " +
                                      std::to_string(dim));
}

}  // namespace

int check_gather(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  int dim = check_dim(x, a, "gather");
  check_gather_shapes(x, index, dim, "gather");
  expect_same_shape(index, out, "gather", "index and output");
  expect_dtype(out, x.dtype, "gather", "output");
  expect_dtype(index, DType::Int32, "gather", "index");
  return dim;
}

int check_scatter_add(const std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  int dim = check_dim(out, a, "scatterAdd");
  check_gather_shapes(out, index, dim, "scatterAdd");
  check_gather_shapes(src, index, dim, "scatterAdd");
  if (src.dtype != out.dtype) throw Error(ErrorKind::DType, "scatterAdd: src and output must share a dtype");
  expect_dtype(index, DType::Int32, "scatterAdd", "index");
  return dim;
}

int check_index_select(const std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  int dim = check_dim(x, a, "indexSelect");
  check_select_shapes(x, out, index, dim, "indexSelect");
  expect_dtype(out, x.dtype, "indexSelect", "output");
  expect_dtype(index, DType::Int32, "indexSelect", "index");
  return dim;
}

int check_index_add(const std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  int dim = check_dim(out, a, "indexAdd");
  check_select_shapes(out, src, index, dim, "indexAdd");
  if (src.dtype != out.dtype) throw Error(ErrorKind::DType, "indexAdd: src and output must share a dtype");
  expect_dtype(index, DType::Int32, "indexAdd", "index");
  return dim;
}

void check_add_dtype(const View& out, const char* op) {
  if (out.dtype != DType::Float32 && out.dtype != DType::Int32)
    throw Error(ErrorKind::DType, std::string(op) + ": bool is not supported");
}

void index_out_of_range(const char* op, int32_t value, int64_t bound) {
  throw Error(ErrorKind::Index, std::string(op) + ": index " + std::to_string(value) +
                                    " is out of range for a dimension of size " + std::to_string(bound));
}

}  // namespace tf
