// 2-D convolution, NCHW, PyTorch semantics (cross-correlation; stride, zero padding given per
// side, dilation, groups). Three kernels:
//   conv2d / conv2dBias   out[n, g] = W[g] · col(x[n, g]) (+ bias)       forward
//   conv2dInputGrad       gx[n, g]  = col2im(W[g]ᵀ · gOut[n, g])          dgrad
//   conv2dWeightGrad      gW[g]     = Σ_n gOut[n, g] · col(x[n, g])ᵀ      wgrad
// (the bias gradient is a plain sum of gOut over N, H, W, done with existing ops).
// col(x) is the column matrix: a row per (input channel c, tap i, tap j), a column per output
// position.
//
// Variants, chosen per call:
//  1. Padded grid (stride 1, >= 16 channels per group; the common 3×3 layers). Every input plane
//     is copied once into a zero-bordered Hp × Wp plane and output positions are indexed on
//     that grid (q = ho·Wp + wo), so column-matrix row (c, i, j) IS the padded plane shifted by
//     i·dh·Wp + j·dw: no im2col and no padding tests. The Wp - Wo extra columns per row are
//     computed and dropped (3% for 56 wide, 12% for 14 wide).
//     forward  With AVX-512 the micro-kernel reads B straight from the planes (k = channel,
//              rows one plane apart) and sums the taps in registers (gemm_packed_a_taps: one
//              pass over the output tile); the weights are packed once per call with k =
//              (tap, channel). Without it (AVX2 kernels need packed B), each micro-panel's rows
//              are copied, one contiguous copy per row (grid_panel). Tiles go to a small buffer
//              and their real columns to the output (grid_scatter).
//     dgrad    With stride 1 the input gradient is a convolution of gOut (padded by the
//              kernel's extent minus the padding) with the channel roles swapped and the taps
//              flipped, so it runs on the forward's path: no col2im scatter-add. (Used from 8
//              input channels per group; below that the transposed conv's GEMM has too few rows.)
//     wgrad    The reduction index q is contiguous in both gOut and the planes, so the GEMM
//              needs both transposed. With AVX-512 and finite inputs, the padded image is
//              transposed once to pixel-major (packed-B layout, panels of channels) and each
//              tap's B is that matrix read in place from row q + offset: one transpose per
//              input element, not per element and tap (weight_grad_pixel_major). Dropped grid
//              columns rely on gOut being 0 there, which is exact only for finite inputs;
//              otherwise (and without AVX-512) weight_grad_grid packs the shifted planes per
//              task with 16×16 transposes and zeroes the dropped rows.
//     The grid needs enough channels: with 1 input channel the per-tap passes over the output
//     tile and the extra copy of the outputs dominated (1.7-4× slower than variant 2).
//     Large batches run in chunks of images (padded copies under 16 MiB, grid_chunk).
//  1b. Few input channels (<= 4, 3×3, stride 1, rows of >= 16 outputs), weight gradient only:
//     Kg = 9·Cg is far narrower than a micro-tile and the GEMM's transposes dominate, so each
//     gW entry is a dot product vectorised along the output rows (weight_grad_few_channels).
//  2. Blocked im2col (everything else: strides, few channels). The column matrix is built one
//     block of output positions at a time (sized so the block stays in L2, see block_cols), so
//     the GEMM reads it from cache right after it was written, and the scratch stays small. A
//     1×1, stride-1, unpadded convolution skips im2col: the image is its own column matrix.
//     dgrad multiplies Wᵀ · gOut per block and scatters with col2im.
//
// Threads: every kernel cuts its work into independent tasks and runs the single-threaded GEMM
// inside each task, so there is one parallel_for per call (plus one for the padded copies)
// and no barrier per image:
//   forward  tasks = (image, group, block of output/grid positions): disjoint output tiles.
//   dgrad    grid: as the forward. im2col: tasks = (image, group, block of input channels):
//            col2im of different channels writes disjoint parts of gx (blocks of output
//            positions would overlap at their borders), race-free and parallel for a batch of 1.
//   wgrad    tasks = (image, group, block of positions), one contiguous range per thread; each
//            thread accumulates into its own copy of gW, summed at the end (a reduction over
//            Co·Kg values per thread, small next to the GEMM work).
// Measured and dropped: im2col of a whole image (threaded over channels) followed by the
// threaded matmul_f32 per image (streams a 7 MiB column matrix through L3, 5-15% more CPU time
// than blocked tasks); writing im2col micro-panels straight in the packed-B layout and
// multiplying each at once (its per-panel gathers cost 25% of the GEMM time for 64 channels,
// and made a 1-channel conv 2× slower than the blocked im2col).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "cpu/matmul.h"
#include "ops/conv.h"

namespace tf {
namespace {

// The geometry (validated by native/ops/conv.cpp, shared with the CUDA kernels).
using Conv = ConvParams;

// Output positions per block: the block's column matrix (K rows) is sized to about half the
// L2 (1 MiB per core on current x86) and to at most 192 columns, the widest for which the GEMM
// reads a column-major A in place instead of packing it (matmul.cpp, a_in_place): the weights,
// transposed once per call, are then never copied per block. Blocks are whole multiples of 48
// columns (the AVX-512 micro-tile width, 3 AVX2 tiles) except the last of an image, and at
// least 48 wide even for very deep K.
int64_t block_cols(int64_t K, int64_t P) {
  constexpr int64_t kBytes = 512 << 10, kMaxCols = 192;
  const int64_t fit = kBytes / (4 * std::max<int64_t>(K, 1));
  const int64_t cap = std::max<int64_t>(48, std::min(kMaxCols, fit) / 48 * 48);
  return std::min(P, cap);
}

// The output columns [wo0, wo1) of one output row that read input column wo·sw + off inside
// [0, W): the rest read zero padding.
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t wo0, int64_t wo1, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
  lo = std::clamp(lo, wo0, wo1);
  hi = std::clamp(hi, lo, wo1);
}

// One row of the column matrix: for tap (i, j) of the channel plane `src`, the input pixel each
// output position in [p0, p1) reads (0 in the padding), written contiguously to dst.
inline void gather_row(const Conv& c, const float* src, int64_t i, int64_t j, int64_t p0, int64_t p1, float* dst) {
  const int64_t off = j * c.dw - c.pl;
  for (int64_t p = p0; p < p1;) {
    const int64_t ho = p / c.Wo, wo0 = p % c.Wo, wo1 = std::min(c.Wo, wo0 + (p1 - p));
    const int64_t hi = ho * c.sh - c.pt + i * c.dh;
    const int64_t n = wo1 - wo0;
    if (hi < 0 || hi >= c.H) {
      std::fill(dst, dst + n, 0.f);
    } else {
      int64_t lo, up;
      valid_cols(off, c.sw, c.W, wo0, wo1, lo, up);
      const float* row = src + hi * c.W;
      std::fill(dst, dst + (lo - wo0), 0.f);
      if (c.sw == 1)
        std::memcpy(dst + (lo - wo0), row + off + lo, static_cast<size_t>(up - lo) * sizeof(float));
      else
        for (int64_t wo = lo; wo < up; wo++) dst[wo - wo0] = row[off + wo * c.sw];
      std::fill(dst + (up - wo0), dst + n, 0.f);
    }
    dst += n;
    p += n;
  }
}

// Column matrix rows for channels [c0, c1) of one image's group (xg: its first channel) and
// output positions [p0, p1), row stride p1 - p0: row (c, i, j), column p holds the input pixel
// tap (i, j) of output position p reads, 0 in the padding.
void im2col(const Conv& c, const float* xg, int64_t c0, int64_t c1, int64_t p0, int64_t p1, float* col) {
  const int64_t np = p1 - p0;
  for (int64_t ch = c0; ch < c1; ch++)
    for (int64_t i = 0; i < c.kh; i++)
      for (int64_t j = 0; j < c.kw; j++)
        gather_row(c, xg + ch * c.HW(), i, j, p0, p1, col + (((ch - c0) * c.kh + i) * c.kw + j) * np);
}

// ---- stride 1 on the padded grid --------------------------------------------------------
// With stride 1, output position (ho, wo) reads input pixel (ho + i·dh - pt, wo + j·dw - pl).
// Copy each input plane once into a zero-bordered Hp × Wp plane and index output positions on
// that grid instead (q = ho·Wp + wo): column-matrix row (c, i, j) is then the plane itself,
// shifted by i·dh·Wp + j·dw, so a micro-panel row is one contiguous copy of nr floats, with no
// padding tests. The grid's Wp - Wo extra columns per row are computed and dropped (3% for a
// 56-wide image, 12% for 14 wide), which costs less than the per-segment gathers it saves.
struct Grid {
  int64_t Hp, Wp, plane, Q;  // padded plane, and the grid positions up to the last real output
  explicit Grid(const Conv& c)
      : Hp(c.H + c.pt + c.pb), Wp(c.W + c.pl + c.pr), plane(Hp * Wp), Q((c.Ho - 1) * Wp + c.Wo) {}
  // Floats past the last padded plane a shifted read can reach: < one panel.
  int64_t tail(const GemmTile& t) const { return t.nr + t.vw; }
};

TF_CLONES bool all_finite(const float* p, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; i++) {
    uint32_t b;
    std::memcpy(&b, p + i, sizeof b);
    bad |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
  }
  return !bad;
}

// Zero-bordered copies of the N·C planes of X (NCHW) into xp, plus a zeroed tail. With
// `finite`, also reports whether every input value is finite (checked while the plane is hot).
void pad_planes(const Conv& c, const Grid& gr, const float* X, float* xp, bool* finite = nullptr) {
  std::atomic<bool> bad{false};
  const int64_t planes = c.N * c.C, tail = gr.tail(gemm_tile());
  std::fill(xp + planes * gr.plane, xp + planes * gr.plane + tail, 0.f);
  parallel_for(planes, 4, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; s++) {
      float* d = xp + s * gr.plane;
      const float* src = X + s * c.HW();
      std::fill(d, d + c.pt * gr.Wp, 0.f);
      for (int64_t h = 0; h < c.H; h++) {
        float* r = d + (c.pt + h) * gr.Wp;
        std::fill(r, r + c.pl, 0.f);
        std::memcpy(r + c.pl, src + h * c.W, static_cast<size_t>(c.W) * sizeof(float));
        std::fill(r + c.pl + c.W, r + gr.Wp, 0.f);
      }
      std::fill(d + (c.pt + c.H) * gr.Wp, d + gr.plane, 0.f);
      if (finite && !all_finite(src, c.HW())) bad.store(true, std::memory_order_relaxed);
    }
  });
  if (finite) *finite = !bad.load();
}

// Panel rows of grid positions [q0, q0 + nw) for every (c, i, j) of the group whose first
// padded plane is xg; rows are w floats (padding zeroed). Rows may read past the plane into
// the next one (or the scratch's zeroed tail): only dropped columns do.
TF_CLONES void grid_panel(const Conv& c, const Grid& gr, const float* xg, int64_t q0, int64_t nw, int64_t w, float* dst) {
  for (int64_t ch = 0; ch < c.Cg(); ch++)
    for (int64_t i = 0; i < c.kh; i++)
      for (int64_t j = 0; j < c.kw; j++) {
        const float* src = xg + ch * gr.plane + i * c.dh * gr.Wp + j * c.dw + q0;
        if (nw == 48 && w == 48) {
          for (int e = 0; e < 48; e++) dst[e] = src[e];
        } else {
          for (int64_t e = 0; e < nw; e++) dst[e] = src[e];
          for (int64_t e = nw; e < w; e++) dst[e] = 0.f;
        }
        dst += w;
      }
}

// The adjoint of im2col: adds each column-matrix entry into the input pixel it was read from
// (entries that came from padding are dropped).
TF_CLONES void col2im(const Conv& c, const float* col, int64_t c0, int64_t c1, int64_t p0, int64_t p1, float* xg) {
  const int64_t np = p1 - p0;
  for (int64_t ch = c0; ch < c1; ch++)
    for (int64_t i = 0; i < c.kh; i++)
      for (int64_t j = 0; j < c.kw; j++) {
        float* dst = xg + ch * c.HW();
        const float* src = col + (((ch - c0) * c.kh + i) * c.kw + j) * np;
        const int64_t off = j * c.dw - c.pl;
        for (int64_t p = p0; p < p1;) {
          const int64_t ho = p / c.Wo, wo0 = p % c.Wo, wo1 = std::min(c.Wo, wo0 + (p1 - p));
          const int64_t hi = ho * c.sh - c.pt + i * c.dh;
          if (hi >= 0 && hi < c.H) {
            int64_t lo, up;
            valid_cols(off, c.sw, c.W, wo0, wo1, lo, up);
            float* row = dst + hi * c.W + off + lo * c.sw;  // the input pixel output column lo reads
            const float* s = src + (lo - wo0);
            if (c.sw == 1)
              for (int64_t k = 0; k < up - lo; k++) row[k] += s[k];
            else
              for (int64_t k = 0; k < up - lo; k++) row[k * c.sw] += s[k];
          }
          src += wo1 - wo0;
          p += wo1 - wo0;
        }
      }
}

// Copies the real outputs of grid positions [q0, q0 + nw) (tile ct, row stride ldt) into the
// image's outputs C (Cog rows of P), adding the bias.
TF_CLONES void grid_scatter(const Conv& c, const Grid& gr, const float* ct, int64_t ldt, int64_t q0, int64_t nw,
                            int64_t Cog, const float* bias, int64_t bstride, float* C) {
  const int64_t P = c.P();
  for (int64_t q = q0; q < q0 + nw;) {
    const int64_t ho = q / gr.Wp, wo = q - ho * gr.Wp;
    const int64_t end = std::min(q0 + nw, ho * gr.Wp + c.Wo);
    if (wo < c.Wo)
      for (int64_t m = 0; m < Cog; m++) {
        const float* s = ct + m * ldt + (q - q0);
        float* d = C + m * P + ho * c.Wo + wo;
        const float b = bias ? bias[m * bstride] : 0.f;
        for (int64_t e = 0; e < end - q; e++) d[e] = s[e] + b;
      }
    q = (ho + 1) * gr.Wp;
  }
}

constexpr int64_t kGridMinChannels = 16;

// The grid paths copy the input (padded; the weight gradient also its pixel-major transpose and
// gOut): a batch is run in chunks of images whose padded copy stays under this, so the scratch
// does not grow with the batch.
constexpr int64_t kGridChunkBytes = 16 << 20;
int64_t grid_chunk(const Conv& c) {
  const int64_t per_image = 4 * c.C * (c.H + c.pt + c.pb) * (c.W + c.pl + c.pr);
  return std::max<int64_t>(1, kGridChunkBytes / std::max<int64_t>(per_image, 1));
}

// ---- forward ------------------------------------------------------------------------------
// Stride 1 on the padded grid (see Grid). With in-place B (AVX-512) the micro-kernel reads the
// padded planes directly; otherwise each micro-panel's Kg rows are copied (grid_panel), one
// contiguous copy per row, and multiplied by the weights packed once per call.
void forward_grid(const Conv& c, const float* X, const float* Wr, const float* bias, int64_t bstride, float* O) {
  const int64_t P = c.P(), Kg = c.Kg(), Cog = c.Cog();
  const GemmTile tile = gemm_tile();
  const bool per_tap = tile.direct_b;
  Scratch<float> ap(per_tap ? 0 : static_cast<size_t>(c.Co * Kg));
  if (!per_tap)
    for (int64_t g = 0; g < c.G; g++) gemm_pack_a(Cog, Kg, Wr + g * Cog * Kg, Kg, 1, ap.get() + g * Cog * Kg);
  const Grid gr(c);
  const int64_t planes = c.N * c.C;
  Scratch<float> xp(static_cast<size_t>(planes * gr.plane + gr.tail(tile)));
  pad_planes(c, gr, X, xp.get());
  // With in-place B (AVX-512), the micro-kernel reads the padded planes directly: k runs over
  // the input channels of one tap (B rows one plane apart), the taps are segments at their own
  // offsets, summed in registers (gemm_packed_a_taps): no column matrix at all. The weights
  // are then packed with k = (tap, channel), [G][Cog × taps·Cg]. Deeper than a K block
  // (Cg > 256), each tap is its own GEMM, accumulated in the tile.
  const int64_t taps = c.taps(), Cg = c.Cg();
  const bool fused = per_tap && Cg <= 256;
  std::vector<int64_t> offs(static_cast<size_t>(taps));
  for (int64_t tp = 0; tp < taps; tp++) offs[tp] = (tp / c.kw) * c.dh * gr.Wp + (tp % c.kw) * c.dw;
  Scratch<float> apt(per_tap ? static_cast<size_t>(c.Co * Kg) : 0);
  if (fused) {
    Scratch<float> wr(static_cast<size_t>(c.Co * Kg));  // [G·Cog][taps][Cg]
    for (int64_t m = 0; m < c.Co; m++)
      for (int64_t ch = 0; ch < Cg; ch++)
        for (int64_t tp = 0; tp < taps; tp++) wr[(m * taps + tp) * Cg + ch] = Wr[(m * Cg + ch) * taps + tp];
    for (int64_t g = 0; g < c.G; g++) gemm_pack_a(Cog, Kg, wr.get() + g * Cog * Kg, Kg, 1, apt.get() + g * Cog * Kg);
  } else if (per_tap) {
    for (int64_t g = 0; g < c.G; g++)
      for (int64_t tp = 0; tp < taps; tp++)
        gemm_pack_a(Cog, Cg, Wr + g * Cog * Kg + tp, Kg, taps, apt.get() + (g * taps + tp) * Cog * Cg);
  }
  const int64_t Qb = block_cols(Kg, gr.Q), qblocks = (gr.Q + Qb - 1) / Qb;
  parallel_for(c.N * c.G * qblocks, 1, [&](int64_t t0, int64_t t1) {
    Scratch<float> panel(per_tap ? 0 : static_cast<size_t>(Kg * tile.nr));
    Scratch<float> ct(static_cast<size_t>(Cog * tile.nr));  // the panel's outputs on the grid
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n = t / (c.G * qblocks), g = t / qblocks % c.G;
      const int64_t b0 = t % qblocks * Qb, b1 = std::min(gr.Q, b0 + Qb);
      const float* xg = xp.get() + (n * c.C + g * c.Cg()) * gr.plane;
      float* C = O + (n * c.Co + g * Cog) * P;
      for (int64_t q0 = b0; q0 < b1; q0 += tile.nr) {
        const int64_t nw = std::min<int64_t>(tile.nr, b1 - q0);
        if (fused) {
          gemm_packed_a_taps(Cog, nw, Cg, static_cast<int>(taps), offs.data(), apt.get() + g * Cog * Kg, xg + q0, gr.plane,
                             ct.get(), tile.nr, false);
        } else if (per_tap) {
          for (int64_t tp = 0; tp < taps; tp++)
            gemm_packed_a(Cog, nw, Cg, apt.get() + (g * taps + tp) * Cog * Cg, xg + offs[tp] + q0, gr.plane, ct.get(),
                          tile.nr, tp > 0);
        } else {
          const int64_t w = (nw + tile.vw - 1) / tile.vw * tile.vw;
          grid_panel(c, gr, xg, q0, nw, w, panel.get());
          gemm_packed(Cog, nw, Kg, ap.get() + g * Cog * Kg, panel.get(), ct.get(), tile.nr, false);
        }
        grid_scatter(c, gr, ct.get(), tile.nr, q0, nw, Cog, bias ? bias + g * Cog * bstride : nullptr, bstride, C);
      }
    }
  });
}

// out = conv(X, Wr) (+ bias) for the geometry c, with Wr row-major [G][Cog][Kg] (the weight's
// own layout). Shared by the forward and, through the transposed convolution, the input gradient.
// The grid needs enough input channels: it makes one micro-kernel call (one pass over the
// output tile) per tap, Cg deep, and copies every output once more, and with few channels that
// traffic dominates (a 1-channel conv ran 1.7-4x slower on the grid than through im2col).
void run_forward(const Conv& c, const float* X, const float* Wr, const float* bias, int64_t bstride, float* O) {
  if (c.sh == 1 && c.sw == 1 && !c.pointwise() && c.Cg() >= kGridMinChannels)
  {
    const int64_t chunk = grid_chunk(c);
    for (int64_t n0 = 0; n0 < c.N; n0 += chunk) {
      Conv cc = c;
      cc.N = std::min(chunk, c.N - n0);
      forward_grid(cc, X + n0 * c.C * c.HW(), Wr, bias, bstride, O + n0 * c.Co * c.P());
    }
    return;
  }
  const int64_t P = c.P(), Kg = c.Kg(), Cog = c.Cog();
  const bool direct = c.pointwise();
  const int64_t Pb = block_cols(Kg, P), blocks = (P + Pb - 1) / Pb;
  // Wᵀ per group (Kg × Cog), so the GEMM reads it in place as a column-major A.
  Scratch<float> wt(static_cast<size_t>(c.Co * Kg));
  for (int64_t g = 0; g < c.G; g++)
    for (int64_t m = 0; m < Cog; m++)
      for (int64_t k = 0; k < Kg; k++) wt[(g * Kg + k) * Cog + m] = Wr[(g * Cog + m) * Kg + k];
  parallel_for(c.N * c.G * blocks, 1, [&](int64_t t0, int64_t t1) {
    Scratch<float> col(direct ? 0 : static_cast<size_t>(Kg * Pb));
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n = t / (c.G * blocks), g = t / blocks % c.G, p0 = t % blocks * Pb, p1 = std::min(P, p0 + Pb);
      const float* xg = X + (n * c.C + g * c.Cg()) * c.HW();
      const float* B = xg + p0;
      int64_t ldb = P;
      if (!direct) {
        im2col(c, xg, 0, c.Cg(), p0, p1, col.get());
        B = col.get(), ldb = p1 - p0;
      }
      float* C = O + (n * c.Co + g * Cog) * P + p0;
      if (bias)
        for (int64_t m = 0; m < Cog; m++) std::fill(C + m * P, C + m * P + (p1 - p0), bias[(g * Cog + m) * bstride]);
      gemm_f32(Cog, p1 - p0, Kg, wt.get() + g * Kg * Cog, 1, Cog, B, ldb, 1, C, P, bias != nullptr);
    }
  });
}

void conv2d_kernel(std::vector<View>& v, const Attrs& attrs) {
  const bool has_bias = v.size() == 4;
  const View &x = v[0], &w = v[1], &out = v.back();
  const Conv c = check_conv2d(v, attrs);
  const float* bias = nullptr;
  int64_t bstride = 0;
  if (has_bias) {
    const View& b = v[2];
    bias = b.ptr<float>();
    bstride = b.strides[0];
  }
  if (out.numel() == 0) return;
  run_forward(c, x.ptr<float>(), w.ptr<float>(), bias, bstride, out.ptr<float>());
}
TF_REGISTER_KERNEL("conv2d", 2, 1, false, conv2d_kernel);
TF_REGISTER_KERNEL("conv2dBias", 3, 1, false, conv2d_kernel);

// ---- input gradient -----------------------------------------------------------------------
// views: gOut [N, Co, Ho, Wo], weight; output gx [N, C, H, W]. Attributes as the forward's.
void conv2d_input_grad_kernel(std::vector<View>& v, const Attrs& attrs) {
  const View &gout = v[0], &w = v[1], &gx = v[2];
  const Conv c = check_conv2d_input_grad(v, attrs);
  if (gx.numel() == 0) return;
  const int64_t P = c.P(), Cg = c.Cg(), Cog = c.Cog(), Kg = c.Kg(), taps = c.taps();
  const int64_t eh = c.dh * (c.kh - 1), ew = c.dw * (c.kw - 1);
  // (The transposed convolution has Cg output channels: with fewer than a micro-tile's rows
  // its GEMM runs mostly empty, and the col2im path below is faster, e.g. for 1 channel.)
  if (c.sh == 1 && c.sw == 1 && c.Co > 0 && Cg >= 8 && c.pt <= eh && c.pb <= eh && c.pl <= ew && c.pr <= ew) {
    // Stride 1: the input gradient is itself a convolution, of gOut padded by the kernel's
    // extent minus the padding, with the channel roles swapped and the taps flipped. It runs
    // on the forward's path (no col2im scatter, disjoint output tiles).
    Conv t = c;
    t.C = c.Co, t.H = c.Ho, t.W = c.Wo, t.Co = c.C, t.Ho = c.H, t.Wo = c.W;
    t.pt = eh - c.pt, t.pb = eh - c.pb, t.pl = ew - c.pl, t.pr = ew - c.pr;
    const float* Wt = w.ptr<float>();
    Scratch<float> wf(static_cast<size_t>(c.Co * Kg));  // [G][Cg][Cog · taps]
    for (int64_t g = 0; g < c.G; g++)
      for (int64_t co = 0; co < Cog; co++)
        for (int64_t ci = 0; ci < Cg; ci++)
          for (int64_t k = 0; k < taps; k++)
            wf[((g * Cg + ci) * Cog + co) * taps + (taps - 1 - k)] = Wt[((g * Cog + co) * Cg + ci) * taps + k];
    run_forward(t, gout.ptr<float>(), wf.get(), nullptr, 0, gx.ptr<float>());
    return;
  }
  const bool direct = c.pointwise();
  // Split channels when images × groups alone would leave threads idle.
  const int64_t want = 2 * num_threads();
  const int64_t cblocks = std::min(Cg, std::max<int64_t>(1, (want + c.N * c.G - 1) / (c.N * c.G)));
  const int64_t Cb = (Cg + cblocks - 1) / cblocks;
  const int64_t Pb = block_cols(Cb * taps, P);
  const float* GO = gout.ptr<float>();
  const float* Wt = w.ptr<float>();
  float* GX = gx.ptr<float>();
  parallel_for(c.N * c.G * cblocks, 1, [&](int64_t t0, int64_t t1) {
    Scratch<float> dcol(direct ? 0 : static_cast<size_t>(Cb * taps * Pb));
    for (int64_t t = t0; t < t1; t++) {
      const int64_t n = t / (c.G * cblocks), g = t / cblocks % c.G;
      const int64_t c0 = t % cblocks * Cb, c1 = std::min(Cg, c0 + Cb);
      if (c0 >= c1) continue;
      float* gxg = GX + (n * c.C + g * Cg) * c.HW();
      const float* gog = GO + (n * c.Co + g * Cog) * P;
      // Wᵀ restricted to these channels' rows: element (row r, co) at w[g*Cog + co][c0*taps + r].
      const float* A = Wt + g * Cog * Kg + c0 * taps;
      const int64_t rows = (c1 - c0) * taps;
      if (direct) {
        gemm_f32(rows, P, Cog, A, 1, Kg, gog, P, 1, gxg + c0 * c.HW(), c.HW(), false);
        continue;
      }
      std::fill(gxg + c0 * c.HW(), gxg + c1 * c.HW(), 0.f);
      for (int64_t p0 = 0; p0 < P; p0 += Pb) {
        const int64_t p1 = std::min(P, p0 + Pb);
        gemm_f32(rows, p1 - p0, Cog, A, 1, Kg, gog + p0, P, 1, dcol.get(), p1 - p0, false);
        col2im(c, dcol.get(), c0, c1, p0, p1, gxg);
      }
    }
  });
}
TF_REGISTER_KERNEL("conv2dInputGrad", 2, 1, false, conv2d_input_grad_kernel);

// ---- weight gradient ----------------------------------------------------------------------
// gOut of every image on the grid (rows of Wp, zero in the dropped columns): [N · Co][Q].
void grid_gout(const Conv& c, const Grid& gr, const float* GO, float* gg) {
  parallel_for(c.N * c.Co, 16, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; s++) {
      float* d = gg + s * gr.Q;
      const float* src = GO + s * c.P();
      for (int64_t ho = 0; ho < c.Ho; ho++) {
        float* r = d + ho * gr.Wp;
        std::memcpy(r, src + ho * c.Wo, static_cast<size_t>(c.Wo) * sizeof(float));
        if (ho + 1 < c.Ho) std::fill(r + c.Wo, r + gr.Wp, 0.f);
      }
    }
  });
}

// Stride 1, on the padded grid: gW[g] = Σ_n Σ_q gOut_grid[n, g][:, q] · col[n, g][:, q]ᵀ, with
// column-matrix row (c, i, j) the padded plane c shifted by (i·dh, j·dw), as in the forward.
// Per task (image, group, block of grid positions), both operands are packed straight from
// those planes (16×16 register transposes: q, the reduction index, is the contiguous one in
// both), with no im2col copy. The dropped grid columns must add nothing: gOut is zero there and
// their packed B rows are zeroed too, so an infinite input pixel they happen to read cannot
// turn into 0·inf = NaN.
// The weight gradient's work split, shared by both grid variants. Blocks of grid positions are the
// reduction depth of each GEMM, whose every block re-reads and re-writes the gW tile: as deep as
// the packed B (Kg × Qb) allows in half the L2, and equal (a 192 + 30 split of a 14×14 image cost
// 10%). Tasks are (image, group, block), run by `parts` workers, `per` tasks each.
struct WgradSplit {
  int64_t qblocks, Qb, tasks, parts, per;
  WgradSplit(const Conv& c, const Grid& gr, int64_t Kg) {
    const int64_t cap = std::max<int64_t>(16, (512 << 10) / (4 * std::max<int64_t>(Kg, 1)));
    qblocks = (gr.Q + cap - 1) / cap;
    Qb = std::min(gr.Q, ((gr.Q + qblocks - 1) / qblocks + 15) / 16 * 16);
    tasks = c.N * c.G * qblocks;
    parts = std::max<int64_t>(1, std::min<int64_t>(num_threads(), tasks));
    per = (tasks + parts - 1) / parts;
  }
};

void weight_grad_grid(const Conv& c, const float* X, const float* GO, float* GW) {
  const GemmTile tile = gemm_tile();
  const Grid gr(c);
  const int64_t Kg = c.Kg(), Cog = c.Cog(), Cg = c.Cg(), taps = c.taps(), wsize = c.Co * Kg;
  Scratch<float> xp(static_cast<size_t>(c.N * c.C * gr.plane + gr.tail(tile)));
  pad_planes(c, gr, X, xp.get());
  Scratch<float> gg(static_cast<size_t>(c.N * c.Co * gr.Q));
  grid_gout(c, gr, GO, gg.get());
  const WgradSplit sp(c, gr, Kg);
  Scratch<float> partial(static_cast<size_t>((sp.parts - 1) * wsize));
  parallel_for(sp.parts, 1, [&](int64_t r0, int64_t r1) {
    const int64_t kw_pad = (Kg + tile.nr - 1) / tile.nr * tile.nr;
    Scratch<float> pa(static_cast<size_t>(Cog * sp.Qb));
    Scratch<float> pb(static_cast<size_t>(kw_pad * sp.Qb));
    std::vector<const float*> cols(static_cast<size_t>(Kg));
    for (int64_t r = r0; r < r1; r++) {
      float* acc = r == 0 ? GW : partial.get() + (r - 1) * wsize;
      std::fill(acc, acc + wsize, 0.f);
      for (int64_t t = r * sp.per; t < std::min(sp.tasks, (r + 1) * sp.per); t++) {
        const int64_t n = t / (c.G * sp.qblocks), g = t / sp.qblocks % c.G;
        const int64_t q0 = t % sp.qblocks * sp.Qb, qn = std::min(gr.Q, q0 + sp.Qb) - q0;
        const float* xg = xp.get() + (n * c.C + g * Cg) * gr.plane + q0;
        for (int64_t ch = 0; ch < Cg; ch++)
          for (int64_t tp = 0; tp < taps; tp++)
            cols[ch * taps + tp] = xg + ch * gr.plane + (tp / c.kw) * c.dh * gr.Wp + (tp % c.kw) * c.dw;
        gemm_pack_a(Cog, qn, gg.get() + (n * c.Co + g * Cog) * gr.Q + q0, gr.Q, 1, pa.get());
        gemm_pack_b_cols(qn, Kg, cols.data(), pb.get());
        // Zero the packed rows of dropped grid columns, in every panel (panel j0 at j0 · qn).
        for (int64_t q = q0; q < q0 + qn; q++) {
          if (q % gr.Wp < c.Wo) continue;
          for (int64_t j0 = 0; j0 < Kg; j0 += tile.nr) {
            const int64_t nw = std::min<int64_t>(tile.nr, Kg - j0), w = (nw + tile.vw - 1) / tile.vw * tile.vw;
            std::fill_n(pb.get() + j0 * qn + (q - q0) * w, w, 0.f);
          }
        }
        gemm_packed(Cog, Kg, qn, pa.get(), pb.get(), acc + g * Cog * Kg, Kg, true);
      }
    }
  });
  if (sp.parts > 1)
    parallel_for(wsize, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t q = 1; q < sp.parts; q++) {
        const float* src = partial.get() + (q - 1) * wsize;
        for (int64_t i = i0; i < i1; i++) GW[i] += src[i];
      }
    });
}

// The same sum with the padded image transposed once to pixel-major order (each group's planes
// packed as a K = pixels, N = channels packed-B matrix: panels of nr channels, one row per
// pixel): tap (i, j)'s B operand is then that matrix read in place from row q + i·dh·Wp + j·dw,
// so the only transposes are one per input element (instead of one per element and tap) and
// gOut's. A dropped grid column reads real pixels there and relies on gOut being 0 in it, which
// is exact only for finite inputs: the caller checks.
// Returns false (gW untouched) when the input is not all finite.
bool weight_grad_pixel_major(const Conv& c, const float* X, const float* GO, float* GW) {
  const GemmTile tile = gemm_tile();
  const Grid gr(c);
  const int64_t Kg = c.Kg(), Cog = c.Cog(), Cg = c.Cg(), taps = c.taps(), wsize = c.Co * Kg;
  // Width of the channel panels (full nr panels, the last rounded up to vw).
  const int64_t cw = Cg / tile.nr * tile.nr + (Cg % tile.nr + tile.vw - 1) / tile.vw * tile.vw;
  const int64_t img = gr.plane * cw;  // one (image, group) transposed
  Scratch<float> xt(static_cast<size_t>(c.N * c.G * img));
  {
    Scratch<float> xp(static_cast<size_t>(c.N * c.C * gr.plane + gr.tail(tile)));
    bool finite = true;
    pad_planes(c, gr, X, xp.get(), &finite);
    if (!finite) return false;
    parallel_for(c.N * c.G, 1, [&](int64_t s0, int64_t s1) {
      std::vector<const float*> cols(static_cast<size_t>(Cg));
      for (int64_t s = s0; s < s1; s++) {
        for (int64_t ch = 0; ch < Cg; ch++) cols[ch] = xp.get() + (s * Cg + ch) * gr.plane;
        gemm_pack_b_cols(gr.plane, Cg, cols.data(), xt.get() + s * img);
      }
    });
  }
  Scratch<float> gg(static_cast<size_t>(c.N * c.Co * gr.Q));
  grid_gout(c, gr, GO, gg.get());
  const WgradSplit sp(c, gr, Kg);
  // Per-thread sums in [G·Cog][taps][Cg] order (each tap's GEMM writes whole rows of channels),
  // reduced and reordered into gW at the end.
  Scratch<float> acc(static_cast<size_t>(sp.parts * wsize));
  parallel_for(sp.parts, 1, [&](int64_t r0, int64_t r1) {
    Scratch<float> pa(static_cast<size_t>(Cog * sp.Qb));
    for (int64_t r = r0; r < r1; r++) {
      float* a = acc.get() + r * wsize;
      std::fill(a, a + wsize, 0.f);
      for (int64_t t = r * sp.per; t < std::min(sp.tasks, (r + 1) * sp.per); t++) {
        const int64_t n = t / (c.G * sp.qblocks), g = t / sp.qblocks % c.G;
        const int64_t q0 = t % sp.qblocks * sp.Qb, qn = std::min(gr.Q, q0 + sp.Qb) - q0;
        gemm_pack_a(Cog, qn, gg.get() + (n * c.Co + g * Cog) * gr.Q + q0, gr.Q, 1, pa.get());
        const float* xg = xt.get() + (n * c.G + g) * img;
        for (int64_t tp = 0; tp < taps; tp++) {
          const int64_t row = q0 + (tp / c.kw) * c.dh * gr.Wp + (tp % c.kw) * c.dw;
          for (int64_t j0 = 0; j0 < Cg; j0 += tile.nr) {
            const int64_t nw = std::min<int64_t>(tile.nr, Cg - j0), w = (nw + tile.vw - 1) / tile.vw * tile.vw;
            gemm_packed_a(Cog, nw, qn, pa.get(), xg + j0 * gr.plane + row * w, w, a + g * Cog * Kg + tp * Cg + j0, Kg,
                          true);
          }
        }
      }
    }
  });
  parallel_for(c.Co, 8, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++)
      for (int64_t tp = 0; tp < taps; tp++)
        for (int64_t ch = 0; ch < Cg; ch++) {
          float sum = 0.f;
          for (int64_t r = 0; r < sp.parts; r++) sum += acc[r * wsize + (m * taps + tp) * Cg + ch];
          GW[(m * Cg + ch) * taps + tp] = sum;
        }
  });
  return true;
}

// Few input channels (the first layer of an image model: 1-3 channels, 3×3): Kg = Cg·9 is far
// narrower than a micro-tile, so the GEMM above runs mostly empty and its transposes dominate.
// Here each gW entry is a dot product over the output positions of all images, vectorised
// along the output rows (16 lanes, both operands contiguous there: no transposes), 2 output channels × 9 taps of
// one input channel at a time in 18 vector accumulators, reduced once at the end. Threads split
// the output channels, so there is no reduction across threads. gOut is read in place; the
// input from its padded planes, where masked-off lanes multiply a 0 by real pixels: finite
// inputs only (the caller checks).
using v16 = float __attribute__((vector_size(64)));
// Over images n < N (padded plane x + n·xs, gOut rows g0 + n·gs and g1 + n·gs1, Ho × Wo) and
// their output rows, 16 columns at a time; a row's last partial vector is loaded ending at
// the row's end with its leading lanes' gOut selected to 0 (never reading past the row, and
// an infinite gOut there cannot leak in). Needs Wo >= 16 (the caller checks).
TF_CLONES void dot_taps9(int64_t N, const float* x, int64_t xs, const float* g0, const float* g1, int64_t gs,
                         int64_t gs1, int64_t Ho, int64_t Wo, int64_t Wp, const int64_t* off, float* s0, float* s1) {
  v16 a0[9], a1[9];
  for (int t = 0; t < 9; t++) a0[t] = a1[t] = v16{};
  const int64_t rem = Wo % 16;
  using i16 = int32_t __attribute__((vector_size(64)));
  const i16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const i16 keep = lane >= static_cast<int32_t>(16 - rem);
  auto step = [&](const float* xr, const float* r0, const float* r1, bool masked) {
    v16 u, w;
    std::memcpy(&u, r0, sizeof u);
    std::memcpy(&w, r1, sizeof w);
    if (masked) {
      u = keep ? u : v16{};
      w = keep ? w : v16{};
    }
    for (int t = 0; t < 9; t++) {
      v16 xv;
      std::memcpy(&xv, xr + off[t], sizeof xv);
      a0[t] += u * xv;
      a1[t] += w * xv;
    }
  };
  for (int64_t n = 0; n < N; n++, x += xs, g0 += gs, g1 += gs1)
    for (int64_t ho = 0; ho < Ho; ho++) {
      const float* r0 = g0 + ho * Wo;
      const float* r1 = g1 + ho * Wo;
      const float* xr = x + ho * Wp;
      int64_t wo = 0;
      for (; wo + 16 <= Wo; wo += 16) step(xr + wo, r0 + wo, r1 + wo, false);
      if (rem) step(xr + Wo - 16, r0 + Wo - 16, r1 + Wo - 16, true);
    }
  for (int t = 0; t < 9; t++) {
    float r0 = 0.f, r1 = 0.f;
    for (int l = 0; l < 16; l++) r0 += a0[t][l], r1 += a1[t][l];
    s0[t] = r0;
    s1[t] = r1;
  }
}

// Returns false (gW untouched) when the input is not all finite.
bool weight_grad_few_channels(const Conv& c, const float* X, const float* GO, float* GW) {
  const GemmTile tile = gemm_tile();
  const Grid gr(c);
  const int64_t Cg = c.Cg(), Cog = c.Cog(), taps = c.taps();
  Scratch<float> xp(static_cast<size_t>(c.N * c.C * gr.plane + gr.tail(tile)));
  bool finite = true;
  pad_planes(c, gr, X, xp.get(), &finite);
  if (!finite) return false;
  // The partner of an odd last output channel: a zero row.
  Scratch<float> zero(static_cast<size_t>(c.P()));
  std::fill(zero.get(), zero.get() + c.P(), 0.f);
  int64_t off[9];
  for (int64_t tp = 0; tp < 9; tp++) off[tp] = (tp / c.kw) * c.dh * gr.Wp + (tp % c.kw) * c.dw;
  const int64_t pairs = (Cog + 1) / 2;
  parallel_for(c.G * pairs, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t g = t / pairs, m0 = g * Cog + t % pairs * 2;
      const bool two = t % pairs * 2 + 1 < Cog;
      for (int64_t ch = 0; ch < Cg; ch++) {
        float s0[9], s1[9];
        const float* gr0 = GO + m0 * c.P();
        const float* gr1 = two ? gr0 + c.P() : zero.get();
        dot_taps9(c.N, xp.get() + (g * Cg + ch) * gr.plane, c.C * gr.plane, gr0, gr1, c.Co * c.P(), two ? c.Co * c.P() : 0,
                  c.Ho, c.Wo, gr.Wp, off, s0, s1);
        for (int64_t tp = 0; tp < taps; tp++) {
          GW[(m0 * Cg + ch) * taps + tp] = s0[tp];
          if (two) GW[((m0 + 1) * Cg + ch) * taps + tp] = s1[tp];
        }
      }
    }
  });
  return true;
}

void weight_grad_im2col(const Conv& c, const float* X, const float* GO, float* GW);

// views: input x [N, C, H, W], gOut [N, Co, Ho, Wo]; output gW [Co, C / G, kh, kw].
void conv2d_weight_grad_kernel(std::vector<View>& v, const Attrs& attrs) {
  const View &x = v[0], &gout = v[1], &gw = v[2];
  const Conv c = check_conv2d_weight_grad(v, attrs);
  const int64_t P = c.P(), Kg = c.Kg();
  const int64_t wsize = c.Co * Kg;
  if (wsize == 0) return;
  float* GW = gw.ptr<float>();
  if (c.N == 0) {
    std::fill(GW, GW + wsize, 0.f);
    return;
  }
  // The grid paths, chunk by chunk of images (the first chunk's sum goes straight to gW). The
  // pixel-major and few-channel sums need finite inputs and decline otherwise; the im2col
  // path (few channels) or the zeroed-row grid path (the rest) then takes that chunk.
  const bool stride1 = c.sh == 1 && c.sw == 1 && !c.pointwise();
  const bool few = stride1 && c.taps() == 9 && c.Cg() <= 4 && c.Wo >= 16;
  if (few || (stride1 && c.Cg() >= kGridMinChannels)) {
    const int64_t chunk = grid_chunk(c);
    Scratch<float> more(c.N > chunk ? static_cast<size_t>(wsize) : 0);  // later chunks' sums
    for (int64_t n0 = 0; n0 < c.N; n0 += chunk) {
      Conv cc = c;
      cc.N = std::min(chunk, c.N - n0);
      const float* xc = x.ptr<float>() + n0 * c.C * c.HW();
      const float* gc = gout.ptr<float>() + n0 * c.Co * P;
      float* dst = n0 == 0 ? GW : more.get();
      if (few) {
        if (!weight_grad_few_channels(cc, xc, gc, dst)) weight_grad_im2col(cc, xc, gc, dst);
      } else if (!(gemm_tile().direct_b && weight_grad_pixel_major(cc, xc, gc, dst))) {
        weight_grad_grid(cc, xc, gc, dst);
      }
      if (n0 > 0)
        for (int64_t i = 0; i < wsize; i++) GW[i] += dst[i];
    }
    return;
  }
  weight_grad_im2col(c, x.ptr<float>(), gout.ptr<float>(), GW);
}

// The blocked-im2col weight gradient (variant 2).
void weight_grad_im2col(const Conv& c, const float* X, const float* GO, float* GW) {
  const int64_t P = c.P(), Kg = c.Kg(), Cog = c.Cog();
  const int64_t wsize = c.Co * Kg;
  const bool direct = c.pointwise();
  const int64_t Pb = block_cols(Kg, P), blocks = (P + Pb - 1) / Pb;
  const int64_t tasks = c.N * c.G * blocks;
  // One copy of gW per thread (the output itself for the first), summed at the end: a
  // reduction over Co·Kg values per thread, small next to the GEMM work each one did.
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(num_threads(), tasks));
  const int64_t per = (tasks + parts - 1) / parts;
  Scratch<float> partial(static_cast<size_t>((parts - 1) * wsize));
  parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
    Scratch<float> col(direct ? 0 : static_cast<size_t>(Kg * Pb));
    for (int64_t q = q0; q < q1; q++) {
      float* acc = q == 0 ? GW : partial.get() + (q - 1) * wsize;
      std::fill(acc, acc + wsize, 0.f);
      for (int64_t t = q * per; t < std::min(tasks, (q + 1) * per); t++) {
        const int64_t n = t / (c.G * blocks), g = t / blocks % c.G, p0 = t % blocks * Pb, p1 = std::min(P, p0 + Pb);
        const float* xg = X + (n * c.C + g * c.Cg()) * c.HW();
        const float* B = xg + p0;  // colᵀ: element (p, k) at B[k * ldb + p]
        int64_t ldb = P;
        if (!direct) {
          im2col(c, xg, 0, c.Cg(), p0, p1, col.get());
          B = col.get(), ldb = p1 - p0;
        }
        gemm_f32(Cog, Kg, p1 - p0, GO + (n * c.Co + g * Cog) * P + p0, P, 1, B, 1, ldb, acc + g * Cog * Kg, Kg, true);
      }
    }
  });
  if (parts > 1)
    parallel_for(wsize, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t q = 1; q < parts; q++) {
        const float* src = partial.get() + (q - 1) * wsize;
        for (int64_t i = i0; i < i1; i++) GW[i] += src[i];
      }
    });
}
TF_REGISTER_KERNEL("conv2dWeightGrad", 2, 1, false, conv2d_weight_grad_kernel);

}  // namespace
}  // namespace tf
