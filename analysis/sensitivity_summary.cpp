#include "analysis/sensitivity_summary.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mc {

namespace {

// Nearest-rank percentile of sorted values: the smallest value with at least p% of them at or below.
double nearest_rank(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

const char* const quantile_keys[] = {"min", "p10", "p25", "median", "p75", "p90", "max"};

double* quantile_field(SensitivityQuantiles& q, size_t i) {
  double* fields[] = {&q.min, &q.p10, &q.p25, &q.median, &q.p75, &q.p90, &q.max};
  return fields[i];
}

}  // namespace

SensitivitySummary summarize_sensitivity(const std::map<std::string, std::vector<double>>& by_layer, const std::string& format) {
  SensitivitySummary s;
  s.format = format;
  for (const auto& [layer, values] : by_layer) {
    if (values.empty()) continue;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    SensitivityQuantiles q;
    q.layer = layer;
    q.filters = static_cast<int64_t>(sorted.size());
    q.min = sorted.front();
    q.p10 = nearest_rank(sorted, 10);
    q.p25 = nearest_rank(sorted, 25);
    q.median = nearest_rank(sorted, 50);
    q.p75 = nearest_rank(sorted, 75);
    q.p90 = nearest_rank(sorted, 90);
    q.max = sorted.back();
    s.layers.push_back(q);
  }
  return s;
}

nlohmann::ordered_json to_json(const SensitivitySummary& s) {
  nlohmann::ordered_json j;
  j["measure"] = "relative output error e = (w-q)'C(w-q)/(w'Cw) of each filter's " + s.format +
                 " fit under its layer's calibration input covariance C";
  j["format"] = s.format;
  j["layers"] = nlohmann::ordered_json::array();
  for (auto q : s.layers) {
    nlohmann::ordered_json l;
    l["name"] = q.layer;
    l["filters"] = q.filters;
    for (size_t i = 0; i < std::size(quantile_keys); ++i) l[quantile_keys[i]] = *quantile_field(q, i);
    j["layers"].push_back(l);
  }
  return j;
}

std::optional<SensitivitySummary> sensitivity_from_metadata(const nlohmann::ordered_json& metadata, const std::string& name) {
  if (!metadata.is_object() || !metadata.contains("sensitivity")) return std::nullopt;
  const auto& j = metadata["sensitivity"];
  const std::string where = name + ": metadata sensitivity";
  if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array())
    fail_input(where + " must be an object with a 'layers' array");
  SensitivitySummary s;
  if (j.contains("format") && j["format"].is_string()) s.format = j["format"].get<std::string>();
  for (const auto& l : j["layers"]) {
    if (!l.is_object() || !l.contains("name") || !l["name"].is_string())
      fail_input(where + ".layers: every entry needs a string 'name'");
    SensitivityQuantiles q;
    q.layer = l["name"].get<std::string>();
    if (l.contains("filters") && l["filters"].is_number_integer()) q.filters = l["filters"].get<int64_t>();
    for (size_t i = 0; i < std::size(quantile_keys); ++i) {
      if (!l.contains(quantile_keys[i]) || !l[quantile_keys[i]].is_number())
        fail_input(where + ": layer '" + q.layer + "': '" + quantile_keys[i] + "' must be a number");
      *quantile_field(q, i) = l[quantile_keys[i]].get<double>();
    }
    s.layers.push_back(q);
  }
  return s;
}

}  // namespace mc
