// The engine of the elementwise-shaped CUDA kernels (elementwise.cu, activation.cu): one output
// and any number of same-shaped inputs (broadcast inputs carry stride 0), one functor applied
// per element. Dimensions are coalesced on the host first (StridedLoop, as the CPU kernels do),
// then one of three kernels runs:
//   - contiguous, 16-byte aligned: each thread moves 4 elements per step with vector loads and
//     stores (float4 for 4-byte types); broadcast scalars are read once; the n % 4 tail goes
//     element by element;
//   - contiguous but misaligned (views sliced at an odd offset): the same, one element at a time;
//   - anything else: each thread maps its linear position to per-operand offsets, in 32-bit
//     arithmetic when the element count allows (64-bit division is several times slower).
// Include from .cu files only.
#pragma once
#include <cstdint>
#include <utility>

#include "common.cuh"
#include "core/strided.h"

namespace tf {
namespace cuda {
namespace ew {

constexpr int kThreads = 256;

// Per-operand element offsets of a row-major linear position over a (coalesced) shape.
template <int N>
struct Walk {
  int ndim = 1;
  int64_t shape[kMaxDims] = {};
  int64_t st[N][kMaxDims] = {};

  template <class I>
  __device__ __forceinline__ void offsets(I lin, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = ndim - 1; d > 0; d--) {
      const I s = static_cast<I>(shape[d]);
      const I q = lin / s;
      const int64_t r = static_cast<int64_t>(lin - q * s);
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += r * st[k][d];
      lin = q;
    }
#pragma unroll
    for (int k = 0; k < N; k++) off[k] += static_cast<int64_t>(lin) * st[k][0];
  }
};

template <int N>
Walk<N> walk_of(const StridedLoop<N>& L) {
  Walk<N> w;
  w.ndim = L.ndim;
  for (int d = 0; d < L.ndim; d++) {
    w.shape[d] = L.shape[d];
    for (int k = 0; k < N; k++) w.st[k][d] = L.st[k][d];
  }
  return w;
}

// Four elements moved as one aligned access (16 bytes for 4-byte types, 4 for bool).
template <class T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

template <class T>
__device__ __forceinline__ Pack4<T> load4(const T* p, bool scalar, int64_t i) {
  if (scalar) {
    const T x = p[0];
    return Pack4<T>{{x, x, x, x}};
  }
  return reinterpret_cast<const Pack4<T>*>(p)[i];
}

template <class Out, class F, class... In>
__device__ __forceinline__ Pack4<Out> apply4(const F& f, const Pack4<In>&... in) {
  Pack4<Out> r;
#pragma unroll
  for (int j = 0; j < 4; j++) r.v[j] = f(in.v[j]...);
  return r;
}

// Contiguous operands; input k is a broadcast scalar when bit k of `scalar` is set.
// (A __global__ template may have one parameter pack only, so the bodies are device functions.)
template <bool kVec, class F, class Out, size_t... K, class... In>
__device__ __forceinline__ void contiguous_body(const F& f, int64_t n, unsigned scalar, std::index_sequence<K...>,
                                                Out* out, const In*... in) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t start = 0;
  if constexpr (kVec) {
    const int64_t nv = n / 4;
    for (int64_t i = tid; i < nv; i += stride)
      reinterpret_cast<Pack4<Out>*>(out)[i] = apply4<Out>(f, load4(in, (scalar >> K) & 1u, i)...);
    start = nv * 4;
  }
  for (int64_t i = start + tid; i < n; i += stride) out[i] = f(in[((scalar >> K) & 1u) ? 0 : i]...);
}

template <bool kVec, class F, class Out, class... In>
__global__ void __launch_bounds__(kThreads) contiguous_kernel(F f, int64_t n, unsigned scalar, Out* out, const In*... in) {
  contiguous_body<kVec>(f, n, scalar, std::index_sequence_for<In...>{}, out, in...);
}

// Any strides. I is uint32_t when n <= INT32_MAX (so i + stride cannot wrap), else int64_t.
template <class I, class F, class Out, size_t... K, class... In>
__device__ __forceinline__ void strided_body(const F& f, I n, const Walk<1 + sizeof...(In)>& w,
                                             std::index_sequence<K...>, Out* out, const In*... in) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[1 + sizeof...(In)];
    w.offsets(i, off);
    out[off[0]] = f(in[off[K + 1]]...);
  }
}

template <class I, class F, class Out, class... In>
__global__ void __launch_bounds__(kThreads) strided_kernel(F f, I n, Walk<1 + sizeof...(In)> w, Out* out, const In*... in) {
  strided_body(f, n, w, std::index_sequence_for<In...>{}, out, in...);
}

// An input view and the element type the functor reads from it.
template <class T>
struct In {
  const View& v;
  const T* ptr() const { return static_cast<const T*>(v.data); }
};

// out[i] = f(in[i]...) over same-shaped views. `name` is the op, for launch errors.
//   ew::launch<float>("unary", f, out, ew::In<float>{x});
template <class Out, class F, class... T>
void launch(const char* name, const F& f, const View& out, In<T>... in) {
  constexpr int N = 1 + sizeof...(T);
  const int64_t n = out.numel();
  if (n == 0) return;
  const View* views[N] = {&out, &in.v...};
  const StridedLoop<N> L(views);
  Out* o = out.ptr<Out>();
  bool contiguous = L.ndim == 1 && L.st[0][0] == 1;
  bool aligned = reinterpret_cast<uintptr_t>(o) % sizeof(Pack4<Out>) == 0;
  unsigned scalar = 0;
  {
    const void* ptrs[N] = {out.data, in.v.data...};
    const size_t align[N] = {sizeof(Pack4<Out>), sizeof(Pack4<T>)...};
    for (int k = 1; k < N; k++) {
      const int64_t s = L.st[k][0];
      if (s == 0) scalar |= 1u << (k - 1);
      else if (s != 1) contiguous = false;
      else aligned &= reinterpret_cast<uintptr_t>(ptrs[k]) % align[k] == 0;
    }
  }
  if (contiguous) {
    if (aligned && n >= 4) {
      contiguous_kernel<true><<<grid_for(n / 4, kThreads), kThreads, 0, stream()>>>(f, n, scalar, o,
                                                                                    in.ptr()...);
    } else {
      contiguous_kernel<false><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(f, n, scalar, o,
                                                                                 in.ptr()...);
    }
  } else if (n <= INT32_MAX) {
    strided_kernel<uint32_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        f, static_cast<uint32_t>(n), walk_of(L), o, in.ptr()...);
  } else {
    strided_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(f, n, walk_of(L), o,
                                                                              in.ptr()...);
  }
  check_launch(name);
}

}  // namespace ew
}  // namespace cuda
}  // namespace tf
