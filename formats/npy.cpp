#include "formats/npy.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "formats/file_io.h"

namespace mc {

static_assert(std::endian::native == std::endian::little,
              "the .npy reader and writer assume a little-endian host ('<' descriptors are copied as is)");

namespace {

constexpr char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

// A header is a Python dict literal; numpy itself caps it (max_header_size = 10000 in numpy >= 1.24) to
// avoid slow literal_eval. Our tiny parser has no such problem, but a megabyte of header is still corrupt.
constexpr size_t max_header_bytes = size_t{1} << 20;

// The header text at a parse error, for the message: up to 24 characters, without the padding.
std::string quote_excerpt(std::string_view text) {
  std::string_view head = text.substr(0, std::min(text.find('\n'), size_t{24}));
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  if (head.empty()) return "the end of the header";
  std::string out;
  for (char c : head) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return "'" + out + (head.size() < text.size() && text[head.size()] != ' ' && text[head.size()] != '\n' ? "...'" : "'");
}

// Recursive-descent parser for the subset of Python literals numpy writes in a header:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (8, 3, 224, 224), }
// Strings in single or double quotes (no escapes: no valid descriptor needs one), True / False, and
// tuples of non-negative integers, with arbitrary whitespace and optional trailing commas.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  [[noreturn]] void error(const std::string& what) const {
    fail_input(name_ + ": bad npy header: " + what + " at header offset " + std::to_string(pos_) + " (near " +
               quote_excerpt(text_.substr(pos_)) + ")");
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!accept(c)) error(std::string("expected ") + what);
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }

  std::string parse_string() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) error("expected a quoted string");
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) error("unterminated string");
    std::string_view s = text_.substr(pos_, end - pos_);
    if (s.find('\\') != std::string_view::npos) error("escape sequences are not expected in a header string");
    pos_ = end + 1;
    return std::string(s);
  }

  bool parse_bool() {
    skip_space();
    std::string_view rest = text_.substr(pos_);
    if (rest.starts_with("True")) {
      pos_ += 4;
      return true;
    }
    if (rest.starts_with("False")) {
      pos_ += 5;
      return false;
    }
    error("expected True or False");
  }

  int64_t parse_dim() {
    skip_space();
    const char* begin = text_.data() + pos_;
    const char* end = text_.data() + text_.size();
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range) error("dimension out of range");
    if (ec != std::errc() || ptr == begin) error("expected a dimension (integer)");
    if (value < 0) error("negative dimension");
    pos_ += static_cast<size_t>(ptr - begin);
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 long literal, as numpy accepts
    return value;
  }

  // "()", "(5,)", "(8, 3, 224, 224)" and the same with a trailing comma.
  Shape parse_shape() {
    expect('(', "'(' starting the shape tuple");
    Shape shape;
    if (accept(')')) return shape;
    for (;;) {
      if (shape.size() >= 32) error("more than 32 dimensions");
      shape.push_back(parse_dim());
      if (accept(')')) {
        // Python: "(5)" is an int, not a tuple; numpy never writes it.
        if (shape.size() == 1) error("a one-element shape tuple needs a trailing comma");
        return shape;
      }
      expect(',', "',' or ')' in the shape tuple");
      if (accept(')')) return shape;
    }
  }

 private:
  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
};

struct NpyHeader {
  DType dtype = DType::undefined;
  Shape shape;
};

DType parse_descr(const std::string& descr, const std::string& name) {
  // Single-byte types have no byte order; numpy writes '|' but '<', '>' and '=' mean the same thing.
  if (descr.size() == 3) {
    char order = descr[0];
    std::string_view type = std::string_view(descr).substr(1);
    bool any_order = order == '|' || order == '<' || order == '>' || order == '=';
    if (any_order && type == "u1") return DType::u8;
    if (any_order && type == "i1") return DType::i8;
    if (any_order && type == "b1") return DType::boolean;
    if (order == '<' && type == "f4") return DType::f32;
    if (order == '<' && type == "i4") return DType::i32;
    if (order == '<' && type == "i8") return DType::i64;
  }
  fail_unsupported(name + ": npy element type '" + descr +
                   "' is not supported (supported: '<f4', '|u1', '|i1', '<i4', '<i8', '|b1')");
}

NpyHeader parse_header(std::string_view text, const std::string& name) {
  HeaderParser p(text, name);
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<Shape> shape;
  p.expect('{', "'{' starting the header dictionary");
  while (!p.accept('}')) {
    std::string key = p.parse_string();
    p.expect(':', "':' after a dictionary key");
    if (key == "descr") {
      if (descr) p.error("duplicate key 'descr'");
      if (p.peek('[')) fail_unsupported(name + ": npy structured (record) arrays are not supported");
      descr = p.parse_string();
    } else if (key == "fortran_order") {
      if (fortran_order) p.error("duplicate key 'fortran_order'");
      fortran_order = p.parse_bool();
    } else if (key == "shape") {
      if (shape) p.error("duplicate key 'shape'");
      shape = p.parse_shape();
    } else {
      fail_input(name + ": bad npy header: unexpected key '" + key.substr(0, 40) +
                 "' (expected 'descr', 'fortran_order', 'shape')");
    }
    if (!p.accept(',')) {
      p.expect('}', "',' or '}' in the header dictionary");
      break;
    }
  }
  if (!p.at_end()) p.error("unexpected text after the header dictionary");
  if (!descr) fail_input(name + ": bad npy header: missing key 'descr'");
  if (!fortran_order) fail_input(name + ": bad npy header: missing key 'fortran_order'");
  if (!shape) fail_input(name + ": bad npy header: missing key 'shape'");

  NpyHeader h;
  h.dtype = parse_descr(*descr, name);
  if (*fortran_order)
    fail_unsupported(name + ": npy array in Fortran order (fortran_order: True); only C order is supported");
  h.shape = std::move(*shape);
  return h;
}

uint32_t read_le(const std::byte* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint32_t>(p[i]);
  return v;
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::u8: return "|u1";
    case DType::i8: return "|i1";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::boolean: return "|b1";
    case DType::undefined: break;
  }
  return nullptr;
}

}  // namespace

Tensor read_npy_bytes(std::span<const std::byte> bytes, const std::string& name) {
  const size_t size = bytes.size();
  if (size < sizeof npy_magic || std::memcmp(bytes.data(), npy_magic, sizeof npy_magic) != 0)
    fail_input(name + ": not a .npy file (bad magic; expected \\x93NUMPY)");
  if (size < 8) fail_input(name + ": truncated: file ends inside the npy version field");
  const int major = static_cast<int>(bytes[6]);
  const int minor = static_cast<int>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    fail_unsupported(name + ": npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                     ", this reader supports 1.0, 2.0 and 3.0");
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t prefix = 8 + length_bytes;
  if (size < prefix) fail_input(name + ": truncated: file ends inside the npy header length field");
  const size_t header_len = read_le(bytes.data() + 8, static_cast<int>(length_bytes));
  if (header_len > size - prefix)
    fail_input(name + ": truncated: header length says " + std::to_string(header_len) +
               " bytes of header, file has " + std::to_string(size - prefix));
  if (header_len > max_header_bytes)
    fail_input(name + ": bad npy header: header length " + std::to_string(header_len) + " is implausibly large");

  std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
  // Versions 1 and 2 are latin-1 and 3 is UTF-8; the fields we accept are ASCII either way, so any
  // other byte (NUL included) means corruption.
  for (char c : header_text)
    if (static_cast<unsigned char>(c) >= 0x80 ||
        (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r'))
      fail_input(name + ": bad npy header: non-ASCII or control byte in the header");
  NpyHeader h = parse_header(header_text, name);

  int64_t numel = 0;
  try {
    numel = shape_numel(h.shape);
  } catch (const Error& e) {
    fail_input(name + ": bad npy header: " + e.what());
  }
  const uint64_t expected = static_cast<uint64_t>(numel) * dtype_size(h.dtype);
  const uint64_t have = size - prefix - header_len;
  if (have < expected)
    fail_input(name + ": truncated: header says " + std::to_string(expected) + " bytes of data, file has " +
               std::to_string(have));
  if (have > expected)
    fail_input(name + ": " + std::to_string(have - expected) + " unexpected bytes after the data (header says " +
               std::to_string(expected) + " bytes of data, file has " + std::to_string(have) + ")");

  Tensor t(h.dtype, std::move(h.shape));
  if (expected > 0) std::memcpy(t.raw(), bytes.data() + prefix + header_len, static_cast<size_t>(expected));
  return t;
}

Tensor read_npy(const std::string& path) {
  std::vector<std::byte> bytes = read_binary_file(path);
  return read_npy_bytes(bytes, path == "-" ? std::string("<stdin>") : path);
}

std::vector<std::byte> write_npy_bytes(const Tensor& tensor) {
  const char* descr = descr_of(tensor.dtype());
  if (!descr) fail_internal("write_npy: tensor has no element type");

  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.rank(); ++i) {
    if (i > 0) dict += ", ";
    dict += std::to_string(tensor.dim(i));
  }
  if (tensor.rank() == 1) dict += ",";
  dict += "), }";

  // Pad with spaces and end with '\n' so the data starts 64-byte aligned (numpy/lib/format.py).
  size_t prefix = 10;
  size_t unpadded = prefix + dict.size() + 1;
  if (unpadded - prefix > 0xffff) {
    prefix = 12;
    unpadded = prefix + dict.size() + 1;
  }
  size_t total_header = (unpadded + 63) / 64 * 64;
  dict.append(total_header - unpadded, ' ');
  dict += '\n';
  const size_t header_len = dict.size();

  std::vector<std::byte> out(total_header + tensor.byte_size());
  std::memcpy(out.data(), npy_magic, sizeof npy_magic);
  out[6] = std::byte{static_cast<uint8_t>(prefix == 10 ? 1 : 2)};
  out[7] = std::byte{0};
  for (size_t i = 0; i < prefix - 8; ++i) out[8 + i] = std::byte{static_cast<uint8_t>(header_len >> (8 * i))};
  std::memcpy(out.data() + prefix, dict.data(), dict.size());
  if (tensor.byte_size() > 0) std::memcpy(out.data() + total_header, tensor.raw(), tensor.byte_size());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::vector<std::byte> bytes = write_npy_bytes(tensor);
  write_binary_file(path, bytes);
}

}  // namespace mc
