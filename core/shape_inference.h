// Static shape inference: every value's element type and shape for concrete graph-input shapes,
// plus the values of everything computable from constants and shapes (Shape -> Gather -> Concat
// chains fold to constants here). Uses each kernel's `infer`, so it agrees with the executor.
#pragma once

#include <map>
#include <string>

#include "core/graph.h"
#include "core/op_registry.h"

namespace mc {

struct InferredGraph {
  std::map<std::string, TensorType> types;
  std::map<std::string, Tensor> constants;  // computed values (not initializers)
  // The inferred shape of `value`; an empty shape when it has none.
  const Shape& shape_of(const std::string& value) const;
};

// Symbolic dims of a declared input become `batch`.
Shape concrete_input_shape(const ValueInfo& input, int64_t batch);

// Fails with an unsupported error naming the op, node and opset for an op without a kernel, and
// with an input error for inconsistent shapes or shapes over the element cap.
InferredGraph infer_shapes(const Model& model, int64_t batch = 1);

// Checks the opset range and that every op has a kernel (unsupported error otherwise) and exists at
// the model's opset (input error otherwise: an op newer than the opset the model imports).
void check_supported(const Model& model);

}  // namespace mc
