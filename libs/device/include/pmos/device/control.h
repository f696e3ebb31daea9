#pragma once

#include <cstdint>
#include <string>
#include <tuple>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"

namespace pmos::device {

// pmosd's control protocol, spoken by `pmos app install|remove|list|run|logs`
// over pmosd's control socket (a SOCK_STREAM UNIX socket, mode 0600: whoever
// can connect administers the device). Each message is a frame:
//   length u32 (big-endian, at most kMaxControlFrame) || codec-encoded body
// An install passes the package as an open descriptor (SCM_RIGHTS with the
// frame), so pmosd never opens a path the client names. One request, one
// response; then either side may close.

inline constexpr std::size_t kMaxControlFrame = 16 << 20;

enum class ControlOp : std::uint8_t {
  kInstall = 1,  // + the package file's descriptor
  kRemove = 2,
  kList = 3,
  kRun = 4,  // answered when the app has exited
  kLogs = 5,
  kStop = 6,  // kill a running app (its `run` is then answered)
};
bool tls_enum_valid(ControlOp op);

enum class ControlStatus : std::uint8_t {
  kOk = 1,
  kRefused = 2,  // a policy or validity refusal; `text` says why
  kFailed = 3,   // something broke on the device
};
bool tls_enum_valid(ControlStatus status);

struct ControlRequest {
  ControlOp op = ControlOp::kList;
  std::string app_id;  // empty for install and list
  static auto tls_fields(auto& self) { return std::tie(self.op, self.app_id); }
};

struct ControlResponse {
  ControlStatus status = ControlStatus::kOk;
  std::uint32_t exit_code = 0;  // run: the app's shell-style exit code
  std::string text;             // for people: the result or the refusal
  static auto tls_fields(auto& self) { return std::tie(self.status, self.exit_code, self.text); }
};

// Strict: trailing bytes, unknown ops and statuses, an app id over 128 bytes
// are errors.
ErrorOr<ControlRequest> decode_control_request(BytesView body);
ErrorOr<ControlResponse> decode_control_response(BytesView body);

// Writes one frame, with `pass_fd` attached if it is not negative.
ErrorOr<void> send_frame(int socket, BytesView body, int pass_fd = -1);
// Reads one frame; a descriptor sent with it goes to `received` (null: any
// descriptor is closed and refused). EOF before a frame is kNotFound.
ErrorOr<Bytes> receive_frame(int socket, UniqueFd* received);

// The client's side: connects to `socket_path`, sends `request` (with
// `pass_fd`) and returns pmosd's response.
ErrorOr<ControlResponse> control_call(const std::string& socket_path, const ControlRequest& request,
                                      int pass_fd = -1);

}  // namespace pmos::device
