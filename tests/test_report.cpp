// The size / operations / energy report (analysis/report.h, docs/COUNTING.md): exact counts on
// hand-built .mcz files (an int8 bank and a two-term ternary bank in one Conv, with float and with
// int8 activations), totals equal to the sums of the layers, a lossless file agreeing with
// count_ops, the energy table's validation, and the `report` command's exit codes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include "analysis/energy.h"
#include "analysis/op_count.h"
#include "analysis/report.h"
#include "analysis/rounding.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "passes/recipe.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

// tiny_conv_model: Conv 3->4 filters of 3x3x3 (27 weights each), pad 1, on 8x8: 64 output positions.
constexpr int64_t tiny_filter_weights = 27;
constexpr int64_t positions = 64;

// Channels [0, 2) of the tiny Conv's weight as int8, [2, 4) as two-term ternary. Ternary term 0
// holds symbol j % 3 (0, +1, -1, ...: 36 of its 54 weights non-zero), term 1 holds +1 where
// j % 5 == 0 (11 non-zero).
EncodedTensor hybrid_weight() {
  EncodedTensor e;
  e.dtype = DType::f32;
  e.shape = {4, 3, 3, 3};
  EncodedPart int8;
  int8.encoding = Encoding::int8;
  int8.channel_begin = 0;
  int8.channel_end = 2;
  int8.scales = {0.01f, 0.02f};
  int8.streams.resize(1);
  for (int64_t j = 0; j < 2 * tiny_filter_weights; ++j) int8.streams[0].push_back(static_cast<uint8_t>(128 + (j % 11) - 5));
  int8.symbol_bits = {8};
  EncodedPart ternary;
  ternary.encoding = Encoding::ternary;
  ternary.channel_begin = 2;
  ternary.channel_end = 4;
  ternary.terms = 2;
  ternary.scales = {0.5f, 0.1f, 0.4f, 0.05f};
  ternary.streams.resize(2);
  for (int64_t j = 0; j < 2 * tiny_filter_weights; ++j) {
    ternary.streams[0].push_back(static_cast<uint8_t>(j % 3));
    ternary.streams[1].push_back(j % 5 == 0 ? 1 : 0);
  }
  ternary.symbol_bits = {2, 2};
  e.parts = {int8, ternary};
  return e;
}
constexpr int64_t ternary_nonzeros = 36 + 11;

// The tiny Conv with the hybrid weight; with `int8_activations` its input passes through a
// QuantizeLinear/DequantizeLinear pair first (as the quantize-activations pass writes it).
std::vector<std::byte> hybrid_mcz(bool int8_activations, const nlohmann::ordered_json& extra_metadata = {}) {
  Model m = test::tiny_conv_model();
  EncodedTensor w = hybrid_weight();
  m.graph.encode("w", w);
  m.graph.encode("b", encode_fp32_planes(*m.graph.initializer("b")));
  if (int8_activations) {
    m.graph.initializers["x_scale"] = Tensor::scalar_f32(0.02f);
    m.graph.initializers["x_zero_point"] = Tensor::from_vector<uint8_t>({}, {128});
    m.graph.encode("x_scale", encode_fp32_planes(*m.graph.initializer("x_scale")));
    m.graph.encode("x_zero_point", encode_raw(*m.graph.initializer("x_zero_point")));
    m.graph.nodes.insert(m.graph.nodes.begin(), {Node{"quantize_x", "QuantizeLinear", {"x", "x_scale", "x_zero_point"}, {"x_q"}, {}},
                                                 Node{"dequantize_x", "DequantizeLinear", {"x_q", "x_scale", "x_zero_point"}, {"x_dq"}, {}}});
    m.graph.nodes[2].inputs[0] = "x_dq";
  }
  nlohmann::ordered_json meta;
  meta["recipe"] = "hand";
  meta["source"] = {{"file", "tiny.onnx"}, {"bytes", 1000}, {"params", 112}, {"macs", 4 * tiny_filter_weights * positions}};
  if (extra_metadata.is_object())
    for (auto it = extra_metadata.begin(); it != extra_metadata.end(); ++it) meta[it.key()] = it.value();
  return write_mcz(m, meta);
}

Report report_of(const std::vector<std::byte>& bytes, const EnergyTable& table = EnergyTable::builtin()) {
  McFile f = read_mcz(bytes, "test.mcz");
  return build_report(f, structure_of_mcz(f, "test.mcz"), table, "test.mcz");
}

// Every additive field of the totals equals the sum over the layers, and the top level equals the totals.
void check_totals_are_sums(const Report& r) {
  LayerReport sum;
  double energy = 0, original = 0, fp16 = 0, read = 0, read_original = 0;
  for (const auto& l : r.layers) {
    sum.params += l.params;
    sum.bytes += l.bytes;
    sum.fp32_bytes += l.fp32_bytes;
    sum.fp16_bytes += l.fp16_bytes;
    sum.macs += l.macs;
    sum.ops += l.ops;
    energy += l.energy_pj;
    original += l.energy_pj_original;
    fp16 += l.energy_pj_fp16;
    read += l.weight_read_pj;
    read_original += l.weight_read_pj_original;
    // ... and each layer is the sum of its parts.
    if (!l.parts.empty()) {
      OperationCounts parts;
      double parts_energy = 0;
      int64_t part_macs = 0;
      for (const auto& p : l.parts) {
        parts += p.ops;
        parts_energy += p.energy_pj;
        part_macs += p.macs;
      }
      CHECK(parts == l.ops);
      CHECK(part_macs == l.macs);
      CHECK(parts_energy == doctest::Approx(l.energy_pj));
    }
  }
  CHECK(sum.params == r.totals.params);
  CHECK(sum.bytes == r.totals.bytes);
  CHECK(sum.fp32_bytes == r.totals.fp32_bytes);
  CHECK(sum.fp16_bytes == r.totals.fp16_bytes);
  CHECK(sum.macs == r.totals.macs);
  CHECK(sum.ops == r.totals.ops);
  CHECK(energy == r.totals.energy_pj);
  CHECK(original == r.totals.energy_pj_original);
  CHECK(fp16 == r.totals.energy_pj_fp16);
  CHECK(read == r.totals.weight_read_pj);
  CHECK(read_original == r.totals.weight_read_pj_original);
  CHECK(r.ops == r.totals.ops);
  CHECK(r.energy_pj == r.totals.energy_pj);
  CHECK(r.energy_pj == doctest::Approx(compute_energy_pj(r.ops, r.table)));
  // Every stored tensor is in exactly one layer or among the others.
  CHECK(r.totals.bytes + r.other_bytes == r.weight_bytes);
  CHECK(r.totals.fp32_bytes + r.other_fp32_bytes == r.fp32_bytes);
  CHECK(r.totals.params + r.other_params == r.params);
  // The JSON carries the same totals.
  nlohmann::ordered_json j = to_json(r);
  int64_t fp32_macs = 0, int8_macs = 0, ternary_adds = 0, muls = 0, adds = 0;
  for (const auto& l : j["layers"]) {
    fp32_macs += l["ops"]["fp32_macs"].get<int64_t>();
    int8_macs += l["ops"]["int8_macs"].get<int64_t>();
    ternary_adds += l["ops"]["ternary_adds"].get<int64_t>();
    muls += l["ops"]["muls"].get<int64_t>();
    adds += l["ops"]["adds"].get<int64_t>();
  }
  CHECK(j["ops"]["fp32_macs"] == fp32_macs);
  CHECK(j["ops"]["int8_macs"] == int8_macs);
  CHECK(j["ops"]["ternary_adds"] == ternary_adds);
  CHECK(j["ops"]["muls"] == muls);
  CHECK(j["ops"]["adds"] == adds);
  CHECK(j["totals"]["ops"] == j["ops"]);
}

std::string report_write_text(const test::TempDir& dir, const std::string& file, const std::string& text) {
  std::string path = (dir.path / file).string();
  std::ofstream(path) << text;
  return path;
}

// The energy table file with `from` replaced by `to` (which must occur).
std::string edited_table(const std::string& from, const std::string& to) {
  auto bytes = read_binary_file((test::source_dir() / "data" / "energy_45nm.json").string());
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// Runs the mcompress binary; returns its exit code, stderr in `err`, stdout in `out`.
int report_run_cli(const std::string& args, std::string& out, std::string& err) {
  test::TempDir dir;
  std::string cmd = test::mcompress_binary() + " " + args + " >" + (dir.path / "out").string() + " 2>" + (dir.path / "err").string();
  int status = std::system(cmd.c_str());
  std::stringstream o, e;
  o << std::ifstream(dir.path / "out").rdbuf();
  e << std::ifstream(dir.path / "err").rdbuf();
  out = o.str();
  err = e.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("test_report: built-in energy table equals data/energy_45nm.json and Horowitz's figures") {
  const EnergyTable& t = EnergyTable::builtin();
  // The file read here as plain JSON, not through EnergyTable::parse (which also made the built-in
  // table), so a misread key or a stale compiled-in copy shows as a difference.
  const auto text = read_binary_file((test::source_dir() / "data" / "energy_45nm.json").string());
  const auto file = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(text.data()), text.size()));
  CHECK(t.name == file.at("name").get<std::string>());
  CHECK(t.source == file.at("source").get<std::string>());
  const std::pair<const char*, std::optional<double>> figures[] = {
      {"add.int8", t.add_int8_pj},     {"add.int16", t.add_int16_pj},   {"add.int32", t.add_int32_pj},
      {"add.fp16", t.add_fp16_pj},     {"add.fp32", t.add_fp32_pj},     {"mult.int8", t.mult_int8_pj},
      {"mult.int16", t.mult_int16_pj}, {"mult.int32", t.mult_int32_pj}, {"mult.fp16", t.mult_fp16_pj},
      {"mult.fp32", t.mult_fp32_pj},   {"memory.sram_read_32bit", t.sram_read_32bit_pj},
      {"memory.dram_read_32bit", t.dram_read_32bit_pj}};
  size_t in_file = 0;
  for (const auto& [key, value] : figures) {
    const std::string k = key;
    CAPTURE(k);
    const auto& group = file.at(k.substr(0, k.find('.')));
    const std::string figure = k.substr(k.find('.') + 1);
    if (!group.contains(figure)) {
      CHECK(!value.has_value());
      continue;
    }
    ++in_file;
    REQUIRE(value.has_value());
    CHECK(*value == group.at(figure).get<double>());
  }
  // ... and the file has no figure the table does not hold.
  CHECK(in_file == file.at("add").size() + file.at("mult").size() + file.at("memory").size());

  // Horowitz's published 45 nm figures, as literals.
  CHECK(t.add_int8_pj == 0.03);
  CHECK(t.add_int16_pj == 0.05);
  CHECK(t.add_int32_pj == 0.1);
  CHECK(t.add_fp16_pj == 0.4);
  CHECK(t.add_fp32_pj == 0.9);
  CHECK(t.mult_int8_pj == 0.2);
  CHECK(t.mult_int32_pj == 3.1);
  CHECK(t.mult_fp16_pj == 1.1);
  CHECK(t.mult_fp32_pj == 3.7);
  CHECK(!t.mult_int16_pj.has_value());
  CHECK(t.sram_read_32bit_pj == 5.0);
  CHECK(t.dram_read_32bit_pj == 640.0);
  CHECK(t.source.find("ISSCC 2014") != std::string::npos);
  CHECK(fp32_mac_pj(t) == doctest::Approx(4.6));
  CHECK(fp16_mac_pj(t) == doctest::Approx(1.5));
  CHECK(int8_mac_pj(t) == doctest::Approx(0.3));
  CHECK(ternary_add_pj(t, true) == doctest::Approx(0.1));
  CHECK(ternary_add_pj(t, false) == doctest::Approx(0.9));
  CHECK(scale_mult_pj(t) == doctest::Approx(3.7));
  CHECK(weight_read_pj(t, 8) == doctest::Approx(10.0));

  // A report prices known counts at the file's figures: the hybrid Conv with int8 activations has
  // 3456 int8 MACs, 47 x 64 int32 ternary adds and 2 x 2 x 64 fp32 scale mults; its float source
  // 6912 MACs.
  const auto pj = [&](const char* group, const char* figure) { return file.at(group).at(figure).get<double>(); };
  Report r = report_of(hybrid_mcz(true));
  REQUIRE(r.ops.int8_macs == 3456);
  REQUIRE(r.ops.ternary_adds_int32 == 47 * 64);
  REQUIRE(r.ops.scale_muls == 256);
  REQUIRE(r.macs_original == 6912);
  CHECK(r.energy_pj == doctest::Approx(3456 * (pj("mult", "int8") + pj("add", "int32")) + 47 * 64 * pj("add", "int32") +
                                       256 * pj("mult", "fp32")));
  CHECK(r.energy_pj_original == doctest::Approx(6912 * (pj("mult", "fp32") + pj("add", "fp32"))));
  CHECK(r.energy_pj_fp16 == doctest::Approx(6912 * (pj("mult", "fp16") + pj("add", "fp16"))));
}

TEST_CASE("test_report: invalid energy tables are rejected naming the file and the key") {
  test::TempDir dir;
  struct Case {
    std::string text;
    std::string expected;  // in the message, after the path
  };
  const Case cases[] = {
      {edited_table("\"fp32\": 3.7", "\"fp64\": 3.7"), "unknown key 'mult.fp64'"},
      {edited_table("\"fp16\": 1.1,", ""), "missing key 'mult.fp16'"},
      {edited_table("\"fp32\": 3.7", "\"fp32\": -3.7"), "'mult.fp32' must be a finite number"},
      {edited_table("\"fp32\": 3.7", "\"fp32\": \"3.7\""), "'mult.fp32' must be a finite number"},
      {edited_table("\"int32\": 0.1", "\"int32\": null"), "'add.int32' must be a finite number"},
      {edited_table("\"sram_read_32bit\": 5.0,", ""), "missing key 'memory.sram_read_32bit'"},
      {edited_table("\"unit\": \"pJ\"", "\"unit\": \"nJ\""), "key 'unit' must be \"pJ\""},
      {edited_table("\"memory\": {", "\"memory_\": {"), "missing key 'memory'"},
      {"{\"add\": ", "not valid JSON"},
      {"[1, 2]", "must be a JSON object"},
  };
  int n = 0;
  for (const auto& c : cases) {
    CAPTURE(c.expected);
    std::string path = report_write_text(dir, "table" + std::to_string(n++) + ".json", c.text);
    try {
      EnergyTable::load(path);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      std::string msg = e.what();
      CHECK(msg.find(path) != std::string::npos);
      CHECK(msg.find(c.expected) != std::string::npos);
    }
  }
  // A missing file is the usual input error; optional figures may be left out.
  CHECK_THROWS_AS(EnergyTable::load((dir.path / "missing.json").string()), Error);
  EnergyTable minimal = EnergyTable::parse(
      R"({"add": {"int32": 1, "fp16": 2, "fp32": 3}, "mult": {"int8": 4, "fp16": 5, "fp32": 6}, "memory": {"sram_read_32bit": 7}})", "min");
  CHECK(fp32_mac_pj(minimal) == 9.0);
  CHECK(int8_mac_pj(minimal) == 5.0);
  CHECK(!minimal.add_int8_pj.has_value());
}

TEST_CASE("test_report: int8 and ternary banks with float activations: exact counts and energy") {
  Report r = report_of(hybrid_mcz(false));
  REQUIRE(r.layers.size() == 1);
  const LayerReport& l = r.layers[0];
  CHECK(l.name == "conv");
  CHECK(l.weight == "w");
  CHECK(!l.int8_activations);
  CHECK(l.macs == 4 * tiny_filter_weights * positions);
  CHECK(l.params == 4 * tiny_filter_weights + 4);
  REQUIRE(l.parts.size() == 2);
  const PartReport& int8 = l.parts[0];
  const PartReport& ternary = l.parts[1];
  CHECK(int8.encoding == "int8");
  CHECK(ternary.encoding == "ternaryx2");
  CHECK(int8.weights == 2 * tiny_filter_weights);
  CHECK(ternary.ternary_nonzeros == std::vector<int64_t>{36, 11});
  // int8 weights with float activations are dequantized on the fly: fp32 MACs.
  CHECK(int8.ops.fp32_macs == 2 * tiny_filter_weights * positions);
  CHECK(int8.ops.int8_macs == 0);
  // Ternary: one fp32 add per non-zero per output position; one scale mult per output per term.
  CHECK(ternary.ops.fp32_macs == 0);
  CHECK(ternary.ops.ternary_adds_fp32 == ternary_nonzeros * positions);
  CHECK(ternary.ops.ternary_adds_int32 == 0);
  CHECK(ternary.ops.scale_muls == 2 * 2 * positions);
  CHECK(r.ops.fp32_macs == 3456);
  CHECK(r.ops.ternary_adds() == 47 * 64);
  CHECK(r.ops.muls() == 3456 + 256);
  CHECK(r.ops.adds() == 3456 + 47 * 64);
  CHECK(r.energy_pj == doctest::Approx(3456 * (3.7 + 0.9) + 47 * 64 * 0.9 + 256 * 3.7));
  CHECK(ternary.energy_pj == doctest::Approx(47 * 64 * 0.9 + 256 * 3.7));
  // The float model: every MAC of the source at fp32, or at fp16.
  CHECK(r.macs_original_from_metadata);
  CHECK(r.macs_original == 6912);
  CHECK(r.energy_pj_original == doctest::Approx(6912 * 4.6));
  CHECK(r.energy_pj_fp16 == doctest::Approx(6912 * 1.5));
  // Sizes: the weight's two parts and the fp32 bias, against 4 bytes per float.
  CHECK(r.fp32_bytes == 4 * 112);
  CHECK(r.fp16_bytes == 2 * 112);
  CHECK(r.source_bytes == 1000);
  CHECK(l.fp32_bytes == 4 * 112);
  REQUIRE(l.by_encoding.size() == 3);  // the weight's two parts, then the bias
  CHECK(l.by_encoding[0].encoding == "int8");
  CHECK(l.by_encoding[1].encoding == "ternaryx2");
  CHECK(l.by_encoding[2].encoding == "fp32");
  CHECK(l.by_encoding[2].weights == 4);
  uint64_t stored = 0;
  for (const auto& p : l.parts) stored += p.bytes;
  CHECK(stored < l.bytes);  // the bias is stored too
  CHECK(!r.accuracy.has_value());
  check_totals_are_sums(r);

  nlohmann::ordered_json j = to_json(r);
  for (const char* key : {"size", "ops", "ops_original", "energy_pj", "energy_pj_original", "energy_pj_fp16", "layers"})
    CHECK(j.contains(key));
  for (const char* key : {"bytes", "fp32_bytes", "compression_ratio"}) CHECK(j["size"].contains(key));
  CHECK(j["size"]["compression_ratio"].get<double>() == round_significant(448.0 / static_cast<double>(r.bytes), 4));
  CHECK(j["ops_original"]["fp32_macs"] == 6912);
  CHECK(j["ops_original"]["muls"] == 6912);
  CHECK(j["ops_original"]["adds"] == 6912);
  CHECK(j["ops_original"]["ternary_adds"] == 0);
  CHECK(!j.contains("accuracy"));
  CHECK(to_text(r).find("conv") != std::string::npos);
}

TEST_CASE("test_report: int8 activations: int8 MACs and int32 ternary additions") {
  nlohmann::ordered_json extra;
  extra["report"]["accuracy"] = {{"top1_before", 70.5}, {"top1_after", 70.1}, {"top5_before", 89.0}, {"images", 500}};
  Report r = report_of(hybrid_mcz(true, extra));
  REQUIRE(r.layers.size() == 1);
  const LayerReport& l = r.layers[0];
  CHECK(l.int8_activations);
  CHECK(l.ops.fp32_macs == 0);
  CHECK(l.ops.int8_macs == 3456);
  CHECK(l.ops.ternary_adds_int32 == 47 * 64);
  CHECK(l.ops.ternary_adds_fp32 == 0);
  CHECK(l.ops.scale_muls == 256);
  // int8 MAC = int8 mult + int32 accumulate; ternary add at the int32 accumulator's width.
  CHECK(r.energy_pj == doctest::Approx(3456 * (0.2 + 0.1) + 47 * 64 * 0.1 + 256 * 3.7));
  // The activation quantizer's scale and zero point belong to no weighted layer, and are no
  // parameters (analysis/op_count.h): the file has exactly the parameters of the float model.
  CHECK(r.other_tensors == 2);
  CHECK(r.other_params == 0);
  CHECK(r.params == 4 * tiny_filter_weights + 4);
  CHECK(r.fp32_bytes == 4 * 112);
  REQUIRE(r.accuracy.has_value());
  CHECK(*r.accuracy->top1_before == 70.5);
  CHECK(*r.accuracy->top1_after == 70.1);
  CHECK(*r.accuracy->top5_before == 89.0);
  CHECK(!r.accuracy->top5_after.has_value());
  CHECK(*r.accuracy->images == 500);
  nlohmann::ordered_json j = to_json(r);
  CHECK(j["accuracy"]["top1_drop"].get<double>() == doctest::Approx(0.4));
  check_totals_are_sums(r);

  // Another table prices the same counts with its own figures.
  EnergyTable t = EnergyTable::builtin();
  t.mult_int8_pj = 1;
  t.add_int32_pj = 2;
  t.mult_fp32_pj = 10;
  Report priced = report_of(hybrid_mcz(true), t);
  CHECK(priced.ops == r.ops);
  CHECK(priced.energy_pj == doctest::Approx(3456 * 3.0 + 47 * 64 * 2.0 + 256 * 10.0));

  SUBCASE("a malformed accuracy in the metadata is an input error naming the key") {
    nlohmann::ordered_json bad;
    bad["report"]["accuracy"] = {{"top1_after", "high"}};
    try {
      report_of(hybrid_mcz(true, bad));
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK(std::string(e.what()).find("report.accuracy.top1_after") != std::string::npos);
    }
  }
}

TEST_CASE("test_report: a lossless .mcz reports the float model's counts") {
  Model m = test::tiny_conv_model();
  OpCount count = count_ops(m);
  CompressedModel c = run_recipe("lossless", m);
  nlohmann::ordered_json meta;
  meta["recipe"] = "lossless";
  auto bytes = write_mcz(c.model, meta);  // no source.macs: the stored graph's MACs are the original
  Report r = report_of(bytes);
  CHECK(!r.macs_original_from_metadata);
  CHECK(r.ops.fp32_macs == count.macs);
  CHECK(r.ops.int8_macs == 0);
  CHECK(r.ops.ternary_adds() == 0);
  CHECK(r.ops.scale_muls == 0);
  CHECK(r.macs_original == count.macs);
  CHECK(r.params == count.params);
  CHECK(r.energy_pj == doctest::Approx(r.energy_pj_original));
  CHECK(r.fp32_bytes == static_cast<uint64_t>(4 * count.params));
  // The weights alone are about their fp32 size (byte planes of random floats barely compress).
  double weight_ratio = static_cast<double>(r.fp32_bytes) / static_cast<double>(r.weight_bytes);
  CHECK(weight_ratio > 0.95);
  CHECK(weight_ratio < 1.5);
  CHECK(to_json(r)["ops_original"]["from"] == "the stored graph's float MACs");
  check_totals_are_sums(r);
}

TEST_CASE("test_report: shared model: lossless ~1x and fp16 ~2x against fp32, same MACs as count_ops") {
  if (!test::need_shared()) return;
  const std::string path = (test::shared_dir() / "models" / "mobilenet_v1_0.25_224.onnx").string();
  Model m = load_onnx(path);
  OpCount count = count_ops(m);
  for (const char* recipe : {"lossless", "fp16"}) {
    CAPTURE(recipe);
    CompressedModel c = run_recipe(recipe, m);
    nlohmann::ordered_json meta;
    meta["recipe"] = recipe;
    meta["source"] = {{"macs", count.macs}};
    auto bytes = write_mcz(c.model, meta);
    nlohmann::ordered_json j = report_json_for(bytes, "m.mcz", EnergyTable::builtin());
    CHECK(j["ops"]["fp32_macs"] == count.macs);
    CHECK(j["ops"]["int8_macs"] == 0);
    CHECK(j["ops"]["ternary_adds"] == 0);
    CHECK(j["ops_original"]["fp32_macs"] == count.macs);
    CHECK(j["energy_pj"].get<double>() == doctest::Approx(j["energy_pj_original"].get<double>()));
    CHECK(j["size"]["params"] == count.params);
    size_t weighted = 0;
    for (const auto& l : count.layers) weighted += l.op == "Conv" || l.op == "Gemm" || l.op == "MatMul";
    CHECK(weighted >= 28);  // MobileNetV1: first conv, 13 depthwise, 13 pointwise, the classifier
    CHECK(j["layers"].size() == weighted);
    double ratio = j["size"]["compression_ratio"].get<double>();
    if (std::string(recipe) == "lossless") CHECK(ratio == doctest::Approx(1.0).epsilon(0.2));
    else CHECK(ratio == doctest::Approx(2.0).epsilon(0.2));
    McFile f = read_mcz(bytes, "m.mcz");
    check_totals_are_sums(build_report(f, structure_of_mcz(f, "m.mcz"), EnergyTable::builtin(), "m.mcz"));
  }
}

TEST_CASE("test_report: the report command's output and errors") {
  if (!std::filesystem::exists(test::mcompress_binary())) return;
  test::TempDir dir;
  const std::string mcz = (dir.path / "hybrid.mcz").string();
  write_binary_file(mcz, hybrid_mcz(false));
  std::string out, err;

  CHECK(report_run_cli("report " + mcz, out, err) == 0);
  CHECK(out.find("conv") != std::string::npos);
  CHECK(out.find("int8:2+ternaryx2:2") != std::string::npos);
  CHECK(report_run_cli("report " + mcz + " --json", out, err) == 0);
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(out);
  CHECK(j["ops"]["ternary_adds"] == 47 * 64);

  const std::string json_out = (dir.path / "r.json").string();
  CHECK(report_run_cli("report " + mcz + " -o " + json_out + " --quiet", out, err) == 0);
  CHECK(out.empty());
  CHECK(std::filesystem::exists(json_out));
  CHECK(report_run_cli("report " + mcz + " -o " + json_out, out, err) == 5);
  CHECK(err.rfind("mcompress: error: " + json_out + ": already exists", 0) == 0);
  CHECK(report_run_cli("report " + mcz + " -o " + json_out + " --force", out, err) == 0);

  CHECK(report_run_cli("report " + (dir.path / "missing.mcz").string(), out, err) == 3);
  CHECK(err.find("missing.mcz") != std::string::npos);
  const std::string onnx = (dir.path / "tiny.onnx").string();
  std::string model = serialize_onnx(test::tiny_conv_model());
  report_write_text(dir, "tiny.onnx", model);
  CHECK(report_run_cli("report " + onnx, out, err) == 3);
  CHECK(err.find("not a .mcz file") != std::string::npos);

  const std::string table = report_write_text(dir, "table.json", edited_table("\"fp32\": 0.9", "\"fp32\": -1"));
  CHECK(report_run_cli("report " + mcz + " --energy-table " + table, out, err) == 3);
  CHECK(err.find("add.fp32") != std::string::npos);
  const std::string cheap = report_write_text(dir, "cheap.json", edited_table("\"fp32\": 0.9", "\"fp32\": 0.5"));
  CHECK(report_run_cli("report " + mcz + " --json --energy-table " + cheap, out, err) == 0);
  CHECK(nlohmann::ordered_json::parse(out)["energy_pj_original"].get<double>() == doctest::Approx(6912 * 4.2));

  CHECK(report_run_cli("report " + mcz + " --json -o -", out, err) == 2);
  // --html writes a self-contained page, and like every output never replaces a file without --force.
  const std::string page = (dir.path / "r.html").string();
  CHECK(report_run_cli("report " + mcz + " --html " + page + " --quiet", out, err) == 0);
  std::stringstream html;
  html << std::ifstream(page).rdbuf();
  CHECK(html.str().rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.str().find("int8:2 + ternaryx2:2") != std::string::npos);
  CHECK(report_run_cli("report " + mcz + " --html " + page, out, err) == 5);
  CHECK(err.find("already exists") != std::string::npos);
}
