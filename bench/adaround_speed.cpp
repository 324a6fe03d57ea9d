// Time of learned rounding (core/adaround.h) on one synthetic layer the size of MobileNetV1 0.75's
// largest pointwise layers (768 filters of 768 inputs, 4-bit grids, correlated inputs), and its
// objective against round-to-nearest: what AdaRound's share of a w4a8 compress costs per step.
//   adaround_speed [--filters F] [--inputs K] [--iterations T] [--threads N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "bench/bench_args.h"
#include "core/matrix_blocking.h"
#include "core/adaround.h"
#include "core/thread_pool.h"

namespace {

constexpr const char* usage = "usage: adaround_speed [--filters F] [--inputs K] [--iterations T] [--threads N]";

// A 32-bit LCG (the same numbers everywhere), values in [-0.5, 0.5).
struct Lcg {
  uint32_t state = 12345;
  double next() { return static_cast<double>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0 - 0.5; }
};

double objective(const std::vector<double>& q, const std::vector<double>& w, const std::vector<double>& h, int64_t rows, int64_t k) {
  double total = 0;
  std::vector<double> d(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < k; ++i) d[static_cast<size_t>(i)] = q[static_cast<size_t>(r * k + i)] - w[static_cast<size_t>(r * k + i)];
    for (int64_t i = 0; i < k; ++i) {
      double hd = 0;
      for (int64_t j = 0; j < k; ++j) hd += h[static_cast<size_t>(i * k + j)] * d[static_cast<size_t>(j)];
      total += d[static_cast<size_t>(i)] * hd;
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  mc::fix_matrix_blocking();  // the same sums as mcompress
  try {
    int64_t filters = 768, inputs = 768;
    int iterations = 1000, threads = 1;
    mc::bench::Args args(argc, argv, usage);
    while (args.next()) {
      if (args.flag() == "--filters") filters = static_cast<int64_t>(mc::bench::parse_number("--filters", args.value(), 1, 65536, true));
      else if (args.flag() == "--inputs") inputs = static_cast<int64_t>(mc::bench::parse_number("--inputs", args.value(), 1, 8192, true));
      else if (args.flag() == "--iterations") iterations = static_cast<int>(mc::bench::parse_number("--iterations", args.value(), 1, 100000, true));
      else if (args.flag() == "--threads") threads = static_cast<int>(mc::bench::parse_number("--threads", args.value(), 1, 256, true));
      else args.unknown();
    }
    Lcg lcg;
    // H = A A^T / r + 0.1 I with A K x r: inputs correlated through r = K / 4 factors.
    const int64_t r = std::max<int64_t>(1, inputs / 4);
    std::vector<double> a(static_cast<size_t>(inputs * r)), h(static_cast<size_t>(inputs * inputs), 0.0);
    for (auto& v : a) v = lcg.next();
    for (int64_t i = 0; i < inputs; ++i)
      for (int64_t j = 0; j < inputs; ++j) {
        double s = 0;
        for (int64_t t = 0; t < r; ++t) s += a[static_cast<size_t>(i * r + t)] * a[static_cast<size_t>(j * r + t)];
        h[static_cast<size_t>(i * inputs + j)] = s / static_cast<double>(r) + (i == j ? 0.1 : 0.0);
      }
    std::vector<double> w(static_cast<size_t>(filters * inputs));
    for (auto& v : w) v = lcg.next();
    std::vector<mc::LevelSet> levels(static_cast<size_t>(filters));
    for (auto& ls : levels)
      for (int q = -7; q <= 7; ++q) ls.levels.push_back(q * (1.0 / 14)), ls.codes.push_back(q);
    std::unique_ptr<mc::ThreadPool> pool = threads > 1 ? std::make_unique<mc::ThreadPool>(threads) : nullptr;
    mc::AdaRoundOptions o;
    o.iterations = iterations;
    const auto start = std::chrono::steady_clock::now();
    const mc::GptqResult learned = mc::adaround_quantize(w, filters, inputs, h, levels, {}, o, pool.get());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const mc::GptqResult nearest = mc::nearest_quantize(w, filters, inputs, levels);
    std::printf("{\"filters\": %lld, \"inputs\": %lld, \"iterations\": %d, \"threads\": %d, \"seconds\": %.3f, \"ms_per_step\": %.3f, "
                "\"objective_nearest\": %.6g, \"objective_learned\": %.6g}\n",
                static_cast<long long>(filters), static_cast<long long>(inputs), iterations, threads, seconds, 1000 * seconds / iterations,
                objective(nearest.values, w, h, filters, inputs), objective(learned.values, w, h, filters, inputs));
    return 0;
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "adaround_speed: %s\n", e.what());
    return e.exit_code();
  }
}
