// Passes: IR transforms run by name. A pass is one file with one entry point
//   void run_<name>(Model&, const PassOptions&, PassContext&)
// registered in passes/pass_list.def with its option doc; pipelines are text,
// "fold-bn,fold-constants,equalize<iterations=8>", parsed by parse_pipeline (errors quote the bad
// token) and printed back by pipeline_string in a form that parses to the same pipeline.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"

namespace mc {

// Options of one pass invocation: key=value pairs from "name<key=value;key2=value2>".
class PassOptions {
 public:
  std::map<std::string, std::string> values;

  double number(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  std::string text(const std::string& key, const std::string& fallback) const;
  bool flag(const std::string& key, bool fallback) const;
};

// What passes share during one pipeline run; analyses (calibration statistics, sensitivity)
// will be cached here and invalidated by passes that change weights.
struct PassContext {
  int threads = 0;
  std::function<void(const std::string&)> log;  // progress / info lines; may be empty
};

struct PassInvocation {
  std::string name;
  PassOptions options;
};

struct PassInfo {
  const char* name;
  void (*run)(Model&, const PassOptions&, PassContext&);
  const char* options_doc;  // "iterations=N (default 8)"; "" if none
  const char* description;
};

const std::vector<PassInfo>& registered_passes();
const PassInfo* find_pass(const std::string& name);

// Fails (usage error) quoting the bad token: unknown pass, malformed options, unknown option key.
std::vector<PassInvocation> parse_pipeline(const std::string& text);
std::string pipeline_string(const std::vector<PassInvocation>& pipeline);

void run_pipeline(Model& model, const std::vector<PassInvocation>& pipeline, PassContext& context);

}  // namespace mc
