// CUDA kernels of the indexing family: gather, scatterAdd, indexSelect, indexAdd (torch
// semantics; the argument checks are shared with the CPU: native/ops/index.h).
//
// Index values live in device memory and the CPU kernel rejects an out-of-range one with an
// IndexError before writing anything. Here the same holds: a check kernel finds the first
// (lowest flat position) bad index, its position and value come back to the host (a 16-byte
// copy on the op stream, so the host waits for the queued work: one synchronisation per call
// with a non-empty index), and the op throws the CPU's error before its main kernel is queued.
// So no kernel ever addresses memory out of bounds, a bad index never leaves a partly written
// output, and the message names the same index as on the CPU.
//
// scatterAdd and indexAdd accumulate with atomicAdd: float32 sums of duplicate indices are
// added in an unspecified order (not bit-reproducible run to run, unlike the CPU's serial loop);
// int32 sums are exact and wrap around on overflow as the CPU's do.
#include <climits>
#include <cstdint>

#include "common.cuh"
#include "index_check.h"
#include "ops/index.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// Offsets of up to three operands for a flat position over `shape` (row-major), and the
// coordinate along `dim`.
struct IndexWalk {
  int ndim = 0, dim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t st[3][kMaxDims] = {};

  template <class I>
  __device__ __forceinline__ int64_t offsets(I lin, int64_t (&off)[3]) const {
    off[0] = off[1] = off[2] = 0;
    int64_t at_dim = 0;
    for (int d = ndim - 1; d >= 0; d--) {
      const I s = static_cast<I>(shape[d]);
      const I q = lin / s;
      const int64_t r = static_cast<int64_t>(lin - q * s);
      off[0] += r * st[0][d];
      off[1] += r * st[1][d];
      off[2] += r * st[2][d];
      if (d == dim) at_dim = r;
      lin = q;
    }
    return at_dim;
  }
};

// Walks `shape_of`'s shape; operand k uses the strides of ops[k] (a null operand: stride 0).
IndexWalk walk(const View& shape_of, int dim, const View* a, const View* b, const View* c) {
  IndexWalk w;
  w.ndim = shape_of.ndim;
  w.dim = dim;
  const View* ops[3] = {a, b, c};
  for (int d = 0; d < shape_of.ndim; d++) {
    w.shape[d] = shape_of.shape[d];
    for (int k = 0; k < 3; k++) w.st[k][d] = ops[k] ? ops[k]->strides[d] : 0;
  }
  return w;
}

// Throws the CPU's IndexError when some index value is outside [0, bound).
void check_indices(const View& index, int64_t bound, const char* op) {
  const BadIndex bad = first_bad_index(index, 0, bound, kNoExtraIndex, op);
  if (bad.position >= 0) index_out_of_range(op, bad.value, bound);
}

// ---- gather / indexSelect: one thread per output element -----------------------------------
// gather: walk over out: operands {out, index, x}; x offset moves along dim to the index value.
// indexSelect: walk over out: operands {out, x, -}; the index is 1-D with stride ist.
template <bool kSelect, class T, class I>
__global__ void __launch_bounds__(kThreads)
    gather_dev(const T* x, const int32_t* ix, T* out, IndexWalk w, I n, int64_t x_dim_stride, int64_t ist) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += stride) {
    int64_t off[3];
    const int64_t at = w.offsets(p, off);
    if constexpr (kSelect) {
      out[off[0]] = x[off[1] + (ix[at * ist] - at) * x_dim_stride];
    } else {
      out[off[0]] = x[off[2] + (ix[off[1]] - at) * x_dim_stride];
    }
  }
}

template <bool kSelect, class T>
void launch_gather(const View& x, const View& index, const View& out, int dim, const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const IndexWalk w = kSelect ? walk(out, dim, &out, &x, nullptr) : walk(out, dim, &out, &index, &x);
  const int64_t xs = x.ndim ? x.strides[dim] : 0, ist = index.ndim ? index.strides[0] : 0;
  const unsigned g = grid_for(n, kThreads);
  if (n <= INT32_MAX)
    gather_dev<kSelect, T, uint32_t><<<g, kThreads, 0, stream()>>>(x.ptr<T>(), index.ptr<int32_t>(), out.ptr<T>(), w,
                                                                   static_cast<uint32_t>(n), xs, ist);
  else
    gather_dev<kSelect, T, int64_t><<<g, kThreads, 0, stream()>>>(x.ptr<T>(), index.ptr<int32_t>(), out.ptr<T>(), w,
                                                                  n, xs, ist);
  check_launch(op);
}

void gather_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  const int dim = check_gather(v, a);
  check_indices(index, index_bound(x, dim), "gather");
  if (x.dtype == DType::Bool) return launch_gather<false, uint8_t>(x, index, out, dim, "gather");
  launch_gather<false, int32_t>(x, index, out, dim, "gather");  // moves 4-byte values bit for bit
}
TF_REGISTER_KERNEL("gather", 2, 1, false, gather_kernel);

void index_select_kernel(std::vector<View>& v, const Attrs& a) {
  const View &x = v[0], &index = v[1], &out = v[2];
  const int dim = check_index_select(v, a);
  check_indices(index, index_bound(x, dim), "indexSelect");
  if (x.dtype == DType::Bool) return launch_gather<true, uint8_t>(x, index, out, dim, "indexSelect");
  launch_gather<true, int32_t>(x, index, out, dim, "indexSelect");
}
TF_REGISTER_KERNEL("indexSelect", 2, 1, false, index_select_kernel);

// ---- scatterAdd / indexAdd: one thread per source element, atomic accumulation --------------
// scatterAdd: walk over index: operands {index, src, out}.
// indexAdd: walk over src: operands {src, out, -}; the index is 1-D with stride ist.
template <bool kIndexAdd, class T, class I>
__global__ void __launch_bounds__(kThreads)
    scatter_add_dev(const int32_t* ix, const T* src, T* out, IndexWalk w, I n, int64_t out_dim_stride, int64_t ist) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += stride) {
    int64_t off[3];
    const int64_t at = w.offsets(p, off);
    if constexpr (kIndexAdd) {
      atomicAdd(out + off[1] + (ix[at * ist] - at) * out_dim_stride, src[off[0]]);
    } else {
      atomicAdd(out + off[2] + (ix[off[0]] - at) * out_dim_stride, src[off[1]]);
    }
  }
}

template <bool kIndexAdd, class T>
void launch_scatter_add(const View& index, const View& src, const View& out, int dim, const char* op) {
  const View& shape_of = kIndexAdd ? src : index;
  const int64_t n = shape_of.numel();
  if (n == 0) return;
  const IndexWalk w = kIndexAdd ? walk(src, dim, &src, &out, nullptr) : walk(index, dim, &index, &src, &out);
  const int64_t os = out.ndim ? out.strides[dim] : 0, ist = index.ndim ? index.strides[0] : 0;
  const unsigned g = grid_for(n, kThreads);
  if (n <= INT32_MAX)
    scatter_add_dev<kIndexAdd, T, uint32_t><<<g, kThreads, 0, stream()>>>(
        index.ptr<int32_t>(), src.ptr<T>(), out.ptr<T>(), w, static_cast<uint32_t>(n), os, ist);
  else
    scatter_add_dev<kIndexAdd, T, int64_t><<<g, kThreads, 0, stream()>>>(index.ptr<int32_t>(), src.ptr<T>(),
                                                                         out.ptr<T>(), w, n, os, ist);
  check_launch(op);
}

// views: index, src, out (accumulated in place)
void scatter_add_kernel(std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  const int dim = check_scatter_add(v, a);
  check_indices(index, index_bound(out, dim), "scatterAdd");
  check_add_dtype(out, "scatterAdd");
  if (out.dtype == DType::Float32) return launch_scatter_add<false, float>(index, src, out, dim, "scatterAdd");
  launch_scatter_add<false, int>(index, src, out, dim, "scatterAdd");
}
TF_REGISTER_KERNEL("scatterAdd", 2, 1, false, scatter_add_kernel);

// views: index, src, out (accumulated in place): out[..., index[j], ...] += src[..., j, ...]
void index_add_kernel(std::vector<View>& v, const Attrs& a) {
  const View &index = v[0], &src = v[1], &out = v[2];
  const int dim = check_index_add(v, a);
  check_indices(index, index_bound(out, dim), "indexAdd");
  check_add_dtype(out, "indexAdd");
  if (out.dtype == DType::Float32) return launch_scatter_add<true, float>(index, src, out, dim, "indexAdd");
  launch_scatter_add<true, int>(index, src, out, dim, "indexAdd");
}
TF_REGISTER_KERNEL("indexAdd", 2, 1, false, index_add_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
