#include "proxy/server/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/strings.h"

namespace gssgate::proxy {

namespace ssl = boost::asio::ssl;

namespace {

// The newest OpenSSL error as text (the queue is cleared), or `fallback`.
std::string opensslError(const boost::system::error_code& ec) {
  unsigned long e = ERR_peek_last_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
  }
  return ec.message();
}

void harden(ssl::context& ctx, bool tls13_only) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: forward-secret AEAD suites only.
  SSL_CTX_set_cipher_list(native,
                          "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!MD5:!DSS");
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> makeServerTlsContext(const TlsOptions& opts) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  harden(*ctx, opts.tls13_only);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(opts.cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        strCat("tls.cert_file ", opts.cert_file, ": cannot use it: ", opensslError(ec)));
  }
  ctx->use_private_key_file(opts.key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        strCat("tls.key_file ", opts.key_file, ": cannot use it: ", opensslError(ec)));
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(strCat(
        "tls.key_file ", opts.key_file, " does not match the certificate in ", opts.cert_file));
  }
  // Sessions are resumed with tickets (stateless); no server-side cache to grow.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
  return ctx;
}

absl::StatusOr<std::shared_ptr<ssl::context>> makeUpstreamTlsContext(
    const UpstreamTlsOptions& opts) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  harden(*ctx, false);
  boost::system::error_code ec;
  if (opts.ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(opts.ca_file, ec);
  }
  if (ec) {
    return absl::InvalidArgumentError(strCat(
        "upstream_tls.ca_file ", opts.ca_file.empty() ? "(system trust store)" : opts.ca_file,
        ": cannot load it: ", opensslError(ec)));
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

}  // namespace gssgate::proxy
