// Random fills. Counter-based: element i of a draw is a pure function of (seed, offset + i), so
// results are identical for any thread count and a CUDA kernel can reproduce them exactly.
#include <cmath>

#include "core/registry.h"
#include "core/threadpool.h"

namespace tf {
namespace {

inline uint64_t mix(uint64_t z) {  // splitmix64 finaliser: a strong 64-bit bijection
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t draw(uint64_t seed, uint64_t counter) { return mix(mix(seed) ^ counter); }

// views: out (contiguous). attrs: dist 'uniform' | 'normal' | 'randint', seed, offset, a, b
// uniform: [a, b); normal: mean a, std b; randint: integers in [a, b)
void random_kernel(std::vector<View>& v, const Attrs& attrs) {
  const View& out = v[0];
  if (!out.contiguous()) throw Error(ErrorKind::Argument, "random: output must be contiguous");
  const std::string& dist = attrs.string("dist");
  const uint64_t seed = static_cast<uint64_t>(attrs.integer("seed"));
  const uint64_t base = static_cast<uint64_t>(attrs.integer("offset"));
  const double a = attrs.number("a"), b = attrs.number("b");
  const double inv24 = 1.0 / 16777216.0;
  if (dist == "randint") {
    expect_dtype(out, DType::Int32, "random", "randint output");
    if (!(b > a) || a < INT32_MIN || b > 2147483648.0)
      throw Error(ErrorKind::Value, "randint: need low < high within int32");
    const uint64_t range = static_cast<uint64_t>(b - a);
    int32_t* o = out.ptr<int32_t>();
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++) o[i] = static_cast<int32_t>(a + static_cast<double>(draw(seed, base + i) % range));
    });
    return;
  }
  expect_float(out, "random", "output");
  float* o = out.ptr<float>();
  if (dist == "uniform") {
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++) o[i] = static_cast<float>(a + (b - a) * ((draw(seed, base + i) >> 40) * inv24));
    });
  } else if (dist == "normal") {
    parallel_for(out.numel(), 65536, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; i++) {  // Box-Muller from one 64-bit draw: 24 bits each
        uint64_t h = draw(seed, base + i);
        double u1 = ((h >> 40) + 1) * inv24, u2 = (h & 0xffffff) * inv24;
        o[i] = static_cast<float>(a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    });
  } else {
    throw Error(ErrorKind::Argument, "random: unknown distribution '" + dist + "'");
  }
}
TF_REGISTER_KERNEL("random", 0, 1, false, random_kernel);

}  // namespace
}  // namespace tf
