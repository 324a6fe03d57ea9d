#include "app/statistics_from_file.h"

#include "analysis/statistics_binding.h"
#include "analysis/statistics_file.h"
#include "core/error.h"
#include "core/stage_timer.h"
#include "formats/file_io.h"

namespace mc {

std::shared_ptr<StatisticsCache> statistics_for_run(const std::string& path, const StatisticsRun& run) {
  if (!run.source || !run.fit) fail_internal("statistics_for_run: no model or no calibration sample");
  TimedStage timed("reading --stats");
  const std::string name = path == "-" ? std::string("<stdin>") : path;
  const std::vector<std::byte> bytes = read_binary_file(path);
  const StatisticsFile file = read_statistics_file(bytes, name);
  auto cache = std::make_shared<StatisticsCache>();
  const CalibrationSet none;
  const StatisticsBinding binding = statistics_binding(*run.source, run.seed, run.calib_count, *run.fit, run.held_out ? *run.held_out : none,
                                                       [&](const std::string& f) { return cache->file_sha256(f); });
  std::vector<std::string> files = run.fit->files;
  if (run.held_out) files.insert(files.end(), run.held_out->files.begin(), run.held_out->files.end());
  check_statistics_binding(name, file.binding, binding, run.model_name, files, run.held_out != nullptr);
  for (const auto& e : file.entries) cache->add(e.key, e.stats);
  return cache;
}

}  // namespace mc
