// Fused scaled dot-product attention (flash-attention style), forward and backward.
//
//   attention[Masked]          q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (, mask [..., Tq, Tk])
//                              -> out [..., Tq, Dv], lse [..., Tq]
//   attentionBackward[Masked]  q, k, v (, mask), out, lse, dOut -> dq, dk, dv
// attrs: scale (number), causal (0 | 1; torch's top-left aligned tril, never with a mask).
// The mask is bool (false = may not attend) or float (added to the scores). Leading dims arrive
// already broadcast to one shape (stride 0 where a tensor repeats); every input may have any
// strides, outputs are contiguous.
//
// Forward: one task per (batch entry, block of kBlockQ queries). It walks key blocks of
// kBlockK keys, computes the score tile transposed, Sᵀ = K·(Q·scale)ᵀ (so K is read in place,
// with any strides, and only Qᵀ is packed, once per task, through W×W register transposes),
// masks it, and keeps a running max and sum per query (online softmax, vectorised across
// queries, several independent max chains), then O = alpha ∘ O + P·V with the rescale by alpha
// folded into the tile product's load of O; the Tq × Tk matrix never exists. Causal attention
// skips the key blocks above the diagonal, and on diagonal tiles each row group of the two
// products covers only the visible triangle (to vector granularity). It saves
// lse = max + log(sum) per row for the backward pass.
// Backward: one task per batch entry (no two threads write the same gradient): key blocks
// outer, query blocks inner; P is recomputed from Q, K and lse, then Di = rowsum(dO ∘ O),
// dP = dO·Vᵀ, dS = P ∘ (dP - Di), dQ += dS·K·scale, dK += dSᵀ·Q·scale, dV += Pᵀ·dO: five tile
// products per tile, each trimmed to the visible triangle on causal diagonal tiles.
// Both directions take tasks from a shared counter (TaskQueue), not a static split, so a
// thread that loses its core on a shared machine does not leave the other idle at the end, and
// prefetch the next key block's K and V rows while the current block is computed.
// Fully masked rows give output 0 and gradient 0 (as flash kernels do; the plain softmax
// formula would give NaN).
//
// Memory: forward scratch is O(block²) tiles per thread; backward adds O(T·D) per thread
// (Q·scale, dO and the dQ accumulator of one batch entry).
//
// Variants: attention_impl.h is compiled three times with GCC vector extensions: AVX-512
// (16-wide, 6×4-vector register tile), AVX2+FMA (8-wide, 6×2) and a baseline (4-wide SSE2 or
// NEON, 4×2), because one source then serves every ISA and the tile products' operands are
// already L1-resident tiles (the packed GEMM of matmul.cpp would re-pack them on every call).
// The choice follows the GEMM's (matmul_isa(), capped by TENSORFORGE_ISA). The exp is the
// shared one of simd_exp.h (vexp_nonpos: softmax arguments are <= 0).
// Measured (B8 H8 T256 D64, one thread, best of alternating runs against the previous version
// in one process on the shared 2-core machine, GFLOP/s as bench/run.ts counts them — causal
// counted as half the full work): forward 109–139 (was 100–121), causal 86–105 (was 76–89),
// backward 129–153 (was 121–148), causal 97–119 (was 84–105). The tile products run at
// roughly 80% of the FMA peak; the rest of the forward is the exp and the loads of Q, K and V.
// Two threads roughly double these only when the second core is free.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/memory.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "cpu/matmul.h"
#include "cpu/simd_exp.h"
#include "ops/attention.h"

namespace tf {
namespace {

constexpr int64_t kBlockQ = 64, kBlockK = 64;

enum class MaskKind { None, Bool, Float };

// One operand's matrices: batch entry b's matrix starts at base + off[b]; element (i, j) at
// i*rs + j*cs.
struct Operand {
  const float* base = nullptr;
  std::vector<int64_t> off;
  int64_t rs = 0, cs = 0;
  const float* at(int64_t b) const { return base + off[b]; }
};

struct AttnArgs {
  int64_t batch = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  float scale = 1;
  bool causal = false;
  Operand q, k, v, o, lse_in, dout;  // o, lse_in, dout: backward only
  MaskKind mask_kind = MaskKind::None;
  const void* mask = nullptr;
  std::vector<int64_t> mask_off;
  int64_t mask_rs = 0, mask_cs = 0;
  float *out = nullptr, *lse = nullptr;             // forward outputs
  float *dq = nullptr, *dk = nullptr, *dv = nullptr;  // backward outputs
};

// Tasks handed out one at a time from a shared counter rather than split evenly up front: on a
// machine shared with other processes a thread that loses its core for a while would otherwise
// leave the others idle at the end of the call.
struct TaskQueue {
  std::atomic<int64_t> next{0};
  int64_t count = 0;
  bool grab(int64_t& t) {
    t = next.fetch_add(1, std::memory_order_relaxed);
    return t < count;
  }
};

}  // namespace

#if defined(__x86_64__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,fma")
namespace attn_avx512 {
constexpr int W = 16, R = 6, NV = 4;
#include "cpu/attention_impl.h"
}  // namespace attn_avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace attn_avx2 {
constexpr int W = 8, R = 6, NV = 2;
#include "cpu/attention_impl.h"
}  // namespace attn_avx2
#pragma GCC pop_options
#define TF_ATTN_X86 1
#endif

namespace attn_base {
constexpr int W = 4, R = 4, NV = 2;
#include "cpu/attention_impl.h"
}  // namespace attn_base

namespace {

struct Variant {
  void (*forward)(const AttnArgs&, TaskQueue&);
  void (*backward)(const AttnArgs&, TaskQueue&);
};

const Variant& variant() {
  static const Variant v = [] {
#ifdef TF_ATTN_X86
    const std::string isa = matmul_isa();
    if (isa == "avx512") return Variant{attn_avx512::forward, attn_avx512::backward};
    if (isa == "avx2") return Variant{attn_avx2::forward, attn_avx2::backward};
#endif
    return Variant{attn_base::forward, attn_base::backward};
  }();
  return v;
}

Operand operand(const View& v, int nlead, int64_t batch) {
  Operand o;
  o.base = v.ptr<float>();
  o.off = attention_batch_offsets(v, nlead, batch);
  o.rs = v.strides[nlead];
  o.cs = v.ndim > nlead + 1 ? v.strides[nlead + 1] : 0;
  return o;
}

// Validates every view and attr (native/ops/attention.cpp, shared with the CUDA kernels), and
// gathers the arguments both directions share.
AttnArgs parse(std::vector<View>& views, const Attrs& attrs, bool masked, bool backward) {
  const AttentionArgs a = check_attention(views, attrs, masked, backward);
  const int nlead = a.nlead;
  AttnArgs p;
  p.batch = a.batch, p.Tq = a.Tq, p.Tk = a.Tk, p.D = a.D, p.Dv = a.Dv;
  p.scale = a.scale;
  p.causal = a.causal;
  if (masked) {
    const View& m = views[a.mask];
    p.mask_kind = a.mask_kind == AttnMaskKind::Bool ? MaskKind::Bool : MaskKind::Float;
    p.mask = m.data;
    p.mask_off = attention_batch_offsets(m, nlead, p.batch);
    p.mask_rs = m.strides[nlead];
    p.mask_cs = m.strides[nlead + 1];
  }
  p.q = operand(views[0], nlead, p.batch);
  p.k = operand(views[1], nlead, p.batch);
  p.v = operand(views[2], nlead, p.batch);
  if (!backward) {
    p.out = views[a.out].ptr<float>();
    p.lse = views[a.lse].ptr<float>();
  } else {
    p.o = operand(views[a.out], nlead, p.batch);
    p.lse_in = operand(views[a.lse], nlead, p.batch);
    p.dout = operand(views[a.dout], nlead, p.batch);
    p.dq = views[a.dq].ptr<float>();
    p.dk = views[a.dk].ptr<float>();
    p.dv = views[a.dv].ptr<float>();
  }
  return p;
}

void forward_kernel(std::vector<View>& views, const Attrs& attrs, bool masked) {
  const AttnArgs p = parse(views, attrs, masked, false);
  TaskQueue tasks;
  tasks.count = p.batch * ((p.Tq + kBlockQ - 1) / kBlockQ);
  const auto fn = variant().forward;
  parallel_for(std::min<int64_t>(tasks.count, num_threads()), 1, [&](int64_t, int64_t) { fn(p, tasks); });
}

void backward_kernel(std::vector<View>& views, const Attrs& attrs, bool masked) {
  const AttnArgs p = parse(views, attrs, masked, true);
  if (p.Tq == 0 || p.Tk == 0) {  // no scores: every gradient is 0
    std::fill(p.dq, p.dq + p.batch * p.Tq * p.D, 0.f);
    std::fill(p.dk, p.dk + p.batch * p.Tk * p.D, 0.f);
    std::fill(p.dv, p.dv + p.batch * p.Tk * p.Dv, 0.f);
    return;
  }
  TaskQueue tasks;
  tasks.count = p.batch;
  const auto fn = variant().backward;
  parallel_for(std::min<int64_t>(tasks.count, num_threads()), 1, [&](int64_t, int64_t) { fn(p, tasks); });
}

TF_REGISTER_KERNEL("attention", 3, 2, false, [](std::vector<View>& v, const Attrs& a) { forward_kernel(v, a, false); });
TF_REGISTER_KERNEL("attentionMasked", 4, 2, false,
                   [](std::vector<View>& v, const Attrs& a) { forward_kernel(v, a, true); });
TF_REGISTER_KERNEL("attentionBackward", 6, 3, false,
                   [](std::vector<View>& v, const Attrs& a) { backward_kernel(v, a, false); });
TF_REGISTER_KERNEL("attentionBackwardMasked", 7, 3, false,
                   [](std::vector<View>& v, const Attrs& a) { backward_kernel(v, a, true); });

}  // namespace
}  // namespace tf
