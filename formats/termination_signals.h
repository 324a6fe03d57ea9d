// What mcompress does when a signal stops it: the temporary files being written are removed, then the
// process ends by the same signal (so a shell sees 128 + its number: 130 for SIGINT, 143 for SIGTERM).
// A write beyond the file-size limit (ulimit -f) fails with EFBIG, reported like any write error
// (exit 5), instead of killing the process with SIGXFSZ. docs/SIGNALS.md has the details.
#pragma once

namespace mc {

// The signals whose default action ends the process and that a scheduler, a terminal or a pipe sends:
// SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU. Each gets a handler
// that removes the files listed by formats/temporary_files.h and re-raises it; one the process
// inherited as ignored (nohup, a background job's SIGINT) stays ignored. SIGXFSZ is ignored. Call once
// at the start of main, before any thread starts.
void install_termination_cleanup();

}  // namespace mc
