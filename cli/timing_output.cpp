#include "cli/timing_output.h"

#include <algorithm>
#include <cstdio>

#include "analysis/rounding.h"
#include "cli/common.h"

namespace mc::cli {

namespace {
double share_of(double seconds, double total) { return total > 0 ? seconds / total : 0; }
}  // namespace

void print_timing(const StageTimer::Snapshot& timing) {
  size_t width = 5;
  for (const auto& s : timing.stages) width = std::max(width, s.name.size());
  for (const auto& s : timing.stages)
    std::fprintf(stderr, "  time      %-*s %9s s %6s%%%s\n", static_cast<int>(width), s.name.c_str(), fixed(s.seconds, 2).c_str(),
                 fixed(100 * share_of(s.seconds, timing.total_seconds), 1).c_str(),
                 s.count > 1 ? ("  (" + std::to_string(s.count) + " times)").c_str() : "");
  std::fprintf(stderr, "  time      %-*s %9s s %6s%%\n", static_cast<int>(width), "total", fixed(timing.total_seconds, 2).c_str(), "100.0");
  std::fprintf(stderr, "  memory    peak resident %s MB\n", fixed(static_cast<double>(timing.peak_rss_bytes) / 1e6, 1).c_str());
}

nlohmann::ordered_json timing_json(const StageTimer::Snapshot& timing) {
  nlohmann::ordered_json j;
  j["total_seconds"] = round_decimals(timing.total_seconds, 3);
  j["peak_rss_bytes"] = timing.peak_rss_bytes;
  j["stages"] = nlohmann::ordered_json::array();
  for (const auto& s : timing.stages) {
    nlohmann::ordered_json sj;
    sj["stage"] = s.name;
    sj["seconds"] = round_decimals(s.seconds, 3);
    sj["share"] = round_decimals(share_of(s.seconds, timing.total_seconds), 4);
    sj["count"] = s.count;
    j["stages"].push_back(sj);
  }
  return j;
}

}  // namespace mc::cli
