// An in-process gRPC server on a Unix socket in a private temp dir, serving CredentialBroker
// (and optionally CredentialAdmin) with canned answers, plus gRPC's built-in health service.
//
//   FakeBrokerServer server;                         // listening when constructed
//   BrokerClient client(server.address());
//   client.redeem(FakeBrokerServer::kGoodHandle, FakeBrokerServer::kService);  // → alice
//
// Canned Redeem answers by handle: kGoodHandle + kService → OK (kCcacheBytes, alice@TEST);
// kGoodHandle + another service → PERMISSION_DENIED; kKdcDownHandle → UNAVAILABLE (from the
// broker itself); kSlowHandle → no answer until the call is cancelled; kEmptyHandle → OK with
// an empty ccache; anything else → NOT_FOUND.
// Thread-safety: the recorded requests are guarded by a mutex; read them after the call.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gssgate/v1/broker.grpc.pb.h"

namespace gssgate::testing {

class FakeBrokerServer {
 public:
  static constexpr const char* kGoodHandle = "good-handle";
  static constexpr const char* kKdcDownHandle = "kdc-down-handle";
  static constexpr const char* kSlowHandle = "slow-handle";
  static constexpr const char* kEmptyHandle = "empty-handle";
  static constexpr const char* kService = "postgres/db";
  static constexpr const char* kCcacheBytes = "CCACHE-BYTES\x05\x04";
  static constexpr int64_t kExpiresAt = 1700000000;
  static constexpr const char* kNotFoundMessage = "handle not found or expired";
  static constexpr const char* kDeniedMessage =
      "service postgres/x is not granted to uid 1000 by the broker's policy";
  static constexpr const char* kKdcDownMessage =
      "getting a ticket for postgres/db failed: Cannot contact any KDC for realm 'TEST'";

  // `with_admin`: also serve CredentialAdmin (as the deposit socket does).
  explicit FakeBrokerServer(bool with_admin = true) : broker_(this), admin_(this) {
    std::string tmpl = "/tmp/gssgate-client-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
    socket_path_ = dir_ + "/broker.sock";
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket_path_, grpc::InsecureServerCredentials());
    builder.RegisterService(&broker_);
    if (with_admin) builder.RegisterService(&admin_);
    server_ = builder.BuildAndStart();
  }
  FakeBrokerServer(const FakeBrokerServer&) = delete;
  FakeBrokerServer& operator=(const FakeBrokerServer&) = delete;
  FakeBrokerServer(FakeBrokerServer&&) = delete;
  FakeBrokerServer& operator=(FakeBrokerServer&&) = delete;
  ~FakeBrokerServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    ::unlink(socket_path_.c_str());
    ::rmdir(dir_.c_str());
  }

  bool started() const { return server_ != nullptr; }
  std::string address() const { return "unix:" + socket_path_; }
  const std::string& dir() const { return dir_; }
  void setServing(bool serving) { server_->GetHealthCheckService()->SetServingStatus(serving); }

  int redeemCalls() const { return redeem_calls_.load(); }
  std::string lastHandle() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return last_handle_;
  }
  std::string lastService() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return last_service_;
  }
  std::string lastCredentialId() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return last_credential_id_;
  }

 private:
  class Broker final : public gssgate::v1::CredentialBroker::Service {
   public:
    explicit Broker(FakeBrokerServer* owner) : owner_(owner) {}
    grpc::Status Redeem(grpc::ServerContext* ctx, const gssgate::v1::RedeemRequest* req,
                        gssgate::v1::RedeemResponse* resp) override {
      ++owner_->redeem_calls_;
      owner_->record(req->handle(), req->service(), {});
      const std::string& h = req->handle();
      if (h == kSlowHandle) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!ctx->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return {grpc::StatusCode::INTERNAL, "too late"};
      }
      if (h == kKdcDownHandle) return {grpc::StatusCode::UNAVAILABLE, kKdcDownMessage};
      if (h == kEmptyHandle) return grpc::Status::OK;
      if (h != kGoodHandle) return {grpc::StatusCode::NOT_FOUND, kNotFoundMessage};
      if (req->service() != kService) return {grpc::StatusCode::PERMISSION_DENIED, kDeniedMessage};
      resp->set_ccache(std::string(kCcacheBytes, sizeof("CCACHE-BYTES\x05\x04") - 1));
      resp->set_principal("alice@TEST");
      resp->set_expires_at(kExpiresAt);
      return grpc::Status::OK;
    }
    grpc::Status Revoke(grpc::ServerContext* /*ctx*/, const gssgate::v1::RevokeRequest* req,
                        gssgate::v1::RevokeResponse* /*resp*/) override {
      owner_->record(req->handle(), {}, {});
      return grpc::Status::OK;
    }

   private:
    FakeBrokerServer* owner_;
  };

  class Admin final : public gssgate::v1::CredentialAdmin::Service {
   public:
    explicit Admin(FakeBrokerServer* owner) : owner_(owner) {}
    grpc::Status List(grpc::ServerContext* /*ctx*/, const gssgate::v1::ListRequest* /*req*/,
                      gssgate::v1::ListResponse* resp) override {
      auto* a = resp->add_credentials();
      a->set_credential_id("cred-a");
      a->set_principal("alice@TEST");
      a->set_deposited_at(1700000000);  // 2023-11-14T22:13:20Z
      a->set_expires_at(1700036000);    // 2023-11-15T08:13:20Z
      a->set_redemptions(3);
      auto* b = resp->add_credentials();
      b->set_credential_id("cred-bb");
      b->set_principal("bob\n@TEST");  // a control byte, to check it is not printed raw
      b->set_deposited_at(1700000100);
      b->set_expires_at(1700036100);
      b->set_redemptions(0);
      return grpc::Status::OK;
    }
    grpc::Status RevokeCredential(grpc::ServerContext* /*ctx*/,
                                  const gssgate::v1::RevokeCredentialRequest* req,
                                  gssgate::v1::RevokeResponse* /*resp*/) override {
      owner_->record({}, {}, req->credential_id());
      if (req->credential_id() != "cred-a") {
        return {grpc::StatusCode::NOT_FOUND, "no stored credential with that id"};
      }
      return grpc::Status::OK;
    }

   private:
    FakeBrokerServer* owner_;
  };

  void record(const std::string& handle, const std::string& service, const std::string& id) {
    const std::lock_guard<std::mutex> lock(mu_);
    last_handle_ = handle;
    last_service_ = service;
    last_credential_id_ = id;
  }

  std::string dir_;
  std::string socket_path_;
  Broker broker_;
  Admin admin_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> redeem_calls_{0};
  mutable std::mutex mu_;  // guards last_*
  std::string last_handle_;
  std::string last_service_;
  std::string last_credential_id_;
};

}  // namespace gssgate::testing
