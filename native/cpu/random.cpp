// Random fills. Counter-based: element i of a draw is a pure function of (seed, offset + i), so
// results are identical for any thread count and the CUDA kernel reproduces them (the generator
// and the checks are in native/ops/random.h).
#include <cmath>

#include "core/registry.h"
#include "core/threadpool.h"
#include "ops/random.h"

namespace tf {
namespace {

// views: out (contiguous). attrs: dist 'uniform' | 'normal' | 'randint', seed, offset, a, b
void random_kernel(std::vector<View>& v, const Attrs& attrs) {
  const RandomArgs r = check_random(v, attrs);
  const View& out = v[0];
  const uint64_t seed = r.seed, base = r.base;
  const double a = r.a, b = r.b, inv24 = rng::kInv24;
  if (r.dist == Distribution::Randint) {
    const uint64_t range = r.range;
    int32_t* o = out.ptr<int32_t>();
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++)
        o[i] = static_cast<int32_t>(a + static_cast<double>(rng::draw_mixed(seed, base + i) % range));
    });
    return;
  }
  float* o = out.ptr<float>();
  if (r.dist == Distribution::Uniform) {
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++)
        o[i] = static_cast<float>(a + (b - a) * ((rng::draw_mixed(seed, base + i) >> 40) * inv24));
    });
  } else {
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++) {  // Box-Muller from one 64-bit draw: 24 bits each
        uint64_t h = rng::draw_mixed(seed, base + i);
        double u1 = ((h >> 40) + 1) * inv24, u2 = (h & 0xffffff) * inv24;
        o[i] = static_cast<float>(a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    });
  }
}
TF_REGISTER_KERNEL("random", 0, 1, false, random_kernel);

}  // namespace
}  // namespace tf
