// Fuzz target (e): every broker request message — DepositRequest, RedeemRequest,
// RevokeRequest, RevokeCredentialRequest, ListRequest (proto/gssgate/v1/broker.proto) — parsed
// from bytes with protobuf and fed to one BrokerCore (memory store of 4, fixed handle key,
// hermetic krb5 without a KDC), as a sequence of calls from different callers.
//
// Input: a sequence of [op: 1 byte][length: 2 bytes, big-endian][message bytes]. op % 6 picks
// Deposit, Redeem, Revoke, RevokeCredential, List or a sweep; op / 6 % 3 the caller's uid
// (0, 1000 = granted postgres/*, 1001 = nothing). In Redeem/Revoke a handle "$N" stands for
// the handle of the N-th deposit of this run, and in RevokeCredential a credential id "$N"
// for its id — the fuzzer cannot forge a sealed handle, so this lets it reach what follows.
//
// Oracle: no crash; every refusal is a clean absl::Status (not OK, not INTERNAL/UNKNOWN, with
// a message); a redeem never succeeds without a deposit made in this run, nor with a handle
// the run did not get from a deposit, nor after that credential was revoked; a deposit's
// handle opens under the broker's key to that deposit; List shows only this run's deposits.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/broker_core.h"
#include "common/base64.h"
#include "common/handle_codec.h"
#include "gssgate/v1/broker.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_krb5.h"

namespace {

using gssgate::broker::BrokerConfig;
using gssgate::broker::BrokerCore;
using gssgate::broker::PeerCred;

constexpr int kMaxOps = 32;

// GSSGATE_FUZZ_VERBOSE=1: print each call's outcome (to see what a seed reaches).
bool verbose() {
  static const bool v = std::getenv("GSSGATE_FUZZ_VERBOSE") != nullptr;
  return v;
}

std::shared_ptr<const BrokerConfig> config() {
  static const auto cfg = [] {
    auto c = std::make_shared<BrokerConfig>();
    c->backend.path = "/run/fuzz/broker.sock";
    c->deposit.path = "/run/fuzz/deposit.sock";
    gssgate::broker::PolicyEntry e;
    e.uid = 1000;
    e.services = {"postgres/*"};
    c->policy.push_back(e);
    gssgate::broker::PolicyEntry t;
    t.uid = 0;
    t.services = {"*"};
    t.allow_tgt = true;
    c->policy.push_back(t);
    return std::shared_ptr<const BrokerConfig>(std::move(c));
  }();
  return cfg;
}

void checkRefusal(const absl::Status& st, const char* what) {
  FUZZ_CHECK(!st.ok(), what);
  FUZZ_CHECK(st.code() != absl::StatusCode::kInternal && st.code() != absl::StatusCode::kUnknown,
             "a refusal that is not a clean status (INTERNAL/UNKNOWN)");
  FUZZ_CHECK(!st.message().empty(), "a refusal without a message");
}

struct Deposit {
  std::string credential_id;  // raw
  std::string handle;
  std::string principal;
  bool revoked = false;
};

// "$N" → the N-th deposit (modulo the count), if any.
const Deposit* reference(std::string_view s, std::vector<Deposit>& deposits) {
  if (deposits.empty() || s.size() < 2 || s[0] != '$') return nullptr;
  size_t n = 0;
  for (char c : s.substr(1)) n = n * 10 + static_cast<unsigned char>(c) % 10;
  return &deposits[n % deposits.size()];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gssgate::fuzz::useHermeticKrb5();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gssgate::broker::HandleKey key;
  key.id = gssgate::fuzz::kHandleKeyId;
  key.key = gssgate::SecretString(std::string(gssgate::fuzz::kHandleKey));
  BrokerCore core(config(), std::make_unique<gssgate::broker::MemoryStore>(4), std::move(key));
  const gssgate::HandleCodec codec(gssgate::fuzz::kHandleKeyId, gssgate::fuzz::kHandleKey);
  std::vector<Deposit> deposits;
  std::set<std::string> principals;  // of this run's deposits

  for (int op_no = 0; op_no < kMaxOps && size >= 3; ++op_no) {
    const uint8_t op = data[0];
    const size_t len = std::min<size_t>((size_t{data[1]} << 8) | data[2], size - 3);
    const uint8_t* msg = data + 3;
    data += 3 + len;
    size -= 3 + len;
    PeerCred peer;
    peer.pid = 4242;
    peer.uid = std::array<uid_t, 3>{0, 1000, 1001}[op / 6 % 3];
    peer.gid = peer.uid;
    const int n = static_cast<int>(len);

    switch (op % 6) {
      case 0: {
        gssgate::v1::DepositRequest req;
        if (!req.ParseFromArray(msg, n)) break;
        auto d = core.deposit(peer, req.principal(), req.tgt());
        if (verbose()) std::fprintf(stderr, "  deposit: %s\n", d.status().ToString().c_str());
        if (!d.ok()) {
          checkRefusal(d.status(), "deposit refused with OK");
          break;
        }
        auto claims = codec.open(d->handle, gssgate::fuzz::kNow);
        FUZZ_CHECK(claims && claims->credential_id == d->credential_id,
                   "a deposit's handle does not open to its credential");
        deposits.push_back({d->credential_id, d->handle, claims->principal});
        principals.insert(claims->principal);
        break;
      }
      case 1: {
        gssgate::v1::RedeemRequest req;
        if (!req.ParseFromArray(msg, n)) break;
        const Deposit* ref = reference(req.handle(), deposits);
        const std::string handle = ref != nullptr ? ref->handle : req.handle();
        auto r = core.redeem(peer, handle, req.service());
        if (verbose()) std::fprintf(stderr, "  redeem: %s\n", r.status().ToString().c_str());
        if (r.ok()) {
          FUZZ_CHECK(!deposits.empty(), "a redeem succeeded without any deposit in this run");
          FUZZ_CHECK(ref != nullptr, "a redeem succeeded with a handle no deposit returned");
          FUZZ_CHECK(!ref->revoked, "a redeem succeeded after its credential was revoked");
          FUZZ_CHECK(peer.uid != 1001, "a redeem succeeded for a caller policy grants nothing");
          FUZZ_CHECK(r->principal == ref->principal, "a redeem returned another principal");
        } else {
          checkRefusal(r.status(), "redeem refused with OK");
        }
        break;
      }
      case 2: {
        gssgate::v1::RevokeRequest req;
        if (!req.ParseFromArray(msg, n)) break;
        Deposit* ref = const_cast<Deposit*>(reference(req.handle(), deposits));
        auto st = core.revoke(peer, ref != nullptr ? ref->handle : req.handle());
        if (st.ok()) {
          if (ref != nullptr) {
            for (auto& d : deposits) {
              if (d.credential_id == ref->credential_id) d.revoked = true;
            }
          }
        } else {
          checkRefusal(st, "refused with OK");
        }
        break;
      }
      case 3: {
        gssgate::v1::RevokeCredentialRequest req;
        if (!req.ParseFromArray(msg, n)) break;
        Deposit* ref = const_cast<Deposit*>(reference(req.credential_id(), deposits));
        std::string id;
        if (ref != nullptr) {
          id = ref->credential_id;
        } else if (auto raw = gssgate::base64UrlDecode(req.credential_id())) {
          id = *raw;
        } else {
          id = req.credential_id();
        }
        auto st = core.revokeCredential(peer, id);
        bool known = false;
        for (auto& d : deposits) {
          if (d.credential_id == id && !d.revoked) known = true;
        }
        if (st.ok()) {
          FUZZ_CHECK(known || ref != nullptr, "revoked a credential this run never deposited");
          for (auto& d : deposits) {
            if (d.credential_id == id) d.revoked = true;
          }
        } else {
          checkRefusal(st, "refused with OK");
        }
        break;
      }
      case 4: {
        gssgate::v1::ListRequest req;
        if (!req.ParseFromArray(msg, n)) break;
        for (const auto& c : core.list()) {
          FUZZ_CHECK(principals.count(c->principal) == 1,
                     "List shows a credential this run did not deposit");
        }
        FUZZ_CHECK(core.list().size() <= deposits.size(), "more credentials than deposits");
        break;
      }
      default:
        core.sweep();
        break;
    }
  }
  return 0;
}
