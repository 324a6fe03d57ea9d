// mcompress info FILE: what a model is made of (per-layer parameters and MACs, totals).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "analysis/op_count.h"
#include "cli/common.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/mcz_metadata.h"
#include "formats/onnx_model.h"

namespace mc::cli {

namespace {

struct InfoOptions {
  std::string file;
  CommonOptions common;
};

std::string dims_str(const ValueInfo& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.shape.size(); ++i)
    s += (i ? "," : "") + (v.shape[i] >= 0 ? std::to_string(v.shape[i]) : v.dim_params[i]);
  return s + "]";
}

// Per-tensor summary of an .mcz file: encodings of its parts, coders of its streams, sizes.
struct TensorSummary {
  std::string name, encoding, coders;
  uint64_t weights = 0, bytes = 0, entropy_bits = 0;
  double bits_per_weight() const { return weights ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : 0.0; }
  double entropy_bits_per_weight() const { return weights ? static_cast<double>(entropy_bits) / static_cast<double>(weights) : 0.0; }
};

std::string joined_unique(const std::vector<std::string>& items) {
  std::string out;
  std::vector<std::string> seen;
  for (const auto& i : items) {
    if (std::find(seen.begin(), seen.end(), i) != seen.end()) continue;
    seen.push_back(i);
    out += (out.empty() ? "" : "+") + i;
  }
  return out;
}

std::vector<TensorSummary> summarize(const McFile& f) {
  std::vector<TensorSummary> out;
  for (const auto& t : f.tensors) {
    TensorSummary s;
    s.name = t.name;
    std::vector<std::string> encodings, coders;
    for (size_t p = 0; p < t.encoded.parts.size(); ++p) {
      const auto& part = t.encoded.parts[p];
      encodings.push_back(encoding_label(part));
      for (const auto& st : t.streams[p]) coders.push_back(coder_name(st.coder));
    }
    s.encoding = joined_unique(encodings);
    s.coders = joined_unique(coders);
    s.weights = t.weights();
    s.bytes = t.stored_bytes();
    s.entropy_bits = t.entropy_bits();
    out.push_back(s);
  }
  return out;
}

int run_info_mcz(const InfoOptions& o, const std::vector<std::byte>& bytes, const std::string& name) {
  McFile f = read_mcz(bytes, name);
  Model model = structure_of_mcz(f, name);  // shapes only: info decodes no weight payload
  OpCount count = count_ops(model);
  auto tensors = summarize(f);
  const McMetadata meta = parse_metadata(f.metadata, name);
  const uint64_t source_bytes = meta.source ? meta.source->bytes : 0;
  double ratio = source_bytes ? static_cast<double>(source_bytes) / static_cast<double>(bytes.size()) : 0.0;
  uint64_t weights = 0, stored = 0, entropy = 0;
  for (const auto& t : tensors) {
    weights += t.weights;
    stored += t.bytes;
    entropy += t.entropy_bits;
  }
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["format"] = "mcz";
    j["file"] = name;
    j["version"] = std::to_string(f.major) + "." + std::to_string(f.minor);
    j["bytes"] = bytes.size();
    j["source_bytes"] = source_bytes;
    j["compression_ratio"] = ratio;
    j["params"] = count.params;
    j["macs"] = count.macs;
    j["weight_bytes"] = stored;
    j["bits_per_weight"] = weights ? 8.0 * static_cast<double>(stored) / static_cast<double>(weights) : 0.0;
    j["entropy_bits_per_weight"] = weights ? static_cast<double>(entropy) / static_cast<double>(weights) : 0.0;
    for (const auto& s : f.sections)
      j["sections"].push_back({{"kind", s.kind}, {"offset", s.offset}, {"length", s.length}, {"crc32c", s.crc}});
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : tensors)
      j["tensors"].push_back({{"name", t.name}, {"encoding", t.encoding}, {"coder", t.coders}, {"weights", t.weights},
                              {"bytes", t.bytes}, {"bits_per_weight", t.bits_per_weight()},
                              {"entropy_bits_per_weight", t.entropy_bits_per_weight()}});
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : count.layers) j["layers"].push_back({{"name", l.name}, {"op", l.op}, {"params", l.params}, {"macs", l.macs}});
    j["metadata"] = f.metadata;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: .mcz version %u.%u, %s bytes, %zu sections, %zu tensors, all checksums valid\n", name.c_str(), f.major, f.minor,
              with_commas(static_cast<int64_t>(bytes.size())).c_str(), f.sections.size(), f.tensors.size());
  if (!meta.recipe.empty()) std::printf("recipe %s", meta.recipe.c_str());
  if (meta.source)
    std::printf(", source %s (%s bytes, sha256 %.16s...)", meta.source->file.empty() ? "?" : meta.source->file.c_str(),
                with_commas(static_cast<int64_t>(source_bytes)).c_str(), meta.source->sha256.c_str());
  if (!meta.preprocess.empty()) std::printf(", preprocess %s", meta.preprocess.c_str());
  std::printf("\n\n%-44s %-14s %-12s %10s %12s %8s %8s\n", "tensor", "encoding", "coder", "weights", "bytes", "bits/w", "H0 b/w");
  for (const auto& t : tensors) {
    std::string tname = t.name.size() > 44 ? t.name.substr(0, 41) + "..." : t.name;
    std::printf("%-44s %-14s %-12s %10s %12s %8.3f %8.3f\n", tname.c_str(), t.encoding.c_str(), t.coders.c_str(),
                with_commas(static_cast<int64_t>(t.weights)).c_str(), with_commas(static_cast<int64_t>(t.bytes)).c_str(),
                t.bits_per_weight(), t.entropy_bits_per_weight());
  }
  std::printf("\ntotal: %s weights in %s bytes: %.3f bits/weight (order-0 bound %.3f)\n", with_commas(static_cast<int64_t>(weights)).c_str(),
              with_commas(static_cast<int64_t>(stored)).c_str(), weights ? 8.0 * static_cast<double>(stored) / static_cast<double>(weights) : 0.0,
              weights ? static_cast<double>(entropy) / static_cast<double>(weights) : 0.0);
  std::printf("file: %s bytes, %.3fx smaller than the source; %s MACs per image\n", with_commas(static_cast<int64_t>(bytes.size())).c_str(),
              ratio, with_commas(count.macs).c_str());
  return 0;
}

int run_info(const InfoOptions& o) {
  auto bytes = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  if (looks_like_mcz(bytes)) return run_info_mcz(o, bytes, name);
  Model model = parse_onnx(bytes, name);
  InferredGraph shapes = infer_shapes(model, 1);
  OpCount count = count_ops(model, shapes);
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["format"] = "onnx";
    j["file"] = name;
    j["bytes"] = bytes.size();
    j["opset"] = model.opset;
    j["ir_version"] = model.ir_version;
    j["producer"] = model.producer_name;
    j["nodes"] = model.graph.nodes.size();
    j["params"] = count.params;
    j["macs"] = count.macs;
    for (const auto& v : model.graph.inputs) j["inputs"].push_back({{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", dims_str(v)}});
    for (const auto& v : model.graph.outputs) j["outputs"].push_back({{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", dims_str(v)}});
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : count.layers)
      j["layers"].push_back({{"name", l.name}, {"op", l.op}, {"input_shape", l.input_shape}, {"output_shape", l.output_shape},
                             {"params", l.params}, {"macs", l.macs}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: ONNX model, opset %lld, IR %lld, %zu nodes, %s bytes", name.c_str(), static_cast<long long>(model.opset),
              static_cast<long long>(model.ir_version), model.graph.nodes.size(), with_commas(static_cast<int64_t>(bytes.size())).c_str());
  if (!model.producer_name.empty()) std::printf(", producer %s", model.producer_name.c_str());
  std::printf("\n");
  for (const auto& v : model.graph.inputs) std::printf("input  %s %s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  for (const auto& v : model.graph.outputs) std::printf("output %s %s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  std::printf("\n%-40s %-20s %-18s %-18s %12s %14s %6s\n", "layer", "op", "input", "output", "params", "MACs", "MACs%");
  for (const auto& l : count.layers) {
    std::string lname = l.name.size() > 40 ? l.name.substr(0, 37) + "..." : l.name;
    double share = count.macs ? 100.0 * static_cast<double>(l.macs) / static_cast<double>(count.macs) : 0.0;
    std::printf("%-40s %-20s %-18s %-18s %12s %14s %5.1f%%\n", lname.c_str(), l.op.c_str(), shape_str(l.input_shape).c_str(),
                shape_str(l.output_shape).c_str(), with_commas(l.params).c_str(), with_commas(l.macs).c_str(), share);
  }
  std::printf("\ntotal: %s parameters (%s), %s MACs per image (%s)\n", with_commas(count.params).c_str(),
              short_count(static_cast<double>(count.params)).c_str(), with_commas(count.macs).c_str(),
              short_count(static_cast<double>(count.macs)).c_str());
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = root.add_subcommand("info", "Describe an ONNX model or a .mcz file: layers, parameters, MACs, tensors, sizes");
  cmd->footer(
      "MACs follow ../shared/docs/RESEARCH.md: Conv = Cout*Hout*Wout*(Cin/groups)*Kh*Kw, Gemm/MatMul = M*N*K,\n"
      "per image at the model's declared input size (symbolic batch = 1). Parameters count every float initializer.\n\n"
      "For a .mcz file: format version, sections, every tensor's encoding, coder, bytes, bits per weight and its\n"
      "order-0 entropy bound (H0), the compression ratio against the source ONNX, and the stored metadata.\n"
      "Every checksum is verified; no weight is decoded (export or eval do that).\n\n"
      "Examples:\n  mcompress info model.onnx\n  mcompress info model.mcz\n  mcompress info model.onnx --json | jq .macs\n  cat model.onnx | mcompress info -");
  cmd->add_option("file", o->file, "ONNX model or .mcz file ('-' reads stdin)")->required();
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_info(*o); }};
}

}  // namespace mc::cli
