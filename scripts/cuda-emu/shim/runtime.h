#pragma once
#include <cuda_runtime.h>
#include <cstdlib>
#include "core/registry.h"
namespace tf { namespace cuda {
inline cudaStream_t stream() { return nullptr; }
inline const cudaDeviceProp& device_props() { static cudaDeviceProp p; return p; }
inline void check(cudaError_t, const char*) {}
inline void check_launch(const char*) {}
class Scratch {
 public:
  explicit Scratch(size_t b) : p_(std::malloc(b ? b : 1)), bytes_(b) { std::memset(p_, 0xff, b); }  // NaN fill: catches unwritten reads
  ~Scratch() { std::free(p_); }
  void* get() const { return p_; }
  template <typename T> T* as() const { return static_cast<T*>(p_); }
 private:
  void* p_; size_t bytes_;
};
enum class Precision { Highest = 0, High = 1, Medium = 2 };
inline Precision precision(const Attrs& a) {
  auto it = a.num.find("precision");
  return it == a.num.end() ? Precision::Highest : static_cast<Precision>(int(it->second));
}
}}
