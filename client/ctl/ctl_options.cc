#include "client/ctl/ctl_options.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

#include "common/strings.h"

namespace gssgate::client {
namespace {

constexpr double kMaxTimeoutSeconds = 3600;

struct CommandSpec {
  std::string_view name;
  CtlCommand command;
  bool takes_handle;
  std::vector<std::string_view> options;  // besides --broker, --timeout and the handle options
};

const std::vector<CommandSpec>& commandSpecs() {
  static const std::vector<CommandSpec> specs = {
      {"credential", CtlCommand::kCredential, true, {"service", "out"}},
      {"revoke", CtlCommand::kRevoke, true, {}},
      {"list", CtlCommand::kList, false, {}},
      {"revoke-credential", CtlCommand::kRevokeCredential, false, {"id"}},
      {"health", CtlCommand::kHealth, false, {}},
  };
  return specs;
}

constexpr std::array<std::string_view, 7> kKnownOptions = {
    "broker", "timeout", "handle", "handle-file", "service", "out", "id"};

absl::Status usageError(std::string_view msg) {
  return absl::InvalidArgumentError(strCat(msg, " (see gssgatectl --help)"));
}

bool optionAllowed(const CommandSpec& spec, std::string_view name) {
  if (name == "broker" || name == "timeout") return true;
  if (name == "handle" || name == "handle-file") return spec.takes_handle;
  return std::find(spec.options.begin(), spec.options.end(), name) != spec.options.end();
}

absl::StatusOr<std::chrono::milliseconds> parseTimeout(std::string_view text) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(seconds) ||
      seconds <= 0 || seconds > kMaxTimeoutSeconds) {
    return usageError(
        strCat("--timeout takes seconds between 0 and ", kMaxTimeoutSeconds, ", not '", text, "'"));
  }
  return std::chrono::milliseconds(std::max<int64_t>(1, std::llround(seconds * 1000)));
}

// A broker address gRPC can dial: "unix:" followed by a socket path.
bool validBrokerAddress(std::string_view address) {
  return address.starts_with("unix:") && address.size() > 5;
}

// The command line split into its parts, before any meaning is given to them.
struct RawArgs {
  std::string command;
  std::map<std::string, std::string, std::less<>> values;  // option name (no "--") → value
  bool help = false;
  bool version = false;

  bool has(std::string_view name) const { return values.contains(name); }
  // Removes and returns an option's value ("" when absent).
  std::string take(std::string_view name) {
    auto it = values.find(name);
    if (it == values.end()) return {};
    std::string v = std::move(it->second);
    values.erase(it);
    return v;
  }
};

absl::StatusOr<RawArgs> splitArgs(const std::vector<std::string>& args) {
  RawArgs raw;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      raw.help = true;
    } else if (arg == "--version") {
      raw.version = true;
    } else if (!arg.starts_with("--")) {
      if (!raw.command.empty()) return usageError(strCat("unexpected argument '", arg, "'"));
      raw.command = std::string(arg);
    } else {
      const size_t eq = arg.find('=');
      const std::string_view name = arg.substr(2, eq == std::string_view::npos ? eq : eq - 2);
      if (std::find(kKnownOptions.begin(), kKnownOptions.end(), name) == kKnownOptions.end()) {
        return usageError(strCat("unknown option '--", name, "'"));
      }
      std::string value;
      if (eq != std::string_view::npos) {
        value = std::string(arg.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usageError(strCat("--", name, " needs a value"));
      }
      if (!raw.values.emplace(std::string(name), std::move(value)).second) {
        return usageError(strCat("--", name, " given twice"));
      }
    }
  }
  return raw;
}

// --handle, --handle-file, else GSSGATE_HANDLE: exactly one source.
absl::Status takeHandle(RawArgs& raw, const char* env_handle, CtlOptions& opts) {
  const bool has_handle = raw.has("handle");
  const bool has_file = raw.has("handle-file");
  if (has_handle && has_file) return usageError("give either --handle or --handle-file");
  if (has_file) {
    opts.handle_file = raw.take("handle-file");
    if (opts.handle_file.empty()) return usageError("--handle-file needs a file name");
  } else if (has_handle) {
    opts.handle = SecretString(raw.take("handle"));
    if (opts.handle.empty()) return usageError("--handle is empty");
  } else if (env_handle != nullptr && env_handle[0] != '\0') {
    opts.handle = SecretString(std::string(env_handle));
  } else {
    return usageError("no handle: give --handle-file FILE or --handle H, or set GSSGATE_HANDLE");
  }
  return absl::OkStatus();
}

// The options only some commands have.
absl::Status takeCommandOptions(RawArgs& raw, CtlOptions& opts) {
  if (opts.command == CtlCommand::kCredential) {
    opts.service = raw.take("service");
    if (opts.service.empty()) {
      return usageError("--service SERVICE is required, e.g. --service postgres/db.example.com");
    }
    if (raw.has("out")) {
      opts.out = raw.take("out");
      if (opts.out.empty()) return usageError("--out needs a file name");
    }
  }
  if (opts.command == CtlCommand::kRevokeCredential) {
    opts.credential_id = raw.take("id");
    if (opts.credential_id.empty()) return usageError("--id CREDENTIAL_ID is required");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CtlOptions> parseCtlArgs(const std::vector<std::string>& args,
                                        const char* env_handle) {
  if (!args.empty() && args.front() == "doctor") {
    absl::StatusOr<DoctorOptions> doctor =
        parseDoctorArgs(std::vector<std::string>(args.begin() + 1, args.end()));
    if (!doctor.ok()) return doctor.status();
    CtlOptions opts;
    opts.command = CtlCommand::kDoctor;
    opts.doctor = std::move(*doctor);
    return opts;
  }
  absl::StatusOr<RawArgs> raw = splitArgs(args);
  if (!raw.ok()) return raw.status();
  CtlOptions opts;
  if (raw->help || raw->command == "help") return opts;  // kHelp
  if (raw->version) {
    opts.command = CtlCommand::kVersion;
    return opts;
  }
  if (raw->command.empty()) return usageError("no command given");
  const auto& specs = commandSpecs();
  const auto spec = std::find_if(specs.begin(), specs.end(),
                                 [&](const CommandSpec& s) { return s.name == raw->command; });
  if (raw->command == "doctor") return usageError("write doctor first: gssgatectl doctor ...");
  if (spec == specs.end()) return usageError(strCat("unknown command '", raw->command, "'"));
  opts.command = spec->command;
  for (const auto& entry : raw->values) {
    if (!optionAllowed(*spec, entry.first)) {
      return usageError(strCat("--", entry.first, " is not an option of ", raw->command));
    }
  }

  opts.broker = raw->take("broker");
  if (opts.broker.empty()) return usageError("--broker unix:PATH is required");
  if (!validBrokerAddress(opts.broker)) {
    return usageError(strCat("--broker must be unix:/path/to/socket, not '", opts.broker, "'"));
  }
  if (raw->has("timeout")) {
    absl::StatusOr<std::chrono::milliseconds> timeout = parseTimeout(raw->take("timeout"));
    if (!timeout.ok()) return timeout.status();
    opts.timeout = *timeout;
  }
  if (spec->takes_handle) {
    if (absl::Status st = takeHandle(*raw, env_handle, opts); !st.ok()) return st;
  }
  if (absl::Status st = takeCommandOptions(*raw, opts); !st.ok()) return st;
  return opts;
}

std::string ctlUsage() {
  return R"(usage: gssgatectl COMMAND [OPTIONS]

Commands (backend socket, the broker's `listen`):
  credential --broker unix:PATH --service SERVICE [--out FILE] [HANDLE SOURCE]
      Redeems a credential handle for a ticket to SERVICE (e.g. postgres/db.example.com),
      writes it as a new mode-0600 ccache file (default: a new private temporary file; an
      existing FILE is never overwritten) and prints KRB5CCNAME=FILE:/path.
  revoke --broker unix:PATH [HANDLE SOURCE]
      Revokes the credential behind a handle (e.g. on logout).

Commands (deposit socket, the broker's `deposit_listen`):
  list --broker unix:PATH
      Lists stored credentials: id, principal, deposited, expires, redemptions.
  revoke-credential --broker unix:PATH --id CREDENTIAL_ID
      Revokes a stored credential by id.

Either socket:
  health --broker unix:PATH
      Prints the broker's grpc.health.v1 status; exits 0 only when SERVING.

Deployment check (no --broker; see gssgatectl doctor --help):
  doctor [--proxy-config FILE] [--broker-config FILE] [--uid N --service SERVICE] [--json]
      Checks keytab, KDC (reachable, kvno, clock skew, ok_as_delegate), replay cache, broker
      sockets and health, and the broker's policy; one ok/warn/FAIL line each, with the fix.
      Exits 1 when a check fails.

HANDLE SOURCE: credential and revoke take the handle from one of these (--handle-file or the
environment keep it off the command line, where other users can see it with ps):
  --handle-file FILE   read from FILE ("-": standard input); surrounding whitespace ignored
  --handle H           the handle itself
  GSSGATE_HANDLE       environment variable, used when neither option is given

Options:
  --timeout SECONDS    deadline for each broker call (default 5)
  --help, -h           this text
  --version            print the version

Exit status: 0 success; 1 the operation failed (broker answer, broker unreachable, files);
2 usage error. Errors are one line on standard error.
)";
}

}  // namespace gssgate::client
