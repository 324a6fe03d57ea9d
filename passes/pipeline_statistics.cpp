#include "passes/pipeline_statistics.h"

#include "core/error.h"

namespace mc {

std::vector<size_t> statistics_request_points(const std::vector<PassInvocation>& pipeline) {
  std::vector<size_t> points;
  bool cached = false;  // statistics the manager still holds
  for (size_t i = 0; i < pipeline.size(); ++i) {
    if (pipeline[i].reads_statistics() && !cached) {
      points.push_back(i);
      cached = true;
    }
    cached = cached && (pipeline[i].info->preserved & preserves(AnalysisKind::calibration_statistics));
  }
  return points;
}

std::vector<StatisticsRequest> gather_pipeline_statistics(Model model, const std::vector<PassInvocation>& pipeline, PassContext& context) {
  if (!context.statistics_cache) fail_internal("gather_pipeline_statistics: no statistics cache to fill");
  std::vector<StatisticsRequest> requests;
  size_t done = 0;
  for (size_t point : statistics_request_points(pipeline)) {
    // The passes before the point, exactly as run_pipeline runs them (its first call sets up the
    // analysis manager with the float model, as a whole run's does).
    run_pipeline(model, std::vector<PassInvocation>(pipeline.begin() + static_cast<std::ptrdiff_t>(done), pipeline.begin() + static_cast<std::ptrdiff_t>(point)),
                 context);
    done = point;
    context.statistics(model);
    requests.push_back(StatisticsRequest{point, pipeline[point].name, context.statistics_cache->key(model, context.calibration)});
  }
  return requests;
}

}  // namespace mc
