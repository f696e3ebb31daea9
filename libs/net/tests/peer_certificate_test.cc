#include "pmos/net/peer_certificate.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "test_pki.h"

namespace pmos::net {
namespace {

using testing::pki;

TEST(PeerCertificate, ExposesSubjectFieldsAndFingerprint) {
  const auto& device = pki().device1;
  auto peer = PeerCertificate::from_x509(device.cert.get());
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->common_name, "device-1");
  EXPECT_EQ(peer->organization, "PMOS Test Agency");
  ASSERT_EQ(peer->organizational_units.size(), 1u);
  EXPECT_EQ(peer->organizational_units[0], "user-alice");
  EXPECT_EQ(peer->subject, "CN=device-1,OU=user-alice,O=PMOS Test Agency");
  EXPECT_FALSE(peer->serial_hex.empty());

  // The fingerprint is SHA-256 over exactly the DER we expose.
  Sha256Fingerprint digest{};
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(peer->der.data(), peer->der.size(), digest.data(), &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(peer->sha256, digest);
  EXPECT_EQ(peer->sha256, device.fingerprint());
  EXPECT_EQ(peer->fingerprint_hex().size(), 64u);
}

TEST(PeerCertificate, FromDerRoundTripsAndRejectsGarbage) {
  auto peer = PeerCertificate::from_x509(pki().device2.cert.get());
  ASSERT_TRUE(peer.has_value());
  auto again = PeerCertificate::from_der(peer->der);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->sha256, peer->sha256);
  EXPECT_EQ(again->common_name, "device-2");

  Bytes trailing = peer->der;
  trailing.push_back(0);
  EXPECT_FALSE(PeerCertificate::from_der(trailing).has_value());
  Bytes truncated(peer->der.begin(), peer->der.end() - 1);
  EXPECT_FALSE(PeerCertificate::from_der(truncated).has_value());
  EXPECT_FALSE(PeerCertificate::from_der(to_bytes("not a certificate")).has_value());
  EXPECT_FALSE(PeerCertificate::from_x509(nullptr).has_value());
}

}  // namespace
}  // namespace pmos::net
