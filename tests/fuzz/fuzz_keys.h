// Fixed keys and clock of the fuzz targets, so that checked-in seeds (cookies and handles
// sealed with these keys; tests/fuzz/make_seeds.py makes them) open in every run. Test-only
// values: never configure them anywhere.
#pragma once

#include <cstdint>
#include <string_view>

namespace gssgate::fuzz {

// 32 bytes each (AES-256-GCM).
inline constexpr std::string_view kSessionKey = "gssgate-fuzz-session-key-32bytes";
inline constexpr std::string_view kHandleKey = "gssgate-fuzz-handle-key-32-bytes";
inline constexpr uint32_t kHandleKeyId = 0x0f0f0f0f;
// "Now" for decoders that take the time: 2026-06-01T00:00:00Z. Seeds expire in 2100.
inline constexpr int64_t kNow = 1780272000;

}  // namespace gssgate::fuzz
