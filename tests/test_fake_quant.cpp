// A per-tensor QuantizeLinear read only by a DequantizeLinear runs as one step
// (core/executor_fake_quant.cpp, core/ops/quantize_dequantize.h): its outputs must be the two
// kernels' to the bit, and pairs it does not take must still run (and be checked) as written.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/executor.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::int_attr;

namespace {

struct Pair {
  DType x = DType::f32;       // QuantizeLinear's input
  DType type = DType::u8;     // the 8-bit type between
  bool zero_points = true;    // written, or omitted (uint8, 0)
  int64_t opset = 13;
  bool output_dtype = false;  // opset 21: the type named by output_dtype instead of a zero point
  bool per_axis = false;      // QuantizeLinear's scale one per channel: not fused
  bool second_reader = false; // the 8-bit tensor also a graph output: not fused
};

Model pair_model(const Pair& p) {
  Model m;
  m.opset = p.opset;
  m.ir_version = 10;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"x", p.x, {2, 3, 5, 7}, std::vector<std::string>(4), true});
  g.initializers["s"] = p.per_axis ? Tensor::from_vector<float>({3}, {0.02f, 0.05f, 0.3f}) : Tensor::scalar_f32(0.037f);
  g.initializers["ds"] = Tensor::scalar_f32(0.041f);
  const bool i8 = p.type == DType::i8;
  auto zero_point = [&](int v) {
    return i8 ? Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(v)}) : Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(v + 128)});
  };
  g.initializers["z"] = p.per_axis ? (i8 ? Tensor::from_vector<int8_t>({3}, {3, -5, 0}) : Tensor::from_vector<uint8_t>({3}, {131, 123, 128}))
                                   : zero_point(-9);
  g.initializers["dz"] = zero_point(4);
  Node q{"q", "QuantizeLinear", {"x", "s"}, {"xq"}, {}};
  Node d{"dq", "DequantizeLinear", {"xq", "ds"}, {"y"}, {}};
  if (p.zero_points) {
    q.inputs.push_back("z");
    d.inputs.push_back("dz");
  }
  if (p.output_dtype) q.attrs["output_dtype"] = int_attr(static_cast<int64_t>(p.type));
  g.nodes = {q, d, Node{"act", "Relu", {"y"}, {"out"}, {}}};
  g.outputs.push_back(ValueInfo{"out", DType::f32, {}, {}, false});
  if (p.second_reader) g.outputs.push_back(ValueInfo{"xq", p.type, {}, {}, false});
  return m;
}

Tensor pair_input(DType type) {
  Tensor t(type, {2, 3, 5, 7});
  uint32_t s = 5;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    const float v = static_cast<float>(static_cast<int32_t>(s >> 8) - (1 << 23)) / static_cast<float>(1 << 21);
    if (type == DType::f32) t.data<float>()[i] = v;
    else t.data<int32_t>()[i] = static_cast<int32_t>(s >> 20) - 2048;
  }
  if (type == DType::f32) {
    float* x = t.data<float>();
    // Halves of the step (ties to even), values beyond the 8-bit range, infinities and -0.
    x[0] = 0.037f * 2.5f, x[1] = -0.037f * 3.5f, x[2] = 1e9f, x[3] = -1e9f, x[4] = -0.0f;
    x[5] = std::numeric_limits<float>::infinity(), x[6] = -std::numeric_limits<float>::infinity();
  }
  return t;
}

}  // namespace

TEST_CASE("test_fake_quant: QuantizeLinear -> DequantizeLinear runs as one step, bit-identical") {
  std::vector<Pair> cases;
  for (DType x : {DType::f32, DType::i32})
    for (DType type : {DType::u8, DType::i8}) {
      Pair p;
      p.x = x, p.type = type;
      cases.push_back(p);
    }
  Pair omitted;
  omitted.zero_points = false;
  Pair named;
  named.opset = 21, named.output_dtype = true, named.type = DType::i8, named.zero_points = false;
  Pair per_axis;
  per_axis.per_axis = true;
  Pair read_twice;
  read_twice.second_reader = true;
  for (const Pair& p : {omitted, named, per_axis, read_twice}) cases.push_back(p);
  for (const Pair& p : cases) {
    CAPTURE(dtype_name(p.x));
    CAPTURE(dtype_name(p.type));
    CAPTURE(p.zero_points);
    CAPTURE(p.opset);
    CAPTURE(p.per_axis);
    CAPTURE(p.second_reader);
    const Model m = pair_model(p);
    const Tensor x = pair_input(p.x);
    ExecutorOptions plain{1, true};
    plain.fuse_quantized = false;
    const std::vector<Tensor> want = Executor(m, plain).run({x});
    const bool fusable = !p.per_axis && !p.second_reader;
    for (int threads : {1, 3}) {
      Executor e(m, ExecutorOptions{threads, true});
      const auto ops = e.planned_ops();
      CHECK(std::count(ops.begin(), ops.end(), "QuantizeDequantize") == (fusable ? 1 : 0));
      CHECK(std::count(ops.begin(), ops.end(), "QuantizeLinear") == (fusable ? 0 : 1));
      const std::vector<Tensor> got = e.run({x});
      REQUIRE(got.size() == want.size());
      for (size_t o = 0; o < got.size(); ++o) CHECK(test::same_bits(got[o], want[o]));
    }
  }
}

TEST_CASE("test_fake_quant: an invalid input is refused as QuantizeLinear refuses it") {
  Pair p;
  Model m = pair_model(p);
  m.graph.inputs[0].dtype = DType::u8;
  const Tensor x(DType::u8, {2, 3, 5, 7});
  std::string fused, plain;
  try {
    Executor(m, ExecutorOptions{1, true}).run({x});
  } catch (const Error& e) {
    fused = e.what();
  }
  ExecutorOptions unfused{1, true};
  unfused.fuse_quantized = false;
  try {
    Executor(m, unfused).run({x});
  } catch (const Error& e) {
    plain = e.what();
  }
  CHECK(test::contains(plain, "x must be float32 or int32, got uint8"));
  CHECK(test::contains(fused, "x must be float32 or int32, got uint8"));
}
