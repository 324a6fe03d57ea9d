#include "formats/mcz.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <list>
#include <memory>
#include <set>
#include <tuple>

#include "core/thread_pool.h"
#include "formats/byte_io.h"
#include "formats/checksum.h"
#include "formats/onnx_model.h"
#include "formats/rans.h"

namespace mc {

namespace {

constexpr std::byte magic[8] = {std::byte{0x89}, std::byte{'M'}, std::byte{'C'}, std::byte{'Z'},
                                std::byte{'\r'}, std::byte{'\n'}, std::byte{0x1a}, std::byte{'\n'}};
constexpr std::byte trailer_magic[4] = {std::byte{'M'}, std::byte{'C'}, std::byte{'Z'}, std::byte{'.'}};
constexpr size_t header_bytes = 32;
constexpr size_t section_entry_bytes = 32;
constexpr size_t trailer_bytes = 8;
constexpr uint32_t max_sections = 64;
constexpr uint32_t required_flag = 1;
constexpr uint32_t compressed_flag = 2;
// Caps on what the sizes a file declares may make this reader allocate (FORMAT.md, "Limits a reader
// enforces before allocating", says why none refuses a file mcompress writes):
// - a compressed section's content: min(absolute cap of its kind, max(1 MiB, 1024 × its stored
//   bytes)) (mcz_section_content_cap), checked on the frame's declared content size before anything
//   is allocated; the content is then decoded into a buffer that grows with zstd's real output
//   (zstd_decode_growing), so a frame declaring more than its blocks hold fails early;
// - zstd streams in the payload: the same growing decoder, up to the symbol count the tensor table
//   requires; rANS streams grow with the decoded symbols too (rans_decode); packed streams are as long
//   as their symbols need (checked in the tensor table), so they allocate at most 8 × their bytes;
// - all tensors together: mcz_max_decoded_bytes (4 GiB) of decoded values, checked while reading the
//   tensor table, which bounds decode_mcz's tensors and structure_of_mcz's placeholders;
// - counts in the tensor table (tensors, rank, permutation, parts, scales, zero points, streams, string
//   lengths): each bounded (ByteReader::count) and nothing sized from it up front: entries are read one
//   at a time, and a string's or a permutation's length is checked against the bytes left first.
constexpr uint64_t structure_section_cap = uint64_t{1} << 30;  // graph, tensor table: absolute
constexpr uint64_t metadata_section_cap = uint64_t{1} << 26;   // metadata: absolute
constexpr uint64_t section_cap_floor = uint64_t{1} << 20;      // any compressed section may hold 1 MiB
constexpr uint64_t section_cap_ratio = 1024;                   // else 1024 × its stored bytes
constexpr int zstd_window_log_max = 27;  // zstd's default decoder limit; mcompress writes 2^23 at most
constexpr uint64_t max_tensors = 1 << 20;
constexpr uint64_t max_rank = 8;
constexpr uint64_t max_string_length = 1 << 16;  // ByteReader::string's default
constexpr uint64_t max_streams_per_part = 5;

const char* section_name(uint32_t kind) {
  switch (kind) {
    case 1: return "graph";
    case 2: return "tensors";
    case 3: return "payload";
    case 4: return "metadata";
    default: return "unknown";
  }
}

std::span<const std::byte> as_span(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// --- symbol stream coders -------------------------------------------------------------------

std::vector<std::byte> pack_symbols(const std::vector<uint8_t>& symbols, uint8_t bits) {
  std::vector<std::byte> out((symbols.size() * bits + 7) / 8, std::byte{0});
  size_t bit = 0;
  for (uint8_t s : symbols) {
    out[bit / 8] |= static_cast<std::byte>((s & ((1u << bits) - 1)) << (bit % 8));
    bit += bits;
  }
  return out;
}

std::vector<uint8_t> unpack_symbols(std::span<const std::byte> in, uint64_t count, uint8_t bits) {
  std::vector<uint8_t> out(static_cast<size_t>(count));
  size_t bit = 0;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  for (auto& s : out) {
    s = static_cast<uint8_t>((static_cast<uint8_t>(in[bit / 8]) >> (bit % 8)) & mask);
    bit += bits;
  }
  return out;
}

// Decodes one zstd frame, already checked to be exactly one frame that declares `declared` content
// bytes (within a cap), into `out`. The buffer is not sized from the declaration: it starts at
// min(declared, 64 KiB + 16 × the frame's bytes) and doubles only when zstd has filled it, never past
// `declared`, so a frame declaring more than its blocks produce fails having allocated about what they
// did produce. zstd's own window buffer is at most min(declared, 2^27) (ZSTD_d_windowLogMax). False
// when the frame is corrupt or does not decode to exactly `declared` bytes.
template <class Byte>
bool zstd_decode_growing(std::span<const std::byte> frame, uint64_t declared, std::vector<Byte>& out) {
  static_assert(sizeof(Byte) == 1);
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) throw std::bad_alloc();
  if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, zstd_window_log_max)))
    fail_internal("zstd: cannot set the decoder's window limit");
  // At least one byte, so that the output pointer is never null (an empty frame decodes to none).
  out.assign(static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(declared, (uint64_t{1} << 16) + 16 * uint64_t{frame.size()}))), Byte{});
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  size_t produced = 0;
  for (;;) {
    if (produced == out.size() && out.size() < declared)
      out.resize(static_cast<size_t>(std::min<uint64_t>(declared, 2 * uint64_t{out.size()})));
    ZSTD_outBuffer o{out.data(), out.size(), produced};
    const size_t consumed = in.pos;
    const size_t hint = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(hint)) return false;
    const bool progress = o.pos != produced || in.pos != consumed;
    produced = o.pos;
    if (hint == 0) break;        // the frame is complete
    if (!progress) return false;  // input exhausted, or more output than declared
  }
  if (in.pos != in.size || produced != declared) return false;
  out.resize(produced);
  return true;
}

std::vector<std::byte> zstd_compress(const std::vector<uint8_t>& symbols) {
  std::vector<std::byte> out(ZSTD_compressBound(symbols.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), symbols.data(), symbols.size(), 19);
  if (ZSTD_isError(n)) fail_internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

double entropy_bits_of(const std::vector<uint8_t>& symbols) {
  return order0_entropy_bits(std::span<const uint8_t>(symbols.data(), symbols.size()));
}

// One stream as every coder writes it, indexed by StreamCoder. An empty stream is 0 bytes packed,
// which no other coder beats.
std::array<std::vector<std::byte>, 3> code_with_every_coder(const std::vector<uint8_t>& symbols, uint8_t bits) {
  return {pack_symbols(symbols, bits), rans_encode(std::span<const uint8_t>(symbols.data(), symbols.size())), zstd_compress(symbols)};
}

// Codes one stream with every coder and keeps the smallest (ties: packed, then rANS, then zstd,
// the fastest to decode first).
std::pair<McStream, std::vector<std::byte>> code_stream(const std::vector<uint8_t>& symbols, uint8_t bits) {
  McStream s;
  s.symbol_bits = bits;
  s.symbols = symbols.size();
  s.entropy_bits = static_cast<uint64_t>(std::ceil(entropy_bits_of(symbols) - 1e-9));
  auto coded = code_with_every_coder(symbols, bits);
  size_t best = 0;
  for (size_t c = 1; c < coded.size(); ++c)
    if (coded[c].size() < coded[best].size()) best = c;
  s.coder = static_cast<StreamCoder>(best);
  s.length = coded[best].size();
  return {s, std::move(coded[best])};
}

// FORMAT.md, Stream: every symbol is < 2^B (packed streams cannot break this; the other coders can).
void check_symbol_bits(const std::vector<uint8_t>& symbols, uint8_t bits, const std::string& context) {
  if (bits >= 8) return;
  for (uint8_t v : symbols)
    if (v >> bits) fail_input(context + ": symbol " + std::to_string(v) + " does not fit in the stream's " + std::to_string(bits) + " symbol bits");
}

std::vector<uint8_t> decode_stream(const McStream& s, std::span<const std::byte> bytes, const std::string& context) {
  switch (s.coder) {
    case StreamCoder::packed:
      return unpack_symbols(bytes, s.symbols, s.symbol_bits);
    case StreamCoder::rans: {
      std::vector<uint8_t> out;
      try {
        out = rans_decode(bytes, s.symbols);
      } catch (const Error& e) {
        throw Error(e.kind(), context + ": " + e.what());
      }
      if (out.size() != s.symbols) fail_input(context + ": rANS stream holds " + std::to_string(out.size()) + " symbols, expected " + std::to_string(s.symbols));
      check_symbol_bits(out, s.symbol_bits, context);
      return out;
    }
    case StreamCoder::zstd: {
      unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
      if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size != s.symbols)
        fail_input(context + ": zstd frame does not hold the expected " + std::to_string(s.symbols) + " symbols");
      if (ZSTD_findFrameCompressedSize(bytes.data(), bytes.size()) != bytes.size())
        fail_input(context + ": zstd stream is not exactly one frame");
      std::vector<uint8_t> out;
      if (!zstd_decode_growing(bytes, s.symbols, out))
        fail_input(context + ": corrupt zstd frame (it does not decode to the " + std::to_string(s.symbols) + " symbols it declares)");
      check_symbol_bits(out, s.symbol_bits, context);
      return out;
    }
  }
  fail_input(context + ": unknown stream coder");
}

// --- tensor table ---------------------------------------------------------------------------

// True when every scale is a finite float16 value, bit for bit (so -0.0 stays -0.0).
bool scales_are_half(const std::vector<float>& scales) {
  if (scales.empty()) return false;
  for (float s : scales) {
    if (!std::isfinite(s)) return false;
    const float back = half_to_float(float_to_half(s));
    if (std::memcmp(&back, &s, sizeof s) != 0) return false;
  }
  return true;
}

void write_tensor_record(ByteWriter& w, const std::string& name, const EncodedTensor& e, const std::vector<std::vector<McStream>>& streams) {
  w.string(name);
  w.u8(static_cast<uint8_t>(e.dtype));
  w.varint(e.shape.size());
  for (int64_t d : e.shape) w.varint(static_cast<uint64_t>(d));
  w.varint(e.permutation.size());
  for (uint32_t p : e.permutation) w.varint(p);
  w.varint(e.parts.size());
  for (size_t pi = 0; pi < e.parts.size(); ++pi) {
    const EncodedPart& p = e.parts[pi];
    // Scales that are all exact float16 values are stored in 2 bytes each (part flag bit 1):
    // lossless, so the writer decides alone (passes round scales to float16 to benefit).
    const bool half_scales = scales_are_half(p.scales);
    w.u8(static_cast<uint8_t>(p.encoding));
    w.u8(static_cast<uint8_t>((p.sparse ? 1 : 0) | (half_scales ? 2 : 0)));
    w.varint(static_cast<uint64_t>(p.channel_begin));
    w.varint(static_cast<uint64_t>(p.channel_end));
    w.u8(p.terms);
    w.varint(p.scales.size());
    for (float s : p.scales) {
      if (half_scales) w.u16(float_to_half(s));
      else w.f32(s);
    }
    w.varint(p.zero_points.size());
    for (int32_t z : p.zero_points) w.svarint(z);
    w.varint(streams[pi].size());
    for (const McStream& s : streams[pi]) {
      w.u8(static_cast<uint8_t>(s.coder));
      w.u8(s.symbol_bits);
      w.varint(s.symbols);
      w.varint(s.offset);
      w.varint(s.length);
      w.varint(s.entropy_bits);
    }
  }
}

McTensor read_tensor_record(ByteReader& r, uint64_t payload_bytes) {
  McTensor t;
  t.name = r.string("tensor name");
  if (t.name.empty()) r.fail("a tensor has an empty name");
  uint8_t dtype = r.u8("tensor element type");
  if (!dtype_supported(dtype)) r.fail("tensor '" + t.name + "' has unknown element type " + std::to_string(dtype));
  EncodedTensor& e = t.encoded;
  e.dtype = static_cast<DType>(dtype);
  uint64_t rank = r.count("tensor rank", max_rank);
  for (uint64_t i = 0; i < rank; ++i) e.shape.push_back(static_cast<int64_t>(r.count("tensor dimension", static_cast<uint64_t>(max_tensor_elements))));
  int64_t numel = 0;
  try {
    numel = shape_numel(e.shape);
  } catch (const Error& err) {
    r.fail("tensor '" + t.name + "': " + err.what());
  }
  const uint64_t channels = static_cast<uint64_t>(e.channels());
  const uint64_t channel_size = static_cast<uint64_t>(e.channel_size());
  uint64_t perm = r.count("permutation length", channels);
  if (perm != 0 && perm != channels) r.fail("tensor '" + t.name + "': permutation length differs from the channel count");
  // Each entry takes at least a byte: refuse a length the table cannot hold before sizing `seen`.
  if (perm > r.remaining())
    r.fail("tensor '" + t.name + "': permutation of " + std::to_string(perm) + " entries, only " + std::to_string(r.remaining()) + " bytes left");
  std::vector<bool> seen(static_cast<size_t>(perm), false);
  for (uint64_t i = 0; i < perm; ++i) {
    uint64_t p = r.count("permutation entry", channels - 1);
    if (seen[static_cast<size_t>(p)]) r.fail("tensor '" + t.name + "': permutation repeats channel " + std::to_string(p));
    seen[static_cast<size_t>(p)] = true;
    e.permutation.push_back(static_cast<uint32_t>(p));
  }
  uint64_t parts = r.count("part count", std::max<uint64_t>(channels, 1));
  if (parts == 0) r.fail("tensor '" + t.name + "' has no parts");
  int64_t next_channel = 0;
  for (uint64_t pi = 0; pi < parts; ++pi) {
    EncodedPart p;
    uint8_t enc = r.u8("encoding");
    if (!encoding_known(enc)) r.unsupported("tensor '" + t.name + "' uses encoding " + std::to_string(enc) + ", unknown to this reader");
    p.encoding = static_cast<Encoding>(enc);
    uint8_t flags = r.u8("part flags");
    if (flags & ~3u) r.fail("tensor '" + t.name + "': reserved part flags are set");
    p.sparse = flags & 1u;
    const bool half_scales = flags & 2u;
    p.channel_begin = static_cast<int64_t>(r.count("part first channel", channels));
    p.channel_end = static_cast<int64_t>(r.count("part end channel", channels));
    if (p.channel_begin != next_channel || p.channel_end <= p.channel_begin)
      r.fail("tensor '" + t.name + "': parts do not tile the channels in order");
    next_channel = p.channel_end;
    p.terms = r.u8("ternary terms");
    const uint64_t part_channels = static_cast<uint64_t>(p.channel_end - p.channel_begin);
    // The symbol count every stream of the part must declare (FORMAT.md, Encodings), checked before
    // any stream is decoded so that a small file cannot make the decoder allocate for symbols its
    // tensor has no room for. Value streams of sparse parts hold at most one symbol per weight.
    const uint64_t part_weights = part_channels * channel_size;
    const uint64_t stream_symbols = encoding_traits(p.encoding).decode ? part_weights : part_weights * dtype_size(e.dtype);  // raw: bytes
    uint64_t scales = r.count("scale count", part_channels * 3);
    for (uint64_t i = 0; i < scales; ++i) p.scales.push_back(half_scales ? half_to_float(r.u16("scale")) : r.f32("scale"));
    uint64_t zps = r.count("zero point count", part_channels);
    for (uint64_t i = 0; i < zps; ++i) {
      int64_t z = r.svarint("zero point");
      if (z < -128 || z > 255) r.fail("tensor '" + t.name + "': zero point " + std::to_string(z) + " out of range");
      p.zero_points.push_back(static_cast<int32_t>(z));
    }
    uint64_t nstreams = r.count("stream count", max_streams_per_part);
    std::vector<McStream> streams;
    for (uint64_t si = 0; si < nstreams; ++si) {
      McStream s;
      uint8_t coder = r.u8("stream coder");
      if (coder > 2) r.unsupported("tensor '" + t.name + "' uses stream coder " + std::to_string(coder) + ", unknown to this reader");
      s.coder = static_cast<StreamCoder>(coder);
      s.symbol_bits = r.u8("symbol bits");
      if (s.symbol_bits != 1 && s.symbol_bits != 2 && s.symbol_bits != 4 && s.symbol_bits != 8)
        r.fail("tensor '" + t.name + "': symbol bits must be 1, 2, 4 or 8");
      // A raw stream holds the bytes of its elements; every other stream one symbol per weight.
      s.symbols = r.count("symbol count", static_cast<uint64_t>(numel) * 8);
      const bool sparse_values = p.sparse && si > 0;
      if (sparse_values ? s.symbols > stream_symbols : s.symbols != stream_symbols)
        r.fail("tensor '" + t.name + "': stream " + std::to_string(si) + " declares " + std::to_string(s.symbols) + " symbols, " +
               encoding_name(p.encoding) + (sparse_values ? " allows at most " : " needs ") + std::to_string(stream_symbols));
      s.offset = r.count("stream offset", payload_bytes);
      s.length = r.count("stream length", payload_bytes - s.offset);
      s.entropy_bits = r.varint("entropy bound");
      if (s.coder == StreamCoder::packed && s.length != (s.symbols * s.symbol_bits + 7) / 8)
        r.fail("tensor '" + t.name + "': packed stream length does not match its symbol count");
      streams.push_back(s);
    }
    p.streams.resize(streams.size());
    for (const auto& s : streams) p.symbol_bits.push_back(s.symbol_bits);
    e.parts.push_back(std::move(p));
    t.streams.push_back(std::move(streams));
  }
  if (next_channel != e.channels()) r.fail("tensor '" + t.name + "': parts do not cover every channel");
  return t;
}

}  // namespace

uint64_t mcz_section_content_cap(SectionKind kind, uint64_t stored_bytes) {
  uint64_t absolute = 0;
  switch (kind) {
    case SectionKind::graph:
    case SectionKind::tensors: absolute = structure_section_cap; break;
    case SectionKind::metadata: absolute = metadata_section_cap; break;
    case SectionKind::payload: return 0;
  }
  const uint64_t relative = stored_bytes > absolute / section_cap_ratio ? absolute : stored_bytes * section_cap_ratio;
  return std::min(absolute, std::max(section_cap_floor, relative));
}

const char* coder_name(StreamCoder c) {
  switch (c) {
    case StreamCoder::packed: return "packed";
    case StreamCoder::rans: return "rans";
    case StreamCoder::zstd: return "zstd";
  }
  return "unknown";
}

std::array<uint64_t, 3> coded_sizes(const std::vector<uint8_t>& symbols, uint8_t bits) {
  const auto coded = code_with_every_coder(symbols, bits);
  return {coded[0].size(), coded[1].size(), coded[2].size()};
}

uint64_t McTensor::stored_bytes() const {
  uint64_t n = 0;
  for (const auto& part : streams)
    for (const auto& s : part) n += s.length;
  return n;
}

uint64_t McTensor::entropy_bits() const {
  uint64_t n = 0;
  for (const auto& part : streams)
    for (const auto& s : part) n += s.entropy_bits;
  return n;
}

uint64_t McTensor::weights() const { return static_cast<uint64_t>(shape_numel(encoded.shape)); }

bool looks_like_mcz(std::span<const std::byte> head) {
  return head.size() >= 4 && std::equal(magic, magic + 4, head.begin());
}

CodedTensors code_tensors(const Model& model, int threads) {
  // Code every stream (in parallel: each is independent, so the bytes do not depend on the
  // thread count), then lay them out in tensor-table order.
  struct Job {
    const std::vector<uint8_t>* symbols;
    uint8_t bits;
    McStream info;
    std::vector<std::byte> bytes;
  };
  std::vector<Job> jobs;
  // What a reader refuses (FORMAT.md, "Limits a reader enforces before allocating") is not written.
  if (model.graph.initializers.size() > max_tensors)
    fail_unsupported("write_mcz: " + std::to_string(model.graph.initializers.size()) + " weight tensors, an .mcz file holds at most " + std::to_string(max_tensors));
  uint64_t decoded_bytes = 0;
  for (const auto& [name, init] : model.graph.initializers) {
    if (!init.encoding) fail_internal("write_mcz: tensor '" + name + "' has no encoding");
    const EncodedTensor& e = *init.encoding;
    validate_encoded(e, name);
    if (e.shape != init.values.shape() || e.dtype != init.values.dtype()) fail_internal("write_mcz: encoding of '" + name + "' has another shape or type");
    if (name.size() > max_string_length || e.shape.size() > max_rank)
      fail_unsupported("write_mcz: tensor '" + name.substr(0, 64) + "' has a name of " + std::to_string(name.size()) + " bytes and rank " +
                       std::to_string(e.shape.size()) + "; an .mcz file holds names of at most " + std::to_string(max_string_length) +
                       " bytes and ranks of at most " + std::to_string(max_rank));
    decoded_bytes += init.values.byte_size();
    if (decoded_bytes > mcz_max_decoded_bytes)
      fail_unsupported("write_mcz: the weights take more than " + std::to_string(mcz_max_decoded_bytes) + " bytes, the most an .mcz file holds");
    for (const auto& part : e.parts)
      for (size_t s = 0; s < part.streams.size(); ++s) jobs.push_back(Job{&part.streams[s], part.symbol_bits[s], {}, {}});
  }
  ThreadPool pool(threads);
  pool.parallel_for(static_cast<int64_t>(jobs.size()), [&](int64_t i) {
    Job& j = jobs[static_cast<size_t>(i)];
    std::tie(j.info, j.bytes) = code_stream(*j.symbols, j.bits);
  });
  ByteWriter payload, table;
  table.varint(model.graph.initializers.size());
  size_t next_job = 0;
  for (const auto& [name, init] : model.graph.initializers) {
    const EncodedTensor& e = *init.encoding;
    std::vector<std::vector<McStream>> streams;
    for (const auto& part : e.parts) {
      streams.emplace_back();
      for (size_t s = 0; s < part.streams.size(); ++s) {
        Job& j = jobs[next_job++];
        j.info.offset = payload.size();
        payload.append(j.bytes);
        streams.back().push_back(j.info);
      }
    }
    write_tensor_record(table, name, e, streams);
  }
  return CodedTensors{std::move(table.bytes()), std::move(payload.bytes())};
}

std::vector<std::byte> write_mcz(const Model& model, const nlohmann::ordered_json& metadata, int threads, bool compress_sections) {
  return assemble_mcz(model, code_tensors(model, threads), metadata, compress_sections);
}

std::vector<std::byte> assemble_mcz(const Model& model, const CodedTensors& coded, const nlohmann::ordered_json& metadata,
                                    bool compress_sections) {
  // Graph: the model's structure as ONNX, weights left out (they are the tensor table's).
  Model structure = model;
  structure.graph.initializers.clear();
  std::string graph_bytes = serialize_onnx(structure);

  // The metadata section is a JSON object (a default-constructed json is null: written as {}).
  if (!metadata.is_null() && !metadata.is_object()) fail_internal("write_mcz: metadata must be a JSON object");
  std::string meta = metadata.is_null() ? "{}" : metadata.dump();

  struct Pending {
    SectionKind kind;
    std::span<const std::byte> bytes;
    bool required;
    size_t alignment;
    bool compressed = false;
  };
  // The structural sections (graph, tensor table, metadata) are stored as one zstd frame when that
  // is smaller (section flag bit 1); the payload is already coded stream by stream.
  std::vector<std::byte> packed[3];
  auto maybe_pack = [&](std::span<const std::byte> raw, int slot, Pending p) {
    std::vector<uint8_t> plain(reinterpret_cast<const uint8_t*>(raw.data()), reinterpret_cast<const uint8_t*>(raw.data()) + raw.size());
    packed[slot] = zstd_compress(plain);
    // Compressed only when smaller and within what a reader accepts for the kind (else stored plain).
    if (compress_sections && packed[slot].size() < raw.size() && raw.size() <= mcz_section_content_cap(p.kind, packed[slot].size())) {
      p.bytes = packed[slot];
      p.compressed = true;
    }
    return p;
  };
  std::vector<Pending> sections = {
      maybe_pack(as_span(graph_bytes), 0, {SectionKind::graph, as_span(graph_bytes), true, 8}),
      maybe_pack(coded.table, 1, {SectionKind::tensors, coded.table, true, 8}),
      maybe_pack(as_span(meta), 2, {SectionKind::metadata, as_span(meta), false, 8}),
      {SectionKind::payload, coded.payload, true, 64},
  };
  ByteWriter out;
  out.append(magic);
  out.u16(mcz_major_version);
  out.u16(mcz_minor_version);
  out.u32(0);  // flags
  out.u64(0);  // file size, patched below
  out.u32(static_cast<uint32_t>(sections.size()));
  out.u32(0);  // header + table checksum, patched below
  const size_t table_at = out.size();
  for (size_t i = 0; i < sections.size(); ++i)
    for (int k = 0; k < 4; ++k) out.u64(0);
  std::vector<McSection> entries;
  for (const auto& s : sections) {
    out.pad_to(s.alignment);
    McSection e;
    e.kind = static_cast<uint32_t>(s.kind);
    e.flags = (s.required ? required_flag : 0) | (s.compressed ? compressed_flag : 0);
    e.offset = out.size();
    e.length = s.bytes.size();
    e.crc = crc32c(s.bytes);
    out.append(s.bytes);
    entries.push_back(e);
  }
  out.pad_to(8);
  const size_t file_size = out.size() + trailer_bytes;
  for (size_t i = 0; i < entries.size(); ++i) {
    size_t at = table_at + i * section_entry_bytes;
    out.patch_u32(at, entries[i].kind);
    out.patch_u32(at + 4, entries[i].flags);
    out.patch_u64(at + 8, entries[i].offset);
    out.patch_u64(at + 16, entries[i].length);
    out.patch_u32(at + 24, entries[i].crc);
    out.patch_u32(at + 28, 0);
  }
  out.patch_u64(16, file_size);
  // Header checksum covers the header's first 28 bytes and the whole section table.
  uint32_t head_crc = crc32c(std::span<const std::byte>(out.bytes().data(), 28));
  head_crc = crc32c(std::span<const std::byte>(out.bytes().data() + table_at, entries.size() * section_entry_bytes), head_crc);
  out.patch_u32(28, head_crc);
  out.u32(crc32c(out.bytes()));
  out.append(trailer_magic);
  return std::move(out.bytes());
}

McFile read_mcz(std::span<const std::byte> bytes, const std::string& name) {
  McFile f;
  ByteReader r(bytes, name);
  if (bytes.empty()) fail_input(name + ": empty file, not an .mcz file");
  if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(bytes.size(), 8)), magic))
    fail_input(name + ": not an .mcz file (bad magic)");
  r.bytes(8, "magic");  // a prefix of the magic: truncated
  f.major = r.u16("major version");
  f.minor = r.u16("minor version");
  if (f.major != mcz_major_version)
    fail_unsupported(name + ": .mcz version " + std::to_string(f.major) + "." + std::to_string(f.minor) +
                     ", this reader supports version " + std::to_string(mcz_major_version) + ".x");
  uint32_t flags = r.u32("header flags");
  uint64_t declared_size = r.u64("file size");
  uint32_t count = r.u32("section count");
  uint32_t head_crc = r.u32("header checksum");
  // FORMAT.md's order: the header checksum before the fields it covers (a flipped bit in the size
  // field is a corrupt header, not a truncation), then flags and size.
  if (count == 0 || count > max_sections) fail_input(name + ": section count " + std::to_string(count) + " is out of range");
  auto table = r.bytes(static_cast<size_t>(count) * section_entry_bytes, "section table");
  uint32_t crc = crc32c(bytes.subspan(0, 28));
  crc = crc32c(table, crc);
  if (crc != head_crc) fail_input(name + ": header checksum mismatch (corrupt header or section table)");
  if (flags != 0) fail_input(name + ": reserved header flags are set");
  if (declared_size != bytes.size())
    fail_input(name + ": file is " + std::to_string(bytes.size()) + " bytes, its header says " + std::to_string(declared_size) + " (truncated or extended)");
  f.file_bytes = bytes.size();
  // Trailer and whole-file checksum.
  if (bytes.size() < header_bytes + trailer_bytes) fail_input(name + ": too short for an .mcz file");
  auto trailer = bytes.subspan(bytes.size() - trailer_bytes);
  if (!std::equal(trailer_magic, trailer_magic + 4, trailer.begin() + 4)) fail_input(name + ": bad trailer (truncated?)");
  uint32_t file_crc;
  std::memcpy(&file_crc, trailer.data(), 4);
  if (crc32c(bytes.subspan(0, bytes.size() - trailer_bytes)) != file_crc) fail_input(name + ": whole-file checksum mismatch (the file is corrupt)");

  ByteReader tr(table, name + ": section table");
  const uint64_t body_begin = header_bytes + static_cast<uint64_t>(count) * section_entry_bytes;
  const uint64_t body_end = bytes.size() - trailer_bytes;
  std::map<uint32_t, std::span<const std::byte>> found;
  std::list<std::vector<std::byte>> unpacked;  // decompressed sections, alive while parsing
  for (uint32_t i = 0; i < count; ++i) {
    McSection s;
    s.kind = tr.u32("section kind");
    s.flags = tr.u32("section flags");
    s.offset = tr.u64("section offset");
    s.length = tr.u64("section length");
    s.crc = tr.u32("section checksum");
    if (tr.u32("section reserved") != 0) fail_input(name + ": reserved section field is set");
    const std::string label = std::string("section '") + section_name(s.kind) + "'";
    if (s.offset < body_begin || s.offset > body_end || s.length > body_end - s.offset)
      fail_input(name + ": " + label + " points outside the file (offset " + std::to_string(s.offset) + ", length " + std::to_string(s.length) + ")");
    auto data = bytes.subspan(static_cast<size_t>(s.offset), static_cast<size_t>(s.length));
    if (crc32c(data) != s.crc) fail_input(name + ": checksum mismatch in " + label);
    if (s.flags & ~(required_flag | compressed_flag)) fail_input(name + ": " + label + " has reserved flags set");
    bool known = s.kind >= 1 && s.kind <= 4;
    if ((s.flags & compressed_flag) && known) {
      if (s.kind == static_cast<uint32_t>(SectionKind::payload)) fail_input(name + ": the payload section must not be compressed");
      unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
      if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
        fail_input(name + ": " + label + " is not a zstd frame with a content size (it is marked compressed)");
      // What the kind can hold, relative to the stored bytes: checked before anything is allocated.
      const uint64_t cap = mcz_section_content_cap(static_cast<SectionKind>(s.kind), s.length);
      if (size > cap)
        fail_input(name + ": " + label + " declares " + std::to_string(size) + " bytes of content in " + std::to_string(s.length) +
                   " compressed bytes, more than the limit " + std::to_string(cap));
      if (ZSTD_findFrameCompressedSize(data.data(), data.size()) != data.size())
        fail_input(name + ": " + label + " is not exactly one zstd frame");
      std::vector<std::byte> plain;
      if (!zstd_decode_growing(data, size, plain))
        fail_input(name + ": " + label + " holds a corrupt zstd frame (it does not decode to the " + std::to_string(size) + " bytes it declares)");
      unpacked.push_back(std::move(plain));
      data = unpacked.back();
    }
    if (!known && (s.flags & required_flag))
      fail_unsupported(name + ": required section kind " + std::to_string(s.kind) + " is unknown to this reader (written by a newer mcompress?)");
    if (known) {
      if (found.count(s.kind)) fail_input(name + ": " + label + " appears twice");
      found[s.kind] = data;
    }
    f.sections.push_back(s);
  }
  std::vector<McSection> by_offset = f.sections;
  std::sort(by_offset.begin(), by_offset.end(), [](const McSection& a, const McSection& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.length < b.length;
  });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1].offset + by_offset[i - 1].length > by_offset[i].offset)
      fail_input(name + ": sections '" + section_name(by_offset[i - 1].kind) + "' and '" + section_name(by_offset[i].kind) + "' overlap");
  for (uint32_t k : {1u, 2u, 3u})
    if (!found.count(k)) fail_input(name + ": section '" + section_name(k) + "' is missing");
  f.payload = found[3];
  f.graph = parse_onnx_unchecked(found[1], name + ": graph section");
  if (!f.graph.graph.initializers.empty()) fail_input(name + ": graph section carries weights");
  ByteReader tt(found[2], name + ": tensor table");
  uint64_t n = tt.count("tensor count", max_tensors);
  std::set<std::string> names;
  uint64_t decoded_bytes = 0;  // what decode_mcz and structure_of_mcz allocate for the tensors
  for (uint64_t i = 0; i < n; ++i) {
    McTensor t = read_tensor_record(tt, f.payload.size());
    if (!names.insert(t.name).second) tt.fail("tensor '" + t.name + "' appears twice");
    decoded_bytes += t.weights() * dtype_size(t.encoded.dtype);
    if (decoded_bytes > mcz_max_decoded_bytes)
      tt.fail("tensor '" + t.name + "' brings the tensors' decoded size to " + std::to_string(decoded_bytes) + " bytes, more than the limit " +
              std::to_string(mcz_max_decoded_bytes));
    f.tensors.push_back(std::move(t));
  }
  if (tt.remaining() != 0) tt.fail("trailing bytes after the last tensor");
  if (found.count(4)) {
    auto m = found[4];
    f.metadata = nlohmann::ordered_json::parse(std::string(reinterpret_cast<const char*>(m.data()), m.size()), nullptr, false);
    if (f.metadata.is_discarded() || !f.metadata.is_object()) fail_input(name + ": metadata section is not a JSON object");
  }
  return f;
}

EncodedTensor decode_streams(const McFile& file, const McTensor& tensor) {
  EncodedTensor e = tensor.encoded;
  for (size_t pi = 0; pi < e.parts.size(); ++pi) {
    for (size_t si = 0; si < tensor.streams[pi].size(); ++si) {
      const McStream& s = tensor.streams[pi][si];
      auto bytes = file.payload.subspan(static_cast<size_t>(s.offset), static_cast<size_t>(s.length));
      e.parts[pi].streams[si] = decode_stream(s, bytes, "tensor '" + tensor.name + "': stream " + std::to_string(si));
    }
  }
  validate_encoded(e, tensor.name);
  return e;
}

Model decode_mcz(const McFile& file, const std::string& name) {
  Model model = file.graph;
  for (const auto& t : file.tensors) {
    try {
      // Each weight with its encoding: what eval, export and the report of this file read.
      model.graph.initializers[t.name] = Tensor();
      model.graph.encode(t.name, decode_streams(file, t));
    } catch (const Error& e) {
      throw Error(e.kind(), name + ": " + e.what());
    }
  }
  check_imported(model, name);
  return model;
}

Model structure_of_mcz(const McFile& file, const std::string& name) {
  Model model = file.graph;
  for (const auto& t : file.tensors) {
    try {
      if (t.encoded.dtype == DType::f32) model.graph.initializers[t.name] = Tensor(t.encoded.dtype, t.encoded.shape);
      else model.graph.initializers[t.name] = decode_tensor(decode_streams(file, t), t.name);
    } catch (const Error& e) {
      throw Error(e.kind(), name + ": " + e.what());
    }
  }
  check_imported(model, name);
  return model;
}

}  // namespace mc
