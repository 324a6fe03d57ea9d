// mcompress export FILE -o OUT.onnx: write a model back as ONNX that ONNX Runtime runs. By default a
// .mcz is written in the form `mcompress eval` runs (formats/qdq_export.h model_to_run), so that
// ONNX Runtime computes what eval measured; --qdq and --float-weights ask for the other forms.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/common.h"
#include "core/shape_inference.h"
#include "formats/external_data.h"
#include "formats/file_io.h"
#include "formats/model_file.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"

namespace mc::cli {

namespace {

struct ExportOptions {
  std::string file;
  std::string output;
  bool force = false;
  bool qdq = false;
  bool float_weights = false;
  bool external_data = false;
  CommonOptions common;
};

// The model to write and a phrase naming its form.
std::pair<Model, std::string> model_to_export(const ExportOptions& o, const ModelFile& file) {
  if (!file.mcz) return {decoded_model(file), "ONNX model as read"};  // the import -> export round trip
  const Model decoded = decoded_model(file);
  if (o.float_weights) return {decoded, "float weights (decoded to float32)"};
  if (o.qdq) {
    Model qdq = with_qdq_weights(decoded);
    const bool any = std::any_of(qdq.graph.nodes.begin(), qdq.graph.nodes.end(), [&](const Node& n) {
      return n.op == "DequantizeLinear" && n.has_input(0) && qdq.graph.initializer(n.inputs[0]);
    });
    return {std::move(qdq), any ? "QDQ (int8 weights behind DequantizeLinear)"
                                : "QDQ requested, but no weight is stored as int8, int4 or ternary: every weight decoded to float32"};
  }
  // The default: exactly the graph `mcompress eval` runs, so ONNX Runtime computes what eval measured.
  Model runnable = model_to_run(decoded);
  if (!has_quantized_activations(decoded)) return {std::move(runnable), "float activations, weights decoded to float32 (as mcompress eval runs it)"};
  return {std::move(runnable), "QDQ, int8 layers as ONNX Runtime runs them in integers (as mcompress eval runs it)"};
}

int run_export(const ExportOptions& o) {
  if (o.qdq && o.float_weights) fail_usage("--qdq and --float-weights choose different forms; give one");
  if (o.external_data && o.output == "-")
    fail_usage("--external-data writes a side file next to the output: give -o a file path, not '-'");
  const std::string side = o.output + ".data";  // the side file of --external-data
  check_output_path(o.output, o.force, {o.file});
  if (o.external_data) check_output_path(side, o.force, {o.file});
  check_output_kind(o.output, OutputKind::onnx, o.force, [&](const std::string& m) {
    if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
  });
  const ModelFile file = read_model_file(o.file);
  auto [model, form] = model_to_export(o, file);
  infer_shapes(model, 1);  // refuse to write a model we could not run
  auto as_bytes = [](const std::string& b) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(b.data()), b.size()); };
  std::string bytes, side_note;
  const IfExists if_exists = o.force ? IfExists::replace : IfExists::fail;  // another run's output is not replaced
  if (o.external_data) {
    OnnxWithExternalData pair = serialize_onnx_external(model, std::filesystem::path(side).filename().string());
    write_binary_files({{side, as_bytes(pair.data)}, {o.output, as_bytes(pair.model)}}, if_exists);
    bytes = std::move(pair.model);
    side_note = " and " + side + " (" + with_commas(static_cast<int64_t>(pair.data.size())) + " bytes: " +
                std::to_string(pair.tensors) + (pair.tensors == 1 ? " initializer" : " initializers") + " of " + with_commas(static_cast<int64_t>(external_data_min_bytes)) + " bytes or more)";
  } else {
    bytes = serialize_onnx(model);
    write_binary_file(o.output, as_bytes(bytes), if_exists);
  }
  if (o.common.quiet) return 0;
  if (file.mcz && o.float_weights && has_quantized_activations(model))
    std::fprintf(stderr,
                 "mcompress: warning: %s has int8 activations: ONNX Runtime re-quantizes float weights next to them with its own "
                 "scales, so this export can score differently from 'mcompress eval' (the default export does not)\n",
                 file.name.c_str());
  if (o.output != "-") {
    int64_t behind_dequantize = 0, integer_layers = 0;
    for (const auto& node : model.graph.nodes) {
      behind_dequantize += node.op == "DequantizeLinear" && node.has_input(0) && model.graph.initializer(node.inputs[0]);
      integer_layers += node.op == "ConvInteger";
    }
    std::string detail;
    if (behind_dequantize + integer_layers > 0)
      detail = "; " + std::to_string(behind_dequantize) + " int8 weight tensors behind DequantizeLinear, " + std::to_string(integer_layers) +
               " read by ConvInteger";
    std::fprintf(stderr, "wrote %s (%s bytes)%s: %s%s\n", o.output.c_str(), with_commas(static_cast<int64_t>(bytes.size())).c_str(),
                 side_note.c_str(), form.c_str(), detail.c_str());
  }
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = root.add_subcommand("export", "Write a model as an ONNX file that ONNX Runtime runs");
  cmd->footer(
      "By default a .mcz is written as exactly the graph 'mcompress eval' runs, so ONNX Runtime's top-1 is the\n"
      "top-1 eval reports: a file with int8 activations becomes a QDQ model (int8 weights behind DequantizeLinear,\n"
      "and the int8 layers ONNX Runtime would otherwise run in float written as ConvInteger with the same\n"
      "requantization); a file with float activations gets its weights decoded to float32 (a lossless .mcz gives\n"
      "initializers bit-identical to its source). Nodes, attributes, inputs and outputs are kept; the opset is\n"
      "raised to 13 where per-channel DequantizeLinear needs it. The output is written atomically.\n\n"
      "Other forms, on request:\n"
      "  --qdq            every int8 / int4 / ternary weight as int8 behind DequantizeLinear, whatever the\n"
      "                   activations (a k-term ternary weight becomes k int8 terms, each layer k layers summed).\n"
      "  --float-weights  every weight decoded to float32. Caveat: with int8 activations, ONNX Runtime's\n"
      "                   optimizer re-quantizes float weights next to them with scales of its own, so its\n"
      "                   top-1 can differ from 'mcompress eval' (by many points); a warning says so.\n"
      "An ONNX input is written back as read (the import -> export round trip); external data it has is written\n"
      "inline unless --external-data is given.\n\n"
      "--external-data writes the model as a pair, OUT.onnx and the side file OUT.onnx.data next to it (ONNX\n"
      "external data): every initializer of 1,024 bytes or more goes to the side file (each at an offset that is\n"
      "a multiple of 64 bytes), smaller ones and attribute tensors stay in OUT.onnx, which names the side file by\n"
      "its file name alone, so the two must stay in the same folder. Both are written atomically: on failure,\n"
      "neither is left. Not with '-o -'. mcompress and ONNX Runtime read the pair back as the single file.\n\n"
      "Examples:\n  mcompress export model.mcz -o model.onnx\n  mcompress export model.mcz -o model_qdq.onnx --qdq\n"
      "  mcompress export model.mcz -o model.onnx --external-data   (model.onnx + model.onnx.data)\n"
      "  mcompress export model.onnx -o copy.onnx\n  mcompress export - -o - < model.mcz > model.onnx");
  cmd->add_option("file", o->file, ".mcz or ONNX model to export ('-' reads stdin)")->required();
  cmd->add_option("-o,--output", o->output, "Output ONNX file ('-' writes stdout)")->required()->type_name("OUT.onnx");
  cmd->add_flag("--qdq", o->qdq, "Every quantized weight as int8 behind DequantizeLinear");
  cmd->add_flag("--float-weights", o->float_weights, "Every weight decoded to float32 (see the caveat below)");
  cmd->add_flag("--external-data", o->external_data, "Initializers of 1 KiB or more in the side file OUT.onnx.data (see below)");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common, false);
  return {cmd, [o] { return run_export(*o); }};
}

}  // namespace mc::cli
