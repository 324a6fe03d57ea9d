// NumPy .npy files (format versions 1.0, 2.0 and 3.0, as specified in numpy/lib/format.py): reference
// tensors, preprocessed inputs and calibration batches exchanged with Python tools.
//
// Supported element types: '<f4' (f32), '|u1' (u8), '|i1' (i8), '<i4' (i32), '<i8' (i64), '|b1' (bool),
// C order only. The reader trusts nothing: magic, version, header length, every dictionary field, the
// shape (capped by shape_numel) and the exact data length are checked before any allocation, and every
// error is one line naming the file.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mc {

// Errors: input (bad magic, bad header, truncated or trailing data, absurd shape); unsupported (an
// element type or byte order listed above as unsupported, fortran_order True, format version > 3).
Tensor read_npy(const std::string& path);  // "-" reads standard input
Tensor read_npy_bytes(std::span<const std::byte> bytes, const std::string& name_for_errors);

// Writes format 1.0 (2.0 only if the header would not fit in 64 KiB), header padded so the data starts
// at a multiple of 64 bytes, exactly as numpy.save does. "-" writes standard output; output errors
// have kind output.
void write_npy(const std::string& path, const Tensor& tensor);
std::vector<std::byte> write_npy_bytes(const Tensor& tensor);

}  // namespace mc
