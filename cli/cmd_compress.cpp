// mcompress compress MODEL -o OUT.mcz --recipe NAME: run a recipe and write the .mcz container.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "analysis/op_count.h"
#include "cli/common.h"
#include "formats/checksum.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "passes/recipe.h"

namespace mc::cli {

namespace {

struct CompressOptions {
  std::string file;
  std::string output;
  std::string recipe;
  std::string preprocess;
  bool force = false;
  CommonOptions common;
};

int run_compress(const CompressOptions& o) {
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write to stdout; choose one");
  check_output_path(o.output, o.force);
  if (!o.preprocess.empty()) parse_preprocess(o.preprocess);
  auto source = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  Model model = parse_onnx(source, name);
  OpCount count = count_ops(model);
  CompressedModel compressed = run_recipe(o.recipe, model);

  nlohmann::ordered_json meta;
  meta["tool"] = "mcompress";
  meta["version"] = MCOMPRESS_VERSION;
  meta["recipe"] = compressed.recipe;
  meta["passes"] = compressed.passes;
  meta["source"] = {{"file", o.file == "-" ? std::string("-") : std::filesystem::path(o.file).filename().string()},
                    {"bytes", source.size()},
                    {"sha256", sha256_hex(source)},
                    {"params", count.params},
                    {"macs", count.macs}};
  if (!o.preprocess.empty()) meta["preprocess"] = o.preprocess;
  auto bytes = write_mcz(compressed.model, compressed.encoded, meta, o.common.threads);
  write_binary_file(o.output, bytes);

  double ratio = static_cast<double>(source.size()) / static_cast<double>(bytes.size());
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["output"] = o.output;
    j["recipe"] = compressed.recipe;
    j["bytes"] = bytes.size();
    j["source_bytes"] = source.size();
    j["compression_ratio"] = ratio;
    std::cout << j.dump(2) << "\n";
  } else if (!o.common.quiet) {
    std::fprintf(stderr, "%s: %s -> %s bytes (%.3fx smaller than the %s-byte source), recipe %s\n", o.output.c_str(), name.c_str(),
                 with_commas(static_cast<int64_t>(bytes.size())).c_str(), ratio, with_commas(static_cast<int64_t>(source.size())).c_str(),
                 compressed.recipe.c_str());
  }
  return 0;
}

}  // namespace

Command add_compress_command(CLI::App& root) {
  auto o = std::make_shared<CompressOptions>();
  CLI::App* cmd = root.add_subcommand("compress", "Compress an ONNX model into a .mcz file with a recipe");
  std::string recipes;
  for (const auto& r : recipe_names()) recipes += "  " + r + std::string(10 - std::min<size_t>(9, r.size()), ' ') + recipe_description(r) + "\n";
  cmd->footer("Recipes:\n" + recipes +
              "\nEvery symbol stream is stored packed, rANS- or zstd-coded, whichever is smallest. The output is\n"
              "written atomically (nothing appears on error) and never replaces a file without --force.\n\n"
              "Examples:\n  mcompress compress model.onnx -o model.mcz --recipe lossless\n"
              "  mcompress compress - -o - --recipe fp16 < model.onnx | mcompress info -");
  cmd->add_option("file", o->file, "ONNX model ('-' reads stdin)")->required();
  cmd->add_option("-o,--output", o->output, "Output .mcz file ('-' writes stdout)")->required()->type_name("OUT.mcz");
  cmd->add_option("--recipe", o->recipe, "Compression recipe (see below)")->required()->type_name("NAME");
  cmd->add_option("--preprocess", o->preprocess, "Store the model's input normalization (keras or torch) in the file")
      ->check(CLI::IsMember({"keras", "torch"}));
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_compress(*o); }};
}

}  // namespace mc::cli
