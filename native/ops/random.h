// The random family: argument validation and the counter-based generator, written once for the
// CPU kernel (native/cpu/random.cpp) and the CUDA kernel (cuda/random.cu). Element i of a draw is
// a pure function of (seed, offset + i), so every thread count and every device gives the same
// values: uniform and randint bit for bit; normal up to the last bit of the double log/cos, which
// libm and CUDA compute to within an ulp or two (so the float results agree except, rarely, by one
// float ulp).
#pragma once
#include <cstdint>
#include <vector>

#include "core/registry.h"
#include "ops/hd.h"

namespace tf {
namespace rng {

TF_HD uint64_t mix(uint64_t z) {  // splitmix64 finaliser: a strong 64-bit bijection
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// mix(seed) is hoisted by callers: draw(seed, c) = mix(mix(seed) ^ c).
TF_HD uint64_t draw_mixed(uint64_t mixed_seed, uint64_t counter) { return mix(mixed_seed ^ counter); }

constexpr double kInv24 = 1.0 / 16777216.0;

}  // namespace rng

enum class Distribution { Uniform, Normal, Randint };

// uniform: [a, b); normal: mean a, std b; randint: integers in [a, b) (range = b − a)
struct RandomArgs {
  Distribution dist;
  uint64_t seed;  // already mixed: rng::mix(attrs.seed)
  uint64_t base;  // the counter of element 0
  double a, b;
  uint64_t range;  // randint only
};
// views: out (contiguous). attrs: dist 'uniform' | 'normal' | 'randint', seed, offset, a, b
RandomArgs check_random(const std::vector<View>& v, const Attrs& attrs);

}  // namespace tf
