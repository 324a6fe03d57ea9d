// mcompress info FILE: what a model is made of (per-layer parameters and MACs, totals).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <set>

#include "analysis/op_count.h"
#include "analysis/report.h"
#include "analysis/rounding.h"
#include "cli/common.h"
#include "formats/external_data.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/mcz_metadata.h"
#include "formats/onnx_model.h"

namespace mc::cli {

namespace {

struct InfoOptions {
  std::string file;
  bool tensors = false;
  CommonOptions common;
};

std::string dims_str(const ValueInfo& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.shape.size(); ++i)
    s += (i ? "," : "") + (v.shape[i] >= 0 ? std::to_string(v.shape[i]) : v.dim_params[i]);
  return s + "]";
}

// "conv_dw_2" before "conv_dw_10": runs of digits compare as numbers, the rest as text (ties, such as
// "x01" and "x1", fall back to plain text order so the order is total).
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      size_t is = i, js = j;  // without leading zeros
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      if (int c = a.compare(is, ie - is, b, js, je - js); c != 0) return c < 0;
      i = ie, j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i, ++j;
    }
  }
  if (i < a.size() || j < b.size()) return j < b.size();
  return a < b;
}

std::string percent_str(double part, double whole) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return buf;
}

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

double per(double num, double den) { return den > 0 ? num / den : 0.0; }

std::string fit(const std::string& s, size_t width) { return s.size() > width ? s.substr(0, width - 3) + "..." : s; }

// Per-tensor summary of an .mcz file: encodings of its parts, coders of its streams, sizes.
struct TensorSummary {
  std::string name, encoding, coders;
  bool parameter = false;  // counted in `params` (analysis/op_count.h)
  uint64_t weights = 0, bytes = 0, entropy_bits = 0;
  double bits_per_weight() const { return per(8.0 * static_cast<double>(bytes), static_cast<double>(weights)); }
  double entropy_bits_per_weight() const { return per(static_cast<double>(entropy_bits), static_cast<double>(weights)); }
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

// In natural order of their names.
std::vector<TensorSummary> summarize(const McFile& f, const std::set<std::string>& parameters) {
  std::vector<TensorSummary> out;
  for (const auto& t : f.tensors) {
    TensorSummary s;
    s.name = t.name;
    std::vector<std::string> coders;
    // The encoding as the layer table shows it: one label, or each part's label and channel count.
    for (size_t p = 0; p < t.encoded.parts.size(); ++p) {
      const auto& part = t.encoded.parts[p];
      if (p) s.encoding += '+';
      s.encoding += encoding_label(part);
      if (t.encoded.parts.size() > 1) s.encoding += ":" + std::to_string(part.channel_end - part.channel_begin);
      for (const auto& st : t.streams[p]) coders.push_back(coder_name(st.coder));
    }
    s.coders = joined_unique(coders);
    s.parameter = parameters.count(t.name) > 0;
    s.weights = t.weights();
    s.bytes = t.stored_bytes();
    s.entropy_bits = t.entropy_bits();
    out.push_back(s);
  }
  std::stable_sort(out.begin(), out.end(), [](const TensorSummary& a, const TensorSummary& b) { return natural_less(a.name, b.name); });
  return out;
}

int run_info_mcz(const InfoOptions& o, const std::vector<std::byte>& bytes, const std::string& name) {
  McFile f = read_mcz(bytes, name);
  Model model = structure_of_mcz(f, name);  // shapes only: info decodes no weight payload
  const Report r = build_size_report(f, model, name);
  const int64_t macs_total = count_ops(model).macs;
  const auto tensors = summarize(f, parameter_tensors(model.graph));
  const McMetadata meta = parse_metadata(f.metadata, name);
  uint64_t entropy = 0;
  for (const auto& t : tensors) entropy += t.entropy_bits;
  const double params = static_cast<double>(r.params);
  const double bits_per_weight = per(8.0 * static_cast<double>(r.weight_bytes), params);
  const double entropy_bits_per_weight = per(static_cast<double>(entropy), params);
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["format"] = "mcz";
    j["file"] = name;
    j["version"] = std::to_string(f.major) + "." + std::to_string(f.minor);
    j["bytes"] = r.bytes;
    j["params"] = r.params;
    j["macs"] = macs_total;
    j["weight_bytes"] = r.weight_bytes;
    j["bits_per_weight"] = ratio_value(bits_per_weight);
    j["entropy_bits_per_weight"] = ratio_value(entropy_bits_per_weight);
    j["fp32_bytes"] = r.fp32_bytes;
    j["compression_ratio"] = ratio_value(r.compression_ratio());
    j["source_bytes"] = r.source_bytes;
    j["source_params"] = r.source_params;
    j["compression_ratio_vs_source"] = ratio_value(r.compression_ratio_vs_source());
    for (const auto& s : f.sections)
      j["sections"].push_back({{"kind", s.kind}, {"offset", s.offset}, {"length", s.length}, {"crc32c", s.crc}});
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : r.layers)
      j["layers"].push_back({{"name", l.name}, {"op", l.op}, {"encoding", encoding_summary(l)}, {"params", l.params}, {"bytes", l.bytes},
                             {"bits_per_weight", ratio_value(per(8.0 * static_cast<double>(l.bytes), static_cast<double>(l.params)))},
                             {"macs", l.macs}});
    j["other_tensors"] = {{"count", r.other_tensors},          {"params", r.other_params},
                          {"bytes", r.other_bytes},            {"fp32_bytes", r.other_fp32_bytes},
                          {"read_by", readers_summary(r)}};
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : tensors)
      j["tensors"].push_back({{"name", t.name}, {"encoding", t.encoding}, {"coder", t.coders}, {"weights", t.weights},
                              {"parameter", t.parameter}, {"bytes", t.bytes}, {"bits_per_weight", ratio_value(t.bits_per_weight())},
                              {"entropy_bits_per_weight", ratio_value(t.entropy_bits_per_weight())}});
    j["metadata"] = f.metadata;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: .mcz version %u.%u, %s bytes, %s, %s, all checksums valid\n", name.c_str(), f.major, f.minor,
              with_commas(static_cast<int64_t>(r.bytes)).c_str(), count_noun(static_cast<int64_t>(f.sections.size()), "section").c_str(),
              count_noun(static_cast<int64_t>(f.tensors.size()), "tensor").c_str());
  std::string about;
  if (!meta.recipe.empty()) about += "recipe " + meta.recipe;
  if (meta.source) {
    about += std::string(about.empty() ? "" : ", ") + "source " + (meta.source->file.empty() ? "?" : meta.source->file) + " (" +
             with_commas(static_cast<int64_t>(meta.source->bytes)) + " bytes";
    if (meta.source->params) about += ", " + count_noun(meta.source->params, "parameter");
    about += ", sha256 " + meta.source->sha256.substr(0, 16) + "...)";
  }
  if (!meta.preprocess.empty()) about += std::string(about.empty() ? "" : ", ") + "preprocess " + meta.preprocess;
  if (!about.empty()) std::printf("%s\n", about.c_str());

  const char* row = "%-32s %-8s %-24s %10s %10s %7s %14s %7s\n";
  std::printf("\n");
  std::printf(row, "layer", "op", "encoding", "params", "bytes", "bits/w", "MACs", "MACs%");
  const double macs = static_cast<double>(r.totals.macs);
  for (const auto& l : r.layers)
    std::printf(row, fit(l.name, 32).c_str(), l.op.c_str(), fit(encoding_summary(l), 24).c_str(), with_commas(l.params).c_str(),
                with_commas(static_cast<int64_t>(l.bytes)).c_str(), fixed2(per(8.0 * static_cast<double>(l.bytes), static_cast<double>(l.params))).c_str(),
                with_commas(l.macs).c_str(), percent_str(static_cast<double>(l.macs), macs).c_str());
  std::printf(row, ("total (" + count_noun(static_cast<int64_t>(r.layers.size()), "layer") + ")").c_str(), "", "",
              with_commas(r.totals.params).c_str(), with_commas(static_cast<int64_t>(r.totals.bytes)).c_str(),
              fixed2(per(8.0 * static_cast<double>(r.totals.bytes), static_cast<double>(r.totals.params))).c_str(), with_commas(r.totals.macs).c_str(),
              percent_str(macs, macs).c_str());
  if (r.other_tensors)
    std::printf("in no layer: %s (%s, %s bytes), read by: %s%s\n", count_noun(r.other_tensors, "tensor").c_str(),
                count_noun(r.other_params, "parameter").c_str(), with_commas(static_cast<int64_t>(r.other_bytes)).c_str(),
                readers_summary(r).c_str(), o.tensors ? "" : " (--tensors lists them)");

  if (o.tensors) {
    const char* trow = "%-44s %-22s %-12s %10s %5s %10s %9s %9s\n";
    std::printf("\n");
    std::printf(trow, "tensor", "encoding", "coder", "elements", "param", "bytes", "bits/el", "H0 b/el");
    for (const auto& t : tensors)
      std::printf(trow, fit(t.name, 44).c_str(), fit(t.encoding, 22).c_str(), t.coders.c_str(), with_commas(static_cast<int64_t>(t.weights)).c_str(),
                  t.parameter ? "yes" : "no", with_commas(static_cast<int64_t>(t.bytes)).c_str(), fixed2(t.bits_per_weight()).c_str(),
                  fixed2(t.entropy_bits_per_weight()).c_str());
  }

  std::printf("\nweights: %s in %s stored bytes: %.2f bits/weight (order-0 entropy bound %.2f)\n", count_noun(r.params, "parameter").c_str(),
              with_commas(static_cast<int64_t>(r.weight_bytes)).c_str(), bits_per_weight, entropy_bits_per_weight);
  std::printf("file: %s bytes, %s the parameters at fp32 (%s bytes)", with_commas(static_cast<int64_t>(r.bytes)).c_str(),
              smaller_or_larger(static_cast<double>(r.bytes), static_cast<double>(r.fp32_bytes)).c_str(),
              with_commas(static_cast<int64_t>(r.fp32_bytes)).c_str());
  if (r.source_bytes)
    std::printf(", %s the source file (%s bytes)", smaller_or_larger(static_cast<double>(r.bytes), static_cast<double>(r.source_bytes)).c_str(),
                with_commas(static_cast<int64_t>(r.source_bytes)).c_str());
  std::printf("\n%s MACs per image (batch 1)\n", with_commas(macs_total).c_str());
  if (meta.accuracy && meta.accuracy->top1_before && meta.accuracy->top1_after) {
    const McAccuracy& a = *meta.accuracy;
    std::printf("top-1 %.2f%% -> %.2f%%", *a.top1_before, *a.top1_after);
    if (a.images) std::printf(" on %s", count_noun(*a.images, "image").c_str());
    std::printf(" (measured on this file when it was written)\n");
  }
  return 0;
}

int run_info(const InfoOptions& o) {
  auto bytes = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  if (looks_like_mcz(bytes)) return run_info_mcz(o, bytes, name);
  ExternalDataReader external(o.file);
  Model model = parse_onnx(bytes, name, &external);
  InferredGraph shapes = infer_shapes(model, 1);
  OpCount count = count_ops(model, shapes);
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["format"] = "onnx";
    j["file"] = name;
    j["bytes"] = bytes.size();
    if (!external.files().empty()) {
      j["external_data"]["bytes"] = external.files_bytes();
      for (const auto& [path, n] : external.files()) j["external_data"]["files"].push_back({{"path", path}, {"bytes", n}});
    }
    j["opset"] = model.opset;
    j["ir_version"] = model.ir_version;
    j["producer"] = model.producer_name;
    j["nodes"] = model.graph.nodes.size();
    j["params"] = count.params;
    j["macs"] = count.macs;
    j["fp32_bytes"] = 4 * count.params;
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
  for (const auto& [path, n] : external.files())
    std::printf("external data: %s (%s bytes)\n", path.c_str(), with_commas(static_cast<int64_t>(n)).c_str());
  for (const auto& v : model.graph.inputs) std::printf("input  %s %s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  for (const auto& v : model.graph.outputs) std::printf("output %s %s %s\n", v.name.c_str(), dtype_name(v.dtype), dims_str(v).c_str());
  std::printf("\n%-40s %-20s %-18s %-18s %12s %14s %6s\n", "layer", "op", "input", "output", "params", "MACs", "MACs%");
  for (const auto& l : count.layers) {
    std::string lname = l.name.size() > 40 ? l.name.substr(0, 37) + "..." : l.name;
    double share = count.macs ? 100.0 * static_cast<double>(l.macs) / static_cast<double>(count.macs) : 0.0;
    std::printf("%-40s %-20s %-18s %-18s %12s %14s %5.1f%%\n", lname.c_str(), l.op.c_str(), shape_str(l.input_shape).c_str(),
                shape_str(l.output_shape).c_str(), with_commas(l.params).c_str(), with_commas(l.macs).c_str(), share);
  }
  if (o.tensors) {
    const std::set<std::string> parameters = parameter_tensors(model.graph);
    std::vector<std::string> names;
    for (const auto& [tensor_name, tensor] : model.graph.initializers) names.push_back(tensor_name);
    std::stable_sort(names.begin(), names.end(), natural_less);
    const char* trow = "%-44s %-8s %-20s %12s %5s\n";
    std::printf("\n");
    std::printf(trow, "tensor", "dtype", "shape", "elements", "param");
    for (const auto& n : names) {
      const Tensor& t = *model.graph.initializer(n);
      std::printf(trow, fit(n, 44).c_str(), dtype_name(t.dtype()), shape_str(t.shape()).c_str(), with_commas(t.numel()).c_str(),
                  parameters.count(n) ? "yes" : "no");
    }
  }
  std::printf("\ntotal: %s (%s), %s MACs per image (%s)\n", count_noun(count.params, "parameter").c_str(),
              short_count(static_cast<double>(count.params)).c_str(), with_commas(count.macs).c_str(),
              short_count(static_cast<double>(count.macs)).c_str());
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& root) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = root.add_subcommand("info", "Describe an ONNX model or a .mcz file: layers, parameters, MACs, tensors, sizes");
  cmd->footer(
      "MACs per image at the model's declared input size (a symbolic batch is 1): Conv = Cout*Hout*Wout*(Cin/groups)*Kh*Kw,\n"
      "Gemm/MatMul = M*N*K. Parameters are the elements of the learned tensors: float weights, biases and BatchNorm\n"
      "statistics, and integer weights behind a DequantizeLinear; not Clip bounds, quantizer scales and zero points\n"
      "or shapes. A tensor several nodes read counts once, in the first.\n\n"
      "For a .mcz file: one row per Conv/Gemm/MatMul layer in execution order with its encoding (a split weight shows\n"
      "each part's channel count), parameters, stored bytes, bits per weight and MACs; the size against the\n"
      "parameters at fp32 (compression_ratio) and against the source ONNX file (compression_ratio_vs_source).\n"
      "--tensors adds every stored tensor (encoding, coder, bytes, bits per element, order-0 entropy bound H0) in\n"
      "natural order. Every checksum is verified; no weight is decoded (export or eval do that).\n\n"
      "Examples:\n  mcompress info model.onnx\n  mcompress info model.mcz\n  mcompress info model.mcz --tensors\n"
      "  mcompress info model.onnx --json | jq .macs\n  cat model.onnx | mcompress info -");
  cmd->add_option("file", o->file, "ONNX model or .mcz file ('-' reads stdin)")->required();
  cmd->add_flag("--tensors", o->tensors, "Also list every tensor (a .mcz file's stored tensors, an ONNX model's initializers)");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_info(*o); }};
}

}  // namespace mc::cli
