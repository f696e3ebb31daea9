// The national MLS suite end to end (issue 9): a pmos-server whose policy
// is "national" (SM2 credential CA beside the P-256 org CA), devices that
// enroll under it (Ed25519 TLS key + SM2 MLS credential), a group on suite
// 0xF0A1 with messages both ways, and the refusals: a device that insists on
// the international suite is not enrolled (its token survives), a national
// device will not create an international group, an international device
// cannot be invited into a national group and refuses a national Welcome
// that reaches it anyway. SQLite and PostgreSQL, as chat_test.
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "pg_throwaway.h"
#include "pmos/chat/client.h"
#include "pmos/crypto/random.h"
#include "pmos/crypto/signature.h"
#include "server_harness.h"

namespace pmos::itest {
namespace {

using chat::Client;

enum class Backend { kSqlite, kPostgres };

std::unique_ptr<store::testing::PgThrowaway>& postgres() {
  static std::unique_ptr<store::testing::PgThrowaway> cluster;
  return cluster;
}

constexpr crypto::Argon2Params kFastKdf{1, 8192, 1};

struct ChatDevice {
  std::string user;
  std::string home;
  std::string passcode;
  std::unique_ptr<Client> client;
  Client* operator->() { return client.get(); }
};

class NationalChat : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string database;
    if (GetParam() == Backend::kPostgres) {
      if (const char* given = std::getenv("PMOS_TEST_POSTGRES")) {
        database = given;
      } else if (const char* file = std::getenv("PMOS_TEST_POSTGRES_FILE")) {
        auto conninfo = read_file(file);
        ASSERT_TRUE(conninfo.has_value()) << "cannot read " << file;
        database = std::string(as_string(*conninfo));
        while (!database.empty() && (database.back() == '\n' || database.back() == ' ')) database.pop_back();
      } else {
        if (!postgres()) {
          auto cluster = store::testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
          ASSERT_TRUE(cluster.has_value()) << "could not start a throwaway PostgreSQL";
          postgres() = std::move(*cluster);
        }
        database = postgres()->conninfo();
      }
    }
    server_ = std::make_unique<ServerProcess>(database);
    CommandResult init = server_->cli("init --mls-suite national");
    ASSERT_EQ(init.status, 0) << server_->cli_log();
    EXPECT_NE(init.out.find("MLS suite policy national"), std::string::npos) << init.out;
    ASSERT_TRUE(std::filesystem::exists(server_->data() + "/national-ca.pem"));
    server_->set_run_args({"--mls-suite", "national"});
    ASSERT_TRUE(server_->start()) << server_->log();
    // Restarts keep the port: the clients stored it at enrollment.
    server_->set_port(server_->port());
  }
  void TearDown() override {
    devices_.clear();
    if (server_ == nullptr) return;  // SetUp failed before making it
    if (HasFailure()) {
      server_->keep();
      std::string log = server_->log();
      std::fprintf(stderr, "kept %s\nserver log (tail):\n%s\n", server_->dir().c_str(),
                   log.substr(log.size() > 4000 ? log.size() - 4000 : 0).c_str());
    }
    EXPECT_EQ(server_->stop(), 0);
    server_.reset();
  }
  static void TearDownTestSuite() { postgres().reset(); }

  std::string token(const std::string& user) { return enrollment_token(*server_, user); }

  chat::EnrollRequest request(const std::string& user, const std::string& token_text) {
    chat::EnrollRequest request;
    request.home = server_->dir() + "/device-" + std::to_string(next_home_++);
    request.passcode = "passcode-" + user;
    request.port = server_->port();
    request.ca_pem = ca_pem_of(*server_);
    request.token = token_text;
    request.argon2 = kFastKdf;
    return request;
  }

  ChatDevice& open(const std::string& user, const chat::EnrollRequest& request) {
    auto device = std::make_unique<ChatDevice>();
    device->user = user;
    device->home = request.home;
    device->passcode = request.passcode;
    chat::ClientOptions options;
    options.key_packages = 2;
    options.timeout = 10s;
    auto opened = Client::open(device->home, device->passcode, options);
    EXPECT_TRUE(opened.has_value()) << opened.error().to_string();
    if (opened) {
      device->client = std::move(*opened);
      auto connected = device->client->connect();  // publishes key packages
      EXPECT_TRUE(connected.has_value()) << connected.error().to_string();
    }
    devices_.push_back(std::move(device));
    return *devices_.back();
  }

  ChatDevice& enroll(const std::string& user) {
    chat::EnrollRequest r = request(user, token(user));
    auto name = Client::enroll(r);
    EXPECT_TRUE(name.has_value()) << name.error().to_string();
    return open(user, r);
  }

  bool sync_until(std::vector<ChatDevice*> devices, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (ChatDevice* d : devices) {
        auto synced = (*d)->sync(150ms);
        EXPECT_TRUE(synced.has_value()) << d->user << ": " << synced.error().to_string();
      }
      if (done()) return true;
    }
    return false;
  }

  static bool has_text(ChatDevice& d, BytesView group, const std::string& text) {
    auto rows = d->messages(group, 1000);
    if (!rows) return false;
    return std::any_of(rows->begin(), rows->end(), [&](const auto& row) { return row.text == text; });
  }
  static bool in_conversation(ChatDevice& d, BytesView group) {
    auto row = d->store().conversation(group);
    return row && *row && (*row)->status == "active";
  }
  static std::uint16_t group_suite(ChatDevice& d, BytesView group) {
    auto saved = d->store().group_state(group);
    if (!saved || !*saved) return 0;
    auto state = mls::State::load((*saved)->view());
    return state ? state->suite().id() : 0;
  }

  std::unique_ptr<ServerProcess> server_;
  std::vector<std::unique_ptr<ChatDevice>> devices_;
  int next_home_ = 0;
};

TEST_P(NationalChat, GroupOnTheNationalSuiteEndToEnd) {
  ChatDevice& a1 = enroll("n-alice");
  ChatDevice& b1 = enroll("n-bob");
  ChatDevice& b2 = enroll("n-bob");
  for (ChatDevice* d : {&a1, &b1, &b2}) {
    ASSERT_TRUE(d->client);
    EXPECT_EQ((*d)->suite(), 0xF0A1) << d->user;
  }

  auto group = a1->create_conversation("national room", {"n-bob"});
  ASSERT_TRUE(group.has_value()) << group.error().to_string();
  ASSERT_TRUE(sync_until({&a1, &b1, &b2}, [&] { return in_conversation(b1, *group) && in_conversation(b2, *group); }));
  for (ChatDevice* d : {&a1, &b1, &b2}) EXPECT_EQ(group_suite(*d, *group), 0xF0A1) << d->user;

  // Every member's credential is an SM2-with-SM3 certificate from the
  // credential CA, naming the user and device the relay knows.
  auto saved = a1->store().group_state(*group);
  ASSERT_TRUE(saved && *saved);
  auto state = mls::State::load((*saved)->view());
  ASSERT_TRUE(state.has_value());
  std::set<std::string> devices;
  for (const auto& [leaf, node] : state->roster()) {
    const auto* x509 = std::get_if<mls::X509Credential>(&node->credential.value);
    ASSERT_NE(x509, nullptr);
    BytesView der = x509->certificates.front().cert_data;
    const unsigned char* p = der.data();
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(cert);
    EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_SM2_with_SM3);
    devices.insert(chat::credential_names(node->credential).value().device_id);
  }
  EXPECT_EQ(devices, (std::set<std::string>{a1->device_id(), b1->device_id(), b2->device_id()}));

  ASSERT_TRUE(a1->send_text(*group, "from alice on SM4-GCM").has_value());
  ASSERT_TRUE(sync_until({&b1, &b2}, [&] {
    return has_text(b1, *group, "from alice on SM4-GCM") && has_text(b2, *group, "from alice on SM4-GCM");
  }));
  ASSERT_TRUE(b1->send_text(*group, "bob answers").has_value());
  ASSERT_TRUE(sync_until({&a1, &b2}, [&] { return has_text(a1, *group, "bob answers") && has_text(b2, *group, "bob answers"); }));

  // Its policy is national: no international group from this device.
  auto international = a1->create_conversation("not allowed", {}, std::uint16_t{0x0001});
  ASSERT_FALSE(international.has_value());
  EXPECT_STREQ(international.error().message(), chat::suite_not_allowed(0xF0A1, 0x0001).message());
  auto same = a1->create_conversation("allowed", {}, std::uint16_t{0xF0A1});
  EXPECT_TRUE(same.has_value()) << same.error().to_string();
}

TEST_P(NationalChat, InternationalDeviceIsRefusedAndRefuses) {
  // Names of its own: the PostgreSQL database is shared by the tests (and,
  // under ctest, with chat_test, hence the "n-" of every user here).
  ChatDevice& a1 = enroll("n-amy");

  // A device that insists on the international suite is not enrolled by a
  // national server, and its token is not spent.
  std::string dave_token = token("n-dave");
  chat::EnrollRequest insisting = request("n-dave", dave_token);
  insisting.suite = 0x0001;
  auto refused = Client::enroll(insisting);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(std::string(refused.error().message()).find("insists on international"), std::string::npos)
      << refused.error().to_string();

  // The org goes back to the international policy; dave enrolls under it
  // (with the same token) and keeps suite 0x0001.
  ASSERT_EQ(server_->stop(), 0);
  server_->set_run_args({"--mls-suite", "international"});
  ASSERT_TRUE(server_->start()) << server_->log();
  a1->disconnect();  // its connection died with the old server process
  chat::EnrollRequest dave_request = request("n-dave", dave_token);
  auto dave_name = Client::enroll(dave_request);
  ASSERT_TRUE(dave_name.has_value()) << dave_name.error().to_string();
  ChatDevice& dave = open("n-dave", dave_request);
  ASSERT_TRUE(dave.client);
  EXPECT_EQ(dave->suite(), 0x0001);
  // A device that knows nothing of the national suite (the harness's: one
  // CSR, international answer, byte for byte as before).
  Device mallory = enroll_device(*server_, "n-mallory");
  ASSERT_FALSE(mallory.id.empty());

  // amy gets a second device under the international policy: her national
  // device leaves it out of its groups (and still creates them).
  ChatDevice& a2 = enroll("n-amy");
  ASSERT_TRUE(a2.client);
  EXPECT_EQ(a2->suite(), 0x0001);

  // amy's national group cannot take dave's international key packages.
  auto group = a1->create_conversation("national room", {});
  ASSERT_TRUE(group.has_value()) << group.error().to_string();
  auto own = a1->members(*group);
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(own->size(), 1u);
  auto invited = a1->invite(*group, {"n-dave"});
  ASSERT_FALSE(invited.has_value());
  EXPECT_STREQ(invited.error().message(),
               "every device of that user is on another MLS suite than this conversation (enrolled under another "
               "policy)");

  // A Welcome into a real 0xF0A1 group reaches dave anyway (another client
  // sends one): dave refuses it, with the clear error, and joins nothing.
  auto suite = crypto::CipherSuite::from_id(0xF0A1).value();
  auto member = [&](const char* name) {
    return mls::KeyPackageBundle::create(suite, mls::Credential{mls::BasicCredential{to_bytes(name)}},
                                         suite.signature().generate().value())
        .value();
  };
  Bytes group_id = crypto::random_bytes(16);
  mls::State creator = mls::State::create(suite, group_id, member("n-mallory")).value();
  mls::State::CommitOptions options;
  options.proposals.push_back(mls::Proposal{mls::Add{member("someone").key_package}});
  auto committed = creator.commit(options).value();
  ASSERT_TRUE(committed.welcome.has_value());
  auto relay = RelayClient::connect(mallory, server_->port());
  ASSERT_NE(relay, nullptr);
  ASSERT_EQ(relay->create_group(group_id, {}).status(), pb::OK);
  pb::ClientFrame frame;
  pb::SendCommit* send = frame.mutable_send_commit();
  send->set_client_message_id("national-welcome");
  send->set_commit(str(tls::encode(committed.commit)));
  send->add_add_devices(dave->device_id());
  pb::WelcomeFor* welcome = send->add_welcomes();
  welcome->add_recipient_devices(dave->device_id());
  welcome->set_welcome(str(tls::encode(*committed.welcome)));
  pb::Response response = relay->call(std::move(frame));
  ASSERT_EQ(response.status(), pb::OK) << response.error();

  ASSERT_TRUE(sync_until({&dave}, [&] { return dave->stats().refused_welcomes == 1; }));
  EXPECT_STREQ(dave->stats().last_refusal, chat::suite_not_allowed(0x0001, 0xF0A1).message());
  EXPECT_STREQ(dave->stats().last_refusal,
               "refused: the group is on the national MLS suite (0xF0A1) and this device's policy is international "
               "(0x0001)");
  auto conversations = dave->conversations();
  ASSERT_TRUE(conversations.has_value());
  EXPECT_TRUE(conversations->empty());
  // Acknowledged: it does not come again.
  ASSERT_TRUE(dave->sync(300ms).has_value());
  EXPECT_EQ(dave->stats().refused_welcomes, 1u);
}

// The enrollment protocol of the national policy, on the wire.
TEST_P(NationalChat, EnrollmentAsksForAnSm2CredentialCsr) {
  auto post = [&](const nlohmann::json& body) {
    auto client = net::HttpsClient::connect(anonymous_tls(*server_), "127.0.0.1", server_->port(), 10s);
    if (!client) return net::Response::error(599, "connect failed");
    auto response = (*client)->request(net::Method::kPost, "/v1/enroll", body.dump());
    return response ? *response : net::Response::error(599, "request failed");
  };
  auto code = [](const net::Response& response) {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    return body.is_object() && body["code"].is_string() ? body["code"].get<std::string>() : std::string();
  };
  std::string one_time = token("n-erin");
  KeyAndCsr tls_key = make_key_and_csr();
  // One CSR only: refused before the token is looked at.
  net::Response first = post({{"token", one_time}, {"csr", tls_key.csr_pem}});
  EXPECT_EQ(first.status, 400);
  EXPECT_EQ(code(first), "credential_csr_required") << first.body;
  EXPECT_NE(first.body.find("\"mls_suite\":\"national\""), std::string::npos) << first.body;
  // Unknown fields, a non-string credential_csr, and an SM2 CSR signed under
  // the empty ID (OpenSSL 3.0's default): refused, token kept.
  auto sm2 = crypto::sm2_sm3().generate().value();
  std::string good_csr = chat::credential_csr_pem(sm2).value();
  EXPECT_EQ(post({{"token", one_time}, {"csr", tls_key.csr_pem}, {"credential_csr", good_csr}, {"extra", 1}}).status, 400);
  EXPECT_EQ(post({{"token", one_time}, {"csr", tls_key.csr_pem}, {"credential_csr", 7}}).status, 400);
  {
    EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"));
    X509ReqPtr req(X509_REQ_new());
    X509_REQ_set_pubkey(req.get(), key.get());
    X509_REQ_sign(req.get(), key.get(), EVP_sm3());  // no ID set: the empty one
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(bio, req.get());
    std::string empty_id_csr = bio_string(bio);
    BIO_free(bio);
    net::Response refused = post({{"token", one_time}, {"csr", tls_key.csr_pem}, {"credential_csr", empty_id_csr}});
    EXPECT_EQ(refused.status, 400);
    EXPECT_EQ(code(refused), "bad_csr") << refused.body;
  }
  // The SM2 key as the TLS key: refused (OpenSSL 3.0's TLS cannot use it).
  EXPECT_EQ(code(post({{"token", one_time}, {"csr", good_csr}, {"credential_csr", good_csr}})), "bad_csr");

  net::Response enrolled = post({{"token", one_time}, {"csr", tls_key.csr_pem}, {"credential_csr", good_csr}});
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  auto answer = nlohmann::json::parse(enrolled.body);
  EXPECT_EQ(answer["mls_suite"], "national");
  auto credential_ca = chat::OrgCa::from_pem(answer["credential_ca"].get<std::string>()).value();
  auto names = credential_ca->verify(chat::certificate_der(answer["credential"].get<std::string>()).value(),
                                     sm2.public_key().bytes());
  ASSERT_TRUE(names.has_value()) << names.error().to_string();
  EXPECT_EQ(names->user_id, "n-erin");
  EXPECT_EQ(names->device_id, answer["device_id"].get<std::string>());
  EXPECT_EQ(answer["credential_ca"].get<std::string>(),
            std::string(as_string(read_file(server_->data() + "/national-ca.pem").value())));
  // Spent now.
  EXPECT_EQ(post({{"token", one_time}, {"csr", tls_key.csr_pem}, {"credential_csr", good_csr}}).status, 403);
}

// `pmos chat` under the national policy: it learns the policy at enroll,
// shows it, creates on it, and refuses another suite.
TEST_P(NationalChat, CommandLine) {
  auto pmos = [&](const std::string& home, const std::string& args) {
    return run_command("PMOS_PASSCODE=cli-pass " + std::string(PMOS_BINARY) + " chat --home " + home + " " + args +
                       " 2>&1");
  };
  std::string ca = server_->data() + "/ca.pem";
  std::string server = "127.0.0.1:" + std::to_string(server_->port());
  std::string homes[2] = {server_->dir() + "/cli-judy", server_->dir() + "/cli-ken"};
  std::string users[2] = {"n-judy", "n-ken"};
  for (int i = 0; i < 2; ++i) {
    CommandResult enrolled = pmos(homes[i], "enroll --server " + server + " --ca " + ca + " --token " + token(users[i]));
    ASSERT_EQ(enrolled.status, 0) << enrolled.out;
    CommandResult whoami = pmos(homes[i], "whoami");
    EXPECT_NE(whoami.out.find("MLS suite policy national (0xF0A1)"), std::string::npos) << whoami.out;
  }
  // A device that insists on international: refused, the token kept for a retry.
  std::string kept = token("n-lee");
  CommandResult insisting = pmos(server_->dir() + "/cli-lee",
                                 "enroll --suite international --server " + server + " --ca " + ca + " --token " + kept);
  EXPECT_EQ(insisting.status, 1);
  EXPECT_NE(insisting.out.find("insists on international"), std::string::npos) << insisting.out;
  EXPECT_EQ(pmos(server_->dir() + "/cli-lee2", "enroll --suite national --server " + server + " --ca " + ca +
                                                  " --token " + kept).status,
            0);

  CommandResult refused = pmos(homes[0], "create intl-room n-ken --suite international");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.out.find("refused: the group is on the international MLS suite (0x0001) and this device's policy "
                             "is national (0xF0A1)"),
            std::string::npos)
      << refused.out;
  CommandResult created = pmos(homes[0], "create sm-room n-ken");
  ASSERT_EQ(created.status, 0) << created.out;
  ASSERT_EQ(pmos(homes[1], "conversations").status, 0);
  ASSERT_EQ(pmos(homes[1], "send sm-room hello over SM4-GCM").status, 0);
  CommandResult read = pmos(homes[0], "--json read sm-room");
  ASSERT_EQ(read.status, 0) << read.out;
  EXPECT_NE(read.out.find("\"text\":\"hello over SM4-GCM\""), std::string::npos) << read.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, NationalChat, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& param_info) { return param_info.param == Backend::kSqlite ? "Sqlite" : "Postgres"; });

}  // namespace
}  // namespace pmos::itest
