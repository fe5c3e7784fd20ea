// One structured log line: an event name and key/value fields. In text format it reads
// `event: key=value key="two words"`; in JSON format the fields become members of the line's
// object: {"ts":…,"level":…,"logger":…,"event":"request","status":200,…}. Values are escaped
// either way (printable() in text, JSON escaping in JSON), so a principal or path cannot forge
// a line or a field.
//
//   LogEvent("redeem").add("uid", peer.uid).add("service", service).emit(*audit(), kInfo);
//
// Thread-safety: a LogEvent is a local value; emit() may be called from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <concepts>
#include <string>
#include <string_view>

namespace gssgate {

class LogEvent {
 public:
  explicit LogEvent(std::string_view event);

  LogEvent& add(std::string_view key, std::string_view value);
  LogEvent& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  LogEvent& add(std::string_view key, const std::string& value) {
    return add(key, std::string_view(value));
  }
  LogEvent& add(std::string_view key, bool value);
  template <std::integral T>
  requires(!std::same_as<T, bool>) LogEvent& add(std::string_view key, T value) {
    return addNumber(key, std::to_string(value));
  }
  // A number printed with `decimals` digits after the point (durations in ms, say).
  LogEvent& add(std::string_view key, double value, int decimals);

  // Writes the line at `level` (nothing when the logger's level is above it).
  void emit(spdlog::logger& log, spdlog::level::level_enum level) const;
  // The rendered text form (what emit() writes in text format); for tests.
  const std::string& text() const { return text_; }

 private:
  LogEvent& addNumber(std::string_view key, const std::string& digits);

  std::string text_;  // "event: k=v k=v"
  std::string json_;  // ,"event":"…","k":v… (members without braces)
};

}  // namespace gssgate
