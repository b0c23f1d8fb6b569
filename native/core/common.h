// Types shared by the N-API binding and every kernel family.
// A kernel never sees JS values: the binding validates everything and hands it Views.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

// Hot loops marked TF_CLONES are compiled for AVX-512, AVX2 and baseline x86-64; the loader
// picks the best one for the CPU at run time, so one binary serves every machine.
#if defined(__x86_64__) && !defined(__clang__)
#define TF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TF_CLONES
#endif

namespace tf {

enum class DType : int32_t { Float32 = 0, Int32 = 1, Bool = 2 };
constexpr int kNumDTypes = 3;

inline size_t dtype_size(DType d) { return d == DType::Bool ? 1 : 4; }
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Int32: return "int32";
    case DType::Bool: return "bool";
  }
  return "?";
}

constexpr int kMaxDims = 8;

// A strided window onto a buffer, in elements. `data` already points at element 0 of the view.
struct View {
  void* data = nullptr;
  DType dtype = DType::Float32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
  }
  bool contiguous() const {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; i--) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
};

// Errors a kernel may raise; the binding turns `kind` into the JS error's `code`.
enum class ErrorKind { Shape, DType, Device, Index, Value, Allocation, Disposed, Argument };

struct Error : std::runtime_error {
  ErrorKind kind;
  Error(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

// Op attributes, already validated for type by the binding.
struct Attrs {
  std::unordered_map<std::string, double> num;
  std::unordered_map<std::string, std::string> str;
  std::unordered_map<std::string, std::vector<int64_t>> ints;

  double number(const std::string& k) const {
    auto it = num.find(k);
    if (it == num.end()) throw Error(ErrorKind::Argument, "missing numeric attribute '" + k + "'");
    return it->second;
  }
  int64_t integer(const std::string& k) const {
    double v = number(k);
    if (v != static_cast<double>(static_cast<int64_t>(v)))
      throw Error(ErrorKind::Argument, "attribute '" + k + "' must be an integer");
    return static_cast<int64_t>(v);
  }
  const std::string& string(const std::string& k) const {
    auto it = str.find(k);
    if (it == str.end()) throw Error(ErrorKind::Argument, "missing string attribute '" + k + "'");
    return it->second;
  }
  const std::vector<int64_t>& list(const std::string& k) const {
    auto it = ints.find(k);
    if (it == ints.end()) throw Error(ErrorKind::Argument, "missing integer-list attribute '" + k + "'");
    return it->second;
  }
};

}  // namespace tf
