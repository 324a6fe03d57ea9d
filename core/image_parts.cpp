// Which models keep the images of a batch apart (core/image_parts.h).
#include "core/image_parts.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "core/shape_inference.h"

namespace mc {

namespace {

// What a value depends on: nothing the inputs carry, the batch size only, or each image on its own.
enum class Kind { constant, batch_size, per_image };

const std::set<std::string>& elementwise_ops() {
  static const std::set<std::string> ops{"Abs", "Add", "Cast", "Clip", "Div", "Dropout", "Elu", "Erf", "Exp",
                                         "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Max", "Mean", "Min",
                                         "Mul", "Neg", "PRelu", "Reciprocal", "Relu", "Selu", "Sigmoid", "Softplus",
                                         "Sqrt", "Sub", "Sum", "Tanh"};
  return ops;
}

// Ops whose first input is the per-image one and whose other inputs are constants that apply to
// every image alike.
const std::set<std::string>& per_image_ops() {
  static const std::set<std::string> ops{"Conv", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool",
                                         "GlobalAveragePool", "BatchNormalization"};
  return ops;
}

class Checker {
 public:
  explicit Checker(const Model& model) : model_(model), g_(model.graph) {}

  bool run() {
    for (const auto& in : g_.inputs) {
      // The batch is the first dimension, symbolic; the executor rejects other sizes of fixed dims.
      if (in.shape.empty() || in.shape[0] >= 0) return false;
      for (size_t d = 1; d < in.shape.size(); ++d)
        if (in.shape[d] < 0) return false;
      kind_[in.name] = Kind::per_image;
    }
    try {
      at1_ = infer_shapes(model_, 1);
      at2_ = infer_shapes(model_, 2);
    } catch (const std::exception&) {  // shapes that do not work out at batch 1 or 2
      return false;
    }
    for (const auto& node : g_.nodes)
      if (!visit(node)) return false;
    for (const auto& out : g_.outputs)
      if (kind(out.name) != Kind::per_image) return false;
    return true;
  }

 private:
  Kind kind(const std::string& v) const {
    auto it = kind_.find(v);
    return it == kind_.end() ? Kind::constant : it->second;  // initializers and omitted inputs
  }
  bool known(const std::string& v) const { return v.empty() || kind_.count(v) || g_.initializer(v); }

  // A constant input's values (an initializer or a value computed from constants), if any.
  const Tensor* constant(const Node& n, size_t i) const {
    if (!n.has_input(i) || kind(n.inputs[i]) != Kind::constant) return nullptr;
    if (const Tensor* t = g_.initializer(n.inputs[i])) return t;
    auto it = at1_.constants.find(n.inputs[i]);
    return it == at1_.constants.end() ? nullptr : &it->second;
  }
  std::optional<std::vector<int64_t>> ints(const Node& n, size_t i) const {
    const Tensor* t = constant(n, i);
    if (!t || (t->dtype() != DType::i64 && t->dtype() != DType::i32)) return std::nullopt;
    return t->to_int64_vector();
  }
  int64_t rank(const std::string& v) const { return static_cast<int64_t>(at1_.shape_of(v).size()); }

  // Whether an axis of a tensor of rank `r` is the batch's (negative axes count from the end).
  static bool is_batch_axis(int64_t axis, int64_t r) { return axis == 0 || axis == -r; }
  static bool any_batch_axis(const std::vector<int64_t>& axes, int64_t r) {
    return std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return is_batch_axis(a, r); });
  }

  // A per-image value: the batch first at both batch sizes, every other dimension the same.
  bool batch_first(const std::string& v) const {
    const Shape& s1 = at1_.shape_of(v);
    const Shape& s2 = at2_.shape_of(v);
    return !s1.empty() && s1.size() == s2.size() && s1[0] == 1 && s2[0] == 2 &&
           std::equal(s1.begin() + 1, s1.end(), s2.begin() + 1);
  }

  // The inputs other than the per-image one(s) must be constants.
  bool others_constant(const Node& n, const std::set<size_t>& per_image) const {
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (!per_image.count(i) && n.has_input(i) && kind(n.inputs[i]) != Kind::constant) return false;
    return true;
  }

  // The axes a Reduce / Squeeze / Unsqueeze names: the attribute, or the constant second input.
  std::optional<std::vector<int64_t>> axes(const Node& n) const {
    if (n.has("axes")) return n.attr_ints("axes");
    if (n.has_input(1)) return ints(n, 1);
    return std::nullopt;
  }

  bool keeps_images(const Node& n) const {
    const std::string& op = n.op;
    const int64_t r = rank(n.inputs[0]);
    if (elementwise_ops().count(op)) {
      // Every input per-image at the output's rank, or a constant that does not vary along the batch.
      const int64_t out_rank = rank(n.outputs[0]);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (!n.has_input(i)) continue;
        const Kind k = kind(n.inputs[i]);
        if (k == Kind::batch_size) return false;
        const Shape& s = at1_.shape_of(n.inputs[i]);
        if (k == Kind::per_image && static_cast<int64_t>(s.size()) != out_rank) return false;
        if (k == Kind::constant && static_cast<int64_t>(s.size()) == out_rank && s[0] != 1) return false;
      }
      return true;
    }
    if (per_image_ops().count(op)) return kind(n.inputs[0]) == Kind::per_image && others_constant(n, {0}) && n.outputs.size() == 1;
    if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      const Tensor* scale = constant(n, 1);
      const bool per_axis = !scale || scale->numel() > 1;
      return others_constant(n, {0}) && !(per_axis && is_batch_axis(n.attr_int("axis", 1), r));
    }
    if (op == "Pad") {
      std::optional<std::vector<int64_t>> pads = n.has("pads") ? std::optional(n.attr_ints("pads")) : ints(n, 1);
      return others_constant(n, {0}) && !n.has_input(3) && pads && static_cast<int64_t>(pads->size()) == 2 * r &&
             (*pads)[0] == 0 && (*pads)[static_cast<size_t>(r)] == 0;
    }
    if (op == "Softmax") return others_constant(n, {0}) && !is_batch_axis(n.attr_int("axis", model_.opset < 13 ? 1 : -1), r);
    if (op == "Flatten") return !is_batch_axis(n.attr_int("axis", 1), r);
    if (op == "Concat") {
      for (const auto& in : n.inputs)
        if (kind(in) != Kind::per_image) return false;
      return !is_batch_axis(n.attr_int("axis", 0), r);
    }
    if (op == "Split") return others_constant(n, {0}) && !is_batch_axis(n.attr_int("axis", 0), r);
    if (op == "Transpose") {
      const auto perm = n.attr_ints("perm");
      return !perm.empty() && perm[0] == 0;
    }
    if (op == "Reshape")  // the shape a constant or computed from the batch size; batch_first checks the result
      return kind(n.inputs[0]) == Kind::per_image && n.inputs.size() == 2;
    if (op == "Squeeze" || op == "Unsqueeze") {
      const auto a = axes(n);
      return others_constant(n, {0}) && a && !any_batch_axis(*a, op == "Squeeze" ? r : rank(n.outputs[0]));
    }
    if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin") {
      const auto a = axes(n);
      return others_constant(n, {0}) && a && !a->empty() && !any_batch_axis(*a, r);
    }
    if (op == "Gather") return others_constant(n, {0}) && !is_batch_axis(n.attr_int("axis", 0), r);
    if (op == "Slice") {
      if (model_.opset < 10) return n.has("axes") && !any_batch_axis(n.attr_ints("axes"), r);
      const auto a = ints(n, 3);
      return others_constant(n, {0}) && a && !any_batch_axis(*a, r);
    }
    if (op == "Gemm") {
      const Tensor* c = constant(n, 2);
      return kind(n.inputs[0]) == Kind::per_image && others_constant(n, {0}) && n.attr_int("transA", 0) == 0 &&
             (!n.has_input(2) || (c && (c->rank() < 2 || c->dim(0) == 1)));
    }
    if (op == "MatMul") return others_constant(n, {0}) && r >= 2 && rank(n.inputs[1]) <= 2;
    return false;
  }

  bool visit(const Node& n) {
    bool per_image = false, batch_size = false;
    for (const auto& in : n.inputs) {
      if (!known(in)) return false;  // not in topological order: give up
      per_image = per_image || kind(in) == Kind::per_image;
      batch_size = batch_size || kind(in) == Kind::batch_size;
    }
    Kind out = Kind::constant;
    if (n.op == "Shape" && per_image) {
      out = Kind::batch_size;
    } else if (per_image) {
      // A value of the batch size only may be a Reshape's shape, nothing else.
      for (size_t i = 0; i < n.inputs.size(); ++i)
        if (n.has_input(i) && kind(n.inputs[i]) == Kind::batch_size && !(n.op == "Reshape" && i == 1)) return false;
      if (!keeps_images(n)) return false;
      out = Kind::per_image;
    } else if (batch_size) {
      out = Kind::batch_size;
    }
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      if (out == Kind::per_image && !batch_first(o)) return false;
      kind_[o] = out;
    }
    return true;
  }

  const Model& model_;
  const Graph& g_;
  InferredGraph at1_, at2_;
  std::map<std::string, Kind> kind_;
};

}  // namespace

bool images_independent(const Model& model) { return Checker(model).run(); }

}  // namespace mc
