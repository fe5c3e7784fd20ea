#include "bench/response_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace gssgate::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated `list` holds `token` (case-insensitive).
bool containsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

template <typename T>
bool parseDecimal(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

void ResponseParser::reset() {
  state_ = State::kHeader;
  status_ = 0;
  remaining_ = 0;
  keepAlive_ = true;
  chunked_ = false;
  haveLength_ = false;
}

ResponseParser::Result ResponseParser::parse(std::string_view buf, size_t& pos) {
  bool progressed = true;
  Result result = Result::kNeedMore;
  while (progressed) {
    progressed = false;
    switch (state_) {
      case State::kHeader:
        result = parseHeaderBlock(buf, pos, progressed);
        break;
      case State::kBody:
      case State::kChunkData:
        result = skipBody(buf, pos, progressed);
        break;
      case State::kChunkSize:
        result = parseChunkSize(buf, pos, progressed);
        break;
      case State::kTrailer:
        result = parseTrailer(buf, pos, progressed);
        break;
      case State::kUntilClose:
        pos = buf.size();
        result = Result::kNeedMore;
        break;
    }
  }
  return result;
}

ResponseParser::Result ResponseParser::parseHeaderBlock(std::string_view buf, size_t& pos,
                                                        bool& progressed) {
  const size_t end = buf.find("\r\n\r\n", pos);
  if (end == std::string_view::npos) {
    return buf.size() - pos > kMaxHeader ? Result::kBad : Result::kNeedMore;
  }
  if (!parseHeader(buf.substr(pos, end - pos))) return Result::kBad;
  pos = end + 4;
  if (status_ >= 100 && status_ < 200) {  // interim response; the real one follows
    reset();
    progressed = true;
    return Result::kNeedMore;
  }
  if (status_ == 204 || status_ == 304) return Result::kDone;
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (haveLength_) {
    if (remaining_ == 0) return Result::kDone;
    state_ = State::kBody;
  } else {
    keepAlive_ = false;
    state_ = State::kUntilClose;
  }
  progressed = true;
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::skipBody(std::string_view buf, size_t& pos,
                                                bool& progressed) {
  const uint64_t take = std::min<uint64_t>(remaining_, buf.size() - pos);
  pos += take;
  remaining_ -= take;
  if (remaining_ > 0) return Result::kNeedMore;
  if (state_ == State::kBody) return Result::kDone;
  state_ = State::kChunkSize;  // chunk data (and its CRLF) done
  progressed = true;
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::parseChunkSize(std::string_view buf, size_t& pos,
                                                      bool& progressed) {
  const size_t eol = buf.find("\r\n", pos);
  if (eol == std::string_view::npos) return Result::kNeedMore;
  std::string_view line = buf.substr(pos, eol - pos);
  line = trim(line.substr(0, line.find(';')));
  uint64_t size = 0;
  auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
  if (ec != std::errc() || line.empty() || ptr != line.data() + line.size()) return Result::kBad;
  pos = eol + 2;
  if (size == 0) {
    state_ = State::kTrailer;
  } else {
    remaining_ = size + 2;  // data + CRLF
    state_ = State::kChunkData;
  }
  progressed = true;
  return Result::kNeedMore;
}

ResponseParser::Result ResponseParser::parseTrailer(std::string_view buf, size_t& pos,
                                                    bool& progressed) {
  const size_t eol = buf.find("\r\n", pos);
  if (eol == std::string_view::npos) return Result::kNeedMore;
  const bool last = eol == pos;
  pos = eol + 2;
  if (last) return Result::kDone;
  progressed = true;
  return Result::kNeedMore;
}

bool ResponseParser::parseHeader(std::string_view head) {
  size_t eol = head.find("\r\n");
  const std::string_view statusLine = head.substr(0, eol);
  // "HTTP/1.x NNN reason"
  constexpr size_t kMinStatusLine = 12;
  if (statusLine.size() < kMinStatusLine || !statusLine.starts_with("HTTP/1.")) return false;
  const bool http10 = statusLine[7] == '0';
  if (!parseDecimal(statusLine.substr(9, 3), status_)) return false;
  keepAlive_ = !http10;
  chunked_ = false;
  haveLength_ = false;
  remaining_ = 0;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      if (!parseDecimal(value, remaining_)) return false;
      haveLength_ = true;
    } else if (iequals(name, "transfer-encoding")) {
      chunked_ = containsToken(value, "chunked");
    } else if (iequals(name, "connection")) {
      if (containsToken(value, "close")) keepAlive_ = false;
      if (containsToken(value, "keep-alive")) keepAlive_ = true;
    }
  }
  return true;
}

}  // namespace gssgate::bench
