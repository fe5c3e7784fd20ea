#include "proxy/session/session_cookie.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/base64.h"
#include "common/secure_wipe.h"
#include "common/strings.h"

namespace gssgate::proxy {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kFlagCredential = 1;
constexpr std::string_view kLabel = "gssgate session v1|";

void putBe(std::string& out, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) {
    out += static_cast<char>((v >> (8U * (bytes - 1 - i))) & 0xFFU);
  }
}

// Reads big-endian integers and byte strings off a buffer; any overrun makes ok() false.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  uint64_t be(unsigned bytes) {
    if (data_.size() < bytes) return fail();
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(bytes);
    return v;
  }
  std::string take(size_t n) {
    if (data_.size() < n) return fail(), std::string();
    std::string s(data_.substr(0, n));
    data_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && data_.empty(); }

 private:
  uint64_t fail() {
    ok_ = false;
    data_ = {};
    return 0;
  }
  std::string_view data_;
  bool ok_ = true;
};

std::string associated(uint32_t key_id) {
  std::string a(kLabel);
  putBe(a, key_id, 4);
  return a;
}

uint32_t keyIdOf(std::string_view key) {
  std::string digest = sha256(strCat("gssgate session key id|", key));
  Reader r(digest);
  return static_cast<uint32_t>(r.be(4));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SessionKeys>> SessionKeys::parse(std::string_view text,
                                                                      std::string_view origin) {
  auto keys = std::make_shared<SessionKeys>();
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = trimAscii(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto key = base64Decode(line);
    if (!key || key->size() != Aead::kKeyBytes) {
      if (key) secureWipe(*key);
      return absl::InvalidArgumentError(strCat(
          origin, ":", line_no, ": expected a key: base64 of 32 random bytes (make one with ",
          "`openssl rand -base64 32`)"));
    }
    const uint32_t id = keyIdOf(*key);
    for (const auto& k : keys->keys_) {
      if (k.id == id) {
        secureWipe(*key);
        return absl::InvalidArgumentError(strCat(origin, ":", line_no, ": the same key twice"));
      }
    }
    keys->keys_.push_back(Key{id, Aead(*key)});
    secureWipe(*key);
  }
  if (keys->keys_.empty()) {
    return absl::InvalidArgumentError(
        strCat(origin, ": no key; put one per line, base64 of 32 random bytes"));
  }
  return std::shared_ptr<const SessionKeys>(std::move(keys));
}

absl::StatusOr<std::shared_ptr<const SessionKeys>> SessionKeys::load(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(strCat(file, ": cannot read the session key file"));
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = std::move(buf).str();
  auto keys = parse(text, file);
  secureWipe(text);
  return keys;
}

std::shared_ptr<const SessionKeys> SessionKeys::generated() {
  static std::once_flag once;
  static std::shared_ptr<const SessionKeys> keys;
  std::call_once(once, [] {
    auto k = std::make_shared<SessionKeys>();
    SecretString key = Aead::randomKey();
    k->keys_.push_back(Key{keyIdOf(key.str()), Aead(key.str())});
    keys = std::move(k);
  });
  return keys;
}

uint64_t SessionCodec::nextId() {
  static std::atomic<uint64_t> next{0};
  return ++next;
}

std::string SessionCodec::seal(const Session& s) const {
  const auto& key = keys_->keys().front();
  SecretString plain;
  std::string& p = plain.mutableStr();
  p.reserve(64 + s.principal.size() + s.local_name.size());
  p += static_cast<char>(kVersion);
  putBe(p, static_cast<uint64_t>(s.issued_at), 8);
  putBe(p, static_cast<uint64_t>(s.expires_at), 8);
  std::string sid = s.session_id;
  sid.resize(kSessionIdBytes, '\0');
  p += sid;
  const bool cred = s.credential_id.size() == kCredentialIdBytes;
  p += static_cast<char>(cred ? kFlagCredential : 0);
  if (cred) {
    putBe(p, s.handle_key_id, 4);
    p += s.credential_id;
    putBe(p, static_cast<uint64_t>(s.credential_expires_at), 8);
  }
  putBe(p, s.principal.size() & 0xFFFFU, 2);
  p.append(s.principal, 0, 0xFFFF);
  putBe(p, s.local_name.size() & 0xFFFFU, 2);
  p.append(s.local_name, 0, 0xFFFF);
  std::string raw;
  putBe(raw, key.id, 4);
  raw += key.aead.seal(p, associated(key.id));
  return base64UrlEncode(raw);
}

std::optional<Session> SessionCodec::open(std::string_view value, int64_t now) const {
  if (value.size() > kMaxCookieChars) return std::nullopt;
  auto raw = base64UrlDecode(value);
  if (!raw || raw->size() < 4 + Aead::kOverhead) return std::nullopt;
  Reader head(*raw);
  const auto id = static_cast<uint32_t>(head.be(4));
  const SessionKeys::Key* key = nullptr;
  for (const auto& k : keys_->keys()) {
    if (k.id == id) key = &k;
  }
  if (key == nullptr) return std::nullopt;
  auto plain = key->aead.open(std::string_view(*raw).substr(4), associated(id));
  if (!plain) return std::nullopt;
  Reader r(plain->str());
  if (r.be(1) != kVersion) return std::nullopt;
  Session s;
  s.issued_at = static_cast<int64_t>(r.be(8));
  s.expires_at = static_cast<int64_t>(r.be(8));
  s.session_id = r.take(kSessionIdBytes);
  const auto flags = r.be(1);
  if ((flags & kFlagCredential) != 0) {
    s.handle_key_id = static_cast<uint32_t>(r.be(4));
    s.credential_id = r.take(kCredentialIdBytes);
    s.credential_expires_at = static_cast<int64_t>(r.be(8));
  }
  s.principal = r.take(r.be(2));
  s.local_name = r.take(r.be(2));
  if (!r.done() || s.principal.empty() || s.local_name.empty()) return std::nullopt;
  if (s.expires_at <= now || s.issued_at > now + 300) return std::nullopt;
  return s;
}

std::vector<std::string_view> findCookies(std::string_view header, std::string_view name) {
  std::vector<std::string_view> out;
  while (auto value = findCookie(header, name)) {
    out.push_back(*value);
    // Continue after this value (it points into `header`).
    header = header.substr(static_cast<size_t>(value->data() + value->size() - header.data()));
  }
  return out;
}

std::optional<std::string_view> findCookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = trimAscii(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trimAscii(pair.substr(0, eq)) != name) continue;
    std::string_view value = trimAscii(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

std::string removeCookie(std::string_view header, std::string_view name) {
  std::string out;
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = trimAscii(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && trimAscii(pair.substr(0, eq)) == name) continue;
    if (!out.empty()) out += "; ";
    out += pair;
  }
  return out;
}

}  // namespace gssgate::proxy
