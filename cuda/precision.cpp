// tf::cuda::precision (runtime.h): host-only, so the real and the emulated runtime share it.
#include "runtime.h"

namespace tf {
namespace cuda {

Precision precision(const Attrs& attrs) {
  auto it = attrs.num.find("precision");
  if (it == attrs.num.end()) return Precision::Highest;
  const double v = it->second;
  if (v == 0) return Precision::Highest;
  if (v == 1) return Precision::High;
  if (v == 2) return Precision::Medium;
  throw Error(ErrorKind::Argument, "attribute 'precision' must be 0 (highest), 1 (high) or 2 (medium), got " +
                                       std::to_string(v));
}

}  // namespace cuda
}  // namespace tf
