// The .mcz container (docs/FORMAT.md): header, section table, graph (ONNX structure without
// weights), tensor table, payload of coded symbol streams, JSON metadata, trailer with the
// whole-file checksum. Bytes only: which encoding each tensor uses is decided by the caller.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/encoding.h"

namespace mc {

inline constexpr uint16_t mcz_major_version = 1;
inline constexpr uint16_t mcz_minor_version = 0;

enum class SectionKind : uint32_t { graph = 1, tensors = 2, payload = 3, metadata = 4 };

// Reader limits on what a file's declared sizes may make the reader allocate (docs/FORMAT.md, "Limits a
// reader enforces before allocating"); the writer keeps within them, so they never refuse a file
// mcompress writes.
//
// The largest content a compressed section of `kind` stored in `stored_bytes` bytes may declare:
// min(absolute(kind), max(1 MiB, 1024 × stored_bytes)), absolute = 1 GiB for the graph and the tensor
// table, 64 MiB for the metadata (0 for the payload and unknown kinds, which are never decompressed).
// The writer stores a section uncompressed when its content would exceed this.
uint64_t mcz_section_content_cap(SectionKind kind, uint64_t stored_bytes);
// The most bytes all tensors of one file may decode to (sum of element count × element size): 4 GiB,
// twice what an ONNX file mcompress can read holds (protobuf's 2 GiB limit, no external data).
inline constexpr uint64_t mcz_max_decoded_bytes = uint64_t{1} << 32;
enum class StreamCoder : uint8_t { packed = 0, rans = 1, zstd = 2 };
const char* coder_name(StreamCoder c);
// The bytes each coder, indexed by StreamCoder, takes for one stream of `bits`-bit symbols: the
// figures the writer picks the smallest of (tests check its choice against them).
std::array<uint64_t, 3> coded_sizes(const std::vector<uint8_t>& symbols, uint8_t bits);

struct McSection {
  uint32_t kind = 0;
  uint32_t flags = 0;  // bit 0: required (a reader that does not know the kind must refuse the file)
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t crc = 0;
};

// How one symbol stream is stored in the payload.
struct McStream {
  StreamCoder coder = StreamCoder::packed;
  uint8_t symbol_bits = 8;
  uint64_t symbols = 0;
  uint64_t offset = 0;   // from the start of the payload section
  uint64_t length = 0;   // bytes
  uint64_t entropy_bits = 0;  // order-0 entropy bound of the symbols, rounded up
};

// An encoded tensor as the file describes it; streams are decoded on demand.
struct McTensor {
  std::string name;
  EncodedTensor encoded;                        // parts with empty streams until decoded
  std::vector<std::vector<McStream>> streams;   // per part
  uint64_t stored_bytes() const;
  uint64_t entropy_bits() const;
  uint64_t weights() const;
};

struct McFile {
  uint16_t major = mcz_major_version;
  uint16_t minor = mcz_minor_version;
  uint64_t file_bytes = 0;
  std::vector<McSection> sections;
  Model graph;  // nodes, inputs, outputs, opset; initializers are the tensors below
  std::vector<McTensor> tensors;
  nlohmann::ordered_json metadata;
  std::span<const std::byte> payload;  // points into the bytes given to read_mcz
};

// The coded streams of every tensor: the expensive half of writing a container (coder choice).
struct CodedTensors {
  std::vector<std::byte> table;    // the tensor table section
  std::vector<std::byte> payload;  // the payload section
};
// Every initializer of `model` must be encoded (Initializer::encoding); each symbol stream is stored
// with whichever coder (packed, rANS, zstd) gives the fewest bytes. Streams are coded on `threads`
// threads (<= 0: all cores); the bytes do not depend on it.
CodedTensors code_tensors(const Model& model, int threads = 0);
// The cheap half: the container around coded tensors, with this metadata.
// `compress_sections`: store graph, tensor table and metadata as zstd frames when smaller (tests that
// edit those sections byte by byte turn it off).
std::vector<std::byte> assemble_mcz(const Model& model, const CodedTensors& coded, const nlohmann::ordered_json& metadata,
                                    bool compress_sections = true);

// Writes a container: code_tensors then assemble_mcz.
std::vector<std::byte> write_mcz(const Model& model, const nlohmann::ordered_json& metadata, int threads = 0,
                                 bool compress_sections = true);

// Parses and verifies a container (magic, versions, every checksum, every offset, length and
// count) without decoding payloads. `bytes` must outlive the result. Errors name `name`.
McFile read_mcz(std::span<const std::byte> bytes, const std::string& name);

// Decodes every tensor and returns the runnable model (validated like an imported ONNX model), each
// initializer holding its encoding and the values it decodes to.
Model decode_mcz(const McFile& file, const std::string& name);
// The model with float tensors as zero-filled placeholders of the right shape (integer tensors,
// which shape arithmetic reads, are decoded): enough for shape inference and op counts, without
// decoding any weight payload.
Model structure_of_mcz(const McFile& file, const std::string& name);
// Decodes one tensor's streams into its EncodedTensor (symbols filled in).
EncodedTensor decode_streams(const McFile& file, const McTensor& tensor);

bool looks_like_mcz(std::span<const std::byte> head);

}  // namespace mc
