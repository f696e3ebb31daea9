#include "pmos/pkg/elf.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace pmos::pkg {
namespace {

// ELF64 constants (System V gABI; glibc elf.h names). Spelled out here so
// the parser's rules are visible in one place.
constexpr std::uint8_t kElfClass64 = 2;
constexpr std::uint8_t kElfData2Lsb = 1;
constexpr std::uint8_t kElfVersionCurrent = 1;
constexpr std::size_t kEhdrSize = 64;
constexpr std::size_t kPhdrSize = 56;
constexpr std::size_t kDynSize = 16;
constexpr std::size_t kSymSize = 24;
constexpr std::uint16_t kPnXnum = 0xffff;

constexpr std::uint32_t kPtLoad = 1;
constexpr std::uint32_t kPtDynamic = 2;
constexpr std::uint32_t kPtInterp = 3;
constexpr std::uint32_t kPtGnuStack = 0x6474e551;
constexpr std::uint32_t kPtGnuRelro = 0x6474e552;
constexpr std::uint32_t kPfX = 1;

constexpr std::int64_t kDtNull = 0;
constexpr std::int64_t kDtPltRelSz = 2;
constexpr std::int64_t kDtStrtab = 5;
constexpr std::int64_t kDtSymtab = 6;
constexpr std::int64_t kDtRela = 7;
constexpr std::int64_t kDtRelaSz = 8;
constexpr std::int64_t kDtRelaEnt = 9;
constexpr std::int64_t kDtStrsz = 10;
constexpr std::int64_t kDtSyment = 11;
constexpr std::int64_t kDtRel = 17;
constexpr std::int64_t kDtRelSz = 18;
constexpr std::int64_t kDtRelEnt = 19;
constexpr std::int64_t kDtPltRel = 20;
constexpr std::int64_t kDtBindNow = 24;
constexpr std::int64_t kDtJmpRel = 23;
constexpr std::int64_t kDtFlags = 30;
constexpr std::int64_t kDtFlags1 = 0x6ffffffb;
constexpr std::size_t kRelaSize = 24;
constexpr std::size_t kRelSize = 16;
constexpr std::uint64_t kDfBindNow = 0x8;
constexpr std::uint64_t kDf1Now = 0x1;
constexpr std::uint64_t kDf1Pie = 0x08000000;

constexpr std::uint8_t kStbGlobal = 1;
constexpr std::uint8_t kStbWeak = 2;
constexpr std::uint16_t kShnUndef = 0;

// More relocations than this is not a real app binary; the bound keeps a
// hostile file from making vetting slow.
constexpr std::uint64_t kMaxRelocations = 1 << 22;

// A bounds-checked little-endian view of the file.
class View {
 public:
  explicit View(BytesView data) : data_(data) {}
  std::size_t size() const { return data_.size(); }

  // Whether [offset, offset + length) lies inside the file, without overflow.
  bool contains(std::uint64_t offset, std::uint64_t length) const {
    return offset <= data_.size() && length <= data_.size() - offset;
  }

  template <typename T>
  ErrorOr<T> read(std::uint64_t offset) const {
    if (!contains(offset, sizeof(T))) return Error::decode("ELF: read past the end of the file");
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      value |= static_cast<T>(static_cast<T>(data_[offset + i]) << (8 * i));
    return value;
  }

  BytesView slice(std::uint64_t offset, std::uint64_t length) const { return data_.subspan(offset, length); }

 private:
  BytesView data_;
};

struct Segment {
  std::uint32_t type;
  std::uint32_t flags;
  std::uint64_t offset;
  std::uint64_t vaddr;
  std::uint64_t filesz;
  std::uint64_t memsz;
};

// A region of the file, found from a virtual address: (offset, bytes
// available until the end of the PT_LOAD segment that maps it).
struct FileRegion {
  std::uint64_t offset;
  std::uint64_t available;
};

ErrorOr<FileRegion> map_address(const std::vector<Segment>& loads, std::uint64_t vaddr) {
  for (const Segment& load : loads) {
    if (vaddr >= load.vaddr && vaddr - load.vaddr < load.filesz) {
      std::uint64_t delta = vaddr - load.vaddr;
      return FileRegion{load.offset + delta, load.filesz - delta};
    }
  }
  return Error::decode("ELF: dynamic address not backed by any PT_LOAD segment");
}

ErrorOr<std::string> read_name(const View& file, const FileRegion& strtab, std::uint64_t strsz,
                               std::uint32_t name) {
  std::uint64_t limit = std::min(strsz, strtab.available);
  if (name >= limit) return Error::decode("ELF: symbol name offset outside the string table");
  BytesView rest = file.slice(strtab.offset + name, limit - name);
  const void* nul = std::memchr(rest.data(), 0, rest.size());
  if (nul == nullptr) return Error::decode("ELF: symbol name is not terminated inside the string table");
  return std::string(reinterpret_cast<const char*>(rest.data()),
                     static_cast<const std::uint8_t*>(nul) - rest.data());
}

}  // namespace

bool looks_like_elf(BytesView file) {
  return file.size() >= 4 && file[0] == 0x7f && file[1] == 'E' && file[2] == 'L' && file[3] == 'F';
}

ErrorOr<ElfInfo> parse_elf(BytesView data) {
  View file(data);
  if (!looks_like_elf(data)) return Error::decode("ELF: bad magic");
  if (data.size() < kEhdrSize) return Error::decode("ELF: file shorter than the ELF header");
  if (data[4] != kElfClass64) return Error::unsupported("ELF: only ELF64 is vetted");
  if (data[5] != kElfData2Lsb) return Error::unsupported("ELF: only little-endian ELF is vetted");
  if (data[6] != kElfVersionCurrent) return Error::decode("ELF: bad identification version");

  ElfInfo info;
  info.type = TRY(file.read<std::uint16_t>(16));
  info.machine = TRY(file.read<std::uint16_t>(18));
  if (TRY(file.read<std::uint32_t>(20)) != 1) return Error::decode("ELF: bad e_version");
  std::uint64_t phoff = TRY(file.read<std::uint64_t>(32));
  if (TRY(file.read<std::uint16_t>(52)) != kEhdrSize) return Error::decode("ELF: bad e_ehsize");
  std::uint16_t phentsize = TRY(file.read<std::uint16_t>(54));
  std::uint16_t phnum = TRY(file.read<std::uint16_t>(56));
  if (phnum == kPnXnum) return Error::unsupported("ELF: extended program header count");
  if (phnum > 0 && phentsize != kPhdrSize) return Error::decode("ELF: bad e_phentsize");
  if (!file.contains(phoff, std::uint64_t{phnum} * kPhdrSize))
    return Error::decode("ELF: program headers run past the end of the file");

  std::vector<Segment> loads;
  std::optional<Segment> dynamic;
  bool seen_interp = false, seen_relro = false, seen_stack = false;
  for (std::uint16_t i = 0; i < phnum; ++i) {
    std::uint64_t at = phoff + std::uint64_t{i} * kPhdrSize;
    Segment segment{TRY(file.read<std::uint32_t>(at)),      TRY(file.read<std::uint32_t>(at + 4)),
                    TRY(file.read<std::uint64_t>(at + 8)),  TRY(file.read<std::uint64_t>(at + 16)),
                    TRY(file.read<std::uint64_t>(at + 32)), TRY(file.read<std::uint64_t>(at + 40))};
    // Segments the loader reads from the file must be inside it; a truncated
    // or lying binary is malformed, not merely unhardened.
    bool from_file = segment.type == kPtLoad || segment.type == kPtDynamic || segment.type == kPtInterp;
    if (from_file && !file.contains(segment.offset, segment.filesz))
      return Error::decode("ELF: segment runs past the end of the file");
    if (segment.type == kPtLoad && segment.filesz > segment.memsz)
      return Error::decode("ELF: PT_LOAD file size exceeds its memory size");
    switch (segment.type) {
      case kPtLoad:
        loads.push_back(segment);
        break;
      case kPtDynamic:
        if (dynamic) return Error::decode("ELF: more than one PT_DYNAMIC");
        dynamic = segment;
        break;
      case kPtInterp:
        if (seen_interp) return Error::decode("ELF: more than one PT_INTERP");
        seen_interp = true;
        break;
      case kPtGnuRelro:
        if (seen_relro) return Error::decode("ELF: more than one PT_GNU_RELRO");
        seen_relro = true;
        break;
      case kPtGnuStack:
        if (seen_stack) return Error::decode("ELF: more than one PT_GNU_STACK");
        seen_stack = true;
        info.stack_executable = (segment.flags & kPfX) != 0;
        break;
      default:
        break;
    }
  }
  info.has_interp = seen_interp;
  info.has_gnu_relro = seen_relro;
  info.has_gnu_stack = seen_stack;
  if (!dynamic) return info;
  info.has_dynamic = true;

  // What a binary imports is what its dynamic relocations bind: the symbols
  // named by DT_RELA/DT_REL and the PLT's DT_JMPREL entries. (The symbol
  // table has no count of its own; DT_GNU_HASH covers only defined symbols.)
  std::optional<std::uint64_t> strtab, symtab, strsz;
  std::optional<std::uint64_t> rela, rela_size, rel, rel_size, jmprel, pltrel_size, pltrel;
  std::uint64_t syment = kSymSize, relaent = kRelaSize, relent = kRelSize;
  bool terminated = false;
  for (std::uint64_t at = 0; at + kDynSize <= dynamic->filesz; at += kDynSize) {
    auto tag = static_cast<std::int64_t>(TRY(file.read<std::uint64_t>(dynamic->offset + at)));
    std::uint64_t value = TRY(file.read<std::uint64_t>(dynamic->offset + at + 8));
    if (tag == kDtNull) {
      terminated = true;
      break;
    }
    switch (tag) {
      case kDtStrtab: strtab = value; break;
      case kDtSymtab: symtab = value; break;
      case kDtStrsz: strsz = value; break;
      case kDtSyment: syment = value; break;
      case kDtRela: rela = value; break;
      case kDtRelaSz: rela_size = value; break;
      case kDtRelaEnt: relaent = value; break;
      case kDtRel: rel = value; break;
      case kDtRelSz: rel_size = value; break;
      case kDtRelEnt: relent = value; break;
      case kDtJmpRel: jmprel = value; break;
      case kDtPltRelSz: pltrel_size = value; break;
      case kDtPltRel: pltrel = value; break;
      case kDtBindNow: info.bind_now = true; break;
      case kDtFlags:
        if (value & kDfBindNow) info.bind_now = true;
        break;
      case kDtFlags1:
        if (value & kDf1Now) info.bind_now = true;
        if (value & kDf1Pie) info.flag_pie = true;
        break;
      default: break;
    }
  }
  if (!terminated) return Error::decode("ELF: dynamic section has no DT_NULL terminator");
  if (syment != kSymSize) return Error::decode("ELF: DT_SYMENT is not 24");
  if (relaent != kRelaSize) return Error::decode("ELF: DT_RELAENT is not 24");
  if (relent != kRelSize) return Error::decode("ELF: DT_RELENT is not 16");

  // Each table: (address, byte size, entry size), all three tags or none.
  struct Table {
    std::optional<std::uint64_t> address, size;
    std::uint64_t entry;
  };
  std::vector<Table> tables = {{rela, rela_size, kRelaSize}, {rel, rel_size, kRelSize}};
  if (jmprel || pltrel_size) {
    if (!pltrel || (*pltrel != static_cast<std::uint64_t>(kDtRela) && *pltrel != static_cast<std::uint64_t>(kDtRel)))
      return Error::decode("ELF: DT_JMPREL without a valid DT_PLTREL");
    tables.push_back({jmprel, pltrel_size, *pltrel == static_cast<std::uint64_t>(kDtRela) ? kRelaSize : kRelSize});
  }
  std::vector<std::uint32_t> symbol_indexes;
  for (const Table& table : tables) {
    if (!table.address && !table.size) continue;
    if (!table.address || !table.size || *table.size % table.entry != 0)
      return Error::decode("ELF: relocation table tags are incomplete or its size is not whole entries");
    if (*table.size == 0) continue;
    FileRegion region = TRY(map_address(loads, *table.address));
    if (*table.size > region.available) return Error::decode("ELF: relocation table runs past its segment");
    std::uint64_t count = *table.size / table.entry;
    if (count > kMaxRelocations) return Error::decode("ELF: too many relocations");
    for (std::uint64_t i = 0; i < count; ++i) {
      // r_info's high 32 bits are the symbol index in both REL and RELA.
      std::uint64_t r_info = TRY(file.read<std::uint64_t>(region.offset + i * table.entry + 8));
      auto index = static_cast<std::uint32_t>(r_info >> 32);
      if (index != 0) symbol_indexes.push_back(index);
    }
  }
  if (symbol_indexes.empty()) return info;
  if (!symtab || !strtab || !strsz) return Error::decode("ELF: relocations name symbols but the symbol table tags are missing");
  FileRegion symbols = TRY(map_address(loads, *symtab));
  FileRegion strings = TRY(map_address(loads, *strtab));
  std::sort(symbol_indexes.begin(), symbol_indexes.end());
  symbol_indexes.erase(std::unique(symbol_indexes.begin(), symbol_indexes.end()), symbol_indexes.end());
  for (std::uint32_t index : symbol_indexes) {
    if (std::uint64_t{index} >= symbols.available / kSymSize)
      return Error::decode("ELF: relocation names a symbol past the symbol table's segment");
    std::uint64_t at = symbols.offset + std::uint64_t{index} * kSymSize;
    std::uint32_t name = TRY(file.read<std::uint32_t>(at));
    std::uint8_t binding = TRY(file.read<std::uint8_t>(at + 4)) >> 4;
    std::uint16_t section = TRY(file.read<std::uint16_t>(at + 6));
    if (section != kShnUndef || name == 0 || (binding != kStbGlobal && binding != kStbWeak)) continue;
    info.imported_symbols.push_back(TRY(read_name(file, strings, *strsz, name)));
  }
  return info;
}

}  // namespace pmos::pkg
