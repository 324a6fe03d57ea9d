// Quantizers for one filter (a weight vector w of length K), each minimizing the output error
// (w - q)^T H (w - q) for a K x K positive semi-definite metric H: the input second-moment or
// covariance matrix of the layer (OBQ/GPTQ's proxy: the squared error of the filter's output on
// the calibration inputs). With H = identity they minimize ||w - q||^2.
// Pure numerics: used by the sensitivity analysis and by the quantization passes alike.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mc {

// A row-major K x K metric; `data` == nullptr means the identity.
struct Metric {
  const double* data = nullptr;
  int64_t size = 0;
};

double quadratic_form(const Metric& h, std::span<const double> v);  // v^T H v

// w ~ scale * t, t in {-1, 0, +1}^K. The support is the k largest |w| (k chosen, and the scale set,
// to minimize the error under H): ternary weight networks' rule with an exact search over k
// instead of the 0.7*mean|w| threshold.
struct TernaryTerm {
  float scale = 0;
  std::vector<int8_t> signs;
};
TernaryTerm fit_ternary(std::span<const double> w, const Metric& h);

// Residual ternary with `terms` terms: each term is fitted to what the previous ones left.
std::vector<TernaryTerm> fit_residual_ternary(std::span<const double> w, int terms, const Metric& h);
std::vector<double> ternary_values(const std::vector<TernaryTerm>& terms, size_t k);

// Symmetric uniform quantizer with levels -qmax..qmax (qmax = 2^(bits-1) - 1): scale searched
// over a grid of clipping ratios of max|w| for the least error under H.
struct UniformFit {
  float scale = 0;
  std::vector<int32_t> q;
};
UniformFit fit_uniform(std::span<const double> w, int bits, const Metric& h);
// The same on the grid -qmax..qmax (any qmax >= 1, e.g. 10: 21 levels, "4.5 bits").
UniformFit fit_uniform_levels(std::span<const double> w, int32_t qmax, const Metric& h);
std::vector<double> uniform_values(const UniformFit& fit);

// (w - q)^T H (w - q) / (w^T H w): the filter's relative output error (0 when w^T H w == 0).
double relative_error(std::span<const double> w, std::span<const double> q, const Metric& h);

}  // namespace mc
