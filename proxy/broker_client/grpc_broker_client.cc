#include <grpcpp/grpcpp.h>

#include "common/strings.h"
#include "gssgate/v1/broker.grpc.pb.h"
#include "proxy/broker_client/broker_client.h"

namespace gssgate::proxy {
namespace {

class GrpcBrokerClient final : public BrokerClient {
 public:
  GrpcBrokerClient(const std::string& address, std::chrono::milliseconds deadline)
      : address_(address),
        deadline_(deadline),
        stub_(gssgate::v1::CredentialDeposit::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  absl::StatusOr<DepositReceipt> deposit(const std::string& principal,
                                         const SecretString& tgt) override {
    gssgate::v1::DepositRequest req;
    req.set_principal(principal);
    req.set_tgt(tgt.str());
    gssgate::v1::DepositResponse res;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    grpc::Status st = stub_->Deposit(&ctx, req, &res);
    secureWipe(*req.mutable_tgt());
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          strCat("broker ", address_, ": ", st.error_message()));
    }
    DepositReceipt r;
    r.handle = res.handle();
    r.credential_id = res.credential_id();
    r.expires_at = res.expires_at();
    secureWipe(*res.mutable_handle_key());
    return r;
  }

 private:
  std::string address_;
  std::chrono::milliseconds deadline_;
  std::unique_ptr<gssgate::v1::CredentialDeposit::Stub> stub_;
};

}  // namespace

std::unique_ptr<BrokerClient> makeGrpcBrokerClient(const std::string& address,
                                                   std::chrono::milliseconds deadline) {
  return std::make_unique<GrpcBrokerClient>(address, deadline);
}

}  // namespace gssgate::proxy
