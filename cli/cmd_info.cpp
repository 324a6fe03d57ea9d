// mcompress info FILE: what a model is made of (per-layer parameters and MACs, totals).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "analysis/op_count.h"
#include "cli/common.h"
#include "formats/file_io.h"
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

int run_info(const InfoOptions& o) {
  auto bytes = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
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
  CLI::App* cmd = root.add_subcommand("info", "Describe an ONNX model: per-layer shapes, parameters and MACs, and totals");
  cmd->footer(
      "MACs follow ../shared/docs/RESEARCH.md: Conv = Cout*Hout*Wout*(Cin/groups)*Kh*Kw, Gemm/MatMul = M*N*K,\n"
      "per image at the model's declared input size (symbolic batch = 1). Parameters count every float initializer.\n\n"
      "Examples:\n  mcompress info model.onnx\n  mcompress info model.onnx --json | jq .macs\n  cat model.onnx | mcompress info -");
  cmd->add_option("file", o->file, "ONNX model ('-' reads stdin)")->required();
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_info(*o); }};
}

}  // namespace mc::cli
