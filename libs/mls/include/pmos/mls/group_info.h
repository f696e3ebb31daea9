#pragma once

// GroupInfo (RFC 9420 §12.4.3): what a joiner needs to know about a group,
// signed by a member. Plain data, copyable, not synchronised. Its
// `extensions` may hold unknown types, which joiners ignore (§13.4).

#include <compare>
#include <tuple>

#include "pmos/base/codec.h"
#include "pmos/mls/extension.h"
#include "pmos/mls/group_context.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

struct GroupInfo {
  GroupContext group_context;
  ExtensionList extensions;
  Mac confirmation_tag;
  LeafIndex signer;
  Bytes signature;  // SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)

  static auto tls_fields(auto& self) {
    return std::tie(self.group_context, self.extensions, self.confirmation_tag, self.signer, self.signature);
  }
  friend bool operator==(const GroupInfo&, const GroupInfo&) = default;
};

// What a GroupInfo's signature covers: all of it but the signature.
struct GroupInfoTbs {
  GroupContext group_context;
  ExtensionList extensions;
  Mac confirmation_tag;
  LeafIndex signer;

  static GroupInfoTbs of(const GroupInfo& info) {
    return {info.group_context, info.extensions, info.confirmation_tag, info.signer};
  }

  static auto tls_fields(auto& self) {
    return std::tie(self.group_context, self.extensions, self.confirmation_tag, self.signer);
  }
  friend bool operator==(const GroupInfoTbs&, const GroupInfoTbs&) = default;
};

}  // namespace pmos::mls
