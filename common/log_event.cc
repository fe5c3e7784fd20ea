#include "common/log_event.h"

#include <fmt/format.h>

#include "common/logging.h"

namespace gssgate {
namespace {

// A text value needs quotes when it is empty or holds a space, a quote or '='.
bool needsQuotes(std::string_view v) {
  return v.empty() || v.find_first_of(" \"=") != std::string_view::npos;
}

}  // namespace

LogEvent::LogEvent(std::string_view event) {
  text_ = printable(event);
  text_ += ':';
  json_ = ",\"event\":";
  json_ += jsonQuoted(event);
}

LogEvent& LogEvent::add(std::string_view key, std::string_view value) {
  std::string shown = printable(value);
  text_ += ' ';
  text_.append(key);
  text_ += '=';
  if (needsQuotes(shown)) {
    text_ += '"';
    for (char c : shown) {
      if (c == '"') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
  } else {
    text_ += shown;
  }
  json_ += ',';
  json_ += jsonQuoted(key);
  json_ += ':';
  json_ += jsonQuoted(value);
  return *this;
}

LogEvent& LogEvent::add(std::string_view key, bool value) {
  return addNumber(key, value ? "true" : "false");
}

LogEvent& LogEvent::add(std::string_view key, double value, int decimals) {
  return addNumber(key, fmt::format("{:.{}f}", value, decimals));
}

LogEvent& LogEvent::addNumber(std::string_view key, const std::string& digits) {
  text_ += ' ';
  text_.append(key);
  text_ += '=';
  text_ += digits;
  json_ += ',';
  json_ += jsonQuoted(key);
  json_ += ':';
  json_ += digits;
  return *this;
}

void LogEvent::emit(spdlog::logger& log, spdlog::level::level_enum level) const {
  logFields(log, level, text_, json_);
}

}  // namespace gssgate
