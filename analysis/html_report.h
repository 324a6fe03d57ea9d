// The report as one self-contained HTML page (`compress --report FILE.html`, `report FILE.mcz
// --html OUT`, `sweep --html OUT`): inline CSS and SVG only, no script, no external reference, so it
// can be mailed, archived and opened offline. Draws what analysis/report.h computes: per-layer bytes
// by encoding, operations by kind and precision, the ternary share per layer, the sensitivity
// distribution per layer (when the file records one) and a sweep's Pareto plots (when given).
#pragma once

#include <optional>
#include <string>

#include "analysis/report.h"
#include "analysis/sensitivity_summary.h"
#include "analysis/sweep_table.h"

namespace mc {

struct HtmlReportInputs {
  const Report* report = nullptr;                 // a compressed model (optional for a sweep page)
  std::optional<SensitivitySummary> sensitivity;  // per-layer filter sensitivity (metadata)
  const SweepTable* sweep = nullptr;              // a sweep's points (optional)
};

std::string render_html_report(const HtmlReportInputs& inputs);

}  // namespace mc
