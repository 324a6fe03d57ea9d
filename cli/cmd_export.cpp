// mcompress export FILE -o OUT.onnx: write a model back as ONNX that ONNX Runtime runs.
// FILE is a .mcz (its tensors decoded to float, or with --qdq its int8 tensors kept as int8 behind a
// DequantizeLinear) or an ONNX model (the import -> export round trip).
#include <cstdio>

#include "cli/common.h"
#include "core/shape_inference.h"
#include "formats/file_io.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"

namespace mc::cli {

namespace {

struct ExportOptions {
  std::string file;
  std::string output;
  bool force = false;
  bool qdq = false;
  CommonOptions common;
};

Model load_for_export(const ExportOptions& o) {
  auto bytes = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  if (!looks_like_mcz(bytes)) return parse_onnx(bytes, name);  // --qdq changes nothing for ONNX input
  McFile file = read_mcz(bytes, name);
  Model model = decode_mcz(file, name);
  return o.qdq ? with_qdq_weights(model, file) : model;
}

int run_export(const ExportOptions& o) {
  check_output_path(o.output, o.force);
  Model model = load_for_export(o);
  infer_shapes(model, 1);  // refuse to write a model we could not run
  std::string bytes = serialize_onnx(model);
  write_binary_file(o.output, std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  if (!o.common.quiet && o.output != "-") {
    std::string int8_note;
    if (o.qdq) {
      int64_t int8_tensors = 0, integer_layers = 0;
      for (const auto& node : model.graph.nodes) {
        int8_tensors += node.op == "DequantizeLinear" && node.has_input(0) && model.graph.initializer(node.inputs[0]);
        integer_layers += node.op == "ConvInteger";
      }
      int8_note = "; " + std::to_string(int8_tensors + integer_layers) +
                  " int8 weight tensors (or ternary terms): " + std::to_string(int8_tensors) + " behind DequantizeLinear, " +
                  std::to_string(integer_layers) + " read by ConvInteger";
    }
    std::fprintf(stderr, "wrote %s (%s bytes%s)\n", o.output.c_str(), with_commas(static_cast<int64_t>(bytes.size())).c_str(),
                 int8_note.c_str());
  }
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = root.add_subcommand("export", "Write a model as an ONNX file that ONNX Runtime runs");
  cmd->footer(
      "A .mcz file's weights are decoded to float32 (a lossless .mcz gives initializers bit-identical to\n"
      "its source). Nodes, attributes, inputs and outputs are kept. The output is written atomically: on any error no file appears.\n"
      "With --qdq, each tensor the .mcz stores as dense int8 / int4 / one-term ternary (or a mix of them) becomes\n"
      "an int8 initializer + DequantizeLinear (per output channel, axis 0; opset raised to 13 if lower) computing\n"
      "bit-identical values. A weight with k-term ternary channels (hybrid, k > 1) becomes k int8 terms, and each\n"
      "Conv / Gemm reading it k layers whose outputs are added: W x = sum_k (DQ(T_k) x). Sparse and float tensors stay\n"
      "float (ONNX Runtime's optimizer re-quantizes float weights that read quantized activations; see\n"
      "scripts/ort_outputs.js).\n\n"
      "Examples:\n  mcompress export model.mcz -o model.onnx\n  mcompress export model.mcz -o model_qdq.onnx --qdq\n  mcompress export model.onnx -o copy.onnx\n  mcompress export - -o - < model.onnx > copy.onnx");
  cmd->add_option("file", o->file, ".mcz or ONNX model to export ('-' reads stdin)")->required();
  cmd->add_option("-o,--output", o->output, "Output ONNX file ('-' writes stdout)")->required()->type_name("OUT.onnx");
  cmd->add_flag("--qdq", o->qdq,
                "Keep quantized weights as int8 initializers behind DequantizeLinear; the default dequantizes every weight to float");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common, false);
  return {cmd, [o] { return run_export(*o); }};
}

}  // namespace mc::cli
