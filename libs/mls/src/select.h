#pragma once

// The codec of MLS `select` variants: a tag followed by the body of the
// alternative it names. Each variant type in libs/mls is a std::variant whose
// alternative i has the tag kTags[i], so the tag can never disagree with the
// body (there is no separate tag member to get wrong).

#include <array>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "pmos/base/codec.h"

namespace pmos::mls::detail {

// Empty alternatives (`struct{}` in the RFC) have no wire bytes at all.
template <typename T>
void write_body(tls::Writer& w, const T& value) {
  if constexpr (!std::is_empty_v<T>) tls::write(w, value);
}

template <typename Variant>
void write_alternative(tls::Writer& w, const Variant& value) {
  std::visit([&](const auto& alternative) { write_body(w, alternative); }, value);
}

template <typename Tag, std::size_t N, typename Variant>
void write_select(tls::Writer& w, const std::array<Tag, N>& tags, const Variant& value) {
  static_assert(N == std::variant_size_v<Variant>, "one tag per alternative");
  tls::write(w, tags[value.index()]);
  write_alternative(w, value);
}

// Reads the body of alternative `index` (the tag was read by the caller)
// into `out`. Emplacing into the caller's variant, rather than returning a
// new one, also keeps g++ 12 from a false -Wmaybe-uninitialized on variant
// moves at -O1 (the asan preset).
template <typename Variant, std::size_t I = 0>
ErrorOr<void> read_alternative(tls::Reader& r, std::size_t index, Variant& out) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return Error::internal("select alternative index out of range");
  } else {
    if (index != I) return read_alternative<Variant, I + 1>(r, index, out);
    auto& alternative = out.template emplace<I>();
    if constexpr (!std::is_empty_v<std::remove_reference_t<decltype(alternative)>>) {
      TRY(tls::read(r, alternative));
    }
    return {};
  }
}

// The alternative whose tag is `tag`, or nullopt.
template <typename Tag, std::size_t N>
std::optional<std::size_t> index_of(const std::array<Tag, N>& tags, Tag tag) {
  for (std::size_t i = 0; i < N; ++i) {
    if (tags[i] == tag) return i;
  }
  return std::nullopt;
}

// Reads tag and body into `out`; an unknown tag is `unknown`. The tag is
// read as its raw integer so that the error names the field, not just
// "unknown enum value".
template <typename Variant, typename Tag, std::size_t N>
ErrorOr<void> read_select(tls::Reader& r, const std::array<Tag, N>& tags, Error unknown, Variant& out) {
  static_assert(N == std::variant_size_v<Variant>, "one tag per alternative");
  std::underlying_type_t<Tag> raw{};
  TRY(tls::read(r, raw));
  std::optional<std::size_t> index = index_of(tags, static_cast<Tag>(raw));
  if (!index) return unknown;
  return read_alternative(r, *index, out);
}

}  // namespace pmos::mls::detail
