// Every recipe on a graph with the MobileNetV3 / EfficientNet structures (tests/model_builder.h
// se_family_model: hard-swish, squeeze-and-excitation through ReduceMean or GlobalAveragePool with
// HardSigmoid / Sigmoid gates and a broadcasting Mul, Swish, LeakyRelu, PRelu, a Gemm head): the
// passes that classify ops must accept the ops they do not rewrite, and the SE block's 1x1 convs
// and the Gemm are weighted layers like any other (compressed, their inputs int8 where the recipe
// quantizes activations). The int8 file's --qdq export runs in ONNX Runtime and agrees with eval.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "analysis/calibration.h"
#include "core/executor.h"
#include "core/weighted_op.h"
#include "formats/npy.h"
#include "formats/qdq_export.h"
#include "passes/activation_quant.h"
#include "passes/recipe.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

const char* const se_layers[] = {"se_reduce", "se_expand", "mb_se_reduce", "mb_se_expand", "fc"};

bool integer_encoded(const Initializer& init) {
  if (!init.encoding || init.encoding->parts.empty()) return false;
  return std::all_of(init.encoding->parts.begin(), init.encoding->parts.end(), [](const EncodedPart& p) {
    return p.encoding == Encoding::int8 || p.encoding == Encoding::int4 || p.encoding == Encoding::ternary;
  });
}

// max |a - b| / max(1, max |b|).
double relative_difference(const Tensor& a, const Tensor& b) {
  const auto x = a.to_float_vector(), y = b.to_float_vector();
  double diff = 0, range = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(x[i]) - y[i]));
    range = std::max(range, std::fabs(static_cast<double>(y[i])));
  }
  return diff / range;
}

}  // namespace

TEST_CASE("test_family_passes: the family model runs at opsets 14 to 21 with the same outputs") {
  Tensor x = test::write_small_inputs(test::TempDir().path, 1)[0];
  x.reshape({1, 3, 8, 8});
  const Tensor at14 = Executor(test::se_family_model(14)).run({x})[0];
  CHECK(at14.shape() == Shape{1, 10});
  for (int64_t opset : {17, 18, 21}) {
    CAPTURE(opset);
    const Tensor y = Executor(test::se_family_model(opset)).run({x})[0];
    CHECK(y.to_float_vector() == at14.to_float_vector());
  }
  // Fused (Conv + HardSwish, Relu, Sigmoid) and unfused agree bit for bit.
  const Tensor unfused = Executor(test::se_family_model(18), ExecutorOptions{2, false}).run({x})[0];
  CHECK(unfused.to_float_vector() == at14.to_float_vector());
}

TEST_CASE("test_family_passes: every recipe compresses the SE / hard-swish / Swish graph; SE convs and the Gemm are layers") {
  const Model m = test::se_family_model(18);
  test::TempDir fit_dir, held_dir;
  test::write_small_inputs(fit_dir.path, 8);
  const auto held_inputs = test::write_small_inputs(held_dir.path, 6);
  RecipeOptions o;
  o.calibration = calibration_set(fit_dir.path.string(), 8, 0, test::small_image_config(), m);
  o.held_out = calibration_set(held_dir.path.string(), 6, 1, test::small_image_config(), m);
  o.threads = 1;
  Tensor x = held_inputs[0];
  x.reshape({1, 3, 8, 8});
  const Tensor reference = Executor(m).run({x})[0];
  const std::string ort = test::ort_runner();

  for (const std::string& recipe : recipe_names()) {
    CAPTURE(recipe);
    CompressedModel c;
    RecipeOptions options = o;
    if (recipe == "hybrid") options.ternary_fraction = 0.3;
    try {
      c = run_recipe(recipe, m, options);
    } catch (const Error& e) {
      FAIL_CHECK(recipe << " refused the family model: " << std::string(e.what()));
      continue;
    }
    // Every weighted layer is still there, with its weight encoded.
    int layers = 0;
    for (const auto& node : c.model.graph.nodes) {
      if (!weighted_op_traits(node.op)) continue;
      const auto layer = weighted_layer(c.model.graph, node);
      REQUIRE_MESSAGE(layer, node.name << " lost its constant weight");
      const Initializer* init = c.model.graph.initializers.count(layer->weight) ? &c.model.graph.initializers.at(layer->weight) : nullptr;
      REQUIRE(init);
      CHECK_MESSAGE(init->encoding != nullptr, node.name);
      // int8, prom and hybrid store every layer in integer levels or ternary terms, SE convs and
      // the classifier included.
      if (recipe == "int8" || recipe == "prom" || recipe == "hybrid" || recipe == "w4a8") CHECK_MESSAGE(integer_encoded(*init), node.name);
      ++layers;
    }
    CHECK(layers == 11);
    // Where the recipe quantizes activations, the SE convs and the Gemm read int8 inputs too.
    if (has_quantized_activations(c.model))
      for (const char* name : se_layers) {
        const Node* node = c.model.graph.node(name);
        REQUIRE(node);
        CHECK_MESSAGE(input_is_quantized(c.model, *node), name);
      }
    // hybrid measures each pointwise layer's filters, the SE block's 1x1 convs among them.
    if (recipe == "hybrid")
      for (const char* name : {"se_reduce", "se_expand", "mb_se_reduce", "mb_se_expand", "expand", "project"}) {
        CAPTURE(name);
        REQUIRE(c.filter_sensitivity.count(name));
        CHECK(!c.filter_sensitivity.at(name).empty());
      }
    // What eval runs is close to the float model.
    const Model runnable = model_to_run(c.model);
    const Tensor y = Executor(runnable).run({x})[0];
    REQUIRE(y.shape() == reference.shape());
    CHECK(relative_difference(y, reference) < (recipe == "lossless" ? 1e-7 : 0.5));
    // The --qdq export runs in our executor and in ONNX Runtime with eval's outputs.
    const Model qdq = with_qdq_weights(c.model);
    const Tensor ours_qdq = Executor(qdq).run({x})[0];
    CHECK(relative_difference(ours_qdq, y) < 1e-4);
    if (!ort.empty()) {
      const Tensor theirs = test::ort_output(ort, qdq, x);
      if (theirs.numel() == y.numel()) CHECK(relative_difference(theirs, y) < 1e-4);
      const Tensor theirs_default = test::ort_output(ort, runnable, x);
      if (theirs_default.numel() == y.numel()) CHECK(relative_difference(theirs_default, y) < 1e-4);
    }
  }
}

namespace {

// Recipe options calibrating `m` (input [N,3,16,16]) on six deterministic tensors written to `dir`;
// the first of them as a batch of one in `first`.
RecipeOptions family_options(const Model& m, const test::TempDir& dir, Tensor& first) {
  test::TestRandom random{99};
  for (int i = 0; i < 6; ++i) {
    const Tensor t = Tensor::from_vector<float>({3, 16, 16}, random.values(3 * 16 * 16, 4.0f));
    std::string file = std::to_string(i);
    file += ".npy";
    write_npy((dir.path / file).string(), t);
    if (i == 0) first = t;
  }
  first.reshape({1, 3, 16, 16});
  ImageConfig config = test::small_image_config();
  config.crop = 16;
  config.resize_short = 16;
  RecipeOptions o;
  o.calibration = calibration_set(dir.path.string(), 6, 0, config, m);
  o.held_out = calibration_set(dir.path.string(), 6, 1, config, m);
  o.threads = 1;
  return o;
}

}  // namespace

TEST_CASE("test_family_passes: int8 activations on opset-7 and opset-9 models (ResNet exports) raise them to opset 13") {
  // QuantizeLinear exists from opset 10: quantize-activations raises an older model to 13 (what the
  // --qdq export does) instead of refusing it; the model computes the same, now with int8 inputs,
  // and ONNX Runtime runs what eval runs.
  const std::string ort = test::ort_runner();
  for (const int64_t opset : {7, 9}) {
    CAPTURE(opset);
    Model m = test::resnet_model();
    REQUIRE(m.opset == 9);
    m.opset = opset;  // the same nodes read the same at 7 (model zoo ResNet-v1-7)
    test::TempDir dir;
    Tensor x;
    const CompressedModel c = run_recipe("int8", m, family_options(m, dir, x));
    CHECK(c.model.opset == 13);
    CHECK(has_quantized_activations(c.model));
    const Tensor reference = Executor(m).run({x})[0];
    const Model runnable = model_to_run(c.model);
    const Tensor y = Executor(runnable).run({x})[0];
    CHECK(relative_difference(y, reference) < 0.1);
    if (ort.empty()) continue;
    for (const Model& exported : {runnable, with_qdq_weights(c.model)}) {
      const Tensor theirs = test::ort_output(ort, exported, x);
      if (theirs.numel() == y.numel()) CHECK(relative_difference(theirs, y) < 1e-4);
    }
  }
}

TEST_CASE("test_family_passes: prom makes ShuffleNetV1's grouped 1x1 convs ternary: they are pointwise layers") {
  const Model m = test::shufflenet_v1_model();
  int grouped_pointwise = 0;
  for (const auto& node : m.graph.nodes) {
    const auto layer = weighted_layer(m.graph, node);
    if (!layer || layer->geometry.groups == 1 || node.attrs.at("kernel_shape").ints != std::vector<int64_t>{1, 1}) continue;
    CHECK(layer_kind(*layer, m.graph.initializers.at(layer->weight).values) == "pointwise");
    ++grouped_pointwise;
  }
  CHECK(grouped_pointwise == 3);
  test::TempDir dir;
  Tensor x;
  const CompressedModel c = run_recipe("prom", m, family_options(m, dir, x));
  for (const char* name : {"u1_g1", "u1_g2", "u2_g1", "u2_g2"}) {
    CAPTURE(name);
    const auto& init = c.model.graph.initializers.at(std::string(name) + "_w");
    REQUIRE(init.encoding);
    for (const auto& part : init.encoding->parts) CHECK(part.encoding == Encoding::ternary);
  }
  const Tensor reference = Executor(m).run({x})[0];
  const Tensor y = Executor(model_to_run(c.model)).run({x})[0];
  CHECK(relative_difference(y, reference) < 0.5);
  // The --qdq export (each ternary weight an int8 term behind DequantizeLinear, groups kept) runs as eval does.
  CHECK(relative_difference(Executor(with_qdq_weights(c.model)).run({x})[0], y) < 1e-4);
}
