// CUDA kernels of the elementwise family: unary, binary, where, copy (with dtype casts), fill.
// Same op names, views, attrs, dtypes and errors as native/cpu/elementwise.cpp (the checks are
// shared: native/ops/elementwise.h). Results: add/sub/mul/div, comparisons, min/max, sign, abs,
// floor/ceil/round, sqrt, square, casts and where are bit-identical to the CPU (IEEE operations);
// exp, log, sin, cos, tanh, sigmoid and pow use CUDA's libdevice functions (<= 2 ulp), so they
// agree with the CPU's libm to a few ulp.
#include <climits>
#include <cstdint>

#include "common.cuh"
#include "elementwise.cuh"
#include "ops/elementwise.h"

namespace tf {
namespace cuda {
namespace {

using ew::In;

// ---- unary -----------------------------------------------------------------------------------
template <UnaryOp OP>
struct UnaryF32 {
  __device__ __forceinline__ float operator()(float x) const {
    if constexpr (OP == UnaryOp::neg) return -x;
    else if constexpr (OP == UnaryOp::abs) return fabsf(x);
    else if constexpr (OP == UnaryOp::sign) return static_cast<float>((x > 0) - (x < 0));
    else if constexpr (OP == UnaryOp::exp) return expf(x);
    else if constexpr (OP == UnaryOp::log) return logf(x);
    else if constexpr (OP == UnaryOp::sqrt) return sqrtf(x);
    else if constexpr (OP == UnaryOp::rsqrt) return 1.0f / sqrtf(x);  // rsqrtf is not correctly rounded
    else if constexpr (OP == UnaryOp::sin) return sinf(x);
    else if constexpr (OP == UnaryOp::cos) return cosf(x);
    else if constexpr (OP == UnaryOp::tanh) return tanhf(x);
    else if constexpr (OP == UnaryOp::sigmoid) return 1.0f / (1.0f + expf(-x));
    else if constexpr (OP == UnaryOp::relu) return x > 0 ? x : (x == x ? 0.0f : x);
    else if constexpr (OP == UnaryOp::floor) return floorf(x);
    else if constexpr (OP == UnaryOp::ceil) return ceilf(x);
    else if constexpr (OP == UnaryOp::round) return rintf(x);  // half to even, as nearbyint
    else if constexpr (OP == UnaryOp::reciprocal) return 1.0f / x;
    else return x * x;  // square
  }
};

// Two's-complement wrap-around for neg/abs/square of INT32_MIN and overflowing squares, as the CPU.
template <UnaryOp OP>
struct UnaryI32 {
  __device__ __forceinline__ int32_t operator()(int32_t x) const {
    if constexpr (OP == UnaryOp::neg) return static_cast<int32_t>(0u - static_cast<uint32_t>(x));
    else if constexpr (OP == UnaryOp::abs) return x < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(x)) : x;
    else if constexpr (OP == UnaryOp::sign) return (x > 0) - (x < 0);
    else if constexpr (OP == UnaryOp::relu) return x > 0 ? x : 0;
    else if constexpr (OP == UnaryOp::square)
      return static_cast<int32_t>(static_cast<uint32_t>(x) * static_cast<uint32_t>(x));
    else return x;  // floor, ceil, round
  }
};

template <UnaryOp OP>
void unary_f32(const View& x, const View& out) {
  ew::launch<float>("unary", UnaryF32<OP>{}, out, In<float>{x});
}
template <UnaryOp OP>
void unary_i32(const View& x, const View& out) {
  ew::launch<int32_t>("unary", UnaryI32<OP>{}, out, In<int32_t>{x});
}

void unary_kernel(std::vector<View>& v, const Attrs& a) {
  const UnaryArgs args = check_unary(v, a);
  const View &x = v[0], &out = v[1];
  if (args.dtype == DType::Float32) {
    switch (args.op) {
#define X(n) \
  case UnaryOp::n: return unary_f32<UnaryOp::n>(x, out);
      TF_UNARY_OP_NAMES(X)
#undef X
    }
  }
  switch (args.op) {  // int32: check_unary let through only the ops with an integer form
    case UnaryOp::neg: return unary_i32<UnaryOp::neg>(x, out);
    case UnaryOp::abs: return unary_i32<UnaryOp::abs>(x, out);
    case UnaryOp::sign: return unary_i32<UnaryOp::sign>(x, out);
    case UnaryOp::relu: return unary_i32<UnaryOp::relu>(x, out);
    case UnaryOp::square: return unary_i32<UnaryOp::square>(x, out);
    default: return unary_i32<UnaryOp::floor>(x, out);  // floor, ceil, round: identities
  }
}
TF_REGISTER_KERNEL("unary", 1, 1, true, unary_kernel);

// ---- binary ----------------------------------------------------------------------------------
// Integer add/sub/mul wrap around (unsigned arithmetic: defined, and what the CPU's loops do).
template <BinaryOp OP, class T>
struct Arith {
  __device__ __forceinline__ T operator()(T a, T b) const {
    if constexpr (OP == BinaryOp::maximum) return (a != a || a > b) ? a : b;
    else if constexpr (OP == BinaryOp::minimum) return (a != a || a < b) ? a : b;
    else if constexpr (std::is_same<T, float>::value) {
      if constexpr (OP == BinaryOp::add) return a + b;
      else if constexpr (OP == BinaryOp::sub) return a - b;
      else if constexpr (OP == BinaryOp::mul) return a * b;
      else if constexpr (OP == BinaryOp::div) return a / b;
      else return powf(a, b);
    } else {
      const uint32_t ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
      if constexpr (OP == BinaryOp::add) return static_cast<T>(ua + ub);
      else if constexpr (OP == BinaryOp::sub) return static_cast<T>(ua - ub);
      else return static_cast<T>(ua * ub);  // mul
    }
  }
};

template <BinaryOp OP, class T>
struct Compare {
  __device__ __forceinline__ uint8_t operator()(T a, T b) const {
    if constexpr (OP == BinaryOp::eq) return a == b;
    else if constexpr (OP == BinaryOp::ne) return a != b;
    else if constexpr (OP == BinaryOp::lt) return a < b;
    else if constexpr (OP == BinaryOp::le) return a <= b;
    else if constexpr (OP == BinaryOp::gt) return a > b;
    else return a >= b;
  }
};

template <BinaryOp OP, class T>
void arith(const std::vector<View>& v) {
  ew::launch<T>("binary", Arith<OP, T>{}, v[2], In<T>{v[0]}, In<T>{v[1]});
}
template <BinaryOp OP, class T>
void compare(const std::vector<View>& v) {
  ew::launch<uint8_t>("binary", Compare<OP, T>{}, v[2], In<T>{v[0]}, In<T>{v[1]});
}

template <class T>
void compare_typed(const std::vector<View>& v, BinaryOp op) {
  switch (op) {
    case BinaryOp::eq: return compare<BinaryOp::eq, T>(v);
    case BinaryOp::ne: return compare<BinaryOp::ne, T>(v);
    case BinaryOp::lt: return compare<BinaryOp::lt, T>(v);
    case BinaryOp::le: return compare<BinaryOp::le, T>(v);
    case BinaryOp::gt: return compare<BinaryOp::gt, T>(v);
    default: return compare<BinaryOp::ge, T>(v);
  }
}

void binary_kernel(std::vector<View>& v, const Attrs& attrs) {
  const BinaryArgs args = check_binary(v, attrs);
  const BinaryOp op = args.op;
  if (args.compare) {
    if (args.dtype == DType::Float32) return compare_typed<float>(v, op);
    if (args.dtype == DType::Int32) return compare_typed<int32_t>(v, op);
    return compare_typed<uint8_t>(v, op);
  }
  if (args.dtype == DType::Float32) {
    switch (op) {
      case BinaryOp::add: return arith<BinaryOp::add, float>(v);
      case BinaryOp::sub: return arith<BinaryOp::sub, float>(v);
      case BinaryOp::mul: return arith<BinaryOp::mul, float>(v);
      case BinaryOp::div: return arith<BinaryOp::div, float>(v);
      case BinaryOp::maximum: return arith<BinaryOp::maximum, float>(v);
      case BinaryOp::minimum: return arith<BinaryOp::minimum, float>(v);
      default: return arith<BinaryOp::pow, float>(v);
    }
  }
  if (args.dtype == DType::Int32) {
    switch (op) {  // check_binary rejects int32 div and pow
      case BinaryOp::add: return arith<BinaryOp::add, int32_t>(v);
      case BinaryOp::sub: return arith<BinaryOp::sub, int32_t>(v);
      case BinaryOp::mul: return arith<BinaryOp::mul, int32_t>(v);
      case BinaryOp::maximum: return arith<BinaryOp::maximum, int32_t>(v);
      default: return arith<BinaryOp::minimum, int32_t>(v);
    }
  }
  if (op == BinaryOp::maximum) return arith<BinaryOp::maximum, uint8_t>(v);  // bool: only max/min pass
  arith<BinaryOp::minimum, uint8_t>(v);
}
TF_REGISTER_KERNEL("binary", 2, 1, true, binary_kernel);

// ---- where -----------------------------------------------------------------------------------
template <class T>
struct Select {
  __device__ __forceinline__ T operator()(uint8_t c, T a, T b) const { return c ? a : b; }
};

void where_kernel(std::vector<View>& v, const Attrs&) {
  if (check_where(v) == DType::Bool)
    return ew::launch<uint8_t>("where", Select<uint8_t>{}, v[3], In<uint8_t>{v[0]}, In<uint8_t>{v[1]},
                               In<uint8_t>{v[2]});
  // float32 and int32 are both 4-byte values: moving bits is exact
  ew::launch<int32_t>("where", Select<int32_t>{}, v[3], In<uint8_t>{v[0]}, In<int32_t>{v[1]}, In<int32_t>{v[2]});
}
TF_REGISTER_KERNEL("where", 3, 1, true, where_kernel);

// ---- copy / cast -----------------------------------------------------------------------------
// float -> int truncates toward zero like torch; out-of-range and NaN become INT32_MIN (as the
// CPU). Anything -> bool tests for non-zero (NaN is non-zero). int -> float rounds to nearest.
template <class S, class D>
struct Convert {
  __device__ __forceinline__ D operator()(S x) const {
    if constexpr (std::is_same<D, uint8_t>::value) return x != 0;
    else if constexpr (std::is_same<S, float>::value && std::is_same<D, int32_t>::value)
      return (x > -2147483649.0f && x < 2147483648.0f) ? static_cast<int32_t>(x) : INT32_MIN;
    else return static_cast<D>(x);
  }
};

constexpr int kTile = 32, kTileRows = 8;

// A transposing copy (the source contiguous along the destination's second-to-last dim, the
// destination contiguous along its last): 32x32 tiles through shared memory so that both the
// reads and the writes are coalesced. `outer` maps a tile's batch index to {dst, src} offsets.
template <class S, class D>
__global__ void __launch_bounds__(kTile * kTileRows)
    transpose_kernel(const S* s, D* d, int64_t R, int64_t C, int64_t d_r, int64_t s_c, int64_t tiles_r,
                     int64_t tiles_c, int64_t ntiles, ew::Walk<2> outer) {
  __shared__ S tile[kTile][kTile + 1];  // [column][row]; +1: the column-wise reads hit distinct banks
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t t = blockIdx.x; t < ntiles; t += gridDim.x) {  // uniform per block: __syncthreads is safe
    const int64_t per = tiles_r * tiles_c, o = t / per, rem = t - o * per;
    const int64_t r0 = (rem / tiles_c) * kTile, c0 = (rem % tiles_c) * kTile;
    int64_t off[2];
    outer.offsets(o, off);
    for (int j = ty; j < kTile; j += kTileRows) {
      const int64_t r = r0 + tx, c = c0 + j;
      if (r < R && c < C) tile[j][tx] = s[off[1] + r + c * s_c];
    }
    __syncthreads();
    for (int j = ty; j < kTile; j += kTileRows) {
      const int64_t r = r0 + j, c = c0 + tx;
      if (r < R && c < C) d[off[0] + r * d_r + c] = Convert<S, D>{}(tile[tx][j]);
    }
    __syncthreads();  // the next tile overwrites `tile`
  }
}

template <class S, class D>
bool copy_transposed(const View& src, const View& dst) {
  const View* views[2] = {&dst, &src};
  const StridedLoop<2> L(views);
  const int nd = L.ndim;
  if (nd < 2) return false;
  const int64_t R = L.shape[nd - 2], C = L.shape[nd - 1];
  const int64_t d_r = L.st[0][nd - 2], d_c = L.st[0][nd - 1], s_r = L.st[1][nd - 2], s_c = L.st[1][nd - 1];
  if (!(d_c == 1 && s_r == 1 && s_c != 1)) return false;
  ew::Walk<2> outer;  // the batch dims; ndim 1 of size 1 when there are none
  outer.ndim = 1;
  outer.shape[0] = 1;
  int64_t batch = 1;
  if (nd > 2) {
    outer.ndim = nd - 2;
    for (int k = 0; k < nd - 2; k++) {
      outer.shape[k] = L.shape[k];
      outer.st[0][k] = L.st[0][k];
      outer.st[1][k] = L.st[1][k];
      batch *= L.shape[k];
    }
  }
  const int64_t tiles_r = ceil_div(R, kTile), tiles_c = ceil_div(C, kTile), ntiles = batch * tiles_r * tiles_c;
  const unsigned blocks = grid_for(ntiles, 1) ;
  transpose_kernel<S, D><<<blocks, dim3(kTile, kTileRows), 0, stream()>>>(
      src.ptr<S>(), dst.ptr<D>(), R, C, d_r, s_c, tiles_r, tiles_c, ntiles, outer);
  check_launch("copy");
  return true;
}

template <class S, class D>
void copy_typed(const View& src, const View& dst) {
  if (dst.numel() == 0) return;
  if (copy_transposed<S, D>(src, dst)) return;
  ew::launch<D>("copy", Convert<S, D>{}, dst, In<S>{src});
}

template <class S>
void copy_from(const View& src, const View& dst) {
  switch (dst.dtype) {
    case DType::Float32: return copy_typed<S, float>(src, dst);
    case DType::Int32: return copy_typed<S, int32_t>(src, dst);
    case DType::Bool: return copy_typed<S, uint8_t>(src, dst);
  }
}

void copy_kernel(std::vector<View>& v, const Attrs&) {
  check_copy(v);
  switch (v[0].dtype) {
    case DType::Float32: return copy_from<float>(v[0], v[1]);
    case DType::Int32: return copy_from<int32_t>(v[0], v[1]);
    case DType::Bool: return copy_from<uint8_t>(v[0], v[1]);
  }
}
TF_REGISTER_KERNEL("copy", 1, 1, true, copy_kernel);

// ---- fill ------------------------------------------------------------------------------------
template <class T>
struct Constant {
  T value;
  __device__ __forceinline__ T operator()() const { return value; }
};

void fill_kernel(std::vector<View>& v, const Attrs& a) {
  const FillArgs f = check_fill(v, a);
  switch (v[0].dtype) {
    case DType::Float32: return ew::launch<float>("fill", Constant<float>{f.f}, v[0]);
    case DType::Int32: return ew::launch<int32_t>("fill", Constant<int32_t>{f.i}, v[0]);
    case DType::Bool: return ew::launch<uint8_t>("fill", Constant<uint8_t>{f.b}, v[0]);
  }
}
TF_REGISTER_KERNEL("fill", 0, 1, false, fill_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
