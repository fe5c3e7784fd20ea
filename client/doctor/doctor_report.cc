#include "client/doctor/doctor_report.h"

#include <algorithm>

#include "common/strings.h"

namespace gssgate::client {
namespace {

// Text from config files and the KDC shown in a terminal: control bytes become '?'.
std::string oneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace

std::string_view verdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kSkip:
      return "skip";
  }
  return "?";
}

void DoctorReport::add(CheckResult result) { results_.push_back(std::move(result)); }

Verdict DoctorReport::verdictOf(std::string_view check) const {
  for (const CheckResult& r : results_) {
    if (r.check == check) return r.verdict;
  }
  return Verdict::kSkip;
}

size_t DoctorReport::count(Verdict verdict) const {
  return static_cast<size_t>(
      std::count_if(results_.begin(), results_.end(),
                    [&](const CheckResult& r) { return r.verdict == verdict; }));
}

std::string DoctorReport::text() const {
  std::string out;
  for (const CheckResult& r : results_) {
    std::string name(verdictName(r.verdict));
    name.resize(6, ' ');
    out += strCat(name, r.check, ": ", oneLine(r.finding));
    if (!r.fix.empty() && r.verdict != Verdict::kOk) out += strCat(" Fix: ", oneLine(r.fix));
    out += '\n';
  }
  out += strCat("doctor: ", count(Verdict::kFail), " FAIL, ", count(Verdict::kWarn), " warn, ",
                count(Verdict::kOk), " ok, ", count(Verdict::kSkip), " skipped\n");
  return out;
}

std::string DoctorReport::json() const {
  std::string out = "{\"checks\":[";
  for (size_t i = 0; i < results_.size(); ++i) {
    const CheckResult& r = results_[i];
    std::string status = toLowerAscii(verdictName(r.verdict));
    out += strCat(i == 0 ? "" : ",", "{\"check\":", jsonString(r.check),
                  ",\"status\":", jsonString(status), ",\"finding\":", jsonString(r.finding),
                  ",\"fix\":", jsonString(r.fix), "}");
  }
  out += strCat("],\"ok\":", count(Verdict::kOk), ",\"warn\":", count(Verdict::kWarn),
                ",\"fail\":", count(Verdict::kFail), ",\"skip\":", count(Verdict::kSkip), "}\n");
  return out;
}

}  // namespace gssgate::client
