// Input conventions (issue 16, item 5): preprocessing beyond keras/torch, NHWC inputs, other input
// sizes, 1001-class models, and the spec line a .mcz stores them in.
#include <doctest/doctest.h>

#include <cmath>

#include "core/executor.h"
#include "formats/image.h"
#include "formats/input_convention.h"
#include "formats/npy.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using mc::test::expect_error;
using mc::ErrorKind;

namespace {

// tiny_conv_model with an NHWC input [N, 8, 8, 3] and tf2onnx's Transpose(perm 0,3,1,2) in front.
mc::Model nhwc_model() {
  mc::Model m = mc::test::tiny_conv_model();
  m.graph.inputs[0].name = "x_nhwc";
  m.graph.inputs[0].shape = {-1, 8, 8, 3};
  mc::Node t{"to_nchw", "Transpose", {"x_nhwc"}, {"x"}, {}};
  mc::Attribute perm;
  perm.type = mc::AttrType::integers;
  perm.ints = {0, 3, 1, 2};
  t.attrs["perm"] = perm;
  m.graph.nodes.insert(m.graph.nodes.begin(), t);
  return m;
}

mc::Model with_input(mc::Model m, mc::Shape shape) {
  m.graph.inputs[0].shape = std::move(shape);
  return m;
}

}  // namespace

TEST_CASE("test_input_convention: spec lines round-trip and bad ones name the problem") {
  for (const std::string spec : {"keras", "torch", "caffe", "raw", "unit", "keras;layout=nhwc;size=192;crop-ratio=0.95;label-offset=1",
                                 "mean=127.5,127.5,127.5;std=127.5,127.5,127.5", "mean=103.9,116.8,123.7;std=1,1,1;bgr", "layout=nchw"})
    CHECK(mc::input_spec(mc::parse_input_spec(spec)) == spec);
  CHECK(mc::input_spec(mc::parse_input_spec("")).empty());
  CHECK(mc::parse_input_spec("").preprocess.kind == mc::Preprocess::Kind::none);
  expect_error([] { mc::parse_input_spec("keras;torch"); }, ErrorKind::usage, "two preprocessing names");
  expect_error([] { mc::parse_input_spec("keras;size=abc"); }, ErrorKind::usage, "'size=abc': expected a whole number");
  expect_error([] { mc::parse_input_spec("keras;crop-ratio=1.5"); }, ErrorKind::usage, "--crop-ratio must be in (0, 1]");
  expect_error([] { mc::parse_input_spec("keras;layout=nwhc"); }, ErrorKind::usage, "unknown layout 'nwhc' (valid: nchw, nhwc)");
  expect_error([] { mc::parse_input_spec("keras;colour=1"); }, ErrorKind::usage, "unknown item 'colour=1'");
  expect_error([] { mc::parse_input_spec("keras;mean=1,2,3"); }, ErrorKind::usage, "--mean/--std replace --preprocess keras");
  expect_error([] { mc::parse_input_spec("std=1,2,3"); }, ErrorKind::usage, "--std needs --mean");
  // --mean with two values, a non-number, a zero std
  expect_error([] { mc::custom_preprocess("123.7,116.8", "", false); }, ErrorKind::usage, "--mean '123.7,116.8': expected three numbers R,G,B");
  expect_error([] { mc::custom_preprocess("1,2,3,4", "", false); }, ErrorKind::usage, "expected three numbers");
  expect_error([] { mc::custom_preprocess("1,x,3", "", false); }, ErrorKind::usage, "'x' is not a number");
  expect_error([] { mc::custom_preprocess("1,2,3", "1,0,1", false); }, ErrorKind::usage, "every value must be above 0");
}

TEST_CASE("test_input_convention: caffe, raw, unit and custom normalization, channel order") {
  mc::ImageU8 img;
  img.width = 2;
  img.height = 1;
  img.rgb = {10, 20, 30, 255, 0, 128};
  float out[6];
  mc::image_to_chw(img, mc::parse_preprocess("caffe"), out);
  // planes B, G, R; caffe means are R 123.68, G 116.779, B 103.939
  CHECK(out[0] == 30.0f - 103.939f);
  CHECK(out[1] == 128.0f - 103.939f);
  CHECK(out[2] == 20.0f - 116.779f);
  CHECK(out[4] == 10.0f - 123.68f);
  CHECK(out[5] == 255.0f - 123.68f);
  mc::image_to_chw(img, mc::parse_preprocess("raw"), out);
  CHECK(out[0] == 10.0f);
  CHECK(out[3] == 0.0f);
  mc::image_to_chw(img, mc::parse_preprocess("unit"), out);
  CHECK(out[1] == 1.0f);
  CHECK(out[5] == 128.0f / 255.0f);
  // custom equal to keras: (x - 127.5) / 127.5 is x / 127.5 - 1 up to float rounding
  mc::image_to_chw(img, mc::custom_preprocess("127.5,127.5,127.5", "127.5,127.5,127.5", false), out);
  CHECK(std::fabs(out[0] - (10.0f / 127.5f - 1.0f)) < 1e-6f);
  mc::image_to_chw(img, mc::custom_preprocess("0,0,100", "1,2,4", true), out);
  CHECK(out[0] == (30.0f - 100.0f) / 4.0f);  // B first
  CHECK(out[2] == 20.0f / 2.0f);
  CHECK(out[4] == 10.0f);
}

TEST_CASE("test_input_convention: layouts are detected from the input shape, confirmed by the first Transpose") {
  CHECK(mc::detect_layout(mc::test::tiny_conv_model()) == mc::Layout::nchw);
  CHECK(mc::detect_layout(nhwc_model()) == mc::Layout::nhwc);
  // dynamic spatial and channel dims: the Transpose decides
  CHECK(mc::detect_layout(with_input(nhwc_model(), {-1, -1, -1, -1})) == mc::Layout::nhwc);
  CHECK(mc::detect_layout(with_input(mc::test::tiny_conv_model(), {-1, -1, -1, -1})) == mc::Layout::nchw);
  CHECK(!mc::detect_layout(mc::Model{}).has_value());

  mc::InputConvention c = mc::parse_input_spec("keras");
  const mc::ImageConfig nchw = mc::fit_image_config(c, mc::test::tiny_conv_model(), "tiny.onnx");
  CHECK(nchw.layout == mc::Layout::nchw);
  CHECK(nchw.crop == 8);
  CHECK(nchw.resize_short == 9);  // round(8 / 0.875)
  const mc::ImageConfig nhwc = mc::fit_image_config(c, nhwc_model(), "tiny_nhwc.onnx");
  CHECK(nhwc.layout == mc::Layout::nhwc);
  CHECK(nhwc.crop == 8);

  // an NHWC model with --layout nchw: a clear error naming the file, the input and its shape
  c.layout = mc::Layout::nchw;
  expect_error([&] { mc::fit_image_config(c, nhwc_model(), "tiny_nhwc.onnx"); }, ErrorKind::usage,
               "tiny_nhwc.onnx: input 'x_nhwc' is [-1,8,8,3]: with --layout nchw that is 8 channels, not 3");
  c.layout = mc::Layout::nhwc;
  expect_error([&] { mc::fit_image_config(c, mc::test::tiny_conv_model(), "tiny.onnx"); }, ErrorKind::usage, "--layout nhwc");
}

TEST_CASE("test_input_convention: input sizes, crop ratio, label offsets") {
  mc::InputConvention c = mc::parse_input_spec("torch");
  mc::Model m192 = with_input(mc::test::tiny_conv_model(), {1, 3, 192, 192});
  mc::ImageConfig i192 = mc::fit_image_config(c, m192, "m192.onnx");
  CHECK(i192.crop == 192);
  CHECK(i192.resize_short == 219);  // round(192 / 0.875)
  c.crop_ratio = 1.0;
  CHECK(mc::fit_image_config(c, m192, "m192.onnx").resize_short == 192);
  c.input_size = 160;
  expect_error([&] { mc::fit_image_config(c, m192, "m192.onnx"); }, ErrorKind::usage, "m192.onnx: --input-size 160 does not fit input 'x', which is 192x192");
  // a dynamic model takes --input-size, else 224
  mc::Model dyn = with_input(mc::test::tiny_conv_model(), {-1, 3, -1, -1});
  CHECK(mc::fit_image_config(c, dyn, "dyn.onnx").crop == 160);
  c.input_size = 0;
  c.crop_ratio = 0.875;
  CHECK(mc::fit_image_config(c, dyn, "dyn.onnx").crop == 224);
  CHECK(mc::fit_image_config(c, dyn, "dyn.onnx").resize_short == 256);
  expect_error([&] { mc::fit_image_config(c, with_input(mc::test::tiny_conv_model(), {1, 3, 224, 192}), "wide.onnx"); },
               ErrorKind::unsupported, "only square image inputs");

  mc::Model m = mc::test::tiny_conv_model();
  m.graph.outputs[0].shape = {-1, 1001};
  CHECK(mc::model_classes(m) == 1001);
  CHECK(mc::label_offset_for(mc::parse_input_spec("keras"), 1001) == 1);
  CHECK(mc::label_offset_for(mc::parse_input_spec("keras"), 1000) == 0);
  CHECK(mc::label_offset_for(mc::parse_input_spec("keras;label-offset=0"), 1001) == 0);
  CHECK(mc::label_offset_for(mc::parse_input_spec("keras;label-offset=1"), 1000) == 1);
}

TEST_CASE("test_input_convention: NHWC batches are the NCHW batch transposed; float .npy in either layout") {
  mc::test::TempDir dir;
  const auto inputs = mc::test::write_small_inputs(dir.path, 2);  // [3,8,8] float
  std::vector<std::string> files{(dir.path / "img0.npy").string(), (dir.path / "img1.npy").string()};
  mc::ImageConfig cfg = mc::test::small_image_config();
  const mc::Tensor nchw = mc::load_image_batch(files, cfg);
  // the same tensors written NHWC [8,8,3]
  for (int i = 0; i < 2; ++i) {
    mc::Tensor t(mc::DType::f32, {8, 8, 3});
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 64; ++p) t.data<float>()[p * 3 + c] = inputs[static_cast<size_t>(i)].data<float>()[c * 64 + p];
    mc::write_npy((dir.path / ("hwc" + std::to_string(i) + ".npy")).string(), t);
  }
  cfg.layout = mc::Layout::nhwc;
  const mc::Tensor nhwc = mc::load_image_batch({(dir.path / "hwc0.npy").string(), (dir.path / "hwc1.npy").string()}, cfg);
  REQUIRE(nhwc.shape() == mc::Shape{2, 8, 8, 3});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 64; ++p) CHECK(nhwc.data<float>()[n * 192 + p * 3 + c] == nchw.data<float>()[n * 192 + c * 64 + p]);
  // an NCHW tensor fed to an NHWC layout names the expected shape
  expect_error([&] { mc::load_image_batch({files[0]}, cfg); }, ErrorKind::input, "preprocessed float32 [8,8,3] tensor, got float32 [3,8,8]");
  // float .npy tensors need no preprocessing; images do
  cfg = mc::test::small_image_config();
  cfg.preprocess = mc::Preprocess{};
  CHECK(mc::load_image_batch(files, cfg).shape() == mc::Shape{2, 3, 8, 8});

  // the NHWC model runs on the NHWC batch exactly as the NCHW model on the NCHW batch
  const mc::Model nchw_m = mc::test::tiny_conv_model(), nhwc_m = nhwc_model();
  mc::Executor a(nchw_m, mc::ExecutorOptions{1, true});
  mc::Executor b(nhwc_m, mc::ExecutorOptions{1, true});
  const mc::Tensor ya = a.run({nchw})[0], yb = b.run({nhwc})[0];
  REQUIRE(ya.numel() == yb.numel());
  for (int64_t i = 0; i < ya.numel(); ++i) CHECK(ya.data<float>()[i] == yb.data<float>()[i]);
}
