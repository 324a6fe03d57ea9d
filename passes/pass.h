// Passes: IR transforms run by name. A pass is one file with one entry point
//   void run_<name>(Model&, const PassOptions&, PassContext&)
// registered in passes/pass_list.def with its option doc; pipelines are text,
// "fold-bn,fold-constants,equalize<iterations=8>", parsed by parse_pipeline (errors quote the bad
// token) and printed back by pipeline_string in a form that parses to the same pipeline.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "analysis/calibration.h"
#include "analysis/calibration_stats.h"
#include "analysis/sensitivity.h"
#include "analysis/statistics_cache.h"
#include "core/graph.h"
#include "core/encoding.h"

namespace mc {

// Options of one pass invocation: key=value pairs from "name<key=value;key2=value2>".
class PassOptions {
 public:
  std::map<std::string, std::string> values;

  double number(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  bool flag(const std::string& key, bool fallback) const;
};

// What passes share during one pipeline run: the weight encodings decided so far (what the .mcz
// writer will store), the calibration images, and the calibration statistics, an analysis computed
// on demand and cached until a pass changes what it depends on.
struct PassContext {
  int threads = 0;
  std::function<void(const std::string&)> log;  // progress / info lines; may be empty
  std::function<void(int64_t, int64_t)> progress;  // (done, total) of long steps; may be empty

  // Initializer name -> encoding. A pass that quantizes a weight stores its encoding here and
  // replaces the initializer by the decoded values, so the model always computes what the file
  // will decode to.
  std::map<std::string, EncodedTensor> encoded;

  // Initializer name -> 0/1 mask in the weight's layout (1 = pruned to zero) of every weight a
  // pruning pass has pruned. Later quantization passes keep those weights at zero; weights left
  // in float are stored as sparse fp32 (a mask and the non-zeros' byte planes).
  std::map<std::string, std::vector<uint8_t>> pruned;

  // Calibration images (fit set) and held-out images for decisions; empty when none were given.
  CalibrationSet calibration;
  CalibrationSet held_out;
  bool has_calibration() const { return !calibration.files.empty(); }

  // The float model as the pipeline received it, and its output distributions on the held-out
  // images: what budgeted passes (split-hybrid<max-drop=P>) compare candidates with.
  void set_float_model(const Model& model) { float_model_ = model; has_float_model_ = true; reference_valid_ = false; }
  const ReferenceOutputs& float_reference();
  // After changing `held_out` (e.g. its mirrored views): the reference is recomputed when next asked.
  void invalidate_reference() { reference_valid_ = false; }
  bool has_float_model() const;

  // Statistics on the calibration set of the model as it is when first asked for (computed once).
  // Weight-quantization passes fit every layer to these statistics of the float model rather than
  // re-running calibration after each layer; passes that change what the statistics describe
  // (the graph's structure) call invalidate_statistics().
  const CalibrationStats& statistics(const Model& model);
  void invalidate_statistics() { stats_.reset(); }
  // Optional: statistics shared with other pipeline runs on the same images (mcompress sweep). Used
  // only when the model asking is byte-identical to the one the entry was computed for.
  std::shared_ptr<StatisticsCache> statistics_cache;

  // Per-filter sensitivity a pass measured while deciding (split-hybrid: the relative output error
  // of each filter's ternary fit, docs: analysis/sensitivity.h), by layer node name. Recorded for
  // the report (`compress` stores a per-layer summary in the .mcz metadata); no pass reads it.
  std::map<std::string, std::vector<double>> filter_sensitivity;
  std::string filter_sensitivity_format;  // what the numbers measure, e.g. "ternaryx2"

 private:
  std::shared_ptr<const CalibrationStats> stats_;
  Model float_model_;
  bool has_float_model_ = false;
  ReferenceOutputs reference_;
  bool reference_valid_ = false;
};

struct PassInvocation {
  std::string name;
  PassOptions options;
};

struct PassInfo {
  const char* name;
  void (*run)(Model&, const PassOptions&, PassContext&);
  const char* options_doc;  // "iterations=N (default 8)"; "" if none
  const char* description;
};

const std::vector<PassInfo>& registered_passes();
const PassInfo* find_pass(const std::string& name);

// Fails (usage error) quoting the bad token: unknown pass, malformed options, unknown option key.
std::vector<PassInvocation> parse_pipeline(const std::string& text);
std::string pipeline_string(const std::vector<PassInvocation>& pipeline);

void run_pipeline(Model& model, const std::vector<PassInvocation>& pipeline, PassContext& context);

}  // namespace mc
