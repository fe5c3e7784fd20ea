#include "common/logging.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/log_event.h"

namespace gssgate {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using namespace std::string_literals;  // NOLINT(google-build-using-namespace)

// --- printable / shortHash ------------------------------------------------------------------

TEST(Printable, KeepsPrintableAscii) {
  EXPECT_EQ(printable("alice@EXAMPLE.COM"), "alice@EXAMPLE.COM");
  EXPECT_EQ(printable(" !\"#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"),
            " !\"#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~");
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, EscapesControlBytesDelNonAsciiAndBackslash) {
  EXPECT_EQ(printable("a\nb"), "a\\x0ab");
  EXPECT_EQ(printable("\r\n"), "\\x0d\\x0a");
  EXPECT_EQ(printable("\t"), "\\x09");
  EXPECT_EQ(printable("nul\0byte"s), "nul\\x00byte");
  EXPECT_EQ(printable("\x1b[31m"), "\\x1b[31m");  // terminal escape sequences are defused
  EXPECT_EQ(printable("\x7f"), "\\x7f");
  EXPECT_EQ(printable("\x80\xff"), "\\x80\\xff");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\\xc3\\xa9");
  EXPECT_EQ(printable("a\\b"), "a\\\\b");
  // A forged escape in the input stays distinguishable from a real one.
  EXPECT_EQ(printable("\\x0a"), "\\\\x0a");
  EXPECT_NE(printable("\\x0a"), printable("\n"));
}

TEST(Printable, OutputIsAlwaysPrintableAscii) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string out = printable(all);
  for (const char c : out) {
    EXPECT_GE(c, 0x20);
    EXPECT_LT(c, 0x7f);
  }
}

TEST(ShortHash, IsSixteenLowerHexCharacters) {
  for (const std::string& secret : {""s, "a"s, "token"s, std::string(10000, 'x'), "\0\xff"s}) {
    EXPECT_THAT(shortHash(secret), MatchesRegex("[0-9a-f]{16}")) << secret.size();
  }
}

TEST(ShortHash, IsTheStartOfSha256) {
  // FIPS 180-2 vectors: SHA-256("abc") and SHA-256("").
  EXPECT_EQ(shortHash("abc"), "ba7816bf8f01cfea");
  EXPECT_EQ(shortHash(""), "e3b0c44298fc1c14");
}

TEST(ShortHash, IsStableAndDistinguishesInputs) {
  EXPECT_EQ(shortHash("cookie-value"), shortHash("cookie-value"));
  EXPECT_NE(shortHash("cookie-value"), shortHash("cookie-valuf"));
  EXPECT_NE(shortHash("a\0b"s), shortHash("a"));
}

TEST(LogLevel, ValidNames) {
  for (const char* l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_TRUE(isValidLogLevel(l)) << l;
  }
  for (const char* l : {"", "INFO", "warning", "err", "verbose", "info "}) {
    EXPECT_FALSE(isValidLogLevel(l)) << l;
  }
  EXPECT_EQ(setupLogging({.level = "verbose"}).code(), absl::StatusCode::kInvalidArgument);
}

// --- output ---------------------------------------------------------------------------------

// Redirects file descriptor 2 into a temporary file for the lifetime of the object.
class StderrCapture {
 public:
  StderrCapture()
      : path_(::testing::TempDir() + "gssgate-logging-test-XXXXXX"),
        fd_(mkstemp(path_.data())),
        saved_(dup(STDERR_FILENO)) {
    static_cast<void>(std::fflush(stderr));
    if (fd_ >= 0 && saved_ >= 0) static_cast<void>(dup2(fd_, STDERR_FILENO));
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  StderrCapture(StderrCapture&&) = delete;
  StderrCapture& operator=(StderrCapture&&) = delete;
  ~StderrCapture() {
    restore();
    if (fd_ >= 0) close(fd_);
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

  // Stops capturing and returns everything written to stderr meanwhile.
  std::string finish() {
    restore();
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void restore() {
    static_cast<void>(std::fflush(stderr));
    if (saved_ >= 0) {
      static_cast<void>(dup2(saved_, STDERR_FILENO));
      close(saved_);
      saved_ = -1;
    }
  }

  std::string path_;
  int fd_ = -1;
  int saved_ = -1;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A strict parser for what the JSON formatter writes: one object whose values are all strings.
// Returns the decoded members, or nullopt if `line` is not valid JSON (RFC 8259), including
// unescaped control characters and ill-formed UTF-8.
class FlatJson {
 public:
  static std::optional<std::map<std::string, std::string>> parse(std::string_view line) {
    FlatJson p(line);
    std::map<std::string, std::string> out;
    if (!p.eat('{')) return std::nullopt;
    if (p.eat('}')) return p.done() ? std::optional(out) : std::nullopt;
    do {
      auto key = p.string();
      if (!key || !p.eat(':')) return std::nullopt;
      auto value = p.scalar();
      if (!value) return std::nullopt;
      if (out.contains(*key)) return std::nullopt;  // a duplicate member would be ambiguous
      out[*key] = *value;
    } while (p.eat(','));
    if (!p.eat('}') || !p.done()) return std::nullopt;
    return out;
  }

 private:
  explicit FlatJson(std::string_view s) : s_(s) {}

  bool done() const { return i_ == s_.size(); }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0U | (cp >> 6U));
      out += static_cast<char>(0x80U | (cp & 0x3FU));
    } else {
      out += static_cast<char>(0xE0U | (cp >> 12U));
      out += static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU));
      out += static_cast<char>(0x80U | (cp & 0x3FU));
    }
  }
  // Validates one UTF-8 sequence at i_ and appends it.
  bool utf8(std::string& out) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s_[k]); };
    const unsigned char lead = b(i_);
    size_t len = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      len = 3;
      lo = lead == 0xE0 ? 0xA0 : 0x80;
      hi = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      len = 4;
      lo = lead == 0xF0 ? 0x90 : 0x80;
      hi = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (i_ + len > s_.size() || b(i_ + 1) < lo || b(i_ + 1) > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      if (b(i_ + k) < 0x80 || b(i_ + k) > 0xBF) return false;
    }
    out.append(s_.substr(i_, len));
    i_ += len;
    return true;
  }
  // A string, or a bare number / true / false (LogEvent fields), returned as its text.
  std::optional<std::string> scalar() {
    if (i_ < s_.size() && s_[i_] == '"') return string();
    const size_t start = i_;
    while (i_ < s_.size() &&
           std::string_view("0123456789.-truefals").find(s_[i_]) != std::string_view::npos) {
      ++i_;
    }
    if (i_ == start) return std::nullopt;
    return std::string(s_.substr(start, i_ - start));
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c < 0x20) return std::nullopt;  // must be escaped
      if (c >= 0x80) {
        if (!utf8(out)) return std::nullopt;
        continue;
      }
      ++i_;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= s_.size()) return std::nullopt;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return std::nullopt;
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s_[i_++];
            cp <<= 4U;
            if (h >= '0' && h <= '9') {
              cp |= static_cast<unsigned>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              cp |= static_cast<unsigned>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              cp |= static_cast<unsigned>(h - 'A' + 10);
            } else {
              return std::nullopt;
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) return std::nullopt;  // no surrogates from us
          appendUtf8(out, cp);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::string_view s_;
  size_t i_ = 0;
};

TEST(FlatJson, SelfCheck) {
  EXPECT_TRUE(FlatJson::parse(R"({"a":"b","c":"\n\u0001\u00e9"})"));
  EXPECT_FALSE(FlatJson::parse("{\"a\":\"b\nc\"}"));          // raw newline
  EXPECT_FALSE(FlatJson::parse("{\"a\":\"\xff\"}"));          // not UTF-8
  EXPECT_FALSE(FlatJson::parse("{\"a\":\"\xc0\xaf\"}"));      // overlong
  EXPECT_FALSE(FlatJson::parse("{\"a\":\"\xed\xa0\x80\"}"));  // surrogate
  EXPECT_FALSE(FlatJson::parse(R"({"a":"b"} )"));
  EXPECT_FALSE(FlatJson::parse(R"({"a":"\x"})"));
}

// Logs `message` at info through a fresh logger in JSON format and returns the decoded object.
std::map<std::string, std::string> logJson(const std::string& logger_name,
                                           const std::string& message) {
  EXPECT_TRUE(setupLogging({.level = "info", .format = LogFormat::kJson}).ok());
  StderrCapture capture;
  logger(logger_name)->info("{}", message);
  const std::string out = capture.finish();
  const auto ls = lines(out);
  EXPECT_EQ(ls.size(), 1U) << out;
  if (ls.empty()) return {};
  auto obj = FlatJson::parse(ls[0]);
  EXPECT_TRUE(obj) << "not valid JSON: " << printable(ls[0]);
  return obj.value_or(std::map<std::string, std::string>{});
}

TEST(JsonLogging, OneObjectPerLineWithTheExpectedFields) {
  const auto obj = logJson("unit-json", "authenticated alice@EXAMPLE.COM");
  EXPECT_EQ(obj.size(), 4U);
  EXPECT_EQ(obj.at("level"), "info");
  EXPECT_EQ(obj.at("logger"), "unit-json");
  EXPECT_EQ(obj.at("msg"), "authenticated alice@EXAMPLE.COM");
  EXPECT_THAT(obj.at("ts"),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
}

TEST(JsonLogging, ControlCharactersQuotesAndBackslashesAreEscaped) {
  const std::string nasty = "a\"b\\c\nd\re\tf\x01g\x1fh\x7fi\0j"s;
  const auto obj = logJson("unit-json-escape", nasty);
  EXPECT_EQ(obj.at("msg"), nasty);  // decodes back to exactly what was logged
}

TEST(JsonLogging, ForgedLinesStayInsideTheMessage) {
  const std::string forged = "x\"}\n{\"ts\":\"0\",\"level\":\"critical\",\"msg\":\"pwned";
  const auto obj = logJson("unit-json-forge", forged);
  EXPECT_EQ(obj.at("level"), "info");
  EXPECT_EQ(obj.at("msg"), forged);
}

TEST(JsonLogging, Utf8IsKeptAndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(logJson("unit-json-utf8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91").at("msg"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
  // A stray byte, a truncated sequence, an overlong '/', a surrogate, and beyond U+10FFFF.
  const std::string bad =
      "a\xff"
      "b\xc3"
      "c\xc0\xaf"
      "d\xed\xa0\x80"
      "e\xf4\x90\x80\x80";
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(logJson("unit-json-bad-utf8", bad).at("msg"), "a" + fffd + "b" + fffd + "c" + fffd +
                                                              fffd + "d" + fffd + fffd + fffd +
                                                              "e" + fffd + fffd + fffd + fffd);
}

TEST(TextLogging, LineHasTimestampLevelLoggerAndMessage) {
  ASSERT_TRUE(setupLogging({.level = "info", .format = LogFormat::kText}).ok());
  StderrCapture capture;
  logger("unit-text")->warn("upstream {} refused", "10.0.0.1:80");
  const auto ls = lines(capture.finish());
  ASSERT_EQ(ls.size(), 1U);
  EXPECT_THAT(ls[0], MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z warning \\[unit-text\\] "
                                  "upstream 10\\.0\\.0\\.1:80 refused"));
}

TEST(Logging, LevelsFilterAndCanBeChangedForExistingLoggers) {
  ASSERT_TRUE(setupLogging({.level = "warn", .format = LogFormat::kText}).ok());
  auto log = logger("unit-levels");
  {
    StderrCapture capture;
    log->info("hidden");
    log->warn("shown");
    const std::string out = capture.finish();
    EXPECT_THAT(out, Not(HasSubstr("hidden")));
    EXPECT_THAT(out, HasSubstr("shown"));
  }
  setLogLevel("debug");
  {
    StderrCapture capture;
    log->debug("now visible");
    EXPECT_THAT(capture.finish(), HasSubstr("now visible"));
  }
  setLogLevel("nonsense");  // ignored
  EXPECT_EQ(log->level(), spdlog::level::debug);
  setLogLevel("off");
  {
    StderrCapture capture;
    log->critical("silenced");
    EXPECT_EQ(capture.finish(), "");
  }
  ASSERT_TRUE(setupLogging({}).ok());  // back to the defaults for later tests
  EXPECT_EQ(log->level(), spdlog::level::info);
}

TEST(Logging, LoggerIsCreatedOnceAndSharedByName) {
  auto a = logger("unit-shared");
  auto b = logger("unit-shared");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->name(), "unit-shared");
  EXPECT_NE(logger("unit-other"), a);
}

TEST(Logging, FormatChangeAppliesToExistingLoggers) {
  auto log = logger("unit-format-switch");
  ASSERT_TRUE(setupLogging({.format = LogFormat::kText}).ok());
  {
    StderrCapture capture;
    log->info("text");
    EXPECT_THAT(capture.finish(), HasSubstr("[unit-format-switch] text"));
  }
  ASSERT_TRUE(setupLogging({.format = LogFormat::kJson}).ok());
  {
    StderrCapture capture;
    log->info("json");
    const auto ls = lines(capture.finish());
    ASSERT_EQ(ls.size(), 1U);
    const auto obj = FlatJson::parse(ls[0]);
    ASSERT_TRUE(obj);
    EXPECT_EQ(obj->at("msg"), "json");
  }
  ASSERT_TRUE(setupLogging({}).ok());
}

// --- LogEvent: structured lines (access log, broker audit) ------------------------------------

TEST(LogEvent, TextFormQuotesAndEscapesValues) {
  LogEvent e("redeem");
  e.add("uid", 1000).add("service", "postgres/db").add("tgt", false).add("note", "two words");
  e.add("evil", "x\" forged=1\nnext").add("empty", "").add("ms", 1.23456, 3);
  EXPECT_EQ(e.text(),
            "redeem: uid=1000 service=postgres/db tgt=false note=\"two words\" "
            "evil=\"x\\\" forged=1\\x0anext\" empty=\"\" ms=1.235");
}

TEST(LogEvent, JsonFormMakesFieldsMembersOfTheLine) {
  ASSERT_TRUE(setupLogging({.level = "info", .format = LogFormat::kJson}).ok());
  StderrCapture capture;
  LogEvent("request")
      .add("status", 401)
      .add("path", "/a\"b\n")
      .add("principal", "al\xffice")
      .add("ok", true)
      .emit(*logger("unit-event"), spdlog::level::info);
  logger("unit-event")->info("plain {}", "message");  // the next line is a normal one again
  const auto ls = lines(capture.finish());
  ASSERT_TRUE(setupLogging({}).ok());
  ASSERT_EQ(ls.size(), 2U);
  const auto obj = FlatJson::parse(ls[0]);
  ASSERT_TRUE(obj) << printable(ls[0]);
  EXPECT_EQ(obj->at("event"), "request");
  EXPECT_EQ(obj->at("status"), "401");
  EXPECT_THAT(ls[0], HasSubstr("\"status\":401"));  // a JSON number, not a string
  EXPECT_EQ(obj->at("path"), "/a\"b\n");
  EXPECT_EQ(obj->at("principal"), "al\xef\xbf\xbdice");  // invalid UTF-8 → U+FFFD
  EXPECT_EQ(obj->at("ok"), "true");
  EXPECT_EQ(obj->at("logger"), "unit-event");
  EXPECT_FALSE(obj->contains("msg"));
  const auto plain = FlatJson::parse(ls[1]);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->at("msg"), "plain message");
}

TEST(LogEvent, AFieldNamedLikeTheLineKeysCannotReplaceThem) {
  // A message that merely looks like JSON members stays inside "msg".
  const auto obj = logJson("unit-json-members", R"(,"level":"critical","x":"y)");
  EXPECT_EQ(obj.at("level"), "info");
  EXPECT_FALSE(obj.contains("x"));
}

TEST(LogEvent, BelowTheLevelNothingIsWritten) {
  ASSERT_TRUE(setupLogging({.level = "warn"}).ok());
  StderrCapture capture;
  LogEvent("quiet").add("a", 1).emit(*logger("unit-event-level"), spdlog::level::info);
  EXPECT_EQ(capture.finish(), "");
  ASSERT_TRUE(setupLogging({}).ok());
}

TEST(AccessLogger, IgnoresTheGlobalLevelAndCanBeTurnedOff) {
  auto access = logger(std::string(kAccessLogger));
  ASSERT_TRUE(setupLogging({.level = "error", .access = true}).ok());
  {
    StderrCapture capture;
    access->info("request one");
    logger("unit-other-component")->info("hidden");
    const std::string out = capture.finish();
    EXPECT_THAT(out, HasSubstr("request one"));
    EXPECT_THAT(out, Not(HasSubstr("hidden")));
  }
  setLogLevel("debug");  // SIGHUP: the access logger keeps its own setting
  EXPECT_EQ(access->level(), spdlog::level::info);
  ASSERT_TRUE(setupLogging({.level = "info", .access = false}).ok());
  {
    StderrCapture capture;
    access->info("request two");
    EXPECT_EQ(capture.finish(), "");
  }
  ASSERT_TRUE(setupLogging({}).ok());
}

}  // namespace
}  // namespace gssgate
