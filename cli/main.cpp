// mcompress: command-line entry. Parses the subcommand, runs it, and turns every failure into
// one line on stderr plus the exit code of ../shared/docs/CLI.md.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <iostream>
#include <new>

#include "cli/common.h"
#include "core/error.h"
#include "core/matrix_blocking.h"
#include "formats/termination_signals.h"

namespace {

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest of `candidates` to `word` when it is close enough to be a typo, else "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_distance) best = c, best_distance = d;
  }
  return best;
}

// The long and short flag names of `app`, as typed ("--max-drop", "-o").
std::vector<std::string> flag_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app->get_options()) {
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& sn : opt->get_snames()) names.push_back("-" + sn);
  }
  return names;
}

// What a command printed on standard output (printf, std::cout: one stdio stream) is flushed here,
// and a failed write (a full disk, /dev/full) is an output error like any other: exit 5, one line.
// After a failed command its own error is the one reported.
int flush_standard_output(int code) {
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int err = errno;
  if (code != 0 || (!flush_failed && !std::ferror(stdout))) return code;
  std::fprintf(stderr, "mcompress: error: <stdout>: cannot write: %s\n", err != 0 ? std::strerror(err) : "a write failed, the output is incomplete");
  return 5;
}

int run(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: a signal removes the temporary files and ends the process with its
  // conventional status; a write past the file-size limit is an error (exit 5), not SIGXFSZ.
  mc::install_termination_cleanup();
  mc::fix_matrix_blocking();
  return flush_standard_output(run(argc, argv));
}

namespace {

int run(int argc, char** argv) {
  CLI::App root{
      "mcompress: make MobileNet- and ShuffleNet-class ONNX models smaller and cheaper to run, post-training,\n"
      "and measure every claim (size, operations, energy, accuracy).\n\n"
      "Examples:\n"
      "  mcompress info model.onnx                     per-layer parameters and MACs\n"
      "  mcompress eval model.onnx --images DIR --preprocess keras\n"
      "                                                top-1 / top-5 on a labelled image folder\n"
      "  mcompress compress model.onnx -o model.mcz --recipe hybrid --calib DIR --preprocess keras --eval-images DIR\n"
      "                                                compress, and measure top-1 before/after on the written file\n"
      "  mcompress export model.mcz -o out.onnx        an ONNX model ONNX Runtime runs with eval's accuracy\n"
      "  mcompress help compress                       a command's flags, recipes and examples\n\n"
      "Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 unsupported input, 5 cannot write output.\n"
      "Stopped by a signal (130 Ctrl-C, 143 SIGTERM), it removes its temporary files first: outputs are whole or absent.",
      "mcompress"};
  root.set_version_flag("--version", std::string("mcompress ") + MCOMPRESS_VERSION);
  root.require_subcommand(1);
  std::vector<mc::cli::Command> commands = {mc::cli::add_info_command(root), mc::cli::add_eval_command(root),
                                            mc::cli::add_profile_command(root), mc::cli::add_compress_command(root),
                                            mc::cli::add_export_command(root),
                                            mc::cli::add_report_command(root), mc::cli::add_sweep_command(root),
                                            mc::cli::add_calibrate_command(root)};
  try {
    // `mcompress help [COMMAND]` is `mcompress [COMMAND] --help`.
    std::vector<char*> args(argv, argv + argc);
    std::string help_flag = "--help";
    if (argc >= 2 && std::string(argv[1]) == "help") {
      args.erase(args.begin() + 1);
      args.push_back(help_flag.data());
      argc = static_cast<int>(args.size());
      argv = args.data();
    }
    bool known_command = false;
    std::vector<std::string> command_names;
    for (auto& c : commands) {
      known_command = known_command || (argc > 1 && c.app->check_name(argv[1]));
      command_names.push_back(c.app->get_name());
    }
    if (argc > 1 && argv[1][0] != '-' && !known_command) {
      std::string known;
      for (const auto& n : command_names) known += (known.empty() ? "" : ", ") + n;
      const std::string guess = closest(argv[1], command_names);
      std::fprintf(stderr, "mcompress: error: unknown command '%s'%s (commands: %s; see 'mcompress --help')\n", argv[1],
                   guess.empty() ? "" : ("; did you mean '" + guess + "'?").c_str(), known.c_str());
      return 2;
    }
    try {
      root.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return root.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return root.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return root.exit(e);
    } catch (const CLI::Success&) {
      return 0;  // a flag that did its work (compress --print-passes)
    } catch (const CLI::ParseError& e) {
      std::string msg = e.what(), help = "mcompress --help";
      const CLI::App* app = &root;
      for (auto& c : commands)
        if (c.app->parsed()) help = "mcompress " + c.app->get_name() + " --help", app = c.app;
      // An unknown flag: suggest the closest the command takes.
      for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-' || msg.find(arg) == std::string::npos) continue;
        const std::string guess = closest(arg.substr(0, arg.find('=')), flag_names(app));
        if (!guess.empty()) msg += "; did you mean " + guess + "?";
        break;
      }
      std::fprintf(stderr, "mcompress: error: %s (see '%s')\n", msg.c_str(), help.c_str());
      return 2;
    }
    for (auto& c : commands)
      if (c.app->parsed()) return c.run();
    std::fprintf(stderr, "mcompress: error: no command given (see 'mcompress --help')\n");
    return 2;
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "mcompress: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mcompress: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcompress: error: internal error: %s (please report)\n", e.what());
    return 1;
  }
}

}  // namespace
