#include "client/doctor/doctor_options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>

#include "common/strings.h"

namespace gssgate::client {
namespace {

constexpr double kMaxTimeoutSeconds = 3600;

absl::Status usageError(std::string_view msg) {
  return absl::InvalidArgumentError(strCat(msg, " (see gssgatectl doctor --help)"));
}

bool takesValue(std::string_view name) {
  return name == "proxy-config" || name == "broker-config" || name == "uid" || name == "service" ||
         name == "timeout";
}

// Flags into `opts`, valued options into `values` (name without "--" → value).
absl::Status splitArgs(const std::vector<std::string>& args, DoctorOptions& opts,
                       std::map<std::string, std::string, std::less<>>& values) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      opts.help = true;
      continue;
    }
    if (arg == "--json") {
      opts.json = true;
      continue;
    }
    if (!arg.starts_with("--")) return usageError(strCat("unexpected argument '", arg, "'"));
    const size_t eq = arg.find('=');
    const std::string name(arg.substr(2, eq == std::string_view::npos ? eq : eq - 2));
    if (!takesValue(name)) return usageError(strCat("unknown option '--", name, "'"));
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return usageError(strCat("--", name, " needs a value"));
    }
    if (value.empty()) return usageError(strCat("--", name, " is empty"));
    if (!values.emplace(name, std::move(value)).second) {
      return usageError(strCat("--", name, " given twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate(const DoctorOptions& opts) {
  if (opts.proxy_config.empty() && opts.broker_config.empty()) {
    return usageError("give --proxy-config FILE, --broker-config FILE or both");
  }
  if (opts.uid.empty() != opts.service.empty()) {
    return usageError("--uid and --service go together (a sample redemption to check)");
  }
  if (!opts.uid.empty() && opts.broker_config.empty()) {
    return usageError("--uid/--service check the broker's policy: give --broker-config FILE");
  }
  if (opts.service.find('@') != std::string::npos) {
    return usageError("--service takes service/host without a realm, e.g. postgres/db");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::chrono::milliseconds> parseTimeout(const std::string& t) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), seconds);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(seconds) || seconds <= 0 ||
      seconds > kMaxTimeoutSeconds) {
    return usageError(
        strCat("--timeout takes seconds between 0 and ", kMaxTimeoutSeconds, ", not '", t, "'"));
  }
  return std::chrono::milliseconds(std::max<int64_t>(1, std::llround(seconds * 1000)));
}

}  // namespace

absl::StatusOr<DoctorOptions> parseDoctorArgs(const std::vector<std::string>& args) {
  DoctorOptions opts;
  std::map<std::string, std::string, std::less<>> values;
  if (absl::Status st = splitArgs(args, opts, values); !st.ok()) return st;
  if (opts.help) return opts;
  auto take = [&](std::string_view name) {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  };
  opts.proxy_config = take("proxy-config");
  opts.broker_config = take("broker-config");
  opts.uid = take("uid");
  opts.service = take("service");
  if (absl::Status st = validate(opts); !st.ok()) return st;
  if (const std::string t = take("timeout"); !t.empty()) {
    absl::StatusOr<std::chrono::milliseconds> timeout = parseTimeout(t);
    if (!timeout.ok()) return timeout.status();
    opts.timeout = *timeout;
  }
  return opts;
}

std::string doctorUsage() {
  return R"(usage: gssgatectl doctor [--proxy-config FILE] [--broker-config FILE]
                         [--uid N|NAME --service SERVICE] [--json] [--timeout SECONDS]

Checks a deployment from the inside and says what is wrong and how to fix it. Reads the
configuration files with the daemons' own loaders, so it agrees with them. Run it as the user
the daemon runs as (what matters is what *that* user can read, write and connect to).

With --proxy-config:
  proxy-config    the file loads (the same errors gssgate-proxy --check-config gives)
  keytab          readable, not readable by group/others (warn), holds the `acceptor`
                  principal (without `acceptor`: lists its HTTP/* principals)
  kdc             the KDC is reachable and accepts the keytab's key (an AS exchange with the
                  keytab itself: nothing is written anywhere, no key is printed)
  clock-skew      this host's clock against the KDC's (warn from 60 s, FAIL beyond the
                  allowed skew, krb5.conf `clockskew`, default 300 s)
  kvno            the KDC's current key version for the SPN equals the keytab's, and the
                  keytab decrypts a fresh service ticket for it (what the proxy does)
  ok-as-delegate  the SPN's ok_as_delegate flag: without it browsers do not delegate, so no
                  X-Gssgate-Credential (warn when `broker` is set, else informational)
  replay-cache    the replay cache directory (`replay_cache`, KRB5RCACHENAME, KRB5RCACHEDIR
                  or /var/tmp) is writable: a file is created and removed there
  proxy-broker    the proxy's `broker` socket exists, is the broker's deposit socket, and
                  answers grpc.health.v1
With --broker-config:
  broker-config   the file loads
  socket:listen, socket:deposit_listen
                  exist, are sockets, owner/group/mode as configured; the deposit socket is
                  not connectable by others
  broker:listen, broker:deposit_listen
                  the broker answers grpc.health.v1 on each socket (SERVING)
  policy          lists what each entry grants (warn when the policy is empty); with
                  --uid N --service SPN: whether that caller may redeem that service, and
                  by which entry, using the broker's own policy code

Each line is `ok`, `warn`, `FAIL` or `skip` (not checkable because an earlier check failed),
the finding, and for warn/FAIL the fix. --json prints one JSON object instead.
Exit status: 0 no FAIL (warnings do not fail); 1 at least one FAIL; 2 usage error.
)";
}

}  // namespace gssgate::client
