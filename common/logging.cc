#include "common/logging.h"

#include <openssl/evp.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include "common/strings.h"

namespace gssgate {
namespace {

// Process-wide logging settings: the sink every logger writes to, and the level and format that
// loggers created later start with. `mu` guards them (`format` is also read alone, lock-free).
struct LogState {
  std::mutex mu;
  spdlog::sink_ptr sink;
  spdlog::level::level_enum level = spdlog::level::info;
  std::atomic<LogFormat> format{LogFormat::kText};
  bool access = true;  // also read without `mu` (logFields)
};

// Constructed on first use, so logger() is safe from other translation units' initializers.
LogState& state() {
  static LogState s;
  return s;
}

// Set while logFields() writes a structured line in JSON format: the formatter then takes the
// payload as ready JSON members. Formatting runs on the logging thread (loggers are synchronous),
// so a thread-local flag is enough and nothing in a message's text can turn it on.
thread_local bool t_payload_is_json_members = false;

template <typename Out>
void appendText(Out& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

constexpr std::string_view kHexDigits = "0123456789abcdef";

// Appends the two lower-case hex digits of `byte`.
template <typename Out>
void appendHex(Out& out, unsigned char byte) {
  const unsigned v = byte;
  out.push_back(kHexDigits[v >> 4U]);
  out.push_back(kHexDigits[v & 0xFU]);
}

// Length of the well-formed UTF-8 sequence at the start of `s` (Unicode 15, table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t utf8SequenceLength(std::string_view s) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = at(0);
  size_t len = 0;
  unsigned char lo = 0x80;  // bounds of the second byte
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < len || at(1) < lo || at(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (at(i) < 0x80 || at(i) > 0xBF) return 0;
  }
  return len;
}

// Appends `s` as a JSON string. Control characters and DEL are escaped; bytes that are not
// well-formed UTF-8 become U+FFFD, so every line stays valid JSON (RFC 8259 §8.1) whatever a
// peer managed to get into a message.
template <typename Out>
void appendJsonString(Out& out, std::string_view s) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = utf8SequenceLength(s.substr(i));
      if (len == 0) {
        appendText(out, "\\ufffd");
        ++i;
      } else {
        appendText(out, s.substr(i, len));
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        appendText(out, "\\\"");
        break;
      case '\\':
        appendText(out, "\\\\");
        break;
      case '\n':
        appendText(out, "\\n");
        break;
      case '\r':
        appendText(out, "\\r");
        break;
      case '\t':
        appendText(out, "\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          appendText(out, "\\u00");
          appendHex(out, c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// One JSON object per line: {"ts":"...","level":"info","logger":"auth","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(msg.time);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(msg.time - secs);
    const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    std::array<char, 32> ts{};
    const size_t n = std::strftime(ts.data(), ts.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    const std::string stamp =
        fmt::format("{}.{:06d}Z", std::string_view(ts.data(), n), micros.count());
    dest.append(std::string_view("{\"ts\":"));
    appendJsonString(dest, stamp);
    dest.append(std::string_view(",\"level\":"));
    const auto lv = spdlog::level::to_string_view(msg.level);
    appendJsonString(dest, std::string_view(lv.data(), lv.size()));
    dest.append(std::string_view(",\"logger\":"));
    appendJsonString(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (t_payload_is_json_members) {
      dest.append(payload);
    } else {
      dest.append(std::string_view(",\"msg\":"));
      appendJsonString(dest, payload);
    }
    dest.append(std::string_view("}\n"));
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> makeFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [%n] %v",
                                                     spdlog::pattern_time_type::utc);
}

// The level a logger named `name` gets. Requires the caller to hold state().mu.
spdlog::level::level_enum levelForLocked(const std::string& name) {
  if (name == kAccessLogger) return state().access ? spdlog::level::info : spdlog::level::off;
  return state().level;
}

// Requires the caller to hold state().mu.
void applyLevelLocked(spdlog::level::level_enum level) {
  state().level = level;
  spdlog::apply_all(
      [](const std::shared_ptr<spdlog::logger>& l) { l->set_level(levelForLocked(l->name())); });
}

}  // namespace

bool isValidLogLevel(std::string_view level) {
  static constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                              "error", "critical", "off"};
  return std::ranges::find(kLevels, level) != kLevels.end();
}

absl::Status setupLogging(const LogOptions& options) {
  if (!isValidLogLevel(options.level)) {
    return absl::InvalidArgumentError(strCat("unknown log level '", options.level, "'"));
  }
  LogState& st = state();
  const std::lock_guard lock(st.mu);
  if (!st.sink) st.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  st.sink->set_formatter(makeFormatter(options.format));
  st.format = options.format;
  st.access = options.access;
  applyLevelLocked(spdlog::level::from_str(options.level));
  return absl::OkStatus();
}

void setLogLevel(std::string_view level) {
  if (!isValidLogLevel(level)) return;
  const std::lock_guard lock(state().mu);
  applyLevelLocked(spdlog::level::from_str(std::string(level)));
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  LogState& st = state();
  const std::lock_guard lock(st.mu);
  if (auto existing = spdlog::get(component)) return existing;
  if (!st.sink) {
    st.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    st.sink->set_formatter(makeFormatter(st.format.load()));
  }
  auto l = std::make_shared<spdlog::logger>(component, st.sink);
  l->set_level(levelForLocked(component));
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7F) {
      out += ch;
    } else {
      out += "\\x";
      appendHex(out, c);
    }
  }
  return out;
}

std::string jsonQuoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  appendJsonString(out, text);
  return out;
}

void logFields(spdlog::logger& log, spdlog::level::level_enum level, std::string_view text,
               std::string_view json_members) {
  if (!log.should_log(level)) return;
  if (state().format.load(std::memory_order_relaxed) != LogFormat::kJson) {
    log.log(level, "{}", text);
    return;
  }
  t_payload_is_json_members = true;
  log.log(level, "{}", json_members);
  t_payload_is_json_members = false;
}

std::string shortHash(std::string_view secret) {
  constexpr size_t kBytes = 8;
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(secret.data(), secret.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    return "sha256-failed";
  }
  std::string out;
  out.reserve(2 * kBytes);
  for (size_t i = 0; i < kBytes && i < len; ++i) appendHex(out, md.at(i));
  return out;
}

}  // namespace gssgate
