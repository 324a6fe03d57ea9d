// fc-to-gemm: a MatMul of a 2-D activation by a constant [K, N] weight, optionally followed by an
// Add of a constant [N] bias, becomes Gemm(x, W^T, bias) with transB=1. Every fully connected layer
// then stores its filters as rows, the layout the quantization passes and the .mcz per-channel
// encodings use (MobileNetV2 and ShuffleNetV2 exports end in MatMul + Add).
#include "core/shape_inference.h"
#include "passes/pass.h"

namespace mc {

void run_fc_to_gemm(Model& model, const PassOptions&, PassContext&) {
  Graph& g = model.graph;
  InferredGraph shapes = infer_shapes(model, 1);
  std::vector<bool> remove(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& mm = g.nodes[i];
    if (mm.op != "MatMul" || mm.inputs.size() != 2) continue;
    const Tensor* w = g.initializer(mm.inputs[1]);
    auto x = shapes.types.find(mm.inputs[0]);
    if (!w || w->dtype() != DType::f32 || w->rank() != 2 || x == shapes.types.end() || x->second.shape.size() != 2) continue;
    g.check_not_encoded(mm.inputs[1], "fc-to-gemm");
    const int64_t k = w->dim(0), n = w->dim(1);
    Tensor wt(DType::f32, {n, k});
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c) wt.data<float>()[c * k + r] = w->data<float>()[r * n + c];
    std::string wt_name = g.fresh_name(mm.inputs[1] + "_transposed");
    g.initializers[wt_name] = std::move(wt);
    mm.op = "Gemm";
    mm.inputs[1] = wt_name;
    mm.attrs.clear();
    mm.attrs["transB"] = Attribute{AttrType::integer, 0, 1, {}, {}, {}, {}, {}};
    // A following Add of a constant [N] (or [1, N]) bias becomes the Gemm's C.
    auto users = g.consumers(mm.outputs[0]);
    if (users.size() != 1 || g.is_graph_output(mm.outputs[0])) continue;
    Node& add = g.nodes[static_cast<size_t>(users[0])];
    if (add.op != "Add" || add.inputs.size() != 2) continue;
    const std::string& other = add.inputs[0] == mm.outputs[0] ? add.inputs[1] : add.inputs[0];
    const Tensor* b = g.initializer(other);
    if (!b || b->dtype() != DType::f32 || b->numel() != n || (b->rank() != 1 && !(b->rank() == 2 && b->dim(0) == 1))) continue;
    Tensor bias = *b;
    bias.reshape({n});
    std::string b_name = g.fresh_name(other + "_gemm_bias");
    g.initializers[b_name] = std::move(bias);
    mm.inputs.push_back(b_name);
    mm.outputs[0] = add.outputs[0];
    remove[static_cast<size_t>(users[0])] = true;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!remove[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  g.remove_dead();
}

}  // namespace mc
