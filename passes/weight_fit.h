// Fitting quantized filters for the quantization passes (quantize-int8, ternarize, split-hybrid).
// Every fit minimizes the filter's output error on the calibration data, (w - q)^T C (w - q) with C
// the layer's centered input covariance, and is followed by bias correction b += (w - q)^T mu,
// which removes the mean shift the centered metric ignores (../shared/docs/RESEARCH.md,
// "Measured here"). With method gptq, rounding errors are compensated (core/gptq.h) and the
// scales refitted; the plain fit is kept instead whenever its error is lower.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "analysis/calibration_stats.h"
#include "core/graph.h"
#include "core/encoding.h"
#include "core/gptq.h"

namespace mc {

// float32: no rounding (pruning only: the kept weights keep their OBS-compensated float values).
enum class WeightFormat { int8, int4, ternary, float32 };

// Pruning inside the fit (core/gptq.h PruneSpec): none, `sparsity` of every filter's weights chosen
// by OBS saliency, or N:M (keep `nm_keep` of every `nm_group` consecutive input channels at each
// kernel position). A layer pruned earlier keeps its zeros (the mask given to fit_filters).
struct FitPruning {
  double sparsity = 0;
  int64_t nm_keep = 0, nm_group = 0;  // N and M; 0: not N:M
  bool active() const { return sparsity > 0 || nm_group > 0; }
};

struct FitOptions {
  WeightFormat format = WeightFormat::int8;
  int bits = 0;             // uniform grids: levels -(2^(bits-1)-1)..2^(bits-1)-1; 0: 8 (int8), 4 (int4)
  int terms = 1;            // ternary residual terms
  bool gptq = true;
  // Learned rounding (core/adaround.h) as one more candidate: the best of the plain fit, GPTQ (when
  // gptq) and AdaRound on the fit's levels, by the layer objective.
  bool adaround = false;
  int adaround_iterations = 1000;
  // Threads for the per-filter fits of a layer with 32 filters or more (and AdaRound's rows); 0: all
  // cores, 1 for a caller that already runs fits in parallel. The results do not depend on it.
  int threads = 0;
  double damping = 0.1;     // fraction of the mean diagonal added before inverting C
  FitPruning pruning;
  // Uniform grids: round each filter's final scale to float16 (when it lies in float16's normal
  // range) before scoring and bias correction, so the .mcz writer can store it in 2 bytes.
  bool half_scales = false;
  int uniform_bits() const { return bits ? bits : (format == WeightFormat::int4 ? 4 : 8); }
  // Uniform grids: the largest level, levels -qmax..qmax; 0: 2^(bits-1) - 1. Any qmax fits the
  // int8 encoding (<= 127) or int4 (<= 7); entropy coding makes a grid cost about its entropy, so
  // grids between powers of two (e.g. qmax 10, "4.5 bits") are as storable as the others.
  int32_t qmax = 0;
  int32_t uniform_qmax() const { return qmax ? qmax : (1 << (uniform_bits() - 1)) - 1; }
};

// One filter, quantized.
struct FilterFit {
  std::vector<double> values;            // K dequantized weights (float32-exact)
  float scale = 0;                       // int8 / int4
  std::vector<int32_t> q;                // int8 / int4: K integer levels
  std::vector<float> term_scales;        // ternary: one per term
  std::vector<std::vector<uint8_t>> term_symbols;  // ternary: per term, K symbols (0: 0, 1: +1, 2: -1)
  double error = 0;                      // relative output error e = (w-q)'C(w-q) / (w'Cw)
  double abs_error = 0;                  // (w-q)'C(w-q)
  double energy = 0;                     // w'Cw
  double bias_shift = 0;                 // (w - q)' mu, added to the bias
  std::vector<uint8_t> pruned;           // K, 1 where the weight is forced to zero (empty: none)
};

// Fits `filters` of a layer (indices into its filters) with `options`. Filters of one group share
// one factorization. Results are in the order of `filters`. `fixed_mask` (the weight tensor's
// layout, 1 = pruned) keeps an earlier pruning's zeros; with options.pruning the fit prunes itself.
// Fails (unsupported, naming the layer) when N:M's M does not divide the layer's input channels.
std::vector<FilterFit> fit_filters(const Tensor& weight, const LayerGram& layer, const std::vector<int64_t>& filters,
                                   const FitOptions& options, const std::vector<uint8_t>* fixed_mask = nullptr);

// Filter f's mask values from a mask in the weight tensor's layout.
std::vector<uint8_t> filter_mask(const std::vector<uint8_t>& mask, const LayerGram& layer, int64_t filter);
// Writes the fits' pruned flags into a mask in the weight tensor's layout (sized numel).
void store_masks(std::vector<uint8_t>& mask, const LayerGram& layer, const std::vector<int64_t>& filters,
                 const std::vector<FilterFit>& fits);

// Writes the fits' values into `weight` (laid out as `geometry` says) for `filters`.
void write_filter_values(Tensor& weight, const WeightGeometry& geometry, const std::vector<int64_t>& filters,
                         const std::vector<FilterFit>& fits);
// Writes fitted values into `weight` (and bias shifts into `bias`, if given) for `filters`.
void apply_fits(Tensor& weight, Tensor* bias, const LayerGram& layer, const std::vector<int64_t>& filters,
                const std::vector<FilterFit>& fits);

// The layers a quantization pass works on: weighted Conv / Gemm / MatMul nodes (constant float
// weights, filters as rows) whose kind (analysis/sensitivity.h layer_kind) matches `selection`:
// "all", or a '+'-separated list of kinds ("pointwise", "depthwise", "conv", "fc"). Layers whose
// weight is already encoded are skipped; `skip_last` leaves out the final weighted layer (the
// classifier).
std::vector<const Node*> select_layers(const Model& model, const std::string& selection, bool skip_last = false);

// An encoding part covering stored channels [begin, end) from fits given in stored order.
EncodedPart make_part(const std::vector<FilterFit>& fits, const FitOptions& options, int64_t begin, int64_t end);

// Quantizes every filter of the selected layers (one encoding part per layer), applies bias
// correction and encodes each weight (Graph::encode: its values become the decoded encoding).
// `stats` must describe the model as it is (the float layers' inputs). A weight an earlier pass
// pruned (Initializer::pruned) keeps its zeros.
void quantize_layers(Model& model, const CalibrationStats& stats, const std::vector<const Node*>& layers, const FitOptions& options);

// quantize_layers in its two steps, for one layer: fit and write the values and bias shifts (the
// fits returned), then encode the weight from fits (the values must be theirs).
std::vector<FilterFit> fit_and_apply(Model& model, const CalibrationStats& stats, const std::string& node_name, const FitOptions& options);
void encode_fits(Model& model, const std::string& weight_name, const std::vector<FilterFit>& fits, const FitOptions& options);

// The levels a fitted filter's weights take (its uniform grid, or every sum of its ternary terms),
// with the codes fit_with_codes reads; a filter like `like` (same scales, same pruned weights) whose
// weights are the levels of `codes`.
LevelSet fit_levels(const FilterFit& fit, const FitOptions& options);
FilterFit fit_with_codes(const std::vector<int32_t>& codes, const FitOptions& options, const FilterFit& like);

// FitOptions from pass options: method=gptq|rtn, damping=D, terms=K (ternary), bits=B (int8: 2..8).
FitOptions fit_options(WeightFormat format, const class PassOptions& options);

// Every filter of one layer (layer.weight in `model`), fitted with `options`.
std::vector<FilterFit> fit_layer(const Model& model, const LayerGram& layer, const FitOptions& options,
                                 const std::vector<uint8_t>* fixed_mask = nullptr);
// Re-scores fits of a layer on other inputs than they were fitted to: `other` is the same layer's
// statistics on other images (held-out ones). abs_error becomes the mean squared output change on
// those inputs with the fit's bias correction kept, (w-q)'C(w-q) + ((w-q)'mu - bias_shift)^2 with
// C, mu of `other`; energy w'Cw; error their ratio. In-sample, a layer with fewer samples than
// inputs looks better than it is: the compensation also fits the sample's noise.
// Built once per layer (the covariance, the weights and their energy w'Cw do not depend on the fit);
// score() then re-scores each candidate's fits, and may run concurrently.
class OutOfSampleScorer {
 public:
  OutOfSampleScorer(const Tensor& weight, const LayerGram& other);
  void score(std::vector<FilterFit>& fits) const;

 private:
  struct Group {
    std::vector<size_t> filters;
    std::vector<double> covariance, mean;  // K x K, K
    std::vector<double> weights;           // filters x K, row-major
    std::vector<double> energy;            // per filter: w'Cw
  };
  int64_t k_ = 0;
  std::vector<Group> groups_;
};
// Writes a whole layer's fits (values and bias shifts); fills `mask` (weight layout, 1 = pruned)
// from the fits' pruned flags when given.
void apply_layer_fits(Model& model, const LayerGram& layer, const std::vector<FilterFit>& fits, std::vector<uint8_t>* mask = nullptr);

// The bias initializer of a Conv / Gemm layer, creating a zero bias input if it has none (so bias
// correction has somewhere to go). Returns nullptr for layers that cannot take a bias (MatMul).
// Refuses (unsupported) a bias an earlier pass encoded: correcting it would break its encoding.
Tensor* bias_for(Model& model, const std::string& node_name);

}  // namespace mc
