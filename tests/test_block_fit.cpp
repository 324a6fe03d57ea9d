// Block reconstruction (passes/block_fit.h): which chains a network is cut into, that a chain computed
// on sampled positions is exactly the network's own value there, and method=block in the pipeline.
#include <doctest/doctest.h>

#include <cmath>

#include "analysis/calibration.h"
#include "passes/block_fit.h"
#include "passes/pass.h"
#include "passes/weight_fit.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

// x [N,3,8,8] -> stem Conv 3x3 (4) -> Relu6 -> inverted residual (1x1 to 8 -> Relu6 -> depthwise 3x3 ->
// Relu6 -> 1x1 to 4, + the stem's output) -> depthwise 3x3 stride 2, pads (0, 0, 1, 1) -> Relu ->
// 1x1 to 6 -> Relu -> GlobalAveragePool -> Flatten -> Gemm (3).
Model inverted_residual_model() {
  Model m;
  m.opset = 13;
  m.ir_version = 7;
  Graph& g = m.graph;
  g.name = "inverted_residual";
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 3, 8, 8}, {"N", "", "", ""}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 3}, {"N", ""}, true});
  test::TestRandom random{31};
  auto conv = [&](const std::string& name, const std::string& in, int64_t out, int64_t in_channels, int64_t k, int64_t groups,
                  std::vector<int64_t> strides, std::vector<int64_t> pads) {
    g.initializers[name + "_w"] =
        Tensor::from_vector<float>({out, in_channels / groups, k, k}, random.values(static_cast<size_t>(out * in_channels / groups * k * k), 1.2f));
    g.initializers[name + "_b"] = Tensor::from_vector<float>({out}, random.values(static_cast<size_t>(out), 0.4f));
    Node n{name, "Conv", {in, name + "_w", name + "_b"}, {name + "_out"}, {}};
    n.attrs["kernel_shape"] = test::ints_attr({k, k});
    n.attrs["group"] = Attribute{AttrType::integer, 0, groups, {}, {}, {}, {}, {}};
    n.attrs["strides"] = test::ints_attr(strides);
    n.attrs["pads"] = test::ints_attr(pads);
    g.nodes.push_back(n);
    return name + "_out";
  };
  g.initializers["zero"] = Tensor::from_vector<float>({}, {0.0f});
  g.initializers["six"] = Tensor::from_vector<float>({}, {6.0f});
  auto relu6 = [&](const std::string& in) {
    g.nodes.push_back(Node{in + "_clip", "Clip", {in, "zero", "six"}, {in + "_r6"}, {}});
    return in + "_r6";
  };
  auto relu = [&](const std::string& in) {
    g.nodes.push_back(Node{in + "_relu", "Relu", {in}, {in + "_r"}, {}});
    return in + "_r";
  };
  const std::string stem = relu6(conv("stem", "x", 4, 3, 3, 1, {1, 1}, {1, 1, 1, 1}));
  const std::string expand = relu6(conv("expand", stem, 8, 4, 1, 1, {1, 1}, {0, 0, 0, 0}));
  const std::string dw = relu6(conv("dw", expand, 8, 8, 3, 8, {1, 1}, {1, 1, 1, 1}));
  const std::string project = conv("project", dw, 4, 8, 1, 1, {1, 1}, {0, 0, 0, 0});
  g.nodes.push_back(Node{"add", "Add", {project, stem}, {"sum"}, {}});
  const std::string down = relu(conv("down", "sum", 4, 4, 3, 4, {2, 2}, {0, 0, 1, 1}));
  const std::string pw = relu(conv("pw", down, 6, 4, 1, 1, {1, 1}, {0, 0, 0, 0}));
  g.nodes.push_back(Node{"gap", "GlobalAveragePool", {pw}, {"p"}, {}});
  g.nodes.push_back(Node{"flatten", "Flatten", {"p"}, {"f"}, {}});
  g.initializers["fc_w"] = Tensor::from_vector<float>({3, 6}, random.values(18, 1.0f));
  g.initializers["fc_b"] = Tensor::from_vector<float>({3}, random.values(3, 0.2f));
  Node fc{"fc", "Gemm", {"f", "fc_w", "fc_b"}, {"y"}, {}};
  fc.attrs["transB"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
  g.nodes.push_back(fc);
  return m;
}

std::vector<std::string> layer_names(const Model& m) {
  std::vector<std::string> names;
  for (const Node* n : select_layers(m, "all")) names.push_back(n->name);
  return names;
}

Model quantized_activations(const Model& m, const CalibrationSet& set) {
  Model q = m;
  PassContext ctx;
  ctx.calibration = set;
  run_pipeline(q, parse_pipeline("quantize-activations"), ctx);
  return q;
}

// Every chain of `q`, computed on its samples from `q`'s own values, reproduces `q`'s output there.
int check_chains_exact(const Model& q, const CalibrationSet& set) {
  int chains = 0;
  for (const ChainSpec& spec : find_chains(q, layer_names(q))) {
    if (spec.chain.layers.empty()) continue;
    CAPTURE(spec.output);
    std::string why;
    BlockFitOptions o;
    o.samples = 200;
    const ChainSamples samples = collect_chain_samples(q, spec, q, set, 1, o, why);
    REQUIRE_MESSAGE(samples.count > 0, why);
    double energy = 0;
    for (float t : samples.target) energy += static_cast<double>(t) * t;
    energy /= static_cast<double>(samples.count);
    const double error = ChainPass(spec.chain, chain_params(q, spec), samples, test::indices(samples.count)).loss();
    CHECK(error <= 1e-9 * (1 + energy));
    ++chains;
  }
  return chains;
}

}  // namespace

TEST_CASE("test_block_fit: an inverted-residual network is cut into its blocks; each computes the network's own values") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 6);
  const Model m = inverted_residual_model();
  const CalibrationSet set = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), m);
  const Model q = quantized_activations(m, set);
  const auto chains = find_chains(q, layer_names(q));
  REQUIRE(chains.size() == 4);
  CHECK(chains[0].layers == std::vector<std::string>{"stem"});
  CHECK(chains[1].layers == std::vector<std::string>{"expand", "dw", "project"});
  CHECK(chains[1].chain.residual);
  CHECK(chains[1].output == "sum");
  CHECK(chains[1].chain.taps == 9);
  CHECK(chains[1].chain.layers[0].input_quant.on);
  CHECK(chains[1].chain.layers[1].clip);
  CHECK(chains[1].chain.layers[1].hi == 6.0f);
  CHECK_FALSE(chains[1].chain.layers[2].clip);
  CHECK(chains[2].layers == std::vector<std::string>{"down", "pw"});
  CHECK(chains[2].stride_h == 2);
  CHECK(chains[2].pad_bottom == 1);
  CHECK_FALSE(chains[2].chain.residual);
  CHECK(chains[3].layers == std::vector<std::string>{"fc"});
  CHECK(chains[3].chain.layers.empty());  // a Gemm is no chain
  CHECK(check_chains_exact(q, set) == 3);
  // Without activation quantization too.
  CHECK(check_chains_exact(m, set) == 3);
}

TEST_CASE("test_block_fit: the chains of every architecture family compute the network's own values") {
  for (const auto& family : test::family_models()) {
    CAPTURE(family.name);
    const Model m = family.make();
    test::TempDir dir;
    const ImageConfig config = test::write_family_inputs(dir.path, 4, 9);
    const CalibrationSet set = calibration_set(dir.path.string(), 4, 0, config, m);
    CHECK(check_chains_exact(quantized_activations(m, set), set) > 0);
  }
}

TEST_CASE("test_block_fit: method=block keeps each block's better fit, is the same at any thread count, needs sequential=on") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 12);
  const Model m = inverted_residual_model();
  auto run = [&](const std::string& pipeline, int threads) { return test::run_on_small_inputs(m, pipeline, dir.path, 12, threads); };
  const Model one = run("quantize-activations,quantize-int8<bits=3;sequential=on;method=block;iterations=200>", 1);
  const Model three = run("quantize-activations,quantize-int8<bits=3;sequential=on;method=block;iterations=200>", 3);
  for (const auto& [name, init] : one.graph.initializers) {
    CHECK_MESSAGE(init.values.to_float_vector() == three.graph.initializers.at(name).values.to_float_vector(), name);
    if (name.size() > 2 && name.substr(name.size() - 2) == "_w") CHECK_MESSAGE(init.encoded(), name);
  }
  // Residual ternary levels too (the pointwise layers).
  const Model ternary = run("quantize-activations,ternarize<terms=2;sequential=on;method=block;iterations=100>", 2);
  for (const char* w : {"expand_w", "project_w", "pw_w"}) CHECK_MESSAGE(ternary.graph.initializers.at(w).encoded(), w);
  test::expect_error([&] { run("quantize-int8<bits=3;method=block>", 1); }, ErrorKind::usage, "method=block needs sequential=on");
  test::expect_error([&] { run("split-hybrid<fraction=0.5;method=block>", 1); }, ErrorKind::usage, "split-hybrid does not take method=block");
}
