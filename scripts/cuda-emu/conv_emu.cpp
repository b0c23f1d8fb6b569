// CPU emulation check of cuda/conv.cu (no GPU needed): runs the real kernel bodies on host
// threads (one std::thread per CUDA thread, std::barrier for __syncthreads, the mma.sync
// fragments exchanged through a per-warp buffer by the PTX layouts) against a float64 direct
// convolution, for every pass and precision. Slow; small shapes only. Usage: scripts/cuda-emu/run.sh [config]
#include "conv.cu"  // cuda/conv.cu with its launches rewritten (run.sh)
#include <cstdio>
#include <random>
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
std::barrier<>* g_block_barrier;
namespace tf { namespace cuda { WarpX* g_warps; } }
inline void emu_launch(dim3 grid, unsigned threads, const std::function<void()>& body) {
  gridDim = grid; blockDim = dim3(threads);
  std::barrier<> bar(threads);
  g_block_barrier = &bar;
  const unsigned nw = (threads + 31) / 32;
  std::vector<std::unique_ptr<std::barrier<>>> wb;
  std::vector<tf::cuda::WarpX> warps(nw);
  for (unsigned w = 0; w < nw; w++) { wb.emplace_back(new std::barrier<>(32)); warps[w].bar = wb.back().get(); }
  tf::cuda::g_warps = warps.data();
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < threads; t++)
          ts.emplace_back([&, t, x, y, z] { threadIdx = dim3(t); blockIdx = dim3(x, y, z); body(); });
        for (auto& th : ts) th.join();
      }
}

using namespace tf;
struct Cfg { int N, C, H, W, Co, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, G; bool bias; };
View view(std::vector<float>& d, std::vector<int64_t> shape) {
  View v; v.data = d.data(); v.dtype = DType::Float32; v.ndim = int(shape.size());
  int64_t s = 1;
  for (int i = v.ndim - 1; i >= 0; i--) { v.shape[i] = shape[i]; v.strides[i] = s; s *= shape[i]; }
  return v;
}
int main(int argc, char** argv) {
  std::vector<Cfg> cfgs = {
    {1, 3, 7, 9, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true},
    {2, 5, 11, 13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},
    {1, 4, 9, 9, 6, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, true},
    {2, 6, 9, 17, 8, 1, 7, 1, 1, 0, 0, 3, 3, 1, 1, 1, false},
    {2, 8, 17, 19, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true},
    {1, 7, 23, 21, 9, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, false},
    {2, 5, 13, 14, 4, 1, 1, 3, 3, 0, 0, 0, 0, 1, 1, 1, true},
    {1, 6, 19, 15, 10, 3, 3, 2, 1, 2, 2, 0, 0, 2, 2, 1, false},
    {2, 12, 11, 10, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true},
    {3, 16, 13, 13, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, true},
    {1, 9, 14, 11, 18, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 9, false},
    {2, 3, 1, 1, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true},
    {1, 2, 2, 3, 3, 3, 3, 1, 1, 4, 4, 4, 4, 1, 1, 1, false},
    {1, 70, 9, 11, 67, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {5, 20, 7, 9, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {2, 48, 15, 15, 96, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 2, false},
    {1, 33, 6, 5, 3, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1, true},
    {3, 40, 12, 12, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false},
  };
  int only = argc > 1 ? atoi(argv[1]) : -1;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  int fails = 0;
  for (size_t ci = 0; ci < cfgs.size(); ci++) {
    if (only >= 0 && int(ci) != only) continue;
    const Cfg& c = cfgs[ci];
    const int Cg = c.C / c.G, Cog = c.Co / c.G;
    const int Ho = (c.H + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1, Wo = (c.W + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1;
    std::vector<float> x(size_t(c.N) * c.C * c.H * c.W), w(size_t(c.Co) * Cg * c.kh * c.kw), b(c.Co), g(size_t(c.N) * c.Co * Ho * Wo);
    for (auto* v : {&x, &w, &b, &g}) for (auto& e : *v) e = nd(rng);
    // references
    std::vector<double> y(g.size()), gx(x.size()), gw(w.size());
    for (int n = 0; n < c.N; n++) for (int co = 0; co < c.Co; co++) for (int oh = 0; oh < Ho; oh++) for (int ow = 0; ow < Wo; ow++) {
      const int gg = co / Cog; double s = c.bias ? b[co] : 0;
      const size_t yi = ((size_t(n) * c.Co + co) * Ho + oh) * Wo + ow;
      for (int ci2 = 0; ci2 < Cg; ci2++) for (int r = 0; r < c.kh; r++) for (int q = 0; q < c.kw; q++) {
        int ih = oh * c.sh - c.pt + r * c.dh, iw = ow * c.sw - c.pl + q * c.dw;
        if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
        const size_t xi = ((size_t(n) * c.C + gg * Cg + ci2) * c.H + ih) * c.W + iw, wi = ((size_t(co) * Cg + ci2) * c.kh + r) * c.kw + q;
        s += double(x[xi]) * w[wi];
        gx[xi] += double(g[yi]) * w[wi];
        gw[wi] += double(g[yi]) * x[xi];
      }
      y[yi] = s;
    }
    for (int prec = 0; prec < 3; prec++) {
      Attrs a;
      a.ints["stride"] = {c.sh, c.sw}; a.ints["padding"] = {c.pt, c.pb, c.pl, c.pr}; a.ints["dilation"] = {c.dh, c.dw};
      a.num["groups"] = c.G; a.num["precision"] = prec;
      std::vector<float> yo(y.size(), NAN), gxo(x.size(), NAN), gwo(w.size(), NAN);
      std::vector<View> vf = {view(x, {c.N, c.C, c.H, c.W}), view(w, {c.Co, Cg, c.kh, c.kw})};
      if (c.bias) vf.push_back(view(b, {c.Co}));
      vf.push_back(view(yo, {c.N, c.Co, Ho, Wo}));
      find_kernel(c.bias ? "conv2dBias" : "conv2d")->fn(vf, a);
      std::vector<View> vd = {view(g, {c.N, c.Co, Ho, Wo}), view(w, {c.Co, Cg, c.kh, c.kw}), view(gxo, {c.N, c.C, c.H, c.W})};
      find_kernel("conv2dInputGrad")->fn(vd, a);
      std::vector<View> vw = {view(x, {c.N, c.C, c.H, c.W}), view(g, {c.N, c.Co, Ho, Wo}), view(gwo, {c.Co, Cg, c.kh, c.kw})};
      find_kernel("conv2dWeightGrad")->fn(vw, a);
      const double tol = prec == 0 ? 1e-4 : prec == 1 ? 1e-2 : 5e-2;
      auto cmp = [&](const char* what, const std::vector<float>& got, const std::vector<double>& want, double terms) {
        double worst = 0; size_t wi = 0;
        for (size_t i = 0; i < got.size(); i++) {
          double e = std::fabs(got[i] - want[i]) / (tol * std::sqrt(terms) + tol * std::fabs(want[i]));
          if (!(e <= worst)) worst = e, wi = i;
          if (std::isnan(got[i])) { worst = INFINITY; wi = i; break; }
        }
        const bool bad = !(worst <= 1);
        if (bad) fails++;
        printf("cfg %zu prec %d %-6s worst %.3g at %zu (got %g want %g)%s\n", ci, prec, what, worst, wi, got.empty() ? 0. : got[wi], want.empty() ? 0. : want[wi], bad ? "  FAIL" : "");
      };
      cmp("fwd", yo, y, Cg * c.kh * c.kw);
      cmp("dgrad", gxo, gx, Cog * c.kh * c.kw);
      cmp("wgrad", gwo, gw, double(c.N) * Ho * Wo);
    }
  }
  printf("%d failures\n", fails);
  return fails != 0;
}
