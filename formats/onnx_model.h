// ONNX <-> IR. Only formats/onnx_model.cpp sees protobuf types.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "core/graph.h"

namespace mc {

// Parses and validates an ONNX model (opset range, supported ops, topological order, tensors).
// `name` is used in error messages (usually the file path).
Model parse_onnx(std::span<const std::byte> bytes, const std::string& name);
// The two halves of parse_onnx: the protobuf decoded into the IR (initializers included if present,
// nothing validated beyond the protobuf and tensor encodings), then op support and topological
// order checked. The .mcz reader adds the initializers between the two.
Model parse_onnx_unchecked(std::span<const std::byte> bytes, const std::string& name);
void check_imported(Model& model, const std::string& name);

// Reads a file ("-" is stdin) and parses it.
Model load_onnx(const std::string& path);

// A serialized onnx.TensorProto (the .pb files of ONNX's conformance cases).
Tensor parse_onnx_tensor(std::span<const std::byte> bytes, const std::string& name);

// Serializes the IR as an ONNX model (initializers as raw little-endian data).
std::string serialize_onnx(const Model& model);

// True if the bytes start like an ONNX ModelProto rather than an .mcz container.
bool looks_like_onnx(std::span<const std::byte> head);

}  // namespace mc
