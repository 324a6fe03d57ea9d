#include "analysis/html_report.h"

#include <cstdio>
#include <map>

#include "analysis/rounding.h"
#include "analysis/svg_chart.h"
#include "core/text.h"

namespace mc {

namespace {

using svg::escape;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string energy(double pj) {
  if (pj >= 1e6) return fmt("%.2f &micro;J", pj / 1e6);
  if (pj >= 1e3) return fmt("%.2f nJ", pj / 1e3);
  return fmt("%.1f pJ", pj);
}

const char* style =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}tr.front td{font-weight:bold}"
    ".note{color:#555;font-size:12px;max-width:900px}svg{display:block;margin:8px 0}";

std::string row(const std::string& key, const std::string& value) {
  return "<tr><th class=\"l\">" + escape(key) + "</th><td class=\"l\">" + value + "</td></tr>";
}

// The ternary share of a layer: the part of its weight tensor stored ternary, then int8 / int4, then
// anything else (float, fp16).
std::vector<double> precision_shares(const LayerReport& l) {
  double ternary = 0, integer = 0, other = 0, total = 0;
  for (const auto& p : l.parts) {
    double w = static_cast<double>(p.weights);
    total += w;
    if (p.arithmetic == WeightArithmetic::ternary_adds) ternary += w;
    else if (p.arithmetic == WeightArithmetic::integer_mac) integer += w;
    else other += w;
  }
  return {ratio_or_zero(ternary, total), ratio_or_zero(integer, total), ratio_or_zero(other, total)};
}

std::string summary_section(const Report& r) {
  std::string h = "<h2>Summary</h2><table>";
  h += row("file", escape(r.file));
  h += row("recipe", escape(r.recipe.empty() ? "?" : r.recipe));
  const auto bytes = [](uint64_t n) { return with_commas(static_cast<int64_t>(n)) + " bytes"; };
  const double file = static_cast<double>(r.bytes);
  h += row("size", bytes(r.bytes) + " (weights " + with_commas(static_cast<int64_t>(r.weight_bytes)) + ")");
  h += row("vs fp32", smaller_or_larger(file, static_cast<double>(r.fp32_bytes)) + " the parameters at fp32 (" + bytes(r.fp32_bytes) + ")");
  h += row("vs fp16", smaller_or_larger(file, static_cast<double>(r.fp16_bytes)) + " the parameters at fp16 (" + bytes(r.fp16_bytes) + ")");
  if (r.source_bytes)
    h += row("vs source file", smaller_or_larger(file, static_cast<double>(r.source_bytes)) + " the source file (" + bytes(r.source_bytes) + ")");
  h += row("parameters", with_commas(r.params) + ", " + fmt("%.2f", ratio_or_zero(8.0 * static_cast<double>(r.weight_bytes), static_cast<double>(r.params))) +
                             " bits per weight stored");
  const double m0 = static_cast<double>(r.macs_original);
  h += row("MULs per image", with_commas(r.ops.muls()) + " (float model " + with_commas(r.macs_original) + ", " +
                                 fewer_or_more(static_cast<double>(r.ops.muls()), m0) + ")");
  h += row("ADDs per image", with_commas(r.ops.adds()) + " (float model " + with_commas(r.macs_original) + ", " +
                                 fewer_or_more(static_cast<double>(r.ops.adds()), m0) + ")");
  h += row("by kind", "fp32 MACs " + with_commas(r.ops.fp32_macs) + ", int8 MACs " + with_commas(r.ops.int8_macs) + ", ternary adds " +
                          with_commas(r.ops.ternary_adds()) + ", scale muls " + with_commas(r.ops.scale_muls));
  h += row("compute energy", energy(r.energy_pj) + ", " + less_or_more(r.energy_pj, r.energy_pj_original) + " the float model at fp32 (" +
                                 energy(r.energy_pj_original) + ") and " + less_or_more(r.energy_pj, r.energy_pj_fp16) + " at fp16 (" +
                                 energy(r.energy_pj_fp16) + ")");
  if (r.accuracy) {
    const Accuracy& a = *r.accuracy;
    std::string s;
    if (a.top1_before) s += "top-1 before " + fmt("%.2f%%", *a.top1_before);
    if (a.top1_after) s += ", after " + fmt("%.2f%%", *a.top1_after);
    if (a.top5_before) s += "; top-5 before " + fmt("%.2f%%", *a.top5_before);
    if (a.top5_after) s += ", after " + fmt("%.2f%%", *a.top5_after);
    if (a.images) s += " (" + count_noun(*a.images, "image") + ")";
    h += row("accuracy", s);
  } else {
    h += row("accuracy", "not measured (compress with --eval-images to record it)");
  }
  h += "</table><p class=\"note\">Per image, batch 1. Energy is arithmetic only: MACs, ternary additions and scale "
       "multiplications of the Conv, Gemm and MatMul layers; no memory traffic, activations, bias or pooling. Energy table: " +
       escape(r.table.origin) + ".</p>";
  return h;
}

std::string layer_charts(const Report& r, const std::optional<SensitivitySummary>& sensitivity) {
  std::string h;
  std::vector<std::string> names;
  for (const auto& l : r.layers) names.push_back(l.name);

  // Bytes by encoding.
  svg::StackedBars bytes;
  bytes.rows = names;
  for (const auto& e : r.by_encoding) bytes.series.push_back(e.encoding);
  for (const auto& l : r.layers) {
    std::vector<double> v(bytes.series.size(), 0.0);
    for (const auto& e : l.by_encoding)
      for (size_t s = 0; s < bytes.series.size(); ++s)
        if (bytes.series[s] == e.encoding) v[s] += static_cast<double>(e.bytes);
    bytes.values.push_back(v);
  }
  bytes.unit = "stored bytes (weights and biases of the layer), by encoding";
  h += "<h2>Stored bytes per layer, by encoding</h2>" + svg::stacked_bars(bytes);

  // Multiplications and additions by precision.
  svg::StackedBars muls, adds;
  muls.rows = adds.rows = names;
  muls.series = {"fp32 (MACs)", "int8 (MACs)", "fp32 (ternary scales)"};
  adds.series = {"fp32 (MACs)", "int32 (int8 MACs)", "fp32 (ternary, float activations)", "int32 (ternary, int8 activations)"};
  for (const auto& l : r.layers) {
    const auto& o = l.ops;
    muls.values.push_back({static_cast<double>(o.fp32_macs), static_cast<double>(o.int8_macs), static_cast<double>(o.scale_muls)});
    adds.values.push_back({static_cast<double>(o.fp32_macs), static_cast<double>(o.int8_macs), static_cast<double>(o.ternary_adds_fp32),
                           static_cast<double>(o.ternary_adds_int32)});
  }
  muls.unit = "multiplications per image, by precision";
  adds.unit = "additions per image, by precision";
  h += "<h2>Multiplications per layer, by precision</h2>" + svg::stacked_bars(muls);
  h += "<h2>Additions per layer, by precision</h2>" + svg::stacked_bars(adds);

  // Ternary share.
  svg::StackedBars share;
  share.rows = names;
  share.series = {"ternary", "int8 / int4", "float (fp32 / fp16)"};
  share.share = true;
  for (const auto& l : r.layers) share.values.push_back(precision_shares(l));
  share.unit = "share of the layer's weights (output filters) by format";
  h += "<h2>Ternary share per layer</h2>" + svg::stacked_bars(share);

  // Sensitivity distribution.
  h += "<h2>Filter sensitivity per layer</h2>";
  if (sensitivity && !sensitivity->layers.empty()) {
    std::map<std::string, const SensitivityQuantiles*> by_name;
    for (const auto& q : sensitivity->layers) by_name[q.layer] = &q;
    std::vector<svg::BoxRow> rows;
    int64_t unmeasured = 0;
    for (const auto& l : r.layers) {
      svg::BoxRow b;
      b.label = l.name;
      auto it = by_name.find(l.name);
      if (it == by_name.end()) {
        ++unmeasured;
        continue;  // only the layers the recipe measured (split-hybrid: the pointwise convolutions)
      } else {
        const auto& q = *it->second;
        b.present = true;
        b.min = q.min, b.p10 = q.p10, b.p25 = q.p25, b.median = q.median, b.p75 = q.p75, b.p90 = q.p90, b.max = q.max;
        b.note = count_noun(q.filters, "filter");
      }
      rows.push_back(b);
    }
    h += "<p class=\"note\">Relative output error e = (w&minus;q)&#7488;C(w&minus;q) / (w&#7488;Cw) of each filter's " + escape(sensitivity->format) +
         " fit under the layer's calibration input covariance C, as measured while compressing (recorded in the file's metadata).</p>";
    h += svg::box_rows(rows, "relative output error of a " + sensitivity->format + " fit");
    if (unmeasured)
      h += "<p class=\"note\">" + count_noun(unmeasured, "other layer") + (unmeasured == 1 ? " was" : " were") +
           " not measured (the recipe only considers the layers shown).</p>";
  } else {
    h += "<p class=\"note\">Not recorded: this recipe measured no per-filter sensitivity (the hybrid recipe records it; "
         "<code>mcompress profile MODEL --calib DIR</code> measures it for any model).</p>";
  }
  return h;
}

std::string layer_table(const Report& r) {
  std::string h = "<h2>Per layer</h2><table><tr><th class=\"l\">layer</th><th class=\"l\">op</th><th class=\"l\">encoding</th><th>act</th>"
                  "<th>params</th><th>bytes</th><th>bits/weight</th><th>fp32 MACs</th><th>int8 MACs</th><th>ternary adds</th>"
                  "<th>scale muls</th><th>energy</th></tr>";
  for (const auto& l : r.layers) {
    h += "<tr><td class=\"l\">" + escape(l.name) + "</td><td class=\"l\">" + escape(l.op) + "</td><td class=\"l\">" +
         escape(encoding_summary(l, " + ")) + "</td><td>" + (l.int8_activations ? "int8" : "fp32") + "</td><td>" + with_commas(l.params) +
         "</td><td>" + with_commas(static_cast<int64_t>(l.bytes)) + "</td><td>" +
         fmt("%.2f", ratio_or_zero(8.0 * static_cast<double>(l.bytes), static_cast<double>(l.params))) + "</td><td>" + with_commas(l.ops.fp32_macs) +
         "</td><td>" + with_commas(l.ops.int8_macs) + "</td><td>" + with_commas(l.ops.ternary_adds()) + "</td><td>" + with_commas(l.ops.scale_muls) +
         "</td><td>" + energy(l.energy_pj) + "</td></tr>";
  }
  return h + "</table>";
}

// `this_file`: the bytes of the report's own file, to point out its row (0: none).
std::string sweep_section(const SweepTable& t, uint64_t this_file) {
  std::string h = "<h2>Sweep: trade-offs and Pareto front</h2>";
  h += "<p class=\"note\">Model " + escape(t.model) + "; top-1 on " + count_noun(t.eval_images, "labelled image") +
       (t.top1_float ? ", float model " + fmt("%.2f", *t.top1_float) : std::string()) +
       ". Filled points are Pareto-optimal: no other point is as small (as few multiplications) with at least the same top-1.</p>";
  svg::Scatter by_size, by_muls;
  by_size.title = "top-1 vs stored size";
  by_size.x_label = ".mcz bytes";
  by_muls.title = "top-1 vs multiplications";
  by_muls.x_label = "multiplications per image";
  by_size.y_label = by_muls.y_label = "top-1 (%)";
  by_size.log_x = true;
  for (size_t i = 0; i < t.points.size(); ++i) {
    const SweepPoint& p = t.points[i];
    if (!p.ok() || !p.top1) continue;
    by_size.points.push_back({static_cast<double>(p.bytes), *p.top1, p.label(), p.pareto_size, static_cast<int>(i + 1)});
    by_muls.points.push_back({static_cast<double>(p.muls), *p.top1, p.label(), p.pareto_muls, static_cast<int>(i + 1)});
  }
  if (t.top1_float) {
    by_size.has_reference = by_muls.has_reference = true;
    by_size.reference_y = by_muls.reference_y = *t.top1_float;
    by_size.reference_label = by_muls.reference_label = "float model";
  }
  if (by_size.points.empty()) h += "<p class=\"note\">No point has a measured top-1: nothing to plot.</p>";
  else h += svg::scatter(by_size) + svg::scatter(by_muls);
  // Points far below the float model (a recipe that destroys accuracy) squeeze the rest into a
  // line: the same plots again, limited to the points within `zoom` of the float model's top-1.
  const double zoom = 10;
  if (t.top1_float) {
    svg::Scatter near_size = by_size, near_muls = by_muls;
    near_size.points.clear();
    near_muls.points.clear();
    for (size_t i = 0; i < by_size.points.size(); ++i)
      if (by_size.points[i].y >= *t.top1_float - zoom) {
        near_size.points.push_back(by_size.points[i]);
        near_muls.points.push_back(by_muls.points[i]);
      }
    if (!near_size.points.empty() && near_size.points.size() < by_size.points.size()) {
      near_size.title += fmt(" (points within %.0f of the float model's top-1)", zoom);
      near_muls.title += fmt(" (points within %.0f of the float model's top-1)", zoom);
      h += svg::scatter(near_size) + svg::scatter(near_muls);
    }
  }
  h += "<table><tr><th>#</th><th class=\"l\">recipe</th><th class=\"l\">budget</th><th>bytes</th><th>vs fp32</th><th>MULs</th><th>ADDs</th>"
       "<th>energy</th><th>top-1</th><th>change</th><th>Pareto (size)</th><th>Pareto (MULs)</th></tr>";
  for (size_t i = 0; i < t.points.size(); ++i) {
    const SweepPoint& p = t.points[i];
    const bool mine = this_file && p.ok() && p.bytes == this_file;
    h += std::string("<tr") + (p.pareto_size || p.pareto_muls ? " class=\"front\"" : "") + "><td>" + std::to_string(i + 1) +
         "</td><td class=\"l\">" + escape(p.recipe) + (mine ? " (same size as this file)" : "") +
         "</td><td class=\"l\">" + escape(p.budget) + "</td>";
    if (!p.ok()) {
      h += "<td class=\"l\" colspan=\"9\">failed: " + escape(p.error) + "</td></tr>";
      continue;
    }
    h += "<td>" + with_commas(static_cast<int64_t>(p.bytes)) + "</td><td>" + fmt("%.2fx", p.compression_ratio) + "</td><td>" + with_commas(p.muls) +
         "</td><td>" + with_commas(p.adds) + "</td><td>" + energy(p.energy_pj) + "</td><td>" + (p.top1 ? fmt("%.2f", *p.top1) : "-") +
         "</td><td>" + (top1_change(t, p) ? fmt("%+.2f", *top1_change(t, p)) : "-") + "</td><td>" + (p.pareto_size ? "yes" : "") +
         "</td><td>" + (p.pareto_muls ? "yes" : "") + "</td></tr>";
  }
  h += "</table><p class=\"note\">Each row is reproduced by the command recorded for it in the sweep's CSV / JSON (column "
       "<code>command</code>).</p>";
  return h;
}

}  // namespace

std::string render_html_report(const HtmlReportInputs& in) {
  std::string title = in.report ? "mcompress report: " + in.report->file : in.sweep ? "mcompress sweep: " + in.sweep->model : "mcompress report";
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape(title) + "</title><style>" + style +
                  "</style></head><body><h1>" + escape(title) + "</h1>\n";
  if (in.sweep) h += sweep_section(*in.sweep, in.report ? in.report->bytes : 0) + "\n";
  if (in.report) {
    h += summary_section(*in.report) + "\n";
    h += layer_charts(*in.report, in.sensitivity) + "\n";
    h += layer_table(*in.report) + "\n";
  }
  h += "<p class=\"note\">Written by mcompress " MCOMPRESS_VERSION ". Self-contained: no script and no external reference.</p></body></html>\n";
  return h;
}

}  // namespace mc
