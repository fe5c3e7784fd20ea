#include "broker/credentials/redeemer.h"

#include "broker/credentials/ccache_format.h"
#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

struct CredsOwner {
  krb5_context ctx;
  krb5_creds* creds = nullptr;
  ~CredsOwner() {
    if (creds != nullptr) krb5_free_creds(ctx, creds);
  }
};

absl::Status unmarshal(krb5_context ctx, const SecretString& bytes, CredsOwner& out) {
  krb5_data d{};
  d.magic = KV5M_DATA;
  d.length = static_cast<unsigned int>(bytes.size());
  d.data = const_cast<char*>(bytes.str().data());
  if (krb5_error_code code = krb5_unmarshal_credentials(ctx, &d, &out.creds); code != 0) {
    return absl::InternalError(
        strCat("stored credential unreadable: ", krb5ErrorMessage(ctx, code)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> normalizeService(std::string_view service) {
  std::string s(service);
  if (s.empty() || s.size() > 512)
    return absl::InvalidArgumentError("service name empty or too long");
  for (unsigned char c : s) {
    if (c < 0x21 || c == 0x7f || c == '\\') {
      return absl::InvalidArgumentError("service name holds spaces, control bytes or '\\'");
    }
  }
  const auto slash = s.find('/');
  const auto at = s.find('@');
  if (slash == std::string::npos && at != std::string::npos &&
      s.find('@', at + 1) == std::string::npos) {
    s[at] = '/';  // host-based form service@host (a second '@' would be a realm)
  } else if (at != std::string::npos) {
    return absl::InvalidArgumentError(
        "give the service without a realm, e.g. postgres/db.example.com");
  }
  const auto first = s.find('/');
  if (first == std::string::npos || first == 0 || first + 1 == s.size() ||
      s.find('/', first + 1) != std::string::npos) {
    return absl::InvalidArgumentError(
        strCat("service must look like service/host, e.g. postgres/db.example.com"));
  }
  return s;
}

absl::StatusOr<RedeemOutput> Redeemer::redeem(StoredCredential& cred, const std::string& service,
                                              bool include_tgt, int64_t now) const {
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return absl::InternalError("krb5 context unavailable (krb5.conf?)");
  CredsOwner tgt{ctx};
  if (auto st = unmarshal(ctx, cred.tgt, tgt); !st.ok()) return st;
  if (static_cast<int64_t>(static_cast<uint32_t>(tgt.creds->times.endtime)) <= now) {
    return absl::NotFoundError("the user's credential has expired");
  }

  RedeemOutput out;
  SecretString serviceBytes;
  {
    std::lock_guard lock(cred.mu);
    auto it = cred.service_tickets.find(service);
    if (it != cred.service_tickets.end() && it->second.expires_at - now > min_remaining_.count()) {
      serviceBytes = SecretString(it->second.creds.str());
      out.expires_at = it->second.expires_at;
      out.from_cache = true;
    }
  }
  CredsOwner svc{ctx};
  if (out.from_cache) {
    if (auto st = unmarshal(ctx, serviceBytes, svc); !st.ok()) return st;
  } else {
    const krb5_data& realm = tgt.creds->client->realm;
    std::string full = strCat(service, "@", std::string_view(realm.data, realm.length));
    auto fetched = source_.fetch(cred.tgt, full);
    if (!fetched.ok()) return fetched.status();
    if (auto st = unmarshal(ctx, *fetched, svc); !st.ok()) return st;
    // The KDC honours a TGT up to its clock skew past the end and then issues a service ticket
    // that has already ended: useless to the caller, and the user's credential is gone.
    if (static_cast<int64_t>(static_cast<uint32_t>(svc.creds->times.endtime)) <= now) {
      return absl::NotFoundError("the user's credential has expired");
    }
    CachedServiceTicket cached;
    cached.creds = std::move(*fetched);
    cached.expires_at = static_cast<int64_t>(static_cast<uint32_t>(svc.creds->times.endtime));
    out.expires_at = cached.expires_at;
    std::lock_guard lock(cred.mu);
    cred.service_tickets[service] = std::move(cached);
  }

  std::vector<const krb5_creds*> list{svc.creds};
  if (include_tgt) list.push_back(tgt.creds);
  auto bytes = serializeCcache(ctx, tgt.creds->client, list);
  if (!bytes.ok()) return bytes.status();
  out.ccache = std::move(*bytes);
  out.principal = cred.principal;
  return out;
}

}  // namespace gssgate::broker
