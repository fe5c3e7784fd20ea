#include "common/logging.h"

#include <openssl/evp.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <array>
#include "common/strings.h"
#include <chrono>
#include <mutex>


namespace gssgate {
namespace {

// Guards the sink/level/format used for loggers created after setupLogging.
std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;
LogFormat g_format = LogFormat::kText;

void appendJsonString(spdlog::memory_buf_t& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          out.append(esc, esc + sizeof(esc));
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
    using namespace std::chrono;
    auto t = msg.time;
    auto secs = time_point_cast<seconds>(t);
    auto micros = duration_cast<microseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[40];
    size_t n = std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    std::string stamp = fmt::format("{}.{:06d}Z", std::string_view(ts, n), micros);
    dest.append(std::string_view("{\"ts\":"));
    appendJsonString(dest, stamp);
    dest.append(std::string_view(",\"level\":"));
    auto lv = spdlog::level::to_string_view(msg.level);
    appendJsonString(dest, std::string_view(lv.data(), lv.size()));
    dest.append(std::string_view(",\"logger\":"));
    appendJsonString(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    dest.append(std::string_view(",\"msg\":"));
    appendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> makeFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [%n] %v",
                                                     spdlog::pattern_time_type::utc);
}

}  // namespace

bool isValidLogLevel(std::string_view level) {
  static constexpr std::array<std::string_view, 7> kLevels = {
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  for (auto l : kLevels) {
    if (l == level) return true;
  }
  return false;
}

absl::Status setupLogging(const LogOptions& options) {
  if (!isValidLogLevel(options.level)) {
    return absl::InvalidArgumentError(strCat("unknown log level '", options.level, "'"));
  }
  std::lock_guard lock(g_mu);
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  g_sink->set_formatter(makeFormatter(options.format));
  g_format = options.format;
  g_level = spdlog::level::from_str(options.level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
  return absl::OkStatus();
}

void setLogLevel(std::string_view level) {
  if (!isValidLogLevel(level)) return;
  std::lock_guard lock(g_mu);
  g_level = spdlog::level::from_str(std::string(level));
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  std::lock_guard lock(g_mu);
  if (auto existing = spdlog::get(component)) return existing;
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_sink->set_formatter(makeFormatter(g_format));
  }
  auto l = std::make_shared<spdlog::logger>(component, g_sink);
  l->set_level(g_level);
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string shortHash(std::string_view secret) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace gssgate
