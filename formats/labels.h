// Labelled image folders for `mcompress eval` and unlabelled ones for calibration
// (../shared/imagenet-dev/README.md): a directory of images plus an optional labels.tsv.
#pragma once

#include <string>
#include <vector>

namespace mc {

struct LabeledImage {
  std::string file;  // a name inside the image directory, never a path
  int class_index = 0;
};

// Largest class index accepted: far above ImageNet's 1000 or 21k classes; the model's output width is
// checked against the labels by the caller.
inline constexpr int max_class_index = 1000000;

// Parses PATH: one "filename<TAB>class_index" per line, in file order; a final empty line (and a '\r'
// before each '\n') is accepted. Fails (input) with "PATH:LINE: ..." for a malformed line — no tab,
// a class that is not a decimal integer in 0..max_class_index, an empty filename or one containing
// '/' (or "." / "..") — and for a filename that already appeared on an earlier line.
std::vector<LabeledImage> read_labels_tsv(const std::string& path);

// Regular files (or symlinks to them) in DIR with extension .jpg, .jpeg or .npy in any letter case,
// as full paths "DIR/name", sorted by name in byte order. Fails (input) with "DIR: no such directory"
// or "DIR: not a directory".
std::vector<std::string> list_images(const std::string& dir);

}  // namespace mc
