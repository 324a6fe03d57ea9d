// entropy_coding: the static rANS coder (formats/rans.h) against the order-0 entropy bound and against
// zstd -19 on real quantized weights, plus synthetic streams for comparison across machines.
//
//   entropy_coding [--runs R] [MODELS_DIR_OR_ONNX...]   (default ../shared/models, relative to the repo root)
//
// For every model: every float initializer with >= 1024 elements used as a weight by Conv, Gemm or
// MatMul, quantized here by plain rounding per output channel:
//   int8:    q = round(w / s), s = max|w| / 127, symbol = q + 128
//   ternary: t = sign(w) where |w| > 0.7 * mean|w| (TWN's threshold), else 0; symbol = t + 1
// Each is coded two ways: all tensors concatenated into one stream ("concat"), and one stream per
// tensor with sizes and times summed ("per tensor"). Columns: order-0 bound, rANS and zstd -19 in bits
// per weight; decoding speed in MB/s of symbols (one byte each), best of R runs (default 5; raise it on
// a loaded machine, where single runs get descheduled), single thread.
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "formats/onnx_model.h"
#include "formats/rans.h"

namespace {

using Symbols = std::vector<uint8_t>;
int timing_runs = 5;
constexpr int zstd_level = 19;
constexpr int64_t min_weight_elements = 1024;

struct WeightTensor {
  std::string name;
  std::vector<float> values;
  int64_t channels = 1;  // output channels
  int64_t inner = 1;     // elements after the channel axis (channel of element i: (i / inner) % channels)
};

// The output-channel axis of a weight: Conv [Cout, Cin/g, kh, kw] -> 0; Gemm B -> 0 if transB else 1;
// Gemm A -> 1 if transA else 0; MatMul B [.., K, N] -> last, MatMul A [M, K] -> 0.
size_t output_channel_axis(const mc::Node& node, size_t input, size_t rank) {
  if (node.op == "Conv") return 0;
  if (node.op == "Gemm")
    return input == 1 ? (node.attr_int("transB", 0) != 0 ? 0 : 1) : (node.attr_int("transA", 0) != 0 ? 1 : 0);
  return input == 1 ? rank - 1 : 0;
}

std::vector<WeightTensor> weight_tensors(const mc::Model& model) {
  std::vector<WeightTensor> out;
  std::set<std::string> seen;
  for (const mc::Node& node : model.graph.nodes) {
    if (node.op != "Conv" && node.op != "Gemm" && node.op != "MatMul") continue;
    const size_t inputs = node.op == "Conv" ? 2 : std::min<size_t>(node.inputs.size(), 2);
    for (size_t i = node.op == "Conv" ? 1 : 0; i < inputs && i < node.inputs.size(); ++i) {
      const mc::Tensor* t = model.graph.initializer(node.inputs[i]);
      if (t == nullptr || t->dtype() != mc::DType::f32 || t->numel() < min_weight_elements || t->rank() < 2) continue;
      if (!seen.insert(node.inputs[i]).second) continue;
      WeightTensor w;
      w.name = node.inputs[i];
      w.values.assign(t->span<float>().begin(), t->span<float>().end());
      const size_t axis = output_channel_axis(node, i, t->rank());
      w.channels = t->dim(axis);
      for (size_t d = axis + 1; d < t->rank(); ++d) w.inner *= t->dim(d);
      out.push_back(std::move(w));
    }
  }
  return out;
}

size_t channel_of(const WeightTensor& w, size_t i) {
  return (i / static_cast<size_t>(w.inner)) % static_cast<size_t>(w.channels);
}

// A reduction over the elements of each output channel.
template <typename F> std::vector<double> per_channel(const WeightTensor& w, F reduce) {
  std::vector<double> acc(static_cast<size_t>(w.channels), 0.0);
  for (size_t i = 0; i < w.values.size(); ++i) {
    double& a = acc[channel_of(w, i)];
    a = reduce(a, static_cast<double>(w.values[i]));
  }
  return acc;
}

Symbols quantize_int8(const WeightTensor& w) {
  const std::vector<double> max_abs = per_channel(w, [](double a, double v) { return std::max(a, std::fabs(v)); });
  Symbols out(w.values.size());
  for (size_t i = 0; i < w.values.size(); ++i) {
    const double scale = max_abs[channel_of(w, i)] / 127;
    const long q = scale > 0 ? std::clamp(std::lround(w.values[i] / scale), -127L, 127L) : 0;
    out[i] = static_cast<uint8_t>(q + 128);
  }
  return out;
}

Symbols quantize_ternary(const WeightTensor& w) {
  std::vector<double> threshold = per_channel(w, [](double a, double v) { return a + std::fabs(v); });
  const double per_channel_count = static_cast<double>(w.values.size()) / static_cast<double>(w.channels);
  for (double& t : threshold) t = 0.7 * t / per_channel_count;
  Symbols out(w.values.size());
  for (size_t i = 0; i < w.values.size(); ++i) {
    const double d = threshold[channel_of(w, i)];
    out[i] = static_cast<uint8_t>(w.values[i] > d ? 2 : (w.values[i] < -d ? 0 : 1));
  }
  return out;
}

double best_seconds(const std::function<void()>& run) {
  double best = HUGE_VAL;
  for (int r = 0; r < timing_runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

std::vector<uint8_t> zstd_compress(const Symbols& symbols) {
  std::vector<uint8_t> out(ZSTD_compressBound(symbols.size()));
  const size_t size = ZSTD_compress(out.data(), out.size(), symbols.data(), symbols.size(), zstd_level);
  if (ZSTD_isError(size)) mc::fail_internal(std::string("ZSTD_compress: ") + ZSTD_getErrorName(size));
  out.resize(size);
  return out;
}

// Sizes and decoding times of a set of streams (one for "concat", one per tensor otherwise).
struct Measurement {
  uint64_t symbols = 0;
  double bound_bits = 0;
  uint64_t rans_bytes = 0;
  uint64_t zstd_bytes = 0;
  double rans_seconds = 0;
  double zstd_seconds = 0;
};

Measurement measure(const std::vector<Symbols>& streams) {
  Measurement m;
  std::vector<std::vector<std::byte>> rans(streams.size());
  std::vector<std::vector<uint8_t>> zstd(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    m.symbols += streams[i].size();
    m.bound_bits += mc::order0_entropy_bits(streams[i]);
    rans[i] = mc::rans_encode(streams[i]);
    zstd[i] = zstd_compress(streams[i]);
    m.rans_bytes += rans[i].size();
    m.zstd_bytes += zstd[i].size();
    if (mc::rans_decode(rans[i], streams[i].size()) != streams[i]) mc::fail_internal("rANS round trip failed");
  }
  // Both decoders allocate their output inside the timed region.
  size_t checksum = 0;
  m.rans_seconds = best_seconds([&] {
    for (size_t i = 0; i < streams.size(); ++i) checksum += mc::rans_decode(rans[i], streams[i].size()).back();
  });
  m.zstd_seconds = best_seconds([&] {
    for (size_t i = 0; i < streams.size(); ++i) {
      std::unique_ptr<uint8_t[]> out(new uint8_t[streams[i].size()]);
      const size_t size = ZSTD_decompress(out.get(), streams[i].size(), zstd[i].data(), zstd[i].size());
      if (ZSTD_isError(size) || size != streams[i].size()) mc::fail_internal("ZSTD_decompress failed");
      checksum += out[size - 1];
    }
  });
  if (checksum == 1) std::fprintf(stderr, " ");  // keeps the decodes from being optimized away
  return m;
}

void print_header() {
  std::printf("| model | quant | streams | weights | order-0 bits/w | rANS bits/w | rANS over bound | zstd-19 bits/w "
              "| rANS/zstd size | rANS dec MB/s | zstd dec MB/s |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

void print_row(const std::string& model, const std::string& quant, const std::string& streams, const Measurement& m) {
  const double n = static_cast<double>(m.symbols);
  const double rans_bits = 8.0 * static_cast<double>(m.rans_bytes);
  const double zstd_bits = 8.0 * static_cast<double>(m.zstd_bytes);
  std::printf("| %s | %s | %s | %llu | %.4f | %.4f | %+.2f%% | %.4f | %.3f | %.0f | %.0f |\n", model.c_str(),
              quant.c_str(), streams.c_str(), static_cast<unsigned long long>(m.symbols), m.bound_bits / n,
              rans_bits / n, 100 * (rans_bits / m.bound_bits - 1), zstd_bits / n, rans_bits / zstd_bits,
              n / m.rans_seconds / 1e6, n / m.zstd_seconds / 1e6);
  std::fflush(stdout);
}

Symbols synthetic_laplacian_int8(size_t n, double scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> magnitude(1.0 / scale);
  std::bernoulli_distribution negative(0.5);
  Symbols out(n);
  for (auto& s : out)
    s = static_cast<uint8_t>(std::clamp(std::lround(magnitude(rng) * (negative(rng) ? -1 : 1)), -127L, 127L) + 128);
  return out;
}

Symbols synthetic_ternary(size_t n, double p_zero, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Symbols out(n);
  for (auto& s : out) {
    const double a = u(rng);
    s = a < p_zero ? 1 : (a < p_zero + (1 - p_zero) / 2 ? 0 : 2);
  }
  return out;
}

Symbols synthetic_uniform(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Symbols out(n);
  for (auto& s : out) s = static_cast<uint8_t>(rng() & 0xff);
  return out;
}

std::vector<std::string> model_paths(const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  for (const std::string& arg : args) {
    if (std::filesystem::is_directory(arg)) {
      std::vector<std::string> found;
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.path().extension() == ".onnx") found.push_back(entry.path().string());
      std::sort(found.begin(), found.end());
      if (found.empty()) mc::fail_input(arg + ": no .onnx files");
      paths.insert(paths.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(arg)) {
      paths.push_back(arg);
    } else {
      mc::fail_input(arg + ": no such file or directory");
    }
  }
  return paths;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five;
  if (!(in >> one >> five)) return "unknown";
  return one + " " + five;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::printf("usage: entropy_coding [--runs R] [MODELS_DIR_OR_ONNX...]   (default ../shared/models)\n");
        return 0;
      }
      if (a == "--runs") {
        if (i + 1 >= argc) mc::fail_usage("--runs needs a value");
        const std::string value = argv[++i];
        char* end = nullptr;
        const long runs = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end != '\0' || runs < 1 || runs > 10000)
          mc::fail_usage("--runs: expected an integer in 1..10000, got '" + value + "'");
        timing_runs = static_cast<int>(runs);
        continue;
      }
      args.push_back(a);
    }
    if (args.empty()) {
      // Relative to the repo root when run from there, else next to the source tree it was built from.
      const std::string relative = "../shared/models";
      args.push_back(std::filesystem::exists(relative) ? relative : std::string(MCOMPRESS_SOURCE_DIR) + "/" + relative);
    }
    const std::vector<std::string> paths = model_paths(args);

    std::printf("entropy_coding: static rANS vs order-0 bound vs zstd -%d (libzstd %s); decode speed best of %d, "
                "1 thread; load average at start %s\n\n",
                zstd_level, ZSTD_versionString(), timing_runs, load_average().c_str());
    print_header();
    for (const std::string& path : paths) {
      const mc::Model model = mc::load_onnx(path);
      const std::vector<WeightTensor> weights = weight_tensors(model);
      const std::string name = std::filesystem::path(path).stem().string();
      if (weights.empty()) {
        std::fprintf(stderr, "entropy_coding: %s: no Conv/Gemm/MatMul weights with >= %lld elements\n", path.c_str(),
                     static_cast<long long>(min_weight_elements));
        continue;
      }
      for (const bool ternary : {false, true}) {
        std::vector<Symbols> per_tensor;
        for (const WeightTensor& w : weights) per_tensor.push_back(ternary ? quantize_ternary(w) : quantize_int8(w));
        Symbols concatenated;
        for (const Symbols& s : per_tensor) concatenated.insert(concatenated.end(), s.begin(), s.end());
        const std::string quant = ternary ? "ternary" : "int8";
        print_row(name, quant, "1 (concat)", measure({concatenated}));
        print_row(name, quant, std::to_string(per_tensor.size()) + " (per tensor)", measure(per_tensor));
      }
    }
    const size_t n = 1000000;
    print_row("synthetic", "int8 Laplacian b=8", "1", measure({synthetic_laplacian_int8(n, 8, 1)}));
    print_row("synthetic", "ternary 80% zeros", "1", measure({synthetic_ternary(n, 0.8, 2)}));
    print_row("synthetic", "uniform 8-bit", "1", measure({synthetic_uniform(n, 3)}));
    std::printf("\nload average at end %s\n", load_average().c_str());
    return 0;
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "entropy_coding: error: %s\n", e.what());
    return e.exit_code();
  }
}
