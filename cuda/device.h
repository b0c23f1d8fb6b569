// Device query and memory functions of the CUDA addon, as plain C++ (no CUDA headers, no N-API),
// so binding.cpp compiles with the host compiler and device.cu holds every CUDA runtime call.
// Every function reports failure through its return value or an error string and never throws:
// on a machine without a driver or GPU they must answer "none", not crash.
#pragma once
#include <cstddef>
#include <string>

namespace tfcuda {

struct DeviceProperties {
  std::string name;
  std::string pciBusId;
  size_t totalMemory = 0;
  int major = 0, minor = 0;
  int multiProcessorCount = 0;
  int warpSize = 0;
  int maxThreadsPerBlock = 0;
  int maxThreadsPerMultiProcessor = 0;
  size_t sharedMemoryPerBlock = 0;
  size_t sharedMemoryPerBlockOptin = 0;
  size_t sharedMemoryPerMultiProcessor = 0;
  int registersPerBlock = 0;
  int l2CacheSize = 0;
  int memoryBusWidth = 0;
  int clockRateKHz = 0;        // 0 where the driver does not report it
  int memoryClockRateKHz = 0;  // 0 where the driver does not report it
  bool integrated = false;
  bool eccEnabled = false;
};

struct MemoryInfo {
  size_t free = 0, total = 0;
};

// Number of CUDA devices; 0 when there is no driver, no GPU, or any other runtime error.
int device_count();
// CUDA runtime version compiled in (e.g. 13000 for 13.0); the runtime is linked statically.
int runtime_version();
// Newest CUDA version the installed driver supports; 0 when no driver is installed.
int driver_version();

// These return an empty string on success, else the CUDA error text. `device` must already be
// validated against device_count() by the caller.
std::string device_properties(int device, DeviceProperties* out);
std::string memory_info(int device, MemoryInfo* out);

}  // namespace tfcuda
