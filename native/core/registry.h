// The kernel table: every op family registers its kernels here by name, and the binding
// dispatches `run(name, views, attrs)` through it. Views are ordered inputs first, outputs last.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "common.h"

namespace tf {

using KernelFn = std::function<void(std::vector<View>& views, const Attrs& attrs)>;

struct KernelDef {
  int inputs;       // views [0, inputs) are read
  int outputs;      // views [inputs, inputs + outputs) are written
  bool in_place;    // an output may be the very same view as an input (elementwise ops)
  KernelFn fn;
};

void register_kernel(const std::string& name, KernelDef def);
const KernelDef* find_kernel(const std::string& name);
std::vector<std::string> kernel_names();

struct KernelRegistrar {
  KernelRegistrar(const std::string& name, KernelDef def) { register_kernel(name, std::move(def)); }
};

#define TF_CONCAT_(a, b) a##b
#define TF_CONCAT(a, b) TF_CONCAT_(a, b)
#define TF_REGISTER_KERNEL(name, ...) \
  static ::tf::KernelRegistrar TF_CONCAT(tf_kernel_, __LINE__)(name, ::tf::KernelDef{__VA_ARGS__})

// Shared argument checks for kernels; each throws a tf::Error saying what was expected.
void expect_dtype(const View& v, DType d, const char* op, const char* what);
void expect_float(const View& v, const char* op, const char* what);
void expect_same_shape(const View& a, const View& b, const char* op, const char* what);
std::string shape_str(const View& v);

}  // namespace tf
