// Logging setup for the daemons: spdlog, one named logger per component, human-readable text
// or JSON lines on stderr. Never log tokens, tickets, keys, cookies, handles or Authorization
// values — log `shortHash()` of them if correlation is needed.
//
//   setupLogging({.level = "info", .format = LogFormat::kJson});
//   auto log = logger("auth");
//   log->info("authenticated {}", printable(principal));
//
// Thread-safety: setupLogging/setLogLevel may be called at any time (spdlog registry is
// thread-safe); loggers are safe to use from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace gssgate {

enum class LogFormat { kText, kJson };

struct LogOptions {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
  // The logger named "access" (one line per request) logs at info whatever `level` says, or
  // not at all when false.
  bool access = true;
};

// Validates a level name; used by config loaders.
bool isValidLogLevel(std::string_view level);

// Installs the stderr sink and formatter for all loggers (existing and future).
absl::Status setupLogging(const LogOptions& options);
// Changes the level of every logger (SIGHUP); the "access" logger keeps its own setting.
void setLogLevel(std::string_view level);

// Name of the access logger (see LogOptions::access).
inline constexpr std::string_view kAccessLogger = "access";

// The logger named `component`, created on first use with the current sink and level.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

// Text safe to put in a log line or an HTTP header: printable ASCII is kept; anything else
// (control bytes, DEL, non-ASCII) becomes \xNN, and backslash becomes \\ — so a principal
// name cannot forge log lines or split headers.
std::string printable(std::string_view text);

// `text` as a JSON string literal (quotes included): control bytes escaped, bytes that are not
// well-formed UTF-8 replaced by U+FFFD, so any input yields valid JSON.
std::string jsonQuoted(std::string_view text);

// Writes one structured line (see LogEvent): `text` in text format; in JSON format `json_members`
// (`,"k":v,…`) are spliced into the line's object in place of "msg".
void logFields(spdlog::logger& log, spdlog::level::level_enum level, std::string_view text,
               std::string_view json_members);

// First 8 bytes of SHA-256 in hex: lets operators correlate a secret across log lines without
// the log revealing it.
std::string shortHash(std::string_view secret);

}  // namespace gssgate
