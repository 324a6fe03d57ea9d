#include "formats/rans.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "core/error.h"

namespace mc {

namespace {

// State interval [lower_bound, lower_bound << word_bits) = [2^16, 2^32): 32-bit states, 16-bit words
// (the word-wise renormalization of Giesen 2014). Since the precision is at most 16 bits, a decoding
// step takes a state in the interval to at least 1 and one word brings it back above 2^16: at most one
// word per symbol and lane, so renormalization is a single conditional read.
constexpr uint32_t word_bits = 16;
constexpr uint32_t lower_bound = uint32_t{1} << 16;
constexpr unsigned max_precision = 16;
// The encoder stays at or below 14 bits: beyond, the coder's approximation loss (below) outweighs the
// finer quantization, and the decode table (5 bytes per slot) outgrows the first-level cache.
constexpr unsigned max_encoder_precision = 14;
constexpr unsigned max_lanes_log2 = 3;
constexpr size_t alphabet_size = 256;
constexpr size_t bitmap_bytes = alphabet_size / 8;

[[noreturn]] void corrupt(const std::string& what) { fail_input("rANS stream: " + what); }

// ---------------------------------------------------------------------------------------------
// Byte-level helpers.

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void put_varint(std::vector<std::byte>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::byte>(v));
}

void put_u32(std::vector<std::byte>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Bounds-checked reading of the header; every failure names the field and the offset.
class HeaderReader {
 public:
  explicit HeaderReader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  uint8_t u8(const char* what) {
    if (pos_ >= bytes_.size()) truncated(what);
    return std::to_integer<uint8_t>(bytes_[pos_++]);
  }

  uint32_t u32(const char* what) {
    if (remaining() < 4) truncated(what);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::to_integer<uint32_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }

  uint64_t varint(const char* what) {
    const size_t start = pos_;
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (pos_ >= bytes_.size()) truncated(what);
      const uint64_t b = std::to_integer<uint64_t>(bytes_[pos_++]);
      // The tenth byte may only contribute the top bit of a 64-bit value.
      if (shift == 63 && b > 1)
        corrupt(std::string(what) + ": varint at offset " + std::to_string(start) + " overflows 64 bits");
      v |= (b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
  }

  // Bit fields, packed least significant bit first from the current byte on; end_bits() moves on to the
  // next whole byte and checks that the padding bits are zero.
  unsigned bit(const char* what) {
    if (pos_ >= bytes_.size()) truncated(what);
    const unsigned b = (std::to_integer<unsigned>(bytes_[pos_]) >> bit_pos_) & 1;
    if (++bit_pos_ == 8) {
      bit_pos_ = 0;
      ++pos_;
    }
    return b;
  }

  // An Exp-Golomb code of order K (see BitWriter::put_exp_golomb) with at most MAX_ZEROS leading zeros.
  uint64_t exp_golomb(unsigned k, unsigned max_zeros, const char* what) {
    unsigned zeros = 0;
    while (bit(what) == 0)
      if (++zeros > max_zeros)
        corrupt(std::string(what) + ": code with more than " + std::to_string(max_zeros) + " leading zeros at offset " +
                std::to_string(pos_));
    const unsigned width = zeros + k + 1;
    uint64_t u = uint64_t{1} << (width - 1);
    for (unsigned i = 0; i + 1 < width; ++i) u |= uint64_t{bit(what)} << i;
    return u - (uint64_t{1} << k);
  }

  void end_bits(const char* what) {
    if (bit_pos_ == 0) return;
    if ((std::to_integer<unsigned>(bytes_[pos_]) >> bit_pos_) != 0)
      corrupt(std::string(what) + ": nonzero padding bits at offset " + std::to_string(pos_));
    bit_pos_ = 0;
    ++pos_;
  }

 private:
  [[noreturn]] void truncated(const char* what) const {
    corrupt(std::string("truncated in ") + what + " at offset " + std::to_string(pos_) + " (stream has " +
            std::to_string(bytes_.size()) + " bytes)");
  }

  std::span<const std::byte> bytes_;
  size_t pos_ = 0;
  unsigned bit_pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Frequency quantization.

using Counts = std::array<uint64_t, alphabet_size>;
using Freqs = std::array<uint32_t, alphabet_size>;

// Quantizes the counts of the used symbols to frequencies summing to 2^precision, each >= 1, that
// minimize the coded size sum_s count_s * log2(2^precision / freq_s). The cost is separable and convex
// in each frequency, so an allocation is optimal exactly when no unit moved from one symbol to another
// lowers it; we start from proportional rounding (already close) and apply the best move until none
// helps (each move strictly lowers the cost, so this terminates).
Freqs quantize_frequencies(const Counts& counts, const std::vector<int>& used, uint64_t total,
                           unsigned precision) {
  const uint64_t target = uint64_t{1} << precision;
  Freqs freqs{};
  uint64_t sum = 0;
  for (int s : used) {
    // round(count * 2^P / n), exact in integers while 2 * count * 2^P < 2^64; beyond (streams of
    // 2^46+ symbols) long double is close enough, since the moves below repair any rounding.
    uint64_t f;
    if (counts[s] < (uint64_t{1} << 46))
      f = (2 * counts[s] * target + total) / (2 * total);
    else
      f = static_cast<uint64_t>(std::floor(static_cast<long double>(counts[s]) * target / total + 0.5L));
    f = std::clamp<uint64_t>(f, 1, target);
    freqs[s] = static_cast<uint32_t>(f);
    sum += f;
  }
  // Gain of one more unit for s, and loss of one unit less (infinite at 1: frequencies stay >= 1),
  // cached per symbol and refreshed when its frequency changes.
  std::array<double, alphabet_size> gain{}, loss{};
  auto refresh = [&](int s) {
    const double c = static_cast<double>(counts[s]);
    const double f = freqs[s];
    gain[s] = c * std::log2((f + 1) / f);
    loss[s] = freqs[s] <= 1 ? HUGE_VAL : c * std::log2(f / (f - 1));
  };
  for (int s : used) refresh(s);
  auto best_gain = [&] {
    int best = used.front();
    for (int s : used)
      if (gain[s] > gain[best]) best = s;
    return best;
  };
  auto least_loss = [&] {
    int best = used.front();
    for (int s : used)
      if (loss[s] < loss[best]) best = s;
    return best;
  };
  while (sum > target) {
    const int s = least_loss();
    --freqs[s];
    refresh(s);
    --sum;
  }
  while (sum < target) {
    const int s = best_gain();
    ++freqs[s];
    refresh(s);
    ++sum;
  }
  // Moves: a unit from the cheapest symbol to the most rewarding one. At most a few per symbol after
  // proportional rounding; the cap only guards against a floating-point cycle.
  for (size_t moves = 0; moves < 64 * alphabet_size; ++moves) {
    const int up = best_gain();
    const int down = least_loss();
    if (up == down || !(gain[up] > loss[down] * (1 + 1e-12) + 1e-12)) break;
    ++freqs[up];
    --freqs[down];
    refresh(up);
    refresh(down);
  }
  return freqs;
}

// The encoding step rounds x / freq down, so rANS codes slightly worse than the ideal -log2(freq / 2^P)
// per symbol, more so the closer 2^P gets to the state's lower bound 2^16. Measured here on ternary and
// Laplacian streams of 4M symbols, the excess is about 0.004 * (2^P / 2^16)^2 bits per symbol
// (quadrupling with each precision bit: 6e-5 at P = 13, 2.5e-4 at P = 14, 4e-3 at P = 16).
double approximation_loss_bits(uint64_t symbol_count, unsigned precision) {
  return static_cast<double>(symbol_count) * 0.004 * std::ldexp(1.0, 2 * (static_cast<int>(precision) - 16));
}

double coded_bits(const Counts& counts, const std::vector<int>& used, const Freqs& freqs, unsigned precision) {
  double bits = 0;
  for (int s : used) bits += static_cast<double>(counts[s]) * (precision - std::log2(static_cast<double>(freqs[s])));
  return bits;
}

// ---------------------------------------------------------------------------------------------
// Frequency table: each frequency is predicted by the previous used symbol's (the first by the
// uniform share 2^P / used symbols), and the zigzag-coded difference is written as an Exp-Golomb code
// whose order k follows the size of the prediction: k = max(0, bit_width(prediction) - shift). The
// neighbours of a smooth distribution differ by a fraction of their size, so the order scales with
// them; the encoder picks the shift (0..15) that gives the shortest table.

constexpr unsigned max_table_shift = 15;

uint32_t first_prediction(unsigned precision, size_t used_count) {
  return static_cast<uint32_t>((uint64_t{1} << precision) / used_count);
}

unsigned golomb_order(uint32_t prediction, unsigned shift) {
  const unsigned width = static_cast<unsigned>(std::bit_width(prediction));
  return width > shift ? width - shift : 0;
}

// Length of the Exp-Golomb code of order k of v: with u = v + 2^k, (bit_width(u) - k - 1) zeros, a one
// and the low bit_width(u) - 1 bits of u.
unsigned exp_golomb_bits(uint64_t v, unsigned k) {
  const unsigned width = static_cast<unsigned>(std::bit_width(v + (uint64_t{1} << k)));
  return 2 * width - k - 1;
}

size_t table_bits(const std::vector<int>& used, const Freqs& freqs, unsigned precision, unsigned shift) {
  size_t bits = 0;
  uint32_t prediction = first_prediction(precision, used.size());
  for (int s : used) {
    bits += exp_golomb_bits(zigzag(static_cast<int64_t>(freqs[s]) - prediction), golomb_order(prediction, shift));
    prediction = freqs[s];
  }
  return bits;
}

// The shift giving the shortest table, and that table's length in bytes (the shift byte included).
std::pair<unsigned, size_t> best_table(const std::vector<int>& used, const Freqs& freqs, unsigned precision) {
  unsigned best_shift = 0;
  size_t best_bits = SIZE_MAX;
  for (unsigned shift = 0; shift <= max_table_shift; ++shift) {
    const size_t bits = table_bits(used, freqs, precision, shift);
    if (bits < best_bits) {
      best_bits = bits;
      best_shift = shift;
    }
  }
  return {best_shift, 1 + (best_bits + 7) / 8};
}

// Bits are packed into bytes least significant bit first; fields are written least significant bit first.
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::byte>& out) : out_(out) {}
  void put(uint64_t value, unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      if (used_ == 8) flush_byte();
      current_ = static_cast<uint8_t>(current_ | (((value >> i) & 1) << used_));
      ++used_;
    }
  }
  void put_exp_golomb(uint64_t v, unsigned k) {
    const uint64_t u = v + (uint64_t{1} << k);
    const unsigned width = static_cast<unsigned>(std::bit_width(u));
    put(0, width - k - 1);
    put(1, 1);
    put(u, width - 1);
  }
  // Pads the last byte with zero bits.
  void finish() {
    if (used_ != 0) flush_byte();
  }

 private:
  void flush_byte() {
    out_.push_back(static_cast<std::byte>(current_));
    current_ = 0;
    used_ = 0;
  }
  std::vector<std::byte>& out_;
  uint8_t current_ = 0;
  unsigned used_ = 0;
};

void put_frequency_table(std::vector<std::byte>& out, const std::vector<int>& used, const Freqs& freqs,
                         unsigned precision, unsigned shift) {
  out.push_back(static_cast<std::byte>(shift));
  BitWriter bits(out);
  uint32_t prediction = first_prediction(precision, used.size());
  for (int s : used) {
    bits.put_exp_golomb(zigzag(static_cast<int64_t>(freqs[s]) - prediction), golomb_order(prediction, shift));
    prediction = freqs[s];
  }
  bits.finish();
}

// ---------------------------------------------------------------------------------------------
// Symbol set: runs of consecutive symbols or a bitmap, whichever is shorter.

struct Run {
  int first;
  int length;
};

std::vector<Run> symbol_runs(const std::vector<int>& used) {
  std::vector<Run> runs;
  for (int s : used) {
    if (!runs.empty() && runs.back().first + runs.back().length == s)
      ++runs.back().length;
    else
      runs.push_back({s, 1});
  }
  return runs;
}

size_t runs_bytes(const std::vector<Run>& runs) {
  size_t bytes = varint_size(runs.size());
  int previous_end = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const int gap = r == 0 ? runs[r].first : runs[r].first - previous_end - 1;
    bytes += varint_size(static_cast<uint64_t>(gap)) + varint_size(static_cast<uint64_t>(runs[r].length - 1));
    previous_end = runs[r].first + runs[r].length;
  }
  return bytes;
}

void put_symbol_set(std::vector<std::byte>& out, const std::vector<int>& used) {
  const std::vector<Run> runs = symbol_runs(used);
  if (runs_bytes(runs) <= 1 + bitmap_bytes) {
    put_varint(out, runs.size());
    int previous_end = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      const int gap = r == 0 ? runs[r].first : runs[r].first - previous_end - 1;
      put_varint(out, static_cast<uint64_t>(gap));
      put_varint(out, static_cast<uint64_t>(runs[r].length - 1));
      previous_end = runs[r].first + runs[r].length;
    }
  } else {
    put_varint(out, 0);
    std::array<uint8_t, bitmap_bytes> bitmap{};
    for (int s : used) bitmap[s / 8] = static_cast<uint8_t>(bitmap[s / 8] | (1u << (s % 8)));
    for (uint8_t b : bitmap) out.push_back(static_cast<std::byte>(b));
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding.

// Decode table indexed by the slot x mod 2^P: entry = (freq << 16) | (slot - cum) and the symbol, so one
// step is x' = freq * (x >> P) + (slot - cum) (the rANS decoding function of Duda 2013).
struct DecodeTable {
  std::unique_ptr<uint32_t[]> entry;
  std::unique_ptr<uint8_t[]> symbol;
};

struct WordCursor {
  const std::byte* ptr;
  const std::byte* end;
};

inline uint32_t load_word(const std::byte* p) {
  return std::to_integer<uint32_t>(p[0]) | (std::to_integer<uint32_t>(p[1]) << 8);
}

// One decoding step with a bounds-checked renormalization (used near the end of the word stream).
inline uint8_t decode_checked(uint32_t& x, const DecodeTable& table, unsigned precision, uint32_t mask,
                              WordCursor& words, uint64_t index) {
  const uint32_t slot = x & mask;
  const uint32_t e = table.entry[slot];
  const uint8_t s = table.symbol[slot];
  x = (e >> 16) * (x >> precision) + (e & 0xffff);
  if (x < lower_bound) {
    if (words.end - words.ptr < 2)
      corrupt("data ends early: no renormalization word left for symbol " + std::to_string(index));
    x = (x << word_bits) | load_word(words.ptr);
    words.ptr += 2;
  }
  return s;
}

// GCC's SLP vectorizer packs the lane states of the kernel below into one vector register and extracts
// each for its table lookup, which more than halves the decoding speed: the lanes must stay scalar.
#if defined(__GNUC__) && !defined(__clang__)
#define MC_RANS_SCALAR_KERNEL __attribute__((optimize("no-tree-vectorize")))
#else
#define MC_RANS_SCALAR_KERNEL
#endif

// One unchecked decoding step of one lane: at least 2 bytes of words must be left.
template <unsigned precision>
inline void decode_step(uint32_t& x, const uint32_t* entry, const uint8_t* symbol, const std::byte*& ptr, uint8_t* out) {
  constexpr uint32_t mask = (uint32_t{1} << precision) - 1;
  const uint32_t slot = x & mask;
  const uint32_t e = entry[slot];
  *out = symbol[slot];
  const uint32_t y = (e >> 16) * (x >> precision) + (e & 0xffff);
  // Refill without a branch: whether a lane needs a word is data-dependent and unpredictable. The
  // next word is loaded unconditionally (the caller guarantees it exists) and selected or not.
#if defined(__x86_64__) && defined(__GNUC__)
  // Two conditional moves; GCC compiles every C++ form of this selection to a branch (~2x slower on
  // int8 weights, where about half the steps refill).
  uint32_t next = y;
  const uint32_t refilled = (y << word_bits) | load_word(ptr);
  const std::byte* advanced = ptr + 2;
  asm("cmpl %[bound], %[next]\n\t"
      "cmovbl %[refilled], %[next]\n\t"
      "cmovbq %[advanced], %[ptr]"
      : [next] "+r"(next), [ptr] "+r"(ptr)
      : [refilled] "r"(refilled), [advanced] "r"(advanced), [bound] "i"(lower_bound)
      : "cc");
  x = next;
#else
  // y >= 1, so y < 2^16 exactly when it has at least 16 leading zeros: then the word is appended,
  // else the 16 appended bits are shifted back out.
  const uint32_t leading_zeros = static_cast<uint32_t>(std::countl_zero(y));
  const uint64_t appended = (uint64_t{y} << word_bits) | load_word(ptr);
  x = static_cast<uint32_t>(appended >> (~leading_zeros & 16));
  ptr += (leading_zeros >> 3) & 2;
#endif
}

// The unchecked inner loop: GROUPS groups of one symbol per lane, with at least 2 * LANES bytes of
// words left before each group (each lane reads at most one word per group). The precision is a
// template parameter so the shift and mask are immediates, and the lanes are separate variables so
// they stay in registers.
template <int lanes, unsigned precision>
MC_RANS_SCALAR_KERNEL const std::byte* decode_groups(uint32_t* state, const uint32_t* entry, const uint8_t* symbol,
                                                     const std::byte* ptr, uint8_t* out, uint64_t groups) {
  static_assert(lanes == 1 || lanes == 2 || lanes == 4 || lanes == 8);
  uint32_t x0 = state[0], x1 = 0, x2 = 0, x3 = 0, x4 = 0, x5 = 0, x6 = 0, x7 = 0;
  if constexpr (lanes >= 2) x1 = state[1];
  if constexpr (lanes >= 4) x2 = state[2], x3 = state[3];
  if constexpr (lanes >= 8) x4 = state[4], x5 = state[5], x6 = state[6], x7 = state[7];
  for (uint8_t* end = out + groups * lanes; out != end; out += lanes) {
    decode_step<precision>(x0, entry, symbol, ptr, out + 0);
    if constexpr (lanes >= 2) decode_step<precision>(x1, entry, symbol, ptr, out + 1);
    if constexpr (lanes >= 4) {
      decode_step<precision>(x2, entry, symbol, ptr, out + 2);
      decode_step<precision>(x3, entry, symbol, ptr, out + 3);
    }
    if constexpr (lanes >= 8) {
      decode_step<precision>(x4, entry, symbol, ptr, out + 4);
      decode_step<precision>(x5, entry, symbol, ptr, out + 5);
      decode_step<precision>(x6, entry, symbol, ptr, out + 6);
      decode_step<precision>(x7, entry, symbol, ptr, out + 7);
    }
  }
  state[0] = x0;
  if constexpr (lanes >= 2) state[1] = x1;
  if constexpr (lanes >= 4) state[2] = x2, state[3] = x3;
  if constexpr (lanes >= 8) state[4] = x4, state[5] = x5, state[6] = x6, state[7] = x7;
  return ptr;
}

using GroupDecoder = const std::byte* (*)(uint32_t*, const uint32_t*, const uint8_t*, const std::byte*, uint8_t*,
                                          uint64_t);

template <int lanes, size_t... p>
constexpr std::array<GroupDecoder, sizeof...(p)> group_decoders(std::index_sequence<p...>) {
  return {&decode_groups<lanes, static_cast<unsigned>(p + 1)>...};
}

template <int lanes>
void decode_lanes(uint32_t* x, const DecodeTable& table, unsigned precision, WordCursor& words, uint8_t* out,
                  uint64_t count, uint64_t first) {
  static constexpr auto decoders = group_decoders<lanes>(std::make_index_sequence<max_precision>());
  const GroupDecoder fast = decoders[precision - 1];
  const uint32_t mask = (uint32_t{1} << precision) - 1;
  const uint64_t groups = count / lanes;
  uint64_t g = 0;
  while (g < groups) {
    const uint64_t safe = std::min<uint64_t>(groups - g, static_cast<uint64_t>(words.end - words.ptr) / (2 * lanes));
    if (safe == 0) {
      for (int l = 0; l < lanes; ++l)
        out[g * lanes + l] = decode_checked(x[l], table, precision, mask, words, first + g * lanes + l);
      ++g;
      continue;
    }
    words.ptr = fast(x, table.entry.get(), table.symbol.get(), words.ptr, out + g * lanes, safe);
    g += safe;
  }
  for (uint64_t i = groups * lanes; i < count; ++i) {
    const int l = static_cast<int>(i % lanes);
    out[i] = decode_checked(x[l], table, precision, mask, words, first + i);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

double order0_entropy_bits(std::span<const uint8_t> symbols) {
  Counts counts{};
  for (uint8_t s : symbols) ++counts[s];
  const double n = static_cast<double>(symbols.size());
  double bits = 0;
  for (uint64_t c : counts)
    if (c != 0) bits += static_cast<double>(c) * std::log2(n / static_cast<double>(c));
  return bits;
}

std::vector<std::byte> rans_encode(std::span<const uint8_t> symbols) {
  const uint64_t n = symbols.size();
  std::vector<std::byte> out;
  put_varint(out, n);
  if (n == 0) return out;

  Counts counts{};
  for (uint8_t s : symbols) ++counts[s];
  std::vector<int> used;
  for (int s = 0; s < static_cast<int>(alphabet_size); ++s)
    if (counts[s] != 0) used.push_back(s);
  if (used.size() == 1) {
    out.push_back(std::byte{0});
    out.push_back(static_cast<std::byte>(used.front()));
    return out;
  }

  // Precision: every candidate from the least that gives each used symbol a slot up to 14 bits (or a
  // little above log2(n): steps finer than 1/n cannot follow the empirical distribution any better),
  // scored by the ideal coded size of the data, the frequency table and the coder's approximation loss.
  const unsigned min_precision = std::max(1u, static_cast<unsigned>(std::bit_width(used.size() - 1)));
  const unsigned max_precision_here =
      std::clamp(static_cast<unsigned>(std::bit_width(n)) + 1, min_precision, max_encoder_precision);
  unsigned precision = 0;
  Freqs freqs{};
  unsigned table_shift = 0;
  double best_bits = HUGE_VAL;
  for (unsigned p = min_precision; p <= max_precision_here; ++p) {
    const Freqs f = quantize_frequencies(counts, used, n, p);
    const auto [shift, table_bytes] = best_table(used, f, p);
    const double bits =
        coded_bits(counts, used, f, p) + 8.0 * static_cast<double>(table_bytes) + approximation_loss_bits(n, p);
    if (bits < best_bits) {
      best_bits = bits;
      precision = p;
      freqs = f;
      table_shift = shift;
    }
  }

  // Lanes: each costs a 4-byte final state (on average ~3 bytes more than the information it holds),
  // so streams get more lanes only once that overhead stays below ~0.4% of the coded size.
  const double coded_bytes = best_bits / 8;
  unsigned lanes_log2 = 0;
  while (lanes_log2 < max_lanes_log2 && coded_bytes >= 1024.0 * (2u << lanes_log2) &&
         (uint64_t{2} << lanes_log2) <= n)
    ++lanes_log2;
  const int lanes = 1 << lanes_log2;

  out.push_back(static_cast<std::byte>(precision | (lanes_log2 << 5)));
  put_symbol_set(out, used);
  put_frequency_table(out, used, freqs, precision, table_shift);

  // Encoder tables: cumulative frequency and the state bound above which a word must be emitted first
  // so the encoded state stays below 2^32 (x_max = freq * 2^(32 - P)).
  std::array<uint32_t, alphabet_size> cum{};
  std::array<uint64_t, alphabet_size> x_max{};
  uint32_t running = 0;
  for (int s : used) {
    cum[s] = running;
    running += freqs[s];
    x_max[s] = uint64_t{freqs[s]} << (32 - precision);
  }

  // Symbols are encoded last to first (rANS is last-in first-out), symbol i by lane i mod K, so the
  // decoder goes first to last; the words come out in reverse decoding order.
  std::vector<uint32_t> state(lanes, lower_bound);
  std::vector<uint16_t> words;
  words.reserve(static_cast<size_t>(coded_bytes / 2) + 16);
  for (uint64_t i = n; i-- > 0;) {
    const uint8_t s = symbols[i];
    uint32_t& x = state[i & (lanes - 1)];
    if (x >= x_max[s]) {
      words.push_back(static_cast<uint16_t>(x & 0xffff));
      x >>= word_bits;
    }
    x = ((x / freqs[s]) << precision) + (x % freqs[s]) + cum[s];
  }
  for (uint32_t x : state) put_u32(out, x);
  out.reserve(out.size() + 2 * words.size());
  for (size_t i = words.size(); i-- > 0;) {
    out.push_back(static_cast<std::byte>(words[i] & 0xff));
    out.push_back(static_cast<std::byte>(words[i] >> 8));
  }
  return out;
}

std::vector<uint8_t> rans_decode(std::span<const std::byte> encoded, uint64_t max_symbols) {
  HeaderReader in(encoded);
  const uint64_t n = in.varint("the symbol count");
  if (n > max_symbols)
    corrupt("symbol count " + std::to_string(n) + " exceeds the limit of " + std::to_string(max_symbols));
  auto expect_end = [&](const char* after) {
    if (in.remaining() != 0)
      corrupt(std::to_string(in.remaining()) + " unexpected bytes after " + after + " at offset " +
              std::to_string(in.offset()));
  };
  if (n == 0) {
    expect_end("an empty stream's symbol count");
    return {};
  }

  const uint8_t params = in.u8("the parameter byte");
  const unsigned precision = params & 0x1f;
  const unsigned lanes_log2 = (params >> 5) & 3;
  if (precision == 0) {
    if ((params & 0xe0) != 0)
      corrupt("parameter byte " + std::to_string(params) + " has precision 0 (one distinct symbol) but bits 5-7 set");
    const uint8_t symbol = in.u8("the single symbol");
    expect_end("a single-symbol stream");
    return std::vector<uint8_t>(n, symbol);
  }
  if ((params & 0x80) != 0) corrupt("parameter byte " + std::to_string(params) + " has the reserved bit 7 set");
  if (precision > max_precision)
    corrupt("precision " + std::to_string(precision) + " bits outside the supported 1.." +
            std::to_string(max_precision));
  const uint32_t total = uint32_t{1} << precision;

  // Used symbols.
  std::vector<int> used;
  const uint64_t run_count = in.varint("the run count");
  if (run_count == 0) {
    for (size_t byte = 0; byte < bitmap_bytes; ++byte) {
      const uint8_t bits = in.u8("the symbol bitmap");
      for (int b = 0; b < 8; ++b)
        if (bits & (1u << b)) used.push_back(static_cast<int>(byte * 8) + b);
    }
  } else {
    if (run_count > alphabet_size / 2)
      corrupt("run count " + std::to_string(run_count) + " exceeds " + std::to_string(alphabet_size / 2));
    uint64_t next = 0;  // first symbol a run may start at
    for (uint64_t r = 0; r < run_count; ++r) {
      const uint64_t gap = in.varint("a symbol run's gap");
      const uint64_t length_minus_1 = in.varint("a symbol run's length");
      // Compare before adding so huge varints cannot wrap around.
      if (gap > alphabet_size || length_minus_1 >= alphabet_size || next + gap + length_minus_1 >= alphabet_size)
        corrupt("symbol run " + std::to_string(r) + " (gap " + std::to_string(gap) + ", length " +
                std::to_string(length_minus_1) + "+1) runs past symbol 255");
      const uint64_t first = next + gap;
      for (uint64_t s = first; s <= first + length_minus_1; ++s) used.push_back(static_cast<int>(s));
      next = first + length_minus_1 + 2;  // a following run needs at least one unused symbol between
    }
  }
  if (used.size() < 2)
    corrupt(std::to_string(used.size()) + " used symbols with precision " + std::to_string(precision) +
            " (streams of one distinct symbol use precision 0)");
  if (used.size() > total)
    corrupt(std::to_string(used.size()) + " used symbols do not fit in 2^" + std::to_string(precision) + " slots");

  // Frequencies.
  const uint8_t shift = in.u8("the frequency table's shift");
  if (shift > max_table_shift)
    corrupt("frequency table shift " + std::to_string(shift) + " above " + std::to_string(max_table_shift));
  Freqs freqs{};
  uint64_t sum = 0;
  uint32_t prediction = first_prediction(precision, used.size());
  for (int s : used) {
    // |frequency - prediction| < 2^16, so the zigzag value is below 2^17 and its code has at most 17
    // leading zeros; a few more are tolerated and caught by the range checks below.
    const uint64_t v = in.exp_golomb(golomb_order(prediction, shift), 24, "the frequency table");
    if (v > 4 * uint64_t{total})
      corrupt("frequency of symbol " + std::to_string(s) + " differs from its prediction by more than 2^" +
              std::to_string(precision + 1));
    const int64_t f = static_cast<int64_t>(prediction) + unzigzag(v);
    if (f <= 0) corrupt("zero or negative frequency " + std::to_string(f) + " for used symbol " + std::to_string(s));
    if (f > static_cast<int64_t>(total))
      corrupt("frequency " + std::to_string(f) + " of symbol " + std::to_string(s) + " exceeds 2^" +
              std::to_string(precision));
    freqs[s] = static_cast<uint32_t>(f);
    sum += static_cast<uint64_t>(f);
    prediction = freqs[s];
  }
  in.end_bits("the frequency table");
  if (sum != total)
    corrupt("frequencies sum to " + std::to_string(sum) + ", expected 2^" + std::to_string(precision) + " = " +
            std::to_string(total));

  // Lane states.
  const int lanes = 1 << lanes_log2;
  uint32_t state[1 << max_lanes_log2];
  for (int l = 0; l < lanes; ++l) {
    state[l] = in.u32("the lane states");
    if (state[l] < lower_bound)
      corrupt("lane " + std::to_string(l) + " state " + std::to_string(state[l]) + " below 2^16");
  }
  if (in.remaining() % 2 != 0)
    corrupt("odd number of bytes (" + std::to_string(in.remaining()) + ") in the 16-bit word stream");

  // Decode table: every slot is covered since the frequencies sum to 2^P.
  DecodeTable table{std::make_unique_for_overwrite<uint32_t[]>(total),
                    std::make_unique_for_overwrite<uint8_t[]>(total)};
  uint32_t slot = 0;
  for (int s : used) {
    for (uint32_t k = 0; k < freqs[s]; ++k, ++slot) {
      table.entry[slot] = (freqs[s] << 16) | k;
      table.symbol[slot] = static_cast<uint8_t>(s);
    }
  }

  // The output grows with the symbols actually decoded instead of being sized from the declared count:
  // the first chunk holds at most 64 KiB + 32 symbols per byte of the stream (more than any stream of
  // 1/4 bit per symbol or more needs), each further chunk doubles the buffer. A stream that declares
  // more symbols than its words hold runs out of words ("data ends early") having allocated about what
  // it did decode. Every chunk but the last is whole lane groups, so symbol i stays on lane i mod K.
  std::vector<uint8_t> out;
  WordCursor words{encoded.data() + in.offset(), encoded.data() + encoded.size()};
  uint64_t done = 0;
  uint64_t capacity = std::min<uint64_t>(n, (uint64_t{1} << 16) + 32 * uint64_t{encoded.size()});
  while (done < n) {
    out.resize(static_cast<size_t>(capacity));
    uint64_t count = capacity - done;
    if (capacity < n) count -= count % static_cast<uint64_t>(lanes);
    switch (lanes) {
      case 1: decode_lanes<1>(state, table, precision, words, out.data() + done, count, done); break;
      case 2: decode_lanes<2>(state, table, precision, words, out.data() + done, count, done); break;
      case 4: decode_lanes<4>(state, table, precision, words, out.data() + done, count, done); break;
      case 8: decode_lanes<8>(state, table, precision, words, out.data() + done, count, done); break;
      default: fail_internal("rans_decode: unexpected lane count");
    }
    done += count;
    capacity = std::min<uint64_t>(n, 2 * capacity);
  }
  out.resize(static_cast<size_t>(n));
  for (int l = 0; l < lanes; ++l)
    if (state[l] != lower_bound)
      corrupt("lane " + std::to_string(l) + " ends in state " + std::to_string(state[l]) + ", expected its initial " +
              std::to_string(lower_bound) + " (corrupt data)");
  if (words.ptr != words.end)
    corrupt(std::to_string(words.end - words.ptr) + " unread bytes after the last symbol");
  return out;
}

}  // namespace mc
