#pragma once

// The control protocol's `run` request and its response (control.h), for a
// client that has no C library: pmos-launch, whose start-up is part of every
// launch it makes (docs/device.md, "Measuring a launch"). Freestanding: no
// allocation, no library calls, only the language. The same bytes as
// tls::encode / decode_control_response; control_wire_test checks that
// encode_run_request matches the codec, and control_wire_fuzz that
// decode_response accepts exactly what decode_control_response accepts, with
// the same fields.

#include <cstddef>
#include <cstdint>

namespace pmos::device::control_wire {

// ControlOp::kRun and ControlStatus::kOk, kFailed (the last valid status).
inline constexpr std::uint8_t kRunOp = 4;
inline constexpr std::uint8_t kStatusOk = 1;
inline constexpr std::uint8_t kLastStatus = 3;
// decode_control_request refuses longer app ids; the frame header, op and a
// 2-byte length come on top.
inline constexpr std::size_t kMaxAppIdBytes = 128;
inline constexpr std::size_t kMaxRunRequestFrame = 4 + 1 + 2 + kMaxAppIdBytes;
inline constexpr std::uint32_t kMaxFrame = 16u << 20;  // kMaxControlFrame

// One whole frame (length header and body) asking pmosd to run `app_id`, in
// `out` (at least kMaxRunRequestFrame bytes). Returns its size, or 0 for an
// app id longer than kMaxAppIdBytes.
inline std::size_t encode_run_request(const char* app_id, std::size_t size, std::uint8_t* out) {
  if (size > kMaxAppIdBytes) return 0;
  std::size_t header = size < 64 ? 1 : 2;  // the varint's minimal form
  std::size_t body = 1 + header + size;
  out[0] = 0;
  out[1] = 0;
  out[2] = static_cast<std::uint8_t>(body >> 8);
  out[3] = static_cast<std::uint8_t>(body);
  out[4] = kRunOp;
  std::size_t at = 5;
  if (header == 1) {
    out[at++] = static_cast<std::uint8_t>(size);
  } else {
    out[at++] = static_cast<std::uint8_t>(0x40 | (size >> 8));
    out[at++] = static_cast<std::uint8_t>(size);
  }
  for (std::size_t i = 0; i < size; ++i) out[at++] = static_cast<std::uint8_t>(app_id[i]);
  return at;
}

// A frame's length from its 4-byte header; false if over kMaxFrame.
inline bool frame_length(const std::uint8_t header[4], std::uint32_t* length) {
  *length = static_cast<std::uint32_t>(header[0]) << 24 | static_cast<std::uint32_t>(header[1]) << 16 |
            static_cast<std::uint32_t>(header[2]) << 8 | header[3];
  return *length <= kMaxFrame;
}

struct Response {
  std::uint8_t status = 0;  // ControlStatus
  std::uint32_t exit_code = 0;
  const std::uint8_t* text = nullptr;  // into the decoded body
  std::size_t text_size = 0;
};

// A ControlResponse body, as strictly as decode_control_response: a known
// status, a minimal varint length (no 0b11 prefix), no byte missing or left over.
inline bool decode_response(const std::uint8_t* body, std::size_t size, Response* out) {
  if (size < 6) return false;
  if (body[0] < 1 || body[0] > kLastStatus) return false;
  out->status = body[0];
  out->exit_code = static_cast<std::uint32_t>(body[1]) << 24 | static_cast<std::uint32_t>(body[2]) << 16 |
                   static_cast<std::uint32_t>(body[3]) << 8 | body[4];
  std::size_t at = 5;
  std::size_t header = std::size_t{1} << (body[at] >> 6);
  if (header == 8 || size - at < header) return false;
  std::uint64_t length = body[at] & 0x3f;
  for (std::size_t i = 1; i < header; ++i) length = length << 8 | body[at + i];
  std::size_t minimal = length < 64 ? 1 : length < 16384 ? 2 : 4;
  if (minimal != header) return false;
  at += header;
  if (length != size - at) return false;
  out->text = body + at;
  out->text_size = static_cast<std::size_t>(length);
  return true;
}

}  // namespace pmos::device::control_wire
