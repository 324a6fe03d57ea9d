#include "passes/pass.h"

#include "core/stage_timer.h"
namespace mc {

#define PASS(name, fn, calibration, weights, preserved, description, options, rules) void fn(Model&, const PassOptions&, PassContext&);
#include "passes/pass_list.def"
#undef PASS

const std::vector<PassInfo>& registered_passes() {
#define OPTIONS(...) std::vector<OptionSpec>{__VA_ARGS__}
#define RULES(...) std::vector<OptionRule>{__VA_ARGS__}
  static const std::vector<PassInfo> passes = {
#define PASS(name, fn, calibration, weights, preserved, description, options, rules) \
  PassInfo{name, &fn, calibration, weights, preserved, description, options, rules},
#include "passes/pass_list.def"
#undef PASS
  };
#undef OPTIONS
#undef RULES
  return passes;
}

const PassInfo* find_pass(const std::string& name) {
  for (const auto& p : registered_passes())
    if (name == p.name) return &p;
  return nullptr;
}

bool PassInvocation::needs_calibration() const {
  switch (info->calibration.kind) {
    case CalibrationNeed::Kind::never: return false;
    case CalibrationNeed::Kind::always: return true;
    case CalibrationNeed::Kind::unless: return options.text(info->calibration.option) != info->calibration.value;
  }
  return true;
}

bool PassInvocation::reads_statistics() const {
  return needs_calibration() && !(options.declares("sequential") && options.text("sequential") == "on");
}

std::vector<PassInvocation> parse_pipeline(const std::string& text) {
  std::vector<PassInvocation> out;
  size_t i = 0;
  auto bad = [&](const std::string& what) { fail_usage("--passes '" + text + "': " + what); };
  while (i < text.size()) {
    size_t end = i;
    while (end < text.size() && text[end] != ',' && text[end] != '<') ++end;
    PassInvocation inv;
    inv.name = text.substr(i, end - i);
    if (inv.name.empty()) bad("empty pass name at offset " + std::to_string(i));
    inv.info = find_pass(inv.name);
    if (!inv.info) {
      std::string known;
      for (const auto& p : registered_passes()) known += (known.empty() ? "" : ", ") + p.name;
      bad("unknown pass '" + inv.name + "' (passes: " + known + ")");
    }
    std::string body;
    if (end < text.size() && text[end] == '<') {
      size_t close = text.find('>', end);
      if (close == std::string::npos) bad("missing '>' after options of '" + inv.name + "'");
      body = text.substr(end + 1, close - end - 1);
      end = close + 1;
    }
    try {
      inv.options = PassOptions::parse(inv.name, body, inv.info->options, inv.info->rules);
    } catch (const Error& e) {
      bad(e.what());
    }
    out.push_back(std::move(inv));
    if (end < text.size()) {
      if (text[end] != ',') bad("expected ',' at offset " + std::to_string(end));
      ++end;
      if (end == text.size()) bad("trailing ','");
    }
    i = end;
  }
  if (out.empty()) bad("no passes");
  // Order: a pass that rewrites float weights would find them encoded (or, under new names, leave
  // their encodings behind) after a pass that encodes them.
  const PassInvocation* encoder = nullptr;
  for (const auto& inv : out) {
    if (inv.info->weights == WeightEffect::rewrites_float && encoder)
      bad("pass '" + inv.name + "' rewrites float weights and cannot run after '" + encoder->name +
          "', which encodes them: put it earlier");
    if (inv.info->weights == WeightEffect::encodes && !encoder) encoder = &inv;
  }
  return out;
}

std::string pipeline_string(const std::vector<PassInvocation>& pipeline) {
  std::string s;
  for (const auto& inv : pipeline) {
    if (!s.empty()) s += ',';
    s += inv.name;
    const std::string options = inv.options.text_form();
    if (!options.empty()) s += '<' + options + '>';
  }
  return s;
}

const PassInvocation* first_needing_calibration(const std::vector<PassInvocation>& pipeline) {
  for (const auto& inv : pipeline)
    if (inv.needs_calibration()) return &inv;
  return nullptr;
}

void run_pipeline(Model& model, const std::vector<PassInvocation>& pipeline, PassContext& context) {
  if (const PassInvocation* p = first_needing_calibration(pipeline); p && !context.has_calibration())
    fail_usage("pass '" + p->name + "' needs calibration images: give --calib DIR");
  if (!context.analyses.has_float_model()) {
    context.analyses = AnalysisManager(AnalysisManager::Settings{context.threads, context.log, context.progress, context.calibration,
                                                                 context.statistics_cache});
    context.analyses.set_float_model(model);
  }
  for (const auto& inv : pipeline) {
    if (context.log) context.log("pass " + inv.name);
    TimedStage timed("pass " + inv.name);
    std::map<std::string, const EncodedTensor*> encoded_before;
    for (const auto& [name, init] : model.graph.initializers)
      if (init.encoding) encoded_before[name] = init.encoding.get();
    inv.info->run(model, inv.options, context);
    // The IR invariants (core/graph.h Initializer): a pass that changed an encoded weight without
    // re-encoding it, or dropped an encoding, is a bug in that pass.
    const std::string broken = broken_initializer(model.graph);
    if (!broken.empty()) fail_internal("pass '" + inv.name + "' broke the IR: " + broken);
    for (const auto& [name, before] : encoded_before)
      if (const auto it = model.graph.initializers.find(name); it != model.graph.initializers.end() && !it->second.encoded())
        fail_internal("pass '" + inv.name + "' broke the IR: weight '" + name + "' lost its encoding");
    context.analyses.invalidate(inv.info->preserved);
  }
}

std::string pass_reference() {
  std::string out;
  for (const auto& p : registered_passes()) {
    out += p.name + "\n    " + p.description;
    switch (p.calibration.kind) {
      case CalibrationNeed::Kind::never: out += " (no calibration images)"; break;
      case CalibrationNeed::Kind::always: out += " (needs --calib)"; break;
      case CalibrationNeed::Kind::unless: out += " (needs --calib unless " + p.calibration.option + "=" + p.calibration.value + ")"; break;
    }
    out += "\n";
    for (const auto& o : p.options) out += "    " + o.usage() + "\n";
    for (const auto& r : p.rules) {
      switch (r.kind) {
        case OptionRule::Kind::exactly_one: out += "    exactly one of " + r.a + " and " + r.b + "\n"; break;
        case OptionRule::Kind::less_than: out += "    " + r.a + " < " + r.b + "\n"; break;
        case OptionRule::Kind::needs: out += "    " + r.a + "=" + r.value + " needs " + r.b + "\n"; break;
      }
    }
  }
  return out;
}

}  // namespace mc
