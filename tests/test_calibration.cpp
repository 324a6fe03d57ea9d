// Calibration: seeded sampling, streamed statistics checked against a brute-force computation,
// activation ranges, the quantizers, and the bad inputs of issue #5.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "core/quantizers.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "tests/model_builder.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;

namespace {



}  // namespace

TEST_CASE("test_calibration: seeded permutations are deterministic and complete") {
  auto a = seeded_permutation(100, 7), b = seeded_permutation(100, 7), c = seeded_permutation(100, 8);
  CHECK(a == b);
  CHECK(a != c);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
}

TEST_CASE("test_calibration: layer statistics equal a brute-force im2col computation") {
  test::TempDir dir;
  auto inputs = test::write_small_inputs(dir.path, 5);
  Model m = test::tiny_conv_model();  // 3x3 conv, pad 1, 3 -> 4 channels
  CalibrationSet set = calibration_set(dir.path.string(), 5, 0, test::small_image_config(), m);
  set.batch = 2;  // several batches, the last one partial
  CalibrationStats stats = collect_calibration_stats(m, set, StatsOptions{2, true, true, {}});
  REQUIRE(stats.layers.count("conv"));
  const LayerGram& l = stats.layers.at("conv");
  CHECK(l.rows == 27);
  CHECK(l.samples == 5 * 64);
  // Brute force: every output position's 27-element patch, zero outside the image.
  std::vector<double> gram(27 * 27, 0.0), sum(27, 0.0);
  for (const auto& x : inputs)
    for (int oy = 0; oy < 8; ++oy)
      for (int ox = 0; ox < 8; ++ox) {
        double patch[27];
        for (int c = 0; c < 3; ++c)
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              int iy = oy - 1 + ky, ix = ox - 1 + kx;
              patch[(c * 3 + ky) * 3 + kx] = (iy >= 0 && iy < 8 && ix >= 0 && ix < 8) ? x.data<float>()[(c * 8 + iy) * 8 + ix] : 0.0;
            }
        for (int i = 0; i < 27; ++i) {
          sum[static_cast<size_t>(i)] += patch[i];
          for (int j = 0; j < 27; ++j) gram[static_cast<size_t>(i * 27 + j)] += patch[i] * patch[j];
        }
      }
  double worst = 0;
  for (size_t i = 0; i < gram.size(); ++i) worst = std::max(worst, std::fabs(gram[i] - l.gram[i]) / (1 + std::fabs(gram[i])));
  CHECK(worst < 1e-5);
  for (size_t i = 0; i < sum.size(); ++i) CHECK(l.sum[i] == doctest::Approx(sum[i]).epsilon(1e-5));
  // Ranges: the input tensor's min/max are exact.
  float lo = 1e9f, hi = -1e9f;
  for (const auto& x : inputs)
    for (float v : x.span<float>()) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  CHECK(stats.ranges.at("x").min == lo);
  CHECK(stats.ranges.at("x").max == hi);
  CHECK(stats.ranges.at("r").min >= 0.0f);  // after Relu
  auto [rlo, rhi] = stats.ranges.at("r").mse_int8_range();
  CHECK(rlo == 0.0);
  CHECK(rhi > 0.0);
  CHECK(rhi <= stats.ranges.at("r").max * 1.0001);
}

TEST_CASE("test_calibration: statistics do not depend on thread count or batch size") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 6);
  Model m = test::tiny_conv_model();
  CalibrationSet set = calibration_set(dir.path.string(), 6, 3, test::small_image_config(), m);
  set.batch = 4;
  auto a = collect_calibration_stats(m, set, StatsOptions{1, true, false, {}});
  set.batch = 6;
  auto b = collect_calibration_stats(m, set, StatsOptions{3, true, false, {}});
  CHECK(a.layers.at("conv").gram == b.layers.at("conv").gram);
}

TEST_CASE("test_calibration: quantizers minimize the weighted error they claim to") {
  std::vector<double> w = {0.9, -0.05, 0.4, -0.8, 0.02, 0.3, -0.35, 0.6};
  // Identity metric: the ternary fit equals the best over all thresholds by brute force.
  TernaryTerm t = fit_ternary(w, Metric{});
  auto q = ternary_values({t}, w.size());
  double err = 0;
  for (size_t i = 0; i < w.size(); ++i) err += (w[i] - q[i]) * (w[i] - q[i]);
  for (double threshold = 0; threshold < 1; threshold += 0.01) {
    double s = 0, n = 0;
    for (double v : w)
      if (std::fabs(v) > threshold) s += std::fabs(v), n += 1;
    if (n == 0) continue;
    double a = s / n, e = 0;
    for (double v : w) {
      double r = std::fabs(v) > threshold ? v - (v > 0 ? a : -a) : v;
      e += r * r;
    }
    CHECK(err <= e + 1e-6);  // float32 scale rounding only
  }
  // More residual terms never hurt, and int8 beats int4.
  double e1 = relative_error(w, ternary_values(fit_residual_ternary(w, 1, Metric{}), w.size()), Metric{});
  double e2 = relative_error(w, ternary_values(fit_residual_ternary(w, 2, Metric{}), w.size()), Metric{});
  double e3 = relative_error(w, ternary_values(fit_residual_ternary(w, 3, Metric{}), w.size()), Metric{});
  CHECK(e2 <= e1);
  CHECK(e3 <= e2);
  double i4 = relative_error(w, uniform_values(fit_uniform(w, 4, Metric{})), Metric{});
  double i8 = relative_error(w, uniform_values(fit_uniform(w, 8, Metric{})), Metric{});
  CHECK(i8 < i4);
  CHECK(i8 < 1e-4);
}

TEST_CASE("test_calibration: profile bad inputs fail clearly") {
  test::TempDir dir;
  Model m = test::tiny_conv_model();
  auto expect_error = [&](auto&& f, ErrorKind kind, const std::string& part) {
    try {
      f();
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == kind);
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
  };
  SUBCASE("empty folder") {
    expect_error([&] { calibration_set(dir.path.string(), 4, 0, test::small_image_config(), m); }, ErrorKind::input, "no calibration images");
  }
  SUBCASE("fewer images than asked: a warning, and all are used") {
    test::write_small_inputs(dir.path, 3);
    std::string warned;
    auto set = calibration_set(dir.path.string(), 10, 0, test::small_image_config(), m, [&](const std::string& w) { warned = w; });
    CHECK(set.files.size() == 3);
    CHECK(warned.find("fewer than the 10") != std::string::npos);
  }
  SUBCASE("an input of the wrong size") {
    Tensor t(DType::f32, {3, 5, 5});
    std::fill(t.data<float>(), t.data<float>() + t.numel(), 0.5f);
    write_npy((dir.path / "small.npy").string(), t);
    auto set = calibration_set(dir.path.string(), 1, 0, test::small_image_config(), m);
    expect_error([&] { collect_calibration_stats(m, set, StatsOptions{}); }, ErrorKind::input, "small.npy");
  }
  SUBCASE("an input with the wrong channel count") {
    Tensor t(DType::f32, {1, 8, 8});
    std::fill(t.data<float>(), t.data<float>() + t.numel(), 0.5f);
    write_npy((dir.path / "gray.npy").string(), t);
    auto set = calibration_set(dir.path.string(), 1, 0, test::small_image_config(), m);
    expect_error([&] { collect_calibration_stats(m, set, StatsOptions{}); }, ErrorKind::input, "gray.npy");
  }
  SUBCASE("NaN weights") {
    test::write_small_inputs(dir.path, 2);
    m.graph.initializers["w"].values.data<float>()[5] = std::nanf("");
    auto set = calibration_set(dir.path.string(), 2, 0, test::small_image_config(), m);
    expect_error([&] { collect_calibration_stats(m, set, StatsOptions{}); }, ErrorKind::input, "'w'");
  }
  SUBCASE("a model without weighted layers has nothing to profile") {
    test::write_small_inputs(dir.path, 2);
    Model r = test::relu_only_model();
    auto set = calibration_set(dir.path.string(), 2, 0, test::small_image_config(), r);
    CHECK(collect_calibration_stats(r, set, StatsOptions{}).layers.empty());
  }
}

TEST_CASE("test_calibration: held-out comparison: agreement and expected drop against the float model") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 6);
  Model m = test::tiny_conv_model();
  CalibrationSet set = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), m);
  const ReferenceOutputs ref = reference_outputs(m, set, 1);
  REQUIRE(ref.probabilities.size() == 6);
  // The same model: full agreement, nothing expected to be lost.
  EndToEnd same = compare_outputs(m, set, ref, 2);
  CHECK(same.top1_agreement == doctest::Approx(100.0));
  CHECK(same.expected_drop == doctest::Approx(0.0));
  CHECK(same.expected_drop_se == doctest::Approx(0.0));
  CHECK(same.kl == doctest::Approx(0.0).epsilon(1e-12));
  // Negated weights and bias flip the ranking of the outputs: every image whose float top-1 was
  // not also the smallest output disagrees, and the expected drop is, per image, the float
  // model's probability of its own top-1 minus its probability of the new top-1.
  Model flipped = m;
  for (auto& [name, init] : flipped.graph.initializers)
    for (float& v : init.values.span<float>()) v = -v;
  EndToEnd e = compare_outputs(flipped, set, ref, 1);
  auto flipped_probs = reference_outputs(flipped, set, 1).probabilities;
  double drop = 0, agree = 0, squares = 0;
  for (size_t i = 0; i < 6; ++i) {
    const auto& p = ref.probabilities[i];
    const auto& q = flipped_probs[i];
    size_t a = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    size_t b = static_cast<size_t>(std::max_element(q.begin(), q.end()) - q.begin());
    drop += p[a] - p[b];
    squares += (p[a] - p[b]) * (p[a] - p[b]);
    agree += a == b;
  }
  const double mean = drop / 6;
  CHECK(e.expected_drop_se == doctest::Approx(100.0 * std::sqrt((squares / 6 - mean * mean) * 6 / 5 / 6)));
  CHECK(e.expected_drop == doctest::Approx(100.0 * drop / 6));
  CHECK(e.top1_agreement == doctest::Approx(100.0 * agree / 6));
  CHECK(e.expected_drop > 0.0);
  CHECK(e.expected_drop <= 100.0 - e.top1_agreement + 1e-9);  // a flip never costs more than a whole image
}

TEST_CASE("test_calibration: mirrored held-out views: each image then its mirror, costs averaged per image") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 6);
  Model m = test::tiny_conv_model();
  CalibrationSet plain = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), m);
  plain.batch = 4;  // batches of 4 images (8 views), the last one smaller
  CalibrationSet views = plain;
  views.mirrored = true;
  std::vector<Tensor> originals, mirrored;
  std::vector<int64_t> firsts;
  for_each_calibration_batch(plain, [&](const Tensor& b, int64_t) { originals.push_back(b); });
  for_each_calibration_batch(views, [&](const Tensor& b, int64_t first) {
    mirrored.push_back(b);
    firsts.push_back(first);
  });
  REQUIRE(mirrored.size() == originals.size());
  CHECK(firsts == std::vector<int64_t>{0, 8});
  for (size_t b = 0; b < originals.size(); ++b) {
    const Tensor& o = originals[b];
    const Tensor& v = mirrored[b];
    REQUIRE(v.dim(0) == 2 * o.dim(0));
    const int64_t w = o.dim(3), per = o.numel() / o.dim(0);
    for (int64_t i = 0; i < o.dim(0); ++i)
      for (int64_t k = 0; k < per; ++k) {
        const float x = o.data<float>()[i * per + k];
        CHECK(v.data<float>()[2 * i * per + k] == x);
        const int64_t row = k / w, col = k % w;
        CHECK(v.data<float>()[(2 * i + 1) * per + row * w + (w - 1 - col)] == x);
      }
  }
  // The expected drop over views, with its standard error over the 6 images (each the mean of its
  // two views), not over 12 views.
  const ReferenceOutputs ref = reference_outputs(m, views, 1);
  REQUIRE(ref.probabilities.size() == 12);
  Model flipped = m;
  for (auto& [name, init] : flipped.graph.initializers)
    for (float& v : init.values.span<float>()) v = -v;
  const EndToEnd e = compare_outputs(flipped, views, ref, 1);
  const auto q = reference_outputs(flipped, views, 1).probabilities;
  std::vector<double> cost(6, 0.0);
  for (size_t i = 0; i < 12; ++i) {
    const auto& p = ref.probabilities[i];
    const size_t a = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    const size_t b = static_cast<size_t>(std::max_element(q[i].begin(), q[i].end()) - q[i].begin());
    cost[i / 2] += (p[a] - p[b]) / 2;
  }
  double sum = 0, squares = 0;
  for (double c : cost) {
    sum += c;
    squares += c * c;
  }
  const double mean = sum / 6;
  CHECK(e.expected_drop == doctest::Approx(100.0 * mean));
  CHECK(e.expected_drop_se == doctest::Approx(100.0 * std::sqrt((squares / 6 - mean * mean) * 6 / 5 / 6)));
}

TEST_CASE("test_calibration: a tensor's range and histogram are what one sequential pass gives") {
  // The reference: the running std::min / std::max from x[0] and one histogram increment per value.
  auto reference = [](const std::vector<float>& x, TensorRange& r) {
    float lo = x[0], hi = x[0];
    for (float v : x) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    r.min = r.count == 0 ? lo : std::min(r.min, lo);
    r.max = r.count == 0 ? hi : std::max(r.max, hi);
    const double need = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
    if (r.limit == 0) r.limit = need > 0 ? std::exp2(std::ceil(std::log2(need))) : 1.0;
    CHECK(need <= r.limit);  // the cases below never widen the range
    const double scale = TensorRange::bins / (2 * r.limit);
    for (float v : x) r.histogram[static_cast<size_t>(std::clamp(static_cast<int>((v + r.limit) * scale), 0, TensorRange::bins - 1))]++;
    r.count += static_cast<int64_t>(x.size());
  };
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  ThreadPool pool(3);
  for (int trial = 0; trial < 12; ++trial) {
    // Trials 6 and up: long enough to be split over the pool (pieces of 65536 values), the same
    // trials' kinds again, added with the pool.
    const bool split = trial >= 6;
    const size_t n = split ? 65536 * 3 + rng() % 100000 : 1 + rng() % 5000;  // not a multiple of 16 (mostly)
    std::vector<float> x(n);
    for (auto& v : x) v = trial % 2 ? std::max(0.0f, u(rng)) : u(rng);  // odd trials: a ReLU's output, min 0
    if (trial % 6 == 3) x[n / 2] = -0.0f, x[n - 1] = 0.0f;               // the first zero met decides the sign
    if (trial % 6 == 5) std::fill(x.begin(), x.end(), -0.0f);
    TensorRange ours, theirs;
    ours.add(x.data(), static_cast<int64_t>(n), split ? &pool : nullptr);
    ours.add(x.data(), static_cast<int64_t>(n / 2 + 1), split ? &pool : nullptr);
    reference(x, theirs);
    reference(std::vector<float>(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n / 2 + 1)), theirs);
    CAPTURE(trial);
    CHECK(ours.min == theirs.min);
    CHECK(ours.max == theirs.max);
    CHECK(std::signbit(ours.min) == std::signbit(theirs.min));
    CHECK(std::signbit(ours.max) == std::signbit(theirs.max));
    CHECK(ours.count == theirs.count);
    CHECK(ours.histogram == theirs.histogram);
  }
}
