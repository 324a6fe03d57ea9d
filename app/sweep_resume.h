// `mcompress sweep ... --resume DIR`: a folder where a sweep records each point as it completes, so
// that a run interrupted (Ctrl-C, a killed shard, a reboot) and started again with the same DIR
// computes only the points it has no record of. Each record is one small JSON file per point (plus
// one for the float model's baseline), written atomically (temporary file, then rename), holding the
// point's row losslessly (analysis/sweep_record.h), the sweep's identity (app/sweep_identity.h) and,
// when the point's file is kept (--keep), that file's SHA-256: a record is reused only by the same
// sweep, and only while its kept file is there unchanged. Failed points are not recorded (a rerun
// tries them again). docs/SHARDING.md describes the folder.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/sweep_part.h"
#include "analysis/sweep_table.h"
#include "app/sweep.h"

namespace mc {

class SweepResume {
 public:
  // DIR is created when missing (its parent must exist). Fails (output) when it cannot be, or is not
  // a folder. `warn` gets the records that are set aside (another sweep's, unreadable, kept file
  // changed): those points are computed again and their records replaced.
  SweepResume(std::string dir, SweepIdentity identity, std::function<void(const std::string&)> warn);

  // The float baseline (SweepTable without points) an earlier run of this sweep recorded.
  std::optional<SweepTable> baseline() const;
  void save_baseline(const SweepTable& baseline) const;

  // The row an earlier run of this sweep recorded for `point`, when its kept file (`kept_path`, ""
  // when the sweep keeps none) is there with the recorded content.
  std::optional<SweepPoint> point(const GridPoint& point, const std::string& kept_path) const;
  // Whether this sweep has a record of `point` (reusable or not): its kept file, if any, is then this
  // sweep's own and may be replaced without --force.
  bool has_record(const GridPoint& point) const;
  // Records a point that ran (failed points are not recorded); `kept` are the bytes of its kept file
  // (empty when not kept), to be written after the record.
  void save_point(const GridPoint& point, const SweepPoint& row, const std::vector<std::byte>& kept) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string record_path(const std::string& stem) const;
  // The record at PATH when it is this sweep's (format, mcompress version, identity, checksum); else
  // nothing, with a warning unless the file is simply absent.
  std::optional<nlohmann::ordered_json> load(const std::string& path, bool quiet) const;
  void save(const std::string& path, nlohmann::ordered_json record) const;

  std::string dir_;
  SweepIdentity identity_;
  std::string fingerprint_;
  std::function<void(const std::string&)> warn_;
};

}  // namespace mc
