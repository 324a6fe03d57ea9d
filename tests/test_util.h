// Helpers shared by the doctest files: where the shared data lives and whether it is present.
#pragma once

#include <filesystem>
#include <string>

namespace mc::test {

inline std::filesystem::path shared_dir() { return MCOMPRESS_SHARED_DIR; }
inline std::filesystem::path source_dir() { return MCOMPRESS_SOURCE_DIR; }
inline std::string mcompress_binary() { return MCOMPRESS_BINARY; }
inline bool have_shared() { return std::filesystem::exists(shared_dir() / "models"); }

// A fresh empty directory under the system temp dir, removed by the destructor.
struct TempDir {
  std::filesystem::path path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace mc::test
