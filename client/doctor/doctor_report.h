// The findings of `gssgatectl doctor`: one line per check, rendered as text or JSON.
//
//   DoctorReport report;
//   report.add({Verdict::kFail, "keytab", "keytab /k is missing", "export it with ..."});
//   out << report.text();            // "FAIL  keytab: keytab /k is missing. Fix: export ..."
//   return report.exitCode();        // 1 when any check failed, else 0
//
// Findings never hold key material, tickets or handles: checks put only names, numbers and
// paths into them. Thread-safety: none (one report per run).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gssgate::client {

enum class Verdict {
  kOk,    // checked and fine
  kWarn,  // works, but is risky or limits a feature; does not fail the run
  kFail,  // the deployment is broken here
  kSkip,  // could not be checked because an earlier check failed or nothing is configured
};

std::string_view verdictName(Verdict verdict);  // "ok", "warn", "FAIL", "skip"

struct CheckResult {
  Verdict verdict = Verdict::kOk;
  std::string check;    // short stable name, e.g. "keytab", "kdc", "clock-skew"
  std::string finding;  // what was found, in plain words
  std::string fix;      // how to fix it (for warn/FAIL); may be empty
};

class DoctorReport {
 public:
  void add(CheckResult result);
  const std::vector<CheckResult>& results() const { return results_; }
  // The verdict of the first result named `check`, or kSkip when there is none.
  Verdict verdictOf(std::string_view check) const;

  size_t count(Verdict verdict) const;
  int exitCode() const { return count(Verdict::kFail) > 0 ? 1 : 0; }

  // One line per check ("FAIL  keytab: ... Fix: ...") and a summary line.
  std::string text() const;
  // {"checks":[{"check":..,"status":"ok|warn|fail|skip","finding":..,"fix":..}],
  //  "ok":N,"warn":N,"fail":N,"skip":N}
  std::string json() const;

 private:
  std::vector<CheckResult> results_;
};

}  // namespace gssgate::client
