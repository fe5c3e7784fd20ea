#include "broker/credentials/credential_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "broker/credentials/ccache_format.h"
#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "common/strings.h"

namespace gssgate::broker {

// ---- MemoryStore ----------------------------------------------------------------------

absl::Status MemoryStore::put(std::shared_ptr<StoredCredential> cred) {
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_entries_) {
    return absl::ResourceExhaustedError("credential store is full (limits.max_credentials)");
  }
  entries_[cred->id] = std::move(cred);
  return absl::OkStatus();
}

std::shared_ptr<StoredCredential> MemoryStore::find(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(id));
  return it == entries_.end() ? nullptr : it->second;
}

bool MemoryStore::remove(std::string_view id) {
  std::shared_ptr<StoredCredential> victim;  // destroyed (and wiped) outside the lock
  std::lock_guard lock(mu_);
  auto it = entries_.find(std::string(id));
  if (it == entries_.end()) return false;
  victim = std::move(it->second);
  entries_.erase(it);
  return true;
}

std::vector<std::shared_ptr<StoredCredential>> MemoryStore::list() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<StoredCredential>> out;
  out.reserve(entries_.size());
  for (const auto& [id, c] : entries_) out.push_back(c);
  return out;
}

std::vector<std::string> MemoryStore::sweepIds(int64_t now) {
  std::vector<std::shared_ptr<StoredCredential>> victims;
  std::vector<std::string> ids;
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second->expires_at <= now) {
      ids.push_back(it->first);
      victims.push_back(std::move(it->second));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return ids;
}

size_t MemoryStore::sweep(int64_t now) { return sweepIds(now).size(); }

size_t MemoryStore::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

// ---- DirStore -------------------------------------------------------------------------

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    auto v = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = v(text[i]), lo = v(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// Reads the TGT out of a ccache file written by put().
std::shared_ptr<StoredCredential> loadFile(const std::string& path, const std::string& id,
                                           int64_t now) {
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return nullptr;
  Krb5Ccache cc(ctx);
  std::string name = "FILE:" + path;
  if (krb5_cc_resolve(ctx, name.c_str(), cc.out()) != 0) return nullptr;
  krb5_cc_cursor cursor = nullptr;
  if (krb5_cc_start_seq_get(ctx, cc.get(), &cursor) != 0) return nullptr;
  std::shared_ptr<StoredCredential> out;
  krb5_creds creds;
  while (krb5_cc_next_cred(ctx, cc.get(), &cursor, &creds) == 0) {
    if (!out && krb5_is_config_principal(ctx, creds.server) == 0) {
      krb5_data* data = nullptr;
      Krb5String principal(ctx);
      if (krb5_marshal_credentials(ctx, &creds, &data) == 0 &&
          krb5_unparse_name(ctx, creds.client, principal.out()) == 0) {
        out = std::make_shared<StoredCredential>();
        out->id = id;
        out->principal = principal.get();
        out->tgt = SecretString(std::string(data->data, data->length));
        out->expires_at = static_cast<int64_t>(static_cast<uint32_t>(creds.times.endtime));
        out->deposited_at = now;
      }
      if (data != nullptr) {
        secureWipe(data->data, data->length);
        krb5_free_data(ctx, data);
      }
    }
    krb5_free_cred_contents(ctx, &creds);
  }
  krb5_cc_end_seq_get(ctx, cc.get(), &cursor);
  return out;
}

}  // namespace

std::string DirStore::pathFor(std::string_view id) const { return dir_ + "/" + hex(id); }

absl::StatusOr<std::unique_ptr<DirStore>> DirStore::open(const std::string& dir, size_t max_entries,
                                                         int64_t now) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        strCat("store directory ", dir, ": cannot create: ", std::strerror(errno)));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(strCat("store directory ", dir, " is not a directory"));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(strCat("store directory ", dir,
                                                " must be owned by the broker's user (uid ",
                                                ::geteuid(), "), not uid ", st.st_uid));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        strCat("store directory ", dir, " is accessible by others (mode ",
               fmt::format("{:04o}", st.st_mode & 07777), "); run: chmod 0700 ", dir));
  }
  std::unique_ptr<DirStore> store(new DirStore(dir, max_entries));  // NOLINT: private ctor
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(
        strCat("store directory ", dir, ": ", std::strerror(errno)));
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    std::string path = dir + "/" + name;
    if (name.ends_with(".tmp")) {
      ::unlink(path.c_str());  // a deposit interrupted before its rename
      continue;
    }
    auto id = unhex(name);
    if (!id) continue;
    auto cred = loadFile(path, *id, now);
    if (!cred || cred->expires_at <= now) {
      ::unlink(path.c_str());
      continue;
    }
    (void)store->memory_.put(std::move(cred));
  }
  ::closedir(d);
  return store;
}

absl::Status DirStore::put(std::shared_ptr<StoredCredential> cred) {
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return absl::InternalError("krb5 context unavailable");
  krb5_creds* tgt = nullptr;
  krb5_data d{};
  d.magic = KV5M_DATA;
  d.length = static_cast<unsigned int>(cred->tgt.size());
  d.data = const_cast<char*>(cred->tgt.str().data());
  if (krb5_unmarshal_credentials(ctx, &d, &tgt) != 0) {
    return absl::InternalError("stored credential unreadable");
  }
  auto bytes = serializeCcache(ctx, tgt->client, {tgt});
  krb5_free_creds(ctx, tgt);
  if (!bytes.ok()) return bytes.status();
  const std::string path = pathFor(cred->id);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(strCat("credential store write failed: ", std::strerror(errno)));
  }
  const std::string& b = bytes->str();
  size_t off = 0;
  int err = 0;
  while (off < b.size()) {
    ssize_t n = ::write(fd, b.data() + off, b.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    off += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(strCat("credential store write failed: ", std::strerror(err)));
  }
  if (auto st = memory_.put(cred); !st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  return absl::OkStatus();
}

bool DirStore::remove(std::string_view id) {
  ::unlink(pathFor(id).c_str());
  return memory_.remove(id);
}

size_t DirStore::sweep(int64_t now) {
  auto ids = memory_.sweepIds(now);
  for (const auto& id : ids) ::unlink(pathFor(id).c_str());
  return ids.size();
}

}  // namespace gssgate::broker
