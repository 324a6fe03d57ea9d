// Weight encodings: how a tensor's values are represented as symbol streams before entropy coding.
// An encoded tensor is split into parts, each a contiguous range of output channels (axis 0) with
// its own encoding, so a hybrid layer's full-precision bank and ternary bank are two parts. Symbol
// streams are plain bytes here; formats/mcz_* chooses how each is coded (packed, rANS, zstd).
// docs/FORMAT.md specifies every encoding byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mc {

enum class Encoding : uint8_t {
  raw = 0,          // the elements' little-endian bytes, one stream (any element type)
  fp32_planes = 1,  // float32 split into 4 byte planes (lossless; planes compress separately)
  fp16 = 2,         // IEEE binary16, 2 byte planes (low, high)
  int8 = 3,         // per-channel scale and zero point; symbols q + 128
  int4 = 4,         // per-channel scale and zero point; symbols q + 8 (q in [-8, 7])
  ternary = 5,      // per-channel, k residual terms: w = sum_t scale[c,t] * s_t, s_t in {0,+1,-1}
};

struct EncodedPart;

// How a weight stored in an encoding takes part in its layer's arithmetic (docs/COUNTING.md).
enum class WeightArithmetic {
  float_mac,    // float storage (fp32, fp16): widened to fp32, an fp32 MAC
  integer_mac,  // integer levels: an int8 MAC against int8 activations, an fp32 MAC against float ones
  as_stored,    // raw elements: float -> fp32 MAC; an integer weight behind a DequantizeLinear -> integer MAC
  ternary_adds, // residual ternary terms: one addition per non-zero symbol, one scale multiplication per output and term
};

// Everything mcompress knows about one encoding, one row each (ggml's type_traits): the symbol
// layout the .mcz stores, how a value decodes, whether --qdq can write it as int8 terms, and what it
// costs to compute with. Nothing else switches on the encoding.
struct EncodingTraits {
  Encoding id;
  const char* name;           // as files, `info` and reports name it
  bool float_only;            // decodes to float32 tensors only (every encoding but raw)
  uint8_t value_streams;      // streams of values per part; 0: one per ternary term
  uint8_t symbol_bits;        // bits that hold every value symbol
  uint8_t max_symbol;         // largest value symbol
  uint8_t scales_per_channel; // 0; 1 (one scale); 255: one per ternary term
  bool zero_points;           // per-channel zero points allowed
  int32_t symbol_offset;      // integer levels: q = symbol - offset
  bool int8_terms;            // writable as int8 tensors behind DequantizeLinear (export --qdq)
  WeightArithmetic arithmetic;
  // Value `k` of the part's value streams (first value stream `v0`), in channel `c` of the part;
  // null for raw (copied bytewise).
  float (*decode)(const EncodedPart& part, size_t v0, size_t k, size_t c);
};
inline constexpr uint8_t encoding_count = 6;
const EncodingTraits& encoding_traits(Encoding e);
const char* encoding_name(Encoding e);
bool encoding_known(uint8_t e);

struct EncodedPart {
  Encoding encoding = Encoding::raw;
  int64_t channel_begin = 0;  // [begin, end) along axis 0
  int64_t channel_end = 0;
  uint8_t terms = 1;                   // ternary residual terms (1..3)
  std::vector<float> scales;           // int8/int4: per channel; ternary: per channel x term
  std::vector<int32_t> zero_points;    // int8/int4: per channel (empty: all zero)
  bool sparse = false;                 // stream 0 is a 0/1 mask over the part's weights; values
                                       // streams then hold only the mask's non-zero positions
  std::vector<std::vector<uint8_t>> streams;
  std::vector<uint8_t> symbol_bits;    // per stream: bits that hold every symbol (1, 2, 4 or 8)
};

// Value streams of a part (not counting a sparse part's mask stream), from its encoding's row.
size_t value_stream_count(const EncodedPart& part);
// Scales a part must hold per channel.
size_t scales_per_channel(const EncodedPart& part);
// The label `info` and the report print for a part's encoding: "int8", "ternaryx2", "sparse-int4".
std::string encoding_label(const EncodedPart& part);

struct EncodedTensor {
  DType dtype = DType::f32;  // type of the decoded tensor
  Shape shape;
  std::vector<uint32_t> permutation;  // empty, or: stored channel i is channel permutation[i] (hybrid banks)
  std::vector<EncodedPart> parts;

  int64_t channels() const { return shape.empty() ? 1 : shape[0]; }
  int64_t channel_size() const;  // elements per channel
};

// Lossless encodings of a whole tensor.
EncodedTensor encode_raw(const Tensor& t);
EncodedTensor encode_fp32_planes(const Tensor& t);
EncodedTensor encode_fp16(const Tensor& t);  // rounds to nearest even
// Lossless for pruned float tensors: one sparse fp32 part, a mask (1 for every element whose bits
// are not those of +0.0) and the byte planes of the masked elements.
EncodedTensor encode_fp32_sparse(const Tensor& t);

// Rebuilds the dense tensor; fails (input error) if the parts or streams are inconsistent.
Tensor decode_tensor(const EncodedTensor& e, const std::string& name);

// Checks that parts tile [0, channels) in order and that every stream has the symbol count and
// symbol range its encoding requires; fails (input error) naming the tensor otherwise.
void validate_encoded(const EncodedTensor& e, const std::string& name);

// Symbols a stream of this part must hold (mask stream: every weight; value streams: weights or
// the mask's non-zeros).
uint64_t part_weights(const EncodedTensor& e, const EncodedPart& p);

uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace mc
