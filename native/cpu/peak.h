// Machine-peak microbenchmarks, so kernel timings can be reported as a fraction of what the
// hardware can do (see DESIGN.md, "Performance method").
#pragma once

namespace tf {

// Float32 FMA throughput in GFLOP/s for the ISA matmul_f32 uses (matmul_isa()), with `threads`
// threads busy at once (threads <= 0 means tf::num_threads()). Runs for about 0.2 s.
double measure_peak_gflops(int threads);

// Streaming bandwidth in GB/s (bytes read + bytes written, 1e9 bytes/GB) of a large copy
// (2 × 128 MiB) split over `threads` threads (<= 0 means tf::num_threads()).
double measure_bandwidth_gbs(int threads);

}  // namespace tf
