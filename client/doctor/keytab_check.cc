#include "client/doctor/keytab_check.h"

#include <fcntl.h>
#include <krb5/krb5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <set>

#include "client/errno_status.h"
#include "common/krb5_handles.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::client {
namespace {

constexpr size_t kMaxListed = 8;

// Owner of a keytab iteration cursor and of one entry's contents (which hold a key: freed,
// and so wiped by MIT, as soon as its name, kvno and enctype were copied out).
class KeytabCursor {
 public:
  KeytabCursor(krb5_context ctx, krb5_keytab kt) : ctx_(ctx), kt_(kt) {}
  KeytabCursor(const KeytabCursor&) = delete;
  KeytabCursor& operator=(const KeytabCursor&) = delete;
  KeytabCursor(KeytabCursor&&) = delete;
  KeytabCursor& operator=(KeytabCursor&&) = delete;
  ~KeytabCursor() {
    if (started_) krb5_kt_end_seq_get(ctx_, kt_, &cursor_);
  }
  krb5_error_code start() {
    const krb5_error_code code = krb5_kt_start_seq_get(ctx_, kt_, &cursor_);
    started_ = code == 0;
    return code;
  }
  // Next entry's public facts; KRB5_KT_END at the end.
  krb5_error_code next(KeytabEntryInfo& info) {
    krb5_keytab_entry entry{};
    const krb5_error_code code = krb5_kt_next_entry(ctx_, kt_, &entry, &cursor_);
    if (code != 0) return code;
    Krb5String name(ctx_);
    if (krb5_unparse_name(ctx_, entry.principal, name.out()) == 0) info.principal = name.get();
    info.kvno = entry.vno;
    std::array<char, 64> etype{};
    if (krb5_enctype_to_name(entry.key.enctype, TRUE, etype.data(), etype.size()) == 0) {
      info.enctype = etype.data();
    } else {
      info.enctype = std::to_string(entry.key.enctype);
    }
    krb5_free_keytab_entry_contents(ctx_, &entry);
    return 0;
  }

 private:
  krb5_context ctx_;
  krb5_keytab kt_;
  krb5_kt_cursor cursor_{};
  bool started_ = false;
};

std::string listOf(const std::vector<std::string>& names) {
  std::vector<std::string> shown(
      names.begin(),
      names.begin() + static_cast<std::ptrdiff_t>(std::min(names.size(), kMaxListed)));
  std::string text = join(shown, ", ");
  if (names.size() > kMaxListed) text += strCat(" and ", names.size() - kMaxListed, " more");
  return text;
}

std::string exportFix(std::string_view path, std::string_view principal) {
  return strCat("export the key with kadmin -q 'ktadd -k ", path, " -norandkey ", principal,
                "' (MIT) or msktutil / ktpass (Active Directory), and make the file readable "
                "by the proxy's user only");
}

}  // namespace

bool principalMatches(std::string_view entry_principal, std::string_view wanted) {
  if (wanted.find('@') != std::string_view::npos) return entry_principal == wanted;
  const size_t at = entry_principal.rfind('@');
  return entry_principal.substr(0, at) == wanted;
}

uint32_t highestKvno(const std::vector<KeytabEntryInfo>& entries, std::string_view principal) {
  uint32_t kvno = 0;
  for (const KeytabEntryInfo& e : entries) {
    if (principalMatches(e.principal, principal)) kvno = std::max(kvno, e.kvno);
  }
  return kvno;
}

absl::StatusOr<std::vector<KeytabEntryInfo>> listKeytab(const std::string& path) {
  absl::StatusOr<Krb5Context> ctx = Krb5Context::create();
  if (!ctx.ok()) return ctx.status();
  Krb5Keytab kt(ctx->get());
  const std::string name = strCat("FILE:", path);
  if (krb5_error_code code = krb5_kt_resolve(ctx->get(), name.c_str(), kt.out()); code != 0) {
    return absl::InvalidArgumentError(krb5ErrorMessage(ctx->get(), code));
  }
  KeytabCursor cursor(ctx->get(), kt.get());
  if (krb5_error_code code = cursor.start(); code != 0) {
    return absl::InvalidArgumentError(krb5ErrorMessage(ctx->get(), code));
  }
  std::vector<KeytabEntryInfo> entries;
  while (true) {
    KeytabEntryInfo info;
    const krb5_error_code code = cursor.next(info);
    if (code == KRB5_KT_END) break;
    if (code != 0) return absl::InvalidArgumentError(krb5ErrorMessage(ctx->get(), code));
    entries.push_back(std::move(info));
  }
  return entries;
}

CheckResult evaluateKeytabEntries(std::string_view path,
                                  const std::vector<KeytabEntryInfo>& entries,
                                  std::string_view acceptor, std::vector<std::string>& subjects) {
  subjects.clear();
  std::vector<std::string> all;  // distinct principals, in keytab order
  for (const KeytabEntryInfo& e : entries) {
    if (std::find(all.begin(), all.end(), e.principal) == all.end()) all.push_back(e.principal);
  }
  if (all.empty()) {
    return {Verdict::kFail, "keytab", strCat("keytab ", path, " holds no keys"),
            exportFix(path, acceptor.empty() ? "HTTP/<host name clients use>" : acceptor)};
  }
  auto describe = [&](const std::string& p) {
    std::set<std::string> etypes;
    for (const KeytabEntryInfo& e : entries) {
      if (e.principal == p && e.kvno == highestKvno(entries, p)) etypes.insert(e.enctype);
    }
    return strCat(p, " (kvno ", highestKvno(entries, p), ", ",
                  join(std::vector<std::string>(etypes.begin(), etypes.end()), " "), ")");
  };
  if (!acceptor.empty()) {
    for (const std::string& p : all) {
      if (principalMatches(p, acceptor)) subjects.push_back(p);
    }
    if (subjects.empty()) {
      return {Verdict::kFail, "keytab",
              strCat("keytab ", path, " has no key for the configured acceptor ", acceptor,
                     "; it holds ", listOf(all)),
              strCat(exportFix(path, acceptor), ", or set `acceptor` to a principal it holds")};
    }
    return {Verdict::kOk, "keytab",
            strCat("keytab ", path, " holds the acceptor ", describe(subjects.front())), ""};
  }
  for (const std::string& p : all) {
    if (p.starts_with("HTTP/")) subjects.push_back(p);
  }
  if (subjects.empty()) {
    return {Verdict::kFail, "keytab",
            strCat("keytab ", path,
                   " holds no HTTP/* principal (browsers and curl ask for "
                   "HTTP/<host>); it holds ",
                   listOf(all)),
            exportFix(path, "HTTP/<host name clients use>")};
  }
  std::vector<std::string> described;
  described.reserve(subjects.size());
  for (const std::string& p : subjects) described.push_back(describe(p));
  return {Verdict::kOk, "keytab",
          strCat("keytab ", path, " holds ", listOf(described),
                 "; without `acceptor` the proxy accepts tickets for any of them"),
          ""};
}

CheckResult evaluateKeytabMode(std::string_view path, mode_t mode) {
  if ((mode & 0077U) != 0) {
    return {Verdict::kWarn, "keytab-mode",
            strCat("keytab ", path, " has mode ", fmt::format("{:04o}", mode & 07777U),
                   ": other users can read it (whoever reads it can impersonate the service)"),
            strCat("chmod 0600 ", path, " (owned by the proxy's user)")};
  }
  return {Verdict::kOk, "keytab-mode",
          strCat("keytab ", path, " has mode ", fmt::format("{:04o}", mode & 07777U)), ""};
}

std::vector<CheckResult> checkKeytab(const std::string& path, std::string_view acceptor,
                                     std::vector<KeytabEntryInfo>& entries,
                                     std::vector<std::string>& subjects) {
  entries.clear();
  subjects.clear();
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    std::string fix;
    if (err == ENOENT) {
      fix = exportFix(path, acceptor.empty() ? "HTTP/<host name clients use>" : acceptor);
    } else if (err == EACCES) {
      fix = strCat("make ", path, " readable by the user the proxy runs as (uid ", ::geteuid(),
                   " here): chown that user and chmod 0600");
    }
    return {{Verdict::kFail, "keytab",
             strCat("cannot read keytab ", path, ": ", errnoText(err), " (checked as uid ",
                    ::geteuid(), ")"),
             fix}};
  }
  std::vector<CheckResult> results;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      return {{Verdict::kFail, "keytab", strCat("keytab ", path, " is not a regular file"),
               exportFix(path, acceptor)}};
    }
  }
  absl::StatusOr<std::vector<KeytabEntryInfo>> listed = listKeytab(path);
  if (!listed.ok()) {
    results.push_back(
        {Verdict::kFail, "keytab",
         strCat("keytab ", path, " cannot be read as a keytab: ", messageOf(listed.status())),
         exportFix(path, acceptor)});
  } else {
    entries = std::move(*listed);
    results.push_back(evaluateKeytabEntries(path, entries, acceptor, subjects));
  }
  results.push_back(evaluateKeytabMode(path, st.st_mode));
  return results;
}

}  // namespace gssgate::client
