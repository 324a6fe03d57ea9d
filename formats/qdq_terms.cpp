#include "formats/qdq_terms.h"

#include <algorithm>

namespace mc {

std::optional<std::vector<QdqTerm>> qdq_terms(const EncodedTensor& e) {
  if (e.dtype != DType::f32 || e.shape.empty() || e.parts.empty()) return std::nullopt;
  size_t terms = 1;
  for (const auto& p : e.parts) {
    if (!encoding_traits(p.encoding).int8_terms) return std::nullopt;
    terms = std::max(terms, value_stream_count(p));  // one int8 term per value stream (ternary: per residual term)
    for (int32_t zp : p.zero_points)
      if (zp < -128 || zp > 127) return std::nullopt;
  }
  const int64_t channels = e.channels(), inner = e.channel_size();
  std::vector<QdqTerm> out(terms);
  for (auto& t : out) {
    t.values = Tensor(DType::i8, e.shape);  // zero-filled
    t.scales = Tensor(DType::f32, {channels});
    t.zero_points = Tensor(DType::i8, {channels});
    std::fill_n(t.scales.data<float>(), channels, 1.0f);  // a channel without this term: zeros x 1
  }
  for (const auto& p : e.parts) {
    // A sparse part's first stream is a 0/1 mask over its weights and its value streams hold the
    // non-zeros only; a masked weight decodes to 0.0, i.e. q = zero point (ternary symbol 0).
    const size_t v0 = p.sparse ? 1 : 0;
    // Ternary terms hold symbols 0/1/2 for 0/+1/-1 (one int8 term each); integer levels, q + offset.
    const bool ternary = encoding_traits(p.encoding).arithmetic == WeightArithmetic::ternary_adds;
    size_t next = 0;  // index into the value streams
    for (int64_t stored = p.channel_begin; stored < p.channel_end; ++stored) {
      // Stored channel `stored` is channel permutation[stored] of the tensor.
      const int64_t c = e.permutation.empty() ? stored : static_cast<int64_t>(e.permutation[static_cast<size_t>(stored)]);
      const size_t local = static_cast<size_t>(stored - p.channel_begin);
      const size_t first = local * static_cast<size_t>(inner);
      const int8_t zero_point = static_cast<int8_t>(p.zero_points.empty() || ternary ? 0 : p.zero_points[local]);
      for (int64_t i = 0; i < inner; ++i) {
        const bool present = !p.sparse || p.streams[0][first + static_cast<size_t>(i)];
        if (ternary) {
          for (size_t t = 0; t < p.terms; ++t) {
            const uint8_t s = present ? p.streams[v0 + t][next] : 0;
            out[t].values.data<int8_t>()[c * inner + i] = s == 1 ? int8_t{1} : (s == 2 ? int8_t{-1} : int8_t{0});
          }
        } else {
          const int32_t offset = encoding_traits(p.encoding).symbol_offset;
          out[0].values.data<int8_t>()[c * inner + i] =
              present ? static_cast<int8_t>(static_cast<int32_t>(p.streams[v0][next]) - offset) : zero_point;
        }
        next += present;
      }
      if (ternary) {
        for (size_t t = 0; t < p.terms; ++t) out[t].scales.data<float>()[c] = p.scales[local * p.terms + t];
      } else {
        out[0].scales.data<float>()[c] = p.scales[local];
        out[0].zero_points.data<int8_t>()[c] = zero_point;
      }
    }
  }
  return out;
}

}  // namespace mc
