// --resume records (app/sweep_resume.h): a point's row reads back exactly; a record is reused only by
// the same sweep (model content and fingerprint), only while its kept file is unchanged; records that
// are damaged or of another sweep are set aside with a warning; the float baseline likewise.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "analysis/sweep_record.h"
#include "app/sweep_resume.h"
#include "core/error.h"
#include "tests/test_util.h"

using namespace mc;

namespace {

SweepIdentity identity(int eval_limit) {
  SweepIdentity id;
  id.model_sha256 = std::string(64, 'c');
  id.settings = {{"model", "m.onnx"}, {"eval_limit", eval_limit}};
  id.grid = {"fp16", "hybrid ternary-fraction=0.2"};
  return id;
}

SweepPoint row_of(const GridPoint& g, const std::string& kept) {
  SweepPoint p;
  p.recipe = g.recipe;
  p.budget = g.budget();
  p.bytes = 438000;
  p.compression_ratio = 1902176.0 / 438000.0;
  p.muls = 28700304;
  p.energy_pj = 15543694.100000001;
  p.top1 = 100.0 / 3.0;
  p.command = "mcompress compress m.onnx -o " + point_file_name(g);
  p.output = kept;
  return p;
}

}  // namespace

TEST_CASE("test_sweep_resume: a recorded point is reused by the same sweep only, while its kept file is unchanged") {
  test::TempDir tmp;
  const std::string dir = (tmp.path / "state").string();
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };
  const GridPoint hybrid{"hybrid", "ternary-fraction", "0.2", {}};
  const GridPoint fp16{"fp16", "", "", {}};
  const std::string kept = (tmp.path / point_file_name(hybrid)).string();
  const std::vector<std::byte> bytes(100, std::byte{7});

  SweepResume resume(dir, identity(2), warn);
  CHECK(std::filesystem::is_directory(dir));
  CHECK_FALSE(resume.point(hybrid, kept));
  CHECK_FALSE(resume.has_record(hybrid));
  CHECK(warnings.empty());  // no record is not a problem

  const SweepPoint row = row_of(hybrid, kept);
  resume.save_point(hybrid, row, bytes);
  CHECK(resume.has_record(hybrid));
  CHECK_FALSE(resume.point(hybrid, kept));  // recorded, but its kept file was never written
  {
    std::ofstream(kept, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  const auto back = resume.point(hybrid, kept);
  REQUIRE(back);
  CHECK(point_record(*back).dump() == point_record(row).dump());
  CHECK(warnings.empty());

  // The kept file changed: computed again (with a warning), the record still marks the file as ours.
  { std::ofstream(kept, std::ios::binary) << "other bytes"; }
  CHECK_FALSE(resume.point(hybrid, kept));
  CHECK(warnings.size() == 1);
  CHECK(resume.has_record(hybrid));

  // Another sweep (other settings) never reuses the record.
  SweepResume other(dir, identity(1), warn);
  warnings.clear();
  CHECK_FALSE(other.point(hybrid, kept));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("recorded by another sweep") != std::string::npos);
  CHECK_FALSE(other.has_record(hybrid));

  // A point without a kept file; a failed point is not recorded.
  SweepPoint failed = row_of(fp16, "");
  failed.error = "out of memory";
  failed.exit_code = 1;
  resume.save_point(fp16, failed, {});
  CHECK_FALSE(resume.has_record(fp16));
  resume.save_point(fp16, row_of(fp16, ""), {});
  CHECK(resume.point(fp16, ""));

  // A damaged record is set aside with a warning.
  const auto record = std::filesystem::path(dir) / "point_fp16.json";
  std::string text;
  {
    std::ifstream in(record);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text.replace(text.find("28700304"), 8, "28700305");
  { std::ofstream(record) << text; }
  warnings.clear();
  CHECK_FALSE(resume.point(fp16, ""));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("damaged") != std::string::npos);
}

TEST_CASE("test_sweep_resume: the float baseline is recorded exactly; a file in the folder's place is an output error") {
  test::TempDir tmp;
  const std::string dir = (tmp.path / "state").string();
  SweepResume resume(dir, identity(2), {});
  CHECK_FALSE(resume.baseline());
  SweepTable t;
  t.model = "m.onnx";
  t.source_bytes = 1924268;
  t.fp32_bytes = 1902176;
  t.macs = 41030272;
  t.energy_pj_fp32 = 188739251.20000002;
  t.top1_float = 200.0 / 3.0;
  t.eval_images = 3;
  resume.save_baseline(t);
  const auto back = resume.baseline();
  REQUIRE(back);
  CHECK(same_baseline(*back, t));
  CHECK_FALSE(SweepResume(dir, identity(3), {}).baseline());

  const std::string file = (tmp.path / "a_file").string();
  { std::ofstream(file) << "x"; }
  try {
    SweepResume bad(file, identity(2), {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::output);
  }
  try {
    SweepResume bad((tmp.path / "no" / "such").string(), identity(2), {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::output);
  }
}
