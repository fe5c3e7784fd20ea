// Incremental parser of HTTP/1.1 responses for the load generator: finds where one response
// ends (Content-Length, chunked, or end of connection) and its status code; bodies are
// skipped, never stored.
//
//   ResponseParser p;                              // reset() before each response
//   size_t pos = 0;
//   if (p.parse(buffer, pos) == ResponseParser::Result::kDone) use(p.status(), p.keepAlive());
//
// Thread-safety: a plain value; one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gssgate::bench {

class ResponseParser {
 public:
  enum class Result { kNeedMore, kDone, kBad };

  // Prepares for the next response on the connection.
  void reset();

  // Consumes bytes of `buf` from `pos` (advanced past what was used). kDone: the response is
  // complete and `pos` is just past it; kBad: not an HTTP/1.x response (or a header > 1 MiB).
  Result parse(std::string_view buf, size_t& pos);

  int status() const { return status_; }
  // False when the server said `Connection: close`, spoke HTTP/1.0 without keep-alive, or the
  // body runs to the end of the connection.
  bool keepAlive() const { return keepAlive_; }
  // True when the body has no length and ends when the server closes the connection.
  bool readsUntilClose() const { return state_ == State::kUntilClose; }

 private:
  enum class State { kHeader, kBody, kChunkSize, kChunkData, kTrailer, kUntilClose };
  static constexpr size_t kMaxHeader = size_t{1} << 20U;

  // One step each: consume what the current state can; set `progressed` when the next state
  // should run at once on the same bytes.
  Result parseHeaderBlock(std::string_view buf, size_t& pos, bool& progressed);
  Result skipBody(std::string_view buf, size_t& pos, bool& progressed);
  Result parseChunkSize(std::string_view buf, size_t& pos, bool& progressed);
  static Result parseTrailer(std::string_view buf, size_t& pos, bool& progressed);
  bool parseHeader(std::string_view head);

  State state_ = State::kHeader;
  int status_ = 0;
  uint64_t remaining_ = 0;
  bool keepAlive_ = true;
  bool chunked_ = false;
  bool haveLength_ = false;
};

}  // namespace gssgate::bench
