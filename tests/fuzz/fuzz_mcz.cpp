// libFuzzer target for the .mcz reader: mc::read_mcz, then mc::decode_mcz, on arbitrary bytes.
//
// Property checked: for every input, reading and decoding either succeed or throw mc::Error of kind
// input or unsupported. Anything else is a finding: a crash, an out-of-bounds access, a leak or
// undefined behaviour (the target is built with ASan and UBSan), an mc::Error of another kind
// (internal means a reader bug), any other exception (std::bad_alloc from an unchecked size,
// std::out_of_range, ...), a hang (libFuzzer's -timeout), or an allocation over libFuzzer's
// -malloc_limit_mb (a size used before it was validated).
//
// Each input is tried twice: as given, which exercises the container checks (magic, version,
// sizes, checksums), and with its header size, trailer and every checksum recomputed
// (tests/mcz_test_util.h make_consistent), so that mutations also reach the section table, graph,
// tensor table and stream decoders behind the checksums.
//
// Files whose tensor table declares more than 2^22 elements in total are parsed but not decoded:
// the format lets a few bytes stand for a large constant tensor (up to 2^31 elements, all tensors
// together up to 4 GiB decoded), so decoding them would measure the machine's memory, not the
// reader. The table itself is still checked.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <span>
#include <vector>

#include "formats/mcz.h"
#include "tests/mcz_test_util.h"

namespace {

constexpr uint64_t max_decoded_elements = uint64_t{1} << 22;

void check(std::span<const std::byte> bytes) {
  try {
    mc::McFile file = mc::read_mcz(bytes, "fuzz.mcz");
    uint64_t elements = 0;
    for (const auto& t : file.tensors) elements += t.weights();
    if (elements <= max_decoded_elements) mc::decode_mcz(file, "fuzz.mcz");
  } catch (const mc::Error& e) {
    if (e.kind() != mc::ErrorKind::input && e.kind() != mc::ErrorKind::unsupported) {
      std::fprintf(stderr, "mc::Error of kind %d (only input or unsupported are allowed): %s\n",
                   static_cast<int>(e.kind()), e.what());
      std::abort();
    }
  }
  // Any other exception escapes to libFuzzer, which reports it as a crash.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* begin = reinterpret_cast<const std::byte*>(data);
  check(std::span<const std::byte>(begin, size));
  std::vector<std::byte> consistent(begin, begin + size);
  mc::test::make_consistent(consistent);
  check(consistent);
  return 0;
}
