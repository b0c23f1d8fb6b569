#include "ops/random.h"

#include <climits>
#include <string>

namespace tf {

RandomArgs check_random(const std::vector<View>& v, const Attrs& attrs) {
  const View& out = v[0];
  if (!out.contiguous()) throw Error(ErrorKind::Argument, "random: output must be contiguous");
  const std::string& dist = attrs.string("dist");
  RandomArgs r;
  r.seed = rng::mix(static_cast<uint64_t>(attrs.integer("seed")));
  r.base = static_cast<uint64_t>(attrs.integer("offset"));
  r.a = attrs.number("a");
  r.b = attrs.number("b");
  r.range = 0;
  if (dist == "randint") {
    expect_dtype(out, DType::Int32, "random", "randint output");
    if (!(r.b > r.a) || r.a < INT32_MIN || r.b > 2147483648.0)
      throw Error(ErrorKind::Value, "randint: need low < high within int32");
    r.dist = Distribution::Randint;
    r.range = static_cast<uint64_t>(r.b - r.a);
    return r;
  }
  expect_float(out, "random", "output");
  if (dist == "uniform") r.dist = Distribution::Uniform;
  else if (dist == "normal") r.dist = Distribution::Normal;
  else throw Error(ErrorKind::Argument, "random: unknown distribution '" + dist + "'");
  return r;
}

}  // namespace tf
