// ONNX import/export: round trips, and every kind of invalid model rejected with the right error
// kind and a message naming the problem. The golden must-fail files in tests/data/bad are made by
// `MCOMPRESS_REGENERATE_GOLDEN=1 mcompress_tests --test-case='test_onnx_import: golden*'`.
#include <doctest/doctest.h>

#include <limits>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/executor.h"
#include "core/shape_inference.h"
#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "tests/mcz_test_util.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::as_bytes;

namespace {

// Returns the error a parse raises (kind and message), or fails the test if none.
Error parse_error(const std::string& bytes, const std::string& name = "m.onnx") {
  try {
    parse_onnx(as_bytes(bytes), name);
  } catch (const Error& e) {
    return e;
  }
  FAIL("no error for " << name);
  return Error(ErrorKind::internal, "");
}

Model with_op(const std::string& op) {
  Model m = test::tiny_conv_model();
  m.graph.nodes[1].op = op;
  return m;
}

Model with_cycle() {
  Model m = test::tiny_conv_model();
  m.graph.nodes[0].inputs[0] = m.graph.nodes[1].outputs[0];  // conv reads relu's output, relu reads conv's
  m.graph.inputs.clear();
  return m;
}

Model with_dangling_input() {
  Model m = test::tiny_conv_model();
  m.graph.nodes[2].inputs[0] = "nowhere";
  return m;
}

// The conv's weights expect `channels` input channels; the input has 3.
Model with_conv_channels(int64_t channels) {
  Model m = test::tiny_conv_model();
  m.graph.initializers["w"] = Tensor(DType::f32, {4, channels, 3, 3});
  return m;
}

struct ImportGolden {
  const char* file;
  std::string (*make)();
  ErrorKind kind;
  const char* message_part;
};

const ImportGolden import_goldens[] = {
    {"unsupported_op.onnx", [] { return serialize_onnx(with_op("LSTM")); }, ErrorKind::unsupported, "unsupported op 'LSTM' in node 'relu' (opset 13)"},
    {"cycle.onnx", [] { return serialize_onnx(with_cycle()); }, ErrorKind::input, "cycle"},
    {"dangling_input.onnx", [] { return serialize_onnx(with_dangling_input()); }, ErrorKind::input, "input 'nowhere' is not produced"},
    {"truncated.onnx", [] { auto s = serialize_onnx(test::tiny_conv_model()); return s.substr(0, s.size() / 2); }, ErrorKind::input, "truncated or corrupt"},
    {"empty.onnx", [] { return std::string(); }, ErrorKind::input, "empty file"},
    {"not_a_model.onnx", [] { return std::string("\x0a\x03\x66\x6f\x6f\x12\x02\x08\x01", 9); }, ErrorKind::input, "not an ONNX model"},
    {"no_outputs.onnx", [] { auto m = test::tiny_conv_model(); m.graph.outputs.clear(); return serialize_onnx(m); }, ErrorKind::input, "the graph has no outputs"},
    {"conv_channels.onnx", [] { return serialize_onnx(with_conv_channels(2)); }, ErrorKind::input, "'conv'"},
    {"opset_99.onnx", [] { auto m = test::tiny_conv_model(); m.opset = 99; return serialize_onnx(m); }, ErrorKind::unsupported, "opset 99 is not supported"},
    {"opset_22.onnx", [] { auto m = test::tiny_conv_model(); m.opset = 22; return serialize_onnx(m); }, ErrorKind::unsupported,
     "opset 22 is not supported (supported: 6 to 21)"},
    {"op_before_its_opset.onnx", [] { return serialize_onnx(with_op("HardSwish")); }, ErrorKind::input,
     "node 'relu' (HardSwish): the op does not exist before opset 14 (the model imports opset 13)"},
};

}  // namespace

TEST_CASE("test_onnx_import: export then import gives the same graph and outputs") {
  Model m = test::tiny_conv_model();
  std::string bytes = serialize_onnx(m);
  Model back = parse_onnx(as_bytes(bytes), "tiny");
  CHECK(back.graph.nodes.size() == m.graph.nodes.size());
  CHECK(back.opset == 13);
  CHECK(back.graph.initializers.size() == 2);
  CHECK(serialize_onnx(back) == bytes);
  Tensor x(DType::f32, {2, 3, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 17) * 0.1f - 0.8f;
  Executor a(m), b(back);
  auto ya = a.run({x})[0].to_float_vector();
  auto yb = b.run({x})[0].to_float_vector();
  CHECK(ya == yb);
}

TEST_CASE("test_onnx_import: shared models round-trip with bit-identical initializers") {
  if (!test::need_shared()) return;
  for (const char* name : {"mobilenet_v1_0.25_224", "mobilenet_v2_1_0", "shufflenet_v2_x1_0"}) {
    Model m = load_onnx((test::shared_dir() / "models" / (std::string(name) + ".onnx")).string());
    Model back = parse_onnx(as_bytes(serialize_onnx(m)), name);
    REQUIRE(back.graph.initializers.size() == m.graph.initializers.size());
    for (const auto& [n, t_init] : m.graph.initializers) {
    const Tensor& t = t_init.values;
      const Tensor& u = back.graph.initializers.at(n).values;
      CHECK(u.shape() == t.shape());
      CHECK(std::memcmp(u.raw(), t.raw(), t.byte_size()) == 0);
    }
    CHECK(back.graph.nodes.size() == m.graph.nodes.size());
  }
}

TEST_CASE("test_onnx_import: invalid models fail with the right kind and message") {
  for (const auto& g : import_goldens) {
    CAPTURE(g.file);
    Error e = parse_error(g.make(), g.file);
    CHECK(e.kind() == g.kind);
    CHECK(std::string(e.what()).find(g.message_part) != std::string::npos);
    CHECK(std::string(e.what()).find(g.file) != std::string::npos);
  }
}

TEST_CASE("test_onnx_import: a node without outputs is an input error") {
  // Regression (fuzz finding tests/fuzz/regressions/onnx/crash-relu-without-outputs-3fdbc4a6.onnx): a
  // Relu with constant inputs and no outputs was folded by shape inference, whose kernel wrote to an
  // output that did not exist.
  Model m = test::tiny_conv_model();
  m.graph.nodes[1].outputs.clear();
  const Error e = parse_error(serialize_onnx(m));
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()) == "m.onnx: node 'relu' (Relu) has no outputs");
}

TEST_CASE("test_onnx_import: float values where integers are expected convert without undefined behaviour") {
  // Regression (fuzz finding tests/fuzz/regressions/onnx/crash-float-axes-out-of-int64-range-b53d466f.onnx):
  // an Unsqueeze whose axes input was a float weight holding 5.5e19 was converted to int64 with a cast
  // undefined for values outside its range. They saturate now (NaN as 0), and the op rejects the axes.
  const Tensor f = Tensor::from_vector<float>({6}, {1e20f, -1e20f, std::numeric_limits<float>::quiet_NaN(), 3.7f, -3.7f, 0x1p62f});
  CHECK(f.to_int64_vector() == std::vector<int64_t>{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), 0, 3, -3,
                                                     int64_t{1} << 62});
  Model m = test::varied_model();
  Graph& g = m.graph;
  for (auto& node : g.nodes)
    if (node.op == "Unsqueeze") node.inputs[1] = "fc_w";
  try {
    Model parsed = parse_onnx(as_bytes(serialize_onnx(m)), "m.onnx");
    infer_shapes(parsed, 1);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_MESSAGE(std::string(e.what()).find("unsqueeze") != std::string::npos, e.what());
  }
}

TEST_CASE("test_onnx_import: golden must-fail files are current and fail as documented") {
  auto dir = test::source_dir() / "tests" / "data" / "bad";
  bool regenerate = std::getenv("MCOMPRESS_REGENERATE_GOLDEN") != nullptr;
  for (const auto& g : import_goldens) {
    CAPTURE(g.file);
    std::string path = (dir / g.file).string();
    if (regenerate) {
      std::ofstream(path, std::ios::binary) << g.make();
    }
    auto bytes = read_binary_file(path);
    std::string on_disk(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    CHECK(on_disk == g.make());
    Error e = parse_error(on_disk, path);
    CHECK(e.kind() == g.kind);
  }
}

TEST_CASE("test_onnx_import: small valid test models on disk are current") {
  // Used by the CLI tests: models that load but lack what a command needs.
  struct Valid {
    const char* file;
    Model (*make)();
  };
  const Valid valid[] = {{"relu_only.onnx", test::relu_only_model},
                         {"tiny_conv.onnx", test::tiny_conv_model},
                         {"nan_weight.onnx", [] {
                            // tiny_conv with one NaN and one Inf weight: lossless / fp16 warn, the rest refuse
                            Model m = test::tiny_conv_model();
                            Tensor& w = m.graph.initializers.at("w").values;
                            w.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
                            w.data<float>()[7] = std::numeric_limits<float>::infinity();
                            return m;
                          }},
                         {"se_family_opset18.onnx", [] { return test::se_family_model(18); }}};
  auto dir = test::source_dir() / "tests" / "data" / "models";
  bool regenerate = std::getenv("MCOMPRESS_REGENERATE_GOLDEN") != nullptr;
  for (const auto& v : valid) {
    CAPTURE(v.file);
    std::string path = (dir / v.file).string();
    if (regenerate) {
      std::filesystem::create_directories(dir);
      std::ofstream(path, std::ios::binary) << serialize_onnx(v.make());
    }
    auto bytes = read_binary_file(path);
    CHECK(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()) == serialize_onnx(v.make()));
  }
}

TEST_CASE("test_onnx_import: every truncation of a model is rejected cleanly") {
  std::string bytes = serialize_onnx(test::tiny_conv_model());
  int rejected = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    try {
      Model m = parse_onnx(as_bytes(bytes.substr(0, cut)), "cut");
      infer_shapes(m, 1);  // a prefix that parses must still be consistent or fail cleanly
    } catch (const Error& e) {
      CHECK((e.kind() == ErrorKind::input || e.kind() == ErrorKind::unsupported));
      ++rejected;
    }
  }
  CHECK(rejected == static_cast<int>(bytes.size()));
}

TEST_CASE("test_onnx_import: absurd shapes are rejected before allocation") {
  Model m = test::tiny_conv_model();
  m.graph.inputs[0].shape = {1, 3, int64_t{1} << 20, int64_t{1} << 20};
  // The import checks shapes, so the file is refused before any command runs it, with its name.
  const Error e = parse_error(serialize_onnx(m), "huge.onnx");
  CHECK(e.kind() == ErrorKind::input);
  CHECK(std::string(e.what()).find("2^31") != std::string::npos);
  CHECK(std::string(e.what()).rfind("huge.onnx: ", 0) == 0);
}
