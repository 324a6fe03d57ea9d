// Reading whole files into memory, with the error messages of ../shared/docs/CLI.md (exit code 3 for a
// missing or unreadable input). Bytes only: parsing lives in the per-format readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mc {

// Largest input file read into memory: bigger than any MobileNet-class model or image, and it keeps a
// corrupt size field or a wrong path (a disk image, /dev/zero) from exhausting memory.
inline constexpr uint64_t max_input_file_bytes = uint64_t{4} << 30;

// The whole contents of PATH; "-" reads standard input to its end (binary). Fails (input error) with
// "PATH: no such file", "PATH: is a directory", "PATH: cannot read: <reason>" or
// "PATH: larger than 4 GiB".
std::vector<std::byte> read_binary_file(const std::string& path);

// Writes BYTES to PATH, replacing it; "-" writes to standard output. The data goes to a temporary file
// next to PATH that is renamed over it once complete, so a failed write never leaves a partial output.
// Fails (output error) with "PATH: cannot write: <reason>". Whether an existing PATH may be replaced
// (--force) is the caller's decision.
void write_binary_file(const std::string& path, std::span<const std::byte> bytes);

// Writes several files (no "-") as one output: each to a temporary file next to it, then, once all are
// complete, each renamed into place. A failure before the renames leaves none of them; a rename
// failing (rare: the temporaries sit in the same folders) removes the ones already renamed.
void write_binary_files(const std::vector<std::pair<std::string, std::span<const std::byte>>>& files);

}  // namespace mc
