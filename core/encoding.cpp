#include "core/encoding.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace mc {

namespace {

float decode_fp32(const EncodedPart& p, size_t v0, size_t k, size_t) {
  uint32_t bits = 0;
  for (size_t b = 0; b < 4; ++b) bits |= static_cast<uint32_t>(p.streams[v0 + b][k]) << (8 * b);
  return std::bit_cast<float>(bits);
}

float decode_fp16(const EncodedPart& p, size_t v0, size_t k, size_t) {
  return half_to_float(static_cast<uint16_t>(p.streams[v0][k] | (p.streams[v0 + 1][k] << 8)));
}

float decode_integer(const EncodedPart& p, size_t v0, size_t k, size_t c) {
  const int32_t q = static_cast<int32_t>(p.streams[v0][k]) - encoding_traits(p.encoding).symbol_offset;
  const int32_t zp = p.zero_points.empty() ? 0 : p.zero_points[c];
  return static_cast<float>(q - zp) * p.scales[c];
}

// Terms summed in order: the same float rounding as the quantizer that fitted them.
float decode_ternary(const EncodedPart& p, size_t v0, size_t k, size_t c) {
  float v = 0;
  for (size_t term = 0; term < p.terms; ++term) {
    const uint8_t s = p.streams[v0 + term][k];
    const float a = p.scales[c * p.terms + term];
    v += s == 1 ? a : (s == 2 ? -a : 0.0f);
  }
  return v;
}

constexpr uint8_t per_term = 255;

const EncodingTraits traits_table[encoding_count] = {
    // id, name, float only, value streams, symbol bits, max symbol, scales/channel, zero points, offset, int8 terms, arithmetic, decode
    {Encoding::raw, "raw", false, 1, 8, 255, 0, false, 0, false, WeightArithmetic::as_stored, nullptr},
    {Encoding::fp32_planes, "fp32", true, 4, 8, 255, 0, false, 0, false, WeightArithmetic::float_mac, decode_fp32},
    {Encoding::fp16, "fp16", true, 2, 8, 255, 0, false, 0, false, WeightArithmetic::float_mac, decode_fp16},
    {Encoding::int8, "int8", true, 1, 8, 255, 1, true, 128, true, WeightArithmetic::integer_mac, decode_integer},
    {Encoding::int4, "int4", true, 1, 4, 15, 1, true, 8, true, WeightArithmetic::integer_mac, decode_integer},
    {Encoding::ternary, "ternary", true, 0, 2, 2, per_term, false, 0, true, WeightArithmetic::ternary_adds, decode_ternary},
};

}  // namespace

const EncodingTraits& encoding_traits(Encoding e) {
  const auto i = static_cast<uint8_t>(e);
  if (i >= encoding_count) fail_internal("encoding " + std::to_string(i) + " has no traits row");
  return traits_table[i];
}

const char* encoding_name(Encoding e) {
  return static_cast<uint8_t>(e) < encoding_count ? traits_table[static_cast<uint8_t>(e)].name : "unknown";
}

bool encoding_known(uint8_t e) { return e < encoding_count; }

size_t value_stream_count(const EncodedPart& p) {
  const uint8_t n = encoding_traits(p.encoding).value_streams;
  return n ? n : p.terms;
}

size_t scales_per_channel(const EncodedPart& p) {
  const uint8_t n = encoding_traits(p.encoding).scales_per_channel;
  return n == per_term ? p.terms : n;
}

std::string encoding_label(const EncodedPart& p) {
  std::string e = p.sparse ? "sparse-" : "";
  e += encoding_name(p.encoding);
  if (encoding_traits(p.encoding).value_streams == 0 && p.terms > 1) {
    e += 'x';
    e += std::to_string(p.terms);
  }
  return e;
}

int64_t EncodedTensor::channel_size() const {
  int64_t c = channels();
  return c == 0 ? 0 : shape_numel(shape) / c;
}

uint64_t part_weights(const EncodedTensor& e, const EncodedPart& p) {
  return static_cast<uint64_t>((p.channel_end - p.channel_begin) * e.channel_size());
}

uint16_t float_to_half(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));  // inf / NaN
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa, round to nearest even.
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half_mant = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1u))) ++half_mant;
    return static_cast<uint16_t>(sign | half_mant);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(half);
}

float half_to_float(uint16_t h) {
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) x = sign;
    else {
      // Normalize the subnormal.
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(x);
}

namespace {

EncodedPart whole_part(const Tensor& t, Encoding enc) {
  EncodedPart p;
  p.encoding = enc;
  p.channel_begin = 0;
  p.channel_end = t.rank() == 0 ? 1 : t.dim(0);
  return p;
}

EncodedTensor shell(const Tensor& t) {
  EncodedTensor e;
  e.dtype = t.dtype();
  e.shape = t.shape();
  return e;
}

// Planes: stream k holds byte k of every element (little-endian), so the exponent bytes of
// floats, which vary little, form their own highly compressible stream.
std::vector<std::vector<uint8_t>> byte_planes(const uint8_t* bytes, size_t count, size_t width) {
  std::vector<std::vector<uint8_t>> planes(width, std::vector<uint8_t>(count));
  for (size_t i = 0; i < count; ++i)
    for (size_t k = 0; k < width; ++k) planes[k][i] = bytes[i * width + k];
  return planes;
}

}  // namespace

EncodedTensor encode_raw(const Tensor& t) {
  EncodedTensor e = shell(t);
  EncodedPart p = whole_part(t, Encoding::raw);
  const auto* b = static_cast<const uint8_t*>(t.raw());
  p.streams.emplace_back(b, b + t.byte_size());
  p.symbol_bits.push_back(8);
  e.parts.push_back(std::move(p));
  return e;
}

EncodedTensor encode_fp32_planes(const Tensor& t) {
  if (t.dtype() != DType::f32) fail_internal("fp32 planes of a non-float tensor");
  EncodedTensor e = shell(t);
  EncodedPart p = whole_part(t, Encoding::fp32_planes);
  p.streams = byte_planes(static_cast<const uint8_t*>(t.raw()), static_cast<size_t>(t.numel()), 4);
  p.symbol_bits.assign(4, 8);
  e.parts.push_back(std::move(p));
  return e;
}

EncodedTensor encode_fp32_sparse(const Tensor& t) {
  if (t.dtype() != DType::f32) fail_internal("sparse fp32 of a non-float tensor");
  EncodedTensor e = shell(t);
  EncodedPart p = whole_part(t, Encoding::fp32_planes);
  p.sparse = true;
  p.streams.assign(5, {});
  p.symbol_bits = {1, 8, 8, 8, 8};
  const float* v = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(v[i]);
    p.streams[0].push_back(bits != 0 ? 1 : 0);
    if (bits == 0) continue;
    for (int b = 0; b < 4; ++b) p.streams[static_cast<size_t>(1 + b)].push_back(static_cast<uint8_t>(bits >> (8 * b)));
  }
  e.parts.push_back(std::move(p));
  return e;
}

EncodedTensor encode_fp16(const Tensor& t) {
  if (t.dtype() != DType::f32) fail_internal("fp16 of a non-float tensor");
  EncodedTensor e = shell(t);
  EncodedPart p = whole_part(t, Encoding::fp16);
  std::vector<uint16_t> halves(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = float_to_half(t.data<float>()[i]);
  std::vector<uint8_t> bytes(halves.size() * 2);
  for (size_t i = 0; i < halves.size(); ++i) {
    bytes[2 * i] = static_cast<uint8_t>(halves[i] & 0xffu);
    bytes[2 * i + 1] = static_cast<uint8_t>(halves[i] >> 8);
  }
  p.streams = byte_planes(bytes.data(), halves.size(), 2);
  p.symbol_bits.assign(2, 8);
  e.parts.push_back(std::move(p));
  return e;
}

void validate_encoded(const EncodedTensor& e, const std::string& name) {
  auto bad = [&](const std::string& what) { fail_input("tensor '" + name + "': " + what); };
  shape_numel(e.shape);
  const int64_t channels = e.channels();
  if (e.parts.empty()) bad("has no parts");
  if (!e.permutation.empty()) {
    if (static_cast<int64_t>(e.permutation.size()) != channels) bad("permutation length differs from the channel count");
    std::vector<bool> seen(static_cast<size_t>(channels), false);
    for (uint32_t p : e.permutation) {
      if (p >= static_cast<uint64_t>(channels) || seen[p]) bad("permutation is not a permutation of the channels");
      seen[p] = true;
    }
  }
  int64_t next = 0;
  for (const auto& p : e.parts) {
    if (p.channel_begin != next || p.channel_end <= p.channel_begin || p.channel_end > channels)
      bad("parts do not tile the channels in order");
    next = p.channel_end;
    const int64_t part_channels = p.channel_end - p.channel_begin;
    const uint64_t weights = part_weights(e, p);
    if (!encoding_known(static_cast<uint8_t>(p.encoding))) bad("has an unknown encoding");
    const EncodingTraits& traits = encoding_traits(p.encoding);
    if (traits.float_only && e.dtype != DType::f32) bad(std::string(traits.name) + " encoding of a non-float tensor");
    if (!traits.float_only && p.sparse) bad(std::string(traits.name) + " parts cannot be sparse");
    if (traits.value_streams == 0 && (p.terms < 1 || p.terms > 3)) bad("ternary terms must be 1 to 3");
    if (static_cast<int64_t>(p.scales.size()) != part_channels * static_cast<int64_t>(scales_per_channel(p)))
      bad(traits.scales_per_channel == 1 ? "needs one scale per channel" : traits.scales_per_channel ? "needs one scale per channel and term" : "has scales its encoding does not use");
    if (!p.zero_points.empty() && (!traits.zero_points || static_cast<int64_t>(p.zero_points.size()) != part_channels))
      bad("needs one zero point per channel");
    const size_t value_streams = value_stream_count(p);
    const uint8_t max_symbol = traits.max_symbol;
    for (float s : p.scales)
      if (!std::isfinite(s)) bad("has a non-finite scale");
    if (p.streams.size() != value_streams + (p.sparse ? 1 : 0) || p.symbol_bits.size() != p.streams.size())
      bad(std::string("has the wrong number of streams for ") + traits.name);
    uint64_t values = weights;
    size_t first_value = 0;
    if (p.sparse) {
      if (p.streams[0].size() != weights) bad("mask stream has the wrong length");
      values = 0;
      for (uint8_t m : p.streams[0]) {
        if (m > 1) bad("mask stream holds a symbol other than 0 or 1");
        values += m;
      }
      first_value = 1;
    }
    uint64_t per_stream = values;
    if (!traits.decode) per_stream = weights * dtype_size(e.dtype);  // raw: the elements' bytes
    for (size_t s = first_value; s < p.streams.size(); ++s) {
      if (p.streams[s].size() != per_stream) bad("stream " + std::to_string(s) + " has " + std::to_string(p.streams[s].size()) + " symbols, expected " + std::to_string(per_stream));
      if (max_symbol < 255)
        for (uint8_t v : p.streams[s])
          if (v > max_symbol) bad("stream " + std::to_string(s) + " holds symbol " + std::to_string(v) + " outside the encoding's range");
    }
  }
  if (next != channels) bad("parts do not cover every channel");
}

Tensor decode_tensor(const EncodedTensor& e, const std::string& name) {
  validate_encoded(e, name);
  Tensor t(e.dtype, e.shape);
  const int64_t inner = e.channel_size();
  for (const auto& p : e.parts) {
    const int64_t first = p.channel_begin * inner;
    const int64_t count = (p.channel_end - p.channel_begin) * inner;
    const EncodingTraits& traits = encoding_traits(p.encoding);
    if (!traits.decode) {  // raw
      // A tensor without elements has no buffer: memcpy must not see its null pointer.
      if (!p.streams[0].empty())
        std::memcpy(static_cast<uint8_t*>(t.raw()) + static_cast<size_t>(first) * dtype_size(e.dtype), p.streams[0].data(), p.streams[0].size());
      continue;
    }
    float* out = t.data<float>() + first;
    const size_t v0 = p.sparse ? 1 : 0;
    const std::vector<uint8_t>* mask = p.sparse ? &p.streams[0] : nullptr;
    size_t k = 0;  // index into the value streams
    for (int64_t i = 0; i < count; ++i) {
      if (mask && !(*mask)[static_cast<size_t>(i)]) {
        out[i] = 0.0f;
        continue;
      }
      out[i] = traits.decode(p, v0, k, static_cast<size_t>(i / inner));
      ++k;
    }
  }
  if (e.permutation.empty()) return t;
  // Parts tile the stored channel order; stored channel i is channel permutation[i] of the tensor.
  Tensor ordered(e.dtype, e.shape);
  const size_t row_bytes = static_cast<size_t>(inner) * dtype_size(e.dtype);
  for (size_t i = 0; i < e.permutation.size(); ++i)
    std::memcpy(static_cast<uint8_t*>(ordered.raw()) + e.permutation[i] * row_bytes, static_cast<const uint8_t*>(t.raw()) + i * row_bytes, row_bytes);
  return ordered;
}

}  // namespace mc
