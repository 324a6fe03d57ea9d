// Canonicalizing passes leave the network's function unchanged (within 1e-4 of the output
// range, issue #5) and do what they say; pipeline text parses, prints back, and rejects bad tokens.
#include <doctest/doctest.h>

#include <cmath>

#include "core/executor.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "passes/pass.h"
#include "tests/model_builder.h"
#include "tests/helpers.h"
#include "tests/test_util.h"

using namespace mc;

namespace {




}  // namespace

TEST_CASE("test_passes: pipelines parse, print back, and reject bad tokens") {
  auto p = parse_pipeline("fold-constants,fold-bn");
  REQUIRE(p.size() == 2);
  CHECK(pipeline_string(p) == "fold-constants,fold-bn");
  CHECK(pipeline_string(parse_pipeline(pipeline_string(p))) == pipeline_string(p));
  auto expect_usage = [](const std::string& text, const std::string& part) {
    try {
      parse_pipeline(text);
      FAIL("no error for " << text);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::usage);
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
  };
  expect_usage("fold-bn,frobnicate", "unknown pass 'frobnicate'");
  expect_usage("", "no passes");
  expect_usage("fold-bn,", "trailing ','");
  expect_usage("fold-bn<x=1>", "pass 'fold-bn': unknown option 'x' (it takes none)");
  expect_usage("fold-bn<", "missing '>'");
}

TEST_CASE("test_passes: fold-bn and fold-constants keep every shared model's outputs") {
  if (!test::need_shared()) return;
  for (const test::SharedModel c : test::float_shared_models) {
    CAPTURE(c.model);
    Model m = load_onnx((test::shared_dir() / "models" / (std::string(c.model) + ".onnx")).string());
    Model folded = m;
    PassContext ctx;
    run_pipeline(folded, parse_pipeline("fold-constants,fold-bn"), ctx);
    CHECK(test::count_op(folded, "BatchNormalization") == 0);
    CHECK(folded.graph.nodes.size() <= m.graph.nodes.size());
    Tensor x = test::first_reference_images(c.input, 2);
    CHECK(test::relative_change(m, folded, x) <= 1e-4);
  }
}

TEST_CASE("test_passes: fold-constants folds batch-independent shape arithmetic only") {
  if (!test::need_shared()) return;
  // MobileNetV2 flattens with Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the batch
  // entry depends on the input and must stay; Unsqueeze of the constant axes must fold.
  Model m = load_onnx((test::shared_dir() / "models" / "mobilenet_v2_1_0.onnx").string());
  Model folded = m;
  PassContext ctx;
  run_pipeline(folded, parse_pipeline("fold-constants"), ctx);
  CHECK(test::count_op(folded, "Shape") == 1);
  CHECK(test::count_op(folded, "Reshape") == 1);
  Tensor x = test::first_reference_images("input_torch.npy", 3);  // a batch size neither inference run used
  CHECK(test::relative_change(m, folded, x) == 0.0);
}
