// Indexing kernels: gather / scatterAdd (torch.gather, torch.scatter_add_) and
// indexSelect / indexAdd (torch.index_select, torch.index_add_). Every index is checked before
// anything is written, so a bad index raises an error and leaves the output untouched. The
// argument checks are in native/ops/index.h, shared with the CUDA kernels.
#include "core/registry.h"
#include "core/threadpool.h"
#include "ops/index.h"

namespace tf {
namespace {

// Calls f(idx) for the multi-indices at flat positions [b, e) of `shape`.
template <class F>
void for_each_index(const View& shape_of, int64_t b, int64_t e, F&& f) {
  int64_t idx[kMaxDims] = {};
  int64_t r = b;
  for (int d = shape_of.ndim - 1; d >= 0; d--) {
    idx[d] = r % shape_of.shape[d];
    r /= shape_of.shape[d];
  }
  for (int64_t p = b; p < e; p++) {
    f(idx);
    for (int d = shape_of.ndim - 1; d >= 0; d--) {
      if (++idx[d] < shape_of.shape[d]) break;
      idx[d] = 0;
    }
  }
}

int64_t offset(const View& v, const int64_t* idx) {
  int64_t off = 0;
  for (int d = 0; d < v.ndim; d++) off += idx[d] * v.strides[d];
  return off;
}

// Every index value must address a slot of size `bound`.
void check_indices(const View& index, int64_t bound, const char* op) {
  const int32_t* ix = index.ptr<int32_t>();
  for_each_index(index, 0, index.numel(), [&](const int64_t* i) {
    int32_t v = ix[offset(index, i)];
    if (v < 0 || v >= bound) index_out_of_range(op, v, bound);
  });
}

template <class T>
void gather_typed(const View& x, const View& index, const View& out, int dim) {
  const T* src = x.ptr<T>();
  const int32_t* ix = index.ptr<int32_t>();
  T* dst = out.ptr<T>();
  parallel_for(out.numel(), 16384, [&](int64_t b, int64_t e) {
    for_each_index(out, b, e, [&](const int64_t* i) {
      int64_t xoff = offset(x, i) + (ix[offset(index, i)] - i[dim]) * x.strides[dim];
      dst[offset(out, i)] = src[xoff];
    });
  });
}

void gather_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  const int dim = check_gather(v, a);
  check_indices(index, index_bound(x, dim), "gather");
  if (x.dtype == DType::Bool) return gather_typed<uint8_t>(x, index, out, dim);
  gather_typed<int32_t>(x, index, out, dim);  // moves 4-byte values bit for bit
}
TF_REGISTER_KERNEL("gather", 2, 1, false, gather_kernel);

template <class T>
void scatter_add_typed(const View& index, const View& src, const View& out, int dim) {
  const int32_t* ix = index.ptr<int32_t>();
  const T* s = src.ptr<T>();
  T* o = out.ptr<T>();
  // Serial: different positions may hit the same output slot.
  for_each_index(index, 0, index.numel(), [&](const int64_t* i) {
    o[offset(out, i) + (ix[offset(index, i)] - i[dim]) * out.strides[dim]] += s[offset(src, i)];
  });
}

// views: index, src, out (accumulated in place)
void scatter_add_kernel(std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  const int dim = check_scatter_add(v, a);
  check_indices(index, index_bound(out, dim), "scatterAdd");
  check_add_dtype(out, "scatterAdd");
  if (out.dtype == DType::Float32) return scatter_add_typed<float>(index, src, out, dim);
  scatter_add_typed<int32_t>(index, src, out, dim);
}
TF_REGISTER_KERNEL("scatterAdd", 2, 1, false, scatter_add_kernel);

template <class T>
void index_select_typed(const View& x, const View& index, const View& out, int dim) {
  const T* src = x.ptr<T>();
  const int32_t* ix = index.ptr<int32_t>();
  T* dst = out.ptr<T>();
  parallel_for(out.numel(), 16384, [&](int64_t b, int64_t e) {
    for_each_index(out, b, e, [&](const int64_t* i) {
      int64_t xoff = offset(x, i) + (ix[i[dim] * index.strides[0]] - i[dim]) * x.strides[dim];
      dst[offset(out, i)] = src[xoff];
    });
  });
}

void index_select_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  const int dim = check_index_select(v, a);
  check_indices(index, index_bound(x, dim), "indexSelect");
  if (x.dtype == DType::Bool) return index_select_typed<uint8_t>(x, index, out, dim);
  index_select_typed<int32_t>(x, index, out, dim);
}
TF_REGISTER_KERNEL("indexSelect", 2, 1, false, index_select_kernel);

template <class T>
void index_add_typed(const View& index, const View& src, const View& out, int dim) {
  const int32_t* ix = index.ptr<int32_t>();
  const T* s = src.ptr<T>();
  T* o = out.ptr<T>();
  for_each_index(src, 0, src.numel(), [&](const int64_t* i) {
    o[offset(out, i) + (ix[i[dim] * index.strides[0]] - i[dim]) * out.strides[dim]] += s[offset(src, i)];
  });
}

// views: index, src, out (accumulated in place): out[..., index[j], ...] += src[..., j, ...]
void index_add_kernel(std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  const int dim = check_index_add(v, a);
  check_indices(index, index_bound(out, dim), "indexAdd");
  check_add_dtype(out, "indexAdd");
  if (out.dtype == DType::Float32) return index_add_typed<float>(index, src, out, dim);
  index_add_typed<int32_t>(index, src, out, dim);
}
TF_REGISTER_KERNEL("indexAdd", 2, 1, false, index_add_kernel);

}  // namespace
}  // namespace tf
