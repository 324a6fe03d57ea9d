#include "formats/mcz_metadata.h"

#include "core/error.h"

namespace mc {

namespace {

using json = nlohmann::ordered_json;

// Checked access to the known keys of one object; `where` is "FILE: metadata key 'source'".
class Fields {
 public:
  // `separator` joins `where` and a key: " " at the top ("FILE: metadata source"), "." below.
  Fields(const json& object, std::string where, const char* separator = ".") : object_(object), where_(std::move(where)), separator_(separator) {
    if (!object_.is_object()) fail_input(where_ + " must be an object, got " + object_.dump());
  }
  bool has(const char* key) const { return object_.contains(key); }
  std::string text(const char* key) const {
    const json& v = at(key);
    if (!v.is_string()) bad(key, "a string", v);
    return v.get<std::string>();
  }
  int64_t count(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 0) bad(key, "a count", v);
    return v.get<int64_t>();
  }
  uint64_t unsigned_count(const char* key) const {
    const json& v = at(key);
    if (!v.is_number_unsigned()) bad(key, "a count", v);
    return v.get<uint64_t>();
  }
  double number(const char* key) const {
    const json& v = at(key);
    if (!v.is_number()) bad(key, "a number", v);
    return v.get<double>();
  }
  const json& at(const char* key) const { return object_[key]; }
  std::string where(const char* key) const { return where_ + separator_ + key; }

 private:
  [[noreturn]] void bad(const char* key, const char* what, const json& v) const {
    fail_input(where(key) + " must be " + what + ", got " + v.dump());
  }
  const json& object_;
  std::string where_;
  const char* separator_;
};

}  // namespace

json accuracy_json(const McAccuracy& a) {
  json j = json::object();
  if (a.images) j["images"] = *a.images;
  if (a.top1_before) j["top1_before"] = *a.top1_before;
  if (a.top1_after) j["top1_after"] = *a.top1_after;
  if (a.top5_before) j["top5_before"] = *a.top5_before;
  if (a.top5_after) j["top5_after"] = *a.top5_after;
  return j;
}

json metadata_json(const McMetadata& m) {
  json j;
  j["tool"] = m.tool;
  j["version"] = m.version;
  j["recipe"] = m.recipe;
  j["passes"] = m.passes;
  if (m.calibration)
    j["calibration"] = {{"dir", m.calibration->dir}, {"images", m.calibration->images}, {"held_out", m.calibration->held_out},
                        {"seed", m.calibration->seed}};
  if (m.source) {
    j["source"] = {{"file", m.source->file}, {"bytes", m.source->bytes}, {"sha256", m.source->sha256}, {"params", m.source->params}};
    if (m.source->macs) j["source"]["macs"] = *m.source->macs;
  }
  if (!m.preprocess.empty()) j["preprocess"] = m.preprocess;
  if (!m.sensitivity.is_null()) j["sensitivity"] = m.sensitivity;
  if (!m.budget.is_null()) j["budget"] = m.budget;
  if (!m.budgets.is_null()) j["budgets"] = m.budgets;
  if (!m.report.is_null()) j["report"] = m.report;
  else if (m.accuracy) j["report"]["accuracy"] = accuracy_json(*m.accuracy);
  return j;
}

McMetadata parse_metadata(const json& metadata, const std::string& name) {
  McMetadata m;
  const Fields top(metadata, name + ": metadata", " ");
  m.tool = top.has("tool") ? top.text("tool") : "";
  if (top.has("version")) m.version = top.text("version");
  if (top.has("recipe")) m.recipe = top.text("recipe");
  if (top.has("passes")) m.passes = top.text("passes");
  if (top.has("preprocess")) m.preprocess = top.text("preprocess");
  if (top.has("calibration")) {
    const Fields c(top.at("calibration"), top.where("calibration"));
    McCalibrationRecord r;
    if (c.has("dir")) r.dir = c.text("dir");
    if (c.has("images")) r.images = c.count("images");
    if (c.has("held_out")) r.held_out = c.count("held_out");
    if (c.has("seed")) r.seed = c.unsigned_count("seed");
    m.calibration = r;
  }
  if (top.has("source")) {
    const Fields s(top.at("source"), top.where("source"));
    McSourceRecord r;
    if (s.has("file")) r.file = s.text("file");
    if (s.has("bytes")) r.bytes = s.unsigned_count("bytes");
    if (s.has("sha256")) r.sha256 = s.text("sha256");
    if (s.has("params")) r.params = s.count("params");
    if (s.has("macs")) r.macs = s.count("macs");
    m.source = r;
  }
  if (top.has("sensitivity")) m.sensitivity = top.at("sensitivity");
  if (top.has("budget")) {
    m.budget = top.at("budget");
    const Fields b(m.budget, top.where("budget"));
    for (const char* key : {"max_drop", "estimate", "bound", "confidence"})
      if (b.has(key)) b.number(key);
    if (b.has("images")) b.count("images");
  }
  if (top.has("budgets")) {
    m.budgets = top.at("budgets");
    if (!m.budgets.is_array()) fail_input(top.where("budgets") + " must be an array, got " + m.budgets.dump());
  }
  if (top.has("report")) {
    m.report = top.at("report");
    const Fields report(m.report, top.where("report"));
    if (report.has("accuracy")) {
      const Fields a(report.at("accuracy"), report.where("accuracy"));
      McAccuracy acc;
      if (a.has("top1_before")) acc.top1_before = a.number("top1_before");
      if (a.has("top1_after")) acc.top1_after = a.number("top1_after");
      if (a.has("top5_before")) acc.top5_before = a.number("top5_before");
      if (a.has("top5_after")) acc.top5_after = a.number("top5_after");
      if (a.has("images")) acc.images = a.count("images");
      m.accuracy = acc;
    }
  }
  return m;
}

}  // namespace mc
