#include "common/config_reader.h"

#include <array>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "common/strings.h"

namespace gssgate {
namespace {

std::optional<uint64_t> parseUnsigned(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Splits "123abc" into ("123", "abc").
std::pair<std::string_view, std::string_view> splitNumber(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return {text.substr(0, i), text.substr(i)};
}

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Looks `suffix` up in `units`; nullopt if it is not one of them.
template <size_t N>
std::optional<uint64_t> unitFactor(const std::array<Unit, N>& units, std::string_view suffix) {
  for (const Unit& u : units) {
    if (u.suffix == suffix) return u.factor;
  }
  return std::nullopt;
}

constexpr uint64_t kKiB = uint64_t{1} << 10U;
constexpr uint64_t kMiB = uint64_t{1} << 20U;
constexpr uint64_t kGiB = uint64_t{1} << 30U;

// Duration suffixes in milliseconds; "" means seconds. Case-sensitive ("m" is minutes).
constexpr std::array<Unit, 6> kDurationUnits = {
    {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
// Byte-size suffixes, compared lower-cased; k/kb/kib all mean KiB (nobody wants 1000).
constexpr std::array<Unit, 11> kByteUnits = {{{"", 1},
                                              {"b", 1},
                                              {"k", kKiB},
                                              {"kb", kKiB},
                                              {"kib", kKiB},
                                              {"m", kMiB},
                                              {"mb", kMiB},
                                              {"mib", kMiB},
                                              {"g", kGiB},
                                              {"gb", kGiB},
                                              {"gib", kGiB}}};

std::string describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  text = trimAscii(text);
  auto [num, unit] = splitNumber(text);
  auto value = parseUnsigned(num);
  auto factor = unitFactor(kDurationUnits, unit);
  if (!value || !factor) return std::nullopt;
  // Half the range of milliseconds, so that `now + duration` cannot overflow either.
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 2;
  if (*value > limit / *factor) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(*value * *factor));
}

std::optional<uint64_t> parseByteSize(std::string_view text) {
  text = trimAscii(text);
  auto [num, unit] = splitNumber(text);
  auto value = parseUnsigned(num);
  auto factor = unitFactor(kByteUnits, toLowerAscii(unit));
  if (!value || !factor) return std::nullopt;
  if (*value > std::numeric_limits<uint64_t>::max() / *factor) return std::nullopt;
  return *value * *factor;
}

ConfigReader::ConfigReader(std::shared_ptr<Shared> shared, const YAML::Node& node, std::string path)
    : shared_(std::move(shared)),
      m_(std::make_shared<Mapping>(Mapping{.node = node, .path = std::move(path)})),
      file_(shared_->file) {}

absl::StatusOr<ConfigReader> ConfigReader::load(const std::string& file) {
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(strCat(file, ": cannot open config file"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(strCat(file, ": cannot read config file"));
  return parse(ss.str(), file);
}

absl::StatusOr<ConfigReader> ConfigReader::parse(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        strCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        strCat(file, ": expected a mapping of keys at the top level, got ", describe(root)));
  }
  auto shared = std::make_shared<Shared>();
  shared->file = file;
  return ConfigReader(std::move(shared), root, "");
}

std::string ConfigReader::qualified(std::string_view key) const {
  return m_->path.empty() ? std::string(key) : strCat(m_->path, ".", key);
}

std::string ConfigReader::where(const YAML::Node& node, std::string_view key) const {
  const YAML::Mark mark = node.Mark();
  std::string pos = mark.is_null() ? shared_->file : strCat(shared_->file, ":", mark.line + 1);
  return strCat(pos, ": key '", qualified(key), "'");
}

void ConfigReader::error(std::string_view key, std::string_view message) {
  YAML::Node n = m_->node[std::string(key)];
  shared_->errors.push_back(strCat(where(n ? n : m_->node, key), ": ", message));
}

bool ConfigReader::has(std::string_view key) const {
  const YAML::Node n = m_->node[std::string(key)];
  return n.IsDefined() && !n.IsNull();
}

std::optional<YAML::Node> ConfigReader::scalar(std::string_view key) {
  m_->used.emplace(key);
  YAML::Node n = m_->node[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    shared_->errors.push_back(
        strCat(where(n, key), ": expected a single value, got ", describe(n)));
    return std::nullopt;
  }
  return n;
}

std::string ConfigReader::requiredString(std::string_view key) {
  auto v = optionalString(key);
  if (!v) {
    if (!has(key)) {
      shared_->errors.push_back(
          strCat(shared_->file, ": key '", qualified(key), "' is required but missing"));
    }
    return {};
  }
  if (v->empty()) error(key, "must not be empty");
  return *v;
}

std::optional<std::string> ConfigReader::optionalString(std::string_view key) {
  auto n = scalar(key);
  if (!n) return std::nullopt;
  return n->Scalar();
}

std::string ConfigReader::string(std::string_view key, std::string_view fallback) {
  auto v = optionalString(key);
  return v ? *v : std::string(fallback);
}

std::chrono::milliseconds ConfigReader::duration(std::string_view key,
                                                 std::chrono::milliseconds fallback) {
  auto n = scalar(key);
  if (!n) return fallback;
  auto d = parseDuration(n->Scalar());
  if (!d) {
    shared_->errors.push_back(strCat(
        where(*n, key), ": expected a duration such as 500ms, 10s, 5m or 8h, got ", describe(*n)));
    return fallback;
  }
  return *d;
}

uint64_t ConfigReader::byteSize(std::string_view key, uint64_t fallback, uint64_t min,
                                uint64_t max) {
  auto n = scalar(key);
  if (!n) return fallback;
  auto v = parseByteSize(n->Scalar());
  if (!v || *v < min || *v > max) {
    shared_->errors.push_back(strCat(where(*n, key),
                                     ": expected a size such as 65536, 64KiB or 1MiB "
                                     "between ",
                                     min, " and ", max, " bytes, got ", describe(*n)));
    return fallback;
  }
  return *v;
}

int64_t ConfigReader::integer(std::string_view key, int64_t fallback, int64_t min, int64_t max) {
  auto n = scalar(key);
  if (!n) return fallback;
  const std::string& s = n->Scalar();
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
    shared_->errors.push_back(strCat(where(*n, key), ": expected an integer between ", min, " and ",
                                     max, ", got ", describe(*n)));
    return fallback;
  }
  return v;
}

bool ConfigReader::boolean(std::string_view key, bool fallback) {
  auto n = scalar(key);
  if (!n) return fallback;
  const std::string& s = n->Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  shared_->errors.push_back(strCat(where(*n, key), ": expected true or false, got ", describe(*n)));
  return fallback;
}

std::vector<std::string> ConfigReader::stringList(std::string_view key) {
  m_->used.emplace(key);
  std::vector<std::string> out;
  YAML::Node n = m_->node[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return out;
  if (n.IsScalar()) {
    out.push_back(n.Scalar());
    return out;
  }
  if (!n.IsSequence()) {
    shared_->errors.push_back(
        strCat(where(n, key), ": expected a list of strings, got ", describe(n)));
    return out;
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      shared_->errors.push_back(strCat(where(item, key),
                                       ": expected a list of strings, got an item that "
                                       "is ",
                                       describe(item)));
      continue;
    }
    out.push_back(item.Scalar());
  }
  return out;
}

std::string ConfigReader::choice(std::string_view key, std::string_view fallback,
                                 const std::vector<std::string>& choices) {
  auto n = scalar(key);
  if (!n) return std::string(fallback);
  for (const auto& c : choices) {
    if (n->Scalar() == c) return c;
  }
  shared_->errors.push_back(
      strCat(where(*n, key), ": expected one of ", join(choices, ", "), "; got ", describe(*n)));
  return std::string(fallback);
}

ConfigReader ConfigReader::section(std::string_view key) {
  m_->used.emplace(key);
  const YAML::Node n = m_->node[std::string(key)];
  const bool present = n.IsDefined() && !n.IsNull();
  if (present && !n.IsMap()) {
    shared_->errors.push_back(
        strCat(where(n, key), ": expected a mapping of keys, got ", describe(n)));
  }
  // A missing or invalid section reads as an empty mapping. It must be a new node: assigning
  // to `n` would write through into the document, and has(key) would then see the key.
  ConfigReader child(shared_, present && n.IsMap() ? n : YAML::Node(YAML::NodeType::Map),
                     qualified(key));
  m_->children.push_back(child.m_);
  return child;
}

std::vector<ConfigReader> ConfigReader::sectionList(std::string_view key) {
  m_->used.emplace(key);
  std::vector<ConfigReader> out;
  YAML::Node n = m_->node[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsSequence()) {
    shared_->errors.push_back(strCat(where(n, key), ": expected a list, got ", describe(n)));
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    YAML::Node item = n[i];
    const std::string itemKey = strCat(key, "[", i, "]");
    if (!item.IsMap()) {
      shared_->errors.push_back(
          strCat(where(item, itemKey), ": expected a mapping of keys, got ", describe(item)));
      continue;
    }
    ConfigReader child(shared_, item, qualified(itemKey));
    m_->children.push_back(child.m_);
    out.push_back(std::move(child));
  }
  return out;
}

// Recursion depth is the nesting of section() calls in our code, not anything from the file.
void ConfigReader::reportUnknown(const Mapping& m) {  // NOLINT(misc-no-recursion)
  if (m.node.IsMap()) {
    // yaml-cpp accepts a key twice and lookups see only the first: report the second.
    std::set<std::string, std::less<>> seen;
    for (const auto& kv : m.node) {
      const auto key = kv.first.as<std::string>("");
      const std::string name = m.path.empty() ? key : strCat(m.path, ".", key);
      const std::string pos = strCat(shared_->file, ":", kv.first.Mark().line + 1);
      if (!seen.insert(key).second) {
        shared_->errors.push_back(
            strCat(pos, ": key '", name, "': duplicate key (an earlier line sets it too)"));
      } else if (!m.used.contains(key)) {
        shared_->errors.push_back(
            strCat(pos, ": key '", name, "': unknown key (misspelt, or not valid here)"));
      }
    }
  }
  for (const auto& child : m.children) reportUnknown(*child);
}

absl::Status ConfigReader::finish() {
  reportUnknown(*m_);
  m_->children.clear();
  m_->used.clear();
  for (const auto& kv : m_->node) m_->used.emplace(kv.first.as<std::string>(""));
  if (shared_->errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(join(shared_->errors, "\n"));
}

LogOptions readLogOptions(ConfigReader section) {
  LogOptions out;
  out.level = section.choice("level", "info",
                             {"trace", "debug", "info", "warn", "error", "critical", "off"});
  out.format = section.choice("format", "text", {"text", "json"}) == "json" ? LogFormat::kJson
                                                                            : LogFormat::kText;
  return out;
}

}  // namespace gssgate
