// Functions written once for the CPU kernels and the CUDA kernels: under nvcc they compile for
// both host and device, under the host compiler they are ordinary inline functions.
#pragma once
#ifdef __CUDACC__
#define TF_HD __host__ __device__ __forceinline__
#else
#define TF_HD inline
#endif
