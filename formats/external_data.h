// ONNX external data: tensors whose bytes live in a side file next to the model
// (TensorProto.data_location = EXTERNAL, with external_data entries location / offset / length /
// checksum). Reading is confined to the model's folder: a location must be a relative path without
// `..`, and must still resolve inside the folder once symbolic links are followed; offset and length
// are checked against the side file's size and the tensor's size before anything is read. No protobuf
// types here: formats/onnx_model.cpp hands over the entries as strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mc {

// Initializers of at least this many bytes go to the side file when a model is written with external
// data (the threshold ONNX's own Python tools use by default); smaller ones stay in the .onnx file.
inline constexpr size_t external_data_min_bytes = 1024;
// Every tensor in a side file we write starts at a multiple of this many bytes (zero padding between).
inline constexpr size_t external_data_alignment = 64;

// One tensor's external_data entries, checked: `location` as written, `offset` (0 if absent),
// `length` (absent: the tensor's size). `checksum` (ONNX: the side file's SHA-1) is accepted and not
// verified, as ONNX Runtime does; other keys are ignored.
struct ExternalDataRef {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

// Parses the key/value entries; fails (input) naming `label` (e.g. "m.onnx: tensor 'w'") when
// `location` is missing or empty, a key repeats, or offset / length is not a decimal integer.
ExternalDataRef parse_external_data_ref(const std::vector<std::pair<std::string, std::string>>& entries, const std::string& label);

// Reads tensors' external data for one model file.
class ExternalDataReader {
 public:
  // Side files of MODEL_PATH are looked up in its folder. "-" (standard input) has no folder: every
  // read fails (input) saying the model must be given by path.
  explicit ExternalDataReader(const std::string& model_path);

  // Checks that the tensor `ref` points to can be read as BYTES bytes, before anything is allocated
  // for it. Fails (input) naming `label` and the side file's path when the location is absolute,
  // contains `..`, resolves (through symbolic links) outside the model's folder, is missing or not a
  // regular file, when `length` is not BYTES, or when offset + BYTES passes the end of the file.
  // Fails (unsupported) when the model's external data would exceed max_input_file_bytes (4 GiB) in
  // total, the limit of every input mcompress reads into memory.
  void check(const ExternalDataRef& ref, size_t bytes, const std::string& label);
  // check, then reads the BYTES bytes into DEST.
  void read(const ExternalDataRef& ref, size_t bytes, void* dest, const std::string& label);

  // The side files used so far (paths as messages name them) with their sizes, and the sum of those
  // sizes: what the model occupies on disk besides its .onnx file.
  const std::map<std::string, uint64_t>& files() const { return file_sizes_; }
  uint64_t files_bytes() const;

 private:
  struct SideFile {
    std::filesystem::path path;  // folder / location, as messages name it
    std::filesystem::path real;  // canonical: what is opened
    uint64_t size = 0;
  };
  const SideFile& side_file(const std::string& location, const std::string& label);

  bool from_stdin_ = false;
  std::filesystem::path folder_;    // as given ("." for a bare file name)
  std::map<std::string, SideFile> resolved_;  // by location
  std::map<std::string, uint64_t> file_sizes_;
  uint64_t bytes_read_ = 0;
};

}  // namespace mc
