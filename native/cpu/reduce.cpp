// Reductions: sum, prod, max, min, argmax, argmin.
// The TS layer permutes the reduced dims to the end, so the kernel sees [kept..., reduced...]
// and writes one value per kept index into a contiguous output. Many outputs are split across
// threads; few outputs with long reductions split each reduction and merge partials in a fixed
// order, so results do not depend on timing. Float sums accumulate in double for accuracy.
#include <cmath>
#include <limits>

#include "core/registry.h"
#include "core/strided.h"
#include "core/threadpool.h"
#include "ops/reduce.h"

namespace tf {
namespace {

// A sub-space of dims (coalesced) that we enumerate by flat position.
struct Space {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
  int64_t size = 1;

  Space(const View& v, int begin, int end) {
    for (int d = begin; d < end; d++) {
      size *= v.shape[d];
      if (v.shape[d] == 1) continue;
      if (nd > 0 && strides[nd - 1] == v.strides[d] * v.shape[d]) {
        shape[nd - 1] *= v.shape[d];
        strides[nd - 1] = v.strides[d];
        continue;
      }
      shape[nd] = v.shape[d];
      strides[nd] = v.strides[d];
      nd++;
    }
    if (nd == 0) {
      shape[0] = 1;
      strides[0] = 0;
      nd = 1;
    }
  }
  int64_t inner() const { return shape[nd - 1]; }
  int64_t offset_of(int64_t pos) const {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0 && pos; d--) {
      off += (pos % shape[d]) * strides[d];
      pos /= shape[d];
    }
    return off;
  }
  // f(offset, n, stride, flat position of the run's first element) for each run in [b, e)
  template <class F>
  void walk(int64_t b, int64_t e, F&& f) const {
    const int64_t in = inner(), st = strides[nd - 1];
    for (int64_t pos = b; pos < e;) {
      int64_t col = pos % in, n = std::min(in - col, e - pos);
      f(offset_of(pos - col) + col * st, n, st, pos);
      pos += n;
    }
  }
};

// Independent lanes let the compiler vectorise a double-precision sum without reassociating.
template <class T, class Acc>
TF_CLONES Acc sum_contiguous(const T* p, int64_t n) {
  constexpr int L = 16;
  Acc lanes[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; l++) lanes[l] += static_cast<Acc>(p[i + l]);
  Acc s = 0;
  for (; i < n; i++) s += p[i];
  for (int l = 0; l < L; l++) s += lanes[l];
  return s;
}

template <class T>
struct Sum {
  using Acc = typename std::conditional<std::is_floating_point<T>::value, double, int64_t>::type;
  using Out = T;
  Acc v = 0;
  void add(T x, int64_t) { v += x; }
  void run(const T* p, int64_t n, int64_t st, int64_t) {
    if (st == 1) {
      v += sum_contiguous<T, Acc>(p, n);
      return;
    }
    Acc s = 0;
    for (int64_t i = 0; i < n; i++) s += p[i * st];
    v += s;
  }
  void merge(const Sum& o) { v += o.v; }
  Out result() const { return static_cast<Out>(v); }
};

template <class T>
struct Prod {
  using Out = T;
  double v = 1;
  void add(T x, int64_t) { v *= x; }
  void run(const T* p, int64_t n, int64_t st, int64_t) {
    for (int64_t i = 0; i < n; i++) v *= p[i * st];
  }
  void merge(const Prod& o) { v *= o.v; }
  Out result() const {
    if constexpr (std::is_integral<T>::value) return static_cast<Out>(static_cast<int64_t>(v));
    return static_cast<Out>(v);
  }
};

template <class T> bool is_nan(T x) { return x != x; }

// Extremes keep the first position of the winner; NaN beats everything, like torch.
template <class T, bool Max, bool Arg>
struct Extreme {
  using Out = typename std::conditional<Arg, int32_t, T>::type;
  T v{};
  int64_t at = -1;
  bool better(T x) const {
    if (at < 0) return true;
    if (is_nan(v)) return false;
    if (is_nan(x)) return true;
    return Max ? x > v : x < v;
  }
  void add(T x, int64_t pos) {
    if (better(x)) {
      v = x;
      at = pos;
    }
  }
  void run(const T* p, int64_t n, int64_t st, int64_t pos) {
    for (int64_t i = 0; i < n; i++) add(p[i * st], pos + i);
  }
  void merge(const Extreme& o) {  // o covers later positions
    if (o.at >= 0 && better(o.v)) {
      v = o.v;
      at = o.at;
    }
  }
  Out result() const {
    if constexpr (Arg) return static_cast<int32_t>(at);
    return v;
  }
};

template <class T, class Acc>
void reduce_typed(const View& x, const View& out, int kept) {
  const Space outer(x, 0, kept), red(x, kept, x.ndim);
  const T* src = x.ptr<T>();
  auto* dst = out.ptr<typename Acc::Out>();
  const int64_t n_out = outer.size, n_red = red.size;
  const int threads = num_threads();
  if (outer.nd == 1 && outer.strides[0] == 1 && red.strides[red.nd - 1] != 1 && n_out > 1) {
    // Reducing over leading dims of a row-major tensor (e.g. sum over the batch): walk the
    // input row by row, updating a contiguous strip of accumulators, instead of striding
    // down each column.
    parallel_for(n_out, 256, [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(e - b);
      red.walk(0, n_red, [&](int64_t off, int64_t n, int64_t st, int64_t pos) {
        for (int64_t i = 0; i < n; i++) {
          const T* row = src + off + i * st + b;
          for (int64_t j = 0; j < e - b; j++) acc[j].add(row[j], pos + i);
        }
      });
      for (int64_t j = b; j < e; j++) dst[j] = acc[j - b].result();
    });
    return;
  }
  if (n_out >= 2 * threads || n_red < 65536) {
    parallel_for(n_out, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, n_red)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; o++) {
        const T* base = src + outer.offset_of(o);
        Acc acc;
        red.walk(0, n_red, [&](int64_t off, int64_t n, int64_t st, int64_t pos) { acc.run(base + off, n, st, pos); });
        dst[o] = acc.result();
      }
    });
    return;
  }
  for (int64_t o = 0; o < n_out; o++) {  // few long reductions: split each one
    const T* base = src + outer.offset_of(o);
    const int64_t chunks = threads, per = (n_red + chunks - 1) / chunks;
    std::vector<Acc> partial(chunks);
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; c++)
        red.walk(c * per, std::min(n_red, (c + 1) * per),
                 [&](int64_t off, int64_t n, int64_t st, int64_t pos) { partial[c].run(base + off, n, st, pos); });
    });
    Acc acc = partial[0];
    for (int64_t c = 1; c < chunks; c++) acc.merge(partial[c]);
    dst[o] = acc.result();
  }
}

template <class T>
void reduce_dispatch(ReduceOp op, const View& x, const View& out, int kept) {
  switch (op) {
    case ReduceOp::Sum: return reduce_typed<T, Sum<T>>(x, out, kept);
    case ReduceOp::Prod: return reduce_typed<T, Prod<T>>(x, out, kept);
    case ReduceOp::Max: return reduce_typed<T, Extreme<T, true, false>>(x, out, kept);
    case ReduceOp::Min: return reduce_typed<T, Extreme<T, false, false>>(x, out, kept);
    case ReduceOp::ArgMax: return reduce_typed<T, Extreme<T, true, true>>(x, out, kept);
    case ReduceOp::ArgMin: return reduce_typed<T, Extreme<T, false, true>>(x, out, kept);
  }
}

void reduce_kernel(std::vector<View>& v, const Attrs& a) {
  const ReduceArgs r = check_reduce(v, a);
  if (v[0].dtype == DType::Float32) return reduce_dispatch<float>(r.op, v[0], v[1], r.kept);
  return reduce_dispatch<int32_t>(r.op, v[0], v[1], r.kept);
}
TF_REGISTER_KERNEL("reduce", 1, 1, false, reduce_kernel);

}  // namespace
}  // namespace tf
