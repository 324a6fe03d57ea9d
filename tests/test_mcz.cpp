// The .mcz container and its encodings: lossless and fp16 round trips, the numeric encodings
// decoded against hand-computed values, checksums, determinism.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "core/executor.h"
#include "formats/checksum.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "formats/rans.h"
#include "passes/recipe.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::same_bits;

namespace {

std::span<const std::byte> mcz_bytes_of(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

std::vector<std::byte> compress(const Model& m, const std::string& recipe) {
  CompressedModel c = run_recipe(recipe, m);
  nlohmann::ordered_json meta;
  meta["recipe"] = recipe;
  return write_mcz(c.model, meta);
}

}  // namespace

TEST_CASE("test_mcz: checksums match their published check values") {
  std::string digits = "123456789";
  CHECK(crc32c(mcz_bytes_of(digits)) == 0xE3069283u);
  CHECK(crc32c(mcz_bytes_of("")) == 0u);
  CHECK(sha256_hex(mcz_bytes_of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(mcz_bytes_of("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string long_input(1000, 'a');
  CHECK(sha256_hex(mcz_bytes_of(long_input)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST_CASE("test_mcz: float16 conversion is exact both ways and rounds to nearest even") {
  int mismatches = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    float f = half_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(f)) mismatches += float_to_half(f) != h;
  }
  CHECK(mismatches == 0);
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);          // rounds up to infinity
  CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3c00);  // halfway: to even
  CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3c02);  // halfway: to even (up)
  CHECK(float_to_half(5.96e-8f) == 0x0001);          // smallest subnormal
  CHECK(float_to_half(-0.0f) == 0x8000);
  CHECK(std::isnan(half_to_float(float_to_half(std::nanf("")))));
}

TEST_CASE("test_mcz: int8, int4, ternary and sparse parts decode as specified") {
  EncodedTensor e;
  e.dtype = DType::f32;
  e.shape = {3, 2};  // 3 channels of 2 weights
  EncodedPart int8;
  int8.encoding = Encoding::int8;
  int8.channel_begin = 0;
  int8.channel_end = 1;
  int8.scales = {0.5f};
  int8.zero_points = {2};
  int8.streams = {{128 + 10, 128 - 3}};
  int8.symbol_bits = {8};
  EncodedPart ternary;
  ternary.encoding = Encoding::ternary;
  ternary.channel_begin = 1;
  ternary.channel_end = 2;
  ternary.terms = 2;
  ternary.scales = {1.0f, 0.25f};
  ternary.streams = {{1, 2}, {2, 0}};
  ternary.symbol_bits = {2, 2};
  EncodedPart sparse_int4;
  sparse_int4.encoding = Encoding::int4;
  sparse_int4.channel_begin = 2;
  sparse_int4.channel_end = 3;
  sparse_int4.sparse = true;
  sparse_int4.scales = {0.1f};
  sparse_int4.streams = {{0, 1}, {8 + 7}};
  sparse_int4.symbol_bits = {1, 4};
  e.parts = {int8, ternary, sparse_int4};
  Tensor t = decode_tensor(e, "w");
  const float* v = t.data<float>();
  CHECK(v[0] == doctest::Approx((10 - 2) * 0.5f));
  CHECK(v[1] == doctest::Approx((-3 - 2) * 0.5f));
  CHECK(v[2] == doctest::Approx(1.0f - 0.25f));
  CHECK(v[3] == doctest::Approx(-1.0f));
  CHECK(v[4] == 0.0f);
  CHECK(v[5] == doctest::Approx(0.7f));

  // The same tensor survives the container (streams coded and decoded).
  Model m;
  m.graph.initializers["w"] = t;
  m.graph.inputs.push_back(ValueInfo{"x", DType::f32, {1, 2}, {"", ""}, true});
  m.graph.outputs.push_back(ValueInfo{"y", DType::f32, {1, 3}, {"", ""}, true});
  Node gemm{"fc", "Gemm", {"x", "w"}, {"y"}, {}};
  gemm.attrs["transB"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
  m.graph.nodes.push_back(gemm);
  auto bytes = write_mcz(test::with_encodings(m, {{"w", e}}), nlohmann::ordered_json::object());
  McFile f = read_mcz(bytes, "hand.mcz");
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.tensors[0].encoded.parts.size() == 3);
  CHECK(same_bits(decode_mcz(f, "hand.mcz").graph.initializers.at("w").values, t));

  SUBCASE("symbols outside an encoding's range are rejected") {
    e.parts[1].streams[0][0] = 3;
    CHECK_THROWS_AS(decode_tensor(e, "w"), Error);
  }
  SUBCASE("parts must tile the channels") {
    e.parts[1].channel_end = 3;
    CHECK_THROWS_AS(decode_tensor(e, "w"), Error);
  }
}

TEST_CASE("test_mcz: lossless round trip is bit-identical and runs identically") {
  Model m = test::tiny_conv_model();
  auto bytes = compress(m, "lossless");
  McFile f = read_mcz(bytes, "tiny.mcz");
  CHECK(f.metadata["recipe"] == "lossless");
  Model back = decode_mcz(f, "tiny.mcz");
  for (const auto& [name, t] : m.graph.initializers) CHECK(same_bits(back.graph.initializers.at(name).values, t.values));
  // Deterministic: the same input gives the same bytes, at any thread count.
  CHECK(compress(m, "lossless") == bytes);
  CompressedModel c = run_recipe("lossless", m);
  nlohmann::ordered_json meta;
  meta["recipe"] = "lossless";
  CHECK(write_mcz(c.model, meta, 1) == bytes);
  CHECK(write_mcz(c.model, meta, 3) == bytes);
}

TEST_CASE("test_mcz: shared models: lossless is bit-identical, fp16 equals the rounded weights") {
  if (!test::need_shared()) return;
  for (const char* name : {"mobilenet_v1_0.25_224"}) {
    CAPTURE(name);
    Model m = load_onnx((test::shared_dir() / "models" / (std::string(name) + ".onnx")).string());
    auto lossless = compress(m, "lossless");
    Model back = decode_mcz(read_mcz(lossless, name), name);
    for (const auto& [n, t] : m.graph.initializers) REQUIRE(same_bits(back.graph.initializers.at(n).values, t.values));
    // Export of the decoded model equals export of the source: same graph, same weights.
    CHECK(serialize_onnx(back).size() == serialize_onnx(m).size());

    auto fp16 = compress(m, "fp16");
    CHECK(fp16.size() < lossless.size());
    Model half = decode_mcz(read_mcz(fp16, name), name);
    for (const auto& [n, t_init] : m.graph.initializers) {
    const Tensor& t = t_init.values;
      const Tensor& u = half.graph.initializers.at(n).values;
      if (t.dtype() != DType::f32) {
        CHECK(same_bits(u, t));
        continue;
      }
      int64_t differing = 0;
      for (int64_t i = 0; i < t.numel(); ++i)
        differing += u.data<float>()[i] != half_to_float(float_to_half(t.data<float>()[i]));
      CHECK(differing == 0);
    }
  }
}

TEST_CASE("test_mcz: the coder keeps the smallest of packed, rANS and zstd per stream") {
  Model m = test::tiny_conv_model();
  // A weight tensor of mostly zeros compresses: some stream must be entropy-coded.
  Tensor w(DType::f32, {64, 3, 3, 3});
  std::memset(w.raw(), 0, w.byte_size());
  for (int64_t i = 0; i < w.numel(); i += 37) w.data<float>()[i] = 0.5f;
  m.graph.initializers["w"] = w;
  m.graph.initializers["b"] = Tensor(DType::f32, {64});
  std::memset(m.graph.initializers["b"].values.raw(), 0, 256);
  CompressedModel c = run_recipe("lossless", m);
  // Streams meant for each coder: random bytes and random int4 symbols have nothing to gain over
  // packing; in independent bytes where 0 is 4 in 5, rANS codes each 0 in a third of a bit, zstd's
  // Huffman literals in a whole bit (its short matches win back little); a repeated ramp uses every
  // byte equally often, so only zstd's matches gain on it.
  std::mt19937 rng(13);
  std::vector<uint8_t> uniform(4096), skewed(4096), ramp(4096);
  std::geometric_distribution<int> geometric(0.8);
  for (size_t i = 0; i < uniform.size(); ++i) {
    uniform[i] = static_cast<uint8_t>(rng() & 0xff);
    skewed[i] = static_cast<uint8_t>(std::min(geometric(rng), 255));
    ramp[i] = static_cast<uint8_t>(i % 256);
  }
  for (const auto& [name, bytes] : {std::pair{"uniform", &uniform}, {"skewed", &skewed}, {"ramp", &ramp}}) {
    c.model.graph.initializers[name] = Tensor::from_vector<uint8_t>({4096}, *bytes);
    c.model.graph.encode(name, encode_raw(*c.model.graph.initializer(name)));
  }
  EncodedTensor int4;
  int4.shape = {4, 256};
  EncodedPart part;
  part.encoding = Encoding::int4;
  part.channel_end = 4;
  part.scales = {0.1f, 0.2f, 0.3f, 0.4f};
  part.streams.resize(1);
  for (int i = 0; i < 4 * 256; ++i) part.streams[0].push_back(static_cast<uint8_t>(rng() & 15));
  part.symbol_bits = {4};
  int4.parts = {part};
  c.model.graph.initializers["int4"] = Tensor(DType::f32, {4, 256});
  c.model.graph.encode("int4", int4);

  nlohmann::ordered_json meta;
  meta["recipe"] = "lossless";
  auto bytes = write_mcz(c.model, meta);
  McFile f = read_mcz(bytes, "coders.mcz");
  std::map<std::string, std::set<StreamCoder>> coders;
  for (const auto& t : f.tensors) {
    CAPTURE(t.name);
    const EncodedTensor e = decode_streams(f, t);
    for (size_t pi = 0; pi < t.streams.size(); ++pi) {
      for (size_t si = 0; si < t.streams[pi].size(); ++si) {
        CAPTURE(si);
        const McStream& s = t.streams[pi][si];
        const std::vector<uint8_t>& symbols = e.parts[pi].streams[si];
        const auto sizes = coded_sizes(symbols, s.symbol_bits);
        CHECK(sizes[0] == (symbols.size() * s.symbol_bits + 7) / 8);
        CHECK(sizes[1] == rans_encode(std::span<const uint8_t>(symbols.data(), symbols.size())).size());
        CHECK(s.length == *std::min_element(sizes.begin(), sizes.end()));
        CHECK(s.length == sizes[static_cast<size_t>(s.coder)]);
        coders[t.name].insert(s.coder);
      }
    }
    if (t.name == "w") CHECK(t.stored_bytes() < w.byte_size() / 8);
  }
  CHECK(coders["uniform"] == std::set{StreamCoder::packed});
  CHECK(coders["int4"] == std::set{StreamCoder::packed});
  CHECK(coders["skewed"] == std::set{StreamCoder::rans});
  CHECK(coders["ramp"] == std::set{StreamCoder::zstd});
  // An empty stream (a sparse part with every weight pruned) is stored packed, in no bytes.
  CHECK(coded_sizes({}, 8)[0] == 0);
}
