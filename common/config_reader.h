// Reads one YAML mapping into typed values, collecting every error with its file, line, key
// and what was expected, and rejecting keys nobody asked for (typos must not be silently
// ignored in a security product's config).
//
//   auto root = ConfigReader::load("proxy.yaml");   // StatusOr: unreadable or not YAML
//   std::string listen = root->requiredString("listen");
//   auto idle = root->duration("timeouts.idle", std::chrono::seconds(60));
//   if (auto st = root->finish(); !st.ok()) ...     // all errors, one per line
//
// Thread-safety: single-threaded use while loading.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/logging.h"

namespace gssgate {

// Parses "500ms", "10s", "5m", "8h", "1d" (a bare number means seconds).
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
// Parses "65536", "64KiB", "1MiB", "2GiB" (also "k"/"K"/"KB" as KiB, etc.).
std::optional<uint64_t> parseByteSize(std::string_view text);

class ConfigReader {
 public:
  // Loads and parses `file`; the top level must be a mapping.
  static absl::StatusOr<ConfigReader> load(const std::string& file);
  // Parses `text` as if it were the contents of `file` (for tests and embedded defaults).
  static absl::StatusOr<ConfigReader> parse(const std::string& text, const std::string& file);

  bool has(std::string_view key) const;

  std::string requiredString(std::string_view key);
  std::optional<std::string> optionalString(std::string_view key);
  std::string string(std::string_view key, std::string_view fallback);
  std::chrono::milliseconds duration(std::string_view key, std::chrono::milliseconds fallback);
  uint64_t byteSize(std::string_view key, uint64_t fallback, uint64_t min, uint64_t max);
  int64_t integer(std::string_view key, int64_t fallback, int64_t min, int64_t max);
  bool boolean(std::string_view key, bool fallback);
  std::vector<std::string> stringList(std::string_view key);
  // `key` must be one of `choices` (compared exactly).
  std::string choice(std::string_view key, std::string_view fallback,
                     const std::vector<std::string>& choices);

  // A nested mapping (an absent key gives an empty mapping). Errors go to the same list.
  ConfigReader section(std::string_view key);
  // A list of mappings.
  std::vector<ConfigReader> sectionList(std::string_view key);

  // Records a semantic error about `key` (e.g. a value valid alone but not with another).
  void error(std::string_view key, std::string_view message);

  // Reports unknown keys in this mapping and every section taken from it, and returns all
  // errors collected so far (InvalidArgument, one line per error) or OK.
  absl::Status finish();

  const std::string& file() const { return file_; }

 private:
  struct Shared {
    std::string file;
    std::vector<std::string> errors;
  };
  // One mapping's state; copies of a ConfigReader share it so keys read through any copy count.
  struct Mapping {
    YAML::Node node;
    std::string path;  // dotted path of this mapping ("" at top level)
    std::set<std::string, std::less<>> used;
    std::vector<std::shared_ptr<Mapping>> children;
  };
  ConfigReader(std::shared_ptr<Shared> shared, const YAML::Node& node, std::string path);
  void reportUnknown(const Mapping& m);

  std::optional<YAML::Node> scalar(std::string_view key);
  std::string where(const YAML::Node& node, std::string_view key) const;
  std::string qualified(std::string_view key) const;

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<Mapping> m_;
  std::string file_;
};

// Reads the `log` section shared by both daemons: level (trace … off, default info) and format
// (text | json, default text).
LogOptions readLogOptions(ConfigReader section);

}  // namespace gssgate
