#include "common/admin_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace gssgate {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends `request` to 127.0.0.1:port and returns everything the server wrote until it closed.
std::string exchange(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)::send(fd, request.data(), request.size(), 0);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::unique_ptr<AdminServer> startTestServer() {
  auto server = AdminServer::start({"127.0.0.1", 0}, [](std::string_view target) {
    if (target == "/healthz") return AdminResponse{.body = "ok\n"};
    if (target == "/metrics") {
      return AdminResponse{.content_type = std::string(kPrometheusContentType),
                           .body = "x_total 1\n"};
    }
    return AdminResponse{.status = 404, .body = "not found\n"};
  });
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(AdminServer, AnswersGetWithTheHandlersResponse) {
  auto server = startTestServer();
  ASSERT_TRUE(server);
  ASSERT_NE(server->port(), 0);
  const std::string ok = exchange(server->port(),
                                  "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Cache-Control: no-store\r\n"));
  EXPECT_THAT(ok, HasSubstr("\r\n\r\nok\n"));
  const std::string m = exchange(server->port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_THAT(m, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(m, HasSubstr("x_total 1\n"));
  EXPECT_THAT(exchange(server->port(), "GET /nope HTTP/1.0\r\n\r\n"),
              StartsWith("HTTP/1.0 404 Not Found\r\n"));
}

TEST(AdminServer, RefusesOtherMethodsAndKeepsServing) {
  auto server = startTestServer();
  ASSERT_TRUE(server);
  EXPECT_THAT(exchange(server->port(), "POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n"),
              StartsWith("HTTP/1.0 405 Method Not Allowed\r\n"));
  const std::string head = exchange(server->port(), "HEAD /healthz HTTP/1.0\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "");  // no body for HEAD
  // Garbage and an oversized header: the connection is closed, the server lives on.
  EXPECT_EQ(exchange(server->port(), "\x16\x03\x01 garbage\r\n\r\n"), "");
  EXPECT_EQ(
      exchange(server->port(), "GET / HTTP/1.0\r\nX: " + std::string(20000, 'a') + "\r\n\r\n"), "");
  EXPECT_THAT(exchange(server->port(), "GET /healthz HTTP/1.0\r\n\r\n"),
              StartsWith("HTTP/1.0 200 OK\r\n"));
}

TEST(AdminServer, KeepAliveServesSeveralRequests) {
  auto server = startTestServer();
  ASSERT_TRUE(server);
  const std::string two = exchange(server->port(),
                                   "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(two, HasSubstr("ok\n"));
  EXPECT_THAT(two, HasSubstr("x_total 1\n"));
}

TEST(AdminServer, ClearErrorsForBadAddressesAndBusyPorts) {
  auto name = AdminServer::start({"localhost", 0}, {});
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(std::string(name.status().message()), HasSubstr("must be an IP address"));
  auto first = startTestServer();
  ASSERT_TRUE(first);
  auto second = AdminServer::start({"127.0.0.1", first->port()}, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen on admin_listen"));
}

TEST(AdminServer, StopClosesThePortAndIsIdempotent) {
  auto server = startTestServer();
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  server->stop();
  server->stop();
  EXPECT_EQ(exchange(port, "GET /healthz HTTP/1.0\r\n\r\n"), "connect failed");
}

}  // namespace
}  // namespace gssgate
