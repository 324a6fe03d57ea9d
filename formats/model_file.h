// Opening any model file mcompress accepts: ONNX or .mcz, told apart by their first bytes, read once
// (standard input cannot be read twice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "formats/external_data.h"

namespace mc {

struct ModelFile {
  std::string path;  // as given ("-" for stdin)
  std::string name;  // as messages name it ("<stdin>" for "-")
  std::vector<std::byte> bytes;
  bool mcz = false;
  // An ONNX file's external data (side files in its folder): read by decoded_model.
  std::shared_ptr<ExternalDataReader> external;
};

// Reads PATH ("-" is stdin); fails (input) when it is missing or empty.
ModelFile read_model_file(const std::string& path);

// The model as stored: an ONNX model as parsed (with its external data, read from the side files in
// the model's folder: the side files are read here, the model file itself is not read again); a .mcz
// decoded, each weight with its encoding.
Model decoded_model(const ModelFile& file);

// The model in the form mcompress runs it (eval, profile, export by default): decoded_model, and for
// a .mcz with quantized activations the integer form ONNX Runtime runs (formats/qdq_export.h
// model_to_run).
Model runnable_model(const ModelFile& file);

// The model's size on disk: the file, plus for ONNX the side files its external data came from (known
// once decoded_model has read them).
uint64_t model_file_bytes(const ModelFile& file);

// runnable_model(read_model_file(path)).
Model load_model(const std::string& path);

}  // namespace mc
