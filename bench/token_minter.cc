#include "bench/token_minter.h"

#include <algorithm>
#include <array>
#include <memory>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "common/base64.h"
#include "common/gss_error.h"
#include "common/gss_handles.h"
#include "common/krb5_handles.h"

namespace gssgate::bench {
namespace {

// 1.3.6.1.5.5.2, DER body.
constexpr std::array<char, 6> kSpnegoOidBytes = {'\x2b', '\x06', '\x01', '\x05', '\x05', '\x02'};

gss_OID_desc spnegoOid() {
  // GSS takes a void* but never writes through it.
  void* bytes = const_cast<char*>(kSpnegoOidBytes.data());  // NOLINT(*-const-cast)
  return gss_OID_desc{static_cast<OM_uint32>(kSpnegoOidBytes.size()), bytes};
}

// A private MEMORY copy of the default ccache, destroyed with this object. From a FILE ccache
// every token costs ~40 syscalls (open, lock, read per lookup); from memory the cost is the GSS
// work itself, as in a browser that keeps its tickets in memory.
class MemoryCcacheCopy {
 public:
  absl::Status init() {
    auto ctx = Krb5Context::create();
    if (!ctx.ok()) return ctx.status();
    ctx_ = std::make_unique<Krb5Context>(std::move(*ctx));
    krb5_context k = ctx_->get();
    Krb5Ccache source(k);
    krb5_error_code rc = krb5_cc_default(k, source.out());
    if (rc != 0) return failure("default ccache", rc);
    Krb5Principal client(k);
    rc = krb5_cc_get_principal(k, source.get(), client.out());
    if (rc != 0) return failure("default ccache (KRB5CCNAME; kinit first?)", rc);
    mem_ = std::make_unique<Krb5DestroyingCcache>(k);
    rc = krb5_cc_new_unique(k, "MEMORY", nullptr, mem_->out());
    if (rc == 0) rc = krb5_cc_initialize(k, mem_->get(), client.get());
    if (rc == 0) rc = krb5_cc_copy_creds(k, source.get(), mem_->get());
    if (rc != 0) return failure("copying the ccache to memory", rc);
    Krb5String full(k);
    rc = krb5_cc_get_full_name(k, mem_->get(), full.out());
    if (rc != 0) return failure("naming the memory ccache", rc);
    name_ = full.get();
    return absl::OkStatus();
  }
  const std::string& name() const { return name_; }

 private:
  absl::Status failure(const std::string& what, krb5_error_code rc) const {
    return absl::FailedPreconditionError(what + ": " + krb5ErrorMessage(ctx_->get(), rc));
  }

  std::unique_ptr<Krb5Context> ctx_;  // declared first: the ccache borrows it
  std::unique_ptr<Krb5DestroyingCcache> mem_;
  std::string name_;
};

absl::Status gssFailure(const std::string& what, OM_uint32 major, OM_uint32 minor) {
  return absl::FailedPreconditionError(what + ": " + gssErrorMessage(major, minor));
}

}  // namespace

struct TokenMinter::State {
  MintOptions options;
  gss_OID_desc spnego = spnegoOid();
  GssName target;
  MemoryCcacheCopy ccache;
  GssCred cred;
  OM_uint32 flags = GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG;
};

TokenMinter::TokenMinter(std::unique_ptr<State> state) : state_(std::move(state)) {}
TokenMinter::~TokenMinter() = default;

absl::StatusOr<std::unique_ptr<TokenMinter>> TokenMinter::create(const MintOptions& options) {
  auto st = std::make_unique<State>();
  st->options = options;
  OM_uint32 minor = 0;
  gss_buffer_desc nameBuf = gssInputBuffer(options.spn);
  OM_uint32 major = gss_import_name(&minor, &nameBuf, GSS_C_NT_HOSTBASED_SERVICE, st->target.out());
  if (GSS_ERROR(major)) return gssFailure("gss_import_name(" + options.spn + ")", major, minor);

  if (absl::Status s = st->ccache.init(); !s.ok()) return s;
  std::array<gss_key_value_element_desc, 1> elements = {{{"ccache", st->ccache.name().c_str()}}};
  gss_key_value_set_desc store{static_cast<OM_uint32>(elements.size()), elements.data()};
  gss_OID_set_desc mechs{1, &st->spnego};
  major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                &store, st->cred.out(), nullptr, nullptr);
  if (GSS_ERROR(major)) return gssFailure("gss_acquire_cred_from", major, minor);
  if (options.mutual) st->flags |= static_cast<OM_uint32>(GSS_C_MUTUAL_FLAG);
  if (options.delegate) st->flags |= static_cast<OM_uint32>(GSS_C_DELEG_FLAG);
  return std::make_unique<TokenMinter>(std::move(st));
}

absl::Status TokenMinter::mint(uint64_t count, std::vector<std::string>& out) {
  State& st = *state_;
  for (uint64_t i = 0; i < count; ++i) {
    OM_uint32 minor = 0;
    GssContext ctx;
    GssBuffer token;
    const OM_uint32 major = gss_init_sec_context(
        &minor, st.cred.get(), ctx.out(), st.target.get(), &st.spnego, st.flags, 0,
        GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, nullptr, token.out(), nullptr, nullptr);
    if (GSS_ERROR(major) || token.empty()) {
      return gssFailure("gss_init_sec_context(" + st.options.spn + ")", major, minor);
    }
    out.push_back(base64Encode(token.view()));
  }
  return absl::OkStatus();
}

namespace {

// Mints `count` tokens on the calling thread into `out`.
absl::Status mintSome(const MintOptions& opt, uint64_t count, std::vector<std::string>& out) {
  out.reserve(count);
  auto minter = TokenMinter::create(opt);
  if (!minter.ok()) return minter.status();
  return (*minter)->mint(count, out);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> mintTokens(const MintOptions& options) {
  const uint64_t parts = std::max<uint64_t>(
      1, std::min<uint64_t>(static_cast<uint64_t>(options.threads), options.count));
  std::vector<std::vector<std::string>> batches(parts);
  std::vector<absl::Status> statuses(parts);
  {
    std::vector<std::jthread> threads;
    threads.reserve(parts);
    for (uint64_t i = 0; i < parts; ++i) {
      const uint64_t count = options.count / parts + (i < options.count % parts ? 1 : 0);
      threads.emplace_back([&options, &batches, &statuses, i, count] {
        statuses[i] = mintSome(options, count, batches[i]);
      });
    }
  }
  std::vector<std::string> tokens;
  tokens.reserve(options.count);
  for (uint64_t i = 0; i < parts; ++i) {
    if (!statuses[i].ok()) return statuses[i];
    std::move(batches[i].begin(), batches[i].end(), std::back_inserter(tokens));
  }
  return tokens;
}

}  // namespace gssgate::bench
