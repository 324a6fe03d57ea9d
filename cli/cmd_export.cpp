// mcompress export FILE -o OUT.onnx: write a model back as ONNX that ONNX Runtime runs.
// FILE is a .mcz (its tensors decoded to float) or an ONNX model (the import -> export round trip).
#include <cstdio>

#include "cli/common.h"
#include "core/shape_inference.h"
#include "formats/file_io.h"
#include "formats/model_file.h"
#include "formats/onnx_model.h"

namespace mc::cli {

namespace {

struct ExportOptions {
  std::string file;
  std::string output;
  bool force = false;
  CommonOptions common;
};

int run_export(const ExportOptions& o) {
  check_output_path(o.output, o.force);
  Model model = load_model(o.file);
  infer_shapes(model, 1);  // refuse to write a model we could not run
  std::string bytes = serialize_onnx(model);
  write_binary_file(o.output, std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  if (!o.common.quiet && o.output != "-")
    std::fprintf(stderr, "wrote %s (%s bytes)\n", o.output.c_str(), with_commas(static_cast<int64_t>(bytes.size())).c_str());
  return 0;
}

}  // namespace

Command add_export_command(CLI::App& root) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = root.add_subcommand("export", "Write a model as an ONNX file that ONNX Runtime runs");
  cmd->footer(
      "A .mcz file's weights are decoded to float32 (a lossless .mcz gives initializers bit-identical to\n"
      "its source). Nodes, attributes, inputs and outputs are kept. The output is written atomically: on any error no file appears.\n\n"
      "Examples:\n  mcompress export model.mcz -o model.onnx\n  mcompress export model.onnx -o copy.onnx\n  mcompress export - -o - < model.onnx > copy.onnx");
  cmd->add_option("file", o->file, ".mcz or ONNX model to export ('-' reads stdin)")->required();
  cmd->add_option("-o,--output", o->output, "Output ONNX file ('-' writes stdout)")->required()->type_name("OUT.onnx");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common, false);
  return {cmd, [o] { return run_export(*o); }};
}

}  // namespace mc::cli
