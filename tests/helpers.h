// Helpers several test files share: model inspection, output comparison, small input folders.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "formats/image.h"

namespace mc::test {

int count_op(const Model& m, const std::string& op);

// Small constructors: integer-list, integer, float and string attributes, float and int64 tensors of a shape, a string's bytes.
Attribute ints_attr(std::vector<int64_t> v);
Attribute int_attr(int64_t v);
Attribute float_attr(float v);
Attribute string_attr(std::string v);
Tensor floats(Shape shape, std::vector<float> v);
Tensor ints(Shape shape, std::vector<int64_t> v);
std::vector<std::byte> to_bytes(const std::string& s);
// A string's bytes as a span (no copy), a whole file's bytes as a string, whether `text` contains `part`.
std::span<const std::byte> as_bytes(const std::string& s);
std::string read_file(const std::filesystem::path& path);
bool contains(const std::string& text, const std::string& part);
// Same dtype, shape and bytes.
bool same_bits(const Tensor& a, const Tensor& b);
// Rounding half to even in double, as QuantizeLinear's saturate(round(x / scale)) does.
double round_half_even(double v);

// Checks (doctest) that `f` throws an mc::Error of `kind` whose message contains `part`.
void expect_error(const std::function<void()>& f, ErrorKind kind, const std::string& part);

// Max |a - b| / max |a| of the two models' first outputs on `input`.
double relative_change(const Model& before, const Model& after, const Tensor& input);

// The first `n` images of a ../shared/reference input file ("input_keras.npy", "input_torch.npy").
Tensor first_reference_images(const std::string& file, int64_t n);

// `n` deterministic preprocessed [3,8,8] inputs (values in about [-0.8, 1.2]) written as
// img<i>.npy into `dir`; also returned.
std::vector<Tensor> write_small_inputs(const std::filesystem::path& dir, int n);
// The image configuration that reads those inputs (crop 8).
ImageConfig small_image_config();
// `n` pseudo-random [3,16,16] inputs (amplitude 4, TestRandom seeded with `seed`) written as <i>.npy
// into `dir`, for the architecture family models; returns the configuration that reads them (crop 16).
ImageConfig write_family_inputs(const std::filesystem::path& dir, int n, uint32_t seed);

// `m` after `pipeline` (passes/pass.h syntax) calibrated on the first `images` inputs of `dir`
// (small_image_config), at `threads`.
Model run_on_small_inputs(const Model& m, const std::string& pipeline, const std::filesystem::path& dir, int images, int threads);

// 0, 1, ..., n - 1.
std::vector<int64_t> indices(int64_t n);

// ../shared/tools/ort-eval/run when it and node are present; empty otherwise, with a note (or a
// failure under MCOMPRESS_REQUIRE_SHARED=1), so the caller skips its ONNX Runtime cross-check.
std::string ort_runner();
// ONNX Runtime's first output of `model` (serialized as is) on the float32 `input`, at 1 thread; on
// failure a failed check with ORT's message and an empty tensor.
Tensor ort_output(const std::string& runner, const Model& model, const Tensor& input);

}  // namespace mc::test
