#include "client/ctl/ctl_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "client/doctor/doctor_runner.h"
#include "client/errno_status.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "gssgate/broker_client.h"
#include "gssgate/ccache_file.h"

namespace gssgate::client {
namespace {

// Handles are ~100 bytes; anything this large is the wrong file.
constexpr size_t kMaxHandleBytes = size_t{64} * 1024;

int fail(std::ostream& err, std::string_view message) {
  err << ctlErrorLine(message) << '\n';
  return kCtlExitFailure;
}

// The broker's message, with the kind of refusal spelled out where the message may not say it.
std::string describe(const absl::Status& st, std::string_view not_found) {
  std::string msg = messageOf(st);
  switch (st.code()) {
    case absl::StatusCode::kNotFound:
      if (msg.empty()) msg = std::string(not_found);
      break;
    case absl::StatusCode::kPermissionDenied:
      if (!msg.starts_with("not allowed")) msg = strCat("not allowed: ", msg);
      break;
    default:
      if (msg.empty()) msg = st.ToString();
      break;
  }
  return msg;
}

// Removes surrounding ASCII whitespace in place (no copy of the secret is made).
void trimInPlace(std::string& s) {
  const std::string_view trimmed = trimAscii(s);
  const auto begin = static_cast<size_t>(trimmed.data() - s.data());
  const size_t size = trimmed.size();
  if (begin > 0) {
    std::copy(s.begin() + static_cast<std::ptrdiff_t>(begin),
              s.begin() + static_cast<std::ptrdiff_t>(begin + size), s.begin());
  }
  secureWipe(s.data() + size, s.size() - size);
  s.resize(size);
}

absl::StatusOr<SecretString> readHandleFile(const std::string& path, std::istream& in) {
  SecretString handle;
  std::string& buf = handle.mutableStr();
  buf.reserve(kMaxHandleBytes + 1);  // never reallocates, so no unwiped copy is left behind
  if (path == "-") {
    std::array<char, 4096> chunk{};
    while (buf.size() <= kMaxHandleBytes && in.read(chunk.data(), chunk.size()).gcount() > 0) {
      buf.append(chunk.data(), static_cast<size_t>(in.gcount()));
    }
    secureWipe(chunk.data(), chunk.size());
  } else {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errnoStatus(strCat("cannot read handle file ", path), errno);
    buf.resize(kMaxHandleBytes + 1);
    size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::read(fd.get(), buf.data() + got, buf.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errnoStatus(strCat("cannot read handle file ", path), errno);
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    buf.resize(got);
  }
  const std::string source = path == "-" ? std::string("standard input") : path;
  if (buf.size() > kMaxHandleBytes) {
    return absl::InvalidArgumentError(strCat("handle in ", source, " is too long"));
  }
  trimInPlace(buf);
  if (buf.empty()) return absl::InvalidArgumentError(strCat("no handle in ", source));
  return handle;
}

absl::StatusOr<SecretString> resolveHandle(const CtlOptions& o, std::istream& in) {
  if (!o.handle_file.empty()) return readHandleFile(o.handle_file, in);
  return SecretString(o.handle.str());
}

std::string utcTime(std::chrono::sys_seconds t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  std::array<char, 32> buf{};
  if (::gmtime_r(&secs, &tm) == nullptr ||
      std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(t.time_since_epoch().count());
  }
  return buf.data();
}

// Broker-supplied text shown in a terminal: control bytes become '?'.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

int runCredential(const CtlOptions& o, const SecretString& handle, std::ostream& out,
                  std::ostream& err) {
  std::string path;
  if (!o.out.empty()) {
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(o.out, ec);
    path = ec ? o.out : abs.string();
    // Checked before redeeming so a doomed run does not spend a redemption; writeCcacheFile
    // re-checks atomically (O_EXCL).
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      return fail(err, strCat(path, " already exists; refusing to overwrite it"));
    }
  }
  const BrokerClient broker(o.broker, o.timeout);
  absl::StatusOr<RedeemedCredential> cred = broker.redeem(handle.str(), o.service);
  if (!cred.ok()) return fail(err, describe(cred.status(), "handle not found or expired"));

  const bool temporary = path.empty();
  if (temporary) {
    absl::StatusOr<std::string> temp = privateTempCcachePath();
    if (!temp.ok()) return fail(err, messageOf(temp.status()));
    path = *temp;
  }
  if (absl::Status st = writeCcacheFile(cred->ccache_bytes.str(), path); !st.ok()) {
    if (temporary) ::rmdir(std::filesystem::path(path).parent_path().c_str());
    return fail(err, messageOf(st));
  }
  out << "KRB5CCNAME=FILE:" << path << '\n';
  return kCtlExitOk;
}

int runList(const BrokerClient& broker, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<CredentialInfo>> creds = broker.list();
  if (!creds.ok()) return fail(err, describe(creds.status(), "not found"));
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"ID", "PRINCIPAL", "DEPOSITED", "EXPIRES", "REDEMPTIONS"});
  for (const CredentialInfo& c : *creds) {
    rows.push_back({printable(c.credential_id), printable(c.principal), utcTime(c.deposited_at),
                    utcTime(c.expires_at), std::to_string(c.redemptions)});
  }
  std::array<size_t, 5> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width.at(i) = std::max(width.at(i), row.at(i).size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row.at(i);
      if (i + 1 < row.size()) line.append(width.at(i) - row.at(i).size() + 2, ' ');
    }
    out << line << '\n';
  }
  return kCtlExitOk;
}

int runHealth(const BrokerClient& broker, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ServingStatus> status = broker.health();
  if (!status.ok()) return fail(err, describe(status.status(), "not found"));
  out << servingStatusName(*status) << '\n';
  if (*status == ServingStatus::kServing) return kCtlExitOk;
  return fail(err, strCat("broker at ", broker.address(), " is ", servingStatusName(*status)));
}

}  // namespace

std::string ctlErrorLine(std::string_view message) {
  std::string line = strCat("gssgatectl: ", message);
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

int runCtl(const CtlOptions& options, std::istream& in, std::ostream& out, std::ostream& err) {
  switch (options.command) {
    case CtlCommand::kHelp:
      out << ctlUsage();
      return kCtlExitOk;
    case CtlCommand::kVersion:
      out << "gssgatectl " << GSSGATE_VERSION << '\n';
      return kCtlExitOk;
    case CtlCommand::kCredential:
    case CtlCommand::kRevoke: {
      absl::StatusOr<SecretString> handle = resolveHandle(options, in);
      if (!handle.ok()) return fail(err, messageOf(handle.status()));
      if (options.command == CtlCommand::kCredential) {
        return runCredential(options, *handle, out, err);
      }
      const BrokerClient broker(options.broker, options.timeout);
      const absl::Status st = broker.revoke(handle->str());
      return st.ok() ? kCtlExitOk : fail(err, describe(st, "handle not found or expired"));
    }
    case CtlCommand::kList:
      return runList(BrokerClient(options.broker, options.timeout), out, err);
    case CtlCommand::kRevokeCredential: {
      const BrokerClient broker(options.broker, options.timeout);
      const absl::Status st = broker.revokeCredential(options.credential_id);
      return st.ok() ? kCtlExitOk : fail(err, describe(st, "credential not found"));
    }
    case CtlCommand::kHealth:
      return runHealth(BrokerClient(options.broker, options.timeout), out, err);
    case CtlCommand::kDoctor:
      return runDoctor(options.doctor, out, err);
  }
  return kCtlExitUsage;
}

}  // namespace gssgate::client
