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
//           n == 0: the stream ends here (1 byte in total).
//   u8      params: bits 0-4 precision P, bits 5-6 log2(lane count K), bit 7 reserved (must be 0).
//           P == 0 means one distinct symbol: bits 5-7 must be 0, one u8 with the symbol follows and the
//           stream ends there (no coded data). Otherwise 1 <= P <= 16 (rans_encode writes at most 14;
//           17..31 are invalid) and at least two symbols are used.
//   varint  run_count R. R == 0: a 32-byte bitmap of the used symbols follows (symbol s is bit s % 8
//           of byte s / 8). R >= 1 (at most 128): R runs of consecutive used symbols follow, each as
//           varint gap, varint length-1; the first run starts at symbol gap, a later run at
//           (previous run's last symbol + 2 + gap). No run may go past symbol 255.
//   u8      shift, 0..15 (used by the frequency codes below).
//   bits    the frequency f of each used symbol in increasing symbol order, as a bit stream packed
//           least significant bit first into bytes and padded with zero bits to a byte boundary.
//           Each f is coded relative to a prediction p: the previous used symbol's frequency, for the
//           first used symbol floor(2^P / number of used symbols). The value z = zigzag(f - p)
//           (2(f - p) if f >= p, else 2(p - f) - 1) is written as an Exp-Golomb code of order
//           k = max(0, bit_width(p) - shift): with u = z + 2^k and w = bit_width(u), w - k - 1 zero
//           bits, a one bit, then the low w - 1 bits of u, least significant first. Every f must be
//           >= 1 and the frequencies must sum to exactly 2^P. Symbol s owns the slots
//           [c_s, c_s + f_s) of [0, 2^P), c_s being the sum of the frequencies of the used symbols below s.
//   u32     K lane states (the encoder's final states, the decoder's initial ones), lane 0 first;
//           each in [2^16, 2^32).
//   u16     renormalization words, in the order the decoder consumes them, up to the end of the stream
//           (the stream's length is known from its container; no count is stored).
//
// Encoding (writers): every lane starts at x = 2^16. Symbols are coded from the last to the first,
// symbol i by lane i mod K: if x >= f_s * 2^(32 - P), the word x mod 2^16 is emitted and x >>= 16;
// then x = floor(x / f_s) * 2^P + (x mod f_s) + c_s. The words are stored in reverse order of emission.
// Decoding mirrors it from the first symbol to the last: lane i mod K with state x decodes the symbol s
// whose slots hold x mod 2^P, sets x = f_s * (x >> P) + (x mod 2^P) - c_s and, if now x < 2^16, reads
// the next word w and sets x = (x << 16) | w. After the last symbol every lane must be back at 2^16 and
// every word consumed: both are checked and catch nearly all corruption, but not all (a corrupted word
// can yield a wrong symbol and then the right state again), so integrity belongs to the container's
// checksum.
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
// checked against MAX_SYMBOLS before anything is allocated, and the output grows with the symbols
// actually decoded (first chunk at most 64 KiB + 32 × the stream's bytes), so a stream declaring more
// symbols than its words hold fails before the declared count is allocated. (A one-symbol stream,
// precision 0, is its symbol repeated: it allocates the declared count, bounded by MAX_SYMBOLS.)
std::vector<uint8_t> rans_decode(std::span<const std::byte> encoded, uint64_t max_symbols);

// Order-0 (empirical) entropy of SYMBOLS in bits, summed over the stream: sum over symbols of
// -log2(count/n). The lower bound for any static per-stream coder, before table and flush overhead.
double order0_entropy_bits(std::span<const uint8_t> symbols);

}  // namespace mc
