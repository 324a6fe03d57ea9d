// mcompress calibrate MODEL --calib DIR -o FILE: the calibration statistics compress, sweep and
// profile would compute, as a reusable file (app/calibrate_job.h) that their --stats FILE reads.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/calibrate_job.h"
#include "cli/common.h"
#include "cli/timing_output.h"
#include "core/text.h"
#include "formats/file_io.h"

namespace mc::cli {

namespace {

struct CalibrateOptions {
  std::string file, output, calib;
  InputFlags input;
  int64_t calib_count = 256, held_out = 0;
  uint64_t seed = 0;
  std::vector<std::string> targets;
  bool force = false;
  bool verbose = false;
  CommonOptions common;
};

int64_t layers_of(const StatisticsEntry& e) { return static_cast<int64_t>(e.stats->layers.size()); }
int64_t ranges_of(const StatisticsEntry& e) { return static_cast<int64_t>(e.stats->ranges.size()); }

nlohmann::ordered_json to_json(const CalibrateOptions& o, const CalibrateResult& r, const StageTimer::Snapshot& times) {
  const StatisticsBinding& b = r.file.binding;
  nlohmann::ordered_json j;
  j["output"] = o.output;
  j["bytes"] = r.bytes.size();
  j["model_sha256"] = b.model_sha256;
  j["calibration"] = {{"dir", o.calib},          {"images", b.images.size()}, {"fit_images", r.fit_images},
                      {"held_out", b.held_out},  {"seed", b.seed},            {"calib_count", b.calib_count},
                      {"image_settings", b.image_settings}};
  j["entries"] = nlohmann::ordered_json::array();
  for (const auto& e : r.file.entries)
    j["entries"].push_back({{"for", e.label},
                            {"images", e.stats->images},
                            {"layers", layers_of(e)},
                            {"ranges", ranges_of(e)},
                            {"model_sha256", e.key.model_sha256},
                            {"images_sha256", e.key.images_sha256}});
  j["timing"] = timing_json(times);
  return j;
}

void print_summary(const CalibrateOptions& o, const std::string& model_name, const CalibrateResult& r, double seconds) {
  const StatisticsBinding& b = r.file.binding;
  std::fprintf(stderr, "%s -> %s: %s, %s bytes, %s s\n", model_name.c_str(), o.output.c_str(),
               count_of(static_cast<int64_t>(r.file.entries.size()), "statistics entry", "statistics entries").c_str(),
               with_commas(static_cast<int64_t>(r.bytes.size())).c_str(), fixed(seconds, 1).c_str());
  std::fprintf(stderr, "  images    %s of %s (seed %llu): %lld to fit, %lld held out; %s\n",
               count_of(static_cast<int64_t>(b.images.size()), "image").c_str(), o.calib.c_str(), static_cast<unsigned long long>(b.seed),
               static_cast<long long>(r.fit_images), static_cast<long long>(b.held_out), b.image_settings.c_str());
  for (size_t i = 0; i < r.file.entries.size(); ++i) {
    const StatisticsEntry& e = r.file.entries[i];
    std::fprintf(stderr, "  entry %-3zu %s, %s, %s: %s\n", i + 1, count_of(e.stats->images, "image").c_str(),
                 count_of(layers_of(e), "layer").c_str(), count_of(ranges_of(e), "activation range").c_str(), e.label.c_str());
  }
  std::fprintf(stderr, "  use       --stats %s with the same --calib, --calib-count, --seed, --held-out and input convention\n",
               o.output.c_str());
}

int run_calibrate(const CalibrateOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  StageTimer timer;
  const StageTimer::Install timing(timer);
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write to stdout; choose one");
  auto warn = [&](const std::string& m) {
    if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
  };
  check_output_path(o.output, o.force, {o.file});
  check_output_kind(o.output, OutputKind::statistics, o.force, warn);
  CalibrateJob job;
  job.preprocess = input_spec_with_flags("", o.input);
  job.calib_dir = o.calib;
  job.calib_count = o.calib_count;
  job.held_out = o.held_out;
  job.seed = o.seed;
  job.targets = o.targets;
  job.threads = o.common.threads;
  validate_calibrate_job(job);  // before reading the model
  StageProgress progress(o.common.quiet);
  if (o.verbose && !o.common.quiet) job.log = progress.line(print_log_line);
  job.warn = progress.line(warn);
  job.progress = progress.callback();
  const ModelFile file = [&] {
    TimedStage timed("reading the model");
    return read_model_file(o.file);
  }();
  const CalibrateResult result = run_calibrate_job(job, file);
  progress.finish();
  {
    TimedStage timed("writing the output");
    write_binary_file(o.output, result.bytes, o.force ? IfExists::replace : IfExists::fail);  // another run's output is not replaced
  }
  const StageTimer::Snapshot times = timer.snapshot();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.common.json) std::cout << to_json(o, result, times).dump(2) << "\n";
  else if (!o.common.quiet) print_summary(o, file.name, result, seconds);
  if (o.verbose && !o.common.quiet) print_timing(times);
  return 0;
}

}  // namespace

Command add_calibrate_command(CLI::App& root) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = root.add_subcommand("calibrate", "Compute calibration statistics once, as a file compress / sweep / profile --stats reuse");
  std::string targets;
  for (const auto& t : calibrate_targets()) targets += (targets.empty() ? "" : ",") + t;
  cmd->footer(
      "Streams the calibration images through MODEL once per model state the recipes ask statistics of (per-layer\n"
      "input covariances and activation ranges: the float model after fold-bn, and for int8 and hybrid the model\n"
      "with int8 activations) and writes them as one checksummed file. 'compress', 'sweep' and 'profile' with\n"
      "--stats FILE then read them instead of computing them: their outputs are byte-identical with and without\n"
      "the file, and a pipeline that reaches a state the file does not hold (other recipe flags, --passes)\n"
      "computes that one itself.\n\n"
      "The file is tied to MODEL's content, to the calibration settings (--calib-count, --seed, --held-out, the input\n"
      "convention) and to the calibration images' contents: a run that differs in any of them refuses it (exit 3),\n"
      "saying which. Give the later commands the same --calib folder and settings. The output is written atomically\n"
      "and never replaces a file without --force.\n\n"
      "Examples:\n"
      "  mcompress calibrate model.onnx --calib DIR --preprocess keras -o model.stats\n"
      "  mcompress compress model.onnx -o hybrid.mcz --recipe hybrid --calib DIR --preprocess keras --stats model.stats\n"
      "  mcompress sweep model.onnx --calib DIR --eval-images VAL --preprocess keras --stats model.stats -o sweep.csv\n"
      "  mcompress calibrate model.onnx --calib DIR --preprocess keras --calib-count 64 --for hybrid -o - > hybrid.stats");
  cmd->add_option("file", o->file, "ONNX model or .mcz file ('-' reads stdin)")->required();
  cmd->add_option("--calib", o->calib, "Calibration images (JPEG or .npy; no labels needed)")->required()->type_name("DIR");
  cmd->add_option("-o,--output", o->output, "Output statistics file ('-' writes stdout)")->required()->type_name("FILE");
  cmd->add_option("--calib-count", o->calib_count, "Calibration images to sample (as compress, sweep and profile)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->default_val(256);
  cmd->add_option("--held-out", o->held_out, "Of those, images kept out of fitting, as compress --held-out (default: half, at most 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--seed", o->seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--for", o->targets, "Recipes (and 'profile') whose statistics to compute, comma-separated (default: " + targets + ")")
      ->delimiter(',')
      ->type_name("LIST");
  add_input_options(cmd, o->input, " (as the later commands will give it)");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file (never the input); allow -o - to a terminal");
  cmd->add_flag("-v,--verbose", o->verbose, "Also print each statistics computation, then the wall seconds and share of each stage\n"
                "and the peak resident memory, on stderr");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_calibrate(*o); }};
}

}  // namespace mc::cli
