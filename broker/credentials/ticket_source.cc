#include "broker/credentials/ticket_source.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

absl::Status kdcError(krb5_context ctx, krb5_error_code code, const std::string& server) {
  std::string msg = krb5ErrorMessage(ctx, code);
  switch (code) {
    case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
      return absl::FailedPreconditionError(
          strCat("service ", server, " is unknown to the KDC: ", msg));
    case KRB5KRB_AP_ERR_TKT_EXPIRED:
      return absl::NotFoundError("the user's credential has expired");
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
      return absl::UnavailableError(strCat("KDC unreachable: ", msg));
    default:
      return absl::UnavailableError(strCat("getting a ticket for ", server, " failed: ", msg));
  }
}

}  // namespace

absl::StatusOr<SecretString> KdcTicketSource::fetch(const SecretString& tgtBytes,
                                                    const std::string& server) const {
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return absl::InternalError("krb5 context unavailable (krb5.conf?)");
  Krb5Creds tgt(ctx);
  // krb5_unmarshal_credentials only reads the data; the copy is wiped when it goes.
  SecretString bytes(tgtBytes.str());
  krb5_data d{};
  d.magic = KV5M_DATA;
  d.length = static_cast<unsigned int>(bytes.size());
  d.data = bytes.mutableStr().data();
  if (krb5_error_code code = krb5_unmarshal_credentials(ctx, &d, tgt.out()); code != 0) {
    return absl::InternalError(
        strCat("stored credential unreadable: ", krb5ErrorMessage(ctx, code)));
  }
  Krb5Principal serverName(ctx);
  if (krb5_parse_name(ctx, server.c_str(), serverName.out()) != 0) {
    return absl::InvalidArgumentError("service is not a valid principal name");
  }
  Krb5DestroyingCcache cc(ctx);
  if (krb5_error_code code = krb5_cc_new_unique(ctx, "MEMORY", nullptr, cc.out()); code != 0) {
    return absl::InternalError(strCat("memory ccache: ", krb5ErrorMessage(ctx, code)));
  }
  if (krb5_error_code code = krb5_cc_initialize(ctx, cc.get(), tgt.get()->client); code != 0) {
    return absl::InternalError(strCat("memory ccache: ", krb5ErrorMessage(ctx, code)));
  }
  if (krb5_error_code code = krb5_cc_store_cred(ctx, cc.get(), tgt.get()); code != 0) {
    return absl::InternalError(strCat("memory ccache: ", krb5ErrorMessage(ctx, code)));
  }
  krb5_creds in{};
  in.client = tgt.get()->client;
  in.server = serverName.get();
  Krb5Creds svc(ctx);
  if (krb5_error_code code = krb5_get_credentials(ctx, 0, cc.get(), &in, svc.out()); code != 0) {
    return kdcError(ctx, code, server);
  }
  krb5_data* data = nullptr;
  if (krb5_error_code code = krb5_marshal_credentials(ctx, svc.get(), &data); code != 0) {
    return absl::InternalError(strCat("marshal: ", krb5ErrorMessage(ctx, code)));
  }
  SecretString out(std::string(data->data, data->length));
  secureWipe(data->data, data->length);
  krb5_free_data(ctx, data);
  return out;
}

DeadlineTicketSource::DeadlineTicketSource(std::shared_ptr<const TicketSource> inner,
                                           std::chrono::milliseconds timeout,
                                           size_t max_outstanding)
    : inner_(std::move(inner)),
      timeout_ms_(timeout.count()),
      max_outstanding_(max_outstanding),
      outstanding_(std::make_shared<std::atomic<size_t>>(0)) {}

absl::StatusOr<SecretString> DeadlineTicketSource::fetch(const SecretString& tgt,
                                                         const std::string& server) const {
  // One call's meeting point: the worker fills `result`; whoever leaves last frees it.
  struct Call {
    std::mutex mu;  // guards result
    std::condition_variable cv;
    std::optional<absl::StatusOr<SecretString>> result;
  };
  if (outstanding_->fetch_add(1, std::memory_order_acq_rel) >= max_outstanding_) {
    outstanding_->fetch_sub(1, std::memory_order_acq_rel);
    overloaded_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(strCat("KDC unreachable: ", max_outstanding_,
                                         " requests to the KDC are already outstanding"));
  }
  const std::chrono::milliseconds timeout = this->timeout();
  auto call = std::make_shared<Call>();
  try {
    // The worker owns copies of everything it reads: the caller may be gone when it returns.
    std::thread([call, inner = inner_, outstanding = outstanding_,
                 tgtCopy = std::make_shared<SecretString>(std::string(tgt.str())), server] {
      auto got = inner->fetch(*tgtCopy, server);
      {
        std::lock_guard lock(call->mu);
        call->result.emplace(std::move(got));
      }
      call->cv.notify_one();
      outstanding->fetch_sub(1, std::memory_order_acq_rel);
    }).detach();
  } catch (const std::system_error& e) {
    outstanding_->fetch_sub(1, std::memory_order_acq_rel);
    return absl::ResourceExhaustedError(strCat("cannot start a KDC request thread: ", e.what()));
  }
  std::unique_lock lock(call->mu);
  if (!call->cv.wait_for(lock, timeout, [&] { return call->result.has_value(); })) {
    timed_out_.fetch_add(1, std::memory_order_relaxed);
    return absl::UnavailableError(strCat("KDC unreachable: no answer for ", server, " within ",
                                         timeout.count(), " ms (kdc_timeout)"));
  }
  return std::move(*call->result);
}

}  // namespace gssgate::broker
