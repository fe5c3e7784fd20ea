#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>

#include "common/strings.h"
#include "gssgate/v1/broker.grpc.pb.h"
#include "proxy/broker_client/broker_client.h"

namespace gssgate::proxy {
namespace {

// gRPC's default reconnect backoff grows to 120 s: after a broker restart every deposit
// would fail for seconds to minutes. A local Unix socket is cheap to retry often.
grpc::ChannelArguments channelArguments() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return args;
}

class GrpcBrokerClient final : public BrokerClient {
 public:
  GrpcBrokerClient(const std::string& address, std::chrono::milliseconds deadline)
      : address_(address), deadline_(deadline), stub_(newStub()) {}

  absl::StatusOr<DepositReceipt> deposit(const std::string& principal,
                                         const SecretString& tgt) override {
    gssgate::v1::DepositRequest req;
    req.set_principal(principal);
    req.set_tgt(tgt.str());
    gssgate::v1::DepositResponse res;
    auto stub = currentStub();
    grpc::Status st = call(*stub, req, res);
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // A broker that restarted leaves this channel on a dead connection (or in reconnect
      // backoff). A fresh channel connects at once if the broker is back, and fails at once
      // (ENOENT/ECONNREFUSED on the socket) if it is not — so one retry costs nothing.
      stub = replaceStub(stub);
      res.Clear();
      st = call(*stub, req, res);
    }
    secureWipe(*req.mutable_tgt());
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          strCat("broker ", address_, ": ", st.error_message()));
    }
    DepositReceipt r;
    r.handle = res.handle();
    r.credential_id = res.credential_id();
    r.expires_at = res.expires_at();
    r.handle_key_id = res.handle_key_id();
    r.handle_key = SecretString(std::move(*res.mutable_handle_key()));
    r.handle_ttl = res.handle_ttl_seconds();
    return r;
  }

  absl::Status revoke(const std::string& credential_id) override {
    gssgate::v1::RevokeCredentialRequest req;
    req.set_credential_id(credential_id);
    gssgate::v1::RevokeResponse res;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    auto admin = gssgate::v1::CredentialAdmin::NewStub(currentChannel());
    grpc::Status st = admin->RevokeCredential(&ctx, req, &res);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          strCat("broker ", address_, ": ", st.error_message()));
    }
    return absl::OkStatus();
  }

 private:
  using Stub = gssgate::v1::CredentialDeposit::Stub;

  std::shared_ptr<Stub> newStub() {
    channel_ =
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), channelArguments());
    return gssgate::v1::CredentialDeposit::NewStub(channel_);
  }
  std::shared_ptr<Stub> currentStub() {
    std::lock_guard lock(mu_);
    return stub_;
  }
  std::shared_ptr<grpc::Channel> currentChannel() {
    std::lock_guard lock(mu_);
    return channel_;
  }
  // Replaces `failed` unless another thread already did; returns the stub to use.
  std::shared_ptr<Stub> replaceStub(const std::shared_ptr<Stub>& failed) {
    std::lock_guard lock(mu_);
    if (stub_ == failed) stub_ = newStub();
    return stub_;
  }
  grpc::Status call(Stub& stub, const gssgate::v1::DepositRequest& req,
                    gssgate::v1::DepositResponse& res) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    return stub.Deposit(&ctx, req, &res);
  }

  std::string address_;
  std::chrono::milliseconds deadline_;
  std::mutex mu_;  // guards channel_ and stub_
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<Stub> stub_;
};

}  // namespace

std::unique_ptr<BrokerClient> makeGrpcBrokerClient(const std::string& address,
                                                   std::chrono::milliseconds deadline) {
  return std::make_unique<GrpcBrokerClient>(address, deadline);
}

}  // namespace gssgate::proxy
