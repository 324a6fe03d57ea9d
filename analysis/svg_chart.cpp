#include "analysis/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mc::svg {

namespace {

const int label_width = 230;  // row labels, left of the plot
const int plot_width = 560;
const int value_width = 110;  // row totals, right of the bars
const int row_height = 16;
const int font_size = 11;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string px(double v) { return fmt("%.1f", v); }

// A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` intervals over `range`.
double nice_step(double range, int ticks) {
  if (!(range > 0)) return 1;
  double raw = range / ticks;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  double m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

std::string text(double x, double y, const std::string& s, const char* anchor = "start", const char* extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\"" + extra + ">" + escape(s) + "</text>";
}

std::string svg_open(int width, int height, const std::string& title) {
  return "<svg width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
         "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" font-family=\"sans-serif\" font-size=\"" + std::to_string(font_size) + "\" role=\"img\"><title>" + escape(title) +
         "</title>";
}

std::string legend(const std::vector<std::string>& series, double y) {
  std::string out;
  double x = label_width;
  for (size_t i = 0; i < series.size(); ++i) {
    out += "<rect x=\"" + px(x) + "\" y=\"" + px(y - 9) + "\" width=\"10\" height=\"10\" fill=\"" + series_colour(i) + "\"/>";
    out += text(x + 14, y, series[i]);
    x += 24 + 6.5 * static_cast<double>(series[i].size());
  }
  return out;
}

}  // namespace

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string series_colour(size_t i) {
  static const char* const palette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  return palette[i % std::size(palette)];
}

std::string short_number(double v) {
  double a = std::fabs(v);
  if (a == 0) return "0";
  if (a >= 1e9) return fmt("%.3gG", v / 1e9);
  if (a >= 1e6) return fmt("%.3gM", v / 1e6);
  if (a >= 1e3) return fmt("%.3gK", v / 1e3);
  if (a >= 0.01) return fmt("%.3g", v);
  return fmt("%.2g", v);
}

std::string stacked_bars(const StackedBars& c) {
  double max_total = 0;
  for (const auto& row : c.values) {
    double t = 0;
    for (double v : row) t += std::max(0.0, v);
    max_total = std::max(max_total, t);
  }
  if (c.share) max_total = 1;
  if (!(max_total > 0)) max_total = 1;
  const double step = c.share ? 0.25 : nice_step(max_total, 5);
  const double axis_max = c.share ? 1 : std::ceil(max_total / step) * step;
  const int top = 30, height = top + row_height * static_cast<int>(c.rows.size()) + 36;
  const int width = label_width + plot_width + value_width;
  std::string out = svg_open(width, height, c.unit);
  out += legend(c.series, 14);
  const double bottom = top + row_height * static_cast<double>(c.rows.size());
  for (double t = 0; t <= axis_max + step / 2; t += step) {
    double x = label_width + plot_width * t / axis_max;
    out += "<line x1=\"" + px(x) + "\" y1=\"" + px(top - 2) + "\" x2=\"" + px(x) + "\" y2=\"" + px(bottom) + "\" stroke=\"#ddd\"/>";
    out += text(x, bottom + 13, c.share ? fmt("%.0f%%", 100 * t) : short_number(t), "middle");
  }
  out += text(label_width + plot_width / 2.0, bottom + 28, c.unit, "middle");
  for (size_t r = 0; r < c.rows.size(); ++r) {
    const double y = top + row_height * static_cast<double>(r);
    out += text(label_width - 6, y + 11.5, c.rows[r].size() > 34 ? c.rows[r].substr(0, 31) + "..." : c.rows[r], "end");
    double x = label_width, total = 0;
    for (size_t s = 0; s < c.series.size() && s < c.values[r].size(); ++s) {
      double v = std::max(0.0, c.values[r][s]);
      total += v;
      double w = plot_width * v / axis_max;
      if (w <= 0) continue;
      out += "<rect x=\"" + px(x) + "\" y=\"" + px(y + 2) + "\" width=\"" + px(w) + "\" height=\"" + std::to_string(row_height - 4) +
             "\" fill=\"" + series_colour(s) + "\"><title>" + escape(c.rows[r] + ": " + c.series[s] + " " + short_number(v)) +
             "</title></rect>";
      x += w;
    }
    out += text(label_width + plot_width + 6, y + 11.5, c.share ? fmt("%.1f%%", 100 * total) : short_number(total));
  }
  return out + "</svg>";
}

std::string box_rows(const std::vector<BoxRow>& rows, const std::string& unit) {
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& r : rows) {
    if (!r.present) continue;
    double a = std::max(r.min, 1e-12), b = std::max(r.max, 1e-12);
    lo = any ? std::min(lo, a) : a;
    hi = any ? std::max(hi, b) : b;
    any = true;
  }
  if (!any) lo = 1e-3, hi = 1;
  double d0 = std::floor(std::log10(lo)), d1 = std::ceil(std::log10(hi));
  if (d1 <= d0) d1 = d0 + 1;
  auto xpos = [&](double v) { return label_width + plot_width * (std::log10(std::max(v, 1e-12)) - d0) / (d1 - d0); };
  const int top = 10, height = top + row_height * static_cast<int>(rows.size()) + 36;
  std::string out = svg_open(label_width + plot_width + value_width, height, unit);
  const double bottom = top + row_height * static_cast<double>(rows.size());
  for (double d = d0; d <= d1 + 0.5; d += 1) {
    double x = xpos(std::pow(10.0, d));
    out += "<line x1=\"" + px(x) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(bottom) + "\" stroke=\"#ddd\"/>";
    out += text(x, bottom + 13, fmt("1e%.0f", d), "middle");
  }
  out += text(label_width + plot_width / 2.0, bottom + 28, unit + " (log scale; box 25-75%, whiskers 10-90%, dots min/max)", "middle");
  for (size_t i = 0; i < rows.size(); ++i) {
    const BoxRow& r = rows[i];
    const double y = top + row_height * static_cast<double>(i), mid = y + row_height / 2.0;
    out += text(label_width - 6, y + 11.5, r.label.size() > 34 ? r.label.substr(0, 31) + "..." : r.label, "end");
    if (!r.present) {
      out += text(label_width + 4, y + 11.5, "not measured", "start", " fill=\"#888\"");
      continue;
    }
    const std::string colour = series_colour(0);
    out += "<line x1=\"" + px(xpos(r.p10)) + "\" y1=\"" + px(mid) + "\" x2=\"" + px(xpos(r.p90)) + "\" y2=\"" + px(mid) + "\" stroke=\"" +
           colour + "\"/>";
    out += "<rect x=\"" + px(xpos(r.p25)) + "\" y=\"" + px(y + 3) + "\" width=\"" + px(std::max(1.0, xpos(r.p75) - xpos(r.p25))) +
           "\" height=\"" + std::to_string(row_height - 6) + "\" fill=\"#cfe3f3\" stroke=\"" + colour + "\"><title>" +
           escape(r.label + ": median " + short_number(r.median) + ", 25-75% " + short_number(r.p25) + "-" + short_number(r.p75)) +
           "</title></rect>";
    out += "<line x1=\"" + px(xpos(r.median)) + "\" y1=\"" + px(y + 2) + "\" x2=\"" + px(xpos(r.median)) + "\" y2=\"" + px(y + row_height - 2) +
           "\" stroke=\"#000\" stroke-width=\"2\"/>";
    for (double v : {r.min, r.max})
      out += "<circle cx=\"" + px(xpos(v)) + "\" cy=\"" + px(mid) + "\" r=\"2\" fill=\"" + colour + "\"/>";
    out += text(label_width + plot_width + 6, y + 11.5, r.note);
  }
  return out + "</svg>";
}

std::string scatter(const Scatter& c) {
  const int width = 820, height = 420, left = 70, right = 190, top = 30, bottom = 50;
  const double pw = width - left - right, ph = height - top - bottom;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool any = false;
  for (const auto& p : c.points) {
    double x = c.log_x ? std::log10(std::max(p.x, 1e-12)) : p.x;
    x0 = any ? std::min(x0, x) : x;
    x1 = any ? std::max(x1, x) : x;
    y0 = any ? std::min(y0, p.y) : p.y;
    y1 = any ? std::max(y1, p.y) : p.y;
    any = true;
  }
  if (c.has_reference) {
    y0 = any ? std::min(y0, c.reference_y) : c.reference_y;
    y1 = any ? std::max(y1, c.reference_y) : c.reference_y;
  }
  // Margins so no point sits on the frame.
  double xr = x1 - x0, yr = y1 - y0;
  if (!(xr > 0)) xr = c.log_x ? 0.2 : std::max(1.0, std::fabs(x0) * 0.2);
  if (!(yr > 0)) yr = 2;
  x0 -= xr * 0.08, x1 += xr * 0.08, y0 -= yr * 0.1, y1 += yr * 0.1;
  auto X = [&](double v) { return left + pw * ((c.log_x ? std::log10(std::max(v, 1e-12)) : v) - x0) / (x1 - x0); };
  auto Y = [&](double v) { return top + ph * (1 - (v - y0) / (y1 - y0)); };
  std::string out = svg_open(width, height, c.title);
  out += text(left, 18, c.title, "start", " font-weight=\"bold\"");
  out += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(pw) + "\" height=\"" + px(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  // x ticks: decades and 2x/5x within on a log axis, nice steps on a linear one.
  std::vector<double> xticks;
  if (c.log_x) {
    for (double d = std::floor(x0); d <= std::ceil(x1); d += 1)
      for (double m : {1.0, 2.0, 5.0}) {
        double v = m * std::pow(10.0, d), lv = std::log10(v);
        if (lv >= x0 && lv <= x1) xticks.push_back(v);
      }
  } else {
    double s = nice_step(x1 - x0, 6);
    for (double v = std::ceil(x0 / s) * s; v <= x1; v += s) xticks.push_back(v);
  }
  for (double v : xticks) {
    double x = X(v);
    out += "<line x1=\"" + px(x) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(top + ph) + "\" stroke=\"#eee\"/>";
    out += text(x, top + ph + 14, short_number(v), "middle");
  }
  double ys = nice_step(y1 - y0, 6);
  for (double v = std::ceil(y0 / ys) * ys; v <= y1; v += ys) {
    double y = Y(v);
    out += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + pw) + "\" y2=\"" + px(y) + "\" stroke=\"#eee\"/>";
    out += text(left - 6, y + 4, short_number(v), "end");
  }
  out += text(left + pw / 2, height - 12, c.x_label + (c.log_x ? " (log scale)" : ""), "middle");
  out += "<text x=\"16\" y=\"" + px(top + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + px(top + ph / 2) + ")\">" +
         escape(c.y_label) + "</text>";
  if (c.has_reference) {
    double y = Y(c.reference_y);
    out += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + pw) + "\" y2=\"" + px(y) +
           "\" stroke=\"#777\" stroke-dasharray=\"5,4\"/>";
    out += text(left + pw + 6, y + 4, c.reference_label, "start", " fill=\"#555\"");
  }
  // The front as a staircase: sorted by cost; each step keeps the best top-1 reached so far.
  std::vector<const ScatterPoint*> front;
  for (const auto& p : c.points)
    if (p.front) front.push_back(&p);
  std::sort(front.begin(), front.end(), [](const ScatterPoint* a, const ScatterPoint* b) { return a->x != b->x ? a->x < b->x : a->y < b->y; });
  if (front.size() > 1) {
    std::string path = "M" + px(X(front[0]->x)) + "," + px(Y(front[0]->y));
    for (size_t i = 1; i < front.size(); ++i) path += " H" + px(X(front[i]->x)) + " V" + px(Y(front[i]->y));
    out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + series_colour(5) + "\" stroke-width=\"1.5\"/>";
  }
  // Points are numbered as in the table (1-based, grid order); labels are placed greedily at the
  // first of four positions around the point that overlaps no label placed before (front points
  // first, so they keep their names; a dominated point whose label fits nowhere shows its number).
  struct Box {
    double x0, y0, x1, y1;
  };
  std::vector<Box> placed;
  auto overlaps = [&](const Box& b) {
    if (b.x0 < left || b.x1 > left + pw || b.y0 < top - 2 || b.y1 > top + ph + 2) return true;
    for (const auto& q : placed)
      if (b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1) return true;
    return false;
  };
  for (const auto& p : c.points) placed.push_back({X(p.x) - 5, Y(p.y) - 5, X(p.x) + 5, Y(p.y) + 5});
  std::vector<size_t> order;
  for (size_t i = 0; i < c.points.size(); ++i)
    if (c.points[i].front) order.push_back(i);
  for (size_t i = 0; i < c.points.size(); ++i)
    if (!c.points[i].front) order.push_back(i);
  std::string labels;
  for (size_t i : order) {
    const auto& p = c.points[i];
    const double x = X(p.x), y = Y(p.y);
    const std::string number = std::to_string(p.number > 0 ? p.number : static_cast<int>(i + 1));
    bool done = false;
    for (const std::string& candidate : {number + " " + p.label, number}) {
      const double w = 6.3 * static_cast<double>(candidate.size()), hgt = 12;
      const Box boxes[] = {{x + 7, y - 16, x + 7 + w, y - 16 + hgt}, {x + 7, y + 4, x + 7 + w, y + 4 + hgt},
                           {x - 7 - w, y - 16, x - 7, y - 16 + hgt}, {x - 7 - w, y + 4, x - 7, y + 4 + hgt}};
      for (const Box& b : boxes) {
        if (overlaps(b)) continue;
        placed.push_back(b);
        labels += text(b.x0, b.y1 - 2, candidate, "start", p.front ? " font-weight=\"bold\"" : " fill=\"#555\"");
        done = true;
        break;
      }
      if (done) break;
    }
  }
  for (const auto& p : c.points) {
    double x = X(p.x), y = Y(p.y);
    out += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"5\" fill=\"" + (p.front ? series_colour(5) : std::string("#fff")) +
           "\" stroke=\"" + (p.front ? series_colour(5) : std::string("#555")) + "\" stroke-width=\"1.5\"><title>" +
           escape(p.label + ": " + short_number(p.x) + ", " + fmt("%.2f", p.y)) + "</title></circle>";
  }
  out += labels;
  // Legend.
  double lx = left + pw + 12, ly = top + ph - 24;
  out += "<circle cx=\"" + px(lx) + "\" cy=\"" + px(ly - 4) + "\" r=\"5\" fill=\"" + series_colour(5) + "\"/>" + text(lx + 10, ly, "Pareto-optimal");
  out += "<circle cx=\"" + px(lx) + "\" cy=\"" + px(ly + 14) + "\" r=\"5\" fill=\"#fff\" stroke=\"#555\"/>" + text(lx + 10, ly + 18, "dominated");
  return out + "</svg>";
}

}  // namespace mc::svg
