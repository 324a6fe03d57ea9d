// The temporary files outputs are written through (formats/file_io.h): their recognisable names, the
// process-wide list of files to remove if the process is stopped by a signal (read by the handler of
// formats/termination_signals.h), and the removal of the ones a killed process (SIGKILL) left behind.
// docs/SIGNALS.md gives the user's view: names, exit codes, the cleanup rule.
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mc {

// What every temporary file name holds: "<output>.mcompress-tmp-<host>-<pid>-<serial>", where <host> is
// the host name and the PID namespace ("node7.pidns4026531836"): where a PID can be checked.
inline constexpr std::string_view temporary_file_marker = ".mcompress-tmp-";

// A leftover older than this whose writer runs on another host (so its PID cannot be checked) is removed.
inline constexpr int64_t foreign_temporary_max_age_seconds = 24 * 3600;

// The SERIAL-th temporary file name of this process for OUTPUT, in OUTPUT's folder.
std::string temporary_file_name(const std::string& output, uint64_t serial);

// Who wrote a temporary file, read back from its name (no folder); nullopt when NAME is not one.
struct TemporaryFileWriter {
  std::string host;
  int64_t pid = 0;
  uint64_t serial = 0;
};
std::optional<TemporaryFileWriter> temporary_file_writer(std::string_view name);

// This machine's name and PID namespace as they appear in temporary file names (letters, digits, '.', '_').
const std::string& temporary_file_host();

// While a guard lives, the calling thread takes no signal, and a termination handler running on
// another thread waits for it to end before removing the listed files. Held around each step that
// creates, renames or removes files, so that a signal sees every step done whole or not at all.
// If the process is already terminating, the constructor never returns (the handler ends the process).
class FileStepGuard {
 public:
  FileStepGuard();
  ~FileStepGuard();
  FileStepGuard(const FileStepGuard&) = delete;
  FileStepGuard& operator=(const FileStepGuard&) = delete;

 private:
  sigset_t saved_mask_;  // the thread's signal mask, restored on destruction
  bool outermost_;       // guards nest: the outermost one of a thread does the work
};

// The list of files removed on termination. Fixed storage (no allocation, no lock), so the signal
// handler can read it. `remove_on_termination` fails (output error, naming PATH) when the list is full
// or PATH too long for it; `keep_on_termination` takes PATH off (after it was renamed or removed). Both
// hold a FileStepGuard; hold one around them and the file step they go with.
void remove_on_termination(const std::string& path);
void keep_on_termination(const std::string& path);
bool listed_for_termination(const std::string& path);
size_t files_listed_for_termination();

// For the termination handler only (async-signal-safe): marks the process as terminating, waits for
// the file steps in progress on other threads, and unlinks every listed file.
void remove_listed_files_for_termination() noexcept;

// Creates PATH exclusively (mode 0666 less the umask) and lists it, inside one FileStepGuard step.
// Returns the open descriptor, or -errno (then nothing exists and nothing is listed).
int create_listed_temporary(const std::string& path);

// Removes from FOLDER ("" is the current folder) the temporary files of writers that are gone: written
// on this host by a process that no longer runs (or by an earlier process with this PID), or on another
// host and unmodified for foreign_temporary_max_age_seconds. Others, live writers', are left alone.
// Best effort: errors are ignored. Returns how many were removed.
size_t remove_stale_temporaries(const std::string& folder);

// remove_stale_temporaries once per folder per process: the first write into a folder cleans it.
void remove_stale_temporaries_once(const std::string& folder);

}  // namespace mc
