// Reconstruction (issue 18): learned rounding (core/adaround.h), paired statistics of a layer in two
// networks (analysis/calibration_stats.h), and sequential fitting (passes/sequential_fit.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "analysis/calibration_stats.h"
#include "core/adaround.h"
#include "core/executor.h"
#include "formats/npy.h"
#include "passes/pass.h"
#include "passes/recipe.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

// sum over rows of (q - w)' H (q - w).
double objective(const std::vector<double>& q, const std::vector<double>& w, const std::vector<double>& h, int64_t rows, int64_t cols) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j)
        total += (q[static_cast<size_t>(r * cols + i)] - w[static_cast<size_t>(r * cols + i)]) * h[static_cast<size_t>(i * cols + j)] *
                 (q[static_cast<size_t>(r * cols + j)] - w[static_cast<size_t>(r * cols + j)]);
  return total;
}

LevelSet grid(double scale, int qmax) {
  LevelSet ls;
  for (int q = -qmax; q <= qmax; ++q) ls.levels.push_back(q * scale), ls.codes.push_back(q);
  return ls;
}

// A correlated PSD matrix (inputs of a layer are correlated: that is when rounding choices interact).
std::vector<double> correlated_metric(int64_t k, test::TestRandom& random) {
  const auto a = random.values(static_cast<size_t>(k * (k + 4)), 2.0f);
  std::vector<double> h(static_cast<size_t>(k * k), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      double s = 0.3;  // a shared component
      for (int64_t t = 0; t < k + 4; ++t) s += a[static_cast<size_t>(i * (k + 4) + t)] * a[static_cast<size_t>(j * (k + 4) + t)];
      h[static_cast<size_t>(i * k + j)] = s;
    }
  return h;
}

// The final outputs of `m` and `reference` on the images of `set`: mean squared difference.
double output_mse(const Model& m, const Model& reference, const CalibrationSet& set) {
  Executor a(m, ExecutorOptions{1}), b(reference, ExecutorOptions{1});
  double total = 0;
  int64_t n = 0;
  for_each_calibration_batch(set, [&](const Tensor& batch, int64_t) {
    const auto x = a.run({batch})[0].to_float_vector(), y = b.run({batch})[0].to_float_vector();
    for (size_t i = 0; i < x.size(); ++i) total += (x[i] - y[i]) * (x[i] - y[i]);
    n += static_cast<int64_t>(x.size());
  });
  return total / static_cast<double>(n);
}

}  // namespace

TEST_CASE("test_reconstruction: AdaRound ends on an enclosing level, beats nearest rounding, keeps zeros, ignores threads") {
  test::TestRandom random{2024};
  const int64_t rows = 40, cols = 24;
  const auto h = correlated_metric(cols, random);
  const auto wf = random.values(static_cast<size_t>(rows * cols), 1.0f);
  std::vector<double> w(wf.begin(), wf.end());
  std::vector<LevelSet> levels;
  for (int64_t r = 0; r < rows; ++r) levels.push_back(grid(0.07 + 0.002 * static_cast<double>(r), 7));
  const GptqResult nearest = nearest_quantize(w, rows, cols, levels);
  const GptqResult learned = adaround_quantize(w, rows, cols, h, levels, {}, AdaRoundOptions{});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) {
      const auto at = static_cast<size_t>(r * cols + k);
      const double s = levels[static_cast<size_t>(r)].levels[8] - levels[static_cast<size_t>(r)].levels[7];
      const double x = std::clamp(w[at], -7 * s, 7 * s);
      // floor or ceil of w on the grid (the nearest end outside it), and the code of that level.
      CHECK(std::fabs(learned.values[at] - x) < s * (1 + 1e-9));
      CHECK(learned.values[at] == doctest::Approx(learned.codes[at] * s));
    }
  const double e_nearest = objective(nearest.values, w, h, rows, cols), e_learned = objective(learned.values, w, h, rows, cols);
  const GptqResult gq = gptq_quantize(w, rows, cols, h, levels, 0.01);
  MESSAGE("layer objective: nearest " << e_nearest << ", AdaRound " << e_learned << ", GPTQ " << objective(gq.values, w, h, rows, cols));
  // Learned rounding does better than GPTQ's greedy compensation on this objective.
  CHECK(e_learned < objective(gq.values, w, h, rows, cols));
  // Rows in blocks over a pool: the same result at any thread count.
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    CHECK(adaround_quantize(w, rows, cols, h, levels, {}, AdaRoundOptions{}, &pool).values == learned.values);
  }
  // Weights forced to zero stay there; an empty level set leaves the row alone.
  std::vector<uint8_t> zeros(w.size(), 0);
  for (size_t i = 0; i < zeros.size(); i += 3) zeros[i] = 1;
  levels[5] = LevelSet{};
  const GptqResult masked = adaround_quantize(w, rows, cols, h, levels, zeros, AdaRoundOptions{});
  for (size_t i = 0; i < zeros.size(); ++i) {
    if (i / cols == 5) CHECK(masked.values[i] == w[i]);
    else if (zeros[i]) CHECK(masked.values[i] == 0.0);
  }
}

TEST_CASE("test_reconstruction: paired statistics of a network with itself: cross term = gram, the same sums") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 5);
  const Model m = test::tiny_pointwise_model();
  CalibrationSet set = calibration_set(dir.path.string(), 5, 0, test::small_image_config(), m);
  set.batch = 2;
  const CalibrationStats plain = collect_calibration_stats(m, set, StatsOptions{2, true, false, {}});
  for (const auto& [node, input] : {std::pair<std::string, std::string>{"conv", "x"}, {"pointwise", "r1"}, {"fc", "f"}}) {
    CAPTURE(node);
    const PairedLayerStats p = collect_paired_layer_stats(m, node, m, input, set, 2);
    const LayerGram& l = plain.layers.at(node);
    CHECK(p.layer.samples == l.samples);
    REQUIRE(p.cross.size() == l.gram.size());
    for (size_t i = 0; i < l.gram.size(); ++i) CHECK(p.cross[i] == doctest::Approx(l.gram[i]).epsilon(1e-9));
    for (size_t i = 0; i < l.sum.size(); ++i) CHECK(p.reference_sum[i] == doctest::Approx(l.sum[i]).epsilon(1e-9));
    CHECK(p.layer.gram == l.gram);
  }
  // A value of another shape is refused, naming both.
  test::expect_error([&] { collect_paired_layer_stats(m, "pointwise", m, "x", set, 1); }, ErrorKind::internal, "does not match the reference");
}

TEST_CASE("test_reconstruction: sequential fitting lowers the output error of a coarse grid; same result at any thread count") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 12);
  const Model m = test::tiny_pointwise_model();
  auto run = [&](const std::string& pipeline, int threads) { return test::run_on_small_inputs(m, pipeline, dir.path, 12, threads); };
  CalibrationSet set = calibration_set(dir.path.string(), 12, 0, test::small_image_config(), m);
  const Model layerwise = run("quantize-int8<bits=3>", 1);
  const Model sequential = run("quantize-int8<bits=3;sequential=on>", 1);
  const double e_layerwise = output_mse(layerwise, m, set), e_sequential = output_mse(sequential, m, set);
  MESSAGE("output MSE against the float model: layer by layer " << e_layerwise << ", sequential " << e_sequential);
  CHECK(e_sequential < e_layerwise);
  const Model learned = run("quantize-int8<bits=3;sequential=on;method=adaround>", 1);
  CHECK(output_mse(learned, m, set) < e_layerwise);
  // Bit-identical weights at other thread counts.
  const Model learned3 = run("quantize-int8<bits=3;sequential=on;method=adaround>", 3);
  for (const auto& [name, init] : learned.graph.initializers)
    CHECK_MESSAGE(init.values.to_float_vector() == learned3.graph.initializers.at(name).values.to_float_vector(), name);
  // edge-bits: the first and last weighted layers on their own grid (here int8: up to 255 levels).
  const Model edges = run("quantize-int8<bits=3;edge-bits=8;sequential=on>", 1);
  auto distinct = [](const Model& model, const std::string& w) {
    auto v = model.graph.initializers.at(w).values.to_float_vector();
    std::sort(v.begin(), v.end());
    return std::unique(v.begin(), v.end()) - v.begin();
  };
  CHECK(distinct(edges, "w1") > 7 * 8 / 2);  // the 3x3 conv's 8 filters: more than 7 levels each on average
  CHECK(distinct(edges, "w2") <= 7 * 8);     // the pointwise layer: at most 7 levels per filter
  CHECK(distinct(edges, "w3") > 7 * 4 / 2);
}

TEST_CASE("test_reconstruction: w4a8 runs on every architecture family (branches, concat, shuffles, SE, residuals)") {
  for (const auto& family : test::family_models()) {
    CAPTURE(family.name);
    const Model m = family.make();
    test::TempDir dir;
    const ImageConfig config = test::write_family_inputs(dir.path, 6, 5);
    RecipeOptions o;
    o.calibration = calibration_set(dir.path.string(), 6, 0, config, m);
    o.threads = 2;
    CompressedModel c;
    CHECK_NOTHROW(c = run_recipe("w4a8", m, o));
    for (const auto& [name, init] : c.model.graph.initializers) CHECK_MESSAGE(init.encoded(), name);
  }
}
