// gssgate-broker-bench: deposit and redemption latency against a running broker, and how
// many stored credentials its memory holds. Driven by bench/broker_bench.py.
//
//   gssgate-broker-bench --deposit unix:D --backend unix:B --service postgres/localhost
//       [--deposits 2000] [--first 200] [--cached 5000] [--fill 100000]
//
// The user's TGT comes from the ccache in KRB5CCNAME (kinit first). Prints one JSON object.
#include <grpcpp/grpcpp.h>
#include <krb5/krb5.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/krb5_handles.h"
#include "common/secure_wipe.h"
#include "gssgate/v1/broker.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string deposit, backend, service = "postgres/localhost";
  int deposits = 2000, first = 200, cached = 5000, fill = 0;
};

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::string stats(std::vector<double> v) {
  if (v.empty()) return "null";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  char buf[256];
  std::snprintf(buf, sizeof(buf), "{\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}",
                v.size(), at(0.5), at(0.99), v.back());
  return buf;
}

// The TGT from KRB5CCNAME, marshaled, and its client principal.
bool loadTgt(std::string& principal, gssgate::SecretString& tgt) {
  auto ctx = gssgate::Krb5Context::create();
  if (!ctx.ok()) return false;
  gssgate::Krb5Ccache cc(ctx->get());
  if (krb5_cc_default(ctx->get(), cc.out()) != 0) return false;
  krb5_cc_cursor cur = nullptr;
  if (krb5_cc_start_seq_get(ctx->get(), cc.get(), &cur) != 0) return false;
  krb5_creds c;
  bool found = false;
  while (!found && krb5_cc_next_cred(ctx->get(), cc.get(), &cur, &c) == 0) {
    if (c.server->length == 2 &&
        std::string(c.server->data[0].data, c.server->data[0].length) == "krbtgt") {
      krb5_data* d = nullptr;
      gssgate::Krb5String name(ctx->get());
      if (krb5_marshal_credentials(ctx->get(), &c, &d) == 0 &&
          krb5_unparse_name(ctx->get(), c.client, name.out()) == 0) {
        tgt = gssgate::SecretString(std::string(d->data, d->length));
        principal = name.get();
        found = true;
      }
      if (d != nullptr) krb5_free_data(ctx->get(), d);
    }
    krb5_free_cred_contents(ctx->get(), &c);
  }
  krb5_cc_end_seq_get(ctx->get(), cc.get(), &cur);
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--deposit")
      a.deposit = v;
    else if (k == "--backend")
      a.backend = v;
    else if (k == "--service")
      a.service = v;
    else if (k == "--deposits")
      a.deposits = std::atoi(v.c_str());
    else if (k == "--first")
      a.first = std::atoi(v.c_str());
    else if (k == "--cached")
      a.cached = std::atoi(v.c_str());
    else if (k == "--fill")
      a.fill = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::string principal;
  gssgate::SecretString tgt;
  if (a.deposit.empty() || a.backend.empty() || !loadTgt(principal, tgt)) {
    std::fprintf(stderr, "need --deposit, --backend and a TGT in KRB5CCNAME\n");
    return 2;
  }
  auto dep = gssgate::v1::CredentialDeposit::NewStub(
      grpc::CreateChannel(a.deposit, grpc::InsecureChannelCredentials()));
  auto back = gssgate::v1::CredentialBroker::NewStub(
      grpc::CreateChannel(a.backend, grpc::InsecureChannelCredentials()));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(5); };
  int errors = 0;
  auto deposit = [&](std::string* handle) {
    gssgate::v1::DepositRequest req;
    req.set_principal(principal);
    req.set_tgt(tgt.str());
    gssgate::v1::DepositResponse res;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    bool ok = dep->Deposit(&ctx, req, &res).ok();
    if (ok && handle != nullptr) *handle = res.handle();
    if (!ok) ++errors;
    return ok;
  };
  auto redeem = [&](const std::string& handle) {
    gssgate::v1::RedeemRequest req;
    req.set_handle(handle);
    req.set_service(a.service);
    gssgate::v1::RedeemResponse res;
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    bool ok = back->Redeem(&ctx, req, &res).ok();
    if (!ok) ++errors;
    return ok;
  };

  std::string warm;
  deposit(&warm);
  redeem(warm);  // connections up, first KDC round trip done
  std::vector<double> depositLat, firstLat, cachedLat;
  std::vector<std::string> handles(static_cast<size_t>(a.first));
  for (int i = 0; i < a.deposits; ++i) {
    auto t = Clock::now();
    std::string* h = i < a.first ? &handles[static_cast<size_t>(i)] : nullptr;
    if (deposit(h)) depositLat.push_back(us(Clock::now() - t));
  }
  for (const auto& h : handles) {  // each a new credential: a TGS exchange with the KDC
    auto t = Clock::now();
    if (redeem(h)) firstLat.push_back(us(Clock::now() - t));
  }
  for (int i = 0; i < a.cached; ++i) {  // the same credential+service: cached ticket
    auto t = Clock::now();
    if (redeem(warm)) cachedLat.push_back(us(Clock::now() - t));
  }
  auto fillStart = Clock::now();
  for (int i = 0; i < a.fill; ++i) deposit(nullptr);
  double fillSeconds = std::chrono::duration<double>(Clock::now() - fillStart).count();
  std::printf(
      "{\"deposit\":%s,\"redeem_first\":%s,\"redeem_cached\":%s,\"filled\":%d,"
      "\"fill_seconds\":%.1f,\"errors\":%d,\"tgt_bytes\":%zu}\n",
      stats(depositLat).c_str(), stats(firstLat).c_str(), stats(cachedLat).c_str(), a.fill,
      fillSeconds, errors, tgt.size());
  return errors == 0 ? 0 : 1;
}
