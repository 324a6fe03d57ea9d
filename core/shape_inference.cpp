#include "core/shape_inference.h"

#include <algorithm>

#include "core/ops/kernel_util.h"

namespace mc {

const Shape& InferredGraph::shape_of(const std::string& value) const {
  static const Shape none;
  auto it = types.find(value);
  return it == types.end() ? none : it->second.shape;
}

Shape concrete_input_shape(const ValueInfo& input, int64_t batch) {
  Shape s = input.shape;
  for (auto& d : s)
    if (d < 0) d = batch;
  return s;
}

void check_supported(const Model& model) {
  if (model.opset < min_opset || model.opset > max_opset)
    fail_unsupported("opset " + std::to_string(model.opset) + " is not supported (supported: " +
                     std::to_string(min_opset) + " to " + std::to_string(max_opset) + ")");
  for (const auto& node : model.graph.nodes) {
    const OpKernel* kernel = find_kernel(node.op);
    if (!kernel)
      fail_unsupported("unsupported op '" + node.op + "' in node '" + node.name + "' (opset " +
                       std::to_string(model.opset) + ")");
    // An op newer than the model's opset is not part of the model's ONNX: an invalid model.
    if (model.opset < kernel->since)
      fail_input(node.describe() + ": the op does not exist before opset " + std::to_string(kernel->since) +
                 " (the model imports opset " + std::to_string(model.opset) + ")");
  }
}

InferredGraph infer_shapes(const Model& model, int64_t batch) {
  check_supported(model);
  const Graph& g = model.graph;
  InferredGraph result;
  for (const auto& [name, init] : g.initializers) result.types[name] = TensorType{init.values.dtype(), init.values.shape()};
  for (const auto& in : g.inputs) {
    if (!in.shape_known) fail_unsupported("graph input '" + in.name + "' has no declared shape");
    Shape s = concrete_input_shape(in, batch);
    shape_numel(s);
    result.types[in.name] = TensorType{in.dtype, s};
  }
  auto known_value = [&](const std::string& name) -> const Tensor* {
    if (const Tensor* t = g.initializer(name)) return t;
    auto it = result.constants.find(name);
    return it == result.constants.end() ? nullptr : &it->second;
  };
  ThreadPool serial(1);
  for (const auto& node : g.nodes) {
    const OpKernel* kernel = find_kernel(node.op);
    InferContext ctx{node, model.opset, {}, {}, {}};
    bool all_known = true;
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        ctx.in.push_back({});
        ctx.value.push_back(nullptr);
        continue;
      }
      auto it = result.types.find(in);
      if (it == result.types.end()) fail_input(node.describe() + ": input '" + in + "' has no known type");
      ctx.in.push_back(it->second);
      ctx.value.push_back(known_value(in));
      all_known = all_known && ctx.value.back();
    }
    kernel->infer(ctx);
    if (ctx.out.size() != node.outputs.size())
      fail_input(node.describe() + ": has " + std::to_string(node.outputs.size()) + " outputs, expected " +
                 std::to_string(ctx.out.size()));
    int64_t out_elements = 0;
    for (size_t i = 0; i < ctx.out.size(); ++i) {
      int64_t n = shape_numel(ctx.out[i].shape);
      out_elements += n;
      if (!node.outputs[i].empty()) result.types[node.outputs[i]] = ctx.out[i];
    }
    // Fold what is computable: all inputs known, or a Shape of a known shape. Kept small: this is
    // for shape arithmetic, not for precomputing large tensors.
    bool foldable = (all_known || node.op == "Shape") && out_elements <= (1 << 16);
    if (!foldable) continue;
    std::vector<Tensor> outs(ctx.out.size());
    for (size_t i = 0; i < outs.size(); ++i) outs[i].reset(ctx.out[i].dtype, ctx.out[i].shape);
    if (node.op == "Shape" && !ctx.value[0]) {
      // Shape reads only its input's shape, which is known here even when the values are not.
      const Shape& s = ctx.in[0].shape;
      auto [start, end] = shape_op_range(node, model.opset, static_cast<int64_t>(s.size()));
      outs[0] = Tensor::from_vector<int64_t>({end - start}, std::vector<int64_t>(s.begin() + start, s.begin() + end));
    } else {
      RunContext run{node, model.opset, ctx.value, {}, serial, std::nullopt};
      for (auto& t : outs) run.out.push_back(&t);
      kernel->run(run);
    }
    for (size_t i = 0; i < outs.size(); ++i)
      if (!node.outputs[i].empty()) result.constants[node.outputs[i]] = std::move(outs[i]);
  }
  for (const auto& out : g.outputs)
    if (!result.types.count(out.name)) fail_input("graph output '" + out.name + "' is never computed");
  return result;
}

}  // namespace mc
