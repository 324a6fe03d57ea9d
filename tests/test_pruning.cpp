// Pruning (issue #7): prune-magnitude, prune-obs, prune-nm, the sparse recipe's pass and the
// sparse encodings: exact sparsity, OBS beating magnitude on correlated inputs, the N:M pattern,
// .mcz round trips, no-op at sparsity 0, determinism, and the bad inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <tuple>

#include "analysis/calibration.h"
#include "core/executor.h"
#include "core/gptq.h"
#include "formats/mcz.h"
#include "formats/qdq_export.h"
#include "passes/budget.h"
#include "passes/pass.h"
#include "passes/recipe.h"
#include "passes/weight_fit.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;
using mc::test::same_bits;

namespace {

// A synthetic fully connected layer: F filters over K strongly correlated inputs (x = A z, A with
// a large shared component), its statistics computed exactly from the samples. A `sample_seed`
// draws other samples of the same distribution (same A; the weights then differ).
struct SyntheticLayer {
  Tensor weight;
  LayerGram gram;
};

SyntheticLayer synthetic_layer(int64_t filters, int64_t k, int64_t samples, uint64_t sample_seed = 0) {
  test::TestRandom random{4242};
  test::TestRandom other_samples{static_cast<uint32_t>(sample_seed)};
  std::vector<double> a(static_cast<size_t>(k * k));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) a[static_cast<size_t>(i * k + j)] = (i == j ? 1.0 : 0.0) + 0.6 * random.uniform() + (j < 2 ? 1.5 : 0.0);
  SyntheticLayer s;
  s.gram.node = "fc";
  s.gram.op = "Gemm";
  s.gram.weight = "w";
  s.gram.rows = k;
  s.gram.filters_per_group = filters;
  s.gram.samples = samples;
  s.gram.gram.assign(static_cast<size_t>(k * k), 0.0);
  s.gram.sum.assign(static_cast<size_t>(k), 0.0);
  std::vector<double> z(static_cast<size_t>(k)), x(static_cast<size_t>(k));
  for (int64_t n = 0; n < samples; ++n) {
    for (auto& v : z) v = sample_seed ? other_samples.uniform() : random.uniform();
    for (int64_t i = 0; i < k; ++i) {
      double acc = 0;
      for (int64_t j = 0; j < k; ++j) acc += a[static_cast<size_t>(i * k + j)] * z[static_cast<size_t>(j)];
      x[static_cast<size_t>(i)] = acc;
    }
    for (int64_t i = 0; i < k; ++i) {
      s.gram.sum[static_cast<size_t>(i)] += x[static_cast<size_t>(i)];
      for (int64_t j = 0; j < k; ++j) s.gram.gram[static_cast<size_t>(i * k + j)] += x[static_cast<size_t>(i)] * x[static_cast<size_t>(j)];
    }
  }
  std::vector<float> w(static_cast<size_t>(filters * k));
  for (auto& v : w) v = static_cast<float>(random.uniform());
  s.weight = Tensor::from_vector<float>({filters, k}, w);
  return s;
}

using test::expect_error;

double pruning_output_error(const std::vector<FilterFit>& fits) {
  double total = 0;
  for (const auto& f : fits) total += f.abs_error;
  return total;
}

int64_t zeros(const Tensor& t) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += t.data<float>()[i] == 0.0f;
  return n;
}

// Calibration (fit) and held-out sets of the small deterministic inputs.
struct SmallCalibration {
  test::TempDir fit_dir, held_dir;
  CalibrationSet fit, held;
  explicit SmallCalibration(const Model& m) {
    test::write_small_inputs(fit_dir.path, 8);
    test::write_small_inputs(held_dir.path, 6);
    fit = calibration_set(fit_dir.path.string(), 8, 0, test::small_image_config(), m);
    held = calibration_set(held_dir.path.string(), 6, 1, test::small_image_config(), m);
  }
};

Model run_passes(const Model& m, const std::string& pipeline, const SmallCalibration* calib, PassContext* out = nullptr, int threads = 1) {
  PassContext ctx;
  ctx.threads = threads;
  if (calib) {
    ctx.calibration = calib->fit;
    ctx.held_out = calib->held;
  }
  Model copy = m;
  run_pipeline(copy, parse_pipeline(pipeline), ctx);
  if (out) *out = std::move(ctx);
  return copy;
}

// Writes `q` (its encoded tensors as encoded, the rest lossless) as a .mcz: every initializer decodes bit for
// bit, the --qdq export has `dequantized` int8 weights behind DequantizeLinear and computes exactly
// what the decoded model computes. Returns the file.
std::vector<std::byte> check_file_round_trip_and_export(Model q, int dequantized) {
  encode_remaining(q, Encoding::fp32_planes);
  const auto bytes = write_mcz(q, nlohmann::ordered_json::object(), 1);
  const McFile file = read_mcz(bytes, "f.mcz");
  const Model back = decode_mcz(file, "f.mcz");
  for (const auto& [name, t_init] : q.graph.initializers) {
    const Tensor& t = t_init.values;
    CAPTURE(name);
    CHECK(same_bits(t, *back.graph.initializer(name)));
  }
  const Model qdq = with_qdq_weights(back);
  CHECK(test::count_op(qdq, "DequantizeLinear") == dequantized);
  Tensor x(DType::f32, {2, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.05f * static_cast<float>(i));
  CHECK(same_bits(Executor(qdq).run({x})[0], Executor(back).run({x})[0]));
  return bytes;
}

}  // namespace

TEST_CASE("test_pruning: prune-magnitude hits the exact sparsity with the smallest weights") {
  const Model m = test::tiny_pointwise_model();
  PassContext ctx;
  Model p = run_passes(m, "prune-magnitude<sparsity=0.3>", nullptr, &ctx);
  for (const char* name : {"w1", "w2", "w3"}) {
    CAPTURE(name);
    const Tensor& before = *m.graph.initializer(name);
    const Tensor& after = *p.graph.initializer(name);
    const int64_t expected = std::llround(0.3 * static_cast<double>(before.numel()));
    CHECK(zeros(after) == expected);
    REQUIRE(p.graph.pruned_mask(name));
    // Every pruned weight is no larger in magnitude than every kept one; kept ones are unchanged.
    float largest_pruned = 0, smallest_kept = 1e30f;
    for (int64_t i = 0; i < before.numel(); ++i) {
      const float w = before.data<float>()[i];
      if ((*p.graph.pruned_mask(name))[static_cast<size_t>(i)]) largest_pruned = std::max(largest_pruned, std::fabs(w));
      else {
        smallest_kept = std::min(smallest_kept, std::fabs(w));
        CHECK(after.data<float>()[i] == w);
      }
    }
    CHECK(largest_pruned <= smallest_kept);
  }
}

TEST_CASE("test_pruning: sparsity 0 is a no-op") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const char* pipeline : {"prune-magnitude<sparsity=0>", "prune-obs<sparsity=0>"}) {
    CAPTURE(pipeline);
    PassContext ctx;
    Model p = run_passes(m, pipeline, &calib, &ctx);
    for (const auto& [name, t] : p.graph.initializers) CHECK_FALSE(t.pruned);
    for (const auto& [name, t] : m.graph.initializers) CHECK(same_bits(t.values, *p.graph.initializer(name)));
  }
}

TEST_CASE("test_pruning: OBS pruning has a lower output error than magnitude pruning on correlated inputs") {
  SyntheticLayer s = synthetic_layer(16, 32, 400);
  for (double sparsity : {0.25, 0.5, 0.75}) {
    CAPTURE(sparsity);
    FitOptions obs;
    obs.format = WeightFormat::float32;
    obs.damping = 0.01;
    obs.pruning.sparsity = sparsity;
    auto obs_fits = fit_filters(s.weight, s.gram, test::indices(16), obs);
    // Magnitude: the same count per filter, smallest |w|, nothing compensated, scored alike.
    std::vector<uint8_t> mask(static_cast<size_t>(s.weight.numel()), 0);
    const int64_t per_row = pruned_per_row(sparsity, 32);
    for (int64_t f = 0; f < 16; ++f) {
      std::vector<int64_t> idx = test::indices(32);
      const float* w = s.weight.data<float>() + f * 32;
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return std::fabs(w[a]) < std::fabs(w[b]); });
      for (int64_t i = 0; i < per_row; ++i) mask[static_cast<size_t>(f * 32 + idx[static_cast<size_t>(i)])] = 1;
    }
    Tensor magnitude = s.weight;
    for (size_t i = 0; i < mask.size(); ++i)
      if (mask[i]) magnitude.data<float>()[i] = 0.0f;
    // The magnitude-pruned weights' output error under the same centered covariance.
    const std::vector<double> c = s.gram.moment(0, true);
    double magnitude_error = 0, obs_error = 0;
    for (int64_t f = 0; f < 16; ++f) {
      std::vector<double> d(32);
      for (int64_t k = 0; k < 32; ++k) d[static_cast<size_t>(k)] = s.weight.data<float>()[f * 32 + k] - magnitude.data<float>()[f * 32 + k];
      for (int64_t i = 0; i < 32; ++i)
        for (int64_t j = 0; j < 32; ++j) magnitude_error += d[static_cast<size_t>(i)] * c[static_cast<size_t>(i * 32 + j)] * d[static_cast<size_t>(j)];
      int64_t pruned = 0;
      for (uint8_t p : obs_fits[static_cast<size_t>(f)].pruned) pruned += p;
      CHECK(pruned == per_row);
      for (int64_t k = 0; k < 32; ++k)
        if (obs_fits[static_cast<size_t>(f)].pruned[static_cast<size_t>(k)]) CHECK(obs_fits[static_cast<size_t>(f)].values[static_cast<size_t>(k)] == 0.0);
    }
    obs_error = pruning_output_error(obs_fits);
    CHECK(obs_error < 0.7 * magnitude_error);
  }
}

TEST_CASE("test_pruning: fits scored out of sample: unchanged on their own statistics, worse on new inputs when samples < inputs") {
  // 24 samples of 48 inputs (a classifier after pooling sees one sample per image): the compensated
  // fit also fits the sample's noise, which only inputs it did not see reveal.
  SyntheticLayer fit = synthetic_layer(16, 48, 24);
  SyntheticLayer fresh = synthetic_layer(16, 48, 4000, 77);
  FitOptions o;
  o.format = WeightFormat::int4;
  o.damping = 0.01;
  const auto fits = fit_filters(fit.weight, fit.gram, test::indices(16), o);
  auto same = fits;
  OutOfSampleScorer(fit.weight, fit.gram).score(same);
  for (size_t f = 0; f < fits.size(); ++f) {
    CHECK(same[f].abs_error == doctest::Approx(fits[f].abs_error).epsilon(1e-9));
    CHECK(same[f].energy == doctest::Approx(fits[f].energy).epsilon(1e-9));
  }
  auto held = fits;
  OutOfSampleScorer(fit.weight, fresh.gram).score(held);
  CHECK(pruning_output_error(held) > 2 * pruning_output_error(fits));
  // With as many samples as needed the two agree far better.
  SyntheticLayer big = synthetic_layer(16, 48, 4000);
  auto big_fits = fit_filters(big.weight, big.gram, test::indices(16), o);
  const double in_sample = pruning_output_error(big_fits);
  OutOfSampleScorer(big.weight, fresh.gram).score(big_fits);
  CHECK(pruning_output_error(big_fits) < 1.3 * in_sample);
}

TEST_CASE("test_pruning: pruning with a covariance of one sample (no usable second moment) prunes by magnitude instead of failing") {
  // One sample: the centered covariance is zero up to rounding. Quantizing falls back to rounding
  // to nearest; pruning used to stop with an internal error (two calibration images: one fit image).
  SyntheticLayer s = synthetic_layer(8, 16, 1);
  FitOptions o;
  o.format = WeightFormat::int4;
  o.pruning.sparsity = 0.5;
  std::vector<FilterFit> fits;
  REQUIRE_NOTHROW(fits = fit_filters(s.weight, s.gram, test::indices(8), o));
  for (int64_t f = 0; f < 8; ++f) {
    int64_t pruned = 0;
    for (uint8_t p : fits[static_cast<size_t>(f)].pruned) pruned += p;
    CHECK(pruned == 8);
    // H = I: the smallest |w| go.
    std::vector<float> w(s.weight.data<float>() + f * 16, s.weight.data<float>() + (f + 1) * 16);
    std::vector<float> sorted = w;
    for (auto& v : sorted) v = std::fabs(v);
    std::sort(sorted.begin(), sorted.end());
    for (int64_t k = 0; k < 16; ++k)
      if (fits[static_cast<size_t>(f)].pruned[static_cast<size_t>(k)]) CHECK(std::fabs(w[static_cast<size_t>(k)]) <= sorted[7]);
  }
}

TEST_CASE("test_pruning: a pruning sweep on a covariance that is not positive definite falls back to H = I") {
  // An indefinite "covariance" (rounding noise can make one): the sweep cannot factor it, so it
  // prunes and rounds as with H = I instead of stopping.
  const std::vector<double> h = {1.0, 1.5, 1.5, 1.0};
  LevelSet levels;
  for (int32_t q = -7; q <= 7; ++q) {
    levels.levels.push_back(0.1 * q);
    levels.codes.push_back(q);
  }
  PruneSpec prune;
  prune.mode = PruneSpec::Mode::per_row;
  prune.sparsity = 0.5;
  GptqResult r;
  REQUIRE_NOTHROW(r = gptq_quantize({0.31, -0.52}, 1, 2, h, {levels}, 0.0, prune));
  CHECK(r.pruned == std::vector<uint8_t>{1, 0});
  CHECK(r.values[0] == 0.0);
  CHECK(r.values[1] == doctest::Approx(-0.5));
}

TEST_CASE("test_pruning: N:M keeps N of every M input channels, in a fit and in prune-nm") {
  SyntheticLayer s = synthetic_layer(8, 16, 200);
  FitOptions nm;
  nm.format = WeightFormat::float32;
  nm.pruning.nm_keep = 2;
  nm.pruning.nm_group = 4;
  auto fits = fit_filters(s.weight, s.gram, test::indices(8), nm);
  for (const auto& f : fits)
    for (int64_t g = 0; g < 4; ++g) {
      int kept = 0;
      for (int64_t i = 0; i < 4; ++i) kept += f.values[static_cast<size_t>(g * 4 + i)] != 0.0;
      CHECK(kept == 2);
    }
  // The pass, on a model: the pointwise conv and the fc layer (8 input channels each).
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const char* method : {"obs", "magnitude"}) {
    CAPTURE(method);
    Model p = run_passes(m, std::string("prune-nm<n=1;m=4;method=") + method + ">", &calib);
    for (const char* name : {"w2", "w3"}) {
      const Tensor& w = *p.graph.initializer(name);
      for (int64_t f = 0; f < 4; ++f)
        for (int64_t g = 0; g < 2; ++g) {
          int kept = 0;
          for (int64_t i = 0; i < 4; ++i) kept += w.data<float>()[f * 8 + g * 4 + i] != 0.0f;
          CHECK(kept == 1);
        }
    }
    CHECK(same_bits(*p.graph.initializer("w1"), *m.graph.initializer("w1")));  // a 3x3 conv: not selected
  }
}

TEST_CASE("test_pruning: pruned and quantized models round-trip through .mcz exactly") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const char* pipeline : {"prune-obs<sparsity=0.5;allocation=uniform>", "prune-magnitude<sparsity=0.6>,quantize-int8",
                               "prune-nm<n=2;m=4>,quantize-int8<bits=4>", "sparse-quantize<max-drop=50>"}) {
    CAPTURE(pipeline);
    RecipeOptions o;
    o.passes = pipeline;
    o.calibration = calib.fit;
    o.held_out = calib.held;
    o.threads = 1;
    CompressedModel c = run_recipe(custom_recipe, m, o);
    if (std::string(pipeline).find("prune") != std::string::npos) {
      // The zeros survive quantization.
      int64_t pruned_weights = 0;
      for (const auto& [name, t] : c.model.graph.initializers)
        if (name[0] == 'w') pruned_weights += zeros(t.values);
      CHECK(pruned_weights > 0);
    }
    const auto bytes = write_mcz(c.model, nlohmann::ordered_json::object(), 1);
    Model back = decode_mcz(read_mcz(bytes, "p.mcz"), "p.mcz");
    for (const auto& [name, t_init] : c.model.graph.initializers) {
    const Tensor& t = t_init.values;
      CAPTURE(name);
      REQUIRE(back.graph.initializer(name));
      CHECK(same_bits(t, *back.graph.initializer(name)));
    }
    // Same bytes at another thread count.
    o.threads = 3;
    CompressedModel c3 = run_recipe(custom_recipe, m, o);
    CHECK(write_mcz(c3.model, nlohmann::ordered_json::object(), 3) == bytes);
  }
}

TEST_CASE("test_pruning: a pruned float layer is stored as a sparse part") {
  const Model m = test::tiny_pointwise_model();
  RecipeOptions o;
  o.passes = "prune-magnitude<sparsity=0.5>";
  CompressedModel c = run_recipe(custom_recipe, m, o);
  const EncodedTensor& e = *c.model.graph.initializers.at("w2").encoding;
  REQUIRE(e.parts.size() == 1);
  CHECK(e.parts[0].sparse);
  CHECK(e.parts[0].encoding == Encoding::fp32_planes);
  CHECK(e.parts[0].streams[1].size() == 32);  // 64 weights, half kept
  CHECK(same_bits(decode_tensor(e, "w2"), *c.model.graph.initializer("w2")));
  // A negative zero is kept as a value (it is not the +0.0 a masked weight decodes to).
  Tensor t = Tensor::from_vector<float>({4}, {0.0f, -0.0f, 1.5f, 0.0f});
  EncodedTensor st = encode_fp32_sparse(t);
  CHECK(st.parts[0].streams[0] == std::vector<uint8_t>{0, 1, 1, 0});
  CHECK(same_bits(decode_tensor(st, "t"), t));
}

TEST_CASE("test_pruning: sparse-quantize chooses narrower grids when the budget allows") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  const Model strict = run_passes(m, "sparse-quantize<max-drop=0;bits=8+4;sparsity=0>", &calib);
  const Model loose = run_passes(m, "sparse-quantize<max-drop=100;bits=8+4;sparsity=0+0.5>", &calib);
  // max-drop=100 accepts everything: every layer takes its smallest option (4 bits, 50% pruned).
  for (const char* name : {"w1", "w2", "w3"}) {
    CAPTURE(name);
    CHECK(loose.graph.initializers.at(name).encoding->parts[0].encoding == Encoding::int4);
    CHECK(strict.graph.is_encoded(name));
  }
}

TEST_CASE("test_pruning: budget steps follow the convex hull and the bisection finds the edge") {
  // Layer 0: options (0,0) (1,10) (5,11) (3,20): hull 0 -> 1 (slope 0.1) -> 3 (slope 2/10).
  std::vector<std::vector<BudgetOption>> layers = {{{0, 0}, {1, 10}, {5, 11}, {3, 20}}, {{0, 0}, {2, 5}}};
  auto steps = ranked_steps(layers);
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].layer == 0);
  CHECK(steps[0].option == 1);
  CHECK(steps[1].option == 3);
  CHECK(steps[2].layer == 1);
  CHECK(options_after(steps, 2, 2) == std::vector<size_t>{3, 0});
  for (size_t edge = 0; edge <= 10; ++edge) {
    size_t found = largest_acceptable(10, [&](size_t n) { return n <= edge; }, [](size_t n) { return static_cast<double>(n); }, 0.5);
    CHECK(found == edge);
  }
}

TEST_CASE("test_pruning: bad sparsity and N:M settings fail naming the flag or the layer") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const char* bad : {"prune-magnitude<sparsity=1>", "prune-magnitude<sparsity=-0.1>", "prune-magnitude", "prune-obs<sparsity=1.5>",
                          "prune-obs<sparsity=0.5;max-drop=1>", "prune-nm<n=4;m=4>", "sparse-quantize<bits=9>", "sparse-quantize<sparsity=1>",
                          "sparse-quantize<confidence=-1>", "sparse-quantize<criterion=top5>", "sparse-quantize<held-out-scoring=maybe>"}) {
    CAPTURE(bad);
    expect_error([&] { run_passes(m, bad, &calib); }, ErrorKind::usage, "");
  }
  expect_error([&] { run_passes(m, "prune-magnitude<sparsity=1>", &calib); }, ErrorKind::usage, "pass 'prune-magnitude': option 'sparsity=1' must be in [0, 1)");
  // The 3x3 conv has 3 input channels: M=4 does not divide them.
  expect_error([&] { run_passes(m, "prune-nm<layers=conv>", &calib); }, ErrorKind::usage, "'conv'");
  expect_error([&] { run_passes(m, "prune-nm<layers=conv;method=magnitude>", nullptr); }, ErrorKind::usage, "'conv'");
  RecipeOptions o;
  o.sparsity = 1.0;
  expect_error([&] { recipe_pipeline("sparse", o); }, ErrorKind::usage, "--sparsity");
  o.sparsity = 0.5;
  expect_error([&] { recipe_pipeline("int8", o); }, ErrorKind::usage, "--sparsity");
  CHECK(recipe_pipeline("sparse", o) == "fold-constants,fold-bn,fc-to-gemm,prune-obs<sparsity=0.5>,sparse-quantize<max-drop=1>");
  // Which pipelines load the calibration images: prune-nm does unless method=magnitude.
  RecipeOptions p;
  p.passes = "fold-bn,prune-nm<layers=pointwise>";
  CHECK(recipe_needs_calibration(custom_recipe, p));
  p.passes = "fold-bn,prune-nm<layers=pointwise;method=magnitude>";
  CHECK_FALSE(recipe_needs_calibration(custom_recipe, p));
  p.passes = "fold-bn,prune-magnitude<sparsity=0.5>";
  CHECK_FALSE(recipe_needs_calibration(custom_recipe, p));
}

TEST_CASE("test_pruning: --qdq export carries int4 and sparse int8/int4 weights exactly in int8") {
  const Model m = test::tiny_conv_model();
  const Tensor& w = *m.graph.initializer("w");
  const int64_t channels = w.dim(0), inner = w.numel() / channels;
  for (Encoding encoding : {Encoding::int8, Encoding::int4})
    for (bool sparse : {false, true})
    for (bool half : {false, true}) {  // half: float16-exact scales, stored in 2 bytes
      CAPTURE(static_cast<int>(encoding));
      CAPTURE(sparse);
      CAPTURE(half);
      const int32_t offset = encoding == Encoding::int8 ? 128 : 8;
      EncodedTensor e;
      e.dtype = DType::f32;
      e.shape = w.shape();
      EncodedPart p;
      p.encoding = encoding;
      p.channel_end = channels;
      p.sparse = sparse;
      p.streams.assign(sparse ? 2 : 1, {});
      p.symbol_bits = sparse ? std::vector<uint8_t>{1, 8} : std::vector<uint8_t>{8};
      for (int64_t c = 0; c < channels; ++c) {
        float top = 0;
        for (int64_t k = 0; k < inner; ++k) top = std::max(top, std::fabs(w.data<float>()[c * inner + k]));
        const float scale = half ? half_to_float(float_to_half(top / 7.0f)) : top / 7.0f;
        p.scales.push_back(scale);
        for (int64_t k = 0; k < inner; ++k) {
          const int32_t q = std::clamp(static_cast<int32_t>(std::lround(w.data<float>()[c * inner + k] / scale)), -7, 7);
          if (sparse) {
            p.streams[0].push_back(q != 0);
            if (q != 0) p.streams[1].push_back(static_cast<uint8_t>(q + offset));
          } else {
            p.streams[0].push_back(static_cast<uint8_t>(q + offset));
          }
        }
      }
      e.parts.push_back(p);
      std::map<std::string, EncodedTensor> encoded{{"w", e}, {"b", encode_fp32_planes(*m.graph.initializer("b"))}};
      const auto bytes = write_mcz(test::with_encodings(m, encoded), nlohmann::ordered_json::object(), 1);
      const McFile file = read_mcz(bytes, "q.mcz");
      const Model decoded = decode_mcz(file, "q.mcz");
      REQUIRE(file.tensors.size() == 2);
      for (const auto& t : file.tensors)
        if (t.name == "w") CHECK(t.encoded.parts[0].scales == p.scales);
      const Model qdq = with_qdq_weights(decoded);
      REQUIRE(test::count_op(qdq, "DequantizeLinear") == 1);
      Tensor x(DType::f32, {2, 3, 8, 8});
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.11f * static_cast<float>(i));
      CHECK(same_bits(Executor(qdq).run({x})[0], Executor(decoded).run({x})[0]));
    }
}

TEST_CASE("test_pruning: sparse-quantize stores float16 scales in 2 bytes each, exactly") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  const Model half = run_passes(m, "sparse-quantize<max-drop=50;bits=8+4>", &calib);
  const Model full = run_passes(m, "sparse-quantize<max-drop=50;bits=8+4;scales=fp32>", &calib);
  size_t scales = 0;
  for (const char* name : {"w1", "w2", "w3"}) {
    CAPTURE(name);
    for (float s : half.graph.initializers.at(name).encoding->parts[0].scales) {
      CHECK(half_to_float(float_to_half(s)) == s);
      ++scales;
    }
    // The model computes with exactly the stored (rounded) scales.
    CHECK(same_bits(decode_tensor(*half.graph.initializers.at(name).encoding, name), *half.graph.initializer(name)));
  }
  REQUIRE(scales > 0);
  Model half_all = half;
  encode_remaining(half_all, Encoding::fp32_planes);
  const auto half_encoded = test::encodings_of(half_all);
  const auto bytes = write_mcz(half_all, nlohmann::ordered_json::object(), 1, false);
  const McFile file = read_mcz(bytes, "h.mcz");
  for (const auto& t : file.tensors)
    if (half.graph.is_encoded(t.name)) CHECK(t.encoded.parts[0].scales == half.graph.initializers.at(t.name).encoding->parts[0].scales);
  const Model back = decode_mcz(file, "h.mcz");
  for (const auto& [name, t_init] : half.graph.initializers) {
    const Tensor& t = t_init.values;
    CAPTURE(name);
    CHECK(same_bits(t, *back.graph.initializer(name)));
  }
  // The same parts with one scale nudged off the float16 grid: every scale of that part goes back
  // to 4 bytes.
  auto nudged = half_encoded;
  auto& w1 = nudged.at("w1").parts[0];
  w1.scales[0] = std::nextafter(w1.scales[0], 1.0f);
  const CodedTensors narrow = code_tensors(half_all, 1), wide = code_tensors(test::with_encodings(half_all, nudged), 1);
  CHECK(wide.table.size() == narrow.table.size() + 2 * w1.scales.size());
  // The QDQ export carries the float16 scales exactly.
  const Model qdq = with_qdq_weights(back);
  CHECK(test::count_op(qdq, "DequantizeLinear") == 3);
  Tensor x(DType::f32, {2, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(0.07f * static_cast<float>(i));
  CHECK(same_bits(Executor(qdq).run({x})[0], Executor(back).run({x})[0]));
  const float full_scale = full.graph.initializers.at("w2").encoding->parts[0].scales[0];
  CHECK_FALSE(half_to_float(float_to_half(full_scale)) == full_scale);
}

TEST_CASE("test_pruning: fractional bit widths are grids of 2 qmax + 1 levels, stored and exported exactly") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const auto& [bits, qmax, encoding] : {std::tuple{"4.5", 10, Encoding::int8}, std::tuple{"3.5", 5, Encoding::int4}, std::tuple{"2", 1, Encoding::int4}}) {
    CAPTURE(bits);
    const Model q = run_passes(m, std::string("sparse-quantize<max-drop=100;sparsity=0;bits=") + bits + ">", &calib);
    const int32_t offset = encoding == Encoding::int8 ? 128 : 8;
    for (const char* name : {"w1", "w2", "w3"}) {
      CAPTURE(name);
      const EncodedPart& p = q.graph.initializers.at(name).encoding->parts[0];
      CHECK(p.encoding == encoding);
      int32_t top = 0;
      for (uint8_t s : p.streams[0]) top = std::max(top, std::abs(static_cast<int32_t>(s) - offset));
      CHECK(top <= qmax);
      CHECK(top >= 1);
    }
    check_file_round_trip_and_export(q, 3);
  }
}

TEST_CASE("test_pruning: sparse-quantize budget units split a large layer into parts that round-trip and export exactly") {
  // tiny_pointwise with a 64-filter pointwise layer (w2): the largest layer, split into units.
  Model m = test::tiny_pointwise_model();
  test::TestRandom random{99};
  m.graph.initializers["w2"] = Tensor::from_vector<float>({64, 8, 1, 1}, random.values(64 * 8, 1.0f));
  m.graph.initializers["b2"] = Tensor::from_vector<float>({64}, random.values(64, 0.2f));
  m.graph.initializers["w3"] = Tensor::from_vector<float>({4, 64}, random.values(4 * 64, 1.0f));
  SmallCalibration calib(m);
  for (const char* drop : {"0", "100"}) {
    CAPTURE(drop);
    PassContext ctx;
    std::vector<std::string> log;
    ctx.log = [&](const std::string& line) { log.push_back(line); };
    ctx.threads = 1;
    ctx.calibration = calib.fit;
    ctx.held_out = calib.held;
    Model q = m;
    run_pipeline(q, parse_pipeline(std::string("sparse-quantize<bits=8+4;sparsity=0;unit-share=0.1;max-drop=") + drop + ">"), ctx);
    CHECK(std::find(log.begin(), log.end(), "sparse-quantize: 3 layers in 6 budget units") != log.end());
    const EncodedTensor& w2 = *q.graph.initializers.at("w2").encoding;
    CHECK(w2.parts.size() == 1);  // the tiny held-out set accepts every step: the units' runs merge
    CHECK(same_bits(decode_tensor(w2, "w2"), *q.graph.initializer("w2")));
    const auto bytes = check_file_round_trip_and_export(q, 3);
    // Same bytes at another thread count.
    PassContext ctx3;
    ctx3.threads = 3;
    ctx3.calibration = calib.fit;
    ctx3.held_out = calib.held;
    Model q3 = m;
    run_pipeline(q3, parse_pipeline(std::string("sparse-quantize<bits=8+4;sparsity=0;unit-share=0.1;max-drop=") + drop + ">"), ctx3);
    encode_remaining(q3, Encoding::fp32_planes);
    CHECK(write_mcz(q3, nlohmann::ordered_json::object(), 3) == bytes);
  }
  // Units left at different widths are consecutive parts of one tensor (here int8, int4, int8):
  // stored and exported exactly.
  PassContext ctx;
  ctx.threads = 1;
  ctx.calibration = calib.fit;
  ctx.held_out = calib.held;
  Model q = m;
  run_pipeline(q, parse_pipeline("sparse-quantize<bits=8+4;sparsity=0;unit-share=0.1;max-drop=100>"), ctx);
  const EncodedTensor four = *q.graph.initializers.at("w2").encoding;
  PassContext ctx8;
  ctx8.threads = 1;
  ctx8.calibration = calib.fit;
  ctx8.held_out = calib.held;
  Model q8 = m;
  run_pipeline(q8, parse_pipeline("sparse-quantize<bits=8;sparsity=0;max-drop=100>"), ctx8);
  const EncodedTensor eight = *q8.graph.initializers.at("w2").encoding;
  REQUIRE(four.parts.size() == 1);
  REQUIRE(eight.parts.size() == 1);
  EncodedTensor mixed_w2 = eight;
  mixed_w2.parts.clear();
  auto slice = [](const EncodedPart& p, int64_t begin, int64_t end, int64_t inner) {
    EncodedPart out = p;
    out.channel_begin = begin;
    out.channel_end = end;
    out.scales.assign(p.scales.begin() + begin, p.scales.begin() + end);
    out.streams[0].assign(p.streams[0].begin() + begin * inner, p.streams[0].begin() + end * inner);
    return out;
  };
  mixed_w2.parts = {slice(eight.parts[0], 0, 16, 8), slice(four.parts[0], 16, 48, 8), slice(eight.parts[0], 48, 64, 8)};
  Tensor expected = decode_tensor(eight, "w2");
  const Tensor from_four = decode_tensor(four, "w2");
  std::memcpy(expected.data<float>() + 16 * 8, from_four.data<float>() + 16 * 8, 32 * 8 * sizeof(float));
  CHECK(same_bits(decode_tensor(mixed_w2, "w2"), expected));
  Model mixed_model = test::with_encodings(m, {{"w2", mixed_w2}});
  CHECK(same_bits(*mixed_model.graph.initializer("w2"), expected));
  encode_remaining(mixed_model, Encoding::fp32_planes);
  const auto bytes = write_mcz(mixed_model, nlohmann::ordered_json::object(), 1);
  const McFile file = read_mcz(bytes, "m.mcz");
  const Model back = decode_mcz(file, "m.mcz");
  CHECK(same_bits(*back.graph.initializer("w2"), expected));
  const Model qdq = with_qdq_weights(back);
  CHECK(test::count_op(qdq, "DequantizeLinear") == 1);
  Tensor x(DType::f32, {2, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::cos(0.05f * static_cast<float>(i));
  CHECK(same_bits(Executor(qdq).run({x})[0], Executor(back).run({x})[0]));
}

TEST_CASE("test_pruning: sparse-quantize views=2 judges mirrored held-out views and leaves the context's held-out set as it was") {
  const Model m = test::tiny_pointwise_model();
  SmallCalibration calib(m);
  for (const char* views : {"1", "2"}) {
    CAPTURE(views);
    PassContext ctx;
    std::vector<std::string> log;
    ctx.log = [&](const std::string& line) { log.push_back(line); };
    run_passes(m, std::string("sparse-quantize<max-drop=1;bits=8+4;sparsity=0;views=") + views + ">", &calib, &ctx);
    CHECK_FALSE(ctx.held_out.mirrored);
    CHECK(ctx.float_reference().probabilities.size() == calib.held.files.size());
  }
  expect_error([&] { run_passes(m, "sparse-quantize<views=3>", &calib); }, ErrorKind::usage, "views=3");
}

TEST_CASE("test_pruning: a layer's filters fitted on several threads give the fits of one thread") {
  // From 32 filters the per-filter fits run in parallel (passes/weight_fit.cpp): every field of
  // every fit must be what one thread gives, for each format, with GPTQ, pruning and learned rounding.
  SyntheticLayer s = synthetic_layer(40, 24, 400);
  std::vector<FitOptions> cases;
  for (WeightFormat format : {WeightFormat::int8, WeightFormat::int4, WeightFormat::ternary}) {
    FitOptions o;
    o.format = format;
    o.terms = format == WeightFormat::ternary ? 2 : 1;
    cases.push_back(o);
  }
  FitOptions pruned;
  pruned.format = WeightFormat::int8;
  pruned.pruning.sparsity = 0.5;
  cases.push_back(pruned);
  FitOptions learned;
  learned.format = WeightFormat::int4;
  learned.adaround = true;
  learned.adaround_iterations = 50;
  cases.push_back(learned);
  for (FitOptions o : cases) {
    CAPTURE(static_cast<int>(o.format));
    CAPTURE(o.pruning.sparsity);
    CAPTURE(o.adaround);
    o.threads = 1;
    const auto one = fit_filters(s.weight, s.gram, test::indices(40), o);
    o.threads = 3;
    const auto three = fit_filters(s.weight, s.gram, test::indices(40), o);
    REQUIRE(one.size() == three.size());
    for (size_t f = 0; f < one.size(); ++f) {
      CAPTURE(f);
      CHECK(one[f].values == three[f].values);
      CHECK(one[f].q == three[f].q);
      CHECK(one[f].scale == three[f].scale);
      CHECK(one[f].term_scales == three[f].term_scales);
      CHECK(one[f].term_symbols == three[f].term_symbols);
      CHECK(one[f].abs_error == three[f].abs_error);
      CHECK(one[f].bias_shift == three[f].bias_shift);
      CHECK(one[f].pruned == three[f].pruned);
    }
  }
}
