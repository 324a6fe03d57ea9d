// Helpers shared by the doctest files: where the shared data lives and whether it is present.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace mc::test {

// MCOMPRESS_SHARED_DIR in the environment replaces the compiled-in ../shared, so the paths taken
// without it can be tested (MCOMPRESS_SHARED_DIR=/nonexistent) without touching the real folder.
inline std::filesystem::path shared_dir() {
  if (const char* dir = std::getenv("MCOMPRESS_SHARED_DIR"); dir && *dir) return dir;
  return MCOMPRESS_SHARED_DIR;
}
inline std::filesystem::path source_dir() { return MCOMPRESS_SOURCE_DIR; }
inline std::string mcompress_binary() { return MCOMPRESS_BINARY; }
inline bool have_shared() { return std::filesystem::exists(shared_dir() / "models"); }
// For a test case that needs ../shared: `if (!test::need_shared()) return;`. Without it the case is
// skipped with a note, unless MCOMPRESS_REQUIRE_SHARED=1 (scripts/test.sh, CI): then it fails, so
// a run that should cover the shared models cannot pass without them.
inline bool need_shared() {
  if (have_shared()) return true;
  const std::string missing = (shared_dir() / "models").string();
  const char* require = std::getenv("MCOMPRESS_REQUIRE_SHARED");
  if (require && std::string_view(require) == "1") FAIL(missing << " not found (MCOMPRESS_REQUIRE_SHARED=1)");
  MESSAGE(missing << " not found; skipped (MCOMPRESS_REQUIRE_SHARED=1 makes this a failure)");
  return false;
}

// The four float shared models (BatchNorm kept or folded at import) and the reference input each takes
// (../shared/reference: input_keras.npy for MobileNetV1, input_torch.npy for the others).
struct SharedModel {
  const char* model;
  const char* input;
};
inline constexpr SharedModel float_shared_models[] = {{"mobilenet_v1_0.25_224", "input_keras.npy"},
                                                      {"mobilenet_v1_0.75_224", "input_keras.npy"},
                                                      {"mobilenet_v2_1_0", "input_torch.npy"},
                                                      {"shufflenet_v2_x1_0", "input_torch.npy"}};

// A fresh empty directory under the system temp dir, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace mc::test
