// mcompress profile MODEL --calib DIR: per-filter and per-layer quantization sensitivity.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "cli/common.h"
#include "cli/timing_output.h"
#include "core/text.h"
#include "formats/file_io.h"
#include "formats/model_file.h"
#include "app/profile_job.h"

namespace mc::cli {

namespace {

struct ProfileOptions {
  InputFlags input;
  std::string file, calib, output, stats, passes = "fold-constants,fold-bn";
  int64_t calib_count = 256, e2e_images = 32;
  bool verbose = false;
  uint64_t seed = 0;
  std::string e2e_formats = "ternary2,int8";
  bool force = false;
  CommonOptions common;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  size_t i = static_cast<size_t>(pos);
  double frac = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

nlohmann::ordered_json to_json(const ProfileOptions& o, const CalibrationSet& set, const std::vector<LayerSensitivity>& layers,
                               const CalibrationStats& stats) {
  nlohmann::ordered_json j;
  j["model"] = o.file;
  j["calibration"] = {{"dir", o.calib}, {"images", set.files.size()}, {"seed", o.seed}, {"preprocess", preprocess_name(set.image.preprocess)}};
  j["metric"] = "relative output error (w-q)^T C (w-q) / (w^T C w), C = centered input covariance";
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : layers) {
    nlohmann::ordered_json lj;
    lj["name"] = l.node;
    lj["op"] = l.op;
    lj["kind"] = l.kind;
    lj["macs"] = l.macs;
    lj["filters"] = nlohmann::ordered_json::array();
    for (const auto& f : l.filters) {
      nlohmann::ordered_json s;
      for (const auto& [fmt, e] : f.error) s[fmt] = e;
      lj["filters"].push_back({{"index", f.index}, {"sensitivity", s}});
    }
    for (const auto& [fmt, e] : l.end_to_end) lj["end_to_end"][fmt] = {{"kl", e.kl}, {"top1_agreement", e.top1_agreement}};
    j["layers"].push_back(lj);
  }
  for (const auto& [name, r] : stats.ranges) {
    auto [lo, hi] = r.mse_int8_range();
    j["activations"][name] = {{"min", r.min}, {"max", r.max}, {"p0_01", r.percentile(0.01)}, {"p99_99", r.percentile(99.99)}, {"mse_int8", {lo, hi}}};
  }
  return j;
}

std::string to_csv(const std::vector<LayerSensitivity>& layers) {
  std::ostringstream os;
  os << "layer,kind,filter";
  for (const auto& f : candidate_formats()) os << "," << f;
  os << "\n";
  os.precision(9);
  for (const auto& l : layers)
    for (const auto& f : l.filters) {
      os << l.node << "," << l.kind << "," << f.index;
      for (const auto& fmt : candidate_formats()) os << "," << f.error.at(fmt);
      os << "\n";
    }
  return os.str();
}

int run_profile(const ProfileOptions& o) {
  StageTimer timer;  // where the time goes: --verbose
  const StageTimer::Install timing(timer);
  if (!o.output.empty()) check_output_path(o.output, o.force, {o.file});
  if (o.common.json && o.output == "-") fail_usage("--json and -o - both write to stdout; choose one");
  ProfileJob job;
  job.passes = o.passes;
  job.preprocess = input_spec_with_flags("", o.input);
  job.calib_dir = o.calib;
  job.calib_count = o.calib_count;
  job.seed = o.seed;
  job.end_to_end_formats = split_list(o.e2e_formats);
  job.end_to_end_images = o.e2e_images;
  job.threads = o.common.threads;
  if (o.stats == "-" && o.file == "-") fail_usage("the model and --stats cannot both be standard input");
  job.stats_file = o.stats;
  validate_profile_job(job);  // before reading anything
  job.warn = [&](const std::string& m) {
    if (!o.common.quiet) std::fprintf(stderr, "mcompress: warning: %s\n", m.c_str());
  };
  StageProgress progress(o.common.quiet);
  job.progress = progress.callback();
  const ModelFile file = [&] {
    TimedStage timed("reading the model");
    return read_model_file(o.file);  // once: standard input cannot be read twice
  }();
  const ProfileResult result = run_profile_job(job, file);
  progress.finish();
  // Printed when the work is done, before the table (which may go to a pipe).
  if (o.verbose && !o.common.quiet) print_timing(timer.snapshot());
  const CalibrationSet& set = result.images;
  const CalibrationStats& stats = result.statistics;
  const std::vector<LayerSensitivity>& layers = result.layers;
  auto j = to_json(o, set, layers, stats);
  if (!o.output.empty()) {
    std::string text = o.output.size() >= 4 && o.output.substr(o.output.size() - 4) == ".csv" ? to_csv(layers) : j.dump(1) + "\n";
    write_binary_file(o.output, std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()),
                      o.force ? IfExists::replace : IfExists::fail);
  }
  if (o.common.json) {
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  int64_t total_macs = 0;
  for (const auto& l : layers) total_macs += l.macs;
  std::printf("%s: %zu layers, %zu calibration images from %s (seed %llu)\n", file.name.c_str(), layers.size(), set.files.size(), o.calib.c_str(),
              static_cast<unsigned long long>(o.seed));
  std::printf("per-filter relative output error e = (w-q)'C(w-q)/(w'Cw); end-to-end: one whole layer quantized, %lld images\n\n",
              static_cast<long long>(std::min<int64_t>(o.e2e_images, static_cast<int64_t>(set.files.size()))));
  std::printf("%-28s %-9s %6s %8s | %-23s | %-15s", "layer", "kind", "MACs%", "filters", "ternary2 e p10/p50/p90", "ternary2 e<.05");
  for (const auto& f : job.end_to_end_formats) std::printf(" | %-8s KL  agree", f.c_str());
  std::printf("\n");
  for (const auto& l : layers) {
    std::vector<double> e;
    int64_t under = 0;
    for (const auto& f : l.filters) {
      e.push_back(f.error.at("ternary2"));
      under += f.error.at("ternary2") < 0.05;
    }
    std::string name = l.node.size() > 28 ? l.node.substr(0, 25) + "..." : l.node;
    std::printf("%-28s %-9s %5.1f%% %8zu | %6.3f %6.3f %6.3f   | %6lld (%3.0f%%)  ", name.c_str(), l.kind.c_str(),
                total_macs ? 100.0 * static_cast<double>(l.macs) / static_cast<double>(total_macs) : 0.0, l.filters.size(), quantile(e, 0.1),
                quantile(e, 0.5), quantile(e, 0.9), static_cast<long long>(under), l.filters.empty() ? 0.0 : 100.0 * static_cast<double>(under) / static_cast<double>(l.filters.size()));
    for (const auto& f : job.end_to_end_formats) {
      auto it = l.end_to_end.find(f);
      if (it != l.end_to_end.end()) std::printf(" | %12.5f %5.1f%%", it->second.kl, it->second.top1_agreement);
    }
    std::printf("\n");
  }
  if (!o.output.empty() && !o.common.quiet) std::fprintf(stderr, "wrote %s\n", o.output.c_str());
  return 0;
}

}  // namespace

Command add_profile_command(CLI::App& root) {
  auto o = std::make_shared<ProfileOptions>();
  CLI::App* cmd = root.add_subcommand("profile", "Per-filter and per-layer quantization sensitivity from calibration images");
  cmd->footer(
      "For every Conv / Gemm / MatMul filter and candidate format (ternary, ternary2 = two residual ternary terms,\n"
      "int4, int8), the relative output error e = (w-q)'C(w-q) / (w'Cw) under the layer's centered input covariance C\n"
      "gathered on the calibration images; and per layer, the end-to-end effect of quantizing the whole layer:\n"
      "mean KL divergence of the output distribution from the float model's and top-1 agreement.\n"
      "Calibration images need no labels; JPEGs are resized and cropped like eval's, .npy tensors are used as they are.\n"
      "A folder with fewer images than --calib-count is used whole, with a warning.\n\n"
      "Examples:\n  mcompress profile mobilenet_v1_0.75_224.onnx --calib calib_images --preprocess keras -o profile.json\n"
      "  mcompress profile model.onnx --calib DIR --preprocess torch --calib-count 64 -o filters.csv");
  cmd->add_option("file", o->file, "ONNX model or .mcz file")->required();
  cmd->add_option("--calib", o->calib, "Folder of calibration images (JPEG or .npy)")->required()->type_name("DIR");
  cmd->add_option("--calib-count", o->calib_count, "Calibration images to use (a seeded sample)")->check(CLI::Range(int64_t{1}, int64_t{1} << 30))->default_val(256);
  cmd->add_option("--seed", o->seed, "Seed of the calibration sample")->default_val(0);
  cmd->add_option("--stats", o->stats,
                  "Calibration statistics written by 'mcompress calibrate' for this model, --calib and settings: read\n"
                  "instead of computed (the output is the same); a file for anything else is refused")
      ->type_name("FILE");
  add_input_options(cmd, o->input, "");
  cmd->add_option("--passes", o->passes, "Canonicalizing passes run before profiling")->default_val("fold-constants,fold-bn");
  cmd->add_option("--e2e-images", o->e2e_images, "Images for the per-layer end-to-end measurement (0: skip)")->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->default_val(32);
  cmd->add_option("--e2e-formats", o->e2e_formats, "Formats measured end to end, comma-separated")->default_val("ternary2,int8");
  cmd->add_option("-o,--output", o->output, "Write full per-filter data: .json or .csv")->type_name("FILE");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  cmd->add_flag("-v,--verbose", o->verbose, "Print the wall seconds and share of each stage and the peak resident memory on stderr");
  add_common_options(cmd, o->common);
  return {cmd, [o] { return run_profile(*o); }};
}

}  // namespace mc::cli
