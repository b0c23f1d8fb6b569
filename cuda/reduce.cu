// Reductions on CUDA: sum, prod, max, min, argmax, argmin, with the CPU kernel's semantics
// (native/cpu/reduce.cpp). The TS layer permutes the reduced dims to the end, so the kernel sees
// x [kept..., reduced...] and writes one value per kept index into a contiguous output.
//
// Both spaces are coalesced as on the CPU (size-1 dims dropped, contiguous neighbours merged).
// Kernels, by layout:
//  - rows:    the reduced dims form one contiguous run of >= 32 elements: a warp (runs up to
//             1024) or a 256-thread block per run, 16-byte vector loads, tree reduction;
//  - strided: anything else (reduced dims strided, e.g. a sum over the batch; short runs): a
//             thread per output, walking its reduction; neighbouring threads read neighbouring
//             outputs' elements, so the common "inner dim kept" layout is coalesced.
// When there are too few outputs to fill the device (a full reduction), each reduction is split
// into chunks whose partial accumulators go to a scratch array, and a second kernel merges them
// in chunk order. No atomics: the result does not change from run to run.
//
// Numerics as the CPU: float sums and all products accumulate in double, int32 sums in int64
// (the int32 result wraps as the CPU's does). Extremes keep the first position of the winner,
// NaN beats everything and the first NaN wins; the merge compares (value, position), so any
// tree order picks the element the CPU's sequential scan picks.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "common.cuh"
#include "ops/reduce.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;

// A coalesced sub-space of a view's dims, enumerated by flat row-major position.
struct Dims {
  int nd;
  int64_t size;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];

  static Dims of(const View& v, int begin, int end) {
    Dims s;
    s.nd = 0;
    s.size = 1;
    for (int d = begin; d < end; d++) {
      s.size *= v.shape[d];
      if (v.shape[d] == 1) continue;
      if (s.nd > 0 && s.strides[s.nd - 1] == v.strides[d] * v.shape[d]) {
        s.shape[s.nd - 1] *= v.shape[d];
        s.strides[s.nd - 1] = v.strides[d];
        continue;
      }
      s.shape[s.nd] = v.shape[d];
      s.strides[s.nd] = v.strides[d];
      s.nd++;
    }
    if (s.nd == 0) {
      s.shape[0] = 1;
      s.strides[0] = 0;
      s.nd = 1;
    }
    return s;
  }
  __device__ __forceinline__ int64_t offset(int64_t pos) const {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
      const int64_t q = pos / shape[d];
      off += (pos - q * shape[d]) * strides[d];
      pos = q;
    }
    return off;
  }
};

template <class T> struct Vec4;
template <> struct Vec4<float> { using type = float4; };
template <> struct Vec4<int32_t> { using type = int4; };

// ---- the operations: identity, one element, merge of two accumulators, warp shuffle, result ----

template <class T>
struct SumOp {
  using Acc = typename std::conditional<std::is_same<T, float>::value, double, long long>::type;
  using Out = T;
  static __device__ __forceinline__ Acc identity() { return 0; }
  static __device__ __forceinline__ Acc from(T x, int64_t) { return static_cast<Acc>(x); }
  static __device__ __forceinline__ Acc combine(Acc a, Acc b) { return a + b; }
  static __device__ __forceinline__ Acc shfl(Acc a, int o) { return __shfl_xor_sync(kFull, a, o); }
  static __device__ __forceinline__ Out result(Acc a) { return static_cast<Out>(a); }
};

template <class T>
struct ProdOp {
  using Acc = double;
  using Out = T;
  static __device__ __forceinline__ Acc identity() { return 1; }
  static __device__ __forceinline__ Acc from(T x, int64_t) { return static_cast<double>(x); }
  static __device__ __forceinline__ Acc combine(Acc a, Acc b) { return a * b; }
  static __device__ __forceinline__ Acc shfl(Acc a, int o) { return __shfl_xor_sync(kFull, a, o); }
  static __device__ __forceinline__ Out result(Acc a) {
    if constexpr (std::is_integral<T>::value) return static_cast<Out>(static_cast<long long>(a));
    else return static_cast<Out>(a);
  }
};

template <class T>
struct ExtAcc {  // no initialisers: it lives in __shared__ arrays
  T v;
  long long at;  // flat position in the reduced space; -1: nothing seen yet
};

template <class T, bool Max, bool Arg>
struct ExtremeOp {
  using Acc = ExtAcc<T>;
  using Out = typename std::conditional<Arg, int32_t, T>::type;
  static __device__ __forceinline__ Acc identity() { return Acc{T(0), -1}; }
  static __device__ __forceinline__ Acc from(T x, int64_t pos) { return Acc{x, pos}; }
  // A total order on (value, position): NaN first (the earliest NaN), then the extreme value,
  // ties to the earlier position. Associative and commutative, so the tree shape does not matter.
  static __device__ __forceinline__ Acc combine(Acc a, Acc b) {
    if (b.at < 0) return a;
    if (a.at < 0) return b;
    const bool an = a.v != a.v, bn = b.v != b.v;
    bool take_b;
    if (an || bn) take_b = (an && bn) ? b.at < a.at : bn;
    else take_b = (Max ? b.v > a.v : b.v < a.v) || (b.v == a.v && b.at < a.at);
    return take_b ? b : a;
  }
  static __device__ __forceinline__ Acc shfl(Acc a, int o) {
    return Acc{__shfl_xor_sync(kFull, a.v, o), __shfl_xor_sync(kFull, a.at, o)};
  }
  static __device__ __forceinline__ Out result(Acc a) {
    if constexpr (Arg) return static_cast<int32_t>(a.at);
    else return a.v;
  }
};

template <class Op>
__device__ __forceinline__ typename Op::Acc warp_reduce(typename Op::Acc a) {
  for (int o = kWarp / 2; o > 0; o >>= 1) a = Op::combine(a, Op::shfl(a, o));
  return a;
}

// The block's merged accumulator, valid in thread 0. Every thread of the block must call it.
template <class Op>
__device__ __forceinline__ typename Op::Acc block_reduce(typename Op::Acc a, typename Op::Acc* smem) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  a = warp_reduce<Op>(a);
  __syncthreads();  // the previous call's readers are done with smem
  if (lane == 0) smem[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = lane < warps ? smem[lane] : Op::identity();
    a = warp_reduce<Op>(a);
  }
  return a;
}

template <class Op, class V>
__device__ __forceinline__ typename Op::Acc add4(typename Op::Acc a, V v, int64_t pos) {
  a = Op::combine(a, Op::from(v.x, pos));
  a = Op::combine(a, Op::from(v.y, pos + 1));
  a = Op::combine(a, Op::from(v.z, pos + 2));
  return Op::combine(a, Op::from(v.w, pos + 3));
}

// Thread t of a group of G threads reduces its share of the contiguous run p[0, len), whose first
// element has reduced-space position pos0: a scalar head up to a 16-byte boundary, 16-byte loads
// (four in flight per thread), a scalar tail.
template <class Op, class T>
__device__ __forceinline__ typename Op::Acc reduce_run(const T* __restrict__ p, int64_t len, int64_t pos0, int t,
                                                        int G) {
  using V = typename Vec4<T>::type;
  typename Op::Acc a = Op::identity();
  const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(p) / sizeof(T)) & 3);
  int64_t head = mis ? 4 - mis : 0;
  if (head > len) head = len;
  if (t < head) a = Op::combine(a, Op::from(p[t], pos0 + t));
  const int64_t n4 = (len - head) >> 2, pb = pos0 + head;
  const V* q = reinterpret_cast<const V*>(p + head);
  int64_t i = t;
  for (; i + 3 * G < n4; i += 4 * G) {
    const V v0 = __ldg(q + i), v1 = __ldg(q + i + G), v2 = __ldg(q + i + 2 * G), v3 = __ldg(q + i + 3 * G);
    a = add4<Op>(a, v0, pb + 4 * i);
    a = add4<Op>(a, v1, pb + 4 * (i + G));
    a = add4<Op>(a, v2, pb + 4 * (i + 2 * G));
    a = add4<Op>(a, v3, pb + 4 * (i + 3 * G));
  }
  for (; i < n4; i += G) a = add4<Op>(a, __ldg(q + i), pb + 4 * i);
  for (int64_t j = head + 4 * n4 + t; j < len; j += G) a = Op::combine(a, Op::from(p[j], pos0 + j));
  return a;
}

// Work item w = chunk c of output o (w = c * n_out + o); chunk c covers reduced positions
// [c * per, min(n_red, (c + 1) * per)). With one chunk the result goes to out[o], else the
// accumulator goes to partial[w].
template <class Op>
__device__ __forceinline__ void store(int64_t w, const typename Op::Acc& a, int64_t splits, typename Op::Out* out,
                                      typename Op::Acc* partial) {
  if (splits == 1) out[w] = Op::result(a);
  else partial[w] = a;
}

// The reduced dims are one contiguous run of n_red elements.
template <class Op, class T, bool WarpPerItem>
__global__ void __launch_bounds__(kThreads) reduce_rows_kernel(const T* __restrict__ x, Dims outer, int64_t n_red,
                                                               int64_t per, int64_t n_out, int64_t splits,
                                                               typename Op::Out* __restrict__ out,
                                                               typename Op::Acc* __restrict__ partial) {
  __shared__ typename Op::Acc smem[kThreads / kWarp];
  const int64_t items = n_out * splits;
  if constexpr (WarpPerItem) {
    const int lane = threadIdx.x % kWarp;
    const int64_t wpb = blockDim.x / kWarp;
    for (int64_t w = blockIdx.x * wpb + threadIdx.x / kWarp; w < items; w += static_cast<int64_t>(gridDim.x) * wpb) {
      const int64_t o = w % n_out, b = (w / n_out) * per, e = min(n_red, b + per);
      typename Op::Acc a = reduce_run<Op, T>(x + outer.offset(o) + b, e - b, b, lane, kWarp);
      a = warp_reduce<Op>(a);
      if (lane == 0) store<Op>(w, a, splits, out, partial);
    }
  } else {
    for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {  // uniform across the block
      const int64_t o = w % n_out, b = (w / n_out) * per, e = min(n_red, b + per);
      typename Op::Acc a = reduce_run<Op, T>(x + outer.offset(o) + b, e - b, b, threadIdx.x, blockDim.x);
      a = block_reduce<Op>(a, smem);
      if (threadIdx.x == 0) store<Op>(w, a, splits, out, partial);
    }
  }
}

// Any layout: a thread per work item walks its chunk of the reduced space in runs along the
// innermost reduced dim.
template <class Op, class T>
__global__ void __launch_bounds__(kThreads) reduce_strided_kernel(const T* __restrict__ x, Dims outer, Dims red,
                                                                  int64_t per, int64_t n_out, int64_t splits,
                                                                  typename Op::Out* __restrict__ out,
                                                                  typename Op::Acc* __restrict__ partial) {
  const int64_t items = n_out * splits;
  const int64_t in = red.shape[red.nd - 1], st = red.strides[red.nd - 1];
  for (int64_t w = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; w < items;
       w += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = w % n_out, b = (w / n_out) * per, e = min(red.size, b + per);
    const T* base = x + outer.offset(o);
    typename Op::Acc a = Op::identity();
    for (int64_t pos = b; pos < e;) {
      const int64_t n = min(in - pos % in, e - pos);
      const T* p = base + red.offset(pos);
#pragma unroll 4
      for (int64_t k = 0; k < n; k++) a = Op::combine(a, Op::from(__ldg(p + k * st), pos + k));
      pos += n;
    }
    store<Op>(w, a, splits, out, partial);
  }
}

// Merges each output's chunk accumulators: a warp per output, lanes striding over the chunks,
// then the warp's tree; a fixed order, so a fixed result.
template <class Op>
__global__ void __launch_bounds__(kThreads) reduce_finish_kernel(const typename Op::Acc* __restrict__ partial,
                                                                 int64_t n_out, int64_t splits,
                                                                 typename Op::Out* __restrict__ out) {
  const int lane = threadIdx.x % kWarp;
  const int64_t wpb = blockDim.x / kWarp;
  for (int64_t o = blockIdx.x * wpb + threadIdx.x / kWarp; o < n_out; o += static_cast<int64_t>(gridDim.x) * wpb) {
    typename Op::Acc a = Op::identity();
    for (int64_t c = lane; c < splits; c += kWarp) a = Op::combine(a, partial[c * n_out + o]);
    a = warp_reduce<Op>(a);
    if (lane == 0) out[o] = Op::result(a);
  }
}

template <class Op, class T>
void reduce_typed(const View& x, const View& out, int kept) {
  using Acc = typename Op::Acc;
  const Dims outer = Dims::of(x, 0, kept), red = Dims::of(x, kept, x.ndim);
  const int64_t n_out = outer.size, n_red = red.size;
  if (n_out == 0) return;
  const T* src = x.ptr<T>();
  auto* dst = out.ptr<typename Op::Out>();
  const int64_t sms = device_props().multiProcessorCount;
  const bool rows = n_red >= kWarp && red.nd == 1 && red.strides[0] == 1;

  // Split reductions when there are fewer items than the device holds at once, keeping each
  // chunk long enough (8192 elements for rows, 256 for a single thread) to amortise its merge.
  int64_t splits = 1;
  const int64_t target = rows ? sms * 8 : sms * 2048, min_chunk = rows ? 8192 : 256;
  if (n_out < target && n_red >= 2 * min_chunk)
    splits = std::min<int64_t>({ceil_div(target, n_out), ceil_div(n_red, min_chunk), 2048});
  int64_t per = n_red;
  if (splits > 1) {
    per = ceil_div(ceil_div(n_red, splits), 4) * 4;  // multiples of 4 keep chunks 16-byte aligned alike
    splits = ceil_div(n_red, per);                    // no empty chunk
  }
  const int64_t items = n_out * splits;
  std::unique_ptr<Scratch> partial;
  if (splits > 1) partial.reset(new Scratch(static_cast<size_t>(items) * sizeof(Acc)));
  Acc* part = splits > 1 ? partial->as<Acc>() : nullptr;

  if (rows && per <= 1024) {
    const int64_t blocks = std::min<int64_t>(ceil_div(items, kThreads / kWarp), sms * 32);
    reduce_rows_kernel<Op, T, true><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        src, outer, n_red, per, n_out, splits, dst, part);
  } else if (rows) {
    const int64_t blocks = std::min<int64_t>(items, sms * 32);
    reduce_rows_kernel<Op, T, false><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        src, outer, n_red, per, n_out, splits, dst, part);
  } else {
    reduce_strided_kernel<Op, T><<<grid_for(items, kThreads), kThreads, 0, stream()>>>(src, outer, red, per, n_out,
                                                                                      splits, dst, part);
  }
  check_launch("reduce");
  if (splits > 1) {
    const int64_t blocks = std::min<int64_t>(ceil_div(n_out, kThreads / kWarp), sms * 32);
    reduce_finish_kernel<Op><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(part, n_out, splits, dst);
    check_launch("reduce");
  }
}

template <class T>
void reduce_dispatch(ReduceOp op, const View& x, const View& out, int kept) {
  switch (op) {
    case ReduceOp::Sum: return reduce_typed<SumOp<T>, T>(x, out, kept);
    case ReduceOp::Prod: return reduce_typed<ProdOp<T>, T>(x, out, kept);
    case ReduceOp::Max: return reduce_typed<ExtremeOp<T, true, false>, T>(x, out, kept);
    case ReduceOp::Min: return reduce_typed<ExtremeOp<T, false, false>, T>(x, out, kept);
    case ReduceOp::ArgMax: return reduce_typed<ExtremeOp<T, true, true>, T>(x, out, kept);
    case ReduceOp::ArgMin: return reduce_typed<ExtremeOp<T, false, true>, T>(x, out, kept);
  }
}

void reduce_cuda(std::vector<View>& v, const Attrs& a) {
  const ReduceArgs r = check_reduce(v, a);
  if (v[0].dtype == DType::Float32) return reduce_dispatch<float>(r.op, v[0], v[1], r.kept);
  return reduce_dispatch<int32_t>(r.op, v[0], v[1], r.kept);
}
TF_REGISTER_KERNEL("reduce", 1, 1, false, reduce_cuda);

}  // namespace
}  // namespace cuda
}  // namespace tf
