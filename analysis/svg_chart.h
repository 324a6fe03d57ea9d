// Small self-contained SVG charts for the HTML report: no scripts, no fonts or images fetched,
// every style inline, so the file renders the same offline in any browser. Text is escaped here.
#pragma once

#include <string>
#include <vector>

namespace mc::svg {

// "&<>\"'" escaped for HTML text and attribute values.
std::string escape(const std::string& text);

// The fill colour of series i (a fixed palette, distinguishable in print and for common colour
// blindness: Okabe-Ito).
std::string series_colour(size_t i);

// Horizontal stacked bars, one row per label, one segment per series; `values[row][series]`.
// `format` renders a row total for the text at the end of each bar.
struct StackedBars {
  std::vector<std::string> rows;
  std::vector<std::string> series;
  std::vector<std::vector<double>> values;
  std::string unit;  // axis caption, e.g. "bytes"
  bool share = false;  // values are shares of 1: the axis runs 0..100%
};
std::string stacked_bars(const StackedBars& chart);

// One box per row on a logarithmic axis: whiskers p10..p90, box p25..p75, a tick at the median,
// dots at min and max. Rows without data (`present` false) show "not measured".
struct BoxRow {
  std::string label;
  bool present = false;
  double min = 0, p10 = 0, p25 = 0, median = 0, p75 = 0, p90 = 0, max = 0;
  std::string note;  // text at the end of the row, e.g. the filter count
};
std::string box_rows(const std::vector<BoxRow>& rows, const std::string& unit);

// A scatter plot of labelled points; points with `front` set are drawn filled and joined by a
// step line (the Pareto front), the others hollow. `log_x`: logarithmic x axis.
struct ScatterPoint {
  double x = 0, y = 0;
  std::string label;
  bool front = false;
  int number = 0;  // shown before the label (the row in the page's table); 0: the point's position + 1
};
struct Scatter {
  std::vector<ScatterPoint> points;
  std::string x_label, y_label, title;
  bool log_x = false;
  double reference_y = 0;  // a dashed horizontal line (the float model's top-1) when has_reference
  bool has_reference = false;
  std::string reference_label;
};
std::string scatter(const Scatter& chart);

// Axis numbers: 1234567 -> "1.23M", 0.00042 -> "4.2e-4".
std::string short_number(double v);

}  // namespace mc::svg
