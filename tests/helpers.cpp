#include "tests/helpers.h"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/executor.h"
#include "formats/npy.h"
#include "analysis/calibration.h"
#include "passes/pass.h"
#include "tests/model_builder.h"
#include "formats/onnx_model.h"
#include "tests/test_util.h"

namespace mc::test {

Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.type = AttrType::integers;
  a.ints = std::move(v);
  return a;
}

std::span<const std::byte> as_bytes(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0;
}

double round_half_even(double v) {
  double r = std::floor(v);
  const double frac = v - r;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1;
  return r;
}

Attribute int_attr(int64_t v) { return Attribute{AttrType::integer, 0, v, {}, {}, {}, {}, {}}; }
Attribute float_attr(float v) { return Attribute{AttrType::floating, v, 0, {}, {}, {}, {}, {}}; }
Attribute string_attr(std::string v) { return Attribute{AttrType::string, 0, 0, std::move(v), {}, {}, {}, {}}; }

Tensor floats(Shape shape, std::vector<float> v) { return Tensor::from_vector<float>(std::move(shape), v); }
Tensor ints(Shape shape, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(std::move(shape), v); }

std::vector<std::byte> to_bytes(const std::string& s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph.nodes) n += node.op == op;
  return n;
}

double relative_change(const Model& before, const Model& after, const Tensor& input) {
  auto a = Executor(before).run({input})[0].to_float_vector();
  auto b = Executor(after).run({input})[0].to_float_vector();
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, range = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    range = std::max(range, static_cast<double>(std::fabs(a[i])));
  }
  return diff / range;
}

Tensor first_reference_images(const std::string& file, int64_t n) {
  Tensor all = read_npy((shared_dir() / "reference" / file).string());
  Shape s = all.shape();
  s[0] = n;
  Tensor t(DType::f32, s);
  std::memcpy(t.raw(), all.raw(), t.byte_size());
  return t;
}

std::vector<Tensor> write_small_inputs(const std::filesystem::path& dir, int n) {
  std::vector<Tensor> inputs;
  for (int i = 0; i < n; ++i) {
    Tensor t(DType::f32, {3, 8, 8});
    for (int64_t j = 0; j < t.numel(); ++j) t.data<float>()[j] = std::sin(0.37f * static_cast<float>(j) + static_cast<float>(i)) + 0.2f;
    write_npy((dir / ("img" + std::to_string(i) + ".npy")).string(), t);
    inputs.push_back(t);
  }
  return inputs;
}

ImageConfig write_family_inputs(const std::filesystem::path& dir, int n, uint32_t seed) {
  TestRandom random{seed};
  for (int i = 0; i < n; ++i) {
    std::string file = std::to_string(i);
    file += ".npy";  // (not "f" + ...: GCC 12 warns about std::string's operator+ there, bug 105329)
    write_npy((dir / file).string(), Tensor::from_vector<float>({3, 16, 16}, random.values(3 * 16 * 16, 4.0f)));
  }
  ImageConfig config = small_image_config();
  config.crop = 16;
  config.resize_short = 16;
  return config;
}

Model run_on_small_inputs(const Model& m, const std::string& pipeline, const std::filesystem::path& dir, int images, int threads) {
  Model out = m;
  PassContext ctx;
  ctx.threads = threads;
  ctx.calibration = calibration_set(dir.string(), images, 0, small_image_config(), m);
  run_pipeline(out, parse_pipeline(pipeline), ctx);
  return out;
}

std::vector<int64_t> indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

void expect_error(const std::function<void()>& f, ErrorKind kind, const std::string& part) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(static_cast<int>(e.kind()) == static_cast<int>(kind), e.what());
    CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, "message '" << e.what() << "' lacks '" << part << "'");
    return;
  }
  FAIL_CHECK("expected an mc::Error containing '" << part << "', nothing was thrown");
}

ImageConfig small_image_config() {
  ImageConfig c;
  c.crop = 8;
  c.resize_short = 8;
  c.preprocess = parse_preprocess("keras");
  return c;
}

std::string ort_runner() {
  const auto run = shared_dir() / "tools" / "ort-eval" / "run";
  if (std::filesystem::exists(run) && std::system("command -v node >/dev/null 2>&1") == 0) return run.string();
  const char* require = std::getenv("MCOMPRESS_REQUIRE_SHARED");
  if (require && std::string(require) == "1") FAIL(run.string() << " or node not found (MCOMPRESS_REQUIRE_SHARED=1)");
  MESSAGE(run.string() << " or node not found; the ONNX Runtime cross-check is skipped");
  return "";
}

Tensor ort_output(const std::string& runner, const Model& model, const Tensor& input) {
  TempDir dir;
  const auto onnx = dir.path / "model.onnx", in = dir.path / "in.npy", out = dir.path / "out.npy", log = dir.path / "log";
  {
    std::ofstream f(onnx, std::ios::binary);
    f << serialize_onnx(model);
  }
  write_npy(in.string(), input);
  const std::string cmd = "'" + runner + "' ort-npy '" + onnx.string() + "' '" + in.string() + "' '" + out.string() +
                          "' --threads 1 >'" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    std::ifstream f(log);
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    FAIL_CHECK("ONNX Runtime failed: " << text);
    return Tensor();
  }
  return read_npy(out.string());
}

}  // namespace mc::test
