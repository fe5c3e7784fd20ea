#include "proxy/server/request_framing.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace gssgate::proxy {
namespace {

namespace http = boost::beast::http;

using Fields = std::initializer_list<std::pair<const char*, const char*>>;

http::fields make(Fields list) {
  http::fields f;
  f.insert(http::field::host, "example.com");
  for (const auto& [name, value] : list) f.insert(name, value);
  return f;
}

// checkFraming's reason, or "ok".
std::string framing(Fields list, unsigned version = 11) {
  const char* why = checkFraming(make(list), version);
  return why == nullptr ? "ok" : why;
}

TEST(CheckFraming, PlainRequestsAreFine) {
  EXPECT_EQ(framing({}), "ok");
  EXPECT_EQ(framing({}, 10), "ok");
  EXPECT_EQ(framing({{"Content-Length", "0"}}), "ok");
  EXPECT_EQ(framing({{"Content-Length", "42"}}), "ok");
  EXPECT_EQ(framing({{"Content-Length", "42"}}, 10), "ok");
  EXPECT_EQ(framing({{"content-length", "007"}}), "ok");
  EXPECT_EQ(framing({{"Content-Length", "999999999999999999"}}), "ok");  // 18 digits
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}}), "ok");
  EXPECT_EQ(framing({{"transfer-encoding", "Chunked"}}), "ok");
  EXPECT_EQ(framing({{"TRANSFER-ENCODING", "CHUNKED"}}), "ok");
  EXPECT_EQ(framing({{"Transfer-Encoding", " chunked\t"}}), "ok");
}

TEST(CheckFraming, ContentLengthWithTransferEncoding) {
  EXPECT_EQ(framing({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}),
            "content_length_with_chunked");
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}, {"Content-Length", "0"}}),
            "content_length_with_chunked");
  EXPECT_NE(framing({{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, 10), "ok");
  EXPECT_NE(framing({{"Transfer-Encoding", "gzip"}, {"Content-Length", "5"}}), "ok");
}

TEST(CheckFraming, TransferEncodingOtherThanExactlyOneChunked) {
  for (const char* te :
       {"gzip", "gzip, chunked", "chunked, gzip", "chunked, chunked", "chunked,chunked", "chunked,",
        ",chunked", "identity", "", " ", "chunked;q=1", "xchunked", "chunkedx", "chunked chunked",
        "\"chunked\"", "deflate", "compress, chunked"}) {
    EXPECT_EQ(framing({{"Transfer-Encoding", te}}), "bad_transfer_encoding") << "'" << te << "'";
  }
}

TEST(CheckFraming, TwoTransferEncodingFields) {
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}),
            "bad_transfer_encoding");
  EXPECT_EQ(framing({{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}),
            "bad_transfer_encoding");
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}, {"transfer-encoding", "identity"}}),
            "bad_transfer_encoding");
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}, {"TRANSFER-ENCODING", "chunked"}}),
            "bad_transfer_encoding");
}

TEST(CheckFraming, TransferEncodingOnHttp10) {
  EXPECT_EQ(framing({{"Transfer-Encoding", "chunked"}}, 10), "chunked_on_http10");
  EXPECT_NE(framing({{"Transfer-Encoding", "gzip"}}, 10), "ok");
}

TEST(CheckFraming, DuplicateOrConflictingContentLength) {
  EXPECT_EQ(framing({{"Content-Length", "5"}, {"Content-Length", "5"}}),
            "duplicate_content_length");
  EXPECT_EQ(framing({{"Content-Length", "5"}, {"Content-Length", "6"}}),
            "duplicate_content_length");
  EXPECT_EQ(framing({{"Content-Length", "0"}, {"content-length", "0"}}),
            "duplicate_content_length");
  EXPECT_EQ(framing({{"Content-Length", "5"}, {"Content-Length", "5"}, {"Content-Length", "5"}}),
            "duplicate_content_length");
  EXPECT_NE(framing({{"Content-Length", "5"}, {"Content-Length", "x"}}), "ok");
}

TEST(CheckFraming, ContentLengthMustBeOneDecimalNumber) {
  for (const char* cl : {"", " ", "+5", "-5", "-0", "5, 5", "5,5", "5 5", "0x10", "1e3", "5.0",
                         "five", "５", "1_000", "5;", "\t", "9999999999999999999",  // 19 digits
                         "18446744073709551616", "99999999999999999999999999999999"}) {
    EXPECT_EQ(framing({{"Content-Length", cl}}), "bad_content_length") << "'" << cl << "'";
  }
}

TEST(CheckFraming, OnlyHttp10And11) {
  for (unsigned version : {0u, 9u, 1u, 2u, 12u, 19u, 20u, 30u, 100u, 110u}) {
    EXPECT_EQ(framing({}, version), "unsupported_http_version") << version;
  }
}

TEST(ObsoleteLineFolding, FoldedFieldsAreFound) {
  EXPECT_STREQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"),
               "obsolete_line_folding");
  EXPECT_STREQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n"),
               "obsolete_line_folding");
  // Folding the first field onto the request line.
  EXPECT_STREQ(obsoleteLineFolding("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), "obsolete_line_folding");
  // A fold of only whitespace, and folds with bare LF line ends.
  EXPECT_STREQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n"),
               "obsolete_line_folding");
  EXPECT_STREQ(obsoleteLineFolding("GET / HTTP/1.1\nHost: a\nX: b\n c\n\n"),
               "obsolete_line_folding");
  // A folded Transfer-Encoding (the classic smuggling form).
  EXPECT_STREQ(
      obsoleteLineFolding("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"),
      "obsolete_line_folding");
}

TEST(ObsoleteLineFolding, OrdinaryHeadersAreNotFolds) {
  EXPECT_EQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), nullptr);
  EXPECT_EQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost: a\r\nX-A: one two\t three \r\n\r\n"),
            nullptr);
  EXPECT_EQ(obsoleteLineFolding("GET / HTTP/1.1\r\nHost:  spaced\r\nX:\tb\r\n\r\n"), nullptr);
  EXPECT_EQ(obsoleteLineFolding(""), nullptr);
  EXPECT_EQ(obsoleteLineFolding("GET / HTTP/1.0\r\n\r\n"), nullptr);
}

}  // namespace
}  // namespace gssgate::proxy
