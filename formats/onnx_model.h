// ONNX <-> IR. Only formats/onnx_model.cpp sees protobuf types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/graph.h"

namespace mc {

class ExternalDataReader;

// Parses and validates an ONNX model (opset range, supported ops, topological order, tensors).
// `name` is used in error messages (usually the file path). Tensors stored as external data are read
// through `external` (formats/external_data.h: the model file's folder); without one, a model with
// external data is an input error.
Model parse_onnx(std::span<const std::byte> bytes, const std::string& name, ExternalDataReader* external = nullptr);
// The two halves of parse_onnx: the protobuf decoded into the IR (initializers included if present,
// nothing validated beyond the protobuf and tensor encodings), then op support and topological
// order checked. The .mcz reader adds the initializers between the two.
Model parse_onnx_unchecked(std::span<const std::byte> bytes, const std::string& name, ExternalDataReader* external = nullptr);
void check_imported(Model& model, const std::string& name);

// Reads a file ("-" is stdin) and parses it, external data from the file's folder.
Model load_onnx(const std::string& path);

// A serialized onnx.TensorProto (the .pb files of ONNX's conformance cases).
Tensor parse_onnx_tensor(std::span<const std::byte> bytes, const std::string& name);

// Serializes the IR as an ONNX model (initializers as raw little-endian data).
std::string serialize_onnx(const Model& model);

// The same model as a .onnx file and its side file: every initializer of at least
// external_data_min_bytes (formats/external_data.h) is stored as external data in `data` at an
// offset that is a multiple of external_data_alignment, referenced under LOCATION (the side file's
// name relative to the model's folder); smaller initializers and attribute tensors stay inline.
struct OnnxWithExternalData {
  std::string model;
  std::string data;
  int64_t tensors = 0;  // initializers moved to `data`
};
OnnxWithExternalData serialize_onnx_external(const Model& model, const std::string& location);

// True if the bytes start like an ONNX ModelProto rather than an .mcz container.
bool looks_like_onnx(std::span<const std::byte> head);

}  // namespace mc
