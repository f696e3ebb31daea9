#pragma once

// A Commit (RFC 9420 §12.4): the proposals that take effect and, usually, a
// fresh path for the committer. Plain data, copyable, not synchronised.

#include <compare>
#include <optional>
#include <tuple>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/update_path.h"

namespace pmos::mls {

struct Commit {
  std::vector<ProposalOrRef> proposals;
  std::optional<UpdatePath> path;

  static auto tls_fields(auto& self) { return std::tie(self.proposals, self.path); }
  friend bool operator==(const Commit&, const Commit&) = default;
};

}  // namespace pmos::mls
