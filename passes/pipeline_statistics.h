// The calibration statistics a pipeline will ask for, computed ahead of it (`mcompress calibrate`).
// A pass that needs calibration images asks the analysis manager for the statistics of the model
// as it is when the pass runs; the manager computes them unless statistics cached since the last
// pass that did not preserve them are still valid (passes/analysis_manager.h). Which passes ask for
// new statistics therefore follows from the pipeline's rows alone, and the model at each such point
// is what the passes before it make of the input. gather_pipeline_statistics runs the pipeline up to
// its last such point, asking at each, and stops: the passes after it (a budget search, the final
// encodings) never run.
#pragma once

#include <string>
#include <vector>

#include "analysis/statistics_cache.h"
#include "core/graph.h"
#include "passes/pass.h"
#include "passes/statistics_request.h"

namespace mc {

// The indices of the passes that ask for new statistics, in order.
std::vector<size_t> statistics_request_points(const std::vector<PassInvocation>& pipeline);

// Runs `pipeline` on `model` (a copy) as far as its last request point, with `context` as
// run_pipeline would, computing the statistics at every request point into
// `context.statistics_cache` (which must be set). Returns the points in order.
std::vector<StatisticsRequest> gather_pipeline_statistics(Model model, const std::vector<PassInvocation>& pipeline, PassContext& context);

}  // namespace mc
