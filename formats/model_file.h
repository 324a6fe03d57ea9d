// Opening any model file mcompress accepts: ONNX or .mcz, told apart by their first bytes.
#pragma once

#include <string>

#include "core/graph.h"

namespace mc {

// Reads PATH ("-" is stdin) and returns the runnable model; .mcz tensors are decoded.
Model load_model(const std::string& path);

}  // namespace mc
