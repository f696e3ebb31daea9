#include "pmos/device/control.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "pmos/base/codec.h"

namespace pmos::device {
namespace {

TEST(Control, RequestsAndResponsesRoundTripStrictly) {
  ControlRequest request{ControlOp::kRun, "org.agency.notes"};
  Bytes encoded = tls::encode(request);
  auto decoded = decode_control_request(encoded);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->op, ControlOp::kRun);
  EXPECT_EQ(decoded->app_id, "org.agency.notes");
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(decode_control_request(trailing).has_value());
  for (std::uint8_t op : {0, 7, 255}) {
    Bytes bad = encoded;
    bad[0] = op;
    EXPECT_FALSE(decode_control_request(bad).has_value()) << int(op);
  }
  EXPECT_FALSE(decode_control_request(tls::encode(ControlRequest{ControlOp::kRun, std::string(129, 'a')})));

  ControlResponse response{ControlStatus::kRefused, 1, "install refused: crypto: ..."};
  auto back = decode_control_response(tls::encode(response));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->text, response.text);
  Bytes bad = tls::encode(response);
  bad[0] = 0;
  EXPECT_FALSE(decode_control_response(bad).has_value());
}

TEST(Control, FramesCarryOneDescriptor) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  Bytes body(100000, 7);  // larger than one socket write
  std::thread sender([&] { ASSERT_TRUE(send_frame(a.get(), body, write_end.get())); });
  UniqueFd received;
  auto got = receive_frame(b.get(), &received);
  sender.join();
  ASSERT_TRUE(got.has_value()) << got.error().to_string();
  EXPECT_EQ(*got, body);
  ASSERT_TRUE(received);
  ASSERT_EQ(::write(received.get(), "x", 1), 1);  // the same pipe
  char c = 0;
  ASSERT_EQ(::read(read_end.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');

  // A receiver that takes no descriptor refuses a frame that brings one.
  ASSERT_TRUE(send_frame(a.get(), Bytes{1, 2}, write_end.get()));
  EXPECT_FALSE(receive_frame(b.get(), nullptr).has_value());
}

TEST(Control, OverlongAndTruncatedFramesAreRefused) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  std::uint8_t header[4] = {0x7f, 0, 0, 0};
  ASSERT_EQ(::write(a.get(), header, 4), 4);
  auto too_long = receive_frame(b.get(), nullptr);
  ASSERT_FALSE(too_long.has_value());
  EXPECT_STREQ(too_long.error().message(), "control: frame too long");
  std::uint8_t truncated[6] = {0, 0, 0, 9, 1, 2};
  ASSERT_EQ(::write(a.get(), truncated, 6), 6);
  a.reset();
  EXPECT_FALSE(receive_frame(b.get(), nullptr).has_value());
  EXPECT_EQ(receive_frame(b.get(), nullptr).error().category(), ErrorCategory::kNotFound);
}

}  // namespace
}  // namespace pmos::device
