#include "gssgate/broker_client.h"

#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "client/errno_status.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gssgate/v1/broker.grpc.pb.h"

namespace gssgate::client {
namespace {

namespace pb = ::gssgate::v1;
namespace health_pb = ::grpc::health::v1;

// ListResponse grows with the store; gRPC's 4 MiB default would cap a large listing.
constexpr int kMaxReceiveBytes = 64 << 20;
// The broker is local: retry a vanished socket quickly instead of gRPC's 1 s..120 s backoff.
constexpr int kMinReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 2000;

// The socket path of "unix:/abs", "unix:rel" or "unix:///abs"; empty for anything else.
std::string unixSocketPath(std::string_view address) {
  constexpr std::string_view kScheme = "unix:";
  if (!address.starts_with(kScheme)) return {};
  std::string_view path = address.substr(kScheme.size());
  if (path.starts_with("//")) {
    path.remove_prefix(2);  // URI form: an empty authority, then an absolute path
    if (!path.starts_with('/')) return {};
  }
  return std::string(path);
}

// Why connecting to the Unix socket at `path` fails ("No such file or directory"), or "" when
// something accepts connections there (or is too busy to, which still means it is there).
std::string connectFailure(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return "socket path too long";
  addr.sun_family = AF_UNIX;
  std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
  const UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errnoText(errno);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return {};
  const int err = errno;
  return err == EAGAIN ? std::string() : errnoText(err);
}

std::string_view grpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "an unknown status";
  }
}

// gRPC and Abseil both use the canonical google.rpc.Code numbering (0..16).
absl::StatusCode toAbslCode(grpc::StatusCode code) {
  const int n = static_cast<int>(code);
  return n >= 0 && n <= static_cast<int>(absl::StatusCode::kUnauthenticated)
             ? static_cast<absl::StatusCode>(n)
             : absl::StatusCode::kUnknown;
}

std::chrono::sys_seconds fromEpoch(int64_t seconds) {
  return std::chrono::sys_seconds(std::chrono::seconds(seconds));
}

}  // namespace

std::string_view servingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

// The channel and stubs; immutable after construction (gRPC stubs are thread-safe).
class BrokerClient::Impl {
 public:
  Impl(std::string address, std::chrono::milliseconds deadline)
      : address_(std::move(address)), socket_path_(unixSocketPath(address_)), deadline_(deadline) {
    if (socket_path_.empty()) return;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kMinReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
    channel_ = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
    broker_ = pb::CredentialBroker::NewStub(channel_);
    admin_ = pb::CredentialAdmin::NewStub(channel_);
    health_ = health_pb::Health::NewStub(channel_);
  }

  const std::string& address() const { return address_; }
  std::chrono::milliseconds deadline() const { return deadline_; }
  pb::CredentialBroker::Stub& broker() const { return *broker_; }
  pb::CredentialAdmin::Stub& admin() const { return *admin_; }
  health_pb::Health::Stub& health() const { return *health_; }

  // OK when calls can be attempted at all.
  absl::Status usable() const {
    if (channel_ != nullptr) return absl::OkStatus();
    return absl::InvalidArgumentError(
        strCat("broker address must be unix:/path/to/socket, not '", address_, "'"));
  }

  void prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  }

  // The call's outcome as an absl::Status: the broker's code and message, with transport
  // failures (no broker, deadline, wrong socket) turned into something a person can act on.
  absl::Status toStatus(const grpc::Status& s, std::string_view method) const {
    if (s.ok()) return absl::OkStatus();
    const std::string& msg = s.error_message();
    switch (s.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        // The broker also answers UNAVAILABLE itself (KDC unreachable): only a socket nobody
        // answers on makes the broker "unreachable".
        if (std::string why = connectFailure(socket_path_); !why.empty()) {
          return absl::UnavailableError(strCat("broker unreachable at ", address_, " (", why, ")"));
        }
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return absl::DeadlineExceededError(
            strCat("broker at ", address_, " did not answer within ", deadline_.count(), " ms"));
      case grpc::StatusCode::UNIMPLEMENTED:
        if (msg.empty()) {
          return absl::UnimplementedError(
              strCat(address_, " does not serve ", method,
                     " (backends redeem on the broker's `listen` socket; listing and revoking by "
                     "id need its `deposit_listen` socket)"));
        }
        break;
      default:
        break;
    }
    if (msg.empty()) {
      return {toAbslCode(s.error_code()),
              strCat("broker at ", address_, " returned ", grpcCodeName(s.error_code()))};
    }
    return {toAbslCode(s.error_code()), msg};
  }

 private:
  std::string address_;
  std::string socket_path_;  // empty: invalid address
  std::chrono::milliseconds deadline_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::CredentialBroker::Stub> broker_;
  std::unique_ptr<pb::CredentialAdmin::Stub> admin_;
  std::unique_ptr<health_pb::Health::Stub> health_;
};

BrokerClient::BrokerClient(std::string address, std::chrono::milliseconds deadline)
    : impl_(std::make_shared<const Impl>(std::move(address), deadline)) {}
BrokerClient::~BrokerClient() = default;
BrokerClient::BrokerClient(const BrokerClient&) = default;
BrokerClient& BrokerClient::operator=(const BrokerClient&) = default;
BrokerClient::BrokerClient(BrokerClient&&) noexcept = default;
BrokerClient& BrokerClient::operator=(BrokerClient&&) noexcept = default;

const std::string& BrokerClient::address() const { return impl_->address(); }
std::chrono::milliseconds BrokerClient::deadline() const { return impl_->deadline(); }

absl::StatusOr<RedeemedCredential> BrokerClient::redeem(std::string_view handle,
                                                        std::string_view service) const {
  if (absl::Status st = impl_->usable(); !st.ok()) return st;
  pb::RedeemRequest req;
  req.set_handle(std::string(handle));
  req.set_service(std::string(service));
  pb::RedeemResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  const grpc::Status s = impl_->broker().Redeem(&ctx, req, &resp);
  secureWipe(*req.mutable_handle());
  if (!s.ok()) return impl_->toStatus(s, "gssgate.v1.CredentialBroker/Redeem");
  if (resp.ccache().empty()) {
    return absl::InternalError(strCat("broker at ", address(), " returned an empty ccache"));
  }
  RedeemedCredential out;
  out.ccache_bytes = SecretString(std::move(*resp.mutable_ccache()));  // wipes the source
  out.principal = resp.principal();
  out.expires_at = fromEpoch(resp.expires_at());
  return out;
}

absl::Status BrokerClient::revoke(std::string_view handle) const {
  if (absl::Status st = impl_->usable(); !st.ok()) return st;
  pb::RevokeRequest req;
  req.set_handle(std::string(handle));
  pb::RevokeResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  const grpc::Status s = impl_->broker().Revoke(&ctx, req, &resp);
  secureWipe(*req.mutable_handle());
  return impl_->toStatus(s, "gssgate.v1.CredentialBroker/Revoke");
}

absl::StatusOr<std::vector<CredentialInfo>> BrokerClient::list() const {
  if (absl::Status st = impl_->usable(); !st.ok()) return st;
  const pb::ListRequest req;
  pb::ListResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  const grpc::Status s = impl_->admin().List(&ctx, req, &resp);
  if (!s.ok()) return impl_->toStatus(s, "gssgate.v1.CredentialAdmin/List");
  std::vector<CredentialInfo> out;
  out.reserve(static_cast<size_t>(resp.credentials_size()));
  for (const pb::StoredCredential& c : resp.credentials()) {
    out.push_back(CredentialInfo{c.credential_id(), c.principal(), fromEpoch(c.deposited_at()),
                                 fromEpoch(c.expires_at()), c.redemptions()});
  }
  return out;
}

absl::Status BrokerClient::revokeCredential(std::string_view credential_id) const {
  if (absl::Status st = impl_->usable(); !st.ok()) return st;
  pb::RevokeCredentialRequest req;
  req.set_credential_id(std::string(credential_id));
  pb::RevokeResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  const grpc::Status s = impl_->admin().RevokeCredential(&ctx, req, &resp);
  return impl_->toStatus(s, "gssgate.v1.CredentialAdmin/RevokeCredential");
}

absl::StatusOr<ServingStatus> BrokerClient::health(std::string_view service) const {
  if (absl::Status st = impl_->usable(); !st.ok()) return st;
  health_pb::HealthCheckRequest req;
  req.set_service(std::string(service));
  health_pb::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx);
  const grpc::Status s = impl_->health().Check(&ctx, req, &resp);
  // The protocol answers NOT_FOUND for a service name the server does not know.
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return ServingStatus::kServiceUnknown;
  if (!s.ok()) return impl_->toStatus(s, "grpc.health.v1.Health/Check");
  switch (resp.status()) {
    case health_pb::HealthCheckResponse::SERVING:
      return ServingStatus::kServing;
    case health_pb::HealthCheckResponse::NOT_SERVING:
      return ServingStatus::kNotServing;
    case health_pb::HealthCheckResponse::SERVICE_UNKNOWN:
      return ServingStatus::kServiceUnknown;
    default:
      return ServingStatus::kUnknown;
  }
}

}  // namespace gssgate::client
