#include "core/ops/int8_pointwise.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/ops/int8_pointwise_vnni.h"
#include "core/thread_buffer.h"

namespace mc {

namespace {

Int8Kernels from_environment() {
  const char* v = std::getenv("MCOMPRESS_INT8_KERNELS");
  const std::string value = v ? v : "";
  if (value.empty() || value == "automatic") return Int8Kernels::automatic;
  if (value == "portable") return Int8Kernels::portable;
  fail_usage("MCOMPRESS_INT8_KERNELS must be 'portable' or 'automatic' (or unset), got '" + value + "'");
}

std::atomic<Int8Kernels>& choice() {
  static std::atomic<Int8Kernels> c{from_environment()};
  return c;
}

constexpr int64_t kBlock = 64;      // positions per packed block (4 vectors of 16)
constexpr int64_t kRowGroup = 64;   // output channels per task

struct PackedActivations;  // core/thread_buffer.h tag

}  // namespace

Int8Kernels int8_kernels() { return choice().load(); }
void set_int8_kernels(Int8Kernels k) { choice().store(k); }

bool cpu_has_vnni() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

namespace {

// A layer's weights as the kernel reads them, rows of words of 4 consecutive channels, and each row's
// correction: the unsigned input is x + shift, so (x - x_zp) = (x + shift) - (x_zp + shift), and the
// bias is taken in: sum + b = acc - (correction - b), all mod 2^32. With what they were made from.
struct PackedWeights {
  std::vector<int8_t> weights;
  std::vector<int32_t> bias;
  int32_t zero = 0;
  std::vector<int32_t> words, correction;
};

bool packed_from(const PackedWeights& p, const int8_t* w, int64_t channels_in, int64_t channels_out, int32_t zero, const int32_t* bias) {
  return p.zero == zero && p.weights.size() == static_cast<size_t>(channels_in * channels_out) &&
         p.correction.size() == static_cast<size_t>(channels_out) && p.bias.empty() == (bias == nullptr) &&
         std::memcmp(p.weights.data(), w, p.weights.size()) == 0 &&
         (!bias || std::memcmp(p.bias.data(), bias, p.bias.size() * sizeof(int32_t)) == 0);
}

// Packing is a serial pass over the weights (MobileNetV1 0.75's pointwise layers: about 2 ms a run,
// repeated for every image when images run one at a time), and a layer runs many times with the same
// weights: the packed form is kept, found by the weights' address and used only if a byte-for-byte
// comparison with the weights it was made from (a fraction of the packing's cost) says they are the
// same, so an address reused for other weights packs again. At most cache_bytes are kept.
std::shared_ptr<const PackedWeights> packed_weights(const int8_t* w, int64_t channels_in, int64_t channels_out, int32_t zero,
                                                    const int32_t* bias) {
  constexpr size_t cache_bytes = size_t{64} << 20;
  static std::mutex mutex;
  static std::unordered_map<const int8_t*, std::shared_ptr<const PackedWeights>> cache;
  static size_t cached_bytes = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(w);
    if (it != cache.end() && packed_from(*it->second, w, channels_in, channels_out, zero, bias)) return it->second;
  }
  const int64_t k4 = (channels_in + 3) / 4;
  auto p = std::make_shared<PackedWeights>();
  p->weights.assign(w, w + channels_in * channels_out);
  if (bias) p->bias.assign(bias, bias + channels_out);
  p->zero = zero;
  p->words.assign(static_cast<size_t>(channels_out * k4), 0);
  p->correction.resize(static_cast<size_t>(channels_out));
  for (int64_t m = 0; m < channels_out; ++m) {
    auto* row = reinterpret_cast<int8_t*>(p->words.data() + m * k4);
    int64_t sum = 0;
    for (int64_t k = 0; k < channels_in; ++k) {
      row[k] = w[m * channels_in + k];
      sum += w[m * channels_in + k];
    }
    const auto c = static_cast<uint32_t>(static_cast<int64_t>(zero) * sum) - static_cast<uint32_t>(bias ? bias[m] : 0);
    p->correction[static_cast<size_t>(m)] = static_cast<int32_t>(c);
  }
  const size_t bytes = p->weights.size() + 4 * (p->bias.size() + p->words.size() + p->correction.size());
  std::lock_guard<std::mutex> lock(mutex);
  if (cached_bytes + bytes > cache_bytes) {
    cache.clear();
    cached_bytes = 0;
  }
  cache.insert_or_assign(w, p);
  cached_bytes += bytes;  // a replaced entry's bytes stay counted until the next clear
  return p;
}

// The packed layer and its kernel loop, shared by the two outputs: `block(xp, k4, wp, correction, n,
// m0, rows, p0, valid)` runs one block of output rows m0.. and positions p0.. of image n.
template <class Block>
bool run_pointwise(const void* x, bool x_signed, int32_t x_zp, const int8_t* w, int64_t batch, int64_t channels_in, int64_t channels_out,
                   int64_t positions, const int32_t* bias, ThreadPool& pool, const Block& block) {
  if (int8_kernels() == Int8Kernels::portable || !cpu_has_vnni()) return false;
  if (batch <= 0 || channels_in <= 0 || channels_out <= 0 || positions <= 0) return false;
  const int64_t k4 = (channels_in + 3) / 4;
  const int64_t blocks = (positions + kBlock - 1) / kBlock;
  // Activations as unsigned bytes (int8 shifted by 128), [batch][block][k4][64][4], zero padded.
  const int32_t shift = x_signed ? 128 : 0;  // int8 -> uint8: flip the sign bit
  const int64_t block_bytes = k4 * kBlock * 4;
  uint8_t* xp = thread_buffer<uint8_t, PackedActivations>(batch * blocks * block_bytes);
  const auto* xb = static_cast<const uint8_t*>(x);
  pool.parallel_for(batch * blocks, [&](int64_t t) {
    const int64_t n = t / blocks, b = t % blocks;
    const int64_t p0 = b * kBlock, valid = std::min(kBlock, positions - p0);
    auto* dst = reinterpret_cast<uint32_t*>(xp + t * block_bytes);  // [k4][64] words of 4 channels
    const uint32_t flip = x_signed ? 0x80808080u : 0u;
    for (int64_t g = 0; g < k4; ++g) {
      // 4 channel rows; rows past channels_in read as zeros.
      const uint8_t* src[4];
      static const uint8_t zeros[kBlock] = {};
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t k = 4 * g + i;
        src[i] = k < channels_in ? xb + (n * channels_in + k) * positions + p0 : zeros;
      }
      uint32_t* d = dst + g * kBlock;
      for (int64_t p = 0; p < valid; ++p)
        d[p] = (static_cast<uint32_t>(src[0][p]) | static_cast<uint32_t>(src[1][p]) << 8 | static_cast<uint32_t>(src[2][p]) << 16 |
                static_cast<uint32_t>(src[3][p]) << 24) ^ flip;  // padded channels: any byte, their weights are 0
      for (int64_t p = valid; p < kBlock; ++p) d[p] = 0;
    }
  });
  const std::shared_ptr<const PackedWeights> packed = packed_weights(w, channels_in, channels_out, x_zp + shift, bias);
  const int32_t* wp = packed->words.data();
  const int32_t* correction = packed->correction.data();
  const int64_t groups = (channels_out + kRowGroup - 1) / kRowGroup;
  pool.parallel_for(batch * blocks * groups, [&](int64_t t) {
    const int64_t g = t % groups, nb = t / groups;
    const int64_t n = nb / blocks, b = nb % blocks;
    const int64_t m0 = g * kRowGroup, rows = std::min(kRowGroup, channels_out - m0);
    const int64_t p0 = b * kBlock, valid = std::min(kBlock, positions - p0);
    block(xp + nb * block_bytes, k4, wp + m0 * k4, correction + m0, n, m0, rows, p0, valid);
  });
  return true;
}

}  // namespace

bool pointwise_int8_sums(const void* x, bool x_signed, int32_t x_zp, const int8_t* w, int64_t batch, int64_t channels_in,
                         int64_t channels_out, int64_t positions, int32_t* sums, ThreadPool& pool) {
  return run_pointwise(x, x_signed, x_zp, w, batch, channels_in, channels_out, positions, nullptr, pool,
                       [&](const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t n, int64_t m0, int64_t rows,
                           int64_t p0, int64_t valid) {
                         vnni_pointwise_block(xp, k4, wp, correction, rows, sums + (n * channels_out + m0) * positions + p0, positions, valid);
                       });
}

bool pointwise_int8_qlinear(const void* x, bool x_signed, int32_t x_zp, const int8_t* w, int64_t batch, int64_t channels_in,
                            int64_t channels_out, int64_t positions, const int32_t* bias, const float* multiplier, const Requantization& r,
                            void* y, ThreadPool& pool) {
  return run_pointwise(x, x_signed, x_zp, w, batch, channels_in, channels_out, positions, bias, pool,
                       [&](const uint8_t* xp, int64_t k4, const int32_t* wp, const int32_t* correction, int64_t n, int64_t m0, int64_t rows,
                           int64_t p0, int64_t valid) {
                         VnniRequantization q;
                         q.multiplier = multiplier;
                         q.low = r.low, q.high = r.high, q.y_zp = r.y_zp, q.lo = r.lo, q.hi = r.hi;
                         q.y = static_cast<uint8_t*>(y) + n * channels_out * positions;
                         q.stride = positions;
                         vnni_pointwise_block_requantized(xp, k4, wp, correction, rows, q, m0, p0, valid);
                       });
}

}  // namespace mc
