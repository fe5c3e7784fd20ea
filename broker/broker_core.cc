#include "broker/broker_core.h"

#include <openssl/evp.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

#include "broker/credentials/deposit_parser.h"
#include "broker/policy.h"
#include "common/aead.h"
#include "common/base64.h"
#include "common/krb5_thread_context.h"
#include "common/log_event.h"
#include "common/logging.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

const std::shared_ptr<spdlog::logger>& audit() {
  static const auto l = logger("audit");
  return l;
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Same answer for every kind of bad handle: the broker must not be an oracle.
absl::Status handleNotFound() { return absl::NotFoundError("handle not found or expired"); }

std::string idText(std::string_view id) { return base64UrlEncode(id); }

}  // namespace

absl::StatusOr<HandleKey> loadHandleKey(const std::string& file) {
  HandleKey k;
  if (file.empty()) {
    k.key = Aead::randomKey();
    std::string id = randomBytes(4);
    for (char c : id) k.id = (k.id << 8) | static_cast<uint8_t>(c);
    return k;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(strCat("handle_key_file ", file, ": cannot read"));
  std::stringstream ss;
  ss << in.rdbuf();
  SecretString raw(ss.str());
  std::string text(trimAscii(raw.str()));
  SecretString key;
  if (raw.size() == Aead::kKeyBytes) {
    key = SecretString(raw.str());
  } else if (text.size() == 2 * Aead::kKeyBytes) {
    std::string bytes;
    for (size_t i = 0; i < text.size(); i += 2) {
      // from_chars, not stoi: stoi throws on non-hex and accepts "0x", signs and spaces.
      uint8_t byte = 0;
      const char* end = text.data() + i + 2;
      auto [p, ec] = std::from_chars(text.data() + i, end, byte, 16);
      if (ec != std::errc() || p != end) {
        secureWipe(bytes);
        secureWipe(text);
        return absl::InvalidArgumentError(
            strCat("handle_key_file ", file, ": expected 32 raw bytes or 64 hex characters"));
      }
      bytes += static_cast<char>(byte);
    }
    key = SecretString(std::move(bytes));
  } else {
    secureWipe(text);
    return absl::InvalidArgumentError(
        strCat("handle_key_file ", file, ": expected 32 raw bytes or 64 hex characters"));
  }
  secureWipe(text);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(key.str().data(), key.size(), md, &len, EVP_sha256(), nullptr);
  k.id = (uint32_t{md[0]} << 24) | (uint32_t{md[1]} << 16) | (uint32_t{md[2]} << 8) | md[3];
  k.key = std::move(key);
  return k;
}

BrokerCore::BrokerCore(std::shared_ptr<const BrokerConfig> config,
                       std::unique_ptr<CredentialStore> store, HandleKey key)
    : config_(std::move(config)),
      store_(std::move(store)),
      key_(std::move(key)),
      codec_(key_.id, key_.key.str()),
      tickets_(std::make_unique<DeadlineTicketSource>(
          std::make_shared<KdcTicketSource>(), config_->kdc_timeout, config_->max_kdc_requests)) {}

std::shared_ptr<const BrokerConfig> BrokerCore::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

void BrokerCore::setConfig(std::shared_ptr<const BrokerConfig> config) {
  tickets_->setTimeout(config->kdc_timeout);
  std::lock_guard lock(mu_);
  config_ = std::move(config);
}

absl::StatusOr<DepositResult> BrokerCore::deposit(const PeerCred& peer,
                                                  const std::string& principal,
                                                  const std::string& tgt) {
  const auto started = std::chrono::steady_clock::now();
  auto out = depositChecked(peer, principal, tgt);
  counters_.deposit_seconds.observe(std::chrono::steady_clock::now() - started);
  return out;
}

absl::StatusOr<DepositResult> BrokerCore::depositChecked(const PeerCred& peer,
                                                         const std::string& principal,
                                                         const std::string& tgt) {
  const auto cfg = config();
  const int64_t now = nowSeconds();
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return absl::InternalError("krb5 context unavailable");
  auto parsed = parseDeposit(ctx, principal, tgt, now);
  if (!parsed.ok()) {
    counters_.deposits_refused.fetch_add(1, std::memory_order_relaxed);
    LogEvent("deposit refused")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("principal", principal)
        .add("reason", messageOf(parsed.status()))
        .emit(*audit(), spdlog::level::warn);
    return parsed.status();
  }
  auto cred = std::make_shared<StoredCredential>();
  cred->id = randomBytes(HandleCodec::kCredentialIdBytes);
  cred->principal = parsed->principal;
  cred->tgt = std::move(parsed->marshaled);
  cred->deposited_at = now;
  cred->expires_at = parsed->end_time;
  if (cfg->max_credential_lifetime.count() > 0) {
    cred->expires_at = std::min(cred->expires_at, now + cfg->max_credential_lifetime.count());
  }
  DepositResult out;
  out.credential_id = cred->id;
  out.expires_at = cred->expires_at;
  out.handle = codec_.seal(
      {cred->id, cred->principal, std::min(cred->expires_at, now + cfg->handle_ttl.count())});
  const std::string who = cred->principal;
  if (auto st = store_->put(std::move(cred)); !st.ok()) {
    counters_.deposits_refused.fetch_add(1, std::memory_order_relaxed);
    LogEvent("deposit failed")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("principal", who)
        .add("reason", messageOf(st))
        .emit(*audit(), spdlog::level::err);
    return st;
  }
  counters_.deposits_ok.fetch_add(1, std::memory_order_relaxed);
  LogEvent("deposit")
      .add("uid", peer.uid)
      .add("pid", peer.pid)
      .add("principal", who)
      .add("credential", idText(out.credential_id))
      .add("expires_in_s", out.expires_at - now)
      .emit(*audit(), spdlog::level::info);
  return out;
}

absl::StatusOr<RedeemOutput> BrokerCore::redeem(const PeerCred& peer, const std::string& handle,
                                                const std::string& service) {
  const auto started = std::chrono::steady_clock::now();
  auto out = redeemChecked(peer, handle, service);
  counters_.redeem_seconds.observe(std::chrono::steady_clock::now() - started);
  return out;
}

absl::StatusOr<RedeemOutput> BrokerCore::redeemChecked(const PeerCred& peer,
                                                       const std::string& handle,
                                                       const std::string& service) {
  const auto cfg = config();
  const int64_t now = nowSeconds();
  auto refuse = [&](const char* why, absl::Status st) {
    LogEvent("redeem refused")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("service", service)
        .add("reason", why)
        .emit(*audit(), spdlog::level::warn);
    return st;
  };
  // Service and policy are checked before the handle, so a caller that policy grants
  // nothing learns nothing about whether a handle it holds is genuine.
  auto normalized = normalizeService(service);
  if (!normalized.ok()) {
    counters_.redeems_failed.fetch_add(1, std::memory_order_relaxed);
    return refuse("bad_service", normalized.status());
  }
  PolicyDecision decision = decide(cfg->policy, peer.uid, *normalized);
  if (!decision.allowed) {
    counters_.redeems_denied.fetch_add(1, std::memory_order_relaxed);
    LogEvent("redeem denied")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("service", *normalized)
        .add("reason", "policy")
        .emit(*audit(), spdlog::level::warn);
    return absl::PermissionDeniedError(strCat("service ", *normalized, " is not granted to uid ",
                                              peer.uid, " by the broker's policy"));
  }
  auto claims = codec_.open(handle, now);
  if (!claims) {
    counters_.redeems_not_found.fetch_add(1, std::memory_order_relaxed);
    return refuse(HandleCodec::peekKeyId(handle) ? "handle_invalid_or_expired" : "handle_malformed",
                  handleNotFound());
  }
  auto cred = store_->find(claims->credential_id);
  if (!cred || cred->principal != claims->principal || cred->expires_at <= now) {
    counters_.redeems_not_found.fetch_add(1, std::memory_order_relaxed);
    return refuse("credential_gone", handleNotFound());
  }
  Redeemer redeemer(cfg->service_ticket_min_remaining, *tickets_);
  auto out = redeemer.redeem(*cred, *normalized, decision.allow_tgt, now);
  if (!out.ok()) {
    counters_.redeems_failed.fetch_add(1, std::memory_order_relaxed);
    LogEvent("redeem failed")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("principal", cred->principal)
        .add("service", *normalized)
        .add("reason", messageOf(out.status()))
        .emit(*audit(), spdlog::level::warn);
    return out.status();
  }
  cred->redemptions.fetch_add(1, std::memory_order_relaxed);
  counters_.redeems_ok.fetch_add(1, std::memory_order_relaxed);
  if (out->from_cache) counters_.redeems_cached.fetch_add(1, std::memory_order_relaxed);
  LogEvent("redeem")
      .add("uid", peer.uid)
      .add("pid", peer.pid)
      .add("principal", cred->principal)
      .add("service", *normalized)
      .add("credential", idText(cred->id))
      .add("tgt", decision.allow_tgt)
      .add("cached", out->from_cache)
      .emit(*audit(), spdlog::level::info);
  return out;
}

absl::Status BrokerCore::revoke(const PeerCred& peer, const std::string& handle) {
  // An expired handle may still revoke its credential (logout after a long idle).
  auto claims = codec_.open(handle, 0);
  if (!claims) {
    LogEvent("revoke refused")
        .add("uid", peer.uid)
        .add("pid", peer.pid)
        .add("reason", "handle_invalid")
        .emit(*audit(), spdlog::level::warn);
    return absl::OkStatus();
  }
  auto cred = store_->find(claims->credential_id);
  if (cred && cred->principal == claims->principal) {
    store_->remove(claims->credential_id);
    counters_.revocations.fetch_add(1, std::memory_order_relaxed);
  }
  LogEvent("revoke")
      .add("uid", peer.uid)
      .add("pid", peer.pid)
      .add("principal", claims->principal)
      .add("credential", idText(claims->credential_id))
      .add("found", cred != nullptr)
      .emit(*audit(), spdlog::level::info);
  return absl::OkStatus();
}

absl::Status BrokerCore::revokeCredential(const PeerCred& peer, const std::string& credential_id) {
  auto cred = store_->find(credential_id);
  if (!cred) return absl::NotFoundError("no such credential");
  store_->remove(credential_id);
  counters_.revocations.fetch_add(1, std::memory_order_relaxed);
  LogEvent("revoke")
      .add("uid", peer.uid)
      .add("pid", peer.pid)
      .add("principal", cred->principal)
      .add("credential", idText(credential_id))
      .add("by", "admin")
      .emit(*audit(), spdlog::level::info);
  return absl::OkStatus();
}

size_t BrokerCore::sweep() {
  size_t n = store_->sweep(nowSeconds());
  if (n != 0) {
    counters_.swept.fetch_add(n, std::memory_order_relaxed);
    LogEvent("sweep").add("wiped", n).emit(*audit(), spdlog::level::info);
  }
  return n;
}

}  // namespace gssgate::broker
