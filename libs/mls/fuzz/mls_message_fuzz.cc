// Fuzzes MlsMessage decoding (every wire format, framing, proposals,
// commits), and the padding-aware PrivateMessageContent decoder.
#include "pmos/mls/mls_message.h"
#include "round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  pmos::mls::fuzz::check_round_trip<pmos::mls::MlsMessage>(input);
  using pmos::mls::ContentType;
  for (ContentType type : {ContentType::kApplication, ContentType::kProposal, ContentType::kCommit}) {
    auto content = pmos::mls::PrivateMessageContent::decode(input, type);
    if (content.has_value()) {
      pmos::Bytes again = content->encode();
      if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
    }
  }
  return 0;
}
