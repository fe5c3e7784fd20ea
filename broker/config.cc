#include "broker/config.h"

#include <grp.h>
#include <pwd.h>

#include <charconv>

#include "common/config_reader.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

std::string socketPath(ConfigReader& r, std::string_view key) {
  std::string v = r.requiredString(key);
  if (v.starts_with("unix:")) v = v.substr(5);
  if (!v.empty() && v.front() != '/') {
    r.error(key, strCat("expected unix:/absolute/path or /absolute/path, got '", v, "'"));
  }
  return v;
}

std::optional<uint32_t> parseId(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

void readSocketOptions(ConfigReader r, SocketOptions& out, mode_t fallback) {
  std::string mode = r.string("mode", "");
  out.mode = fallback;
  if (!mode.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), v, 8);
    if (ec != std::errc() || p != mode.data() + mode.size() || v > 0777 || (v & 0007) != 0) {
      r.error("mode", strCat("expected an octal mode such as \"0660\" with no access for "
                             "others, got '",
                             mode, "'"));
    } else {
      out.mode = static_cast<mode_t>(v);
    }
  }
  if (auto owner = r.optionalString("owner")) {
    if (auto id = parseId(*owner)) {
      out.owner = *id;
    } else if (const passwd* pw = ::getpwnam(owner->c_str())) {
      out.owner = pw->pw_uid;
    } else {
      r.error("owner", strCat("no such user '", *owner, "'"));
    }
  }
  if (auto grp = r.optionalString("group")) {
    if (auto id = parseId(*grp)) {
      out.group = *id;
    } else if (const struct group* gr = ::getgrnam(grp->c_str())) {
      out.group = gr->gr_gid;
    } else {
      r.error("group", strCat("no such group '", *grp, "'"));
    }
  }
}

std::chrono::seconds seconds(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::seconds>(ms);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const BrokerConfig>> loadBrokerConfig(const std::string& file) {
  auto reader = ConfigReader::load(file);
  if (!reader.ok()) return reader.status();
  ConfigReader& r = *reader;
  auto cfg = std::make_shared<BrokerConfig>();
  cfg->file = file;
  cfg->backend.path = socketPath(r, "listen");
  cfg->deposit.path = socketPath(r, "deposit_listen");
  if (!cfg->backend.path.empty() && cfg->backend.path == cfg->deposit.path) {
    r.error("deposit_listen", "must differ from 'listen': the proxy's socket is separate");
  }
  auto sockets = r.section("sockets");
  readSocketOptions(sockets.section("listen"), cfg->backend, 0660);
  readSocketOptions(sockets.section("deposit_listen"), cfg->deposit, 0600);

  for (auto& p : r.sectionList("policy")) {
    PolicyEntry e;
    std::string uid = p.requiredString("uid");
    if (uid != "any" && !uid.empty()) {
      if (auto id = parseId(uid)) {
        e.uid = *id;
      } else if (const passwd* pw = ::getpwnam(uid.c_str())) {
        e.uid = pw->pw_uid;
      } else {
        p.error("uid", strCat("expected a uid number, a user name or 'any', got '", uid, "'"));
      }
    }
    e.services = p.stringList("services");
    if (e.services.empty()) p.error("services", "must list at least one service glob");
    for (const auto& s : e.services) {
      if (s.find('@') != std::string::npos) {
        p.error("services",
                strCat("give services as service/host globs without a realm, got '", s, "'"));
      }
    }
    e.allow_tgt = p.boolean("allow_tgt", false);
    cfg->policy.push_back(std::move(e));
  }

  if (r.has("admin_listen")) {
    HostPort admin;
    readListenAddress(r, "admin_listen", admin, false);
    if (!admin.host.empty()) cfg->admin_listen = admin;
  }
  cfg->handle_ttl = seconds(r.duration("handle_ttl", std::chrono::minutes(5)));
  if (cfg->handle_ttl.count() < 1 || cfg->handle_ttl > std::chrono::hours(24)) {
    r.error("handle_ttl", "must be between 1s and 24h");
  }
  cfg->handle_key_file = r.string("handle_key_file", "");
  std::string store = r.string("store", "memory");
  if (store == "memory") {
  } else if (store.starts_with("dir:") && store.size() > 5 && store[4] == '/') {
    cfg->store_dir = store.substr(4);
  } else {
    r.error("store", strCat("expected 'memory' or 'dir:/absolute/path', got '", store, "'"));
  }
  cfg->max_credential_lifetime = seconds(r.duration("max_credential_lifetime", {}));
  cfg->service_ticket_min_remaining =
      seconds(r.duration("service_ticket_min_remaining", std::chrono::minutes(2)));
  cfg->sweep_interval = seconds(r.duration("sweep_interval", std::chrono::seconds(30)));
  if (cfg->sweep_interval.count() < 1) r.error("sweep_interval", "must be at least 1s");
  cfg->kdc_timeout = r.duration("kdc_timeout", cfg->kdc_timeout);
  if (cfg->kdc_timeout < std::chrono::milliseconds(100) ||
      cfg->kdc_timeout > std::chrono::minutes(5)) {
    r.error("kdc_timeout", "must be between 100ms and 5m");
  }
  auto limits = r.section("limits");
  cfg->max_credentials = static_cast<size_t>(limits.integer(
      "max_credentials", static_cast<int64_t>(cfg->max_credentials), 1, 100'000'000));
  cfg->max_kdc_requests = static_cast<size_t>(
      limits.integer("max_kdc_requests", static_cast<int64_t>(cfg->max_kdc_requests), 1, 10'000));
  cfg->max_message_bytes = static_cast<size_t>(
      limits.byteSize("max_message_bytes", cfg->max_message_bytes, 4096, 16u << 20));
  cfg->log = readLogOptions(r.section("log"));
  if (auto st = r.finish(); !st.ok()) return st;
  return std::shared_ptr<const BrokerConfig>(std::move(cfg));
}

}  // namespace gssgate::broker
