// Hand-built Kerberos credentials for client tests: a service ticket with dummy ticket bytes
// and a dummy session key, good enough for GSS-API to name the client and to build an AP-REQ
// (the ticket is opaque to a client), without any KDC.
//
//   std::string bytes = *fakeCcacheBytes("alice@TEST", "postgres/db@TEST");  // FILE format
//
// Thread-safety: each call uses its own krb5 context. (Test code: raw krb5 frees are fine here.)
#pragma once

#include <fcntl.h>
#include <krb5/krb5.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/krb5_handles.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::testing {

inline absl::Status krb5Check(krb5_context ctx, krb5_error_code code, std::string_view what) {
  if (code == 0) return absl::OkStatus();
  return absl::InternalError(strCat(what, ": ", krb5ErrorMessage(ctx, code)));
}

namespace fake_ccache_detail {

// DER tag-length-value.
inline std::string tlv(unsigned char tag, const std::string& content) {
  std::string out(1, static_cast<char>(tag));
  const size_t n = content.size();
  if (n < 0x80) {
    out += static_cast<char>(n);
  } else {
    std::string len;
    for (size_t v = n; v != 0; v >>= 8) len.insert(len.begin(), static_cast<char>(v & 0xffU));
    out += static_cast<char>(0x80U | len.size());
    out += len;
  }
  return out + content;
}
inline std::string derInt(unsigned char v) {
  return tlv(0x02, std::string(1, static_cast<char>(v)));
}
inline std::string ctx(int n, const std::string& content) {
  return tlv(static_cast<unsigned char>(0xa0 + n), content);
}

}  // namespace fake_ccache_detail

// A syntactically valid RFC 4120 Ticket for `server` whose encrypted part is dummy bytes: a
// client only copies a ticket into the AP-REQ, so it never notices.
inline std::string fakeTicket(krb5_const_principal server) {
  using namespace fake_ccache_detail;  // NOLINT(google-build-using-namespace)
  std::string names;
  for (krb5_int32 i = 0; i < server->length; ++i) {
    names += tlv(0x1b, std::string(server->data[i].data, server->data[i].length));
  }
  const std::string sname = tlv(
      0x30, ctx(0, derInt(static_cast<unsigned char>(server->type))) + ctx(1, tlv(0x30, names)));
  const std::string enc_part =
      tlv(0x30, ctx(0, derInt(ENCTYPE_AES256_CTS_HMAC_SHA1_96)) + ctx(1, derInt(1)) +
                    ctx(2, tlv(0x04, std::string(64, '\x5a'))));
  const std::string realm(server->realm.data, server->realm.length);
  return tlv(0x61, tlv(0x30, ctx(0, derInt(5)) + ctx(1, tlv(0x1b, realm)) + ctx(2, sname) +
                                 ctx(3, enc_part)));
}

// Initialises `ccache` for `client` and stores one credential client → `server`, valid for
// `lifetime` seconds from now.
inline absl::Status storeFakeCredential(krb5_context ctx, krb5_ccache ccache,
                                        const std::string& client, const std::string& server,
                                        krb5_deltat lifetime = 3600) {
  Krb5Principal client_princ(ctx);
  Krb5Principal server_princ(ctx);
  if (auto st = krb5Check(ctx, krb5_parse_name(ctx, client.c_str(), client_princ.out()), "client");
      !st.ok()) {
    return st;
  }
  if (auto st = krb5Check(ctx, krb5_parse_name(ctx, server.c_str(), server_princ.out()), "server");
      !st.ok()) {
    return st;
  }
  std::array<krb5_octet, 32> key{};
  key.fill(0x42);
  std::string ticket = fakeTicket(server_princ.get());
  krb5_creds creds{};
  creds.magic = KV5M_CREDS;
  creds.client = client_princ.get();
  creds.server = server_princ.get();
  creds.keyblock.magic = KV5M_KEYBLOCK;
  creds.keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
  creds.keyblock.length = key.size();
  creds.keyblock.contents = key.data();
  const auto now = static_cast<krb5_timestamp>(std::time(nullptr));
  creds.times.authtime = now;
  creds.times.starttime = now;
  creds.times.endtime = now + lifetime;
  creds.ticket.magic = KV5M_DATA;
  creds.ticket.length = static_cast<unsigned int>(ticket.size());
  creds.ticket.data = ticket.data();
  if (auto st = krb5Check(ctx, krb5_cc_initialize(ctx, ccache, client_princ.get()), "initialize");
      !st.ok()) {
    return st;
  }
  return krb5Check(ctx, krb5_cc_store_cred(ctx, ccache, &creds), "store");
}

// The MIT FILE-format bytes of a ccache for `client` holding one ticket for `server`, written
// by MIT's own FILE ccache code. (krb5_cc_initialize unlinks and re-creates the file with
// O_EXCL, so it cannot write to a memfd; a private temp dir it is, removed before returning.)
inline absl::StatusOr<std::string> fakeCcacheBytes(const std::string& client,
                                                   const std::string& server) {
  absl::StatusOr<Krb5Context> ctx = Krb5Context::create();
  if (!ctx.ok()) return ctx.status();
  krb5_context k = ctx->get();
  Krb5DestroyingCcache mem(k);
  if (auto st = krb5Check(k, krb5_cc_new_unique(k, "MEMORY", nullptr, mem.out()), "new_unique");
      !st.ok()) {
    return st;
  }
  if (auto st = storeFakeCredential(k, mem.get(), client, server); !st.ok()) return st;

  std::string dir = "/tmp/gssgate-fake-ccache-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string path = dir + "/cc";
  absl::Status st = [&]() -> absl::Status {
    Krb5Ccache file(k);
    const std::string name = "FILE:" + path;
    if (auto s = krb5Check(k, krb5_cc_resolve(k, name.c_str(), file.out()), "resolve"); !s.ok()) {
      return s;
    }
    Krb5Principal princ(k);
    if (auto s = krb5Check(k, krb5_cc_get_principal(k, mem.get(), princ.out()), "principal");
        !s.ok()) {
      return s;
    }
    if (auto s = krb5Check(k, krb5_cc_initialize(k, file.get(), princ.get()), "file init");
        !s.ok()) {
      return s;
    }
    return krb5Check(k, krb5_cc_copy_creds(k, mem.get(), file.get()), "copy");
  }();
  std::string bytes;
  if (st.ok()) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::array<char, 4096> buf{};
    ssize_t n = 0;
    while (fd && (n = ::read(fd.get(), buf.data(), buf.size())) > 0) {
      bytes.append(buf.data(), static_cast<size_t>(n));
    }
    if (!fd || n < 0) st = absl::InternalError("cannot read the FILE ccache back");
  }
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  if (!st.ok()) return st;
  return bytes;
}

// The same kind of ccache serialised the way the broker does it (broker/credentials/
// ccache_format.cc): 0x0504, an empty header, the client principal, then each credential as
// krb5_marshal_credentials() output. Proves the SDK reads what the broker writes.
inline absl::StatusOr<std::string> brokerStyleCcacheBytes(const std::string& client,
                                                          const std::string& server) {
  absl::StatusOr<Krb5Context> ctx = Krb5Context::create();
  if (!ctx.ok()) return ctx.status();
  krb5_context k = ctx->get();
  Krb5DestroyingCcache mem(k);
  if (auto st = krb5Check(k, krb5_cc_new_unique(k, "MEMORY", nullptr, mem.out()), "new_unique");
      !st.ok()) {
    return st;
  }
  if (auto st = storeFakeCredential(k, mem.get(), client, server); !st.ok()) return st;
  Krb5Principal princ(k);
  if (auto st = krb5Check(k, krb5_cc_get_principal(k, mem.get(), princ.out()), "principal");
      !st.ok()) {
    return st;
  }
  auto put32 = [](std::string& out, uint32_t v) {
    for (unsigned shift = 32; shift != 0;) {
      shift -= 8;
      out += static_cast<char>((v >> shift) & 0xffU);
    }
  };
  std::string out("\x05\x04\x00\x00", 4);
  put32(out, static_cast<uint32_t>(princ.get()->type));
  put32(out, static_cast<uint32_t>(princ.get()->length));
  put32(out, princ.get()->realm.length);
  out.append(princ.get()->realm.data, princ.get()->realm.length);
  for (krb5_int32 i = 0; i < princ.get()->length; ++i) {
    put32(out, princ.get()->data[i].length);
    out.append(princ.get()->data[i].data, princ.get()->data[i].length);
  }
  krb5_cc_cursor cursor = nullptr;
  if (auto st = krb5Check(k, krb5_cc_start_seq_get(k, mem.get(), &cursor), "seq"); !st.ok()) {
    return st;
  }
  krb5_creds creds{};
  while (krb5_cc_next_cred(k, mem.get(), &cursor, &creds) == 0) {
    krb5_data* data = nullptr;
    const krb5_error_code code = krb5_marshal_credentials(k, &creds, &data);
    krb5_free_cred_contents(k, &creds);
    if (code != 0) {
      krb5_cc_end_seq_get(k, mem.get(), &cursor);
      return krb5Check(k, code, "marshal");
    }
    out.append(data->data, data->length);
    krb5_free_data(k, data);
  }
  krb5_cc_end_seq_get(k, mem.get(), &cursor);
  return out;
}

}  // namespace gssgate::testing
