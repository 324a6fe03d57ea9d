// A batch run as single images side by side, one per thread (ExecutorOptions::images_apart,
// core/image_parts.h): which models allow it, and that the outputs are the bits of the whole batch
// run at once.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/executor.h"
#include "core/image_parts.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

// A graph on one [batch, 4, 3, 3] input "x" with a symbolic batch, built node by node.
struct PartsNet {
  Model model;
  explicit PartsNet(int64_t opset = 13) {
    model.opset = opset;
    model.graph.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 4, 3, 3}, {"N", "", "", ""}, true});
  }
  PartsNet& add(const std::string& op, std::vector<std::string> inputs, std::string output,
                std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.name = op + std::to_string(model.graph.nodes.size());
    n.op = op;
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    n.attrs = std::move(attrs);
    model.graph.nodes.push_back(std::move(n));
    return *this;
  }
  PartsNet& constant(const std::string& name, Tensor t) {
    model.graph.initializers[name] = std::move(t);
    return *this;
  }
  Model done(const std::string& output) {
    model.graph.outputs.push_back(ValueInfo{output, DType::f32, {}, {}, false});
    return model;
  }
};

// Deterministic values in [-1, 1) of a shape.
Tensor ramp_tensor(const Shape& shape) {
  test::TestRandom random{static_cast<uint32_t>(shape_numel(shape))};
  return Tensor::from_vector<float>(shape, random.values(static_cast<size_t>(shape_numel(shape)), 2.0f));
}

Tensor parts_input(int64_t batch) {
  test::TestRandom random{77};
  return Tensor::from_vector<float>({batch, 4, 3, 3}, random.values(static_cast<size_t>(batch * 36), 2.0f));
}

// The whole batch against images apart, at 2 and 3 threads, twice (the second run on the planned
// arenas): the same bits.
void check_parts_keep_bits(const Model& m, const Tensor& x) {
  const Tensor whole = Executor(m, ExecutorOptions{2, true, true, false}).run({x})[0];
  for (int threads : {2, 3}) {
    CAPTURE(threads);
    Executor parts(m, ExecutorOptions{threads, true, true, true});
    for (int run = 0; run < 2; ++run) CHECK(test::same_bits(parts.run({x})[0], whole));
  }
}

}  // namespace

TEST_CASE("test_image_parts: models that mix the images of a batch run whole") {
  const Tensor w = ramp_tensor({4, 4, 1, 1});
  std::vector<std::pair<std::string, Model>> mixing;
  mixing.emplace_back("Softmax over the batch", PartsNet().add("Flatten", {"x"}, "f").add("Softmax", {"f"}, "y", {{"axis", test::int_attr(0)}}).done("y"));
  mixing.emplace_back("Reshape that merges images",
                      PartsNet().constant("s", test::ints({2}, {-1, 72})).add("Reshape", {"x", "s"}, "y").done("y"));
  mixing.emplace_back("Concat along the batch", PartsNet().add("Concat", {"x", "x"}, "y", {{"axis", test::int_attr(0)}}).done("y"));
  mixing.emplace_back("Transpose that moves the batch",
                      PartsNet().add("Transpose", {"x"}, "y", {{"perm", test::ints_attr({1, 0, 2, 3})}}).done("y"));
  mixing.emplace_back("a constant that varies along the batch",
                      PartsNet().constant("c", ramp_tensor({4, 4, 3, 3})).add("Add", {"x", "c"}, "y").done("y"));
  mixing.emplace_back("ReduceMean over the batch",
                      PartsNet().add("ReduceMean", {"x"}, "y", {{"axes", test::ints_attr({0, 2})}}).done("y"));
  mixing.emplace_back("Flatten at axis 0", PartsNet().add("Flatten", {"x"}, "y", {{"axis", test::int_attr(0)}}).done("y"));
  mixing.emplace_back("Gemm with transA",
                      PartsNet().constant("s", test::ints({2}, {-1, 36})).constant("b", ramp_tensor({4, 5}))
                          .add("Reshape", {"x", "s"}, "f").add("Gemm", {"f", "b"}, "y", {{"transA", test::int_attr(1)}}).done("y"));
  mixing.emplace_back("the batch size used as data",
                      PartsNet().add("Shape", {"x"}, "s").add("Cast", {"s"}, "sf", {{"to", test::int_attr(1)}})
                          .constant("axes", test::ints({3}, {1, 2, 3}))
                          .add("ReduceSum", {"x", "axes"}, "r", {{"keepdims", test::int_attr(0)}})
                          .add("Mul", {"r", "sf"}, "y").done("y"));
  for (const auto& [what, m] : mixing) {
    CAPTURE(what);
    CHECK_FALSE(images_independent(m));
    CHECK_FALSE(Executor(m, ExecutorOptions{2, true}).runs_images_apart());
  }
  // An op the check does not know (here one without a kernel either) answers no.
  CHECK_FALSE(images_independent(PartsNet().add("Conv", {"x", "w"}, "c").constant("w", w).add("LRN", {"c"}, "y").done("y")));
  // The ones that run also give the whole batch's bits with images_apart on (they run whole).
  for (size_t i = 0; i < mixing.size(); ++i) {
    if (mixing[i].first == "Reshape that merges images" || mixing[i].first == "Gemm with transA") continue;
    CAPTURE(mixing[i].first);
    check_parts_keep_bits(mixing[i].second, parts_input(4));
  }
}

TEST_CASE("test_image_parts: models that keep images apart run image by image with the whole batch's bits") {
  // A PyTorch-style flatten (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), a Gemm with a [1, N]
  // C, a Softmax on the last axis, a Transpose that keeps the batch first, a broadcast constant.
  PartsNet net;
  net.constant("w", ramp_tensor({6, 4, 3, 3}))
      .constant("bias", ramp_tensor({6}))
      .add("Conv", {"x", "w", "bias"}, "c", {{"pads", test::ints_attr({1, 1, 1, 1})}})
      .add("Relu", {"c"}, "r")
      .constant("scale", ramp_tensor({1, 6, 1, 1}))
      .add("Mul", {"r", "scale"}, "m")
      .add("Transpose", {"m"}, "t", {{"perm", test::ints_attr({0, 2, 3, 1})}})
      .add("Shape", {"t"}, "shape")
      .constant("zero", test::ints({}, {0}))
      .add("Gather", {"shape", "zero"}, "n", {{"axis", test::int_attr(0)}})
      .constant("unsq_axes", test::ints({1}, {0}))
      .add("Unsqueeze", {"n", "unsq_axes"}, "n1")
      .constant("rest", test::ints({1}, {54}))
      .add("Concat", {"n1", "rest"}, "flat_shape", {{"axis", test::int_attr(0)}})
      .add("Reshape", {"t", "flat_shape"}, "flat")
      .constant("fc", ramp_tensor({7, 54}))
      .constant("fc_c", ramp_tensor({1, 7}))
      .add("Gemm", {"flat", "fc", "fc_c"}, "logits", {{"transB", test::int_attr(1)}})
      .add("Softmax", {"logits"}, "y", {{"axis", test::int_attr(-1)}});
  const Model m = net.done("y");
  CHECK(images_independent(m));
  CHECK(Executor(m, ExecutorOptions{2, true}).runs_images_apart());
  CHECK_FALSE(Executor(m, ExecutorOptions{2, true, true, false}).runs_images_apart());
  Executor observed(m, ExecutorOptions{2, true});
  observed.set_observer([](const Node&, const std::vector<const Tensor*>&, const std::vector<const Tensor*>&) {});
  CHECK_FALSE(observed.runs_images_apart());  // an observer sees whole batches
  // 6 images: two rounds of 2 or 3 side by side; 5: two rounds and one left over at 2 threads, one
  // round and two left over (run together) at 3.
  check_parts_keep_bits(m, parts_input(6));
  check_parts_keep_bits(m, parts_input(5));
  // A wrong input is reported as given, before the batch is split.
  Executor exec(m, ExecutorOptions{2, true});
  test::TestRandom random{5};
  const Tensor wrong = Tensor::from_vector<float>({4, 4, 3, 2}, random.values(96, 1.0f));
  test::expect_error([&] { exec.run({wrong}); }, ErrorKind::input, "input 'x' is float32 [4,4,3,2], the model expects float32 [N,4,3,3]");
}

TEST_CASE("test_image_parts: the architecture families run image by image with the whole batch's bits") {
  test::TestRandom random{2718};
  const Tensor x = Tensor::from_vector<float>({6, 3, 16, 16}, random.values(6 * 3 * 16 * 16, 4.0f));
  for (const auto& family : test::family_models()) {
    CAPTURE(family.name);
    const Model m = family.make();
    CHECK(images_independent(m));
    check_parts_keep_bits(m, x);
  }
}

TEST_CASE("test_image_parts: the shared models run image by image with the whole batch's bits") {
  if (!test::need_shared()) return;
  const auto dir = test::shared_dir();
  for (const char* name : {"mobilenet_v1_0.25_224", "mobilenet_v1_0.5_224_quant_dequant", "mobilenet_v2_1_0", "shufflenet_v2_x1_0"}) {
    CAPTURE(name);
    const Model m = load_onnx((dir / "models" / (std::string(name) + ".onnx")).string());
    CHECK(images_independent(m));
    const std::string file = std::string(name).find("mobilenet_v1") == 0 ? "input_keras.npy" : "input_torch.npy";
    const Tensor x = test::first_reference_images(file, 4);
    check_parts_keep_bits(m, x);
    // Each image runs on an arena planned for one image: a quarter of the whole batch's, or less.
    Executor whole(m, ExecutorOptions{2, true, true, false}), apart(m, ExecutorOptions{2, true});
    whole.run({x});
    apart.run({x});
    CHECK(apart.arena_stats().planned);
    CHECK(apart.arena_stats().bytes * 4 <= whole.arena_stats().bytes + 4096);
  }
}
