// Checksums for the .mcz container: CRC-32C (Castagnoli; the polynomial of iSCSI, ext4 and zstd's
// frame checksum family) guards sections and the whole file; SHA-256 (FIPS 180-4) identifies the
// source model. Both written here, table-driven, no dependencies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mc {

// CRC-32C of `bytes`, continuing from `crc` (0 to start). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::span<const std::byte> bytes, uint32_t crc = 0);

std::array<uint8_t, 32> sha256(std::span<const std::byte> bytes);
std::string sha256_hex(std::span<const std::byte> bytes);

}  // namespace mc
