#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace tf {
namespace {

class Pool {
 public:
  Pool() { target_ = default_threads(); }
  ~Pool() { stop(); }

  static int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

  int size() const { return target_; }

  void resize(int n) {
    std::lock_guard<std::mutex> job(job_mutex_);
    stop();
    target_ = n > 0 ? n : default_threads();
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    int64_t chunks = std::min<int64_t>(target_, std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
    std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
    if (chunks <= 1 || !job.owns_lock()) {
      fn(0, n);
      return;
    }
    start_workers();
    int64_t per = (n + chunks - 1) / chunks;
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_ = n;
      per_ = per;
      chunks_ = chunks;
      next_.store(1);
      pending_ = chunks - 1;
      generation_++;
    }
    cv_.notify_all();
    // The caller does chunk 0 and then helps with any left.
    fn(0, std::min(per, n));
    work();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= chunks_) return;
      int64_t b = c * per_, e = std::min(n_, b + per_);
      if (b < e) (*fn_)(b, e);
      std::lock_guard<std::mutex> lk(m_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  void start_workers() {
    if (!workers_.empty()) return;
    quit_ = false;
    for (int i = 1; i < target_; i++)
      workers_.emplace_back([this] {
        uint64_t seen = 0;
        for (;;) {
          {
            std::unique_lock<std::mutex> lk(m_);
            cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
            if (quit_) return;
            seen = generation_;
          }
          work();
        }
      });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int target_ = 1;
  std::mutex job_mutex_;  // one job at a time
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, per_ = 0, chunks_ = 0, pending_ = 0;
  std::atomic<int64_t> next_{0};
  uint64_t generation_ = 0;
  bool quit_ = false;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers may outlive static teardown order
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  pool().run(n, grain, fn);
}

}  // namespace tf
