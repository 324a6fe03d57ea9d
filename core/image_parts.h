// Whether a model computes each image of a batch from that image alone, so that the executor may run
// a batch in parts of a few images (executor.h) and get the same outputs.
//
// The check is conservative: every node that reads a per-image value (one whose first dimension is
// the batch) must be an op known to keep images apart with the attributes it has (a Conv, an
// element-wise op whose constants do not vary along the batch, a Softmax or Concat on another axis,
// a Transpose that keeps the batch first, a Reshape that keeps it, ...); values computed from the
// batch size alone (Shape -> Gather -> Concat, as PyTorch exports a flatten) may only give a
// Reshape its shape; and the shapes inferred at batch 1 and 2 must show every per-image value with
// the batch as its first dimension and all else equal. Anything else, an op this file does not know
// included, answers no, and the batch runs whole.
#pragma once

#include "core/graph.h"

namespace mc {

bool images_independent(const Model& model);

}  // namespace mc
