// The float executor: runs a Model on batches of inputs with the op kernels of core/ops.
// Deterministic at any thread count (see thread_pool.h). Activation buffers are recycled as soon
// as their last reader has run, so peak memory is a few live tensors, not the whole graph: the
// first run at an input shape recycles them on the fly (best fit among freed buffers) and records
// every intermediate tensor's size; from then on, runs at the same input shapes use a planned
// arena (core/arena_plan.h): tensors whose lifetimes do not overlap share one of a fixed set of
// buffers, allocated once. Which buffer holds a tensor never changes what a kernel computes.
// A batch whose images the model keeps apart runs one image per thread (ExecutorOptions::
// images_apart), each thread on a run state of its own (values, freed buffers, arena); an image's
// outputs are the same bits at any batch and thread count.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/movement_chain.h"
#include "core/op_registry.h"
#include "core/thread_pool.h"

namespace mc {

struct ExecutorOptions {
  int threads = 0;                // <= 0: all cores
  // Plan-time fusion: a BatchNormalization with constant parameters is folded into the Conv before
  // it (the executor keeps its own folded weights; the model is not changed), Relu/Clip run inside
  // the producing Conv, and groups of ops that only move elements run as one step of copies
  // (executor_movement.cpp).
  bool fuse_activations = true;
  // Plan-time fusion of an int8 layer: DequantizeLinear (uint8/int8 activation) -> Conv (weight the
  // DequantizeLinear of a constant int8 tensor, float bias) -> [Relu | Clip] -> QuantizeLinear runs
  // as one QLinearConv with integer sums and ONNX Runtime's requantization (core/ops/integer_conv.cpp),
  // as ONNX Runtime's graph optimizer does; see executor_qdq.cpp. Also ConvInteger -> Cast -> Mul
  // [-> Add] (what `export --qdq` writes for integer layers not requantized, hybrid terms among
  // them) as one step with the same float operations; see executor_integer_chain.cpp. Needs
  // fuse_activations.
  bool fuse_quantized = true;
  // A batch runs one image per thread, side by side, when the model keeps the images of a batch
  // apart (image_parts.h): each thread carries its image through every layer, with its data in that
  // core's caches and no wait for the other threads between layers. The images left over when the
  // batch is not a multiple of the thread count run together, the threads sharing each layer. The
  // outputs are the same bits: every kernel computes an image's outputs in an order independent of
  // the images beside it (tested).
  bool images_apart = true;
};

class Executor {
 public:
  // The model must outlive the executor. Fails (unsupported) on ops without kernels.
  explicit Executor(const Model& model, ExecutorOptions options = {});

  // Inputs in graph-input order; outputs in graph-output order. Fails with an input error naming
  // the input if a shape or type does not match the model's declaration.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // Whether a batch of several images runs as single images side by side (ExecutorOptions::images_apart,
  // no observer, a model that keeps images apart).
  bool runs_images_apart() const;

  // Called after every executed node with its inputs and outputs (for calibration statistics).
  // Setting an observer disables all fusion so every declared value is seen.
  using Observer = std::function<void(const Node&, const std::vector<const Tensor*>& inputs,
                                      const std::vector<const Tensor*>& outputs)>;
  void set_observer(Observer observer);

  ThreadPool& pool() { return pool_; }
  // The ops the plan runs, in order, after fusion (e.g. "QLinearConv" for a fused int8 layer).
  std::vector<std::string> planned_ops() const;
  // The activation arena: whether runs use one (made by the first run at the current input shapes),
  // its buffers' total bytes, and the bytes of the intermediate tensors it holds if none shared.
  struct ArenaStats {
    bool planned = false;
    size_t buffers = 0, bytes = 0, unshared_bytes = 0;
  };
  ArenaStats arena_stats() const;
  const Model& model() const { return model_; }

 private:
  struct Step {
    const Node* node;
    const OpKernel* kernel;
    std::vector<int> inputs;   // value ids, -1 for omitted
    std::vector<int> outputs;  // value ids, -1 for omitted
    std::optional<FusedActivation> fused_activation;
    bool skipped = false;      // an activation fused into its producer
    MovementChain* movement = nullptr;  // ops that only move elements, run as one (executor_movement.cpp)
    // A float Conv whose output's only reader was an Add of another computed value of its shape: the
    // conv writes the sum (RunContext::residual). The other value is the last of `inputs`, after the
    // node's own; `residual_add` is the Add, run on its own if the shapes differ at run time.
    const Node* residual_add = nullptr;
    bool residual_first = false;  // the conv's output was the Add's first input
  };
  // A Conv with a following BatchNormalization folded in: the node the step runs (the Conv with
  // its weight and bias inputs renamed, writing the BatchNormalization's output) and the folded
  // constants it reads.
  struct FoldedConv {
    Node node;
    Tensor weight;
    Tensor bias;
  };
  // What one run writes: per value id its tensor, buffers freed for reuse, the planned arena (see
  // the top of this file). Runs of single images on several threads at once each have their own.
  struct Arena {
    bool planned = false;
    std::vector<std::pair<DType, Shape>> inputs;  // the input dtypes and shapes it was made for
    std::vector<int> buffer_of;  // per value id its buffer (-1: not in the arena: constants, graph inputs and outputs)
    std::vector<Tensor> buffers;
    size_t bytes = 0, unshared_bytes = 0;
  };
  struct RunState {
    std::vector<Tensor> values;
    std::vector<Tensor> free_buffers;
    Arena arena;
  };
  void plan();
  // Fails with an input error naming the input whose type or shape does not match the declaration.
  void check_inputs(const std::vector<Tensor>& inputs) const;
  std::vector<Tensor> run_whole(const std::vector<Tensor>& inputs, RunState& state);
  void fold_batchnorms(const std::vector<int>& readers, const std::vector<size_t>& reader_step);
  void fuse_quantized_convs();
  void fuse_integer_chains(const std::vector<int>& readers, const std::vector<size_t>& reader_step);
  void fuse_movement_chains();
  void fuse_residual_adds(const std::vector<int>& readers, const std::vector<size_t>& reader_step);
  void run_unfused_add(const Step& s, RunContext& conv, const Tensor& residual);
  int add_constant(const std::string& name, const Tensor* value);
  static Tensor take_buffer(RunState& state, size_t bytes);
  void plan_arena(RunState& state, const std::vector<size_t>& bytes, const std::vector<int>& defined_at);

  const Model& model_;
  ExecutorOptions options_;
  ThreadPool pool_;
  Observer observer_;
  bool images_independent_ = false;  // image_parts.h
  std::vector<Step> steps_;
  std::vector<const Tensor*> constant_;  // per value id: initializer, or nullptr
  std::vector<int> input_ids_, output_ids_;
  std::vector<int> last_use_;             // per value id: last step reading it (or INT_MAX)
  std::vector<std::string> value_names_;
  RunState whole_;                                 // runs of a whole batch or a part of it
  std::vector<std::unique_ptr<RunState>> images_;  // runs of single images side by side (run_images)
  const RunState* last_state_ = &whole_;           // the state the last run used (arena_stats)
  std::deque<FoldedConv> folded_;  // deque: steps and constant_ point into it
  // A DequantizeLinear -> Conv -> QuantizeLinear chain run as one QLinearConv: the node the step
  // runs and the constants it adds (int32 bias, weight zero points when the model has none).
  struct QuantizedConv {
    Node node;
    Tensor bias;
    Tensor weight_zero_point;
  };
  std::deque<QuantizedConv> quantized_;
  // ConvInteger -> Cast -> Mul [-> Add] chains run as one step: the nodes those steps run.
  std::deque<Node> integer_chains_;
  // Groups of ops that only move elements, each run as one step.
  std::deque<MovementChain> movement_chains_;
};

}  // namespace mc
