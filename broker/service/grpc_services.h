// The gRPC adapters: thin `final` classes that identify the caller (PeerRegistry), validate
// sizes, call BrokerCore and map its Status to a gRPC status with the same message.
// CredentialDeposit and CredentialAdmin are registered only on the deposit socket's server,
// CredentialBroker only on the backend socket's, so a backend cannot even name Deposit.
//
// Thread-safety: gRPC calls these from its thread pool; BrokerCore is thread-safe.
#pragma once

#include "broker/broker_core.h"
#include "broker/service/peer_registry.h"
#include "gssgate/v1/broker.grpc.pb.h"

namespace gssgate::broker {

class DepositService final : public gssgate::v1::CredentialDeposit::Service {
 public:
  DepositService(BrokerCore& core, PeerRegistry& peers) : core_(core), peers_(peers) {}
  grpc::Status Deposit(grpc::ServerContext* ctx, const gssgate::v1::DepositRequest* req,
                       gssgate::v1::DepositResponse* res) override;

 private:
  BrokerCore& core_;
  PeerRegistry& peers_;
};

class AdminService final : public gssgate::v1::CredentialAdmin::Service {
 public:
  AdminService(BrokerCore& core, PeerRegistry& peers) : core_(core), peers_(peers) {}
  grpc::Status List(grpc::ServerContext* ctx, const gssgate::v1::ListRequest* req,
                    gssgate::v1::ListResponse* res) override;
  grpc::Status RevokeCredential(grpc::ServerContext* ctx,
                                const gssgate::v1::RevokeCredentialRequest* req,
                                gssgate::v1::RevokeResponse* res) override;

 private:
  BrokerCore& core_;
  PeerRegistry& peers_;
};

class BackendService final : public gssgate::v1::CredentialBroker::Service {
 public:
  BackendService(BrokerCore& core, PeerRegistry& peers) : core_(core), peers_(peers) {}
  grpc::Status Redeem(grpc::ServerContext* ctx, const gssgate::v1::RedeemRequest* req,
                      gssgate::v1::RedeemResponse* res) override;
  grpc::Status Revoke(grpc::ServerContext* ctx, const gssgate::v1::RevokeRequest* req,
                      gssgate::v1::RevokeResponse* res) override;

 private:
  BrokerCore& core_;
  PeerRegistry& peers_;
};

}  // namespace gssgate::broker
