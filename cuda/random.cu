// CUDA kernel of the random family, the CPU's counter-based generator (native/ops/random.h):
// element i is a function of (seed, offset + i) only. uniform and randint are bit-identical to
// the CPU: the double arithmetic is written with explicitly rounded operations (__dadd_rn,
// __dmul_rn), which nvcc never fuses into FMAs, in the CPU expression's order. normal uses
// CUDA's double log and cos (<= 1 and 2 ulp in double, against glibc's < 1 ulp): the float
// results equal the CPU's except where the double lands within a few double ulps of a float
// rounding boundary, i.e. about one element in 10^8, and then by one float ulp.
#include "common.cuh"
#include "ops/random.h"

namespace tf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    random_kernel_dev(RandomArgs r, int64_t n, float* of, int32_t* oi) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t h = rng::draw_mixed(r.seed, r.base + static_cast<uint64_t>(i));
    if (r.dist == Distribution::Randint) {
      oi[i] = static_cast<int32_t>(__dadd_rn(r.a, static_cast<double>(h % r.range)));  // exact integers
    } else if (r.dist == Distribution::Uniform) {
      const double u = static_cast<double>(h >> 40) * rng::kInv24;  // exact: 24 bits times 2^-24
      of[i] = __double2float_rn(__dadd_rn(r.a, __dmul_rn(__dsub_rn(r.b, r.a), u)));
    } else {  // Box-Muller from one 64-bit draw: 24 bits each
      const double u1 = static_cast<double>((h >> 40) + 1) * rng::kInv24;
      const double u2 = static_cast<double>(h & 0xffffff) * rng::kInv24;
      const double rad = sqrt(__dmul_rn(-2.0, log(u1)));
      const double c = cos(__dmul_rn(6.283185307179586, u2));
      of[i] = __double2float_rn(__dadd_rn(r.a, __dmul_rn(__dmul_rn(r.b, rad), c)));
    }
  }
}

// views: out (contiguous). attrs: dist 'uniform' | 'normal' | 'randint', seed, offset, a, b
void random_kernel(std::vector<View>& v, const Attrs& attrs) {
  const RandomArgs r = check_random(v, attrs);
  const View& out = v[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  float* of = r.dist == Distribution::Randint ? nullptr : out.ptr<float>();
  int32_t* oi = r.dist == Distribution::Randint ? out.ptr<int32_t>() : nullptr;
  random_kernel_dev<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(r, n, of, oi);
  check_launch("random");
}
TF_REGISTER_KERNEL("random", 0, 1, false, random_kernel);

}  // namespace
}  // namespace cuda
}  // namespace tf
