#include "formats/termination_signals.h"

#include <csignal>

#include <unistd.h>

#include "formats/temporary_files.h"

namespace mc {
namespace {

constexpr int cleaned_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU};

// Only async-signal-safe calls: unlink (inside remove_listed_files_for_termination), signal,
// sigprocmask, raise, _exit.
extern "C" void end_on_signal(int sig) {
  remove_listed_files_for_termination();
  std::signal(sig, SIG_DFL);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, sig);
  sigprocmask(SIG_UNBLOCK, &unblock, nullptr);  // the signal is blocked while its handler runs
  std::raise(sig);                              // ends the process: the parent sees "killed by SIG"
  _exit(128 + sig);                             // not reached
}

}  // namespace

void install_termination_cleanup() {
  struct sigaction action {};
  action.sa_handler = end_on_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : cleaned_signals) sigaddset(&action.sa_mask, sig);  // one handler at a time per thread
  for (int sig : cleaned_signals) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    sigaction(sig, &action, nullptr);
  }
  std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG: an error message and exit 5
}

}  // namespace mc
