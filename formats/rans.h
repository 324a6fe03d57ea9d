// Static rANS (range asymmetric numeral systems) coder for byte symbols: one quantized frequency table
// per stream, sent in the stream's header, and several interleaved coder states so decoding runs at
// memory speed. Method: J. Duda, "Asymmetric numeral systems: entropy coding combining speed of Huffman
// coding with compression rate of arithmetic coding" (arXiv:1311.2540, 2013), section on rANS; the
// 16-bit renormalization and the interleaving of independent states in one word stream follow
// F. Giesen, "Interleaved entropy coders" (arXiv:1402.3392, 2014).
//
// Stream format (all multi-byte integers little-endian; "varint" is unsigned LEB128, at most 10 bytes):
//
//   varint  symbol_count n
//   -- n == 0: the stream ends here (1 byte in total).
//   u8      params: bits 0-4 precision P, bits 5-6 log2(lane count K), bit 7 frequency coding
//           (0 plain, 1 delta). P == 0 means "one distinct symbol": bits 5-7 must be 0, one u8 with the
//           symbol follows and the stream ends (3+ bytes in total, no coded data).
//           Otherwise 1 <= P <= 16 and the frequencies below sum to exactly 2^P.
//   varint  run_count R: R == 0: a 32-byte bitmap of the used symbols follows (bit s%8 of byte s/8);
//           R >= 1: R runs of consecutive used symbols follow, each as varint gap, varint length-1,
//           where the first run's gap is its first symbol and a later run's gap is
//           (first symbol - previous run's end - 1). At least two symbols must be used.
//   varint  frequency of each used symbol in increasing symbol order: plain, the frequency itself;
//           delta, the zigzag-coded difference to the previous used symbol's frequency (the first
//           symbol's difference is taken from 0). Every frequency is >= 1.
//   u32     K final encoder states (the decoder's initial states), lane 0 first; each in [2^16, 2^32).
//   u16     renormalization words, in the order the decoder consumes them, up to the end of the span.
//
// Decoding: symbol i is decoded by lane i mod K. A lane with state x decodes the symbol s whose
// cumulative range [c_s, c_s + f_s) holds x mod 2^P, sets x = f_s * (x >> P) + (x mod 2^P) - c_s and,
// if x < 2^16, reads the next word w and sets x = (x << 16) | w. The encoder starts every lane at 2^16,
// so after the last symbol every lane must be back at 2^16 and every word must have been consumed:
// both are checked and catch almost any corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mc {

// Encodes SYMBOLS into a self-describing stream (format above). Deterministic: the same input gives
// the same bytes. The precision, the frequency table and the number of lanes are chosen per stream to
// minimize the coded size (table included) while keeping large streams on 8 lanes for decoding speed.
std::vector<std::byte> rans_encode(std::span<const uint8_t> symbols);

// Decodes a stream written by rans_encode. Untrusted input: every read is bounds-checked and any
// inconsistency (truncation, trailing bytes, bad table, a symbol count above MAX_SYMBOLS, final states
// not at their initial value) fails with an input error "rANS stream: ...". The symbol count is
// checked against MAX_SYMBOLS before anything is allocated.
std::vector<uint8_t> rans_decode(std::span<const std::byte> encoded, uint64_t max_symbols);

// Order-0 (empirical) entropy of SYMBOLS in bits, summed over the stream: sum over symbols of
// -log2(count/n). The lower bound for any static per-stream coder, before table and flush overhead.
double order0_entropy_bits(std::span<const uint8_t> symbols);

}  // namespace mc
