#include "pmos/mls/mls_message.h"

#include "select.h"

namespace pmos::mls {

namespace {
// In the order of MlsMessage::message's alternatives.
constexpr std::array kWireFormatTags = {WireFormat::kPublicMessage, WireFormat::kPrivateMessage,
                                        WireFormat::kWelcome, WireFormat::kGroupInfo,
                                        WireFormat::kKeyPackage};
}  // namespace

WireFormat MlsMessage::wire_format() const { return kWireFormatTags[message.index()]; }

void MlsMessage::tls_encode(tls::Writer& w) const {
  tls::write(w, version);
  detail::write_select(w, kWireFormatTags, message);
}

ErrorOr<MlsMessage> MlsMessage::tls_decode(tls::Reader& r) {
  MlsMessage result;
  TRY(tls::read(r, result.version));
  // Everything after the version is laid out by that version.
  if (result.version != ProtocolVersion::kMls10) {
    return Error::unsupported("unsupported protocol version");
  }
  TRY(detail::read_select(r, kWireFormatTags, Error::unsupported("unsupported wire format"), result.message));
  // §10: a KeyPackage carried in an MLSMessage MUST have the same version.
  if (const auto* key_package = std::get_if<KeyPackage>(&result.message);
      key_package != nullptr && key_package->version != result.version) {
    return Error::decode("key package version differs from the message version");
  }
  return result;
}

}  // namespace pmos::mls
