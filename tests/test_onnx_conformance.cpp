// ONNX's operator conformance cases (Debian's libonnx-testdata: node/, pytorch-converted/,
// pytorch-operator/, simple/) run through load_onnx and the executor. A case is "claimed" when the
// library accepts it; it is "not claimed" only when the library itself reports it unsupported
// (mc::Error of kind unsupported at load or run time). Every claimed case must reproduce ONNX's
// outputs within ONNX's own tolerance (onnx/backend/test/runner: rtol 1e-3, atol 1e-7).
//
// MCOMPRESS_CONFORMANCE_REPORT=path writes the per-op summary as markdown (docs/CONFORMANCE.md).
#include <doctest/doctest.h>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/executor.h"
#include "formats/file_io.h"
#include "formats/onnx_model.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::floats;
using mc::test::ints;
namespace fs = std::filesystem;

namespace {

const fs::path testdata_root = "/usr/share/libonnx-testdata/data";
// 'real' holds full-size models (ResNet, ...): too slow for the unit suite.
const char* const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

constexpr double rtol = 1e-3;
constexpr double atol = 1e-7;

enum class Outcome { passed, failed, not_claimed };

struct CaseResult {
  std::string suite, name;
  std::set<std::string> ops;  // op types of the model's nodes
  Outcome outcome = Outcome::passed;
  std::string detail;  // first mismatch, or why the library does not claim the case
};

// Op types straight from the protobuf, independent of the loader under test, so a case the loader
// refuses is still attributed to its ops in the summary.
std::set<std::string> model_op_types(const fs::path& model_path) {
  auto bytes = read_binary_file(model_path.string());
  onnx::ModelProto proto;
  std::set<std::string> ops;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return ops;
  for (const auto& node : proto.graph().node())
    ops.insert(node.domain().empty() || node.domain() == "ai.onnx" ? node.op_type()
                                                                  : node.domain() + "." + node.op_type());
  return ops;
}

// input_0.pb, input_1.pb, ... in numeric order (input_10 after input_9).
std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (size_t i = 0;; ++i) {
    fs::path p = dir / (prefix + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

std::vector<fs::path> sorted_subdirs(const fs::path& dir, const std::string& prefix = "") {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// A TensorProto file's tensor and the name of the value it feeds (which parse_onnx_tensor drops).
Tensor read_tensor(const fs::path& path, std::string* name) {
  auto bytes = read_binary_file(path.string());
  onnx::TensorProto proto;
  if (proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) *name = proto.name();
  return parse_onnx_tensor(bytes, path.string());
}

std::string value_str(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

// Empty when `got` matches `want`; otherwise the first difference.
std::string compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return std::string("element type ") + dtype_name(got.dtype()) + ", expected " + dtype_name(want.dtype());
  if (got.shape() != want.shape()) return "shape " + shape_str(got.shape()) + ", expected " + shape_str(want.shape());
  if (got.dtype() != DType::f32) {
    // Integers and booleans compare exactly.
    auto g = got.to_int64_vector(), w = want.to_int64_vector();
    auto [gi, wi] = std::mismatch(g.begin(), g.end(), w.begin());
    if (gi == g.end()) return "";
    return "element " + std::to_string(gi - g.begin()) + " of " + shape_str(got.shape()) + ": got " +
           std::to_string(*gi) + ", expected " + std::to_string(*wi);
  }
  const float* pg = got.data<float>();
  const float* pw = want.data<float>();
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = pg[i], w = pw[i];
    // As numpy's assert_allclose: NaN matches NaN, an infinity only the same infinity.
    if (std::isnan(g) && std::isnan(w)) continue;
    bool close = std::isinf(g) || std::isinf(w) ? g == w : std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!close)
      return "element " + std::to_string(i) + " of " + shape_str(got.shape()) + ": got " + value_str(g) +
             ", expected " + value_str(w);
  }
  return "";
}

// Runs one test_data_set. Returns the first mismatch ("" when all outputs match).
std::string run_data_set(Executor& exec, const Model& model, const fs::path& set_dir) {
  const auto& declared = model.graph.inputs;
  std::vector<Tensor> inputs(declared.size());
  std::vector<bool> given(declared.size(), false);
  auto files = numbered_files(set_dir, "input_");
  for (size_t i = 0; i < files.size(); ++i) {
    std::string name;
    Tensor t = read_tensor(files[i], &name);
    // Match by name where the file names its value; by position otherwise.
    size_t slot = declared.size();
    for (size_t d = 0; d < declared.size(); ++d)
      if (!name.empty() && declared[d].name == name) slot = d;
    if (slot == declared.size() && name.empty() && i < declared.size()) slot = i;
    if (slot == declared.size()) {
      if (model.graph.initializer(name)) continue;  // IR < 4: a value for an initializer listed as input
      return "input file " + files[i].filename().string() + " ('" + name + "') matches no graph input";
    }
    inputs[slot] = std::move(t);
    given[slot] = true;
  }
  for (size_t d = 0; d < declared.size(); ++d)
    if (!given[d]) return "no input file for graph input '" + declared[d].name + "'";
  auto outputs = exec.run(inputs);
  auto expected_files = numbered_files(set_dir, "output_");
  if (outputs.size() != expected_files.size())
    return std::to_string(outputs.size()) + " outputs, expected " + std::to_string(expected_files.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    std::string name;
    Tensor want = read_tensor(expected_files[o], &name);
    std::string diff = compare(outputs[o], want);
    if (!diff.empty()) return "output " + std::to_string(o) + " '" + model.graph.outputs[o].name + "': " + diff;
  }
  return "";
}

CaseResult run_case(const std::string& suite, const fs::path& dir) {
  CaseResult r;
  r.suite = suite;
  r.name = dir.filename().string();
  const fs::path model_path = dir / "model.onnx";
  r.ops = model_op_types(model_path);
  auto not_claimed = [&](const std::string& why) {
    r.outcome = Outcome::not_claimed;
    r.detail = why;
    return r;
  };
  auto failed = [&](const std::string& why) {
    r.outcome = Outcome::failed;
    r.detail = why;
    return r;
  };
  // Whether an op has a kernel is the library's own list, not a list kept here.
  auto supported = supported_ops();
  for (const auto& op : r.ops)
    if (std::find(supported.begin(), supported.end(), op) == supported.end()) {
      // The loader must agree: a model with an op we have no kernel for is refused as unsupported.
      try {
        load_onnx(model_path.string());
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::unsupported) return not_claimed("no kernel for " + op);
        return failed(std::string("load_onnx reported error kind ") + std::to_string(e.exit_code()) +
                      " instead of unsupported: " + e.what());
      }
      return failed("op " + op + " has no kernel but the model loaded");
    }
  try {
    Model model = load_onnx(model_path.string());
    // Configurations that must agree with ONNX: serial with Conv+activation fusion, and threaded
    // without it (thread and fusion paths are separate code).
    const ExecutorOptions configs[] = {{1, true}, {2, false}};
    for (const auto& config : configs) {
      Executor exec(model, config);
      for (const auto& set_dir : sorted_subdirs(dir, "test_data_set_")) {
        std::string diff = run_data_set(exec, model, set_dir);
        if (!diff.empty())
          return failed(set_dir.filename().string() + " (threads " + std::to_string(config.threads) +
                        (config.fuse_activations ? ", fused" : "") + "): " + diff);
      }
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::unsupported) return not_claimed(e.what());
    return failed(std::string("error (exit ") + std::to_string(e.exit_code()) + "): " + e.what());
  } catch (const std::exception& e) {
    return failed(std::string("exception: ") + e.what());
  }
  return r;
}

// The reason without the model's path (library messages name the file) and safe in a table cell.
std::string short_reason(const CaseResult& r) {
  std::string s = r.detail;
  const std::string path = (testdata_root / r.suite / r.name / "model.onnx").string() + ": ";
  for (size_t at; (at = s.find(path)) != std::string::npos;) s.erase(at, path.size());
  for (auto& c : s)
    if (c == '|' || c == '\n') c = ' ';
  return s;
}

std::string markdown_report(const std::vector<CaseResult>& results) {
  struct Counts { int cases = 0, claimed = 0, passed = 0, not_claimed = 0; };
  std::map<std::string, Counts> per_op;
  std::map<std::string, int> without_kernel;
  Counts total;
  auto supported = supported_ops();
  auto has_kernel = [&](const std::string& op) {
    return std::find(supported.begin(), supported.end(), op) != supported.end();
  };
  for (const auto& r : results) {
    auto add = [&](Counts& c) {
      ++c.cases;
      if (r.outcome != Outcome::not_claimed) ++c.claimed;
      if (r.outcome == Outcome::passed) ++c.passed;
      if (r.outcome == Outcome::not_claimed) ++c.not_claimed;
    };
    add(total);
    for (const auto& op : r.ops) {
      if (has_kernel(op)) add(per_op[op]);
      else ++without_kernel[op];
    }
  }
  std::ostringstream md;
  md << "# ONNX operator conformance\n\n"
     << "Generated by `tests/test_onnx_conformance.cpp` from ONNX's conformance cases (Debian "
        "`libonnx-testdata`, ONNX 1.12: `node/`, `pytorch-converted/`, `pytorch-operator/`, `simple/`):\n\n"
     << "```\nMCOMPRESS_CONFORMANCE_REPORT=docs/CONFORMANCE.md ./build/tests/mcompress_tests "
        "--test-case='test_onnx_conformance:*'\n```\n\n"
     << "A case is **claimed** when mcompress loads and runs it; it is **not claimed** only when the library "
        "itself reports it unsupported (exit code 4: an op without a kernel, an opset outside "
     << min_opset << " to " << max_opset
     << ", an element type, attribute or input form it does not implement). Every claimed case must pass: "
        "each output has the expected element type and shape and every element satisfies "
        "|got - want| <= 1e-7 + 1e-3 |want| (ONNX's backend-test tolerance), with the executor at 1 thread "
        "with Conv+activation fusion and at 2 threads without it. The test fails on any claimed case that "
        "does not pass. ONNX 1.12's cases stop at opset 17: the forms of opsets 18 to 21 (Reduce axes as an "
        "input with noop_with_empty_axes, Split num_outputs, Pad axes and wrap, Quantize/DequantizeLinear "
        "block_size and output_dtype) and the new activations' corners are checked in `tests/test_ops.cpp`: "
        "on one-node graphs against values worked out by hand, and on one-node graphs and MobileNetV3 / "
        "EfficientNet blocks at opsets 18 to 21 against ONNX Runtime (within 1e-5 of the output range). This file checks, on one-node graphs, forms these cases do not exercise: opset-6 "
        "legacy broadcasting, Clip-6 defaults, the Dropout-7 mask type, Slice clamping at extreme steps, "
        "integer and wide-reflect Pad, and optional outputs only training or Indices need.\n\n"
     << "Totals: " << total.cases << " cases, " << total.claimed << " claimed, " << total.passed << " passed, "
     << total.claimed - total.passed << " failed, " << total.not_claimed << " not claimed.\n\n"
     << "## Ops with kernels\n\n"
     << "Cases are counted under every op type their model uses (most `node/` cases are single-op).\n\n"
     << "| Op | Cases | Claimed | Passed | Not claimed |\n|---|---:|---:|---:|---:|\n";
  for (const auto& op : supported) {
    Counts c = per_op.count(op) ? per_op.at(op) : Counts{};
    md << "| " << op << " | " << c.cases << " | " << c.claimed << " | " << c.passed << " | " << c.not_claimed
       << " |\n";
  }
  md << "\n## Failing cases\n\n";
  bool any_failed = false;
  for (const auto& r : results)
    if (r.outcome == Outcome::failed) {
      md << "- `" << r.suite << "/" << r.name << "`: " << short_reason(r) << "\n";
      any_failed = true;
    }
  if (!any_failed) md << "None.\n";
  md << "\n## Not claimed, although every op has a kernel\n\n"
     << "What the library reported for each case whose ops all have kernels but which uses a form, type or "
        "opset mcompress does not implement.\n\n"
     << "| Case | Reason |\n|---|---|\n";
  for (const auto& r : results) {
    if (r.outcome != Outcome::not_claimed) continue;
    if (!std::all_of(r.ops.begin(), r.ops.end(), has_kernel)) continue;
    md << "| `" << r.suite << "/" << r.name << "` | " << short_reason(r) << " |\n";
  }
  md << "\n## Ops without kernels\n\n"
     << "Cases using these ops are not claimed (number of cases in parentheses):\n\n";
  bool first = true;
  for (const auto& [op, n] : without_kernel) {
    md << (first ? "" : ", ") << op << " (" << n << ")";
    first = false;
  }
  md << "\n";
  return md.str();
}

}  // namespace

TEST_CASE("test_onnx_conformance: every claimed ONNX conformance case reproduces ONNX's outputs") {
  if (!fs::exists(testdata_root)) {
    MESSAGE(testdata_root.string() << " not present (Debian package libonnx-testdata); skipped");
    return;
  }
  std::vector<CaseResult> results;
  for (const char* suite : suites) {
    if (!fs::exists(testdata_root / suite)) continue;
    for (const auto& dir : sorted_subdirs(testdata_root / suite))
      if (fs::exists(dir / "model.onnx")) results.push_back(run_case(suite, dir));
  }
  CHECK(!results.empty());
  for (const auto& r : results)
    if (r.outcome == Outcome::failed) FAIL_CHECK(r.suite << "/" << r.name << ": " << short_reason(r));

  if (const char* report_path = std::getenv("MCOMPRESS_CONFORMANCE_REPORT")) {
    std::string md = markdown_report(results);
    MESSAGE(md);
    std::ofstream out(report_path, std::ios::binary);
    out << md;
    CHECK_MESSAGE(out.good(), "cannot write " << report_path);
  }
}

// Forms ONNX 1.12's cases do not exercise (older opsets, clamping corners, non-float padding), each
// a one-node graph with the answer worked out from the operator's definition.
namespace {

struct OneNode {
  Model model;
  std::vector<Tensor> feeds;

  OneNode(int64_t opset, const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs) {
    model.opset = opset;
    Node node;
    node.name = op + "_0";
    node.op = op;
    node.inputs = std::move(inputs);
    node.outputs = std::move(outputs);
    model.graph.nodes.push_back(node);
    for (const auto& out : model.graph.nodes[0].outputs)
      if (!out.empty()) model.graph.outputs.push_back(ValueInfo{out, DType::f32, {}, {}, false});
  }
  Node& node() { return model.graph.nodes[0]; }
  void feed(const std::string& name, Tensor t) {
    model.graph.inputs.push_back(ValueInfo{name, t.dtype(), t.shape(), std::vector<std::string>(t.rank()), true});
    feeds.push_back(std::move(t));
  }
  void constant(const std::string& name, Tensor t) { model.graph.initializers[name] = std::move(t); }
  void attr_int(const std::string& name, int64_t v) { node().attrs[name] = Attribute{AttrType::integer, 0, v, {}, {}, {}, {}, {}}; }
  void attr_float(const std::string& name, float v) { node().attrs[name] = Attribute{AttrType::floating, v, 0, {}, {}, {}, {}, {}}; }
  void attr_ints(const std::string& name, std::vector<int64_t> v) {
    node().attrs[name] = Attribute{AttrType::integers, 0, 0, {}, {}, {}, std::move(v), {}};
  }
  std::vector<Tensor> run(int threads = 1) { return Executor(model, ExecutorOptions{threads, true}).run(feeds); }
};


}  // namespace

TEST_CASE("test_onnx_conformance: opset 6 binary ops broadcast B into A at 'axis' (legacy broadcast)") {
  OneNode g(6, "Add", {"a", "b"}, {"y"});
  std::vector<float> a(12);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);
  g.feed("a", floats({2, 3, 2}, a));
  g.constant("b", floats({3}, {100, 200, 300}));
  g.attr_int("broadcast", 1);
  g.attr_int("axis", 1);
  auto y = g.run();
  REQUIRE(y[0].shape() == Shape{2, 3, 2});
  // y[i][j][k] = a[i][j][k] + b[j], where numpy broadcasting would have matched b to the last axis.
  for (int64_t i = 0; i < 12; ++i) CHECK(y[0].data<float>()[i] == static_cast<float>(i) + 100.0f * static_cast<float>((i / 2) % 3 + 1));

  OneNode scalar(6, "Mul", {"a", "b"}, {"y"});
  scalar.feed("a", floats({2, 2}, {1, 2, 3, 4}));
  scalar.constant("b", floats({1}, {3}));
  scalar.attr_int("broadcast", 1);
  CHECK(scalar.run()[0].to_float_vector() == std::vector<float>{3, 6, 9, 12});

  OneNode unset(6, "Sub", {"a", "b"}, {"y"});
  unset.feed("a", floats({2, 2}, {1, 2, 3, 4}));
  unset.constant("b", floats({2}, {1, 1}));
  try {
    unset.run();
    FAIL("different shapes without broadcast=1 must be refused before opset 7");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find("Sub_0") != std::string::npos);
  }
}

TEST_CASE("test_onnx_conformance: Slice clamps like ONNX for negative and extreme steps") {
  const int64_t min64 = std::numeric_limits<int64_t>::min(), max64 = std::numeric_limits<int64_t>::max();
  struct Expect { int64_t start, end, step; std::vector<float> values; };
  const Expect cases[] = {
      // Negative stepping clamps the start into [0, dim-1] and the end into [-1, dim-1].
      {-100, -200, -1, {0}},
      {100, -200, -1, {4, 3, 2, 1, 0}},
      {4, min64, -2, {4, 2, 0}},
      {3, -100, min64, {3}},
      {1, max64, max64, {1}},
      {-2, max64, 1, {3, 4}},
      {2, 2, 1, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.start);
    CAPTURE(c.end);
    CAPTURE(c.step);
    OneNode g(13, "Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
    g.feed("x", floats({5}, {0, 1, 2, 3, 4}));
    g.constant("starts", ints({1}, {c.start}));
    g.constant("ends", ints({1}, {c.end}));
    g.constant("axes", ints({1}, {0}));
    g.constant("steps", ints({1}, {c.step}));
    auto y = g.run();
    CHECK(y[0].shape() == Shape{static_cast<int64_t>(c.values.size())});
    CHECK(y[0].to_float_vector() == c.values);
  }
}

TEST_CASE("test_onnx_conformance: Flatten counts a negative axis from the end") {
  OneNode g(13, "Flatten", {"x"}, {"y"});
  g.feed("x", Tensor(DType::f32, {2, 3, 4}));
  g.attr_int("axis", -1);
  CHECK(g.run()[0].shape() == Shape{6, 4});
}

TEST_CASE("test_onnx_conformance: Clip before opset 11 defaults to the float range") {
  const float inf = std::numeric_limits<float>::infinity(), big = std::numeric_limits<float>::max();
  OneNode g(6, "Clip", {"x"}, {"y"});
  g.feed("x", floats({3}, {inf, -inf, 1}));
  CHECK(g.run()[0].to_float_vector() == std::vector<float>{big, -big, 1});
}

TEST_CASE("test_onnx_conformance: Dropout's mask is typed like the data before opset 10 and bool after") {
  OneNode old(7, "Dropout", {"x"}, {"y", "mask"});
  old.feed("x", floats({2}, {1, 2}));
  auto y = old.run();
  CHECK(y[0].to_float_vector() == std::vector<float>{1, 2});
  CHECK(y[1].dtype() == DType::f32);
  CHECK(y[1].to_float_vector() == std::vector<float>{1, 1});

  OneNode now(13, "Dropout", {"x"}, {"y", "mask"});
  now.feed("x", floats({2}, {1, 2}));
  y = now.run();
  CHECK(y[1].dtype() == DType::boolean);
  CHECK(y[1].to_int64_vector() == std::vector<int64_t>{1, 1});
}

TEST_CASE("test_onnx_conformance: Pad fills integer data with constant_value and reflects past the border") {
  OneNode constant(13, "Pad", {"x", "pads", "value"}, {"y"});
  constant.feed("x", ints({2}, {5, 6}));
  constant.constant("pads", ints({2}, {1, 2}));
  constant.constant("value", ints({}, {-7}));
  auto y = constant.run();
  CHECK(y[0].dtype() == DType::i64);
  CHECK(y[0].to_int64_vector() == std::vector<int64_t>{-7, 5, 6, -7, -7});

  // np.pad([1, 2, 3], (5, 4), mode='reflect'): reflection repeats with period 2*(3-1).
  OneNode reflect(13, "Pad", {"x", "pads"}, {"y"});
  reflect.feed("x", floats({3}, {1, 2, 3}));
  reflect.constant("pads", ints({2}, {5, 4}));
  reflect.node().attrs["mode"] = Attribute{AttrType::string, 0, 0, "reflect", {}, {}, {}, {}};
  CHECK(reflect.run()[0].to_float_vector() == std::vector<float>{2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3});

  OneNode old(6, "Pad", {"x"}, {"y"});
  old.feed("x", floats({1, 2}, {1, 2}));
  old.attr_ints("pads", {0, 1, 0, 0});
  old.attr_float("value", 9);
  CHECK(old.run()[0].to_float_vector() == std::vector<float>{9, 1, 2});
}

TEST_CASE("test_onnx_conformance: optional outputs that only training or Indices need") {
  // storage_order only numbers the Indices output; without it MaxPool runs.
  OneNode pool(12, "MaxPool", {"x"}, {"y"});
  pool.feed("x", floats({1, 1, 2, 2}, {1, 4, 3, 2}));
  pool.attr_ints("kernel_shape", {2, 2});
  pool.attr_int("storage_order", 1);
  CHECK(pool.run()[0].to_float_vector() == std::vector<float>{4});

  OneNode indices(12, "MaxPool", {"x"}, {"y", "i"});
  indices.feed("x", floats({1, 1, 2, 2}, {1, 4, 3, 2}));
  indices.attr_ints("kernel_shape", {2, 2});
  try {
    indices.run();
    FAIL("the Indices output must be reported unsupported");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::unsupported);
    CHECK(std::string(e.what()).find("MaxPool_0") != std::string::npos);
    CHECK(std::string(e.what()).find("Indices") != std::string::npos);
  }

  // BatchNormalization-7 lists its training outputs as omitted ("").
  OneNode bn(7, "BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "", ""});
  bn.feed("x", floats({1, 2, 1}, {1, 2}));
  bn.constant("s", floats({2}, {2, 3}));
  bn.constant("b", floats({2}, {1, 1}));
  bn.constant("m", floats({2}, {0, 1}));
  bn.constant("v", floats({2}, {1, 4}));
  bn.attr_float("epsilon", 0);
  CHECK(bn.run()[0].to_float_vector() == std::vector<float>{3, 2.5f});
}
