// The static rANS coder of formats/rans.h: round trips over sizes and distributions, the coded size
// against the order-0 bound, streams from a plain reference encoder written from the format
// description, and the hardened decoder: truncations, random mutations, hand-made corrupt headers and
// the max_symbols limit must all end in an input error (never a crash: this file also runs under
// ASan/UBSan).
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/rans.h"

namespace {

using Symbols = std::vector<uint8_t>;
using Bytes = std::vector<std::byte>;

// Ternary symbols: 0 with probability p_zero, 1 and 2 sharing the rest.
Symbols ternary_stream(size_t n, double p_zero, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Symbols out(n);
  for (auto& s : out) {
    const double a = u(rng);
    s = a < p_zero ? 0 : (a < p_zero + (1 - p_zero) / 2 ? 1 : 2);
  }
  return out;
}

// int8 weights with a Laplacian distribution of the given scale (in quantization steps), stored as
// value + 128 like the benchmark's int8 symbols.
Symbols laplacian_int8_stream(size_t n, double scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> magnitude(1.0 / scale);
  std::bernoulli_distribution negative(0.5);
  Symbols out(n);
  for (auto& s : out) {
    const double w = magnitude(rng) * (negative(rng) ? -1 : 1);
    s = static_cast<uint8_t>(std::clamp(std::lround(w), -128L, 127L) + 128);
  }
  return out;
}

Symbols uniform_stream(size_t n, int alphabet, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, alphabet - 1);
  Symbols out(n);
  for (auto& s : out) s = static_cast<uint8_t>(d(rng));
  return out;
}

// A random distribution: a random subset of the alphabet with random, often very unequal, weights.
Symbols random_distribution_stream(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const int used = std::uniform_int_distribution<int>(1, 256)(rng);
  std::vector<int> alphabet(256);
  for (int i = 0; i < 256; ++i) alphabet[i] = i;
  std::shuffle(alphabet.begin(), alphabet.end(), rng);
  std::vector<double> weights(used);
  std::exponential_distribution<double> e(1.0);
  const double spread = std::uniform_real_distribution<double>(0, 6)(rng);
  for (auto& w : weights) w = std::exp(spread * e(rng));
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  Symbols out(n);
  for (auto& s : out) s = static_cast<uint8_t>(alphabet[pick(rng)]);
  return out;
}

void check_round_trip(const Symbols& symbols) {
  const Bytes encoded = mc::rans_encode(symbols);
  const Symbols decoded = mc::rans_decode(encoded, symbols.size());
  REQUIRE(decoded.size() == symbols.size());
  CHECK(decoded == symbols);
  CHECK(mc::rans_encode(symbols) == encoded);  // deterministic
}

// Runs F, which must throw mc::Error of kind input whose message contains SUBSTRING.
void expect_input_error(const std::function<void()>& f, const std::string& substring) {
  try {
    f();
  } catch (const mc::Error& e) {
    CHECK_MESSAGE(e.kind() == mc::ErrorKind::input, std::string(e.what()));
    CHECK_MESSAGE(std::string(e.what()).find(substring) != std::string::npos,
                  "message '" << std::string(e.what()) << "' lacks '" << substring << "'");
    CHECK_MESSAGE(std::string(e.what()).rfind("rANS stream: ", 0) == 0, std::string(e.what()));
    return;
  }
  FAIL_CHECK("expected an input error containing '" << substring << "', nothing was thrown");
}

// Decodes ENCODED, which may be corrupt: either the right number of symbols comes out or an input
// error is thrown. Returns whether it decoded.
bool decodes_or_fails_cleanly(const Bytes& encoded, uint64_t expected_count) {
  try {
    const Symbols out = mc::rans_decode(encoded, expected_count);
    CHECK(out.size() == expected_count);
    return true;
  } catch (const mc::Error& e) {
    CHECK_MESSAGE(e.kind() == mc::ErrorKind::input, std::string(e.what()));
    return false;
  }
}

void put_varint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::byte>(v));
}

void put_bytes(Bytes& out, std::initializer_list<int> bytes) {
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
}

void put_u32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

// The frequency-table field of the format (shift byte, then the Exp-Golomb bit stream), written bit by
// bit from the format description. Any integers are accepted, so tests can write invalid tables.
Bytes frequency_table(const std::vector<int64_t>& freqs, unsigned precision, unsigned shift) {
  std::vector<int> bits;
  int64_t prediction = (int64_t{1} << precision) / static_cast<int64_t>(freqs.size());
  for (int64_t f : freqs) {
    const uint64_t z = f >= prediction ? 2 * static_cast<uint64_t>(f - prediction)
                                       : 2 * static_cast<uint64_t>(prediction - f) - 1;
    int width_p = 0;
    while (prediction > 0 && (prediction >> width_p) != 0) ++width_p;
    const int k = std::max(0, width_p - static_cast<int>(shift));
    const uint64_t u = z + (uint64_t{1} << k);
    int w = 0;
    while ((u >> w) != 0) ++w;
    for (int i = 0; i < w - k - 1; ++i) bits.push_back(0);
    bits.push_back(1);
    for (int i = 0; i < w - 1; ++i) bits.push_back(static_cast<int>((u >> i) & 1));
    prediction = f;
  }
  Bytes out = {static_cast<std::byte>(shift)};
  for (size_t i = 0; i < bits.size(); i += 8) {
    int byte = 0;
    for (size_t j = i; j < std::min(bits.size(), i + 8); ++j) byte |= bits[j] << (j - i);
    out.push_back(static_cast<std::byte>(byte));
  }
  return out;
}

// A plain encoder written from the format description in formats/rans.h (not from rans.cpp): the
// caller's frequency table, precision, lane count and table shift, the symbol set as a bitmap.
// 64-bit arithmetic throughout, one symbol at a time.
Bytes reference_encode(const Symbols& symbols, const std::array<uint32_t, 256>& freqs, unsigned precision,
                       unsigned lanes_log2, unsigned shift = 2) {
  Bytes out;
  put_varint(out, symbols.size());
  out.push_back(static_cast<std::byte>(precision | (lanes_log2 << 5)));
  put_varint(out, 0);  // bitmap follows
  std::array<uint8_t, 32> bitmap{};
  for (int s = 0; s < 256; ++s)
    if (freqs[s] != 0) bitmap[s / 8] = static_cast<uint8_t>(bitmap[s / 8] | (1 << (s % 8)));
  for (uint8_t b : bitmap) out.push_back(static_cast<std::byte>(b));
  std::array<uint64_t, 256> start{};
  std::vector<int64_t> used_freqs;
  uint64_t running = 0;
  for (int s = 0; s < 256; ++s) {
    if (freqs[s] == 0) continue;
    used_freqs.push_back(freqs[s]);
    start[s] = running;
    running += freqs[s];
  }
  REQUIRE(running == (uint64_t{1} << precision));
  const Bytes table = frequency_table(used_freqs, precision, shift);
  out.insert(out.end(), table.begin(), table.end());

  const size_t lanes = size_t{1} << lanes_log2;
  std::vector<uint64_t> state(lanes, uint64_t{1} << 16);
  std::vector<uint16_t> words;  // in encoding order
  for (size_t i = symbols.size(); i-- > 0;) {
    const uint64_t f = freqs[symbols[i]];
    REQUIRE(f != 0);
    uint64_t& x = state[i % lanes];
    // Keep the encoded state below 2^32: emit the low word first while x >= f * 2^(32 - P).
    while (x >= (f << (32 - precision))) {
      words.push_back(static_cast<uint16_t>(x & 0xffff));
      x >>= 16;
    }
    x = (x / f) * (uint64_t{1} << precision) + x % f + start[symbols[i]];
    REQUIRE(x < (uint64_t{1} << 32));
  }
  for (uint64_t x : state) put_u32(out, static_cast<uint32_t>(x));
  for (size_t i = words.size(); i-- > 0;) {
    out.push_back(static_cast<std::byte>(words[i] & 0xff));
    out.push_back(static_cast<std::byte>(words[i] >> 8));
  }
  return out;
}

// Frequencies for SYMBOLS at PRECISION by proportional rounding, each >= 1, the excess or deficit put
// on the most frequent symbol (crude on purpose: any valid table must decode).
std::array<uint32_t, 256> crude_frequencies(const Symbols& symbols, unsigned precision) {
  std::array<uint64_t, 256> counts{};
  for (uint8_t s : symbols) ++counts[s];
  std::array<uint32_t, 256> freqs{};
  int64_t sum = 0;
  int top = 0;
  for (int s = 0; s < 256; ++s) {
    if (counts[s] == 0) continue;
    freqs[s] = static_cast<uint32_t>(
        std::max<uint64_t>(1, (counts[s] << precision) / std::max<size_t>(1, symbols.size())));
    sum += freqs[s];
    if (counts[s] > counts[top]) top = s;
  }
  freqs[top] = static_cast<uint32_t>(static_cast<int64_t>(freqs[top]) + (int64_t{1} << precision) - sum);
  REQUIRE(freqs[top] >= 1);
  return freqs;
}

}  // namespace

TEST_CASE("test_rans: empty, single-symbol and tiny streams round-trip") {
  check_round_trip({});
  CHECK(mc::rans_encode(Symbols{}).size() == 1);
  check_round_trip({7});
  check_round_trip({0, 255});
  check_round_trip({255, 255, 0});
  for (size_t n : {size_t{1}, size_t{2}, size_t{1000}, size_t{1000000}}) {
    const Symbols same(n, 42);
    check_round_trip(same);
    CHECK(mc::rans_encode(same).size() <= 6);  // count, precision 0, the symbol: no coded data
  }
  // Every symbol once, every symbol many times, and symbols 1..255 once each in a sea of zeros.
  Symbols all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  check_round_trip(all);
  check_round_trip(uniform_stream(1000000, 256, 5));
  Symbols sparse(100000, 0);
  for (int i = 1; i < 256; ++i) sparse[static_cast<size_t>(i) * 389] = static_cast<uint8_t>(i);
  check_round_trip(sparse);
  // Short streams around multiples of 8 (the reference-encoder case covers fewer symbols than lanes).
  for (size_t n : {3, 7, 8, 9, 15, 16, 17, 31, 33}) check_round_trip(laplacian_int8_stream(n, 3, 11));
}

TEST_CASE("test_rans: random distributions round-trip at sizes 0 to 1e6") {
  uint32_t seed = 1;
  for (size_t n : {0, 1, 2, 5, 64, 255, 1000, 4097, 65536, 100003, 300000, 1000000}) {
    const int repeats = n >= 100000 ? 2 : 6;
    for (int r = 0; r < repeats; ++r) {
      CAPTURE(n);
      CAPTURE(seed);
      check_round_trip(random_distribution_stream(n, seed++));
    }
  }
  check_round_trip(ternary_stream(1000000, 0.95, 3));
  check_round_trip(ternary_stream(123457, 0.999, 4));
  check_round_trip(laplacian_int8_stream(1000000, 12, 5));
}

TEST_CASE("test_rans: coded size within 1% of the order-0 bound on 64K+ symbol streams") {
  struct Case {
    std::string name;
    Symbols symbols;
  };
  std::vector<Case> cases;
  uint32_t seed = 100;
  for (size_t n : {size_t{65536}, size_t{262144}}) {
    for (double p_zero : {0.6, 0.7, 0.8, 0.9, 0.95})
      cases.push_back({"ternary p0=" + std::to_string(p_zero), ternary_stream(n, p_zero, seed++)});
    for (double scale : {1.0, 3.0, 10.0, 30.0})
      cases.push_back({"laplacian int8 scale=" + std::to_string(scale), laplacian_int8_stream(n, scale, seed++)});
    cases.push_back({"uniform 256", uniform_stream(n, 256, seed++)});
    cases.push_back({"uniform 3", uniform_stream(n, 3, seed++)});
  }
  for (const Case& c : cases) {
    const double bound_bits = mc::order0_entropy_bits(c.symbols);
    const double coded_bits = 8.0 * static_cast<double>(mc::rans_encode(c.symbols).size());
    CAPTURE(c.name);
    CAPTURE(c.symbols.size());
    CAPTURE(bound_bits / 8);
    CAPTURE(coded_bits / 8);
    CHECK(coded_bits >= bound_bits * 0.999);  // nothing beats the bound by more than rounding
    CHECK(coded_bits <= bound_bits * 1.01);
  }
}

TEST_CASE("test_rans: order0_entropy_bits") {
  CHECK(mc::order0_entropy_bits(Symbols{}) == 0);
  CHECK(mc::order0_entropy_bits(Symbols(100, 9)) == 0);
  Symbols half(100, 0);
  std::fill(half.begin(), half.begin() + 50, 1);
  CHECK(mc::order0_entropy_bits(half) == doctest::Approx(100));
  Symbols quarter = {0, 1, 2, 3, 0, 1, 2, 3};
  CHECK(mc::order0_entropy_bits(quarter) == doctest::Approx(16));
  const Symbols skewed = {0, 0, 0, 1};  // 3 * log2(4/3) + log2(4)
  CHECK(mc::order0_entropy_bits(skewed) == doctest::Approx(3 * std::log2(4.0 / 3) + 2));
}

TEST_CASE("test_rans: streams of a plain reference encoder decode (precision 1-16, 1-8 lanes)") {
  uint32_t seed = 200;
  for (unsigned precision = 1; precision <= 16; ++precision) {
    for (unsigned lanes_log2 = 0; lanes_log2 <= 3; ++lanes_log2) {
      for (size_t n : {size_t{1}, size_t{5}, size_t{2000}}) {
        // As many distinct symbols as the precision allows (at least 2 for a coded stream).
        const int alphabet = std::min(256, 1 << precision);
        Symbols symbols = precision >= 8 ? laplacian_int8_stream(n, 4, seed++) : uniform_stream(n, alphabet, seed++);
        if (n >= 2) symbols[0] = static_cast<uint8_t>(symbols[1] ^ 1);  // two distinct symbols at least
        std::array<uint64_t, 256> counts{};
        for (uint8_t s : symbols) ++counts[s];
        if (std::count_if(counts.begin(), counts.end(), [](uint64_t c) { return c != 0; }) < 2) continue;
        if (std::count_if(counts.begin(), counts.end(), [](uint64_t c) { return c != 0; }) > (1 << precision))
          continue;
        CAPTURE(precision);
        CAPTURE(lanes_log2);
        CAPTURE(n);
        const unsigned shift = (precision + lanes_log2 + static_cast<unsigned>(n)) % 16;
        const Bytes encoded =
            reference_encode(symbols, crude_frequencies(symbols, precision), precision, lanes_log2, shift);
        CHECK(mc::rans_decode(encoded, n) == symbols);
      }
    }
  }
  // Very skewed at the top precisions: one symbol in 60000 needs precision 16 to be cheap.
  Symbols rare = ternary_stream(60000, 0.99998, 7);
  rare[123] = 1;
  rare[40000] = 2;
  for (unsigned lanes_log2 = 0; lanes_log2 <= 3; ++lanes_log2)
    CHECK(mc::rans_decode(reference_encode(rare, crude_frequencies(rare, 16), 16, lanes_log2), rare.size()) == rare);
}

TEST_CASE("test_rans: every truncation of a stream fails with an input error") {
  const std::vector<Symbols> streams = {laplacian_int8_stream(3000, 5, 21), ternary_stream(20000, 0.9, 22),
                                        uniform_stream(40, 256, 23), Symbols(500, 3), Symbols{}};
  for (const Symbols& symbols : streams) {
    const Bytes encoded = mc::rans_encode(symbols);
    CAPTURE(symbols.size());
    for (size_t length = 0; length < encoded.size(); ++length) {
      CAPTURE(length);
      const Bytes prefix(encoded.begin(), encoded.begin() + static_cast<std::ptrdiff_t>(length));
      expect_input_error([&] { mc::rans_decode(prefix, symbols.size()); }, "");
    }
    // And one byte too many.
    Bytes longer = encoded;
    longer.push_back(std::byte{0});
    expect_input_error([&] { mc::rans_decode(longer, symbols.size()); }, "");
  }
}

TEST_CASE("test_rans: random byte and bit mutations decode to the right length or fail cleanly") {
  // Streams with 1, 2, 4 and 8 lanes, symbol sets as runs and as a bitmap. (A stream without
  // redundancy, such as 16 equally frequent symbols, is coded as plain bits: any mutation of its data
  // is another valid stream, so every stream here has a skewed distribution.)
  Symbols bitmap_set = laplacian_int8_stream(6000, 10, 31);
  for (auto& s : bitmap_set) s = static_cast<uint8_t>(s << 1);  // only even symbols: many runs
  REQUIRE(mc::rans_encode(bitmap_set)[3] == std::byte{0});      // after 2 count bytes and params: a bitmap
  const std::vector<Symbols> streams = {ternary_stream(3000, 0.9, 32), laplacian_int8_stream(4000, 4, 33),
                                        laplacian_int8_stream(8000, 20, 34), bitmap_set,
                                        ternary_stream(60000, 0.7, 35)};
  std::set<int> lane_counts;
  for (const Symbols& symbols : streams) {
    const size_t count_bytes = symbols.size() < 128 ? 1 : (symbols.size() < 16384 ? 2 : 3);
    lane_counts.insert(1 << ((std::to_integer<int>(mc::rans_encode(symbols)[count_bytes]) >> 5) & 3));
  }
  CHECK(lane_counts == std::set<int>{1, 2, 4, 8});
  std::mt19937 rng(36);
  int mutations = 0, detected = 0;
  for (const Symbols& symbols : streams) {
    const Bytes encoded = mc::rans_encode(symbols);
    std::uniform_int_distribution<size_t> position(0, encoded.size() - 1);
    for (int trial = 0; trial < 1200; ++trial) {
      Bytes mutated = encoded;
      const size_t at = position(rng);
      if (trial % 2 == 0)
        mutated[at] ^= static_cast<std::byte>(1u << (rng() % 8));  // one bit
      else
        mutated[at] = static_cast<std::byte>(rng() & 0xff);  // one byte
      if (mutated == encoded) continue;
      ++mutations;
      if (!decodes_or_fails_cleanly(mutated, symbols.size())) ++detected;
    }
    // Mutated headers with a generous limit: the count may grow, the decoder must still stay in bounds.
    for (int trial = 0; trial < 200; ++trial) {
      Bytes mutated = encoded;
      mutated[rng() % std::min<size_t>(encoded.size(), 48)] = static_cast<std::byte>(rng() & 0xff);
      try {
        (void)mc::rans_decode(mutated, 4 * symbols.size());
      } catch (const mc::Error& e) {
        CHECK_MESSAGE(e.kind() == mc::ErrorKind::input, std::string(e.what()));
      }
    }
  }
  // Not every mutation can be detected: the symbol set may legitimately change (another valid set of
  // the same size), and since a decoding step maps states one-to-one onto (symbol, next state) pairs,
  // a corrupted word can yield one wrong symbol and then the right state again. Integrity belongs to
  // the container's checksum; here, about 99% are caught by the final-state and end-of-data checks.
  INFO(detected << " of " << mutations << " mutations detected");
  CHECK(detected >= mutations * 97 / 100);
}

TEST_CASE("test_rans: max_symbols is enforced before allocating") {
  const Symbols symbols = laplacian_int8_stream(1000, 5, 41);
  const Bytes encoded = mc::rans_encode(symbols);
  CHECK(mc::rans_decode(encoded, 1000) == symbols);
  expect_input_error([&] { mc::rans_decode(encoded, 999); }, "symbol count 1000 exceeds the limit of 999");
  expect_input_error([&] { mc::rans_decode(mc::rans_encode(Symbols(10, 1)), 0); }, "exceeds the limit of 0");
  // A single-symbol stream claiming 2^62 symbols costs 11 bytes; it must fail before any allocation.
  Bytes huge;
  put_varint(huge, uint64_t{1} << 62);
  put_bytes(huge, {0x00, 0x05});
  expect_input_error([&] { mc::rans_decode(huge, uint64_t{1} << 30); }, "exceeds the limit");
}

TEST_CASE("test_rans: hand-made corrupt streams are rejected with what was wrong") {
  // A valid base: 4 symbols {0, 1} at precision 2 (frequencies 2 and 2), one lane. HEAD is the count,
  // the parameter byte and any further header bytes; TABLE the frequency table field.
  const Symbols base_symbols = {0, 1, 1, 0};
  const auto stream = [](int params, std::initializer_list<int> head, const Bytes& table = {}) {
    Bytes out;
    put_varint(out, 4);
    out.push_back(static_cast<std::byte>(params));
    put_bytes(out, head);
    out.insert(out.end(), table.begin(), table.end());
    return out;
  };
  const auto with_state = [](Bytes b, uint32_t state) {
    put_u32(b, state);
    return b;
  };
  const auto decode = [](const Bytes& b) { return [b] { mc::rans_decode(b, 10); }; };
  const Bytes good_table = frequency_table({2, 2}, 2, 15);
  CHECK(good_table == Bytes{std::byte{15}, std::byte{0x03}});  // shift 15: order 0, z = 0 twice: bits 1, 1
  std::array<uint32_t, 256> freqs{};
  freqs[0] = 2;
  freqs[1] = 2;
  const Bytes good = reference_encode(base_symbols, freqs, 2, 0);
  CHECK(mc::rans_decode(good, 4) == base_symbols);
  const std::initializer_list<int> runs01 = {1, 0, 1};  // one run: symbols 0 and 1

  // Header fields.
  expect_input_error(decode(Bytes{}), "truncated in the symbol count");
  Bytes overlong(10, std::byte{0xff});
  overlong.push_back(std::byte{0x01});
  expect_input_error(decode(overlong), "overflows 64 bits");
  expect_input_error(decode(stream(17, runs01, good_table)), "precision 17 bits");
  expect_input_error(decode(stream(31, {})), "precision 31 bits");
  expect_input_error(decode(stream(0x82, runs01, good_table)), "reserved bit 7");
  expect_input_error(decode(stream(0x20, {5})), "precision 0");
  expect_input_error(decode(stream(0x00, {5, 0})), "unexpected bytes");
  expect_input_error(decode(Bytes{std::byte{0}, std::byte{0}}), "unexpected bytes");
  // Symbol sets: runs past 255, a single used symbol, too many runs, a truncated bitmap, too many symbols.
  expect_input_error(decode(stream(2, {1, 0xfa, 0x01, 9})), "runs past symbol 255");
  expect_input_error(decode(stream(2, {2, 0, 0, 0xff, 0x01, 0})), "runs past symbol 255");
  expect_input_error(decode(stream(2, {1, 7, 0})), "1 used symbols");
  expect_input_error(decode(stream(2, {0x81, 0x01})), "run count 129");
  expect_input_error(decode(stream(2, {0, 3, 0})), "truncated in the symbol bitmap");
  expect_input_error(decode(stream(1, {1, 0, 2})), "do not fit");
  // Frequency tables: bad shift, truncated, overlong code, nonzero padding, zero, negative, too large,
  // too far from the prediction, wrong sum.
  expect_input_error(decode(stream(2, runs01, {std::byte{16}, std::byte{0x03}})), "shift 16 above 15");
  expect_input_error(decode(stream(2, runs01)), "truncated in the frequency table's shift");
  expect_input_error(decode(stream(2, runs01, {std::byte{15}})), "truncated in the frequency table");
  expect_input_error(decode(stream(2, runs01, Bytes(5, std::byte{0}))), "leading zeros");
  expect_input_error(decode(stream(2, runs01, {std::byte{15}, std::byte{0x83}})), "nonzero padding");
  expect_input_error(decode(stream(2, runs01, frequency_table({0, 4}, 2, 15))), "zero or negative frequency 0");
  expect_input_error(decode(stream(2, runs01, frequency_table({2, -1}, 2, 15))), "zero or negative frequency -1");
  expect_input_error(decode(stream(2, runs01, frequency_table({5, 1}, 2, 15))), "frequency 5 of symbol 0 exceeds");
  expect_input_error(decode(stream(2, runs01, frequency_table({40, 1}, 2, 15))), "differs from its prediction");
  expect_input_error(decode(stream(2, runs01, frequency_table({1, 2}, 2, 15))), "frequencies sum to 3, expected");
  // Lane states: missing, below 2^16, not back at 2^16 at the end; words: odd count, too few, too many.
  expect_input_error(decode(stream(2, runs01, good_table)), "truncated in the lane states");
  expect_input_error(decode(with_state(stream(2, runs01, good_table), 0xffff)), "below 2^16");
  expect_input_error(decode(with_state(stream(2, runs01, good_table), 0x12345678)), "expected its initial");
  Bytes odd = with_state(stream(2, runs01, good_table), 0x10000);
  odd.push_back(std::byte{0});
  expect_input_error(decode(odd), "odd number of bytes");
  // State 2^16 with 1-bit symbols: the first symbol is decoded, the second needs a word.
  expect_input_error(decode(with_state(stream(2, runs01, good_table), 0x10000)), "no renormalization word left");
  Bytes extra_words = good;
  put_bytes(extra_words, {0, 0});
  expect_input_error(decode(extra_words), "unread bytes after the last symbol");
}
