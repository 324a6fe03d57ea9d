// executor_throughput: images per second of mc::Executor on one float32 NCHW input batch.
//
//   executor_throughput MODEL.onnx|MODEL.mcz INPUT.npy [--threads T] [--batch B] [--seconds S] [--json]
//
// The measurement matches bench/ort_throughput.js line for line (2 warm-up runs, then at least S seconds
// and at least 5 timed runs; images/second is the median of batch/run_time, ms_per_batch the mean),
// so bench/executor_vs_ort.sh can put the two side by side as a ratio.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "core/matrix_blocking.h"
#include "core/error.h"
#include "core/executor.h"
#include "formats/npy.h"
#include "formats/model_file.h"

namespace {

constexpr const char* usage =
    "usage: executor_throughput MODEL.onnx INPUT.npy [--threads T] [--batch B] [--seconds S] [--json]";
constexpr int warmup_runs = 2;
constexpr int min_timed_runs = 5;

struct Options {
  std::string model_path, input_path;
  int threads = 1;
  int64_t batch = 0;  // 0: the batch of the .npy file
  double seconds = 5.0;
  bool json = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  mc::bench::Args args(argc, argv, usage);
  while (args.next()) {
    const std::string& a = args.flag();
    auto value = [&] { return args.value(); };
    if (a == "--threads") {
      o.threads = static_cast<int>(mc::bench::parse_number(a, value(), 1, 1024, true));
    } else if (a == "--batch") {
      o.batch = static_cast<int64_t>(mc::bench::parse_number(a, value(), 1, 4096, true));
    } else if (a == "--seconds") {
      o.seconds = mc::bench::parse_number(a, value(), 0, 3600, false);
    } else if (a == "--json") {
      o.json = true;
    } else if (args.is_flag()) {
      args.unknown();
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) mc::fail_usage(usage);
  o.model_path = positional[0];
  o.input_path = positional[1];
  return o;
}

// The first `batch` images of `images`, repeating them cyclically when the file holds fewer.
mc::Tensor images_as_batch(const mc::Tensor& images, int64_t batch, const std::string& path) {
  if (images.dtype() != mc::DType::f32 || images.rank() != 4)
    mc::fail_input(path + ": expected a float32 NCHW tensor, got " + mc::dtype_name(images.dtype()) + " " +
                   mc::shape_str(images.shape()));
  const int64_t have = images.dim(0);
  if (have <= 0) mc::fail_input(path + ": the tensor holds no images");
  if (batch == have) return images;
  mc::Shape shape = images.shape();
  shape[0] = batch;
  mc::Tensor out(mc::DType::f32, shape);
  const size_t image_bytes = images.byte_size() / static_cast<size_t>(have);
  const auto* src = static_cast<const std::byte*>(images.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t i = 0; i < batch; ++i)
    std::memcpy(dst + static_cast<size_t>(i) * image_bytes, src + static_cast<size_t>(i % have) * image_bytes,
                image_bytes);
  return out;
}

int run(const Options& o) {
  mc::Model model = mc::load_model(o.model_path);  // .onnx, or a .mcz as `mcompress eval` runs it
  mc::Tensor images = mc::read_npy(o.input_path);
  const int64_t batch = o.batch > 0 ? o.batch : (images.rank() > 0 ? images.dim(0) : 0);
  std::vector<mc::Tensor> inputs;
  inputs.push_back(images_as_batch(images, batch, o.input_path));

  mc::Executor executor(model, mc::ExecutorOptions{o.threads, true});
  for (int i = 0; i < warmup_runs; ++i) executor.run(inputs);

  using clock = std::chrono::steady_clock;
  std::vector<double> run_seconds;
  const auto start = clock::now();
  for (;;) {
    const auto t0 = clock::now();
    executor.run(inputs);
    const auto t1 = clock::now();
    run_seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    const double elapsed = std::chrono::duration<double>(t1 - start).count();
    if (elapsed >= o.seconds && static_cast<int>(run_seconds.size()) >= min_timed_runs) break;
  }

  std::vector<double> rates;
  double total = 0;
  for (double s : run_seconds) {
    rates.push_back(static_cast<double>(batch) / s);
    total += s;
  }
  // Median of an even count: mean of the two middle values (as in ort_throughput.js).
  std::sort(rates.begin(), rates.end());
  const size_t n = rates.size();
  const double images_per_second = n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
  const double ms_per_batch = 1000.0 * total / static_cast<double>(n);

  if (o.json) {
    std::printf("{\"images_per_second\":%.3f,\"ms_per_batch\":%.3f,\"threads\":%d,\"batch\":%lld}\n",
                images_per_second, ms_per_batch, o.threads, static_cast<long long>(batch));
  } else {
    std::printf("%s: %.1f images/s, %.2f ms per batch (threads %d, batch %lld, %zu runs)\n", o.model_path.c_str(),
                images_per_second, ms_per_batch, o.threads, static_cast<long long>(batch), n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mc::fix_matrix_blocking();  // the same sums as mcompress
  try {
    return run(parse_args(argc, argv));
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "executor_throughput: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "executor_throughput: error: %s\n", e.what());
    return 1;
  }
}
