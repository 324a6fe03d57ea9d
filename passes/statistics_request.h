// One point where a pipeline asks for calibration statistics (passes/pipeline_statistics.h): kept
// apart so that recipe.h can name it without the pass machinery.
#pragma once

#include <cstddef>
#include <string>

#include "analysis/statistics_cache.h"

namespace mc {

// Before pass `index` (0-based) of the pipeline, named `pass`.
struct StatisticsRequest {
  size_t index = 0;
  std::string pass;
  StatisticsKey key;  // what the statistics were filed under in the cache
};

}  // namespace mc
