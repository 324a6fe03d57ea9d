// A per-layer summary of per-filter sensitivities (quantiles of the distribution), small enough to
// store in the .mcz metadata ("sensitivity", docs/FORMAT.md) so `mcompress report --html` can draw
// the distribution from the file alone, without the calibration images.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mc {

struct SensitivityQuantiles {
  std::string layer;
  int64_t filters = 0;
  // min, 10th, 25th, 50th, 75th, 90th percentile, max (nearest rank on the sorted values).
  double min = 0, p10 = 0, p25 = 0, median = 0, p75 = 0, p90 = 0, max = 0;
};

struct SensitivitySummary {
  std::string format;   // what was measured: the relative output error of this format's fit
  std::vector<SensitivityQuantiles> layers;
};

SensitivitySummary summarize_sensitivity(const std::map<std::string, std::vector<double>>& by_layer, const std::string& format);

nlohmann::ordered_json to_json(const SensitivitySummary& summary);
// From metadata["sensitivity"]: nullopt when absent; fails (input error) naming `name` when malformed.
std::optional<SensitivitySummary> sensitivity_from_metadata(const nlohmann::ordered_json& metadata, const std::string& name);

}  // namespace mc
