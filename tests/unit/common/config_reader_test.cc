#include "common/config_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "common/strings.h"

namespace gssgate {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr std::string_view kFile = "test.yaml";

absl::StatusOr<ConfigReader> parseYaml(const std::string& yaml) {
  return ConfigReader::parse(yaml, std::string(kFile));
}

ConfigReader parseOrDie(const std::string& yaml) {
  auto r = parseYaml(yaml);
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

// The lines of a finish() error, one per problem.
std::vector<std::string> errorLines(const absl::Status& st) {
  const std::string message = messageOf(st);  // splitTrimmed returns views into it
  std::vector<std::string> out;
  for (auto part : splitTrimmed(message, '\n')) out.emplace_back(part);
  return out;
}

// --- parseDuration / parseByteSize -------------------------------------------------------------

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(parseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(parseDuration("10"), milliseconds(10'000));  // bare number: seconds
  EXPECT_EQ(parseDuration("5m"), milliseconds(300'000));
  EXPECT_EQ(parseDuration("8h"), milliseconds(28'800'000));
  EXPECT_EQ(parseDuration("1d"), milliseconds(86'400'000));
  EXPECT_EQ(parseDuration("0"), milliseconds(0));
  EXPECT_EQ(parseDuration(" 7s "), milliseconds(7'000));
}

TEST(ParseDuration, RejectsMalformed) {
  for (const char* bad : {"", " ", "s", "ms", "-1s", "+1s", "1.5s", "10x", "10 s", "10S", "10MS",
                          "1h30m", "0x10", "1e3", "10sec", "ten"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
}

TEST(ParseDuration, RejectsOverflow) {
  // Anything above half the int64 range of milliseconds, and anything from_chars can't hold.
  constexpr uint64_t kLimit = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_EQ(parseDuration(strCat(kLimit, "ms")), milliseconds(kLimit));
  EXPECT_FALSE(parseDuration(strCat(kLimit + 1, "ms")));
  EXPECT_FALSE(parseDuration(strCat(kLimit / 1000 + 1, "s")));
  EXPECT_FALSE(parseDuration("106751991167d"));
  EXPECT_FALSE(parseDuration("99999999999999999999999s"));
  EXPECT_FALSE(parseDuration("18446744073709551616ms"));
}

TEST(ParseByteSize, AcceptsEachUnit) {
  EXPECT_EQ(parseByteSize("65536"), 65536U);
  EXPECT_EQ(parseByteSize("0"), 0U);
  EXPECT_EQ(parseByteSize("12b"), 12U);
  EXPECT_EQ(parseByteSize("12B"), 12U);
  for (const char* k : {"64k", "64K", "64kb", "64KB", "64KiB", "64kib"}) {
    EXPECT_EQ(parseByteSize(k), 64U * 1024) << k;
  }
  for (const char* m : {"1m", "1M", "1MB", "1MiB"}) EXPECT_EQ(parseByteSize(m), 1U << 20U) << m;
  for (const char* g : {"2g", "2G", "2GB", "2GiB"}) {
    EXPECT_EQ(parseByteSize(g), uint64_t{2} << 30U) << g;
  }
  EXPECT_EQ(parseByteSize(" 8KiB\t"), 8192U);
}

TEST(ParseByteSize, RejectsMalformed) {
  for (const char* bad :
       {"", "KiB", "-1", "+1", "1.5MiB", "1TiB", "1 KiB", "1KiBs", "0x10", "1e3", "many"}) {
    EXPECT_FALSE(parseByteSize(bad)) << bad;
  }
}

TEST(ParseByteSize, RejectsOverflow) {
  EXPECT_EQ(parseByteSize("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(parseByteSize("18446744073709551616"));
  EXPECT_EQ(parseByteSize("17179869183GiB"), uint64_t{17179869183} << 30U);
  EXPECT_FALSE(parseByteSize("17179869184GiB"));  // 2^34 GiB = 2^64 bytes
  EXPECT_FALSE(parseByteSize("18014398509481984KiB"));
}

// --- loading and parsing --------------------------------------------------------------------

TEST(ConfigReaderParse, InvalidYamlIsReportedWithLineAndColumn) {
  auto r = parseYaml("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(messageOf(r.status()), ::testing::MatchesRegex("test\\.yaml:[0-9]+:[0-9]+: not "
                                                             "valid YAML: .+"));
  auto r2 = parseYaml("a: 1\nb: 2\n  c: 3\n");
  ASSERT_FALSE(r2.ok());
  EXPECT_THAT(messageOf(r2.status()), HasSubstr("test.yaml:3:"));
}

TEST(ConfigReaderParse, TopLevelMustBeAMapping) {
  auto list = parseYaml("- a\n- b\n");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(messageOf(list.status()),
            "test.yaml: expected a mapping of keys at the top level, got a list");
  auto scalar = parseYaml("hello\n");
  ASSERT_FALSE(scalar.ok());
  EXPECT_THAT(messageOf(scalar.status()), HasSubstr("got 'hello'"));
  auto empty = parseYaml("");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(messageOf(empty.status()), HasSubstr("got nothing"));
  auto comment = parseYaml("# only a comment\n");
  EXPECT_FALSE(comment.ok());
}

TEST(ConfigReaderLoad, ReadsAFile) {
  const std::string path = ::testing::TempDir() + "gssgate-config-reader-test.yaml";
  { std::ofstream(path) << "listen: 127.0.0.1:8080\n"; }
  auto r = ConfigReader::load(path);
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->file(), path);
  EXPECT_EQ(r->requiredString("listen"), "127.0.0.1:8080");
  EXPECT_TRUE(r->finish().ok());
}

TEST(ConfigReaderLoad, MissingFileIsNotFound) {
  auto r = ConfigReader::load("/nonexistent/gssgate.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(messageOf(r.status()), HasSubstr("/nonexistent/gssgate.yaml"));
}

// --- typed values ---------------------------------------------------------------------------

TEST(ConfigReader, ReadsTypedValues) {
  auto r = parseOrDie(
      "name: gate\n"
      "idle: 90s\n"
      "header_limit: 64KiB\n"
      "workers: 4\n"
      "debug: yes\n"
      "mode: strict\n"
      "realms: [A.EXAMPLE, B.EXAMPLE]\n");
  EXPECT_EQ(r.requiredString("name"), "gate");
  EXPECT_EQ(r.duration("idle", milliseconds(1)), milliseconds(90'000));
  EXPECT_EQ(r.byteSize("header_limit", 1, 1024, 1U << 20U), 65536U);
  EXPECT_EQ(r.integer("workers", 1, 1, 64), 4);
  EXPECT_TRUE(r.boolean("debug", false));
  EXPECT_EQ(r.choice("mode", "lax", {"lax", "strict"}), "strict");
  EXPECT_THAT(r.stringList("realms"), ElementsAre("A.EXAMPLE", "B.EXAMPLE"));
  EXPECT_TRUE(r.finish().ok());
}

TEST(ConfigReader, AbsentKeysGiveFallbacks) {
  auto r = parseOrDie("other: 1\nnull_value: ~\nempty_value:\n");
  EXPECT_EQ(r.string("name", "dflt"), "dflt");
  EXPECT_EQ(r.optionalString("name"), std::nullopt);
  EXPECT_EQ(r.duration("idle", milliseconds(5)), milliseconds(5));
  EXPECT_EQ(r.byteSize("limit", 7, 0, 100), 7U);
  EXPECT_EQ(r.integer("n", -3, -10, 10), -3);
  EXPECT_TRUE(r.boolean("flag", true));
  EXPECT_EQ(r.choice("mode", "lax", {"lax", "strict"}), "lax");
  EXPECT_THAT(r.stringList("list"), IsEmpty());
  // An explicit null reads like an absent key.
  EXPECT_EQ(r.string("null_value", "dflt"), "dflt");
  EXPECT_EQ(r.integer("empty_value", 9, 0, 10), 9);
  EXPECT_EQ(r.integer("other", 0, 0, 10), 1);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ConfigReader, HasIsTrueOnlyForPresentNonNullKeys) {
  auto r = parseOrDie("a: 1\nb: ~\nc: [x]\n");
  EXPECT_TRUE(r.has("a"));
  EXPECT_FALSE(r.has("b"));
  EXPECT_TRUE(r.has("c"));
  EXPECT_FALSE(r.has("d"));
}

TEST(ConfigReader, DurationErrors) {
  auto r = parseOrDie("idle: 10 minutes\nread: [1]\n");
  EXPECT_EQ(r.duration("idle", milliseconds(3)), milliseconds(3));
  EXPECT_EQ(r.duration("read", milliseconds(4)), milliseconds(4));
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:1: key 'idle': expected a duration such as 500ms, 10s, 5m or "
                          "8h, got '10 minutes'",
                          "test.yaml:2: key 'read': expected a single value, got a list"));
}

TEST(ConfigReader, ByteSizeRangeAndOverflow) {
  auto r = parseOrDie(
      "small: 512\n"
      "big: 2MiB\n"
      "huge: 99999999999999999999\n"
      "wrapping: 17179869184GiB\n"
      "ok: 1KiB\n");
  EXPECT_EQ(r.byteSize("small", 1, 1024, 1U << 20U), 1U);
  EXPECT_EQ(r.byteSize("big", 2, 1024, 1U << 20U), 2U);
  EXPECT_EQ(r.byteSize("huge", 3, 0, std::numeric_limits<uint64_t>::max()), 3U);
  EXPECT_EQ(r.byteSize("wrapping", 4, 0, std::numeric_limits<uint64_t>::max()), 4U);
  EXPECT_EQ(r.byteSize("ok", 5, 1024, 1024), 1024U);  // bounds are inclusive
  const auto lines = errorLines(r.finish());
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines[0],
            "test.yaml:1: key 'small': expected a size such as 65536, 64KiB or 1MiB between 1024 "
            "and 1048576 bytes, got '512'");
  EXPECT_THAT(lines[1], HasSubstr("test.yaml:2: key 'big'"));
  EXPECT_THAT(lines[2], HasSubstr("test.yaml:3: key 'huge'"));
  EXPECT_THAT(lines[3], HasSubstr("test.yaml:4: key 'wrapping'"));
}

TEST(ConfigReader, IntegerRange) {
  auto r = parseOrDie(
      "low: -1\n"
      "high: 65536\n"
      "text: eight\n"
      "hex: 0x10\n"
      "float: 1.5\n"
      "plus: +5\n"
      "min: 1\n"
      "max: 65535\n"
      "negative: -40\n"
      "overflow: 9223372036854775808\n");
  EXPECT_EQ(r.integer("low", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("high", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("text", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("hex", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("float", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("plus", 7, 1, 65535), 7);
  EXPECT_EQ(r.integer("min", 7, 1, 65535), 1);
  EXPECT_EQ(r.integer("max", 7, 1, 65535), 65535);
  EXPECT_EQ(r.integer("negative", 0, -100, 100), -40);
  EXPECT_EQ(r.integer("overflow", 0, std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max()),
            0);
  const auto lines = errorLines(r.finish());
  ASSERT_EQ(lines.size(), 7U);
  EXPECT_EQ(lines[0], "test.yaml:1: key 'low': expected an integer between 1 and 65535, got '-1'");
  EXPECT_THAT(lines[2], HasSubstr("got 'eight'"));
  EXPECT_THAT(lines[6], HasSubstr("test.yaml:10: key 'overflow'"));
}

TEST(ConfigReader, Booleans) {
  auto r = parseOrDie("a: true\nb: yes\nc: on\nd: false\ne: no\nf: off\ng: maybe\nh: 1\n");
  EXPECT_TRUE(r.boolean("a", false));
  EXPECT_TRUE(r.boolean("b", false));
  EXPECT_TRUE(r.boolean("c", false));
  EXPECT_FALSE(r.boolean("d", true));
  EXPECT_FALSE(r.boolean("e", true));
  EXPECT_FALSE(r.boolean("f", true));
  EXPECT_TRUE(r.boolean("g", true));  // error: fallback
  EXPECT_FALSE(r.boolean("h", false));
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:7: key 'g': expected true or false, got 'maybe'",
                          "test.yaml:8: key 'h': expected true or false, got '1'"));
}

TEST(ConfigReader, StringLists) {
  auto r = parseOrDie(
      "block:\n"
      "  - a\n"
      "  - b\n"
      "flow: [c, d]\n"
      "single: e\n"
      "empty: []\n"
      "mapping: {x: 1}\n"
      "nested:\n"
      "  - ok\n"
      "  - [not, ok]\n");
  EXPECT_THAT(r.stringList("block"), ElementsAre("a", "b"));
  EXPECT_THAT(r.stringList("flow"), ElementsAre("c", "d"));
  EXPECT_THAT(r.stringList("single"), ElementsAre("e"));
  EXPECT_THAT(r.stringList("empty"), IsEmpty());
  EXPECT_THAT(r.stringList("mapping"), IsEmpty());
  EXPECT_THAT(r.stringList("nested"), ElementsAre("ok"));
  EXPECT_THAT(
      errorLines(r.finish()),
      ElementsAre(
          "test.yaml:7: key 'mapping': expected a list of strings, got a mapping",
          "test.yaml:10: key 'nested': expected a list of strings, got an item that is a list"));
}

TEST(ConfigReader, Choices) {
  auto r = parseOrDie("mode: strict\nbad: Strict\n");
  EXPECT_EQ(r.choice("mode", "lax", {"lax", "strict"}), "strict");
  EXPECT_EQ(r.choice("bad", "lax", {"lax", "strict"}), "lax");  // compared exactly
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:2: key 'bad': expected one of lax, strict; got 'Strict'"));
}

TEST(ConfigReader, RequiredString) {
  auto r = parseOrDie("empty: ''\nnull:\nlist: [a]\npresent: x\n");
  EXPECT_EQ(r.requiredString("present"), "x");
  EXPECT_EQ(r.requiredString("missing"), "");
  EXPECT_EQ(r.requiredString("empty"), "");
  EXPECT_EQ(r.requiredString("null"), "");
  EXPECT_EQ(r.requiredString("list"), "");
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml: key 'missing' is required but missing",
                          "test.yaml:1: key 'empty': must not be empty",
                          "test.yaml: key 'null' is required but missing",
                          "test.yaml:3: key 'list': expected a single value, got a list"));
}

TEST(ConfigReader, SemanticErrorsCarryTheKeysLine) {
  auto r = parseOrDie("a: 1\nb: 2\n");
  r.integer("a", 0, 0, 10);
  r.integer("b", 0, 0, 10);
  r.error("b", "must be larger than a");
  r.error("c", "is needed when b is set");
  EXPECT_THAT(errorLines(r.finish()), ElementsAre("test.yaml:2: key 'b': must be larger than a",
                                                  HasSubstr("key 'c': is needed when b is set")));
}

// --- structure: sections, lists, unknown keys -----------------------------------------------

TEST(ConfigReader, NestedSections) {
  auto r = parseOrDie(
      "server:\n"
      "  listen: 0.0.0.0:443\n"
      "  tls:\n"
      "    cert: /etc/cert.pem\n"
      "    key: /etc/key.pem\n");
  auto server = r.section("server");
  EXPECT_EQ(server.requiredString("listen"), "0.0.0.0:443");
  auto tls = server.section("tls");
  EXPECT_EQ(tls.requiredString("cert"), "/etc/cert.pem");
  EXPECT_EQ(tls.requiredString("key"), "/etc/key.pem");
  EXPECT_EQ(tls.file(), kFile);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ConfigReader, ErrorsInSectionsUseTheDottedPath) {
  auto r = parseOrDie(
      "server:\n"
      "  tls:\n"
      "    min_version: 1.1\n"
      "    required_key:\n");
  auto tls = r.section("server").section("tls");
  tls.choice("min_version", "1.2", {"1.2", "1.3"});
  tls.requiredString("cert");
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:3: key 'server.tls.min_version': expected one of 1.2, 1.3; "
                          "got '1.1'",
                          "test.yaml: key 'server.tls.cert' is required but missing",
                          "test.yaml:4: key 'server.tls.required_key': unknown key (misspelt, "
                          "or not valid here)"));
}

TEST(ConfigReader, AbsentSectionIsEmptyAndStaysAbsent) {
  auto r = parseOrDie("a: 1\nnull_section: ~\n");
  r.integer("a", 0, 0, 10);
  auto tls = r.section("tls");
  EXPECT_FALSE(tls.has("cert"));
  EXPECT_EQ(tls.string("cert", "none"), "none");
  auto nulls = r.section("null_section");
  EXPECT_FALSE(nulls.has("x"));
  // Taking a section must not add it to the document.
  EXPECT_FALSE(r.has("tls"));
  EXPECT_FALSE(r.has("null_section"));
  EXPECT_TRUE(r.finish().ok());
}

TEST(ConfigReader, SectionOfTheWrongTypeIsAnError) {
  auto r = parseOrDie("tls: yes\nlist: [a]\n");
  auto tls = r.section("tls");
  EXPECT_FALSE(tls.has("cert"));
  r.section("list");
  EXPECT_TRUE(r.has("tls"));  // still the scalar it was
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:1: key 'tls': expected a mapping of keys, got 'yes'",
                          "test.yaml:2: key 'list': expected a mapping of keys, got a list"));
}

TEST(ConfigReader, SectionLists) {
  auto r = parseOrDie(
      "routes:\n"
      "  - path: /a\n"
      "    allow: [alice]\n"
      "  - path: /b\n"
      "    alow: bob\n"
      "  - just a string\n"
      "  - path: /c\n"
      "    limits:\n"
      "      body: 1MiB\n"
      "      bodyy: 2MiB\n");
  auto routes = r.sectionList("routes");
  ASSERT_EQ(routes.size(), 3U);  // the string item is reported, not returned
  EXPECT_EQ(routes[0].requiredString("path"), "/a");
  EXPECT_THAT(routes[0].stringList("allow"), ElementsAre("alice"));
  EXPECT_EQ(routes[1].requiredString("path"), "/b");
  routes[1].stringList("allow");
  EXPECT_EQ(routes[2].requiredString("path"), "/c");
  EXPECT_EQ(routes[2].section("limits").byteSize("body", 0, 0, 1U << 30U), 1U << 20U);
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:6: key 'routes[2]': expected a mapping of keys, got 'just a "
                          "string'",
                          "test.yaml:5: key 'routes[1].alow': unknown key (misspelt, or not "
                          "valid here)",
                          "test.yaml:10: key 'routes[3].limits.bodyy': unknown key (misspelt, or "
                          "not valid here)"));
}

TEST(ConfigReader, SectionListInsideASection) {
  auto r = parseOrDie(
      "auth:\n"
      "  rules:\n"
      "    - principal: alice@EXAMPLE\n"
      "      extra: 1\n");
  auto rules = r.section("auth").sectionList("rules");
  ASSERT_EQ(rules.size(), 1U);
  rules[0].requiredString("principal");
  rules[0].error("principal", "is not allowed");
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:3: key 'auth.rules[0].principal': is not allowed",
                          "test.yaml:4: key 'auth.rules[0].extra': unknown key (misspelt, or not "
                          "valid here)"));
}

TEST(ConfigReader, SectionListOfTheWrongTypeIsAnError) {
  auto r = parseOrDie("routes: {path: /a}\nnone: ~\n");
  EXPECT_THAT(r.sectionList("routes"), IsEmpty());
  EXPECT_THAT(r.sectionList("none"), IsEmpty());
  EXPECT_THAT(r.sectionList("absent"), IsEmpty());
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:1: key 'routes': expected a list, got a mapping"));
}

TEST(ConfigReader, UnknownTopLevelKeysAreReportedWithTheirLine) {
  auto r = parseOrDie("listen: x\nlistne: y\n\nlog_levle: debug\n");
  r.requiredString("listen");
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:2: key 'listne': unknown key (misspelt, or not valid here)",
                          "test.yaml:4: key 'log_levle': unknown key (misspelt, or not valid "
                          "here)"));
}

TEST(ConfigReader, SectionNeverTakenIsOneUnknownKey) {
  auto r = parseOrDie("server:\n  a: 1\n  b: 2\n");
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:1: key 'server': unknown key (misspelt, or not valid here)"));
}

TEST(ConfigReader, DuplicateKeysAreReported) {
  auto r = parseOrDie("listen: a\nlisten: b\nserver:\n  x: 1\n  x: 2\n");
  EXPECT_EQ(r.requiredString("listen"), "a");
  r.section("server").integer("x", 0, 0, 10);
  EXPECT_THAT(errorLines(r.finish()),
              ElementsAre("test.yaml:2: key 'listen': duplicate key (an earlier line sets it too)",
                          "test.yaml:5: key 'server.x': duplicate key (an earlier line sets it "
                          "too)"));
}

TEST(ConfigReader, CopiesShareWhichKeysWereRead) {
  auto r = parseOrDie("a: 1\nb: 2\n");
  ConfigReader copy = r;  // NOLINT(performance-unnecessary-copy-initialization): the point
  copy.integer("a", 0, 0, 10);
  r.integer("b", 0, 0, 10);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ConfigReader, MultipleErrorsAreCollectedInOneStatus) {
  auto r = parseOrDie(
      "listen: ''\n"
      "idle: soon\n"
      "workers: 0\n"
      "tls:\n"
      "  enabled: perhaps\n"
      "typo: 1\n");
  r.requiredString("listen");
  r.duration("idle", milliseconds(1));
  r.integer("workers", 1, 1, 16);
  r.section("tls").boolean("enabled", false);
  r.requiredString("upstream");
  const absl::Status st = r.finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  const auto lines = errorLines(st);
  ASSERT_EQ(lines.size(), 6U) << messageOf(st);
  EXPECT_THAT(lines[0], HasSubstr("key 'listen': must not be empty"));
  EXPECT_THAT(lines[1], HasSubstr("key 'idle'"));
  EXPECT_THAT(lines[2], HasSubstr("key 'workers'"));
  EXPECT_THAT(lines[3], HasSubstr("key 'tls.enabled'"));
  EXPECT_THAT(lines[4], HasSubstr("key 'upstream' is required"));
  EXPECT_THAT(lines[5], HasSubstr("test.yaml:6: key 'typo': unknown key"));
}

TEST(ConfigReader, FinishTwiceDoesNotDuplicateUnknownKeyErrors) {
  auto r = parseOrDie("typo: 1\n");
  const absl::Status first = r.finish();
  const absl::Status second = r.finish();
  EXPECT_EQ(errorLines(first).size(), 1U);
  EXPECT_EQ(errorLines(second).size(), 1U);
}

TEST(ConfigReader, ErrorMessagesShowValuesVerbatim) {
  // Values appear in messages as written (operators read them; they came from the operator).
  auto r = parseOrDie("mode: \"a'b\"\n");
  r.choice("mode", "x", {"x"});
  EXPECT_THAT(messageOf(r.finish()), HasSubstr("got 'a'b'"));
  EXPECT_THAT(messageOf(r.finish()), Not(HasSubstr("\n")));
}

}  // namespace
}  // namespace gssgate
