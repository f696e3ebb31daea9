// encode_delivery_frame: the per-recipient delivery frame the relay builds
// from one shared serialization must be exactly what protobuf would write.
#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

#include "relay.pb.h"
#include "src/relay_service.h"

namespace pmos::server {
namespace {

namespace pb = ::pmos::relay::v1;

Bytes serialize(const google::protobuf::MessageLite& message) {
  Bytes out(message.ByteSizeLong());
  EXPECT_TRUE(message.SerializeToArray(out.data(), static_cast<int>(out.size())));
  return out;
}

pb::Delivery sample_delivery(std::size_t message_bytes) {
  pb::Delivery delivery;
  delivery.set_kind(pb::Delivery::APPLICATION);
  delivery.set_group_id("group-1");
  delivery.set_sender_device("device-a");
  delivery.set_epoch(42);
  delivery.set_message(std::string(message_bytes, '\xab'));
  delivery.set_created_at_ms(1'790'000'000'000);
  return delivery;
}

TEST(RelayFrames, DeliveryFrameEqualsProtobufSerialization) {
  const std::int64_t seqs[] = {1, 127, 128, 300, 16'383, 16'384, std::int64_t{1} << 40,
                               std::numeric_limits<std::int64_t>::max(), -1};
  // Message sizes around the one- and two-byte length prefixes of both layers.
  for (std::size_t size : {0u, 1u, 90u, 110u, 127u, 128u, 300u, 20'000u}) {
    const pb::Delivery without_seq = sample_delivery(size);
    const Bytes fields = serialize(without_seq);
    for (std::int64_t seq : seqs) {
      pb::ServerFrame expected;
      *expected.mutable_delivery() = without_seq;
      expected.mutable_delivery()->set_seq(seq);
      const Bytes got = encode_delivery_frame(seq, fields);
      EXPECT_EQ(got, serialize(expected)) << "seq " << seq << ", message " << size;
      pb::ServerFrame parsed;
      ASSERT_TRUE(parsed.ParseFromArray(got.data(), static_cast<int>(got.size())));
      EXPECT_EQ(parsed.delivery().seq(), seq);
      EXPECT_EQ(parsed.delivery().message().size(), size);
    }
  }
}

TEST(RelayFrames, ZeroSeqIsLeftOutAsProto3Does) {
  const Bytes fields = serialize(sample_delivery(10));
  pb::ServerFrame expected;
  *expected.mutable_delivery() = sample_delivery(10);
  EXPECT_EQ(encode_delivery_frame(0, fields), serialize(expected));
  pb::ServerFrame empty;
  empty.mutable_delivery();
  EXPECT_EQ(encode_delivery_frame(0, {}), serialize(empty));
}

}  // namespace
}  // namespace pmos::server
