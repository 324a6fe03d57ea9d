// What makes two runs the same sweep, for shards (their parts must merge only with their own
// sweep's) and for --resume (a recorded point is reused only by the sweep that computed it): the
// source model's content and every setting that changes a byte of the sweep's outputs. Settings
// that change only how fast it runs (--jobs, --threads) or where its own files go (-o, --html,
// --resume, --shard) are left out; docs/SHARDING.md lists what is in.
#pragma once

#include <string>

#include "analysis/sweep_part.h"
#include "app/sweep.h"

namespace mc {

// The identity of the sweep `settings` describes over `grid` of `source`. Reads the image folders it
// names (their content is part of the identity: the same path on another machine may hold other images).
SweepIdentity sweep_identity(const SweepSettings& settings, const SweepGrid& grid, const SourceModel& source);

// SHA-256 over an image folder's labels.tsv (when present) and every image (formats/labels.h
// list_images), each as its name, size and content SHA-256, in name order. Fails (input) as reading
// the folder's images would.
std::string image_folder_sha256(const std::string& dir);

}  // namespace mc
