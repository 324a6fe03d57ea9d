// The op counter against the published totals of ../shared/docs/RESEARCH.md (224x224 input):
// MobileNetV1 0.75: 325M MACs, 2.6M params; 0.5: 149M, 1.3M; 0.25: 41M, 0.5M;
// MobileNetV2 1.0: 300M, 3.4M; ShuffleNetV2 1.0x: 146M, 2.3M. MACs must be within 2%. The
// parameter figures are published with two significant digits, so they must be within 2% or
// within half a unit of the last published digit (3.4M covers 3.35M..3.45M, plus 2%).
#include <doctest/doctest.h>

#include <cmath>

#include "analysis/op_count.h"
#include "formats/onnx_model.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

TEST_CASE("test_op_count: conv MACs follow Cout*Hout*Wout*(Cin/groups)*Kh*Kw") {
  Model m = test::tiny_conv_model();  // 3->4 channels, 3x3, pad 1 on 8x8
  OpCount c = count_ops(m);
  REQUIRE(c.layers.size() == 1);
  CHECK(c.layers[0].macs == 4 * 8 * 8 * 3 * 3 * 3);
  CHECK(c.layers[0].params == 4 * 3 * 3 * 3 + 4);
  CHECK(c.params == 4 * 3 * 3 * 3 + 4);
  CHECK(c.layers[0].output_shape == Shape{1, 4, 8, 8});
  // Grouped: 2 groups halve the per-output work.
  m.graph.initializers["w"] = Tensor(DType::f32, {4, 1, 3, 3});
  m.graph.inputs[0].shape[1] = 2;
  m.graph.nodes[0].attrs["group"] = Attribute{AttrType::integer, 0, 2, {}, {}, {}, {}, {}};
  OpCount g = count_ops(m);
  CHECK(g.layers[0].macs == 4 * 8 * 8 * 1 * 3 * 3);
}

TEST_CASE("test_op_count: shared models reproduce the published totals") {
  if (!test::need_shared()) return;
  struct Published {
    const char* model;
    double macs;
    double params;
    double params_unit;  // the last published digit's place
  };
  const Published published[] = {
      {"mobilenet_v1_0.75_224", 325e6, 2.6e6, 0.1e6}, {"mobilenet_v1_0.5_224_quant_dequant", 149e6, 1.3e6, 0.1e6},
      {"mobilenet_v1_0.25_224", 41e6, 0.5e6, 0.1e6},  {"mobilenet_v2_1_0", 300e6, 3.4e6, 0.1e6},
      {"shufflenet_v2_x1_0", 146e6, 2.3e6, 0.1e6},
  };
  for (const auto& p : published) {
    CAPTURE(p.model);
    Model m = load_onnx((test::shared_dir() / "models" / (std::string(p.model) + ".onnx")).string());
    OpCount c = count_ops(m);
    double macs = static_cast<double>(c.macs), params = static_cast<double>(c.params);
    CAPTURE(macs);
    CAPTURE(params);
    CHECK(std::fabs(macs - p.macs) <= 0.02 * p.macs);
    CHECK(std::fabs(params - p.params) <= 0.02 * p.params + p.params_unit / 2);
  }
}
