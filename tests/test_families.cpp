// The architecture families mcompress reads, as tiny random-weight classifiers built in code
// (tests/model_builder.h: MobileNetV3, EfficientNet, ResNet, SqueezeNet, ShuffleNetV1, GhostNet):
// the files tests/data/models/family_*.onnx are current (the CLI / ONNX Runtime test
// tests/ort/run_family_tests.sh runs every command and recipe on them), and our executor computes
// what ONNX Runtime computes on them, within 1e-4 of the output range.
// Regenerate the files with `MCOMPRESS_REGENERATE_GOLDEN=1 mcompress_tests --test-case='test_families: *files*'`.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/executor.h"
#include "core/shape_inference.h"
#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

// A deterministic batch [n,3,16,16] of values in [-2, 2).
Tensor family_inputs(int64_t n) {
  test::TestRandom random{2718};
  return Tensor::from_vector<float>({n, 3, 16, 16}, random.values(static_cast<size_t>(n * 3 * 16 * 16), 4.0f));
}

// max |a - b| and max |b|.
std::pair<double, double> max_difference(const Tensor& a, const Tensor& b) {
  const auto x = a.to_float_vector(), y = b.to_float_vector();
  REQUIRE(x.size() == y.size());
  double diff = 0, range = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
    range = std::max(range, std::fabs(static_cast<double>(y[i])));
  }
  return {diff, range};
}

}  // namespace

TEST_CASE("test_families: the family model files are current") {
  const auto dir = test::source_dir() / "tests" / "data" / "models";
  const bool regenerate = std::getenv("MCOMPRESS_REGENERATE_GOLDEN") != nullptr;
  for (const auto& family : test::family_models()) {
    const std::string name = family.name;
    CAPTURE(name);
    const std::string path = (dir / (std::string("family_") + family.name + ".onnx")).string();
    const std::string bytes = serialize_onnx(family.make());
    if (regenerate) std::ofstream(path, std::ios::binary) << bytes;
    const auto on_disk = read_binary_file(path);
    CHECK_MESSAGE(std::string(reinterpret_cast<const char*>(on_disk.data()), on_disk.size()) == bytes,
                  "stale file; regenerate with MCOMPRESS_REGENERATE_GOLDEN=1");
    // It reads back as built, with the shapes the builder meant.
    const Model parsed = parse_onnx(on_disk, path);
    CHECK(serialize_onnx(parsed) == bytes);
    const auto shapes = infer_shapes(parsed, 2);
    CHECK(shapes.shape_of("y") == Shape{2, 10});
  }
}

TEST_CASE("test_families: every family model runs in our executor as in ONNX Runtime") {
  const Tensor x = family_inputs(4);
  const std::string ort = test::ort_runner();
  for (const auto& family : test::family_models()) {
    const std::string name = family.name;
    CAPTURE(name);
    const Model m = family.make();
    const Tensor ours = Executor(m).run({x})[0];
    REQUIRE(ours.shape() == Shape{4, 10});
    // Plan-time fusion (BatchNormalization into Conv, activations into Conv) changes nothing.
    const Tensor unfused = Executor(m, ExecutorOptions{1, false}).run({x})[0];
    const auto [fused_diff, fused_range] = max_difference(ours, unfused);
    CHECK(fused_diff <= 1e-5 * std::max(1.0, fused_range));
    // The outputs spread over a few units and differ between inputs: a model whose outputs were
    // all alike would hide errors.
    CHECK(fused_range > 2);
    const auto y = ours.to_float_vector();
    double spread = 0;
    for (size_t c = 0; c < 10; ++c)
      for (size_t i = 1; i < 4; ++i) spread = std::max(spread, std::fabs(static_cast<double>(y[i * 10 + c]) - y[c]));
    MESSAGE(name << ": outputs up to " << fused_range << ", spread between inputs " << spread);
    CHECK(spread > 0.05 * fused_range);
    if (ort.empty()) continue;
    const Tensor theirs = test::ort_output(ort, m, x);
    if (theirs.numel() != ours.numel()) continue;
    const auto [diff, range] = max_difference(ours, theirs);
    MESSAGE(name << ": max |ours - ONNX Runtime| " << diff << " of output range " << range);
    CHECK(diff <= 1e-4 * std::max(1.0, range));
  }
}
