// The precision of the derived numbers `info`, `report` and `sweep` write to JSON and CSV
// (docs/KEYS.md, "Precision"). Counts and bytes are integers and stay exact; quotients and sums of
// table figures carry binary floating-point noise (188739251.20000002 pJ) and more digits than
// their inputs justify, so each is rounded once, where it is written, to a stated precision. The
// result is the double nearest the rounded decimal, which JSON and std::to_chars print as that
// decimal.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mc {

// `v` to `digits` significant digits (0 and non-finite values unchanged).
inline double round_significant(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return v;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
  return std::strtod(buf, nullptr);
}

// `v` to `decimals` places after the point.
inline double round_decimals(double v, int decimals) {
  if (!std::isfinite(v)) return v;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return std::strtod(buf, nullptr);
}

// Ratios (compression, energy) and bits per weight: 4 significant digits.
inline double ratio_value(double v) { return round_significant(v, 4); }
// num / den, or 0 when den is not positive (an empty model, a layer with no weights).
inline double ratio_or_zero(double num, double den) { return den > 0 ? num / den : 0.0; }
// Energies and per-operation prices in pJ: 0.001 pJ. The built-in table's figures are multiples of
// 0.01 pJ, so every energy it prices is exact at this precision; only the noise goes.
inline double pj_value(double v) { return round_decimals(v, 3); }
// Differences of percentages (top-1 drop or change, in points): 0.01. Measured accuracies themselves
// are written as measured (correct images / images x 100), so every command prints the same double
// for the same measurement and `eval --json` can be compared with the stored figure exactly.
inline double percent_value(double v) { return round_decimals(v, 2); }

}  // namespace mc
