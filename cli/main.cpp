// mcompress: command-line entry. Parses the subcommand, runs it, and turns every failure into
// one line on stderr plus the exit code of ../shared/docs/CLI.md.
#include <cstdio>
#include <iostream>
#include <new>

#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App root{
      "mcompress: make MobileNet- and ShuffleNet-class ONNX models smaller and cheaper to run, post-training,\n"
      "and measure every claim (size, operations, energy, accuracy).\n\n"
      "Examples:\n"
      "  mcompress info model.onnx                     per-layer parameters and MACs\n"
      "  mcompress eval model.onnx --images DIR --preprocess keras\n"
      "                                                top-1 / top-5 on a labelled image folder\n"
      "  mcompress export model.onnx -o out.onnx       write the model back as ONNX\n\n"
      "Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 unsupported input, 5 cannot write output.",
      "mcompress"};
  root.set_version_flag("--version", std::string("mcompress ") + MCOMPRESS_VERSION);
  root.require_subcommand(1);
  std::vector<mc::cli::Command> commands = {mc::cli::add_info_command(root), mc::cli::add_eval_command(root),
                                            mc::cli::add_profile_command(root), mc::cli::add_compress_command(root),
                                            mc::cli::add_export_command(root),
                                            mc::cli::add_report_command(root), mc::cli::add_sweep_command(root)};
  try {
    bool known_command = false;
    for (auto& c : commands) known_command = known_command || (argc > 1 && c.app->check_name(argv[1]));
    if (argc > 1 && argv[1][0] != '-' && !known_command) {
      std::string known;
      for (auto& c : commands) known += (known.empty() ? "" : ", ") + c.app->get_name();
      std::fprintf(stderr, "mcompress: error: unknown command '%s' (commands: %s; see 'mcompress --help')\n", argv[1], known.c_str());
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
      for (auto& c : commands)
        if (c.app->parsed()) help = "mcompress " + c.app->get_name() + " --help";
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
