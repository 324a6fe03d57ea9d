// mcompress compress MODEL -o OUT.mcz --recipe NAME: run a recipe and write the .mcz container.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "app/compress_job.h"
#include "analysis/rounding.h"
#include "cli/common.h"
#include "cli/report_output.h"
#include "cli/timing_output.h"
#include "formats/file_io.h"
#include "passes/pass.h"

namespace mc::cli {

namespace {

struct CompressOptions {
  std::string file;
  std::string output;
  std::string recipe;
  InputFlags input;
  std::string calib, passes, eval_images, report, val, stats;
  double confidence = 0.9;
  int64_t calib_count = 256, held_out = 0, eval_limit = 0;
  uint64_t seed = 0;
  std::optional<double> max_drop, ternary_fraction, sparsity;
  std::optional<int> ternary_terms;
  std::string drop_estimate, activations, effort;
  bool force = false;
  bool verbose = false;
  CommonOptions common;
};

// "4.82x smaller" / "1.20x larger".
std::string times(double ratio, const char* smaller, const char* larger) {
  return ratio >= 1 ? fixed(ratio, 2) + "x " + smaller : fixed(ratio > 0 ? 1 / ratio : 0, 2) + "x " + larger;
}

// "28.5% fewer" / "3.1% more": the change from `before` to `after`.
std::string change(double before, double after, const char* fewer, const char* more) {
  if (before <= 0) return "n/a";
  const double d = 100.0 * (before - after) / before;
  return fixed(std::fabs(d), 1) + "% " + (d >= 0 ? fewer : more);
}

// The screenful `compress` prints: what ran, the file, its size and operations, what the budgeted
// passes chose, and the accuracy measured on the written file.
void print_summary(const CompressOptions& o, const SourceModel& source, const CompressResult& r, double seconds) {
  const Report& rep = r.report;
  std::fprintf(stderr, "%s -> %s: recipe %s, %s\n", source.file.name.c_str(), o.output.c_str(), r.recipe.c_str(),
               (fixed(seconds, 1) + " s").c_str());
  if (r.recipe == custom_recipe) std::fprintf(stderr, "  pipeline  %s\n", r.pipeline.c_str());
  std::fprintf(stderr, "  size      %s bytes: %s than fp32 (%s bytes), %s than the source file\n",
               with_commas(static_cast<int64_t>(rep.bytes)).c_str(), times(rep.compression_ratio(), "smaller", "larger").c_str(),
               with_commas(static_cast<int64_t>(rep.fp32_bytes)).c_str(),
               times(static_cast<double>(model_file_bytes(source.file)) / static_cast<double>(rep.bytes), "smaller", "larger").c_str());
  std::fprintf(stderr, "  compute   MULs %s than the float model (%s of %s left), arithmetic energy %s\n",
               change(static_cast<double>(rep.macs_original), static_cast<double>(rep.ops.muls()), "fewer", "more").c_str(),
               short_count(static_cast<double>(rep.ops.muls())).c_str(), short_count(static_cast<double>(rep.macs_original)).c_str(),
               times(rep.energy_pj > 0 ? rep.energy_pj_original / rep.energy_pj : 0, "lower", "higher").c_str());
  for (const auto& note : r.notes) std::fprintf(stderr, "  chose     %s\n", note.c_str());
  for (const auto& b : r.budgets)
    std::fprintf(stderr, "  budget    %s: --max-drop %s on %s%s at confidence %s: %s (drop %s, bound %s points)\n", b.pass.c_str(),
                 format_number(b.max_drop).c_str(), count_of(b.decision.images, b.decision.labels ? "labelled validation image" : "held-out calibration image").c_str(),
                 b.decision.labels ? "" : " (no labels: estimated)", format_number(b.decision.confidence).c_str(),
                 outcome(b).c_str(), fixed(b.decision.estimate, 2).c_str(),
                 fixed(b.decision.bound, 2).c_str());
  if (r.after) {
    const double drop = r.before->top1 - r.after->top1;
    std::fprintf(stderr, "  accuracy  top-1 %s%% -> %s%% (%s points), top-5 %s%% -> %s%%, on %s of %s, measured on the written file\n",
                 fixed(r.before->top1, 2).c_str(), fixed(r.after->top1, 2).c_str(), ((drop > 0 ? "-" : "+") + fixed(std::fabs(drop), 2)).c_str(),
                 fixed(r.before->top5, 2).c_str(), fixed(r.after->top5, 2).c_str(), count_of(r.before->images, "image").c_str(),
                 o.eval_images.c_str());
    if (!r.budgets.empty())
      std::fprintf(stderr, "  measured  drop %s points on the evaluation images against the %s-point budget: %s\n", fixed(drop, 2).c_str(),
                   format_number(r.budgets.back().max_drop).c_str(), drop <= r.budgets.back().max_drop ? "within it" : "OVER it");
  } else {
    std::fprintf(stderr, "  accuracy  not measured (give --eval-images DIR to measure it on the written file)\n");
  }
}

int run_compress(const CompressOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  StageTimer timer;  // where the time goes: --verbose and --json `timing`
  const StageTimer::Install timing(timer);
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write to stdout; choose one");
  if (o.recipe.empty() && o.passes.empty()) fail_usage("give --recipe NAME or --passes PIPELINE (see 'mcompress compress --help')");
  auto warn = [&](const std::string& m) {
    if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
  };
  check_output_path(o.output, o.force, {o.file});
  check_output_kind(o.output, OutputKind::mcz, o.force, warn);
  if (!o.report.empty()) check_output_path(o.report, o.force, {o.file, o.output});
  CompressJob job;
  job.recipe = o.recipe.empty() ? std::string(custom_recipe) : o.recipe;
  RecipeOptions& ro = job.recipe_options;
  ro.max_drop = o.max_drop;
  ro.ternary_fraction = o.ternary_fraction;
  ro.ternary_terms = o.ternary_terms;
  ro.drop_estimate = o.drop_estimate;
  ro.activations = o.activations;
  ro.sparsity = o.sparsity;
  ro.effort = o.effort;
  ro.passes = o.passes;
  job.preprocess = input_spec_with_flags("", o.input);
  job.calib_dir = o.calib;
  job.calib_count = o.calib_count;
  job.held_out = o.held_out;
  job.seed = o.seed;
  job.eval_images = o.eval_images;
  job.eval_limit = o.eval_limit;
  job.validation_dir = o.val;
  if (o.stats == "-" && o.file == "-") fail_usage("the model and --stats cannot both be standard input");
  job.stats_file = o.stats;
  job.confidence = o.confidence;
  job.output_name = o.output;
  job.threads = o.common.threads;
  // The recipe and its flags, missing --calib / --preprocess, the calibration and evaluation
  // folders: all checked before any work; the notes are shown once the model has been read (a model
  // that cannot be read gets its one error line alone).
  const std::vector<std::string> notes = validate_job(job);
  StageProgress progress(o.common.quiet);
  if (o.verbose && !o.common.quiet) job.log = progress.line(print_log_line);
  job.warn = progress.line(warn);
  job.progress = progress.callback();

  const SourceModel source = [&] {
    TimedStage timed("reading the model");
    return load_source_model(o.file);
  }();
  for (const auto& note : notes) warn(note);
  const CompressResult result = run_compress_job(job, source);
  progress.finish();
  {
    TimedStage timed("writing the output");
    // Without --force, an output that appeared meanwhile (another run) is refused, not replaced.
    const IfExists if_exists = o.force ? IfExists::replace : IfExists::fail;
    if (o.report.empty() || o.report == "-" || o.output == "-") {
      write_binary_file(o.output, result.bytes, if_exists);
      if (!o.report.empty()) write_report_file(o.report, result.bytes, o.output, if_exists);
    } else {
      // The model and its report as one output: both in place, or (a failure, a signal) neither.
      const std::string report = report_file_text(o.report, result.bytes, o.output);
      write_binary_files({{o.output, result.bytes},
                          {o.report, std::span<const std::byte>(reinterpret_cast<const std::byte*>(report.data()), report.size())}},
                         if_exists);
    }
  }
  const StageTimer::Snapshot times = timer.snapshot();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (o.common.json) {
    nlohmann::ordered_json j;
    j["output"] = o.output;
    j["recipe"] = result.recipe;
    j["passes"] = result.pipeline;
    j["bytes"] = result.bytes.size();
    j["source_bytes"] = model_file_bytes(source.file);
    j["compression_ratio"] = ratio_value(result.report.compression_ratio());
    j["compression_ratio_vs_source"] = ratio_value(static_cast<double>(model_file_bytes(source.file)) / static_cast<double>(result.bytes.size()));
    j["muls"] = result.report.ops.muls();
    j["muls_original"] = result.report.macs_original;
    j["decisions"] = result.notes;
    if (!result.budgets.empty()) j["budget"] = to_json(result.budgets.back());
    if (result.after) j["accuracy"] = accuracy_json(accuracy_record(*result.before, *result.after));
    j["timing"] = timing_json(times);
    std::cout << j.dump(2) << "\n";
  } else if (!o.common.quiet) {
    print_summary(o, source, result, seconds);
  }
  if (o.verbose && !o.common.quiet) print_timing(times);
  for (const auto& b : result.budgets)
    if (!b.met && b.within)
      warn(b.pass + ": --max-drop " + format_number(b.max_drop) + " is not decided: one of the " + count_of(b.decision.images, "decision image") +
           " is worth " + fixed(b.image_worth, 2) + " points (give more calibration images, or --val with more images)");
    else if (!b.met)
      warn(b.pass + ": no candidate met --max-drop " + format_number(b.max_drop) + " (bound " + fixed(b.decision.bound, 2) +
           " points at the chosen one): the file holds the most accurate candidate tried");
  // Loud, whatever the output mode: a file that lost most of its accuracy is not a result to ship.
  if (result.after && result.before->top1 - result.after->top1 > 10)
    std::fprintf(stderr,
                 "mcompress: WARNING: top-1 fell by %s points (%s%% -> %s%%) on %s: this file is not usable as it is%s\n",
                 fixed(result.before->top1 - result.after->top1, 2).c_str(), fixed(result.before->top1, 2).c_str(),
                 fixed(result.after->top1, 2).c_str(), o.eval_images.c_str(),
                 result.recipe == "prom" ? " (post-training one-term ternary needs reconstruction to keep accuracy; try hybrid)" : "");
  return 0;
}

}  // namespace

Command add_compress_command(CLI::App& root) {
  auto o = std::make_shared<CompressOptions>();
  CLI::App* cmd = root.add_subcommand("compress", "Compress an ONNX model into a .mcz file with a recipe");
  std::string recipes;
  for (const auto& r : recipe_names()) recipes += "  " + r + std::string(10 - std::min<size_t>(9, r.size()), ' ') + recipe_description(r) + "\n";
  std::string passes;
  for (const auto& p : registered_passes()) passes += (passes.empty() ? "" : ", ") + p.name;
  cmd->footer("Recipes:\n" + recipes + "\nPasses for --passes (options and defaults: --print-passes):\n  " + passes + "\n" +
              "\nEvery symbol stream is stored packed, rANS- or zstd-coded, whichever is smallest. The output is\n"
              "written atomically (nothing appears on error) and never replaces a file without --force.\n\n"
              "Examples:\n  mcompress compress model.onnx -o model.mcz --recipe lossless\n"
              "  mcompress compress - -o - --recipe fp16 < model.onnx | mcompress info -");
  cmd->add_option("file", o->file, "ONNX model ('-' reads stdin)")->required();
  cmd->add_option("-o,--output", o->output, "Output .mcz file ('-' writes stdout)")->required()->type_name("OUT.mcz");
  cmd->add_option("--recipe", o->recipe, "Compression recipe (see below); with --passes instead, the file records recipe 'custom'")
      ->type_name("NAME");
  cmd->add_option("--calib", o->calib, "Calibration images (JPEG or .npy; no labels needed)")->type_name("DIR");
  cmd->add_option("--calib-count", o->calib_count, "Calibration images to sample")->check(CLI::Range(int64_t{2}, int64_t{1} << 30))->default_val(256);
  cmd->add_option("--held-out", o->held_out, "Of those, images kept out of fitting for budget decisions (default: half, at most 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--seed", o->seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--stats", o->stats,
                  "Calibration statistics written by 'mcompress calibrate' for this model, --calib and settings: read\n"
                  "instead of computed (the file is the same byte for byte); a file for anything else is refused")
      ->type_name("FILE");
  cmd->add_option("--max-drop", o->max_drop,
                  "hybrid, sparse: largest top-1 loss in points (default 1). With --val, a paired one-sided bound on\n"
                  "those labelled images; without, estimated against the float model on held-out calibration images,\n"
                  "searched on one half and confirmed on the other (both at --confidence)")
      ->type_name("P");
  cmd->add_option("--val", o->val,
                  "Labelled images (labels.tsv) every --max-drop decision is made on: a paired one-sided bound on the top-1 drop.\n"
                  "Must not share images with --calib (checked by content)")
      ->type_name("DIR");
  cmd->add_option("--confidence", o->confidence, "Confidence of the one-sided bound a --max-drop decision is held to, in (0.5, 1)")
      ->default_val(0.9)
      ->type_name("C");
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
  cmd->add_option("--effort", o->effort,
                  "w4a8: reconstruction effort: 'fast' (GPTQ, each layer fitted in turn), 'default' (learned rounding\n"
                  "too, AdaRound: a few minutes on a MobileNet) or 'max' (4x its optimizer steps)")
      ->type_name("fast|default|max");
  cmd->add_option("--passes", o->passes, "Run this pass pipeline instead of the recipe's, e.g. fold-bn,quantize-int8<method=rtn>")
      ->type_name("PIPELINE");
  cmd->add_option("--eval-images", o->eval_images, "Labelled folder: measure top-1 before and after, stored in the report")->type_name("DIR");
  cmd->add_option("--eval-limit", o->eval_limit, "Evaluate only the first N labelled images")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--report", o->report, "Also write the size / operations / energy report: HTML if FILE ends in .html, else JSON")
      ->type_name("FILE.json|FILE.html");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file (never the input); allow -o - to a terminal");
  cmd->add_flag("-v,--verbose", o->verbose, "Also print every pass's detail (fits, probes, choices), then the wall seconds\n"
                "and share of each stage and the peak resident memory, on stderr");
  cmd->add_flag_callback(
      "--print-passes",
      [] {
        std::cout << pass_reference();
        throw CLI::Success();
      },
      "List every pass with its options, ranges and defaults, and exit");
  add_input_options(cmd, o->input, " (stored in the file; eval, sweep and info read it back)");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_compress(*o); }};
}

}  // namespace mc::cli
