// mcompress compress MODEL -o OUT.mcz --recipe NAME: run a recipe and write the .mcz container.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <tuple>

#include "analysis/op_count.h"
#include "cli/common.h"
#include "app/compressed_file.h"
#include "cli/report_output.h"
#include "formats/checksum.h"
#include "formats/file_io.h"
#include "formats/image.h"
#include "formats/mcz.h"
#include "formats/onnx_model.h"
#include "formats/qdq_export.h"
#include "analysis/energy.h"
#include "analysis/eval.h"
#include "analysis/report.h"
#include "core/executor.h"
#include "passes/recipe.h"

namespace mc::cli {

namespace {

struct CompressOptions {
  std::string file;
  std::string output;
  std::string recipe;
  std::string preprocess;
  std::string calib, passes, eval_images, report;
  int64_t calib_count = 256, held_out = 0, eval_limit = 0;
  uint64_t seed = 0;
  std::optional<double> max_drop, ternary_fraction, sparsity;
  std::optional<int> ternary_terms;
  std::string drop_estimate, activations;
  bool force = false;
  CommonOptions common;
};

// Top-1 / top-5 of `model` on the labelled folder, for the report's before/after figures.
EvalResult accuracy_of(const Model& model, const CompressOptions& o, const ImageConfig& image, const std::string& label) {
  Executor exec(model, ExecutorOptions{o.common.threads, true});
  EvalOptions eo;
  eo.image = image;
  eo.limit = o.eval_limit;
  Progress progress(label, o.common.quiet);
  return evaluate(exec, o.eval_images, eo, [&](int64_t d, int64_t t) { progress.update(d, t); });
}

int run_compress(const CompressOptions& o) {
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write to stdout; choose one");
  check_output_path(o.output, o.force);
  if (!o.report.empty()) check_output_path(o.report, o.force);
  RecipeOptions ro;
  ro.max_drop = o.max_drop;
  ro.ternary_fraction = o.ternary_fraction;
  ro.ternary_terms = o.ternary_terms;
  ro.drop_estimate = o.drop_estimate;
  ro.activations = o.activations;
  ro.sparsity = o.sparsity;
  ro.passes = o.passes;
  ro.threads = o.common.threads;
  recipe_pipeline(o.recipe, ro);  // unknown recipe or conflicting flags: fail before any work
  const bool needs_calib = recipe_needs_calibration(o.recipe, ro);
  if (needs_calib && o.calib.empty()) fail_usage("recipe '" + o.recipe + "' needs calibration images: give --calib DIR");
  if ((needs_calib || !o.eval_images.empty()) && o.preprocess.empty())
    fail_usage("--preprocess is required with --calib or --eval-images (keras or torch)");
  auto source = read_binary_file(o.file);
  const std::string name = o.file == "-" ? "<stdin>" : o.file;
  Model model = parse_onnx(source, name);
  OpCount count = count_ops(model);
  ImageConfig image;
  if (!o.preprocess.empty()) image.preprocess = parse_preprocess(o.preprocess);
  auto log = [&](const std::string& m) {
    if (!o.common.quiet) std::fprintf(stderr, "%s\n", m.c_str());
  };
  if (needs_calib) {
    CalibrationSet all = calibration_set(o.calib, o.calib_count, o.seed, image, model, [&](const std::string& m) {
      if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
    });
    // Held out for budget decisions: half of the sample (at most 128 images) unless given. Fitting
    // needs few images (the statistics are averages over every spatial position); decisions on top-1
    // agreement need as many as possible.
    int64_t held = o.held_out > 0 ? o.held_out : std::min<int64_t>(128, static_cast<int64_t>(all.files.size()) / 2);
    if (held >= 1 && held < static_cast<int64_t>(all.files.size())) std::tie(ro.calibration, ro.held_out) = split_held_out(all, held);
    else ro.calibration = all;
  }
  ro.log = log;
  Progress progress("calibration", o.common.quiet);
  ro.progress = [&](int64_t d, int64_t t) { progress.update(d, t); };
  CompressedModel compressed = run_recipe(o.recipe, model, ro);
  progress.finish();
  nlohmann::ordered_json accuracy;
  if (!o.eval_images.empty()) {
    EvalResult before = accuracy_of(model, o, image, "eval (float)");
    EvalResult after = accuracy_of(model_to_run(compressed.model, compressed.encoded), o, image, "eval (compressed)");
    accuracy = accuracy_json(before, after);
  }

  Provenance provenance = make_provenance(o.file, &source, count, o.preprocess, o.calib, needs_calib ? &ro.calibration : nullptr,
                                          &ro.held_out, o.seed);
  provenance.accuracy = accuracy;
  std::vector<std::byte> bytes =
      assemble_with_report(compressed, compressed_metadata(compressed, provenance), o.output, o.common.threads);
  write_binary_file(o.output, bytes);
  if (!o.report.empty()) write_report_file(o.report, bytes, o.output);

  double ratio = static_cast<double>(source.size()) / static_cast<double>(bytes.size());
  if (o.common.json) {
    nlohmann::ordered_json j;
    j["output"] = o.output;
    j["recipe"] = compressed.recipe;
    j["bytes"] = bytes.size();
    j["source_bytes"] = source.size();
    j["compression_ratio"] = ratio;
    if (!accuracy.is_null()) j["accuracy"] = accuracy;
    std::cout << j.dump(2) << "\n";
  } else if (!o.common.quiet) {
    std::fprintf(stderr, "%s: %s -> %s bytes (%.3fx smaller than the %s-byte source), recipe %s\n", o.output.c_str(), name.c_str(),
                 with_commas(static_cast<int64_t>(bytes.size())).c_str(), ratio, with_commas(static_cast<int64_t>(source.size())).c_str(),
                 compressed.recipe.c_str());
    if (!accuracy.is_null())
      std::fprintf(stderr, "top-1 %.2f%% -> %.2f%%, top-5 %.2f%% -> %.2f%% on %lld images of %s\n", accuracy["top1_before"].get<double>(),
                   accuracy["top1_after"].get<double>(), accuracy["top5_before"].get<double>(), accuracy["top5_after"].get<double>(),
                   static_cast<long long>(accuracy["images"].get<int64_t>()), o.eval_images.c_str());
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
  cmd->add_option("--preprocess", o->preprocess, "The model's input normalization (keras or torch); stored in the file")
      ->check(CLI::IsMember({"keras", "torch"}));
  cmd->add_option("--calib", o->calib, "Calibration images (JPEG or .npy; no labels needed)")->type_name("DIR");
  cmd->add_option("--calib-count", o->calib_count, "Calibration images to sample")->check(CLI::Range(int64_t{2}, int64_t{1} << 30))->default_val(256);
  cmd->add_option("--held-out", o->held_out, "Of those, images kept out of fitting for budget decisions (default: half, at most 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--seed", o->seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--max-drop", o->max_drop,
                  "hybrid, sparse: largest top-1 loss in points (default 1), estimated against the float model on the\n"
                  "held-out images (hybrid: mean + 1 standard error; sparse: 95% bound, docs/SPARSE.md)")
      ->type_name("P");
  cmd->add_option("--drop-estimate", o->drop_estimate,
                  "hybrid: how --max-drop is estimated without labels: 'expected' (default; the float model's\n"
                  "probabilities as label distribution) or 'agreement' (every changed top-1 counts, stricter)")
      ->type_name("HOW");
  cmd->add_option("--ternary-terms", o->ternary_terms, "hybrid: residual ternary terms per filter, 1..3 (default 3): each term\n"
                  "is one more addition per weight and much less error")
      ->type_name("K");
  cmd->add_option("--activations", o->activations, "hybrid: int8 (default; ternary filters then run as int8 additions) or float")
      ->type_name("int8|float");
  cmd->add_option("--ternary-fraction", o->ternary_fraction, "hybrid: share of all MACs to make ternary, 0..1 (instead of --max-drop)")
      ->type_name("F");
  cmd->add_option("--sparsity", o->sparsity, "sparse: first prune this share of all weights (prune-obs, per-layer allocation), 0 <= S < 1")
      ->type_name("S");
  cmd->add_option("--passes", o->passes, "Run this pass pipeline instead of the recipe's, e.g. fold-bn,quantize-int8<method=rtn>")
      ->type_name("PIPELINE");
  cmd->add_option("--eval-images", o->eval_images, "Labelled folder: measure top-1 before and after, stored in the report")->type_name("DIR");
  cmd->add_option("--eval-limit", o->eval_limit, "Evaluate only the first N labelled images")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--report", o->report, "Also write the size / operations / energy report: HTML if FILE ends in .html, else JSON")
      ->type_name("FILE.json|FILE.html");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_compress(*o); }};
}

}  // namespace mc::cli
