// Ops that only move elements run as one step (core/movement_chain.h, core/executor_movement.cpp):
// every output must be the unfused run's to the bit, at any thread count and at new input shapes,
// and an invalid model must be refused with the op's own message.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/executor.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::int_attr;
using mc::test::ints;
using mc::test::ints_attr;

namespace {

// ShuffleNetV2 units at `channels` (even) channels of h x w: per unit, x -> Split -> (a, b); b -> Relu ->
// Concat(a, b') -> Reshape [N, 2, C/2, H, W] -> Transpose(0, 2, 1, 3, 4) -> Reshape [N, C, H, W],
// the next unit reading that. `variant` 1 makes an intermediate value (the transposed one) a graph
// output, 2 concatenates a constant (one more batch item), 3 runs on uint8 elements (Identity instead of Relu), 4 gives
// the first Reshape a shape that does not fit (an invalid model).
Model shuffle_model(int64_t channels, int64_t h, int64_t w, int variant) {
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  const DType type = variant == 3 ? DType::u8 : DType::f32;
  g.inputs.push_back(ValueInfo{"x", type, {-1, channels, h, w}, {"N", "", "", ""}, true});
  g.initializers["halves"] = ints({2}, {channels / 2, channels / 2});
  g.initializers["grouped"] = ints({5}, {-1, variant == 4 ? 3 : 2, channels / 2, h, w});
  g.initializers["flat"] = ints({4}, {-1, channels, h, w});
  std::string x = "x";
  for (int u = 0; u < 3; ++u) {
    const std::string k = std::to_string(u);
    Node split{"split" + k, "Split", {x, "halves"}, {"a" + k, "b" + k}, {}};
    split.attrs["axis"] = int_attr(1);
    g.nodes.push_back(split);
    g.nodes.push_back(Node{"act" + k, variant == 3 ? "Identity" : "Relu", {"b" + k}, {"c" + k}, {}});
    std::vector<std::string> parts{"a" + k, "c" + k};
    Node concat{"concat" + k, "Concat", parts, {"cat" + k}, {}};
    concat.attrs["axis"] = int_attr(1);
    g.nodes.push_back(concat);
    g.nodes.push_back(Node{"group" + k, "Reshape", {"cat" + k, "grouped"}, {"g" + k}, {}});
    Node transpose{"shuffle" + k, "Transpose", {"g" + k}, {"t" + k}, {}};
    transpose.attrs["perm"] = ints_attr({0, 2, 1, 3, 4});
    g.nodes.push_back(transpose);
    g.nodes.push_back(Node{"ungroup" + k, "Reshape", {"t" + k, "flat"}, {"y" + k}, {}});
    x = "y" + k;
    if (variant == 1 && u == 1) g.outputs.push_back(ValueInfo{"t1", type, {}, {}, false});
  }
  if (variant == 2) {
    Tensor extra(DType::f32, {1, channels, h, w});
    for (int64_t i = 0; i < extra.numel(); ++i) extra.data<float>()[i] = -1.5f * static_cast<float>(i % 7);
    g.initializers["extra"] = extra;
    g.nodes.push_back(Node{"longer", "Concat", {x, "extra"}, {"z"}, {{"axis", int_attr(0)}}});
    g.nodes.push_back(Node{"flatten", "Flatten", {"z"}, {"out"}, {}});
  } else {
    g.nodes.push_back(Node{"flatten", "Flatten", {x}, {"out"}, {}});
  }
  g.outputs.insert(g.outputs.begin(), ValueInfo{"out", type, {}, {}, false});
  return m;
}

Tensor shuffle_input(DType type, Shape shape, uint32_t seed) {
  Tensor t(type, shape);
  uint32_t s = seed;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    if (type == DType::u8) t.data<uint8_t>()[i] = static_cast<uint8_t>(s >> 24);
    else t.data<float>()[i] = static_cast<float>(static_cast<int32_t>(s >> 8) - (1 << 23)) / static_cast<float>(1 << 20);
  }
  return t;
}

}  // namespace

TEST_CASE("test_movement_chain: a channel shuffle runs as one step, its outputs bit-identical to the ops one by one") {
  for (int variant : {0, 1, 2, 3}) {
    CAPTURE(variant);
    const Model m = shuffle_model(10, 9, 64, variant);
    const DType type = variant == 3 ? DType::u8 : DType::f32;
    Executor unfused(m, ExecutorOptions{1, false});
    for (int threads : {1, 3}) {
      Executor e(m, ExecutorOptions{threads, true});
      const auto ops = e.planned_ops();
      // A Relu between Split and Concat makes groups of Concat .. the next Split (the first Split
      // runs alone); Identity moves elements, so all of variant 3 is one group.
      CHECK(std::count(ops.begin(), ops.end(), "MovementChain") == (variant == 3 ? 1 : 3));
      CHECK(std::count(ops.begin(), ops.end(), "Split") == (variant == 3 ? 0 : 1));
      CHECK(std::count(ops.begin(), ops.end(), "Transpose") == 0);
      CHECK(std::count(ops.begin(), ops.end(), "Reshape") == 0);
      // Two shapes, twice each: a new shape works out new copies; the arena's second run reuses them.
      for (const Shape& shape : {Shape{2, 10, 9, 64}, Shape{5, 10, 9, 64}, Shape{2, 10, 9, 64}}) {
        CAPTURE(shape_str(shape));
        const Tensor x = shuffle_input(type, shape, static_cast<uint32_t>(shape[3]));
        const std::vector<Tensor> want = unfused.run({x});
        for (int run = 0; run < 2; ++run) {
          const std::vector<Tensor> got = e.run({x});
          REQUIRE(got.size() == want.size());
          for (size_t o = 0; o < got.size(); ++o) CHECK(test::same_bits(got[o], want[o]));
        }
      }
    }
  }
}

TEST_CASE("test_movement_chain: an invalid shape in a chain is refused with the op's own message") {
  const Model m = shuffle_model(10, 5, 7, 4);
  const Tensor x = shuffle_input(DType::f32, {2, 10, 5, 7}, 3);
  Executor fused(m, ExecutorOptions{2, true});
  const auto ops = fused.planned_ops();
  CHECK(std::count(ops.begin(), ops.end(), "MovementChain") >= 1);
  std::string fused_error, unfused_error;
  try {
    fused.run({x});
  } catch (const Error& e) {
    fused_error = e.what();
  }
  try {
    Executor(m, ExecutorOptions{1, false}).run({x});
  } catch (const Error& e) {
    unfused_error = e.what();
  }
  CHECK(!unfused_error.empty());
  CHECK(fused_error == unfused_error);
  CHECK(test::contains(fused_error, "group0"));
}

TEST_CASE("test_movement_chain: a constant read both as a shape and as elements is copied as elements") {
  // An initializer Concat copies, read first or second, and also Reshape's shape when it holds -1.
  for (int data_first : {0, 1}) {
    for (int64_t value : {2, -1}) {
      CAPTURE(data_first);
      CAPTURE(value);
      Model m;
      m.opset = 13;
      Graph& g = m.graph;
      g.inputs.push_back(ValueInfo{"x", DType::i64, {2}, {""}, true});
      g.initializers["s"] = ints({1}, {value});
      if (data_first) {
        g.initializers["flat"] = ints({1}, {-1});
        g.nodes.push_back(Node{"cat", "Concat", {"x", "s"}, {"c"}, {{"axis", int_attr(0)}}});
        g.nodes.push_back(Node{"reshape", "Reshape", {"c", value == -1 ? "s" : "flat"}, {"z"}, {}});
      } else {
        g.initializers["two"] = ints({1}, {2});
        g.nodes.push_back(Node{"reshape", "Reshape", {"x", value == -1 ? "s" : "two"}, {"y"}, {}});
        g.nodes.push_back(Node{"cat", "Concat", {"y", "s"}, {"z"}, {{"axis", int_attr(0)}}});
      }
      g.outputs.push_back(ValueInfo{"z", DType::i64, {}, {}, false});
      const Tensor x = ints({2}, {7, 9});
      Executor fused(m, ExecutorOptions{2, true});
      const auto ops = fused.planned_ops();
      // -1: the same initializer is the Reshape's shape and Concat's data; such a group is left as
      // it is (the ops run one by one). 2: the shape is another initializer, and the group fuses.
      CHECK(std::count(ops.begin(), ops.end(), "MovementChain") == (value == -1 ? 0 : 1));
      const Tensor z = fused.run({x})[0];
      CHECK(z.to_int64_vector() == std::vector<int64_t>{7, 9, value});
    }
  }
}

TEST_CASE("test_movement_chain: a transpose moving single elements runs its own kernels, at alternating shapes") {
  // NCHW -> NHWC then flattened, as detection heads do: every element its own copy, so the group
  // runs the members' kernels; batch sizes alternating keep both plans.
  Model m;
  m.opset = 13;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 6, 5, 7}, {"N", "", "", ""}, true});
  g.initializers["rows"] = ints({3}, {0, -1, 3});
  g.nodes.push_back(Node{"nhwc", "Transpose", {"x"}, {"t"}, {{"perm", ints_attr({0, 2, 3, 1})}}});
  g.nodes.push_back(Node{"rows", "Reshape", {"t", "rows"}, {"r"}, {}});
  g.nodes.push_back(Node{"act", "Relu", {"r"}, {"y"}, {}});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {}, {}, false});
  Executor unfused(m, ExecutorOptions{1, false});
  Executor fused(m, ExecutorOptions{3, true});
  const auto ops = fused.planned_ops();
  CHECK(std::count(ops.begin(), ops.end(), "MovementChain") == 1);
  for (int64_t batch : {2, 3, 2, 3}) {
    const Tensor x = shuffle_input(DType::f32, {batch, 6, 5, 7}, static_cast<uint32_t>(batch));
    const Tensor want = unfused.run({x})[0];
    const Tensor got = fused.run({x})[0];
    CHECK(test::same_bits(got, want));
  }
}
