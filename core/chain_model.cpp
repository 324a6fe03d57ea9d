#include "core/chain_model.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace mc {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<RowMatrix>;
using ConstMap = Eigen::Map<const RowMatrix>;

// splitmix64: a small portable generator (the same bits on every platform).
struct Generator {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace

float FakeQuant::operator()(float x) const {
  const float q = std::nearbyint(x / scale) + static_cast<float>(zero_point);
  return (std::clamp(q, static_cast<float>(qmin), static_cast<float>(qmax)) - static_cast<float>(zero_point)) * scale;
}

bool FakeQuant::passes(float x) const {
  const float q = x / scale + static_cast<float>(zero_point);
  return q >= static_cast<float>(qmin) && q <= static_cast<float>(qmax);
}

int Chain::spatial_index() const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].spatial) return static_cast<int>(i);
  return -1;
}

int64_t Chain::weight_count(size_t i) const {
  const ChainLayer& l = layers[i];
  return l.spatial ? l.outputs * (l.inputs / l.groups) * taps : l.outputs * l.inputs;
}

ChainPass::ChainPass(const Chain& chain, const ChainParams& params, const ChainSamples& samples, const std::vector<int64_t>& batch,
                     double drop_rate, uint64_t seed)
    : chain_(chain), params_(params), batch_(static_cast<int64_t>(batch.size())) {
  const int spatial = chain.spatial_index();
  const int64_t taps = chain.taps, c_in = chain.input_channels(), c_out = chain.output_channels();
  const size_t n = chain.layers.size();
  in_.resize(n), pre_.resize(n), quant_pass_.resize(n);
  valid_.resize(static_cast<size_t>(batch_ * taps));
  // The chain's input: batch x taps rows (taps = 1 without a spatial layer).
  std::vector<float> x(static_cast<size_t>(batch_ * taps * c_in));
  for (int64_t b = 0; b < batch_; ++b) {
    const auto s = static_cast<size_t>(batch[static_cast<size_t>(b)]);
    std::copy_n(samples.input.begin() + static_cast<std::ptrdiff_t>(s * static_cast<size_t>(taps * c_in)), taps * c_in,
                x.begin() + b * taps * c_in);
    std::copy_n(samples.valid.begin() + static_cast<std::ptrdiff_t>(s * static_cast<size_t>(taps)), taps, valid_.begin() + b * taps);
  }
  Generator gen{seed};
  for (size_t i = 0; i < n; ++i) {
    const ChainLayer& l = chain.layers[i];
    const bool at_taps = spatial >= 0 && static_cast<int>(i) <= spatial;
    const int64_t rows = at_taps ? batch_ * taps : batch_;  // rows of this layer's input
    std::vector<float>& in = in_[i];
    in = std::move(x);
    if (l.input_quant.on) {
      std::vector<uint8_t>& pass = quant_pass_[i];
      pass.assign(in.size(), 1);
      for (size_t e = 0; e < in.size(); ++e) {
        // Dropped: this element keeps its float value (a uniform number in [0, 1) from 53 bits).
        if (drop_rate > 0 && static_cast<double>(gen.next() >> 11) * 0x1.0p-53 < drop_rate) continue;
        pass[e] = l.input_quant.passes(in[e]) ? 1 : 0;
        in[e] = l.input_quant(in[e]);
      }
    }
    const std::vector<float>& w = params.weights[i];
    const std::vector<float>& bias = params.biases[i];
    std::vector<float> y;
    if (l.spatial) {
      for (int64_t r = 0; r < rows; ++r)
        if (!valid_[static_cast<size_t>(r)]) std::fill_n(in.begin() + r * l.inputs, l.inputs, 0.0f);
      const int64_t cg = l.inputs / l.groups, fg = l.outputs / l.groups;
      y.assign(static_cast<size_t>(batch_ * l.outputs), 0.0f);
      for (int64_t b = 0; b < batch_; ++b)
        for (int64_t f = 0; f < l.outputs; ++f) {
          const int64_t c0 = f / fg * cg;
          const float* wf = w.data() + f * cg * taps;
          float acc = bias[static_cast<size_t>(f)];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t t = 0; t < taps; ++t) acc += wf[c * taps + t] * in[static_cast<size_t>((b * taps + t) * l.inputs + c0 + c)];
          y[static_cast<size_t>(b * l.outputs + f)] = acc;
        }
    } else {
      y.resize(static_cast<size_t>(rows * l.outputs));
      Map(y.data(), rows, l.outputs).noalias() = ConstMap(in.data(), rows, l.inputs) * ConstMap(w.data(), l.outputs, l.inputs).transpose();
      Map(y.data(), rows, l.outputs).rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data(), l.outputs);
    }
    pre_[i] = y;
    if (l.clip)
      for (float& v : y) v = std::clamp(v, l.lo, l.hi);
    x = std::move(y);
  }
  out_ = std::move(x);
  target_.resize(static_cast<size_t>(batch_ * c_out));
  double loss = 0;
  for (int64_t b = 0; b < batch_; ++b) {
    const auto s = static_cast<size_t>(batch[static_cast<size_t>(b)]);
    for (int64_t c = 0; c < c_out; ++c) {
      const auto at = static_cast<size_t>(b * c_out + c);
      if (chain.residual) out_[at] += samples.skip[s * static_cast<size_t>(c_out) + static_cast<size_t>(c)];
      target_[at] = samples.target[s * static_cast<size_t>(c_out) + static_cast<size_t>(c)];
      const double d = static_cast<double>(out_[at]) - target_[at];
      loss += d * d;
    }
  }
  loss_ = batch_ > 0 ? loss / static_cast<double>(batch_) : 0.0;
}

ChainParams ChainPass::backward() const {
  const Chain& chain = chain_;
  const int spatial = chain.spatial_index();
  const int64_t taps = chain.taps;
  const size_t n = chain.layers.size();
  ChainParams grad;
  grad.weights.resize(n), grad.biases.resize(n);
  std::vector<float> dx(out_.size());
  const float scale = batch_ > 0 ? 2.0f / static_cast<float>(batch_) : 0.0f;
  for (size_t e = 0; e < out_.size(); ++e) dx[e] = scale * (out_[e] - target_[e]);
  for (size_t i = n; i-- > 0;) {
    const ChainLayer& l = chain.layers[i];
    const bool at_taps = spatial >= 0 && static_cast<int>(i) <= spatial;
    const int64_t rows = at_taps ? batch_ * taps : batch_;
    std::vector<float> dy = std::move(dx);
    if (l.clip)
      for (size_t e = 0; e < dy.size(); ++e)
        if (!(pre_[i][e] > l.lo && pre_[i][e] < l.hi)) dy[e] = 0.0f;
    const std::vector<float>& in = in_[i];
    const std::vector<float>& w = params_.weights[i];
    std::vector<float>& gw = grad.weights[i];
    std::vector<float>& gb = grad.biases[i];
    gw.assign(w.size(), 0.0f);
    gb.assign(static_cast<size_t>(l.outputs), 0.0f);
    std::vector<float> din(static_cast<size_t>(rows * l.inputs), 0.0f);
    const int64_t out_rows = l.spatial ? batch_ : rows;
    for (int64_t r = 0; r < out_rows; ++r)
      for (int64_t f = 0; f < l.outputs; ++f) gb[static_cast<size_t>(f)] += dy[static_cast<size_t>(r * l.outputs + f)];
    if (l.spatial) {
      const int64_t cg = l.inputs / l.groups, fg = l.outputs / l.groups;
      for (int64_t b = 0; b < batch_; ++b)
        for (int64_t f = 0; f < l.outputs; ++f) {
          const float g = dy[static_cast<size_t>(b * l.outputs + f)];
          if (g == 0.0f) continue;
          const int64_t c0 = f / fg * cg;
          const float* wf = w.data() + f * cg * taps;
          float* gwf = gw.data() + f * cg * taps;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t t = 0; t < taps; ++t) {
              const auto at = static_cast<size_t>((b * taps + t) * l.inputs + c0 + c);
              gwf[c * taps + t] += g * in[at];
              din[at] += g * wf[c * taps + t];
            }
        }
      for (int64_t r = 0; r < rows; ++r)
        if (!valid_[static_cast<size_t>(r)]) std::fill_n(din.begin() + r * l.inputs, l.inputs, 0.0f);
    } else {
      const ConstMap dym(dy.data(), rows, l.outputs);
      Map(gw.data(), l.outputs, l.inputs).noalias() = dym.transpose() * ConstMap(in.data(), rows, l.inputs);
      Map(din.data(), rows, l.inputs).noalias() = dym * ConstMap(w.data(), l.outputs, l.inputs);
    }
    if (l.input_quant.on)
      for (size_t e = 0; e < din.size(); ++e)
        if (!quant_pass_[i][e]) din[e] = 0.0f;
    dx = std::move(din);
  }
  return grad;
}

}  // namespace mc
