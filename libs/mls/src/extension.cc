#include "pmos/mls/extension.h"

#include <algorithm>
#include <vector>

namespace pmos::mls {

const Extension* ExtensionList::find(ExtensionType type) const {
  for (const Extension& extension : extensions) {
    if (extension.extension_type == type) return &extension;
  }
  return nullptr;
}

void ExtensionList::tls_encode(tls::Writer& w) const { tls::write(w, extensions); }

ErrorOr<ExtensionList> ExtensionList::tls_decode(tls::Reader& r) {
  ExtensionList list;
  TRY(tls::read(r, list.extensions));
  // Sorting a copy of the types keeps this O(n log n) for hostile lists.
  std::vector<ExtensionType> types;
  types.reserve(list.extensions.size());
  for (const Extension& extension : list.extensions) types.push_back(extension.extension_type);
  std::sort(types.begin(), types.end());
  if (std::adjacent_find(types.begin(), types.end()) != types.end()) {
    return Error::decode("duplicate extension type in an extension list");
  }
  return list;
}

}  // namespace pmos::mls
