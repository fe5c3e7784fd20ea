#include "broker/service/grpc_services.h"

#include "common/base64.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

grpc::Status toGrpc(const absl::Status& st) {
  if (st.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), messageOf(st));
}

grpc::Status unknownPeer() {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "caller could not be identified");
}

constexpr size_t kMaxHandle = HandleCodec::kMaxHandleChars;
constexpr size_t kMaxService = 512;
constexpr size_t kMaxPrincipal = 1024;

}  // namespace

grpc::Status DepositService::Deposit(grpc::ServerContext* ctx,
                                     const gssgate::v1::DepositRequest* req,
                                     gssgate::v1::DepositResponse* res) {
  auto peer = peers_.lookup(ctx->peer());
  if (!peer) return unknownPeer();
  if (req->principal().empty() || req->principal().size() > kMaxPrincipal) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "principal missing or too long"};
  }
  auto out = core_.deposit(*peer, req->principal(), req->tgt());
  if (!out.ok()) return toGrpc(out.status());
  const auto cfg = core_.config();
  res->set_credential_id(base64UrlEncode(out->credential_id));
  res->set_expires_at(out->expires_at);
  res->set_handle(out->handle);
  res->set_handle_key_id(core_.handleKey().id);
  res->set_handle_key(core_.handleKey().key.str());
  res->set_handle_ttl_seconds(cfg->handle_ttl.count());
  return grpc::Status::OK;
}

grpc::Status AdminService::List(grpc::ServerContext* ctx, const gssgate::v1::ListRequest*,
                                gssgate::v1::ListResponse* res) {
  if (!peers_.lookup(ctx->peer())) return unknownPeer();
  for (const auto& c : core_.list()) {
    auto* item = res->add_credentials();
    item->set_credential_id(base64UrlEncode(c->id));
    item->set_principal(c->principal);
    item->set_deposited_at(c->deposited_at);
    item->set_expires_at(c->expires_at);
    item->set_redemptions(c->redemptions.load(std::memory_order_relaxed));
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::RevokeCredential(grpc::ServerContext* ctx,
                                            const gssgate::v1::RevokeCredentialRequest* req,
                                            gssgate::v1::RevokeResponse*) {
  auto peer = peers_.lookup(ctx->peer());
  if (!peer) return unknownPeer();
  auto id = base64UrlDecode(req->credential_id());
  if (!id || id->size() != HandleCodec::kCredentialIdBytes) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "malformed credential id"};
  }
  return toGrpc(core_.revokeCredential(*peer, *id));
}

grpc::Status BackendService::Redeem(grpc::ServerContext* ctx, const gssgate::v1::RedeemRequest* req,
                                    gssgate::v1::RedeemResponse* res) {
  auto peer = peers_.lookup(ctx->peer());
  if (!peer) return unknownPeer();
  if (req->service().empty() || req->service().size() > kMaxService) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "service missing or too long"};
  }
  if (req->handle().empty() || req->handle().size() > kMaxHandle) {
    // Same answer as any other bad handle.
    return {grpc::StatusCode::NOT_FOUND, "handle not found or expired"};
  }
  auto out = core_.redeem(*peer, req->handle(), req->service());
  if (!out.ok()) return toGrpc(out.status());
  res->set_ccache(out->ccache.str());
  res->set_principal(out->principal);
  res->set_expires_at(out->expires_at);
  return grpc::Status::OK;
}

grpc::Status BackendService::Revoke(grpc::ServerContext* ctx, const gssgate::v1::RevokeRequest* req,
                                    gssgate::v1::RevokeResponse*) {
  auto peer = peers_.lookup(ctx->peer());
  if (!peer) return unknownPeer();
  if (req->handle().size() > kMaxHandle) return grpc::Status::OK;
  return toGrpc(core_.revoke(*peer, req->handle()));
}

}  // namespace gssgate::broker
