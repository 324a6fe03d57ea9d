// libFuzzer target for the ONNX importer: mc::parse_onnx, then mc::infer_shapes (batch 1), on
// arbitrary bytes.
//
// Property checked: for every input, parsing and shape inference either succeed or throw mc::Error
// of kind input or unsupported. Anything else is a finding: a crash, an out-of-bounds access, a
// leak or undefined behaviour (the target is built with ASan and UBSan), an mc::Error of another
// kind (internal means a bug), any other exception (std::bad_alloc from an unchecked size,
// std::out_of_range, ...), a hang (libFuzzer's -timeout), or an allocation over libFuzzer's
// -malloc_limit_mb (a size used before it was validated). Shape inference folds small constant
// subgraphs, so op kernels run on fuzzed constants too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "core/shape_inference.h"
#include "formats/onnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mc::Model model = mc::parse_onnx(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz.onnx");
    mc::infer_shapes(model, 1);
  } catch (const mc::Error& e) {
    if (e.kind() != mc::ErrorKind::input && e.kind() != mc::ErrorKind::unsupported) {
      std::fprintf(stderr, "mc::Error of kind %d (only input or unsupported are allowed): %s\n",
                   static_cast<int>(e.kind()), e.what());
      std::abort();
    }
  }
  return 0;
}
