// Plan-time fusion of an integer layer's float epilogue: the form `export --qdq` gives a layer ONNX
// Runtime would otherwise run in float (formats/qdq_export.cpp: an int8 layer whose output is not
// requantized, and every term of a hybrid weight),
//
//   ConvInteger(x_q, w_q, x_zp, w_zp) -> Cast(float) -> Mul(per-channel scale) [-> Add(addend)]
//
// runs as one step (core/ops/integer_conv.h): the integer sums are scaled, added and passed through
// a following Relu/Clip in one pass over the output instead of four, with the same float operations
// in the same order, so the values are bit-identical (tests/test_integer_conv.cpp). The addend is a
// per-channel bias, the previous terms' sum of a hybrid layer, or anything else Add accepts. Each
// value inside the chain must have the next op as its only reader and not be a graph output; the
// fused step runs where the last op of the chain ran, when every input of the chain is computed.
#include "core/executor.h"
#include "core/ops/integer_conv.h"

namespace mc {

void Executor::fuse_integer_chains(const std::vector<int>& readers, const std::vector<size_t>& reader_step) {
  const Graph& g = model_.graph;
  if (model_.opset < 7) return;  // Mul and Add broadcast as numpy does from opset 7
  // The step reading `v` when it is v's only reader and v is not a graph output.
  auto sole_reader = [&](int v, const char* op) -> Step* {
    if (v < 0 || readers[static_cast<size_t>(v)] != 1 || g.is_graph_output(value_names_[static_cast<size_t>(v)])) return nullptr;
    Step& s = steps_[reader_step[static_cast<size_t>(v)]];
    if (s.skipped || s.node->op != op || s.outputs.size() != 1 || s.outputs[0] < 0) return nullptr;
    return &s;
  };
  // The input of a two-input step other than `v` (-1 when both are v or the step has not two).
  auto other_input = [](const Step& s, int v) {
    if (s.inputs.size() != 2 || s.inputs[0] == s.inputs[1]) return -1;
    return s.inputs[0] == v ? s.inputs[1] : s.inputs[1] == v ? s.inputs[0] : -1;
  };
  for (Step& conv : steps_) {
    if (conv.skipped || conv.node->op != "ConvInteger" || conv.outputs.size() != 1 || conv.inputs.size() < 2) continue;
    const Tensor* w = conv.inputs[1] >= 0 ? constant_[static_cast<size_t>(conv.inputs[1])] : nullptr;
    if (!w || w->rank() < 3) continue;
    Step* cast = sole_reader(conv.outputs[0], "Cast");
    if (!cast || cast->inputs.size() != 1 || cast->node->attr_int("to", 0) != static_cast<int64_t>(DType::f32)) continue;
    Step* mul = sole_reader(cast->outputs[0], "Mul");
    if (!mul) continue;
    const int scale = other_input(*mul, cast->outputs[0]);
    const Tensor* scale_value = scale >= 0 ? constant_[static_cast<size_t>(scale)] : nullptr;
    Shape out_like(w->rank(), 1);
    out_like[1] = w->dim(0);
    if (!scale_value || scale_value->dtype() != DType::f32 || !broadcasts_per_channel(scale_value->shape(), out_like)) continue;
    Step* add = sole_reader(mul->outputs[0], "Add");
    const int addend = add ? other_input(*add, mul->outputs[0]) : -1;
    if (addend < 0) add = nullptr;

    Node& f = integer_chains_.emplace_back(*conv.node);
    f.op = "ConvIntegerScaled";
    std::vector<int> inputs = conv.inputs;
    inputs.resize(4, -1);
    inputs.push_back(scale);
    if (add) {
      inputs.push_back(addend);
      if (add->inputs[0] == addend) f.attrs["addend_first"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
    }
    Step& last = add ? *add : *mul;
    f.inputs.clear();
    for (int v : inputs) f.inputs.push_back(v >= 0 ? value_names_[static_cast<size_t>(v)] : std::string());
    f.outputs = {value_names_[static_cast<size_t>(last.outputs[0])]};
    conv.skipped = cast->skipped = true;
    if (add) mul->skipped = true;
    last.node = &f;
    last.kernel = &scaled_conv_integer_kernel();
    last.inputs = inputs;
  }
}

}  // namespace mc
