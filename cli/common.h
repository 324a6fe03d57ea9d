// Pieces every subcommand shares: the common flags, terminal progress, number formatting.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/text.h"  // with_commas

namespace mc::cli {

struct CommonOptions {
  int threads = 0;  // 0: all cores
  bool quiet = false;
  bool json = false;
};

// --threads N, --quiet, and (if with_json) --json.
void add_common_options(CLI::App* cmd, CommonOptions& options, bool with_json = true);

// How images become the model's input (formats/input_convention.h), as flags: --preprocess, --mean,
// --std, --bgr, --layout, --input-size, --crop-ratio, --label-offset. Empty / zero / -1: not given.
struct InputFlags {
  std::string preprocess, mean, std, layout;
  bool bgr = false;
  int input_size = 0;
  double crop_ratio = 0;
  int label_offset = -1;
};
void add_input_options(CLI::App* cmd, InputFlags& flags, const std::string& stored_note);
// BASE (a stored convention's spec, or "") with every given flag replacing its part; returns the
// spec line. Fails (usage) on a bad combination (--mean with --preprocess, --std without --mean, ...).
std::string input_spec_with_flags(const std::string& base, const InputFlags& flags);

// A subcommand: its CLI11 app and what to run once it has parsed. Returns the exit code.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_info_command(CLI::App& root);
Command add_eval_command(CLI::App& root);
Command add_export_command(CLI::App& root);
Command add_compress_command(CLI::App& root);
Command add_profile_command(CLI::App& root);
Command add_report_command(CLI::App& root);
Command add_sweep_command(CLI::App& root);
Command add_calibrate_command(CLI::App& root);

// A one-line progress bar on stderr, shown only when stderr is a terminal and not --quiet.
class Progress {
 public:
  Progress(std::string label, bool quiet);
  ~Progress();
  void update(int64_t done, int64_t total);
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

// The progress bars of a job's long stages ("calibration", "eval (float)", ...), one at a time: a
// new stage clears the bar of the one before. `callback()` is what the app layer's jobs take.
class StageProgress {
 public:
  explicit StageProgress(bool quiet) : quiet_(quiet) {}
  Progress& bar(const std::string& stage);
  void update(const std::string& stage, int64_t done, int64_t total) { bar(stage).update(done, total); }
  std::function<void(const std::string&, int64_t, int64_t)> callback() {
    return [this](const std::string& stage, int64_t done, int64_t total) { update(stage, done, total); };
  }
  void finish();
  // A message line for a job's `log` or `warn` callback: ends the current bar, then `print`s.
  std::function<void(const std::string&)> line(std::function<void(const std::string&)> print) {
    return [this, print = std::move(print)](const std::string& m) {
      finish();
      print(m);
    };
  }

 private:
  bool quiet_;
  std::map<std::string, std::unique_ptr<Progress>> bars_;
};
// Prints a --verbose log line on stderr as it is.
void print_log_line(const std::string& line);

// Fails before any work is done if PATH ("-" is stdout) cannot be written: its directory is missing
// or PATH exists and `force` is not set (output error, exit 5). An existing device or FIFO (/dev/null)
// is written in place and needs no `force`. An output that is one of `inputs`
// (the same file, by device and inode, whatever its name) is refused even with `force`: mcompress
// never modifies its input.
void check_output_path(const std::string& path, bool force, const std::vector<std::string>& inputs = {});

// What an output holds, for the checks on its name and on where it goes.
enum class OutputKind { mcz, onnx, statistics, text };
// Refuses (usage, exit 2) binary output (`kind` mcz, onnx or statistics) to a terminal unless `force`; warns
// (through `warn`) when a .mcz is written under a name ending in .onnx, or an ONNX model under .mcz.
void check_output_kind(const std::string& path, OutputKind kind, bool force, const std::function<void(const std::string&)>& warn);

// 3,487,818 -> "3,487,818"
// 569000000 -> "569.0M"
std::string short_count(double v);

}  // namespace mc::cli
