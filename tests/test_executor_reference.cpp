// The float executor against ONNX Runtime: ../shared/reference holds ORT 1.30 outputs of every
// shared model on 8 fixed preprocessed images. Tolerance: 1e-4 x max|output| (issue #3).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "core/executor.h"
#include "formats/npy.h"
#include "formats/onnx_model.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

struct Reference {
  const char* model;
  const char* input;
};

const Reference references[] = {
    {"mobilenet_v1_0.25_224", "input_keras.npy"},
    {"mobilenet_v1_0.75_224", "input_keras.npy"},
    {"mobilenet_v1_0.5_224_quant_dequant", "input_keras.npy"},
    {"mobilenet_v2_1_0", "input_torch.npy"},
    {"shufflenet_v2_x1_0", "input_torch.npy"},
};

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

void check_model(const Reference& ref, int threads) {
  auto dir = test::shared_dir();
  Model model = load_onnx((dir / "models" / (std::string(ref.model) + ".onnx")).string());
  Tensor input = read_npy((dir / "reference" / ref.input).string());
  Tensor expected = read_npy((dir / "reference" / (std::string(ref.model) + ".output.npy")).string());
  Executor exec(model, ExecutorOptions{threads, true});
  auto outputs = exec.run({input});
  // The first run recycles buffers on the fly and plans the arena; the second runs in the arena and
  // must give the same bits.
  CHECK(exec.arena_stats().planned);
  const auto second = exec.run({input});
  REQUIRE(second.size() == 1);
  REQUIRE(outputs.size() == 1);
  CHECK(second[0].shape() == outputs[0].shape());
  CHECK(std::memcmp(second[0].raw(), outputs[0].raw(), outputs[0].byte_size()) == 0);
  REQUIRE(outputs[0].shape() == expected.shape());
  auto got = outputs[0].to_float_vector();
  auto want = expected.to_float_vector();
  double tolerance = 1e-4 * max_abs(want);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
  INFO(ref.model << ": max abs diff " << worst << ", tolerance " << tolerance);
  CHECK(worst <= tolerance);
}

}  // namespace

TEST_CASE("test_executor_reference: every shared model matches ONNX Runtime") {
  if (!test::need_shared()) return;
  for (const auto& ref : references) {
    SUBCASE(ref.model) { check_model(ref, 0); }
  }
}

TEST_CASE("test_executor_reference: outputs are bit-identical at 1, 2 and 3 threads") {
  if (!test::need_shared()) return;
  auto dir = test::shared_dir();
  for (const char* name : {"mobilenet_v2_1_0", "shufflenet_v2_x1_0"}) {
    Model model = load_onnx((dir / "models" / (std::string(name) + ".onnx")).string());
    Tensor input = read_npy((dir / "reference" / "input_torch.npy").string());
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      Executor exec(model, ExecutorOptions{threads, true});
      for (int run = 0; run < 2; ++run) {  // the unplanned run, then the arena
        auto out = exec.run({input})[0].to_float_vector();
        if (first.empty()) first = out;
        else CHECK(std::memcmp(first.data(), out.data(), out.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("test_executor_reference: the activation arena shares buffers, replans on a new batch shape, same bits") {
  if (!test::need_shared()) return;
  auto dir = test::shared_dir();
  for (const char* name : {"mobilenet_v1_0.75_224", "shufflenet_v2_x1_0"}) {
    INFO(name);
    Model model = load_onnx((dir / "models" / (std::string(name) + ".onnx")).string());
    const std::string input_file = std::string(name).find("mobilenet_v1") == 0 ? "input_keras.npy" : "input_torch.npy";
    const Tensor batch = read_npy((dir / "reference" / input_file).string());  // [8, 3, 224, 224]
    Tensor one = batch;
    Shape s = batch.shape();
    s[0] = 1;
    one.reset(batch.dtype(), s);  // the first image (reset keeps the contents' start)
    Executor exec(model, ExecutorOptions{2, true, true, false});  // whole batches (images apart: test_image_parts.cpp)
    CHECK_FALSE(exec.arena_stats().planned);
    const Tensor want_batch = exec.run({batch})[0];
    const auto planned = exec.arena_stats();
    CHECK(planned.planned);
    CHECK(planned.buffers >= 2);
    CHECK(planned.bytes < planned.unshared_bytes / 3);  // far fewer bytes than one buffer per tensor (MobileNetV1 0.75: 34 of 121 MB)
    const Tensor want_one = Executor(model, ExecutorOptions{1, true}).run({one})[0];
    // Alternating shapes: every change of shape runs unplanned and replans; same bits throughout.
    for (int round = 0; round < 2; ++round) {
      const Tensor got_batch = exec.run({batch})[0];
      CHECK(std::memcmp(got_batch.raw(), want_batch.raw(), want_batch.byte_size()) == 0);
      const Tensor got_batch_again = exec.run({batch})[0];
      CHECK(std::memcmp(got_batch_again.raw(), want_batch.raw(), want_batch.byte_size()) == 0);
      const Tensor got_one = exec.run({one})[0];
      REQUIRE(got_one.shape() == want_one.shape());
      CHECK(std::memcmp(got_one.raw(), want_one.raw(), want_one.byte_size()) == 0);
      CHECK(exec.arena_stats().bytes < planned.bytes);  // planned for one image now
    }
  }
}
