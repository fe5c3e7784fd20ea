#include "client/doctor/socket_check.h"

#include <unistd.h>

#include <cerrno>

#include "client/errno_status.h"
#include "common/strings.h"
#include "gssgate/broker_client.h"

namespace gssgate::client {
namespace {

std::string octal(mode_t mode) { return fmt::format("{:04o}", mode & 07777U); }

std::string startBrokerFix(const SocketExpectation& want) {
  return strCat("start gssgate-broker (it creates ", want.path,
                " at start-up), or make the broker's `", want.config_key,
                "` and this path the same");
}

}  // namespace

CheckResult evaluateSocketFile(const SocketExpectation& want, const struct stat* st,
                               int lstat_errno) {
  if (st == nullptr && lstat_errno != ENOENT) {
    return {Verdict::kFail, want.name,
            strCat(want.path, " cannot be reached by uid ", ::geteuid(), " (",
                   errnoText(lstat_errno), ")"),
            strCat("let the user that connects traverse the socket's directory (e.g. a "
                   "0750 directory owned by the broker's user with that user's group), or "
                   "run this as that user")};
  }
  if (st == nullptr) {
    return {Verdict::kFail, want.name,
            strCat(want.path, " is missing (", errnoText(lstat_errno), ")"), startBrokerFix(want)};
  }
  if (!S_ISSOCK(st->st_mode)) {
    return {
        Verdict::kFail, want.name, strCat(want.path, " exists but is not a socket"),
        strCat("remove it and restart gssgate-broker, or point `", want.config_key, "` elsewhere")};
  }
  const mode_t mode = st->st_mode & 07777U;
  std::vector<std::string> wrong;
  std::vector<std::string> fixes;
  if (want.mode && mode != *want.mode) {
    wrong.push_back(strCat("mode ", octal(mode), " (configured ", octal(*want.mode), ")"));
    fixes.push_back(strCat("chmod ", octal(*want.mode), " ", want.path));
  }
  if (want.owner && st->st_uid != *want.owner) {
    wrong.push_back(strCat("owner uid ", st->st_uid, " (configured ", *want.owner, ")"));
    fixes.push_back(strCat("chown ", *want.owner, " ", want.path));
  }
  if (want.group && st->st_gid != *want.group) {
    wrong.push_back(strCat("group gid ", st->st_gid, " (configured ", *want.group, ")"));
    fixes.push_back(strCat("chgrp ", *want.group, " ", want.path));
  }
  const std::string facts = strCat(want.path, " is a socket, mode ", octal(mode), ", owner uid ",
                                   st->st_uid, ", group gid ", st->st_gid);
  if (want.deposit && (mode & 0002U) != 0) {
    return {Verdict::kFail, want.name,
            strCat(facts,
                   ": any local user can connect to the deposit socket and plant "
                   "credentials"),
            strCat("chmod 0600 ", want.path,
                   " (the broker sets the configured sockets.deposit_listen.mode when it "
                   "starts; restart it)")};
  }
  if (!wrong.empty()) {
    return {Verdict::kFail, want.name,
            strCat(want.path, " has ", join(wrong, ", "),
                   ": something changed it after the broker started, or another broker "
                   "owns it"),
            strCat("restart gssgate-broker (it sets them at start-up), or ", join(fixes, "; "))};
  }
  if (!want.deposit && (mode & 0002U) != 0) {
    return {Verdict::kWarn, want.name,
            strCat(facts,
                   ": any local user can ask the broker (its policy still decides by "
                   "uid)"),
            "give sockets.listen a mode without access for others, e.g. \"0660\" with a group"};
  }
  return {Verdict::kOk, want.name, facts, ""};
}

CheckResult checkSocketFile(const SocketExpectation& want) {
  struct stat st {};
  if (::lstat(want.path.c_str(), &st) != 0) return evaluateSocketFile(want, nullptr, errno);
  return evaluateSocketFile(want, &st, 0);
}

CheckResult checkBrokerHealth(const std::string& name, const std::string& path,
                              std::chrono::milliseconds timeout) {
  const BrokerClient broker(strCat("unix:", path), timeout);
  absl::StatusOr<ServingStatus> status = broker.health();
  if (!status.ok()) {
    const std::string msg = messageOf(status.status());
    std::string fix = "start gssgate-broker and check its log";
    if (msg.find("Connection refused") != std::string::npos) {
      fix = strCat(
          "the socket file is stale: gssgate-broker is not running; start it "
          "(it replaces ",
          path, ")");
    } else if (msg.find("Permission denied") != std::string::npos) {
      fix = strCat("uid ", ::geteuid(),
                   " may not connect: give it the socket's group (sockets.*.group) or run "
                   "this as the user the app/proxy runs as");
    } else if (msg.find("No such file") != std::string::npos) {
      fix = strCat("start gssgate-broker, or make its socket path and ", path, " the same");
    }
    return {Verdict::kFail, name, strCat("the broker does not answer on ", path, ": ", msg), fix};
  }
  if (*status != ServingStatus::kServing) {
    return {Verdict::kFail, name,
            strCat("the broker on ", path, " reports ", servingStatusName(*status)),
            "see the broker's log"};
  }
  return {Verdict::kOk, name, strCat("the broker answers on ", path, " (SERVING)"), ""};
}

}  // namespace gssgate::client
