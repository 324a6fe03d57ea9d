// mcompress sweep's pieces: Pareto marking (against a brute-force definition), the CSV / JSON
// writers and reader, the per-layer sensitivity summary stored in .mcz metadata, the shared
// calibration statistics cache (computed once per distinct model, results unchanged), and the HTML
// page (self-contained: no script, no external reference; text escaped).
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "analysis/calibration_stats.h"
#include "analysis/html_report.h"
#include "analysis/pareto.h"
#include "analysis/sensitivity_summary.h"
#include "analysis/statistics_cache.h"
#include "analysis/sweep_table.h"
#include "core/error.h"
#include "formats/mcz.h"
#include "passes/recipe.h"
#include "tests/helpers.h"
#include "tests/model_builder.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

std::vector<bool> brute_force_front(const std::vector<TradeOff>& p) {
  std::vector<bool> front(p.size(), true);
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j < p.size(); ++j)
      if (p[j].cost <= p[i].cost && p[j].gain >= p[i].gain && (p[j].cost < p[i].cost || p[j].gain > p[i].gain)) front[i] = false;
  return front;
}

SweepTable sample_table() {
  SweepTable t;
  t.model = "model, \"v1\".onnx";
  t.source_bytes = 1000;
  t.fp32_bytes = 900;
  t.macs = 500;
  t.energy_pj_fp32 = 2300;
  t.top1_float = 70.5;
  t.top5_float = 90;
  t.eval_images = 200;
  auto point = [](std::string recipe, std::string budget, uint64_t bytes, int64_t muls, double top1) {
    SweepPoint p;
    p.recipe = std::move(recipe);
    p.budget = std::move(budget);
    p.bytes = bytes;
    p.compression_ratio = 900.0 / static_cast<double>(bytes);
    p.muls = muls;
    p.adds = muls + 7;
    p.fp32_macs = muls;
    p.energy_pj = 0.1 + static_cast<double>(muls);
    p.top1 = top1;
    p.top5 = top1 + 10;
    p.command = "mcompress compress m.onnx -o " + p.recipe + ".mcz --recipe " + p.recipe;
    return p;
  };
  t.points.push_back(point("int8", "", 300, 500, 70.0));                    // front (size, MULs)
  t.points.push_back(point("fp16", "", 500, 500, 70.0));                    // larger than int8; the same MULs and top-1
  t.points.push_back(point("hybrid", "ternary-fraction=0.3", 280, 350, 69.0));  // front on both
  t.points.push_back(point("prom", "", 200, 100, 1.0 / 3.0));               // front on both (smallest)
  SweepPoint failed;
  failed.recipe = "hybrid";
  failed.budget = "max-drop=1";
  failed.error = "no pointwise layers, to split";
  t.points.push_back(failed);
  mark_pareto(t);
  return t;
}

}  // namespace

TEST_CASE("test_sweep: Pareto front equals the brute-force definition, whatever the order") {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<TradeOff> points(static_cast<size_t>(1 + trial % 12));
    // Few distinct values, so ties in cost, in gain and in both are common.
    for (auto& p : points) p = {static_cast<double>(rng() % 5), static_cast<double>(rng() % 4)};
    std::vector<bool> front = pareto_front(points);
    CHECK(front == brute_force_front(points));
    std::vector<TradeOff> reversed(points.rbegin(), points.rend());
    std::vector<bool> back = pareto_front(reversed);
    std::reverse(back.begin(), back.end());
    CHECK(back == front);
  }
  CHECK(pareto_front({}).empty());
  // Identical points are on the front together.
  CHECK(pareto_front({{1, 5}, {1, 5}, {2, 5}}) == std::vector<bool>{true, true, false});
}

TEST_CASE("test_sweep: mark_pareto skips failed points and marks both fronts") {
  SweepTable t = sample_table();
  CHECK(t.points[0].pareto_size);
  CHECK(t.points[0].pareto_muls);
  CHECK_FALSE(t.points[1].pareto_size);  // int8 is smaller at the same top-1
  CHECK(t.points[1].pareto_muls);        // a tie with int8 on (MULs, top-1): both stay
  t.points[0].error = "failed later";     // without int8, nothing else has 70.0 under 500 bytes... fp16 joins
  mark_pareto(t);
  CHECK(t.points[1].pareto_size);
  CHECK_FALSE(t.points[0].pareto_size);
  t = sample_table();
  CHECK(t.points[2].pareto_size);
  CHECK(t.points[2].pareto_muls);
  CHECK(t.points[3].pareto_size);
  CHECK(t.points[3].pareto_muls);
  CHECK_FALSE(t.points[4].pareto_size);
  CHECK_FALSE(t.points[4].pareto_muls);
}

TEST_CASE("test_sweep: CSV has one row per point, quotes fields and reads back exactly") {
  SweepTable t = sample_table();
  t.points[2].command = "mcompress compress 'a b.onnx', \"quoted\"";
  std::string csv = to_csv(t);
  std::istringstream in(csv);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() == 1 + t.points.size());
  CHECK(lines[0].rfind("recipe,budget,status,bytes,compression_ratio,muls,adds,", 0) == 0);
  CHECK(lines[1].rfind("int8,,ok,300,3,500,507,500,0,0,500.1,70,80,-0.5,1,1,", 0) == 0);
  // A number with no short decimal form is written so that it reads back to the same double.
  CHECK(lines[4].find(",0.3333333333333333,") != std::string::npos);
  CHECK(std::stod("0.3333333333333333") == 1.0 / 3.0);
  CHECK(lines[3].find("\"mcompress compress 'a b.onnx', \"\"quoted\"\"\"") != std::string::npos);
  CHECK(lines[5].rfind("hybrid,max-drop=1,\"failed: no pointwise layers, to split\",,,,,,,,,,,,0,0,", 0) == 0);
  // The same number of fields on every line (17) outside quotes.
  for (const auto& l : lines) {
    int fields = 1;
    bool quoted = false;
    for (char c : l) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) ++fields;
    }
    CHECK(fields == 17);
  }
}

TEST_CASE("test_sweep: JSON round trip, and a malformed sweep file fails naming the key") {
  SweepTable t = sample_table();
  nlohmann::ordered_json j = to_json(t);
  CHECK(j["points"][0]["status"] == "ok");
  CHECK(j["points"][4]["status"] == "failed");
  CHECK_FALSE(j["points"][4].contains("bytes"));
  SweepTable back = sweep_from_json(nlohmann::ordered_json::parse(j.dump()), "s.json");
  CHECK(to_json(back).dump() == j.dump());
  CHECK(to_csv(back) == to_csv(t));

  auto fails = [](const std::string& text, const std::string& part) {
    try {
      sweep_from_json(nlohmann::ordered_json::parse(text), "s.json");
      FAIL("no error for " << text);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::input);
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, e.what());
    }
  };
  fails("[]", "s.json: not a sweep result");
  fails(R"({"points": [{"recipe": "int8", "status": "ok"}]})", "points[0]: missing 'bytes'");
  fails(R"({"points": [{"recipe": "int8", "status": "maybe"}]})", "'status' must be");
  fails(R"({"points": [{"recipe": 8, "status": "ok"}]})", "'recipe' has the wrong type");
  fails(R"({"points": [{"recipe": "a", "status": "ok", "bytes": 1, "compression_ratio": 1, "muls": 1, "adds": 1, "energy_pj": 1, "top1": "x"}]})",
        "'top1' must be a number");
}

TEST_CASE("test_sweep: CSV and JSON round ratios and energies, keep top-1 exact, and agree") {
  SweepTable t = sample_table();
  SweepPoint& p = t.points[2];        // hybrid: 900 / 280 bytes
  p.energy_pj = 188739251.20000002;   // a sum of priced operations, with binary noise
  p.top1 = 200.0 / 3.0;               // 8 of 12 images
  t.top1_float = 70.5;
  t.energy_pj_fp32 = 0.1 + 0.2;
  const std::string csv = to_csv(t);
  CHECK(csv.find("hybrid,ternary-fraction=0.3,ok,280,3.214,350,357,350,0,0,188739251.2,66.66666666666667,79,-3.83,") !=
        std::string::npos);
  const nlohmann::ordered_json j = to_json(t);
  CHECK(j["points"][2]["compression_ratio"].dump() == "3.214");
  CHECK(j["points"][2]["energy_pj"].dump() == "188739251.2");
  CHECK(j["points"][2]["top1"].get<double>() == 200.0 / 3.0);  // as measured: what eval printed
  CHECK(j["points"][2]["top1_change"].dump() == "-3.83");
  CHECK(j["float"]["energy_pj"].dump() == "0.3");
  // Read back, the table writes the same CSV and JSON (rounding twice changes nothing), with the
  // same fronts.
  const SweepTable back = sweep_from_json(nlohmann::ordered_json::parse(j.dump()), "s.json");
  CHECK(to_csv(back) == csv);
  CHECK(to_json(back).dump() == j.dump());
}

TEST_CASE("test_sweep: sensitivity summary quantiles and metadata round trip") {
  std::map<std::string, std::vector<double>> by_layer;
  for (int i = 10; i >= 1; --i) by_layer["pw"].push_back(i * 0.1);
  by_layer["empty"] = {};
  SensitivitySummary s = summarize_sensitivity(by_layer, "ternaryx2");
  REQUIRE(s.layers.size() == 1);
  const auto& q = s.layers[0];
  CHECK(q.filters == 10);
  CHECK(q.min == doctest::Approx(0.1));
  CHECK(q.p10 == doctest::Approx(0.1));
  CHECK(q.p25 == doctest::Approx(0.3));
  CHECK(q.median == doctest::Approx(0.5));
  CHECK(q.p75 == doctest::Approx(0.8));
  CHECK(q.p90 == doctest::Approx(0.9));
  CHECK(q.max == doctest::Approx(1.0));
  nlohmann::ordered_json meta;
  meta["sensitivity"] = to_json(s);
  auto back = sensitivity_from_metadata(meta, "f.mcz");
  REQUIRE(back);
  CHECK(to_json(*back).dump() == meta["sensitivity"].dump());
  CHECK_FALSE(sensitivity_from_metadata(nlohmann::ordered_json::object(), "f.mcz"));
  meta["sensitivity"]["layers"][0].erase("p75");
  try {
    sensitivity_from_metadata(meta, "f.mcz");
    FAIL("malformed metadata accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK(std::string(e.what()).find("f.mcz: metadata sensitivity: layer 'pw': 'p75'") != std::string::npos);
  }
}

TEST_CASE("test_sweep: shared calibration statistics are computed once per distinct model and change nothing") {
  test::TempDir dir;
  test::write_small_inputs(dir.path, 6);
  Model m = test::tiny_conv_model();
  CalibrationSet set = calibration_set(dir.path.string(), 6, 0, test::small_image_config(), m);
  StatisticsCache cache;
  int computed = 0;
  auto compute = [&](const Model& model) {
    return [&computed, &model, &set] {
      ++computed;
      return collect_calibration_stats(model, set, StatsOptions{1, true, true, {}});
    };
  };
  auto a = cache.get(m, set, compute(m));
  auto b = cache.get(m, set, compute(m));
  CHECK(a == b);
  CHECK(computed == 1);
  Model changed = m;
  auto& w = *changed.graph.initializers.begin();
  w.second.values.data<float>()[0] += 1.0f;
  auto c = cache.get(changed, set, compute(changed));
  CHECK(c != a);
  CHECK(computed == 2);
  CHECK(cache.computed() == 2);
  CalibrationSet fewer = set;
  fewer.files.pop_back();
  cache.get(m, fewer, compute(m));
  CHECK(computed == 3);

  // A recipe run with the shared cache writes exactly what it writes alone.
  RecipeOptions alone;
  alone.calibration = set;
  alone.threads = 1;
  RecipeOptions shared = alone;
  shared.statistics_cache = std::make_shared<StatisticsCache>();
  CompressedModel x = run_recipe("int8", m, alone);
  CompressedModel y = run_recipe("int8", m, shared);
  // int8 needs statistics of two models (float, then with int8 activations); the second run none.
  const int64_t first_run = shared.statistics_cache->computed();
  CHECK(first_run == 2);
  CompressedModel z = run_recipe("int8", m, shared);
  CHECK(shared.statistics_cache->computed() == first_run);
  auto file_of = [](const CompressedModel& cm) { return assemble_mcz(cm.model, code_tensors(cm.model, 1), nlohmann::ordered_json::object()); };
  CHECK(file_of(x) == file_of(y));
  CHECK(file_of(y) == file_of(z));
}

TEST_CASE("test_sweep: the HTML page is self-contained and escapes text") {
  SweepTable t = sample_table();
  t.points[0].budget = "<script>alert(1)</script>";
  HtmlReportInputs in;
  in.sweep = &t;
  std::string html = render_html_report(in);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("Pareto") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("&lt;script&gt;") != std::string::npos);
  for (const char* external : {"http:", "https:", "src=", "href=", "url(", "@import"}) CHECK_MESSAGE(html.find(external) == std::string::npos, external);
  CHECK(html.find("model, &quot;v1&quot;.onnx") != std::string::npos);
  // Both plots: one point per measured row (4), the failed row only in the table; then both again
  // zoomed to the 3 points within 10 of the float model's top-1 (prom's 0.33 is not).
  size_t circles = 0;
  for (size_t at = html.find("<circle"); at != std::string::npos; at = html.find("<circle", at + 1)) ++circles;
  CHECK(circles == 2 * 4 + 2 * 3 + 4 * 2);  // points, plus the two legend markers of each plot
  CHECK(html.find("points within 10 of the float model") != std::string::npos);
  CHECK(html.find("failed: no pointwise layers, to split") != std::string::npos);
}
