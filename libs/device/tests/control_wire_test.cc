// control_wire.h (pmos-launch's freestanding encoder and decoder) against the
// codec that pmosd uses: the same bytes out, the same verdicts in.
#include "pmos/device/control_wire.h"

#include <string>

#include <gtest/gtest.h>

#include "pmos/base/codec.h"
#include "pmos/device/control.h"

namespace pmos::device {
namespace {

Bytes frame_of(const Bytes& body) {
  Bytes frame = {0, 0, static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  append(frame, body);
  return frame;
}

TEST(ControlWire, RunRequestIsTheCodecsFrameForEveryAppIdLength) {
  // 63/64 cross the varint's one-byte form; 128 is the longest pmosd takes.
  for (std::size_t size : {0, 1, 16, 63, 64, 65, 127, 128}) {
    std::string app_id(size, 'a');
    std::uint8_t out[control_wire::kMaxRunRequestFrame];
    std::size_t n = control_wire::encode_run_request(app_id.data(), app_id.size(), out);
    Bytes expected = frame_of(tls::encode(ControlRequest{ControlOp::kRun, app_id}));
    ASSERT_EQ(Bytes(out, out + n), expected) << size;
    auto decoded = decode_control_request(BytesView(out + 4, n - 4));
    ASSERT_TRUE(decoded.has_value()) << size;
    EXPECT_EQ(decoded->op, ControlOp::kRun);
    EXPECT_EQ(decoded->app_id, app_id);
  }
  std::string too_long(control_wire::kMaxAppIdBytes + 1, 'a');
  std::uint8_t out[control_wire::kMaxRunRequestFrame];
  EXPECT_EQ(control_wire::encode_run_request(too_long.data(), too_long.size(), out), 0u);
}

TEST(ControlWire, ResponsesDecodeAsTheCodecDoes) {
  for (std::size_t size : {0, 5, 63, 64, 300, 16383, 16384, 70000}) {
    ControlResponse response{ControlStatus::kRefused, 0x01020304, std::string(size, 'x')};
    Bytes body = tls::encode(response);
    control_wire::Response out;
    ASSERT_TRUE(control_wire::decode_response(body.data(), body.size(), &out)) << size;
    EXPECT_EQ(out.status, static_cast<std::uint8_t>(ControlStatus::kRefused));
    EXPECT_EQ(out.exit_code, 0x01020304u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.text), out.text_size), response.text);
  }
  Bytes good = tls::encode(ControlResponse{ControlStatus::kOk, 0, "org.a exited with code 0\n"});
  control_wire::Response out;
  // Refused by both: an unknown status, trailing or missing bytes, a
  // non-minimal or reserved length header.
  std::vector<Bytes> bad;
  for (std::uint8_t status : {0, 4, 255}) {
    Bytes b = good;
    b[0] = status;
    bad.push_back(b);
  }
  Bytes trailing = good;
  trailing.push_back(0);
  bad.push_back(trailing);
  bad.push_back(Bytes(good.begin(), good.end() - 1));
  bad.push_back(Bytes(good.begin(), good.begin() + 5));
  bad.push_back({1, 0, 0, 0, 0, 0x40, 0x01, 'x'});         // 1 in two bytes
  bad.push_back({1, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0});  // the 0b11 prefix
  bad.push_back({1, 0, 0, 0, 0, 0x40});                     // header cut short
  for (const Bytes& b : bad) {
    EXPECT_FALSE(decode_control_response(b).has_value());
    EXPECT_FALSE(control_wire::decode_response(b.data(), b.size(), &out)) << to_hex(b);
  }
  std::uint8_t header[4] = {0x01, 0x00, 0x00, 0x00};
  std::uint32_t length = 0;
  EXPECT_TRUE(control_wire::frame_length(header, &length));  // exactly 16 MiB
  header[3] = 1;
  EXPECT_FALSE(control_wire::frame_length(header, &length));
}

}  // namespace
}  // namespace pmos::device
