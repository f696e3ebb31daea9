#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pmos::tlog::detail {

// Decodes the code point at text[pos] and advances pos. Strict UTF-8
// (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// nullopt on any invalid sequence.
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& pos);

// The Unicode White_Space property (what Go's unicode.IsSpace reports),
// which signed-note forbids in key names.
bool is_unicode_space(char32_t c);

}  // namespace pmos::tlog::detail
