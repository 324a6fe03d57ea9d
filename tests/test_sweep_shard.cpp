// Sharded sweeps: the point-to-shard assignment (every point in exactly one shard, round robin),
// the lossless row records, the part file's checks (each refusal names the part and says why), and
// the merge: every shard exactly once, one model and one sweep, and a merged table whose CSV, JSON
// and HTML are byte for byte the unsharded table's.
#include <doctest/doctest.h>

#include <random>

#include "analysis/html_report.h"
#include "analysis/sweep_merge.h"
#include "analysis/sweep_part.h"
#include "analysis/sweep_record.h"
#include "analysis/sweep_shard.h"
#include "analysis/sweep_table.h"
#include "core/error.h"
#include "tests/helpers.h"

using namespace mc;
using mc::test::contains;
using Json = nlohmann::ordered_json;

namespace {

// A grid of `n` points with awkward numbers (thirds, tiny and huge values), one failed.
SweepTable grid_table(size_t n, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  SweepTable t;
  t.model = "models/m, \"v1\".onnx";
  t.source_bytes = 1'900'000;
  t.fp32_bytes = 1'902'176;
  t.macs = 41'030'272;
  t.energy_pj_fp32 = 188739251.20000002;
  t.top1_float = 100.0 / 3.0;
  t.top5_float = 200.0 / 3.0;
  t.eval_images = 3;
  for (size_t i = 0; i < n; ++i) {
    SweepPoint p;
    p.recipe = i % 3 == 0 ? "int8" : "hybrid";
    p.budget = i % 3 == 0 ? "" : "ternary-fraction=0." + std::to_string(i);
    if (i == 4) {
      p.error = "no pointwise layers, to split";
      p.exit_code = 4;
    } else {
      p.bytes = 100'000 + static_cast<uint64_t>(unit(rng) * 1e6);
      p.compression_ratio = static_cast<double>(t.fp32_bytes) / static_cast<double>(p.bytes);
      p.muls = static_cast<int64_t>(unit(rng) * 4e7);
      p.adds = p.muls + 12345;
      p.fp32_macs = p.muls / 3;
      p.int8_macs = p.muls - p.fp32_macs;
      p.ternary_adds = static_cast<int64_t>(i) * 1000;
      p.energy_pj = unit(rng) * 1e8 + 0.1;
      p.top1 = 100.0 * static_cast<double>(1 + rng() % 3) / 3.0;
      p.top5 = unit(rng) * 100;
    }
    p.command = "mcompress compress m.onnx -o " + p.recipe + ".mcz --recipe " + p.recipe;
    p.output = i % 2 ? "keep/" + p.recipe + ".mcz" : "";
    t.points.push_back(p);
  }
  return t;
}

SweepIdentity identity_of(const SweepTable& t) {
  SweepIdentity id;
  id.model_sha256 = std::string(64, 'a');
  id.settings = {{"model", t.model}, {"eval_limit", 2}, {"keep", ""}};
  for (const auto& p : t.points) id.grid.push_back(p.label());
  return id;
}

// The parts of `table` split into `count` shards, as a sharded run writes them.
std::vector<SweepPart> split(const SweepTable& table, int64_t count) {
  std::vector<SweepPart> parts;
  for (int64_t k = 1; k <= count; ++k) {
    SweepPart part;
    part.shard = {k, count};
    part.identity = identity_of(table);
    part.table = table;
    part.table.points.clear();
    for (size_t i : shard_points(part.shard, table.points.size())) {
      part.table.points.push_back(table.points[i]);
      part.indices.push_back(i);
    }
    parts.push_back(part);
  }
  return parts;
}

std::vector<std::byte> shard_bytes_of(const Json& j) {
  const std::string text = j.dump(2);
  const auto* b = reinterpret_cast<const std::byte*>(text.data());
  return {b, b + text.size()};
}

// The parts written to bytes and read back, named part1.json, part2.json, ...
std::vector<NamedPart> written(const std::vector<SweepPart>& parts) {
  std::vector<NamedPart> named;
  for (const auto& p : parts) {
    const std::string name = "part" + std::to_string(p.shard.index) + ".json";
    named.push_back({name, read_sweep_part(shard_bytes_of(part_to_json(p)), name)});
  }
  return named;
}

template <typename F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::input) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(e.kind() == kind, e.what());
    return e.what();
  }
  FAIL("no error");
  return "";
}

}  // namespace

TEST_CASE("test_sweep_shard: K/N is parsed strictly, with usage errors naming the flag and the text") {
  CHECK(parse_shard("2/3") == ShardSpec{2, 3});
  CHECK(parse_shard("1/1") == ShardSpec{1, 1});
  CHECK(parse_shard("100000/100000") == ShardSpec{100000, 100000});
  for (const char* bad : {"", "2", "2/", "/3", "a/3", "2/b", "2/3/4", "-1/3", "+1/3", " 1/3", "1/3 ", "1.5/3", "2:3"})
    CHECK_MESSAGE(contains(error_of([&] { parse_shard(bad); }, ErrorKind::usage), "expected K/N"), bad);
  CHECK(contains(error_of([] { parse_shard("4/3"); }, ErrorKind::usage), "--shard '4/3': K must be between 1 and N (3)"));
  CHECK(contains(error_of([] { parse_shard("0/3"); }, ErrorKind::usage), "K must be between 1 and N"));
  CHECK(contains(error_of([] { parse_shard("1/0"); }, ErrorKind::usage), "N must be between 1 and 100000"));
  CHECK(contains(error_of([] { parse_shard("1/100001"); }, ErrorKind::usage), "N must be between"));
  CHECK(contains(error_of([] { parse_shard("1/99999999999999999999"); }, ErrorKind::usage), "expected K/N"));
}

TEST_CASE("test_sweep_shard: every grid point goes to exactly one shard, round robin, sizes within one") {
  for (size_t grid : {size_t{1}, size_t{2}, size_t{5}, size_t{6}, size_t{17}})
    for (int64_t n = 1; n <= 8; ++n) {
      std::vector<int> seen(grid, 0);
      size_t smallest = grid, largest = 0;
      for (int64_t k = 1; k <= n; ++k) {
        const std::vector<size_t> mine = shard_points({k, n}, grid);
        smallest = std::min(smallest, mine.size());
        largest = std::max(largest, mine.size());
        for (size_t j = 0; j < mine.size(); ++j) {
          ++seen[mine[j]];
          CHECK(shard_of_point(mine[j], n) == k);
          CHECK(mine[j] % static_cast<size_t>(n) == static_cast<size_t>(k - 1));  // the documented rule
          if (j) CHECK(mine[j] > mine[j - 1]);
        }
      }
      for (size_t i = 0; i < grid; ++i) CHECK(seen[i] == 1);
      CHECK(largest - smallest <= 1);
    }
  CHECK(shard_points({1, 3}, 7) == std::vector<size_t>{0, 3, 6});
  CHECK(shard_points({3, 3}, 7) == std::vector<size_t>{2, 5});
  CHECK(shard_points({4, 4}, 2).empty());
}

TEST_CASE("test_sweep_shard: rows and the baseline read back exactly (every double, every field)") {
  const SweepTable t = grid_table(40, 11);
  for (const auto& p : t.points) {
    const SweepPoint back = read_point_record(Json::parse(point_record(p).dump(2)), "r");
    CHECK(point_record(back).dump() == point_record(p).dump());
    CHECK(back.compression_ratio == p.compression_ratio);
    CHECK(back.energy_pj == p.energy_pj);
    CHECK(back.top1 == p.top1);
    CHECK(back.exit_code == p.exit_code);
    CHECK(back.output == p.output);
  }
  std::mt19937_64 rng(3);
  for (int k = 0; k < 2000; ++k) {
    SweepPoint p = t.points[0];
    const uint64_t bits = rng();
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    if (!std::isfinite(v)) continue;
    p.energy_pj = v;
    p.top1 = v;
    const SweepPoint back = read_point_record(Json::parse(point_record(p).dump()), "r");
    CHECK(back.energy_pj == v);
    CHECK(*back.top1 == v);
  }
  SweepTable b;
  read_baseline_record(Json::parse(baseline_record(t).dump()), b, "f");
  CHECK(same_baseline(b, t));
  CHECK(contains(error_of([] { read_point_record(Json::parse(R"({"recipe": "a", "budget": ""})"), "r.json"); }), "r.json: missing 'bytes'"));
}

TEST_CASE("test_sweep_shard: merged parts are byte for byte the unsharded CSV, JSON and HTML, whatever N and part order") {
  const SweepTable whole = grid_table(7);
  SweepTable unsharded = whole;
  finish_sweep_table(unsharded);
  HtmlReportInputs in;
  in.sweep = &unsharded;
  const std::string csv = to_csv(unsharded), json = to_json(unsharded).dump(2), html = render_html_report(in);
  for (int64_t n : {1, 2, 3, 7, 9}) {
    std::vector<NamedPart> parts = written(split(whole, n));
    std::reverse(parts.begin(), parts.end());
    const SweepTable merged = merge_sweep_parts(parts);
    HtmlReportInputs mi;
    mi.sweep = &merged;
    CHECK(to_csv(merged) == csv);
    CHECK(to_json(merged).dump(2) == json);
    CHECK(render_html_report(mi) == html);
  }
  // Pareto marks come from the whole grid: a part's points alone would mark others.
  size_t marked = 0;
  for (const auto& p : unsharded.points) marked += p.pareto_size;
  CHECK(marked >= 1);
}

TEST_CASE("test_sweep_shard: a part that is not one, or was changed, is refused naming the file") {
  const SweepPart part = split(grid_table(7), 3)[1];
  const Json good = part_to_json(part);
  auto refused = [](const Json& j) { return error_of([&] { read_sweep_part(shard_bytes_of(j), "p2.json"); }); };
  auto resealed = [](Json j) {
    add_checksum(j);
    return j;
  };
  CHECK(read_sweep_part(shard_bytes_of(good), "p2.json").indices == std::vector<size_t>{1, 4});
  const std::string text = "{\"format\": ";
  CHECK(contains(error_of([&] { read_sweep_part({reinterpret_cast<const std::byte*>(text.data()), reinterpret_cast<const std::byte*>(text.data()) + text.size()}, "p2.json"); }),
                 "p2.json: not valid JSON"));
  CHECK(contains(refused(to_json(grid_table(3))), "p2.json: not a sweep part"));
  Json j = good;
  j["version"] = 2;
  CHECK(contains(refused(j), "p2.json: sweep part layout version 2; this mcompress reads version 1"));
  j = good;
  j["mcompress"] = "0.0.1";
  CHECK(contains(refused(j), "p2.json: written by mcompress 0.0.1, this is mcompress " MCOMPRESS_VERSION));
  j = good;
  j["points"][0]["bytes"] = 5;
  CHECK(contains(refused(j), "p2.json: checksum mismatch"));
  j = good;
  j["points"][0]["recipe"] = "fp16";
  CHECK(contains(refused(resealed(j)), "p2.json: points[0]: row 'fp16 ternary-fraction=0.1' is not grid point 1 ('hybrid ternary-fraction=0.1')"));
  j = good;
  j["points"][0]["index"] = 0;
  CHECK(contains(refused(resealed(j)), "p2.json: points[0]: point 0 (int8) belongs to shard 1/3, not to this part's 2/3"));
  j = good;
  j["points"].erase(1);
  CHECK(contains(refused(resealed(j)), "p2.json: shard 2/3 lacks point 4 (hybrid ternary-fraction=0.4)"));
  j = good;
  j["points"].push_back(j["points"][1]);
  CHECK(contains(refused(resealed(j)), "p2.json: points[2]: point 4 (hybrid ternary-fraction=0.4) is listed twice"));
  j = good;
  j["points"][0]["index"] = 99;
  CHECK(contains(refused(resealed(j)), "index 99 is outside the grid of 7 points"));
  j = good;
  j["settings"]["eval_limit"] = 3;
  CHECK(contains(refused(resealed(j)), "p2.json: 'fingerprint' does not match"));
  j = good;
  j["shard"]["index"] = 4;
  CHECK(contains(refused(resealed(j)), "p2.json: shard 4/3 is not a shard"));
  j = good;
  j["float"].erase("top1");
  CHECK(contains(refused(resealed(j)), "p2.json: float: missing 'top1'"));
}

TEST_CASE("test_sweep_shard: the merge refuses missing, duplicate and foreign parts, naming the part") {
  const SweepTable whole = grid_table(7);
  const std::vector<SweepPart> parts = split(whole, 3);
  auto merged = [](std::vector<SweepPart> ps) { return error_of([&] { merge_sweep_parts(written(ps)); }); };

  CHECK(contains(merged({parts[0], parts[2]}), "missing part: shard 2 of 3 (given: part1.json (1/3), part3.json (3/3))"));
  CHECK(contains(merged({parts[1]}), "missing parts: shards 1, 3 of 3"));
  CHECK(contains(merged({parts[0], parts[1], parts[1], parts[2]}), "part2.json: duplicate part: shard 2/3 is also part2.json"));

  std::vector<SweepPart> other = parts;
  other[2].identity.model_sha256 = std::string(64, 'b');
  CHECK(contains(merged(other), "part3.json: part of another model"));
  other = parts;
  other[1].identity.settings["eval_limit"] = 3;
  CHECK(contains(merged(other), "part2.json: part of another sweep than part1.json: 'eval_limit' is 3 here, 2 in part1.json"));
  other = parts;
  other[2].identity.grid.push_back("fp16");
  other[2].table.points.clear();
  other[2].indices.clear();
  for (size_t i : shard_points(other[2].shard, 8)) {
    other[2].table.points.push_back(i < 7 ? whole.points[i] : SweepPoint{});
    if (i == 7) other[2].table.points.back().recipe = "fp16";
    other[2].indices.push_back(i);
  }
  CHECK(contains(merged(other), "part3.json: part of another sweep than part1.json: the grid has 8 points here, 7 in part1.json"));
  other = parts;
  other[1].table.top1_float = 50;
  CHECK(contains(merged(other), "part2.json: its float baseline"));

  std::vector<SweepPart> four = split(whole, 4);
  CHECK(contains(merged({parts[0], parts[1], four[2]}), "part3.json: shard 3/4, while part1.json is a shard of 3"));
}

TEST_CASE("test_sweep_shard: a merge of shards whose every point failed fails as the unsharded sweep does") {
  SweepTable t = grid_table(3);
  for (auto& p : t.points) {
    p.error = "unsupported op 'LSTM'";
    p.exit_code = 4;
  }
  const std::string unsharded = error_of([&] { SweepTable u = t; finish_sweep_table(u); }, ErrorKind::unsupported);
  CHECK(contains(unsharded, "every sweep point failed (first: int8: unsupported op 'LSTM')"));
  CHECK(error_of([&] { merge_sweep_parts(written(split(t, 2))); }, ErrorKind::unsupported) == unsharded);
}
