#include "registry.h"

#include <map>

namespace tf {
namespace {
std::map<std::string, KernelDef>& table() {
  static std::map<std::string, KernelDef> t;
  return t;
}
}  // namespace

void register_kernel(const std::string& name, KernelDef def) { table()[name] = std::move(def); }

const KernelDef* find_kernel(const std::string& name) {
  auto it = table().find(name);
  return it == table().end() ? nullptr : &it->second;
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> out;
  for (auto& kv : table()) out.push_back(kv.first);
  return out;
}

std::string shape_str(const View& v) {
  std::string s = "[";
  for (int i = 0; i < v.ndim; i++) s += (i ? ", " : "") + std::to_string(v.shape[i]);
  return s + "]";
}

void expect_dtype(const View& v, DType d, const char* op, const char* what) {
  if (v.dtype != d)
    throw Error(ErrorKind::DType, std::string(op) + ": " + what + " must be " + dtype_name(d) + ", got " +
                                      dtype_name(v.dtype));
}

void expect_float(const View& v, const char* op, const char* what) { expect_dtype(v, DType::Float32, op, what); }

void expect_same_shape(const View& a, const View& b, const char* op, const char* what) {
  bool same = a.ndim == b.ndim;
  for (int i = 0; same && i < a.ndim; i++) same = a.shape[i] == b.shape[i];
  if (!same)
    throw Error(ErrorKind::Shape, std::string(op) + ": " + what + " shapes differ: " + shape_str(a) + " vs " +
                                      shape_str(b));
}

}  // namespace tf
