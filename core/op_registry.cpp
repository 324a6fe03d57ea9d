#include "core/op_registry.h"

#include <algorithm>

namespace mc {

#define OP(name, since, fuse)           \
  void infer_##name(InferContext&);    \
  void run_##name(RunContext&);
#include "core/ops/op_list.def"
#undef OP

namespace {
const OpKernel kernels[] = {
#define OP(name, since, fuse) {#name, since, &infer_##name, &run_##name, fuse},
#include "core/ops/op_list.def"
#undef OP
};
}  // namespace

const OpKernel* find_kernel(const std::string& op) {
  for (const auto& k : kernels)
    if (op == k.op) return &k;
  return nullptr;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> names;
  for (const auto& k : kernels) names.emplace_back(k.op);
  return names;
}

const TensorType& InferContext::input(size_t i) const {
  if (!node.has_input(i) || i >= in.size()) fail("missing required input " + std::to_string(i));
  return in[i];
}

const Tensor& InferContext::constant_input(size_t i, const char* what) const {
  input(i);
  if (!value[i])
    unsupported(std::string("input '") + node.inputs[i] + "' (" + what +
                ") must be a constant or computable from shapes");
  return *value[i];
}

void InferContext::fail(const std::string& what) const {
  fail_input(node.describe() + ": " + what);
}

void InferContext::unsupported(const std::string& what) const {
  fail_unsupported(node.describe() + ": " + what);
}

}  // namespace mc
