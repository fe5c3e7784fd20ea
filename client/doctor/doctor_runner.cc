#include "client/doctor/doctor_runner.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <ostream>

#include "broker/config.h"
#include "client/doctor/kdc_check.h"
#include "client/doctor/keytab_check.h"
#include "client/doctor/policy_check.h"
#include "client/doctor/replay_cache_check.h"
#include "client/doctor/socket_check.h"
#include "common/strings.h"
#include "proxy/config.h"

namespace gssgate::client {
namespace {

// At most this many principals of a keytab without `acceptor` are tried against the KDC.
constexpr size_t kMaxKdcSubjects = 4;

std::optional<uid_t> resolveUid(const std::string& text) {
  uid_t uid = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (ec == std::errc() && end == text.data() + text.size()) return uid;
  // Called before any thread of ours exists (gRPC starts its threads with the first channel).
  const passwd* pw = ::getpwnam(text.c_str());  // NOLINT(concurrency-mt-unsafe)
  if (pw == nullptr) return std::nullopt;
  return pw->pw_uid;
}

// Up to three principals of the keytab other than `principal`, in its realm.
std::vector<std::string> otherPrincipals(const std::vector<KeytabEntryInfo>& entries,
                                         const std::string& principal) {
  constexpr size_t kMaxOthers = 3;
  const std::string realm = principal.substr(principal.rfind('@') + 1);
  std::vector<std::string> others;
  for (const KeytabEntryInfo& e : entries) {
    if (others.size() == kMaxOthers) break;
    if (e.principal == principal || !e.principal.ends_with(strCat("@", realm))) continue;
    if (std::find(others.begin(), others.end(), e.principal) == others.end()) {
      others.push_back(e.principal);
    }
  }
  return others;
}

std::string firstLine(std::string_view text) {
  const size_t nl = text.find('\n');
  std::string line(text.substr(0, nl));
  if (nl != std::string_view::npos) line += " (and more; run the daemon with --check-config)";
  return line;
}

void skipAll(DoctorReport& report, std::initializer_list<std::string_view> checks,
             std::string_view why) {
  for (std::string_view c : checks) {
    report.add({Verdict::kSkip, std::string(c), std::string(why), ""});
  }
}

void proxyChecks(const proxy::ProxyConfig& cfg, const broker::BrokerConfig* broker_cfg,
                 const DoctorOptions& options, DoctorReport& report) {
  std::vector<KeytabEntryInfo> entries;
  std::vector<std::string> subjects;
  for (CheckResult& r : checkKeytab(cfg.keytab, cfg.acceptor, entries, subjects)) {
    report.add(std::move(r));
  }
  if (subjects.empty()) {
    skipAll(report, {"kdc", "clock-skew", "kvno", "ok-as-delegate"},
            "not checked: no usable principal in the keytab");
  }
  for (size_t i = 0; i < subjects.size() && i < kMaxKdcSubjects; ++i) {
    const KdcFindings f = checkKdc({.keytab = cfg.keytab,
                                    .principal = subjects[i],
                                    .keytab_kvno = highestKvno(entries, subjects[i]),
                                    .broker_configured = !cfg.broker.empty(),
                                    .other_principals = otherPrincipals(entries, subjects[i])});
    report.add(f.kdc);
    if (i == 0 || f.skew.verdict == Verdict::kFail) report.add(f.skew);
    report.add(f.kvno);
    report.add(f.delegate);
  }

  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread of ours exists
  const char* env_name = std::getenv("KRB5RCACHENAME");
  const char* env_dir = std::getenv("KRB5RCACHEDIR");  // NOLINT(concurrency-mt-unsafe)
  report.add(
      checkReplayCache(resolveReplayCache(cfg.replay_cache, env_name, env_dir, ::geteuid())));

  if (cfg.broker.empty()) {
    report.add({Verdict::kOk, "proxy-broker",
                "no `broker` configured: sign-in works, delegated credentials are not kept", ""});
    return;
  }
  std::string path = cfg.broker.starts_with("unix:") ? cfg.broker.substr(5) : cfg.broker;
  if (broker_cfg != nullptr) {
    if (path == broker_cfg->backend.path) {
      report.add({Verdict::kFail, "proxy-broker",
                  strCat("the proxy's `broker` is ", path,
                         ", the broker's backend socket (`listen`): deposits are refused there"),
                  strCat("set the proxy's broker: unix:", broker_cfg->deposit.path,
                         " (the broker's `deposit_listen`)")});
    } else if (path != broker_cfg->deposit.path) {
      report.add({Verdict::kFail, "proxy-broker",
                  strCat("the proxy's `broker` is ", path, " but the broker's `deposit_listen` is ",
                         broker_cfg->deposit.path),
                  strCat("set the proxy's broker: unix:", broker_cfg->deposit.path)});
    } else {
      report.add({Verdict::kOk, "proxy-broker",
                  strCat("the proxy's `broker` is the broker's deposit socket ", path), ""});
    }
    return;  // the socket itself is checked with the broker's config below
  }
  const CheckResult file = checkSocketFile(
      {.name = "proxy-broker", .path = path, .config_key = "deposit_listen", .deposit = true});
  const bool usable = file.verdict != Verdict::kFail;
  report.add(file);
  if (usable) {
    report.add(checkBrokerHealth("broker:deposit_listen", path, options.timeout));
  } else {
    report.add({Verdict::kSkip, "broker:deposit_listen", "not checked: no socket", ""});
  }
}

void brokerChecks(const broker::BrokerConfig& cfg, const DoctorOptions& options,
                  std::optional<uid_t> sample_uid, DoctorReport& report) {
  struct Socket {
    const broker::SocketOptions* opts;
    std::string key;
    bool deposit;
  };
  for (const Socket& s :
       {Socket{&cfg.backend, "listen", false}, Socket{&cfg.deposit, "deposit_listen", true}}) {
    const CheckResult file = checkSocketFile({.name = strCat("socket:", s.key),
                                              .path = s.opts->path,
                                              .config_key = s.key,
                                              .mode = s.opts->mode,
                                              .owner = s.opts->owner,
                                              .group = s.opts->group,
                                              .deposit = s.deposit});
    struct stat st {};
    const bool present = ::lstat(s.opts->path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    report.add(file);
    if (present) {
      report.add(checkBrokerHealth(strCat("broker:", s.key), s.opts->path, options.timeout));
    } else {
      report.add({Verdict::kSkip, strCat("broker:", s.key), "not checked: no socket", ""});
    }
  }
  report.add(checkPolicy(cfg.policy, sample_uid, options.service));
}

}  // namespace

DoctorReport diagnose(const DoctorOptions& options) {
  DoctorReport report;
  std::shared_ptr<const broker::BrokerConfig> broker_cfg;
  if (!options.broker_config.empty()) {
    auto loaded = broker::loadBrokerConfig(options.broker_config);
    if (loaded.ok()) {
      broker_cfg = *loaded;
      report.add({Verdict::kOk, "broker-config", strCat(options.broker_config, " loads"), ""});
    } else {
      report.add({Verdict::kFail, "broker-config", firstLine(messageOf(loaded.status())),
                  strCat("correct the file; gssgate-broker --config ", options.broker_config,
                         " --check-config lists every error")});
    }
  }
  if (!options.proxy_config.empty()) {
    auto loaded = proxy::loadProxyConfig(options.proxy_config);
    if (loaded.ok()) {
      report.add({Verdict::kOk, "proxy-config", strCat(options.proxy_config, " loads"), ""});
      proxyChecks(**loaded, broker_cfg.get(), options, report);
    } else {
      report.add({Verdict::kFail, "proxy-config", firstLine(messageOf(loaded.status())),
                  strCat("correct the file; gssgate-proxy --config ", options.proxy_config,
                         " --check-config lists every error")});
      skipAll(report, {"keytab", "kdc", "replay-cache", "proxy-broker"},
              "not checked: the proxy's configuration does not load");
    }
  }
  if (!options.broker_config.empty()) {
    if (broker_cfg) {
      std::optional<uid_t> uid;
      if (!options.uid.empty()) uid = resolveUid(options.uid);
      brokerChecks(*broker_cfg, options, uid, report);
    } else {
      skipAll(report, {"socket:listen", "socket:deposit_listen", "policy"},
              "not checked: the broker's configuration does not load");
    }
  }
  return report;
}

int runDoctor(const DoctorOptions& options, std::ostream& out, std::ostream& err) {
  if (options.help) {
    out << doctorUsage();
    return 0;
  }
  if (!options.uid.empty() && !resolveUid(options.uid)) {
    err << "gssgatectl: --uid: no such user '" << options.uid << "'\n";
    return 2;
  }
  const DoctorReport report = diagnose(options);
  out << (options.json ? report.json() : report.text());
  return report.exitCode();
}

}  // namespace gssgate::client
