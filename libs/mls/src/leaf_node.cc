#include "pmos/mls/leaf_node.h"

#include "select.h"

namespace pmos::mls {

namespace {

constexpr std::array kSourceTags = {LeafNodeSource::kKeyPackage, LeafNodeSource::kUpdate,
                                    LeafNodeSource::kCommit};

constexpr Error kUnknownSource = Error::decode("unknown leaf node source");

// The fields LeafNode and LeafNodeTbs share, in wire order up to extensions.
template <typename Leaf>
void write_common(tls::Writer& w, const Leaf& leaf) {
  tls::write(w, leaf.encryption_key);
  tls::write(w, leaf.signature_key);
  tls::write(w, leaf.credential);
  tls::write(w, leaf.capabilities);
  detail::write_select(w, kSourceTags, leaf.source);
  tls::write(w, leaf.extensions);
}

template <typename Leaf>
ErrorOr<void> read_common(tls::Reader& r, Leaf& leaf) {
  TRY(tls::read(r, leaf.encryption_key));
  TRY(tls::read(r, leaf.signature_key));
  TRY(tls::read(r, leaf.credential));
  TRY(tls::read(r, leaf.capabilities));
  TRY(detail::read_select(r, kSourceTags, kUnknownSource, leaf.source));
  TRY(tls::read(r, leaf.extensions));
  return {};
}

}  // namespace

LeafNodeSource leaf_node_source_of(const LeafNodeSourceData& source) { return kSourceTags[source.index()]; }

void LeafNode::tls_encode(tls::Writer& w) const {
  write_common(w, *this);
  tls::write(w, signature);
}

ErrorOr<LeafNode> LeafNode::tls_decode(tls::Reader& r) {
  LeafNode leaf;
  TRY(read_common(r, leaf));
  TRY(tls::read(r, leaf.signature));
  return leaf;
}

LeafNodeTbs LeafNodeTbs::of(const LeafNode& leaf, BytesView group_id, LeafIndex leaf_index) {
  return {leaf.encryption_key, leaf.signature_key, leaf.credential,    leaf.capabilities,
          leaf.source,         leaf.extensions,    to_bytes(group_id), leaf_index};
}

// §7.2: only leaves created inside a group (update, commit) bind to it.
void LeafNodeTbs::tls_encode(tls::Writer& w) const {
  write_common(w, *this);
  if (leaf_node_source_of(source) != LeafNodeSource::kKeyPackage) {
    tls::write(w, group_id);
    tls::write(w, leaf_index);
  }
}

ErrorOr<LeafNodeTbs> LeafNodeTbs::tls_decode(tls::Reader& r) {
  LeafNodeTbs tbs;
  TRY(read_common(r, tbs));
  if (leaf_node_source_of(tbs.source) != LeafNodeSource::kKeyPackage) {
    TRY(tls::read(r, tbs.group_id));
    TRY(tls::read(r, tbs.leaf_index));
  }
  return tbs;
}

}  // namespace pmos::mls
