// Plan-time fusion of an activation's fake quantization: a QuantizeLinear with one scale and zero
// point whose output only a DequantizeLinear (one scale and zero point too) reads, as a float model
// simulating int8 activations has before every layer (the budget and allocation probes of the
// hybrid and prom recipes run such models), runs as one QuantizeDequantize step
// (core/ops/quantize_dequantize.h): the same values, without the 8-bit tensor in between. Pairs
// with per-axis parameters, parameters computed at run time, blocked quantization or zero points
// whose types disagree run as written, so their own kernels check them.
#include "core/executor.h"
#include "core/ops/quantize_dequantize.h"

namespace mc {

void Executor::fuse_fake_quantization(const std::vector<int>& readers, const std::vector<size_t>& reader_step) {
  const Graph& g = model_.graph;
  // The constant of input `k` of a step if it holds one value (nullptr: omitted); `ok` false when
  // the input is given but is not such a constant.
  auto single = [&](const Step& s, size_t k, bool& ok) -> const Tensor* {
    if (k >= s.inputs.size() || s.inputs[k] < 0) return nullptr;
    const Tensor* t = constant_[static_cast<size_t>(s.inputs[k])];
    if (!t || t->numel() != 1 || t->rank() > 1) ok = false;
    return t;
  };
  for (Step& q : steps_) {
    if (q.skipped || q.node->op != "QuantizeLinear" || q.outputs.size() != 1 || q.outputs[0] < 0 || q.inputs.empty() || q.inputs[0] < 0)
      continue;
    const auto v = static_cast<size_t>(q.outputs[0]);
    if (readers[v] != 1 || g.is_graph_output(value_names_[v])) continue;
    Step& d = steps_[reader_step[v]];
    if (d.skipped || d.node->op != "DequantizeLinear" || d.inputs.empty() || d.inputs[0] != q.outputs[0] || d.outputs.size() != 1) continue;
    if (q.node->attr_int("block_size", 0) != 0 || d.node->attr_int("block_size", 0) != 0) continue;
    bool ok = true;
    const Tensor* scale = single(q, 1, ok);
    const Tensor* zero_point = single(q, 2, ok);
    const Tensor* dequantize_scale = single(d, 1, ok);
    const Tensor* dequantize_zero_point = single(d, 2, ok);
    if (!ok || !scale || !dequantize_scale || scale->dtype() != DType::f32 || dequantize_scale->dtype() != DType::f32) continue;
    // The 8-bit type: the zero point's, else output_dtype (opset 21), else uint8; the
    // DequantizeLinear's zero point must be of the same type.
    const int64_t output_dtype = model_.opset >= 21 ? q.node->attr_int("output_dtype", 0) : 0;
    DType type = output_dtype != 0 ? static_cast<DType>(output_dtype) : DType::u8;
    if (zero_point) type = zero_point->dtype();
    if ((type != DType::u8 && type != DType::i8) || (output_dtype != 0 && static_cast<DType>(output_dtype) != type)) continue;
    if (dequantize_zero_point && dequantize_zero_point->dtype() != type) continue;

    Node& f = fake_quantizations_.emplace_back(Node{q.node->name + "/dequantized", "QuantizeDequantize", {}, {}, {}});
    f.attrs["quantized_type"] = Attribute{AttrType::integer, 0, static_cast<int64_t>(type), {}, {}, {}, {}, {}};
    std::vector<int> inputs{q.inputs[0], q.inputs[1], q.inputs.size() > 2 ? q.inputs[2] : -1, d.inputs[1], d.inputs.size() > 2 ? d.inputs[2] : -1};
    for (int id : inputs) f.inputs.push_back(id >= 0 ? value_names_[static_cast<size_t>(id)] : std::string());
    f.outputs = {value_names_[static_cast<size_t>(d.outputs[0])]};
    q.skipped = true;
    d.node = &f;
    d.kernel = &quantize_dequantize_kernel();
    d.inputs = inputs;
  }
}

}  // namespace mc
