// gssgate-loadgen: an HTTP/1.1 load generator for benchmarking gssgate-proxy against other
// proxies, with plain keep-alive GETs or with a fresh SPNEGO token on every request.
//
//   gssgate-loadgen --url http://127.0.0.1:8080/ --connections 16 --duration 10 --warmup 2
//   gssgate-loadgen --url http://127.0.0.1:8080/ --connections 16 --rate 5000
//   KRB5CCNAME=FILE:/tmp/alice.cc gssgate-loadgen --url http://127.0.0.1:8080/ --json
//       --mode negotiate --spn HTTP@localhost --tokens 100000
//   ... --mode negotiate --rate 1000 --duration 600 --mint-ahead 20000   (soak: minted meanwhile)
//
// Closed loop (default): each connection has exactly one request in flight and sends the next as
// soon as the response is complete, so the rate is what the server sustains at that concurrency.
// Open loop (--rate R): request i is due at t0 + i/R; a free connection sends the next due
// request, and its latency counts from the due time, not the send time, so time spent waiting
// for a free connection is not hidden (coordinated omission, as wrk2 corrects it). In
// negotiate mode every token is minted before the clock starts and used exactly once; the run
// ends when the pool is empty. With --mint-ahead a background thread mints while the run goes,
// into a bounded queue that is full when the clock starts; a request that finds it empty waits
// and is counted as a starvation (the run then measured the minter, not the server). Every response
// that is not 2xx and every socket failure is an error, reported by status code or kind. See
// bench/README.md.
//
// Threads: --threads event loops (epoll), connections spread over them; they share only
// atomics (token cursor, request budget, schedule slot) and the immutable options.
#include <fmt/format.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/mint_ahead_queue.h"
#include "bench/response_parser.h"
#include "bench/token_minter.h"
#include "common/strings.h"

namespace gssgate::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

constexpr int kExitOk = 0;
constexpr int kExitSetup = 1;
constexpr int kExitUsage = 2;
constexpr int kExitErrors = 3;

Nanos seconds(double s) {
  return std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(s));
}

// ------------------------------------------------------------------------------------ options

enum class Mode { kPlain, kNegotiate };

struct Options {
  std::string url;
  std::string host;  // from the URL: where to connect, and the Host header
  std::string port;
  std::string path;
  Mode mode = Mode::kPlain;
  int connections = 16;
  int threads = 1;
  double durationS = 10.0;
  bool durationSet = false;
  double warmupS = 1.0;
  double timeoutS = 10.0;  // per request; a slower response is a "timeout" error
  uint64_t requests = 0;   // 0 = run for --duration
  double rate = 0;         // requests/s over all connections, open loop; 0 = closed loop
  std::string spn;         // default HTTP@<url host>
  uint64_t tokens = 0;
  uint64_t mintAhead = 0;  // > 0: queue capacity of the background minter
  bool delegate = false;
  bool mutual = true;
  int mintThreads = 0;  // 0 = number of cores
  std::vector<std::string> headers;
  std::vector<int> cpuPids;
  bool json = false;
};

constexpr std::string_view kUsage =
    "usage: gssgate-loadgen --url http://HOST:PORT/PATH [options]\n"
    "  --connections N     keep-alive connections, one request in flight each (16)\n"
    "  --threads T         event-loop threads (1)\n"
    "  --duration S        measured window in seconds (10)\n"
    "  --requests N        stop after N measured requests (with --duration: whichever first)\n"
    "  --warmup S          unmeasured warm-up before the window (1)\n"
    "  --rate R            open loop: R requests/s in all, on a fixed schedule over the same\n"
    "                      connections; latency counts from each request's scheduled send time\n"
    "                      (default: closed loop, each connection as fast as it can)\n"
    "  --timeout S         per-request timeout, counted as an error (10)\n"
    "  --mode plain|negotiate\n"
    "  --spn SERVICE@HOST  negotiate: target name (HTTP@<url host>)\n"
    "  --tokens N          negotiate: tokens minted before the run; each is sent once and the\n"
    "                      run ends when they are used up (default: --requests)\n"
    "  --mint-ahead N      negotiate: mint on a background thread while the run goes, into a\n"
    "                      queue of N tokens (full at the start); replaces --tokens\n"
    "  --delegate          negotiate: request credential delegation (GSS_C_DELEG_FLAG)\n"
    "  --no-mutual         negotiate: do not request mutual authentication\n"
    "  --mint-threads N    negotiate: threads minting tokens (number of cores)\n"
    "  --header 'K: V'     extra request header (repeatable)\n"
    "  --cpu-pid PID       report the CPU time (utime+stime) PID used in the window (repeatable)\n"
    "  --json              one JSON object on stdout instead of the text report\n"
    "Credentials for negotiate come from KRB5CCNAME. Exit status: 0 all requests 2xx, 3 some\n"
    "errors, 1 setup failure or not one 2xx response, 2 usage.\n";

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

bool parseSeconds(std::string_view text, double& out) {
  return parseNumber(text, out) && std::isfinite(out) && out >= 0;
}

// Accepts http://host[:port][/path]; host may be [v6].
bool parseUrl(Options& opt) {
  std::string_view rest = opt.url;
  constexpr std::string_view kScheme = "http://";
  if (!rest.starts_with(kScheme)) return false;
  rest.remove_prefix(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  opt.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view portText = "80";
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    opt.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return false;
    if (!after.empty()) portText = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    opt.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
  }
  int port = 0;
  opt.port = std::string(portText);
  return !opt.host.empty() && parseNumber(portText, port) && port > 0 && port < 65536;
}

// One command-line option: its handler returns false when the value is bad.
struct OptionSpec {
  const char* name;
  bool hasArg;
  std::function<bool(Options&, std::string_view)> apply;
};

template <typename T>
std::function<bool(Options&, std::string_view)> intOption(T Options::*field, T min, T max) {
  return [field, min, max](Options& o, std::string_view v) {
    return parseNumber(v, o.*field) && o.*field >= min && o.*field <= max;
  };
}

std::vector<OptionSpec> optionSpecs() {
  return {
      {"url", true, [](Options& o, std::string_view v) { return o.url = v, true; }},
      {"connections", true, intOption(&Options::connections, 1, 100000)},
      {"threads", true, intOption(&Options::threads, 1, 256)},
      {"duration", true,
       [](Options& o, std::string_view v) {
         o.durationSet = true;
         return parseSeconds(v, o.durationS) && o.durationS > 0;
       }},
      {"requests", true, intOption<uint64_t>(&Options::requests, 1, UINT64_MAX)},
      {"warmup", true, [](Options& o, std::string_view v) { return parseSeconds(v, o.warmupS); }},
      {"rate", true,
       [](Options& o, std::string_view v) {
         return parseNumber(v, o.rate) && std::isfinite(o.rate) && o.rate > 0 && o.rate <= 1e8;
       }},
      {"timeout", true,
       [](Options& o, std::string_view v) {
         return parseSeconds(v, o.timeoutS) && o.timeoutS > 0;
       }},
      {"mode", true,
       [](Options& o, std::string_view v) {
         o.mode = v == "negotiate" ? Mode::kNegotiate : Mode::kPlain;
         return v == "plain" || v == "negotiate";
       }},
      {"spn", true, [](Options& o, std::string_view v) { return o.spn = v, !v.empty(); }},
      {"tokens", true, intOption<uint64_t>(&Options::tokens, 1, UINT64_MAX)},
      {"mint-ahead", true, intOption<uint64_t>(&Options::mintAhead, 1, 10000000)},
      {"delegate", false, [](Options& o, std::string_view) { return o.delegate = true; }},
      {"no-mutual", false,
       [](Options& o, std::string_view) {
         o.mutual = false;
         return true;
       }},
      {"mint-threads", true, intOption(&Options::mintThreads, 1, 256)},
      {"header", true,
       [](Options& o, std::string_view v) {
         o.headers.emplace_back(v);
         return v.find(':') != std::string_view::npos &&
                v.find_first_of("\r\n") == std::string_view::npos;
       }},
      {"cpu-pid", true,
       [](Options& o, std::string_view v) {
         int pid = 0;
         if (!parseNumber(v, pid) || pid <= 0) return false;
         o.cpuPids.push_back(pid);
         return true;
       }},
      {"json", false, [](Options& o, std::string_view) { return o.json = true; }},
  };
}

int usageError(std::string_view what, std::string_view value) {
  fmt::print(stderr, "gssgate-loadgen: bad {} '{}'\n{}", what, value, kUsage);
  return kExitUsage;
}

// Checks the combination of options and fills in defaults; returns an exit code or kExitOk.
int finishOptions(Options& opt) {
  if (opt.url.empty()) return usageError("--url", "(missing)");
  if (!parseUrl(opt)) return usageError("--url", opt.url);
  opt.threads = std::min(opt.threads, opt.connections);
  if (opt.mode == Mode::kNegotiate) {
    if (opt.spn.empty()) opt.spn = "HTTP@" + opt.host;
    if (opt.tokens == 0) opt.tokens = opt.requests;
    if (opt.tokens == 0 && opt.mintAhead == 0) {
      return usageError("--tokens", "(negotiate mode needs --tokens or --mint-ahead)");
    }
  }
  if (opt.mintThreads == 0) {
    opt.mintThreads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  return kExitOk;
}

// Returns kExitOk when `opt` is usable, else the exit code (the error is printed here).
int parseOptions(int argc, char** argv, Options& opt) {
  const std::vector<OptionSpec> specs = optionSpecs();
  std::vector<option> longOptions;
  for (size_t i = 0; i < specs.size(); ++i) {
    longOptions.push_back({specs[i].name, specs[i].hasArg ? required_argument : no_argument,
                           nullptr, static_cast<int>(i)});
  }
  const int help = static_cast<int>(specs.size());
  longOptions.push_back({"help", no_argument, nullptr, help});
  longOptions.push_back({nullptr, 0, nullptr, 0});
  int c = 0;
  opterr = 1;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): runs once, before any thread starts
  while ((c = getopt_long(argc, argv, "", longOptions.data(), nullptr)) != -1) {
    if (c == help) {
      fmt::print("{}", kUsage);
      return -1;
    }
    if (c < 0 || c >= help) {
      fmt::print(stderr, "{}", kUsage);
      return kExitUsage;
    }
    const auto& spec = specs[static_cast<size_t>(c)];
    const std::string_view value = optarg != nullptr ? optarg : "";
    if (!spec.apply(opt, value)) return usageError(std::string("--") + spec.name, value);
  }
  if (optind != argc) return usageError("argument", argv[optind]);
  return finishOptions(opt);
}

// ----------------------------------------------------------------------------- HTTP client

// Counters and samples of one event-loop thread; merged after the run.
struct ThreadStats {
  std::vector<uint32_t> latencyUs;  // measured requests that got a response (any status)
  std::map<int, uint64_t> status;   // status code → count, measured requests
  std::map<std::string, uint64_t> socketErrors;  // kind → count, measured requests
  uint64_t warmupRequests = 0;
  uint64_t connects = 0;
  uint64_t lateStarts = 0;  // open loop: measured requests sent > kLateStart after their due time
  Clock::time_point lastCompletion{};
};

// Open loop: a request sent later than this after its due time counts as a late start.
constexpr Nanos kLateStart = std::chrono::milliseconds(1);

// State shared by all threads for one run. Only the atomics are written during the run.
struct RunShared {
  const Options* opt = nullptr;
  const std::vector<std::string>* tokens = nullptr;
  MintAheadQueue* queue = nullptr;  // --mint-ahead: tokens come from here instead
  std::atomic<uint64_t> nextToken{0};
  std::atomic<uint64_t> measuredIssued{0};
  std::atomic<bool> tokensExhaustedInWarmup{false};
  std::atomic<uint64_t> nextSlot{0};  // open loop: the first schedule slot not yet taken
  Clock::time_point scheduleStart{};  // open loop: t0, when slot 0 is due (warm-up included)
  Clock::time_point measureStart{};
  Clock::time_point deadline{};
  sockaddr_storage addr{};
  socklen_t addrLen = 0;

  // Open loop: when request number `slot` is due.
  Clock::time_point dueTime(uint64_t slot) const {
    return scheduleStart + Nanos(static_cast<int64_t>(static_cast<double>(slot) * 1e9 / opt->rate));
  }
};

// One keep-alive connection with at most one request in flight.
struct Connection {
  enum class State { kIdle, kConnecting, kWriting, kReading, kBackoff, kDone };
  int fd = -1;
  uint32_t generation = 0;  // bumped per socket, so stale epoll events are recognised
  State state = State::kIdle;
  bool wantWrite = false;  // EPOLLOUT registered
  std::string out;         // the request being written
  size_t written = 0;
  std::string in;  // response bytes not yet consumed
  size_t parsed = 0;
  ResponseParser parser;
  Clock::time_point started{};  // latency origin: the send time, or the due time (open loop)
  Clock::time_point sent{};     // when the request was handed to the socket; for --timeout
  Clock::time_point backoffUntil{};
  bool measured = false;  // the request in flight started inside the measured window
};

class EventLoop {
 public:
  EventLoop(RunShared& shared, size_t connections) : shared_(shared), conns_(connections) {}
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  EventLoop(EventLoop&&) = delete;
  EventLoop& operator=(EventLoop&&) = delete;
  ~EventLoop() {
    for (Connection& c : conns_) closeFd(c);
    if (timerFd_ >= 0) ::close(timerFd_);
    if (epfd_ >= 0) ::close(epfd_);
  }

  ThreadStats& stats() { return stats_; }

  void run() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      stats_.socketErrors["epoll"] += conns_.size();
      return;
    }
    const bool openLoop = shared_.opt->rate > 0;
    if (openLoop && !addTimer()) {
      stats_.socketErrors["timerfd"] += conns_.size();
      return;
    }
    buildBaseRequest();
    timeout_ = seconds(shared_.opt->timeoutS);
    for (size_t i = 0; i < conns_.size(); ++i) startRequest(i, Clock::now());

    constexpr int kTickMs = 5;  // deadline, timeout and back-off resolution
    std::array<epoll_event, 64> events{};
    Clock::time_point nextSweep = Clock::now();
    while (true) {
      const Clock::time_point now = Clock::now();
      if (now >= shared_.deadline) break;
      if (now >= nextSweep) {
        sweep(now);
        nextSweep = now + std::chrono::milliseconds(kTickMs);
      }
      if (openLoop) {
        startDue(now);
        armTimer();
      }
      if (active() == 0) break;
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), kTickMs);
      if (n < 0 && errno != EINTR) {
        stats_.socketErrors["epoll"]++;
        break;
      }
      for (int e = 0; e < n; ++e) dispatch(events.at(static_cast<size_t>(e)));
    }
  }

 private:
  void buildBaseRequest() {
    const Options& opt = *shared_.opt;
    const std::string host =
        opt.host.find(':') != std::string::npos ? "[" + opt.host + "]" : opt.host;
    baseRequest_ = strCat("GET ", opt.path, " HTTP/1.1\r\nHost: ", host,
                          opt.port == "80" ? "" : ":" + opt.port,
                          "\r\nUser-Agent: gssgate-loadgen\r\nAccept: */*\r\n");
    for (const std::string& h : opt.headers) baseRequest_ += h + "\r\n";
  }

  size_t active() const {
    return static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& c) {
      return c.state != Connection::State::kDone;
    }));
  }

  // Open loop: a timerfd in the epoll set wakes the loop when the next request is due; epoll's
  // millisecond timeout is too coarse for requests 200 us apart.
  bool addTimer() {
    timerFd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timerFd_ < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;  // NOLINT(cppcoreguidelines-pro-type-union-access)
    return epoll_ctl(epfd_, EPOLL_CTL_ADD, timerFd_, &ev) == 0;
  }

  // Sets the timer to the next due time while a connection waits for it; without an idle
  // connection the next completion picks the due request up instead.
  void armTimer() {
    if (idle_.empty()) return;
    const Clock::time_point due = shared_.dueTime(shared_.nextSlot.load(std::memory_order_relaxed));
    if (due == timerArmed_) return;
    // steady_clock is CLOCK_MONOTONIC on Linux (libstdc++ and libc++).
    const auto ns = std::chrono::duration_cast<Nanos>(due.time_since_epoch()).count();
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
    spec.it_value.tv_nsec = static_cast<decltype(spec.it_value.tv_nsec)>(ns % 1000000000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    timerfd_settime(timerFd_, TFD_TIMER_ABSTIME, &spec, nullptr);
    timerArmed_ = due;
  }

  // Open loop: hands every request due by `now` to a waiting connection, oldest-idle first so
  // all connections stay in use, as N clients would.
  void startDue(Clock::time_point now) {
    while (!idle_.empty() &&
           shared_.dueTime(shared_.nextSlot.load(std::memory_order_relaxed)) <= now) {
      const size_t idx = idle_.front();
      idle_.pop_front();
      startRequest(idx, now);  // back to idle_ if another thread took the slot first
    }
  }

  // Open loop: takes the next slot of the schedule if it is due by `now`; returns its due time.
  std::optional<Clock::time_point> claimDue(Clock::time_point now) {
    uint64_t slot = shared_.nextSlot.load(std::memory_order_relaxed);
    while (shared_.dueTime(slot) <= now) {
      if (shared_.nextSlot.compare_exchange_weak(slot, slot + 1, std::memory_order_relaxed)) {
        return shared_.dueTime(slot);
      }
    }
    return std::nullopt;
  }

  uint64_t tagOf(size_t idx) const {
    return static_cast<uint64_t>(idx) | (static_cast<uint64_t>(conns_[idx].generation) << 32U);
  }

  void dispatch(const epoll_event& ev) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-union-access): epoll_data is a C union
    const uint64_t tag = ev.data.u64;
    if (tag == kTimerTag) {
      uint64_t expirations = 0;
      [[maybe_unused]] const ssize_t n = ::read(timerFd_, &expirations, sizeof expirations);
      timerArmed_ = {};
      return;  // the loop starts what is due
    }
    const size_t idx = tag & 0xffffffffU;
    if (idx >= conns_.size() || conns_[idx].fd < 0 || conns_[idx].generation != tag >> 32U) {
      return;  // the socket this event was for is already closed
    }
    handleEvent(idx, ev.events);
  }

  static void closeFd(Connection& c) {
    if (c.fd >= 0) {
      ::close(c.fd);  // also removes it from the epoll set
      c.fd = -1;
      c.generation++;
    }
    c.wantWrite = false;
    c.in.clear();
    c.parsed = 0;
  }

  void setWantWrite(size_t idx, bool want) {
    Connection& c = conns_[idx];
    if (c.wantWrite == want) return;
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.u64 = tagOf(idx);  // NOLINT(cppcoreguidelines-pro-type-union-access)
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.wantWrite = want;
  }

  // Counts a failed request and schedules a reconnect for the connection.
  void fail(size_t idx, const char* kind, Clock::time_point now) {
    Connection& c = conns_[idx];
    if (c.measured) {
      stats_.socketErrors[kind]++;
      stats_.lastCompletion = std::max(stats_.lastCompletion, now);
    } else {
      stats_.warmupRequests++;
    }
    closeFd(c);
    c.state = Connection::State::kBackoff;
    c.backoffUntil = now + std::chrono::milliseconds(10);
  }

  static void finish(Connection& c) {
    c.state = Connection::State::kDone;
    closeFd(c);
  }

  // Decides whether the connection may send another request and, if so, sends it.
  void startRequest(size_t idx, Clock::time_point now) {
    Connection& c = conns_[idx];
    const Options& opt = *shared_.opt;
    if (now >= shared_.deadline) return finish(c);
    Clock::time_point origin = now;
    if (opt.rate > 0) {
      const std::optional<Clock::time_point> due = claimDue(now);
      if (!due) {
        c.state = Connection::State::kIdle;
        idle_.push_back(idx);
        return;
      }
      origin = *due;
    }
    c.measured = origin >= shared_.measureStart;
    if (c.measured && opt.requests > 0 &&
        shared_.measuredIssued.fetch_add(1, std::memory_order_relaxed) >= opt.requests) {
      return finish(c);
    }
    c.out = baseRequest_;
    if (opt.mode == Mode::kNegotiate && shared_.queue != nullptr) {
      std::optional<std::string> token = shared_.queue->pop();
      if (!token) return finish(c);  // the minter failed
      shared_.nextToken.fetch_add(1, std::memory_order_relaxed);
      c.out += "Authorization: Negotiate ";
      c.out += *token;
      c.out += "\r\n";
    } else if (opt.mode == Mode::kNegotiate) {
      const uint64_t t = shared_.nextToken.fetch_add(1, std::memory_order_relaxed);
      if (t >= shared_.tokens->size()) {
        if (!c.measured) shared_.tokensExhaustedInWarmup = true;
        return finish(c);
      }
      c.out += "Authorization: Negotiate ";
      c.out += (*shared_.tokens)[t];
      c.out += "\r\n";
    }
    c.out += "\r\n";
    c.written = 0;
    c.started = origin;
    c.sent = now;
    if (c.measured && now - origin > kLateStart) stats_.lateStarts++;
    c.parser.reset();
    if (c.fd < 0) return connect(idx, now);
    c.state = Connection::State::kWriting;
    write(idx, now);
  }

  void connect(size_t idx, Clock::time_point now) {
    Connection& c = conns_[idx];
    c.fd = ::socket(shared_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(idx, "socket", now);
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockaddr API
    const auto* sa = reinterpret_cast<const sockaddr*>(&shared_.addr);
    if (::connect(c.fd, sa, shared_.addrLen) < 0 && errno != EINPROGRESS) {
      return fail(idx, "connect", now);
    }
    stats_.connects++;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = tagOf(idx);  // NOLINT(cppcoreguidelines-pro-type-union-access)
    epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
    c.wantWrite = true;
    c.state = Connection::State::kConnecting;
  }

  void write(size_t idx, Clock::time_point now) {
    Connection& c = conns_[idx];
    while (c.written < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n >= 0) {
        c.written += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return setWantWrite(idx, true);
      return fail(idx, "write", now);
    }
    setWantWrite(idx, false);
    c.state = Connection::State::kReading;
  }

  void handleEvent(size_t idx, uint32_t events) {
    Connection& c = conns_[idx];
    const Clock::time_point now = Clock::now();
    if (c.state == Connection::State::kIdle) {
      // Open loop: a keep-alive connection waiting for its next due request, closed by the
      // server or sent bytes nobody asked for. Not a request's failure: the next one reconnects.
      return closeFd(c);
    }
    if (c.state == Connection::State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) return fail(idx, "connect", now);
      c.state = Connection::State::kWriting;
      return write(idx, now);
    }
    if (c.state == Connection::State::kWriting && (events & EPOLLOUT) != 0) {
      write(idx, now);
      if (c.state != Connection::State::kReading) return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) read(idx, now);
  }

  void read(size_t idx, Clock::time_point now) {
    Connection& c = conns_[idx];
    while (c.fd >= 0) {
      const ssize_t n = ::recv(c.fd, readBuf_.data(), readBuf_.size(), 0);
      if (n > 0) {
        if (!onData(idx, static_cast<size_t>(n), now)) return;
      } else if (n == 0) {
        if (c.parser.readsUntilClose()) return complete(idx, Clock::now(), true);
        return fail(idx, c.in.empty() ? "closed" : "closed-mid-response", now);
      } else if (errno != EINTR) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return fail(idx, errno == ECONNRESET ? "reset" : "read", now);
      }
    }
  }

  // Feeds received bytes to the parser; returns false when the connection moved on (response
  // complete or failed) and the caller must stop reading.
  bool onData(size_t idx, size_t n, Clock::time_point now) {
    Connection& c = conns_[idx];
    if (c.state != Connection::State::kReading && c.state != Connection::State::kWriting) {
      fail(idx, "unexpected-data", now);
      return false;
    }
    c.in.append(readBuf_.data(), n);
    switch (c.parser.parse(c.in, c.parsed)) {
      case ResponseParser::Result::kBad:
        fail(idx, "bad-response", now);
        return false;
      case ResponseParser::Result::kDone:
        complete(idx, Clock::now(), !c.parser.keepAlive());
        return false;
      case ResponseParser::Result::kNeedMore:
        return true;
    }
    return true;
  }

  void complete(size_t idx, Clock::time_point now, bool close) {
    Connection& c = conns_[idx];
    if (c.measured) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.started);
      stats_.latencyUs.push_back(static_cast<uint32_t>(
          std::min<int64_t>(us.count(), std::numeric_limits<uint32_t>::max())));
      stats_.status[c.parser.status()]++;
      stats_.lastCompletion = std::max(stats_.lastCompletion, now);
    } else {
      stats_.warmupRequests++;
    }
    if (close) {
      closeFd(c);
    } else {
      c.in.erase(0, c.parsed);
      c.parsed = 0;
    }
    c.state = Connection::State::kIdle;
    startRequest(idx, now);
  }

  // Times out slow requests and restarts connections whose back-off is over.
  void sweep(Clock::time_point now) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      const Connection& c = conns_[i];
      const bool inFlight = c.state == Connection::State::kConnecting ||
                            c.state == Connection::State::kWriting ||
                            c.state == Connection::State::kReading;
      if (c.state == Connection::State::kBackoff && now >= c.backoffUntil) {
        startRequest(i, now);
      } else if (inFlight && now - c.sent > timeout_) {
        fail(i, "timeout", now);
      }
    }
  }

  static constexpr uint64_t kTimerTag = std::numeric_limits<uint64_t>::max();

  RunShared& shared_;
  std::vector<Connection> conns_;
  std::deque<size_t> idle_;  // open loop: connections waiting for a due request, oldest first
  ThreadStats stats_;
  std::string baseRequest_;
  std::array<char, 16384> readBuf_{};
  Nanos timeout_{};
  int epfd_ = -1;
  int timerFd_ = -1;
  Clock::time_point timerArmed_{};  // the due time the timer is set to; {} = not set
};

// ------------------------------------------------------------------------------ reporting

// utime+stime of a process in microseconds, from /proc/PID/stat; nullopt if it is gone.
std::optional<uint64_t> processCpuUs(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t paren = line.rfind(')');  // comm may hold spaces and parentheses
  if (paren == std::string::npos || paren + 2 > line.size()) return std::nullopt;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  uint64_t utime = 0;
  uint64_t stime = 0;
  // The fields after comm start at number 3 (state); utime is 14, stime 15.
  constexpr int kUtime = 14;
  constexpr int kStime = 15;
  for (int i = 3; i <= kStime && fields >> field; ++i) {
    if (i == kUtime && !parseNumber(field, utime)) return std::nullopt;
    if (i == kStime && !parseNumber(field, stime)) return std::nullopt;
  }
  const int64_t ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1000000ULL / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
}

uint64_t selfCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1000000ULL + static_cast<uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

struct Report {
  uint64_t requests = 0;  // measured: answered or failed
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::map<int, uint64_t> status;
  std::map<std::string, uint64_t> socketErrors;
  uint64_t warmupRequests = 0;
  uint64_t connects = 0;
  uint64_t lateStarts = 0;
  double elapsedS = 0;
  double rps = 0;
  double okRps = 0;
  uint64_t p50 = 0;
  uint64_t p90 = 0;
  uint64_t p99 = 0;
  uint64_t p999 = 0;
  uint64_t max = 0;
  double mean = 0;
  uint64_t tokensMinted = 0;
  uint64_t tokensUsed = 0;
  double mintS = 0;
  uint64_t tokensStarved = 0;   // --mint-ahead: requests that waited for the minter
  uint64_t tokensMinDepth = 0;  // --mint-ahead: fewest tokens queued at a pop
  std::vector<std::pair<int, std::optional<uint64_t>>> cpu;  // pid → CPU µs in the window
  uint64_t loadgenCpuUs = 0;
  std::string stopReason;
};

uint64_t percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

template <typename K, typename V>
std::string jsonObject(const std::map<K, V>& m) {
  std::vector<std::string> parts;
  parts.reserve(m.size());
  for (const auto& [k, v] : m) {
    parts.push_back(jsonString(fmt::format("{}", k)) + ":" + fmt::format("{}", v));
  }
  return "{" + join(parts, ",") + "}";
}

std::string toJson(const Options& opt, const Report& r) {
  std::vector<std::string> cpu;
  for (const auto& [pid, us] : r.cpu) {
    cpu.push_back(fmt::format(R"({{"pid":{},"cpu_us":{}}})", pid,
                              us ? std::to_string(*us) : std::string("null")));
  }
  std::string schedule;
  if (opt.rate > 0) {
    schedule = fmt::format(R"("rate":{:.1f},"late_starts":{},)", opt.rate, r.lateStarts);
  }
  std::string tokens;
  if (opt.mode == Mode::kNegotiate) {
    std::string ahead;
    if (opt.mintAhead > 0) {
      ahead = fmt::format(R"(,"mint_ahead":{},"starved":{},"min_queue":{})", opt.mintAhead,
                          r.tokensStarved, r.tokensMinDepth);
    }
    tokens = fmt::format(R"("tokens":{{"minted":{},"used":{},"mint_s":{:.3f},"delegate":{}{}}},)",
                         r.tokensMinted, r.tokensUsed, r.mintS, opt.delegate, ahead);
  }
  return fmt::format(
      R"({{"mode":"{}","url":{},"connections":{},"threads":{},"requests":{},"ok":{},)"
      R"("errors":{},"status":{},"socket_errors":{},"warmup_requests":{},"connects":{},)"
      R"("elapsed_s":{:.3f},"rps":{:.1f},"ok_rps":{:.1f},"latency_us":{{"p50":{},"p90":{},)"
      R"("p99":{},"p999":{},"max":{},"mean":{:.1f}}},{}{}"cpu":[{}],"loadgen_cpu_us":{},)"
      R"("stop":{}}})",
      opt.mode == Mode::kPlain ? "plain" : "negotiate", jsonString(opt.url), opt.connections,
      opt.threads, r.requests, r.ok, r.errors, jsonObject(r.status), jsonObject(r.socketErrors),
      r.warmupRequests, r.connects, r.elapsedS, r.rps, r.okRps, r.p50, r.p90, r.p99, r.p999, r.max,
      r.mean, schedule, tokens, join(cpu, ","), r.loadgenCpuUs, jsonString(r.stopReason));
}

double perRequest(uint64_t total, uint64_t requests) {
  return requests == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(requests);
}

void printText(const Options& opt, const Report& r) {
  fmt::print("gssgate-loadgen {} {}: {} connections, {} threads\n",
             opt.mode == Mode::kPlain ? "plain" : "negotiate", opt.url, opt.connections,
             opt.threads);
  if (opt.mode == Mode::kNegotiate) {
    fmt::print("  tokens:    {} minted in {:.2f} s ({}), {} used\n", r.tokensMinted, r.mintS,
               opt.delegate ? "delegating" : "no delegation", r.tokensUsed);
    if (opt.mintAhead > 0) {
      fmt::print("  minting:   ahead in a queue of {}; fewest queued {}; {} starved requests{}\n",
                 opt.mintAhead, r.tokensMinDepth, r.tokensStarved,
                 r.tokensStarved > 0 ? " (the minter fell behind: run invalid)" : "");
    }
  }
  fmt::print("  window:    {:.3f} s after {} warm-up requests; stopped: {}\n", r.elapsedS,
             r.warmupRequests, r.stopReason);
  if (opt.rate > 0) {
    fmt::print(
        "  schedule:  open loop at {:.0f} req/s, latency from the due time; {} late starts"
        " (sent > 1 ms after due)\n",
        opt.rate, r.lateStarts);
  }
  fmt::print("  requests:  {}, 2xx {}, errors {}\n", r.requests, r.ok, r.errors);
  for (const auto& [code, n] : r.status) {
    if (code < 200 || code > 299) fmt::print("    error: HTTP {} x {}\n", code, n);
  }
  for (const auto& [kind, n] : r.socketErrors) fmt::print("    error: {} x {}\n", kind, n);
  fmt::print("  req/s:     {:.1f} (2xx only: {:.1f})\n", r.rps, r.okRps);
  fmt::print("  latency:   p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us\n", r.p50, r.p90,
             r.p99, r.p999, r.max);
  for (const auto& [pid, us] : r.cpu) {
    if (us) {
      fmt::print("  cpu pid {}: {} us in window, {:.1f} us/request\n", pid, *us,
                 perRequest(*us, r.requests));
    } else {
      fmt::print("  cpu pid {}: not readable\n", pid);
    }
  }
  fmt::print("  loadgen cpu: {:.1f} us/request\n", perRequest(r.loadgenCpuUs, r.requests));
}

// ------------------------------------------------------------------------------------ run

absl::StatusOr<sockaddr_storage> resolve(const Options& opt, socklen_t& len) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(opt.host.c_str(), opt.port.c_str(), &hints, &res); rc != 0) {
    return absl::InvalidArgumentError("cannot resolve " + opt.host + ": " + gai_strerror(rc));
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return addr;
}

// Merges the threads' counters into `report` and returns all latency samples, sorted.
std::vector<uint32_t> merge(std::vector<std::unique_ptr<EventLoop>>& loops, Report& report,
                            Clock::time_point& lastCompletion) {
  std::vector<uint32_t> lat;
  for (auto& loop : loops) {
    ThreadStats& st = loop->stats();
    lat.insert(lat.end(), st.latencyUs.begin(), st.latencyUs.end());
    for (const auto& [code, n] : st.status) report.status[code] += n;
    for (const auto& [kind, n] : st.socketErrors) report.socketErrors[kind] += n;
    report.warmupRequests += st.warmupRequests;
    report.connects += st.connects;
    report.lateStarts += st.lateStarts;
    lastCompletion = std::max(lastCompletion, st.lastCompletion);
  }
  std::sort(lat.begin(), lat.end());
  for (const auto& [code, n] : report.status) {
    report.requests += n;
    (code >= 200 && code <= 299 ? report.ok : report.errors) += n;
  }
  for (const auto& [kind, n] : report.socketErrors) {
    report.requests += n;
    report.errors += n;
  }
  return lat;
}

void fillLatency(const std::vector<uint32_t>& lat, Report& r) {
  r.p50 = percentile(lat, 50);
  r.p90 = percentile(lat, 90);
  r.p99 = percentile(lat, 99);
  r.p999 = percentile(lat, 99.9);
  r.max = lat.empty() ? 0 : lat.back();
  double sum = 0;
  for (const uint32_t v : lat) sum += v;
  r.mean = lat.empty() ? 0 : sum / static_cast<double>(lat.size());
}

std::string stopReason(const Options& opt, const RunShared& shared, bool ranToDeadline) {
  if (ranToDeadline) return "duration";
  if (opt.mode == Mode::kNegotiate && shared.queue == nullptr &&
      shared.nextToken.load() >= shared.tokens->size()) {
    return "token pool used up";
  }
  if (opt.requests > 0) return "request count";
  return "all connections stopped";
}

// Mints the token pool (negotiate mode) into `tokens`; returns false after printing why not.
bool mintPool(const Options& opt, std::vector<std::string>& tokens, Report& report) {
  if (opt.mode != Mode::kNegotiate) return true;
  const auto t0 = Clock::now();
  auto minted = mintTokens({.spn = opt.spn,
                            .count = opt.tokens,
                            .threads = opt.mintThreads,
                            .delegate = opt.delegate,
                            .mutual = opt.mutual});
  if (!minted.ok()) {
    fmt::print(stderr, "gssgate-loadgen: cannot mint tokens: {}\n", messageOf(minted.status()));
    return false;
  }
  tokens = std::move(*minted);
  report.mintS = std::chrono::duration<double>(Clock::now() - t0).count();
  report.tokensMinted = tokens.size();
  return true;
}

int run(const Options& opt) {
  RunShared shared;
  shared.opt = &opt;
  auto addr = resolve(opt, shared.addrLen);
  if (!addr.ok()) {
    fmt::print(stderr, "gssgate-loadgen: {}\n", messageOf(addr.status()));
    return kExitSetup;
  }
  shared.addr = *addr;

  Report report;
  std::vector<std::string> tokens;
  std::unique_ptr<MintAheadQueue> queue;
  if (opt.mode == Mode::kNegotiate && opt.mintAhead > 0) {
    const auto t0 = Clock::now();
    queue = std::make_unique<MintAheadQueue>(
        MintOptions{.spn = opt.spn, .delegate = opt.delegate, .mutual = opt.mutual}, opt.mintAhead);
    if (absl::Status s = queue->start(); !s.ok()) {
      fmt::print(stderr, "gssgate-loadgen: cannot mint tokens: {}\n", messageOf(s));
      return kExitSetup;
    }
    report.mintS = std::chrono::duration<double>(Clock::now() - t0).count();
    shared.queue = queue.get();
  } else if (!mintPool(opt, tokens, report)) {
    return kExitSetup;
  }
  shared.tokens = &tokens;

  shared.scheduleStart = Clock::now();
  shared.measureStart = shared.scheduleStart + seconds(opt.warmupS);
  // --requests alone bounds the run by count; with --duration too, the duration is a cap.
  shared.deadline = opt.requests > 0 && !opt.durationSet
                        ? shared.measureStart + std::chrono::hours(24)
                        : shared.measureStart + seconds(opt.durationS);

  std::vector<std::unique_ptr<EventLoop>> loops;
  const auto nconn = static_cast<size_t>(opt.connections);
  const auto nthreads = static_cast<size_t>(opt.threads);
  for (size_t t = 0; t < nthreads; ++t) {
    loops.push_back(
        std::make_unique<EventLoop>(shared, nconn / nthreads + (t < nconn % nthreads ? 1 : 0)));
  }
  std::vector<std::optional<uint64_t>> cpuBefore;
  uint64_t selfBefore = 0;
  {
    std::vector<std::jthread> workers;
    workers.reserve(loops.size());
    for (auto& loop : loops) workers.emplace_back([&loop] { loop->run(); });
    // CPU samples at the window's edges, taken by this otherwise idle thread.
    std::this_thread::sleep_until(shared.measureStart);
    for (const int pid : opt.cpuPids) cpuBefore.push_back(processCpuUs(pid));
    selfBefore = selfCpuUs();
  }  // joins the workers
  const auto end = Clock::now();
  for (size_t i = 0; i < opt.cpuPids.size(); ++i) {
    const auto after = processCpuUs(opt.cpuPids[i]);
    std::optional<uint64_t> used;
    if (after && cpuBefore[i]) used = *after - *cpuBefore[i];
    report.cpu.emplace_back(opt.cpuPids[i], used);
  }
  report.loadgenCpuUs = selfCpuUs() - selfBefore;

  Clock::time_point lastCompletion = shared.measureStart;
  fillLatency(merge(loops, report, lastCompletion), report);
  report.tokensUsed = std::min<uint64_t>(shared.nextToken.load(), tokens.size());
  if (queue) {
    report.tokensUsed = shared.nextToken.load();
    report.tokensMinted = queue->minted();
    report.tokensStarved = queue->starved();
    report.tokensMinDepth = queue->minDepth();
    if (absl::Status s = queue->failure(); !s.ok()) {
      fmt::print(stderr, "gssgate-loadgen: minting failed during the run: {}\n", messageOf(s));
    }
  }

  // The window ends at the deadline, or at the last completion when the token pool or the
  // request budget ran out first (the idle tail after that must not dilute the rate).
  const bool ranToDeadline = end >= shared.deadline;
  report.stopReason = stopReason(opt, shared, ranToDeadline);
  const auto windowEnd = ranToDeadline ? shared.deadline : lastCompletion;
  report.elapsedS = std::chrono::duration<double>(windowEnd - shared.measureStart).count();
  if (report.elapsedS > 0) {
    report.rps = static_cast<double>(report.requests) / report.elapsedS;
    report.okRps = static_cast<double>(report.ok) / report.elapsedS;
  }

  if (opt.json) {
    fmt::print("{}\n", toJson(opt, report));
  } else {
    printText(opt, report);
  }
  if (shared.tokensExhaustedInWarmup) {
    fmt::print(stderr,
               "gssgate-loadgen: the token pool ran out during warm-up; use more --tokens\n");
    return kExitSetup;
  }
  if (report.ok == 0) {
    fmt::print(stderr, "gssgate-loadgen: not one 2xx response\n");
    return kExitSetup;
  }
  return report.errors > 0 ? kExitErrors : kExitOk;
}

}  // namespace
}  // namespace gssgate::bench

int main(int argc, char** argv) {
  gssgate::bench::Options opt;
  const int rc = gssgate::bench::parseOptions(argc, argv, opt);
  if (rc == -1) return 0;  // --help
  if (rc != 0) return rc;
  return gssgate::bench::run(opt);
}
