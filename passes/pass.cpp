#include "passes/pass.h"

#include <charconv>
#include <set>

namespace mc {

#define PASS(name, fn, options, description) void fn(Model&, const PassOptions&, PassContext&);
#include "passes/pass_list.def"
#undef PASS

const std::vector<PassInfo>& registered_passes() {
  static const std::vector<PassInfo> passes = {
#define PASS(name, fn, options, description) {name, &fn, options, description},
#include "passes/pass_list.def"
#undef PASS
  };
  return passes;
}

const PassInfo* find_pass(const std::string& name) {
  for (const auto& p : registered_passes())
    if (name == p.name) return &p;
  return nullptr;
}

double PassOptions::number(const std::string& key, double fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  fail_usage("option '" + key + "=" + it->second + "' needs a number");
}

int64_t PassOptions::integer(const std::string& key, int64_t fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size())
    fail_usage("option '" + key + "=" + it->second + "' needs an integer");
  return v;
}

std::string PassOptions::text(const std::string& key, const std::string& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

bool PassOptions::flag(const std::string& key, bool fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  if (it->second == "1" || it->second == "true" || it->second.empty()) return true;
  if (it->second == "0" || it->second == "false") return false;
  fail_usage("option '" + key + "=" + it->second + "' needs true or false");
}

namespace {

// Option keys a pass accepts, read from its doc string ("key=..." words).
std::set<std::string> option_keys(const PassInfo& p) {
  std::set<std::string> keys;
  std::string doc = p.options_doc;
  size_t pos = 0;
  while ((pos = doc.find('=', pos)) != std::string::npos) {
    size_t start = pos;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(doc[start - 1])) || doc[start - 1] == '-' || doc[start - 1] == '_')) --start;
    if (start < pos) keys.insert(doc.substr(start, pos - start));
    ++pos;
  }
  return keys;
}

}  // namespace

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
    const PassInfo* info = find_pass(inv.name);
    if (!info) {
      std::string known;
      for (const auto& p : registered_passes()) known += (known.empty() ? "" : ", ") + std::string(p.name);
      bad("unknown pass '" + inv.name + "' (passes: " + known + ")");
    }
    if (end < text.size() && text[end] == '<') {
      size_t close = text.find('>', end);
      if (close == std::string::npos) bad("missing '>' after options of '" + inv.name + "'");
      std::string body = text.substr(end + 1, close - end - 1);
      auto keys = option_keys(*info);
      size_t p = 0;
      while (p <= body.size() && !body.empty()) {
        size_t semi = body.find(';', p);
        std::string item = body.substr(p, semi == std::string::npos ? std::string::npos : semi - p);
        size_t eq = item.find('=');
        std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (key.empty()) bad("empty option in '" + inv.name + "<" + body + ">'");
        if (!keys.count(key)) bad("unknown option '" + key + "' for pass '" + inv.name + "'" + (keys.empty() ? " (it takes none)" : std::string(" (options: ") + info->options_doc + ")"));
        inv.options.values[key] = value;
        if (semi == std::string::npos) break;
        p = semi + 1;
      }
      end = close + 1;
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
  return out;
}

std::string pipeline_string(const std::vector<PassInvocation>& pipeline) {
  std::string s;
  for (const auto& inv : pipeline) {
    if (!s.empty()) s += ',';
    s += inv.name;
    if (!inv.options.values.empty()) {
      s += '<';
      bool first = true;
      for (const auto& [k, v] : inv.options.values) {
        s += (first ? "" : ";") + k + "=" + v;
        first = false;
      }
      s += '>';
    }
  }
  return s;
}

const CalibrationStats& PassContext::statistics(const Model& model) {
  if (!has_calibration()) fail_usage("this pass needs calibration images (--calib DIR)");
  if (!stats_) {
    auto compute = [&] {
      if (log) log("calibration statistics on " + std::to_string(calibration.files.size()) + " images");
      return collect_calibration_stats(model, calibration, StatsOptions{threads, true, true, {}}, progress);
    };
    stats_ = statistics_cache ? statistics_cache->get(model, calibration, compute)
                              : std::make_shared<const CalibrationStats>(compute());
  }
  return *stats_;
}

bool PassContext::has_float_model() const { return has_float_model_; }

const ReferenceOutputs& PassContext::float_reference() {
  if (held_out.files.empty()) fail_usage("a budgeted pass needs held-out calibration images (--calib with enough images)");
  if (!has_float_model_) fail_internal("float_reference: no float model recorded");
  if (!reference_valid_) {
    reference_ = reference_outputs(float_model_, held_out, threads);
    reference_valid_ = true;
  }
  return reference_;
}

void run_pipeline(Model& model, const std::vector<PassInvocation>& pipeline, PassContext& context) {
  if (!context.has_float_model()) context.set_float_model(model);
  for (const auto& inv : pipeline) {
    const PassInfo* info = find_pass(inv.name);
    if (!info) fail_usage("unknown pass '" + inv.name + "'");
    if (context.log) context.log("pass " + inv.name);
    info->run(model, inv.options, context);
  }
}

}  // namespace mc
