// Reading whole files into memory and writing outputs, with the error messages of ../shared/docs/CLI.md
// (exit code 3 for a missing or unreadable input, 5 for an output that cannot be written). Bytes only:
// parsing lives in the per-format readers.
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

// What a write does when its output exists by the time the output is renamed into place: `replace`
// it (--force), or `fail` with "PATH: already exists (use --force to overwrite)" (output error) and
// leave it as it is, so of two processes writing the same new output one gets the error.
enum class IfExists { replace, fail };

// Writes BYTES to PATH; "-" writes to standard output. The data goes to a temporary file next to PATH
// ("PATH.mcompress-tmp-HOST-PID-N", formats/temporary_files.h), written, flushed (fsync), closed and
// only then renamed over PATH, so a failed or interrupted write never leaves a partial output, and
// concurrent writers leave one whole file. An existing PATH that is neither a regular file nor a folder
// (/dev/null, a FIFO) is written in place. The first write into a folder removes the temporary files
// killed processes left there. Fails (output error) with "PATH: cannot write: <reason>" (a full disk,
// EFBIG past ulimit -f, EIO, a read-only folder); nothing temporary is left then.
void write_binary_file(const std::string& path, std::span<const std::byte> bytes, IfExists if_exists = IfExists::replace);

// Writes several files (no "-") as one output: each to a temporary file next to it, then, once all are
// complete, each renamed into place, in one step that a termination signal cannot split. A failure
// before the renames leaves none of them; a rename failing (rare: the temporaries sit in the same
// folders) removes the ones already renamed.
void write_binary_files(const std::vector<std::pair<std::string, std::span<const std::byte>>>& files,
                        IfExists if_exists = IfExists::replace);

}  // namespace mc
