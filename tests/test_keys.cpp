// One key, one meaning (docs/KEYS.md): the parameter rule shared by op counting, the report and
// `info`; `info --json` and `report --json` printing the same value under every key they share, for
// the same file; their text saying the same numbers; JSON free of floating-point noise; "more" and
// "fewer" as the numbers are; `info --tensors` in natural order.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "analysis/op_count.h"
#include "analysis/report.h"
#include "analysis/rounding.h"
#include "core/text.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

constexpr int64_t expected_params = 216 + 8 + 64 + 8 + 32 + 4 + 4 * 8;  // 3 layers' weights and biases, BatchNorm

// tiny_pointwise_model with what is stored but is no parameter: Clip bounds (its first Relu becomes
// Clip(0, 6)) and the scale and zero point of a QuantizeLinear/DequantizeLinear pair on the
// pointwise conv's input; and what is a parameter but in no layer: a BatchNormalization after the
// pointwise conv. The classifier's weight is "w10", so text order (w10, w2) differs from natural
// order (w2, w10).
Model keys_model() {
  Model m = test::tiny_pointwise_model();
  Graph& g = m.graph;
  g.initializers["w10"] = g.initializers.at("w3");
  g.initializers.erase("w3");
  g.initializers["clip_lo"] = Tensor::scalar_f32(0.0f);
  g.initializers["clip_hi"] = Tensor::scalar_f32(6.0f);
  g.initializers["r1_scale"] = Tensor::scalar_f32(0.05f);
  g.initializers["r1_zero_point"] = Tensor::from_vector<uint8_t>({}, {0});
  for (const char* v : {"bn_gamma", "bn_beta", "bn_mean", "bn_var"})
    g.initializers[v] = Tensor::from_vector<float>({8}, std::vector<float>(8, std::string(v) == "bn_beta" || std::string(v) == "bn_mean" ? 0.1f : 1.0f));
  std::vector<Node> nodes;
  for (Node n : g.nodes) {
    if (n.name == "relu1") {
      nodes.push_back(Node{"clip1", "Clip", {"c1", "clip_lo", "clip_hi"}, {"r1"}, {}});
      nodes.push_back(Node{"quantize_r1", "QuantizeLinear", {"r1", "r1_scale", "r1_zero_point"}, {"r1_q"}, {}});
      nodes.push_back(Node{"dequantize_r1", "DequantizeLinear", {"r1_q", "r1_scale", "r1_zero_point"}, {"r1_dq"}, {}});
      continue;
    }
    if (n.name == "pointwise") n.inputs[0] = "r1_dq";
    if (n.name == "relu2") {
      nodes.push_back(Node{"bn", "BatchNormalization", {"c2", "bn_gamma", "bn_beta", "bn_mean", "bn_var"}, {"c2_bn"}, {}});
      n.inputs[0] = "c2_bn";
    }
    if (n.name == "fc") n.inputs[1] = "w10";
    nodes.push_back(n);
  }
  g.nodes = nodes;
  return m;
}

std::vector<std::byte> keys_mcz() {
  Model m = keys_model();
  std::vector<std::string> names;
  for (const auto& [name, t] : m.graph.initializers) names.push_back(name);
  for (const auto& name : names) {
    const Tensor& t = *m.graph.initializer(name);
    m.graph.encode(name, t.dtype() == DType::f32 ? encode_fp16(t) : encode_raw(t));
  }
  nlohmann::ordered_json meta;
  meta["recipe"] = "hand";
  meta["source"] = {{"file", "tiny.onnx"}, {"bytes", 5000}, {"params", 999}, {"macs", count_ops(keys_model()).macs}};
  return write_mcz(m, meta);
}

int run_cli(const std::string& args, std::string& out) {
  test::TempDir dir;
  const std::string cmd = test::mcompress_binary() + " " + args + " >" + (dir.path / "out").string() + " 2>/dev/null";
  const int status = std::system(cmd.c_str());
  std::stringstream o;
  o << std::ifstream(dir.path / "out").rdbuf();
  out = o.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every non-integer number in `j` (except measured accuracies, written as measured) has at most 12
// significant digits: binary noise such as 188739251.20000002 has 17.
void check_no_noise(const nlohmann::ordered_json& j, const std::string& path = "") {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (key.rfind("top1", 0) == 0 && key != "top1_drop" && key != "top1_change") continue;
      if (key.rfind("top5", 0) == 0 || key == "metadata" || key == "sensitivity") continue;
      check_no_noise(it.value(), path + "." + key);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) check_no_noise(j[i], path + "[" + std::to_string(i) + "]");
  } else if (j.is_number_float()) {
    const std::string text = j.dump();
    size_t digits = 0;
    bool leading = true;
    for (char c : text.substr(0, text.find_first_of("eE"))) {
      if (c < '0' || c > '9') continue;
      if (c != '0') leading = false;
      if (!leading) ++digits;
    }
    CAPTURE(path);
    CAPTURE(text);
    CHECK(digits <= 12);
  }
}

}  // namespace

TEST_CASE("test_keys: one parameter rule in op counting, the report and the size report") {
  const Model m = keys_model();
  const std::set<std::string> parameters = parameter_tensors(m.graph);
  for (const char* not_parameter : {"clip_lo", "clip_hi", "r1_scale", "r1_zero_point"}) CHECK(parameters.count(not_parameter) == 0);
  for (const char* parameter : {"w1", "b1", "w2", "b2", "w10", "b3", "bn_gamma", "bn_var"}) CHECK(parameters.count(parameter) == 1);
  const OpCount count = count_ops(m);
  CHECK(count.params == expected_params);
  int64_t layer_params = 0;
  for (const auto& l : count.layers) layer_params += l.params;
  CHECK(layer_params == count.params);  // a tensor counts once, in its first reader

  const auto bytes = keys_mcz();
  const McFile f = read_mcz(bytes, "keys.mcz");
  const Model structure = structure_of_mcz(f, "keys.mcz");
  CHECK(count_ops(structure).params == expected_params);
  const Report r = build_report(f, structure, EnergyTable::builtin(), "keys.mcz");
  CHECK(r.params == expected_params);
  CHECK(r.fp32_bytes == 4 * static_cast<uint64_t>(expected_params));
  CHECK(r.fp16_bytes == 2 * static_cast<uint64_t>(expected_params));
  CHECK(r.other_params == 4 * 8);  // BatchNorm: parameters, but in no weighted layer
  CHECK(r.other_tensors == 8);     // ... and the Clip bounds, the scale and the zero point
  CHECK(r.totals.params + r.other_params == r.params);
  CHECK(r.source_params == 999);
  CHECK(r.compression_ratio() == doctest::Approx(4.0 * expected_params / static_cast<double>(bytes.size())));
  const std::string readers = readers_summary(r);
  for (const char* op : {"Clip 2", "QuantizeLinear 2", "BatchNormalization 4"}) CHECK(readers.find(op) != std::string::npos);

  // `info`'s size report: the same sizes without decoding or pricing anything.
  const Report sizes = build_size_report(f, structure, "keys.mcz");
  CHECK(sizes.params == r.params);
  CHECK(sizes.fp32_bytes == r.fp32_bytes);
  CHECK(sizes.weight_bytes == r.weight_bytes);
  REQUIRE(sizes.layers.size() == r.layers.size());
  for (size_t i = 0; i < r.layers.size(); ++i) {
    CHECK(sizes.layers[i].name == r.layers[i].name);
    CHECK(sizes.layers[i].params == r.layers[i].params);
    CHECK(sizes.layers[i].bytes == r.layers[i].bytes);
    CHECK(sizes.layers[i].macs == r.layers[i].macs);
    CHECK(encoding_summary(sizes.layers[i]) == encoding_summary(r.layers[i]));
  }
  CHECK(sizes.energy_pj == 0);
}

TEST_CASE("test_keys: info --json and report --json print the same value under every shared key") {
  if (!std::filesystem::exists(test::mcompress_binary())) return;
  test::TempDir dir;
  const std::string mcz = (dir.path / "keys.mcz").string();
  write_binary_file(mcz, keys_mcz());
  std::string out;
  REQUIRE(run_cli("info " + mcz + " --json", out) == 0);
  const auto info = nlohmann::ordered_json::parse(out);
  REQUIRE(run_cli("report " + mcz + " --json", out) == 0);
  const auto report = nlohmann::ordered_json::parse(out);
  const auto& size = report["size"];
  for (const char* key : {"bytes", "params", "fp32_bytes", "compression_ratio", "weight_bytes", "bits_per_weight", "source_bytes",
                          "source_params", "compression_ratio_vs_source"}) {
    CAPTURE(key);
    REQUIRE(info.contains(key));
    CHECK(info[key] == size[key]);
  }
  CHECK(info["params"] == expected_params);
  CHECK(info["fp32_bytes"] == 4 * expected_params);
  CHECK(info["compression_ratio"].get<double>() == round_significant(4.0 * expected_params / info["bytes"].get<double>(), 4));
  CHECK(info["compression_ratio_vs_source"].get<double>() == round_significant(5000.0 / info["bytes"].get<double>(), 4));
  CHECK(info["macs"] == report["totals"]["macs"]);
  CHECK(info["other_tensors"] == report["other_tensors"]);
  REQUIRE(info["layers"].size() == report["layers"].size());
  int64_t layer_params = 0;
  for (size_t i = 0; i < info["layers"].size(); ++i) {
    const auto& a = info["layers"][i];
    const auto& b = report["layers"][i];
    for (const char* key : {"name", "op", "params", "bytes", "bits_per_weight", "macs"}) {
      CAPTURE(key);
      CHECK(a[key] == b[key]);
    }
    layer_params += a["params"].get<int64_t>();
  }
  CHECK(layer_params + info["other_tensors"]["params"].get<int64_t>() == info["params"].get<int64_t>());
  int64_t tensor_params = 0;
  for (const auto& t : info["tensors"])
    if (t["parameter"].get<bool>()) tensor_params += t["weights"].get<int64_t>();
  CHECK(tensor_params == expected_params);
  check_no_noise(info);
  check_no_noise(report);

  // The text of both says the same parameter count and ratio.
  const std::string params_text = with_commas(expected_params) + " parameters";
  // The container outweighs 364 parameters: the file is larger than they are at fp32, and says so.
  CHECK(info["compression_ratio"].get<double>() < 1);
  char ratio_text[96];
  std::snprintf(ratio_text, sizeof ratio_text, "%.2fx larger than the parameters at fp32", 1 / info["compression_ratio"].get<double>());
  REQUIRE(run_cli("info " + mcz, out) == 0);
  CHECK(out.find(params_text) != std::string::npos);
  CHECK(out.find(ratio_text) != std::string::npos);
  CHECK(out.find("total (3 layers)") != std::string::npos);
  CHECK(out.find("\nw10 ") == std::string::npos);  // no tensor rows without --tensors
  REQUIRE(run_cli("report " + mcz, out) == 0);
  CHECK(out.find(params_text) != std::string::npos);
  CHECK(out.find(ratio_text) != std::string::npos);
  CHECK(out.find("3 weighted layers") != std::string::npos);

  // --tensors: natural order (w1, w2, w10), not text order (w10 before w2).
  REQUIRE(run_cli("info " + mcz + " --tensors", out) == 0);
  const size_t w1 = out.find("\nw1 "), w2 = out.find("\nw2 "), w10 = out.find("\nw10 ");
  REQUIRE(w10 != std::string::npos);
  CHECK(w1 < w2);
  CHECK(w2 < w10);
}

TEST_CASE("test_keys: rounding keeps integers and the stated precision, and drops the noise") {
  CHECK(round_significant(2.3626884730612447, 4) == 2.363);
  CHECK(round_significant(0.000123456, 4) == 0.0001235);
  CHECK(round_significant(12345.6, 4) == 12350);
  CHECK(round_significant(0.0, 4) == 0.0);
  CHECK(nlohmann::json(pj_value(188739251.20000002)).dump() == "188739251.2");
  CHECK(nlohmann::json(pj_value(0.2 + 0.1)).dump() == "0.3");
  CHECK(nlohmann::json(ratio_value(900.0 / 280.0)).dump() == "3.214");
  CHECK(nlohmann::json(percent_value(70.5 - 70.1)).dump() == "0.4");
  CHECK(percent_value(-16.666666666666664) == -16.67);
  // Rounding twice changes nothing (a table read back from its JSON writes the same JSON).
  for (double v : {2.3626884730612447, 188739251.20000002, 1.0 / 3.0, 4.6000000000000005})
    CHECK(ratio_value(ratio_value(v)) == ratio_value(v));
}

TEST_CASE("test_keys: more, fewer, larger and smaller as the numbers are; plurals") {
  CHECK(fewer_or_more(9344128, 41030272) == "77.2% fewer");
  CHECK(fewer_or_more(57562872, 41030272) == "40.3% more");
  CHECK(fewer_or_more(41030272, 41030272) == "the same");
  CHECK(fewer_or_more(1000001, 1000000) == "<0.1% more");
  CHECK(smaller_or_larger(394432, 1869344) == "4.74x smaller than");
  CHECK(smaller_or_larger(1200, 1000) == "1.20x larger than");
  CHECK(less_or_more(14.74, 188.74) == "12.80x less than");
  CHECK(less_or_more(188.74, 61.55) == "3.07x more than");
  CHECK(less_or_more(100.0, 100.2) == "the same as");
  CHECK(count_noun(1, "layer") == "1 layer");
  CHECK(count_noun(2, "layer") == "2 layers");
  CHECK(count_noun(0, "parameter") == "0 parameters");
  CHECK(count_noun(12345, "image") == "12,345 images");
}
