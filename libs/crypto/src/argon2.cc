#include "pmos/crypto/argon2.h"

#include <climits>

#include <argon2.h>

namespace pmos::crypto {

ErrorOr<SecretBytes> argon2id(BytesView passcode, BytesView salt, const Argon2Params& params,
                              std::size_t length, BytesView secret, BytesView associated) {
  if (salt.size() < ARGON2_MIN_SALT_LENGTH) return Error::invalid_argument("Argon2id salt is shorter than 8 bytes");
  if (length < ARGON2_MIN_OUTLEN || length > UINT32_MAX) return Error::invalid_argument("Argon2id output length is out of range");
  if (params.passes < ARGON2_MIN_TIME || params.parallelism < ARGON2_MIN_LANES ||
      params.parallelism > ARGON2_MAX_LANES || params.memory_kib < 8 * params.parallelism)
    return Error::invalid_argument("Argon2id parameters are out of range (t >= 1, 1 <= p <= 2^24-1, m >= 8p KiB)");
  if (passcode.size() > UINT32_MAX || salt.size() > UINT32_MAX || secret.size() > UINT32_MAX ||
      associated.size() > UINT32_MAX)
    return Error::invalid_argument("Argon2id input is longer than 2^32 - 1 bytes");

  SecretBytes out(length);
  // libargon2 takes non-const pointers but, with the flags below, neither
  // modifies nor wipes the caller's password and secret.
  argon2_context context{};
  context.out = out.data();
  context.outlen = static_cast<std::uint32_t>(length);
  context.pwd = const_cast<std::uint8_t*>(passcode.data());
  context.pwdlen = static_cast<std::uint32_t>(passcode.size());
  context.salt = const_cast<std::uint8_t*>(salt.data());
  context.saltlen = static_cast<std::uint32_t>(salt.size());
  context.secret = const_cast<std::uint8_t*>(secret.data());
  context.secretlen = static_cast<std::uint32_t>(secret.size());
  context.ad = const_cast<std::uint8_t*>(associated.data());
  context.adlen = static_cast<std::uint32_t>(associated.size());
  context.t_cost = params.passes;
  context.m_cost = params.memory_kib;
  context.lanes = params.parallelism;
  context.threads = params.parallelism;
  context.version = ARGON2_VERSION_13;
  context.flags = ARGON2_DEFAULT_FLAGS;
  int rc = argon2_ctx(&context, Argon2_id);
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) return Error::system("Argon2id could not allocate its memory", ENOMEM);
  if (rc != ARGON2_OK) return Error::invalid_argument("Argon2id rejected its parameters");
  return out;
}

}  // namespace pmos::crypto
