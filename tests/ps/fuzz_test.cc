// Fuzzing a real `hybrec ps` process through its socket.
//
// The server is the only thing between the network and the embedding rows, so
// whatever a broken or hostile client sends (random bytes, truncated or
// oversized frames, mangled Thrift, requests the service must reject) must
// leave it serving, answering health(), and holding exactly the rows it held
// before. The main test sends a deterministic, seeded mix of more than 10,000
// such frames over many connections and then checks all of that bit for bit.
//
// Why the fuzzing can never legitimately change the real table ("items"):
//  * connections that send random or mutated bytes never send the byte 'm'
//    (0x6d); no method name of ps.thrift has one, and without it no parse of
//    the stream, however the server's framing and fields fall, yields a string
//    equal to "items";
//  * connections that do name "items" send only exact, well-formed requests the
//    service must reject whole (NaN gradients, wrong lengths, conflicting
//    specs, unknown methods, ...), reads of existing rows, or valid pushes
//    wrapped in something the server must not process at all (a reply-type
//    message, a wrong protocol version, no framing, a cut-off frame).
//
// The server's resident memory is watched throughout: above 1 GiB new
// connections wait, above 4 GiB the server is killed and the test fails (an
// unbounded allocation once got the server OOM-killed, and a test must not
// take its machine down with it). Two more tests pin the two server bugs the
// fuzzing found, each with one deterministic input.
//
// Reproduce another mix with HYBREC_FUZZ_SEED=N; HYBREC_FUZZ_FRAMES=N sends
// more frames.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thrift/TApplicationException.h>
#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ParameterServer.h"
#include "parameter_server/client.h"
#include "parameter_server/table_spec.h"
#include "parameter_server/wire_convert.h"
#include "ps_process.h"

namespace hybrec::ps {
namespace {

namespace at = apache::thrift;
using hybrec::ps::testing::PsProcess;
using hybrec::ps::testing::TempDir;
using Clock = std::chrono::steady_clock;
using Rng = std::mt19937_64;

constexpr int kMaxFrameMib = 4;
constexpr int64_t kMaxFrame = int64_t{kMaxFrameMib} << 20;
constexpr int kIdleTimeoutS = 5;
constexpr int kDim = 16;
constexpr int kNumKeys = 1000;
constexpr int kFuzzDim = 4;
constexpr int kWorkers = 4;
constexpr int64_t kMinFrames = 10000;
const std::string kTable = "items";
// No small mutation turns it into kTable (and it holds no 'm', see above).
const std::string kFuzzTable = "zzzzzzzzzzzz-fuzz";

// ---------------------------------------------------------------------------
// Bytes

std::string be32(uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  return std::string(b, 4);
}

std::string framed(const std::string& message) {
  return be32(static_cast<uint32_t>(message.size())) + message;
}

std::string random_bytes(Rng& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

template <typename T>
std::string pack(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::vector<float> random_floats(Rng& rng, size_t n) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (float& v : out) v = u(rng);
  return out;
}

// One request as the generated client writes it, unframed.
template <typename Fn>
std::string encode(Fn&& send) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>();
  wire::ParameterServerClient client(
      std::make_shared<at::protocol::TBinaryProtocol>(memory, 0, 0, true, true));
  send(client);
  return memory->getBufferAsString();
}

// A strict message is i32 version|type, string name, i32 seqid, then the
// argument struct; these rebuild one with another header.
std::string message_args(const std::string& message) {
  const std::string len = message.substr(4, 4);
  const uint32_t n = (static_cast<uint8_t>(len[0]) << 24) | (static_cast<uint8_t>(len[1]) << 16) |
                     (static_cast<uint8_t>(len[2]) << 8) | static_cast<uint8_t>(len[3]);
  return message.substr(12 + n);
}

std::string strict_message(uint32_t version_and_type, const std::string& name,
                           const std::string& args) {
  return be32(version_and_type) + be32(static_cast<uint32_t>(name.size())) + name + be32(0) + args;
}

// ---------------------------------------------------------------------------
// Tables and keys

TableSpec items_spec() {
  TableSpec s;
  s.name = kTable;
  s.dim = kDim;
  s.optimizer = Optimizer::kRowwiseAdagrad;
  s.learning_rate = 0.05;
  s.init_scale = 0.01;
  s.seed = 7;
  return s;
}

TableSpec fuzz_spec() {
  TableSpec s;
  s.name = kFuzzTable;
  s.dim = kFuzzDim;
  s.optimizer = Optimizer::kSgd;
  s.learning_rate = 0.1;
  s.seed = 3;
  return s;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Spread over the whole int64 range, negatives and zero included.
std::vector<int64_t> snapshot_keys() {
  std::vector<int64_t> keys(kNumKeys);
  keys[0] = 0;
  keys[1] = -1;
  keys[2] = INT64_MAX;
  keys[3] = INT64_MIN;
  for (int i = 4; i < kNumKeys; ++i) keys[i] = static_cast<int64_t>(splitmix(i));
  return keys;
}

// What the checked connections compare against: the keys and their rows
// (raw float32 bytes) before any fuzzing.
struct Snapshot {
  std::vector<int64_t> keys;
  std::string rows;
};

ClientOptions client_options() {
  ClientOptions o;
  o.max_frame_bytes = kMaxFrame;
  o.io_timeout_ms = 20000;
  o.max_attempts = 3;
  return o;
}

// ---------------------------------------------------------------------------
// The server process

// Starts `hybrec ps` with its stderr in a file: sanitizer reports and Thrift's
// own logging land there, and the test reads them at the end.
std::unique_ptr<PsProcess> start_server(const std::string& stderr_path,
                                        std::vector<std::string> args) {
  std::fflush(stderr);
  const int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  const int log = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (saved < 0 || log < 0) {
    ADD_FAILURE() << "cannot redirect stderr to " << stderr_path << ": " << std::strerror(errno);
    return std::make_unique<PsProcess>(std::move(args));
  }
  dup2(log, STDERR_FILENO);  // the child inherits fd 2 (dup2 clears close-on-exec)
  close(log);
  auto process = std::make_unique<PsProcess>(std::move(args));
  dup2(saved, STDERR_FILENO);
  close(saved);
  return process;
}

// PsProcess keeps its pid to itself; the server is this test's only child.
pid_t server_pid() {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (dirent* e = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(text.c_str() + close_paren + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == getpid() && text.find("(hybrec)") != std::string::npos) {
      found = pid;
      break;
    }
  }
  closedir(proc);
  return found;
}

// Empty while the process runs, else how it ended. WNOWAIT leaves it to
// PsProcess::wait() to reap.
std::string exit_of(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return std::string("waitid: ") + std::strerror(errno);
  }
  if (info.si_pid == 0) return "";
  if (info.si_code == CLD_EXITED) return "exited with status " + std::to_string(info.si_status);
  return std::string("killed by signal ") + strsignal(info.si_status) +
         (info.si_code == CLD_DUMPED ? " (core dumped)" : "");
}

bool wait_for_exit(pid_t pid, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (!exit_of(pid).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !exit_of(pid).empty();
}

// "VmRSS" or "VmHWM" of a process, in KiB (-1 when unreadable).
int64_t vm_kib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string tail(const std::string& text, size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Fails on any sanitizer or crash report in the server's stderr; prints what
// else it logged, grouped.
void check_server_log(const std::string& path) {
  const std::string log = read_file(path);
  for (const char* bad : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                          "ThreadSanitizer", "terminate called", "Segmentation fault"}) {
    EXPECT_EQ(log.find(bad), std::string::npos)
        << "the server's stderr holds '" << bad << "':\n" << tail(log, 20000);
  }
  std::map<std::string, int> kinds;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    // Thrift prefixes a timestamp; group by what follows it.
    if (line.rfind("Thrift: ", 0) == 0 && line.size() > 33) line = line.substr(33);
    ++kinds[line.substr(0, 60)];
  }
  std::printf("server stderr: %zu bytes, %zu kinds of line\n", log.size(), kinds.size());
  std::vector<std::pair<int, std::string>> top;
  for (const auto& [text, count] : kinds) top.emplace_back(count, text);
  std::sort(top.rbegin(), top.rend());
  for (size_t i = 0; i < top.size() && i < 8; ++i) {
    std::printf("  %6d x %s\n", top[i].first, top[i].second.c_str());
  }
}

wire::ServerStats fetch_stats(int port) {
  auto config = std::make_shared<at::TConfiguration>(static_cast<int>(kMaxFrame),
                                                     static_cast<int>(kMaxFrame));
  auto socket = std::make_shared<at::transport::TSocket>("127.0.0.1", port, config);
  socket->setConnTimeout(5000);
  socket->setRecvTimeout(20000);
  socket->setSendTimeout(20000);
  auto transport = std::make_shared<at::transport::TFramedTransport>(socket, config);
  wire::ParameterServerClient client(
      std::make_shared<at::protocol::TBinaryProtocol>(transport, 0, 0, true, true));
  transport->open();
  wire::ServerStats stats;
  client.stats(stats);
  transport->close();
  return stats;
}

int64_t rows_of(const wire::ServerStats& stats, const std::string& table) {
  for (const auto& t : stats.tables) {
    if (t.spec.name == table) return t.rows;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Raw connections: non-blocking, every wait bounded, so the test cannot hang
// on a server that stops reading or answering.

class Conn {
 public:
  enum class Read { kData, kClosed, kTimeout };

  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error_ = std::strerror(errno);
      return;
    }
    timeval tv{10, 0};  // bounds connect()
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      error_ = std::strerror(errno);
      close(fd_);
      fd_ = -1;
      return;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  // Writes all of bytes. With discard, whatever the server answers meanwhile is
  // read and dropped, so neither side can stall on a full socket buffer.
  // False when the server closed or reset the connection or time ran out.
  bool send(const std::string& bytes, bool discard, int timeout_ms = 10000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t off = 0;
    while (off < bytes.size()) {
      pollfd p{fd_, static_cast<short>(POLLOUT | (discard ? POLLIN : 0)), 0};
      const int r = poll(&p, 1, left_ms(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      if (p.revents & POLLIN) {
        char sink[65536];
        const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return false;
      }
      if (p.revents & POLLOUT) {
        const ssize_t sent = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (sent < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          return false;
        }
        off += static_cast<size_t>(sent);
      } else if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return false;
      }
    }
    return true;
  }

  // One reply frame, its 4-byte header included.
  Read read_frame(std::string* frame, int timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    frame->clear();
    Read r = read_exact(4, frame, deadline);
    if (r != Read::kData) return r;
    const uint32_t n = (static_cast<uint8_t>((*frame)[0]) << 24) |
                       (static_cast<uint8_t>((*frame)[1]) << 16) |
                       (static_cast<uint8_t>((*frame)[2]) << 8) | static_cast<uint8_t>((*frame)[3]);
    if (n > static_cast<uint32_t>(kMaxFrame)) return Read::kData;  // the parser will object
    return read_exact(n, frame, deadline);
  }

  // Reads until the server closes (kClosed) or time runs out (kTimeout).
  Read drain(int timeout_ms, int64_t* bytes = nullptr) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char sink[65536];
    for (;;) {
      const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
      if (got == 0) return Read::kClosed;
      if (got > 0) {
        if (bytes != nullptr) *bytes += got;
        continue;
      }
      if (errno == ECONNRESET || errno == EPIPE) return Read::kClosed;
      if (errno != EAGAIN && errno != EINTR) return Read::kClosed;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left_ms(deadline)) == 0) return Read::kTimeout;
    }
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  // Closes with a RST instead of a FIN: the client vanishing outright.
  void reset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd_);
    fd_ = -1;
  }

 private:
  static int left_ms(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<int64_t>(0, left));
  }

  Read read_exact(size_t n, std::string* out, Clock::time_point deadline) {
    size_t have = 0;
    const size_t base = out->size();
    out->resize(base + n);
    while (have < n) {
      const ssize_t got = recv(fd_, out->data() + base + have, n - have, 0);
      if (got == 0) return Read::kClosed;
      if (got > 0) {
        have += static_cast<size_t>(got);
        continue;
      }
      if (errno != EAGAIN && errno != EINTR) return Read::kClosed;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left_ms(deadline)) == 0) return Read::kTimeout;
    }
    return Read::kData;
  }

  int fd_ = -1;
  std::string error_;
};

const char* read_name(Conn::Read r) {
  switch (r) {
    case Conn::Read::kData: return "data";
    case Conn::Read::kClosed: return "closed";
    case Conn::Read::kTimeout: return "timeout";
  }
  return "?";
}

// For gtest's messages.
void PrintTo(Conn::Read r, std::ostream* os) { *os << read_name(r); }

// ---------------------------------------------------------------------------
// What was sent, and what went wrong

enum Kind {
  kRandomBytes,    // raw random bytes, no framing (0-3 bytes: a cut-off length header)
  kRandomPayload,  // a valid length header, random payload (sometimes after a valid message header)
  kOversized,      // a length header above --max-frame-mib
  kNegative,       // a length header with the top bit set (incl. an unframed message)
  kTruncated,      // a header announcing more than is sent, then the client goes
  kMutated,        // a well-formed request to the fuzz table, mutated
  kValidFuzz,      // a well-formed request to the fuzz table
  kRejected,       // a well-formed request the service must refuse (reply checked)
  kDropped,        // a valid push to the real table the server must not process (drop checked)
  kSlow,           // a request sent byte by byte
  kNumKinds,
};
const char* const kKindNames[kNumKinds] = {
    "random bytes",   "random payload", "oversized header", "negative header",
    "truncated frame", "mutated request", "valid fuzz request", "rejected request (checked)",
    "unprocessable push (checked)", "slow byte-by-byte"};

struct Tally {
  std::atomic<int64_t> frames[kNumKinds] = {};
  std::atomic<int64_t> connections{0}, replies_checked{0}, drops_checked{0};
  std::atomic<int64_t> drained{0}, closed_early{0}, reset{0};
  int64_t total() const {
    int64_t t = 0;
    for (const auto& f : frames) t += f.load();
    return t;
  }
};

class Failures {
 public:
  void add(std::string what) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
    if (first_.size() < 20) first_.push_back(std::move(what));
  }
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }
  std::string describe() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& f : first_) out += "  " + f + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  int64_t count_ = 0;
  std::vector<std::string> first_;
};

// ---------------------------------------------------------------------------
// Requests the service must reject, checked one reply at a time

enum class Call { kCreateTable, kPull, kPush, kAssign, kSave, kLoad, kStats, kHealth };
constexpr int kUnknownMethod = -1;  // expected: TApplicationException UNKNOWN_METHOD

struct Probe {
  std::string what;
  std::string frame;
  Call call = Call::kHealth;
  int error = 0;     // expected PsError code; 0: success; kUnknownMethod
  std::string rows;  // pull: the expected rows
};

// n keys of the snapshot (existing rows), and their indices.
std::vector<int64_t> pick_keys(Rng& rng, const Snapshot& snap, int n, std::vector<int>* index) {
  std::vector<int64_t> keys(n);
  index->resize(n);
  for (int i = 0; i < n; ++i) {
    (*index)[i] = static_cast<int>(rng() % snap.keys.size());
    keys[i] = snap.keys[(*index)[i]];
  }
  return keys;
}

// grads/rows bytes for n keys of kTable with one value replaced by a NaN or an
// infinity (bit patterns, so signalling NaNs survive).
std::string with_non_finite(Rng& rng, int n) {
  std::string bytes = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
  const uint32_t bad[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fffffffu,
                          0x7f800000u, 0xff800000u};
  const uint32_t v = bad[rng() % 6];
  std::memcpy(&bytes[(rng() % (static_cast<size_t>(n) * kDim)) * 4], &v, 4);
  return bytes;
}

std::string wrong_length(Rng& rng, int n) {
  const int64_t right = int64_t{n} * kDim * 4;
  const int64_t deltas[] = {-4, 4, -1, 1, 3, -right, kDim * 4, -kDim * 4, right};
  for (;;) {
    const int64_t len = right + deltas[rng() % 9];
    if (len < 0 || len == right) continue;
    return pack(random_floats(rng, static_cast<size_t>(len / 4))) +
           std::string(static_cast<size_t>(len % 4), '\x01');
  }
}

// keys whose byte length is not a multiple of 8.
std::string ragged_keys(Rng& rng, const std::vector<int64_t>& keys) {
  return pack(keys) + random_bytes(rng, 1 + rng() % 7);
}

wire::TableSpec conflicting_spec(Rng& rng) {
  TableSpec s = items_spec();
  switch (rng() % 7) {
    case 0: s.dim = 32; break;
    case 1: s.dim = 8; break;
    case 2: s.learning_rate = 0.1; break;
    case 3: s.optimizer = Optimizer::kSgd; break;
    case 4: s.seed = 8; break;
    case 5: s.init_scale = 0.02; break;
    default: s.eps = 1e-7; break;
  }
  return to_wire(s);
}

wire::TableSpec bad_spec(Rng& rng) {
  TableSpec s = items_spec();
  s.name = "bad-spec-" + std::to_string(rng() % 1000);
  wire::TableSpec w;
  switch (rng() % 12) {
    case 0: s.dim = 0; break;
    case 1: s.dim = -5; break;
    case 2: s.dim = kMaxDim + 1; break;
    case 3: s.dim = INT32_MIN; break;
    case 4: s.learning_rate = std::nan(""); break;
    case 5: s.learning_rate = -1; break;
    case 6: s.eps = HUGE_VAL; break;
    case 7: s.init_scale = -0.5; break;
    case 8: s.name = ""; break;
    case 9: s.name = "a/../b"; break;
    case 10: s.name = std::string(129, 'z'); break;
    default:
      w = to_wire(s);
      w.__set_optimizer(static_cast<wire::Optimizer::type>(rng() % 2 == 0 ? 0 : 7));
      return w;
  }
  return to_wire(s);
}

// A valid push to the real table: it would change rows if the server ever
// processed it, which is the point of the drop probes.
std::string real_push(Rng& rng, const Snapshot& snap) {
  std::vector<int> index;
  const int n = 1 + static_cast<int>(rng() % 16);
  const std::vector<int64_t> keys = pick_keys(rng, snap, n, &index);
  const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
  return encode([&](auto& c) { c.send_push(kTable, pack(keys), grads); });
}

Probe make_probe(Rng& rng, const Snapshot& snap) {
  Probe p;
  std::vector<int> index;
  const int n = 1 + static_cast<int>(rng() % 32);
  const std::vector<int64_t> keys = pick_keys(rng, snap, n, &index);
  std::string message;
  switch (rng() % 16) {
    case 0:
    case 1:
      p = {"push with a NaN/Inf gradient", "", Call::kPush, 4, ""};
      message = encode([&](auto& c) { c.send_push(kTable, pack(keys), with_non_finite(rng, n)); });
      break;
    case 2:
      p = {"push with grads of the wrong length", "", Call::kPush, 2, ""};
      message = encode([&](auto& c) { c.send_push(kTable, pack(keys), wrong_length(rng, n)); });
      break;
    case 3: {
      p = {"push with keys not a multiple of 8 bytes", "", Call::kPush, 3, ""};
      const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      message = encode([&](auto& c) { c.send_push(kTable, ragged_keys(rng, keys), grads); });
      break;
    }
    case 4:
      p = {"assign with a NaN/Inf value", "", Call::kAssign, 4, ""};
      message =
          encode([&](auto& c) { c.send_assign(kTable, pack(keys), with_non_finite(rng, n)); });
      break;
    case 5:
      p = {"assign with rows of the wrong length", "", Call::kAssign, 2, ""};
      message = encode([&](auto& c) { c.send_assign(kTable, pack(keys), wrong_length(rng, n)); });
      break;
    case 6: {
      p = {"assign with keys not a multiple of 8 bytes", "", Call::kAssign, 3, ""};
      const std::string rows = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      message = encode([&](auto& c) { c.send_assign(kTable, ragged_keys(rng, keys), rows); });
      break;
    }
    case 7:
      p = {"pull with keys not a multiple of 8 bytes", "", Call::kPull, 3, ""};
      message = encode([&](auto& c) { c.send_pull(kTable, ragged_keys(rng, keys)); });
      break;
    case 8: {
      const char* names[] = {"items2", "Items", "", "item", "items ", "itemsitems"};
      const std::string name = names[rng() % 6];
      const std::string grads = pack(random_floats(rng, static_cast<size_t>(n) * kDim));
      p = {"push to unknown table '" + name + "'", "", Call::kPush, 1, ""};
      message = encode([&](auto& c) { c.send_push(name, pack(keys), grads); });
      break;
    }
    case 9:
      p = {"create_table of 'items' with another spec", "", Call::kCreateTable, 7, ""};
      message = encode([&](auto& c) { c.send_create_table(conflicting_spec(rng)); });
      break;
    case 10:
      p = {"create_table with an invalid spec", "", Call::kCreateTable, 6, ""};
      message = encode([&](auto& c) { c.send_create_table(bad_spec(rng)); });
      break;
    case 11:
      p = {"create_table of 'items' with its own spec (a no-op)", "", Call::kCreateTable, 0, ""};
      message = encode([&](auto& c) { c.send_create_table(to_wire(items_spec())); });
      break;
    case 12: {
      const int64_t version = static_cast<int64_t>(rng() % 4);
      const bool save = rng() % 2 == 0;
      p = {save ? "save without --checkpoint-dir" : "load without --checkpoint-dir", "",
           save ? Call::kSave : Call::kLoad, 9, ""};
      message = encode([&](auto& c) {
        if (save) c.send_save(version); else c.send_load(version);
      });
      break;
    }
    case 13: {
      const std::string names[] = {"pushh", "Push", "push ", "", "pus", "items",
                                   std::string("push\0", 5), "create_tablee"};
      const std::string name = names[rng() % 8];
      p = {"unknown method '" + name + "' carrying a valid push", "", Call::kHealth,
           kUnknownMethod, ""};
      message = strict_message(0x80010001u, name, message_args(real_push(rng, snap)));
      break;
    }
    case 14:
      p = {"pull of existing rows", "", Call::kPull, 0, ""};
      for (int i : index) {
        p.rows += snap.rows.substr(static_cast<size_t>(i) * kDim * 4, kDim * 4);
      }
      message = encode([&](auto& c) { c.send_pull(kTable, pack(keys)); });
      break;
    default:
      if (rng() % 2 == 0) {
        p = {"stats", "", Call::kStats, 0, ""};
        message = encode([&](auto& c) { c.send_stats(); });
      } else {
        p = {"health", "", Call::kHealth, 0, ""};
        message = encode([&](auto& c) { c.send_health(); });
      }
      break;
  }
  p.frame = framed(message);
  return p;
}

// Empty when reply is what the probe expects, else what is wrong.
std::string check_reply(const Probe& p, const std::string& reply) {
  auto memory = std::make_shared<at::transport::TMemoryBuffer>(
      reinterpret_cast<uint8_t*>(const_cast<char*>(reply.data())),
      static_cast<uint32_t>(reply.size()), at::transport::TMemoryBuffer::COPY);
  wire::ParameterServerClient client(std::make_shared<at::protocol::TBinaryProtocol>(
      std::make_shared<at::transport::TFramedTransport>(memory), 0, 0, true, true));
  try {
    std::string rows;
    wire::ServerStats stats;
    wire::Health health;
    switch (p.call) {
      case Call::kCreateTable: client.recv_create_table(); break;
      case Call::kPull: client.recv_pull(rows); break;
      case Call::kPush: client.recv_push(); break;
      case Call::kAssign: client.recv_assign(); break;
      case Call::kSave: client.recv_save(); break;
      case Call::kLoad: client.recv_load(); break;
      case Call::kStats: client.recv_stats(stats); break;
      case Call::kHealth: client.recv_health(health); break;
    }
    if (p.error != 0) return "succeeded; expected error " + std::to_string(p.error);
    if (p.call == Call::kPull && rows != p.rows) return "returned rows that differ from before";
    if (p.call == Call::kStats && rows_of(stats, kTable) != kNumKeys) {
      return "stats report " + std::to_string(rows_of(stats, kTable)) + " rows in 'items'";
    }
    if (p.call == Call::kHealth &&
        (!health.serving || health.shard_index != 0 || health.num_shards != 1)) {
      return "health() is not 'serving shard 0/1'";
    }
    return "";
  } catch (const wire::PsError& e) {
    if (e.code == p.error) return "";
    return "PsError " + std::to_string(e.code) + " (" + e.message + "); expected " +
           std::to_string(p.error);
  } catch (const at::TApplicationException& e) {
    if (p.error == kUnknownMethod && e.getType() == at::TApplicationException::UNKNOWN_METHOD) {
      return "";
    }
    return std::string("TApplicationException: ") + e.what();
  } catch (const at::TException& e) {
    return std::string("unreadable reply: ") + e.what();
  }
}

// A valid push to the real table wrapped so the server must not process it;
// sent last on a connection, which the server should then close unanswered.
std::pair<std::string, std::string> make_drop(Rng& rng, const Snapshot& snap) {
  const std::string push = real_push(rng, snap);
  const std::string args = message_args(push);
  switch (rng() % 8) {
    case 0: return {"a reply-type message", framed(strict_message(0x80010002u, "push", args))};
    case 1: return {"an exception-type message", framed(strict_message(0x80010003u, "push", args))};
    case 2: {
      const uint32_t types[] = {0, 5, 6, 0x7f, 0x80, 0xff};
      const uint32_t t = types[rng() % 6];
      return {"message type " + std::to_string(t),
              framed(strict_message(0x80010000u | t, "push", args))};
    }
    case 3: {
      const uint32_t versions[] = {0x80020000u, 0x80000000u, 0xffff0000u, 0x81010000u};
      return {"a wrong protocol version",
              framed(strict_message(versions[rng() % 4] | 1u, "push", args))};
    }
    case 4:  // pre-strict encoding: i32 name length, name, type byte, seqid
      return {"a non-strict (old protocol) message",
              framed(be32(4) + "push" + std::string(1, '\x01') + be32(0) + args)};
    case 5: return {"an unframed message", push};
    case 6: {
      const std::string f = framed(push);
      return {"a frame cut short before the client vanished",
              f.substr(0, f.size() - 1 - rng() % (f.size() - 4))};
    }
    default:
      return {"a frame announcing more bytes than it carries",
              be32(static_cast<uint32_t>(push.size() + 1 + rng() % 64)) + push};
  }
}

// A connection of probes, each answered and checked; sometimes one drop last.
// Returns the frames it sent, -1 when it could not connect.
int checked_connection(int port, Rng& rng, const Snapshot& snap, Tally& tally,
                       Failures& failures) {
  Conn c(port);
  ++tally.connections;
  if (!c.ok()) {
    failures.add("connect failed: " + c.error());
    return -1;
  }
  const int n = 1 + static_cast<int>(rng() % 8);
  int sent = 0;
  std::string reply;
  for (int i = 0; i < n; ++i) {
    const Probe p = make_probe(rng, snap);
    if (!c.send(p.frame, false)) {
      failures.add("the server dropped the connection before " + p.what);
      return sent;
    }
    ++tally.frames[kRejected];
    ++sent;
    const Conn::Read r = c.read_frame(&reply, 10000);
    if (r != Conn::Read::kData) {
      failures.add("no reply to " + p.what + ": " + read_name(r));
      return sent;
    }
    const std::string wrong = check_reply(p, reply);
    if (!wrong.empty()) failures.add(p.what + ": " + wrong);
    ++tally.replies_checked;
  }
  if (rng() % 10 < 3) {
    const auto [what, bytes] = make_drop(rng, snap);
    if (!c.send(bytes, false)) return sent;
    ++tally.frames[kDropped];
    ++sent;
    c.shutdown_write();
    int64_t answered = 0;
    const Conn::Read r = c.drain(10000, &answered);
    if (r != Conn::Read::kClosed || answered != 0) {
      failures.add("after a valid push in " + what + " the server " +
                   (answered ? "answered " + std::to_string(answered) + " bytes"
                             : std::string("kept the connection open")));
    }
    ++tally.drops_checked;
  }
  return sent;
}

// ---------------------------------------------------------------------------
// Fuzz connections: random and mutated bytes, never the real table's name

std::string fuzz_message(Rng& rng) {
  const int n = static_cast<int>(rng() % 9);
  std::vector<int64_t> keys(n);
  for (auto& k : keys) k = static_cast<int64_t>(rng());
  const std::string values = pack(random_floats(rng, static_cast<size_t>(n) * kFuzzDim));
  switch (rng() % 10) {
    case 0:
    case 1: return encode([&](auto& c) { c.send_pull(kFuzzTable, pack(keys)); });
    case 2:
    case 3: return encode([&](auto& c) { c.send_push(kFuzzTable, pack(keys), values); });
    case 4: return encode([&](auto& c) { c.send_assign(kFuzzTable, pack(keys), values); });
    case 5: return encode([&](auto& c) { c.send_create_table(to_wire(fuzz_spec())); });
    case 6: return encode([&](auto& c) { c.send_health(); });
    case 7: return encode([&](auto& c) { c.send_stats(); });
    case 8: return encode([&](auto& c) { c.send_save(static_cast<int64_t>(rng() % 8)); });
    default: return encode([&](auto& c) { c.send_load(static_cast<int64_t>(rng() % 8)); });
  }
}

// Integers that make parsers take unusual paths when they land on a length,
// an id or a count.
uint32_t interesting_i32(Rng& rng) {
  const uint32_t values[] = {0u, 1u, 0xffffffffu, 0x7fffffffu, 0x80000000u,
                             static_cast<uint32_t>(kMaxFrame), static_cast<uint32_t>(kMaxFrame + 1),
                             65536u, 65537u, 255u, 256u, 0x10000000u, 0x80010001u};
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

std::string mutate(std::string m, Rng& rng) {
  const int ops = 1 + static_cast<int>(rng() % 3);
  for (int op = 0; op < ops; ++op) {
    switch (rng() % 7) {
      case 0:  // bit flips
        for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n && !m.empty(); ++i) {
          m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8));
        }
        break;
      case 1: {  // byte overwrites
        const char bytes[] = {'\x00', '\xff', '\x7f', '\x80', '\x0b', '\x0c', '\x0f', '\x01'};
        for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n && !m.empty(); ++i) {
          m[rng() % m.size()] = rng() % 2 ? bytes[rng() % 8] : static_cast<char>(rng());
        }
        break;
      }
      case 2:  // a length, count or header replaced
        if (m.size() >= 4) m.replace(rng() % (m.size() - 3), 4, be32(interesting_i32(rng)));
        break;
      case 3:  // truncation
        if (!m.empty()) m.resize(rng() % m.size());
        break;
      case 4:  // extension
        m += random_bytes(rng, 1 + rng() % 64);
        break;
      case 5:  // a slice repeated (repeated fields, nested junk)
        if (!m.empty()) {
          const size_t from = rng() % m.size();
          const size_t len = 1 + rng() % (m.size() - from);
          m.insert(rng() % (m.size() + 1), m.substr(from, len));
        }
        break;
      default:  // a slice removed
        if (!m.empty()) {
          const size_t from = rng() % m.size();
          m.erase(from, 1 + rng() % (m.size() - from));
        }
        break;
    }
  }
  return m;
}

std::string fuzz_frame(Kind kind, Rng& rng) {
  switch (kind) {
    case kRandomBytes:
      return random_bytes(rng, rng() % 10 < 3 ? rng() % 4 : 4 + rng() % 252);
    case kRandomPayload: {
      const uint64_t r = rng() % 100;
      const size_t n = r < 2   ? static_cast<size_t>(kMaxFrame - rng() % (3 << 20))
                       : r < 5 ? 0
                               : 1 + rng() % 512;
      if (n > 32 && rng() % 2 == 0) {  // a valid message header, then junk arguments
        const char* methods[] = {"pull", "push", "assign", "create_table",
                                 "stats", "health", "save", "load"};
        const std::string head = strict_message(0x80010001u, methods[rng() % 8], "");
        return be32(static_cast<uint32_t>(n)) + head + random_bytes(rng, n - head.size());
      }
      return be32(static_cast<uint32_t>(n)) + random_bytes(rng, n);
    }
    case kOversized: {
      const uint32_t limit = static_cast<uint32_t>(kMaxFrame);
      const uint32_t sizes[] = {limit + 1, limit * 2, 0x7fffffffu,
                                limit + 1 + static_cast<uint32_t>(rng() % (0x7fffffffu - limit))};
      return be32(sizes[rng() % 4]) + random_bytes(rng, rng() % 64);
    }
    case kNegative:
      switch (rng() % 4) {
        case 0: return be32(0x80000000u) + random_bytes(rng, rng() % 64);
        case 1: return be32(0xffffffffu) + random_bytes(rng, rng() % 64);
        case 2: return fuzz_message(rng);  // unframed: its version word reads as a length
        default:
          return be32(0x80000000u | static_cast<uint32_t>(rng())) + random_bytes(rng, rng() % 64);
      }
    case kTruncated: {
      const std::string f = framed(rng() % 2 ? fuzz_message(rng) : mutate(fuzz_message(rng), rng));
      return f.substr(0, rng() % f.size());
    }
    case kMutated: {
      const std::string original = fuzz_message(rng);
      const std::string m = mutate(original, rng);
      const uint64_t r = rng() % 100;
      size_t announced = m.size();
      if (r < 5) {
        announced = original.size();
      } else if (r < 15) {
        const size_t delta = 1 + rng() % 16;
        announced = rng() % 2 ? m.size() + delta : m.size() - std::min(m.size(), delta);
      }
      return be32(static_cast<uint32_t>(announced)) + m;
    }
    default:
      return framed(fuzz_message(rng));
  }
}

Kind pick_fuzz_kind(Rng& rng) {
  const uint64_t r = rng() % 100;
  if (r < 40) return kMutated;
  if (r < 48) return kValidFuzz;
  if (r < 56) return kRandomBytes;
  if (r < 72) return kRandomPayload;
  if (r < 80) return kOversized;
  if (r < 88) return kNegative;
  return kTruncated;
}

// Without the byte 'm' no string the server parses can be "items" (see top).
void scrub(std::string* bytes) { std::replace(bytes->begin(), bytes->end(), 'm', 'l'); }

// Returns the frames it sent, -1 when it could not connect.
int fuzz_connection(int port, Rng& rng, Tally& tally, Failures& failures) {
  std::vector<std::pair<Kind, std::string>> frames;
  const int n = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    Kind kind = pick_fuzz_kind(rng);
    if (kind == kTruncated && i + 1 < n) kind = kMutated;  // a cut-off frame ends a connection
    frames.emplace_back(kind, fuzz_frame(kind, rng));
    scrub(&frames.back().second);
  }
  Conn c(port);
  ++tally.connections;
  if (!c.ok()) {
    failures.add("connect failed: " + c.error());
    return -1;
  }
  int sent = 0;
  for (const auto& [kind, bytes] : frames) {
    if (!c.send(bytes, true)) break;  // the server dropped us: expected after junk
    ++tally.frames[kind];
    ++sent;
  }
  // Then leave: half-close and wait for the server to finish (it must close
  // its end), close outright, or reset.
  const uint64_t r = rng() % 100;
  if (r < 60) {
    c.shutdown_write();
    if (c.drain(15000) == Conn::Read::kTimeout) {
      failures.add("the server kept a half-closed fuzz connection open for 15 s");
    }
    ++tally.drained;
  } else if (r < 85) {
    ++tally.closed_early;
  } else {
    c.reset();
    ++tally.reset;
  }
  return sent;
}

// Requests trickled one byte at a time; some completed and checked, some cut.
void slow_connections(int port, uint64_t seed, const Snapshot& snap, Tally& tally,
                      Failures& failures) {
  Rng rng(seed);
  std::string reply;
  for (int i = 0; i < 24; ++i) {
    Conn c(port);
    ++tally.connections;
    if (!c.ok()) {
      failures.add("connect failed: " + c.error());
      return;
    }
    Probe p;
    bool complete = true;
    if (i % 3 == 0) {
      p = {"slow health", framed(encode([](auto& cl) { cl.send_health(); })), Call::kHealth, 0,
           ""};
    } else if (i % 3 == 1) {
      std::vector<int> index;
      const std::vector<int64_t> keys = pick_keys(rng, snap, 2, &index);
      p = {"slow push with a NaN", "", Call::kPush, 4, ""};
      p.frame = framed(
          encode([&](auto& cl) { cl.send_push(kTable, pack(keys), with_non_finite(rng, 2)); }));
    } else {
      complete = false;
      p.frame = framed(fuzz_message(rng));
      scrub(&p.frame);
      p.frame.resize(rng() % p.frame.size());
    }
    bool sent = true;
    for (char b : p.frame) {
      if (!(sent = c.send(std::string(1, b), false))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ++tally.frames[kSlow];
    if (!complete) {
      if (rng() % 2) c.reset();
      continue;
    }
    const Conn::Read r = sent ? c.read_frame(&reply, 10000) : Conn::Read::kClosed;
    if (r != Conn::Read::kData) {
      failures.add("no reply to " + p.what + ": " + read_name(r));
      continue;
    }
    const std::string wrong = check_reply(p, reply);
    if (!wrong.empty()) failures.add(p.what + ": " + wrong);
    ++tally.replies_checked;
  }
}

// Samples the server's resident memory while the fuzzing runs. Above the soft
// cap new connections wait, so the server can release what it holds; above the
// hard cap the server is killed, so a runaway cannot take the machine down
// (an unbounded allocation in the server once made the kernel OOM-kill it).
class MemoryWatch {
 public:
  MemoryWatch(pid_t pid, int64_t soft_mib, int64_t hard_mib)
      : pid_(pid), soft_kib_(soft_mib << 10), hard_kib_(hard_mib << 10),
        thread_([this] { run(); }) {}
  ~MemoryWatch() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Before each new connection; bounded so a stuck server cannot stall the test.
  void wait_below_soft_cap() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (over_ && !stop_ && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int64_t peak_mib() const { return peak_kib_ >> 10; }
  int64_t episodes() const { return episodes_; }
  bool killed() const { return killed_; }

 private:
  void run() {
    while (!stop_) {
      const int64_t rss = vm_kib(pid_, "VmRSS");
      if (rss > peak_kib_) peak_kib_ = rss;
      if (rss > hard_kib_ && !killed_) {
        kill(pid_, SIGKILL);
        killed_ = true;
      }
      const bool over = rss > soft_kib_;
      if (over && !over_) ++episodes_;
      over_ = over;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  const pid_t pid_;
  const int64_t soft_kib_, hard_kib_;
  std::atomic<bool> stop_{false}, over_{false}, killed_{false};
  std::atomic<int64_t> peak_kib_{0}, episodes_{0};
  std::thread thread_;
};

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// ---------------------------------------------------------------------------

TEST(PsFuzz, MalformedFramesLeaveTheServerServingWithItsRowsUntouched) {
  const uint64_t seed = env_u64("HYBREC_FUZZ_SEED", 20240611);
  const int64_t target =
      std::max<int64_t>(kMinFrames, static_cast<int64_t>(env_u64("HYBREC_FUZZ_FRAMES", 24000)));
  std::printf("seed %llu (HYBREC_FUZZ_SEED), at least %lld frames\n",
              static_cast<unsigned long long>(seed), static_cast<long long>(target));

  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  // No --checkpoint-dir: save/load can never change the state under test.
  auto server = start_server(log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib),
                                   "--idle-timeout-s", std::to_string(kIdleTimeoutS)});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server_pid();
  ASSERT_GT(pid, 0) << "cannot find the server's pid";
  const int port = server->port();

  // The rows to protect: 1000 keys that went through two pushes, so rows and
  // optimizer state are both non-trivial. A pull of existing keys changes nothing.
  Snapshot snap;
  snap.keys = snapshot_keys();
  {
    PsClient client({{"127.0.0.1", port}}, client_options());
    client.create_table(items_spec());
    client.create_table(fuzz_spec());
    Rng rng(seed ^ 0x5eed);
    for (int round = 0; round < 2; ++round) {
      const std::vector<float> grads = random_floats(rng, static_cast<size_t>(kNumKeys) * kDim);
      client.push(kTable, snap.keys.data(), kNumKeys, kDim, grads.data()).wait();
    }
    std::vector<float> rows(static_cast<size_t>(kNumKeys) * kDim), again(rows.size());
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, rows.data()).wait();
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, again.data()).wait();
    ASSERT_EQ(pack(rows), pack(again)) << "a pull of existing keys changed them";
    snap.rows = pack(rows);
  }
  ASSERT_EQ(rows_of(fetch_stats(port), kTable), kNumKeys);
  const int64_t rss_before = vm_kib(pid, "VmRSS");
  // Every connection holds at most a frame and the strings parsed from it, a
  // few times the frame limit; far fewer than 64 are served at once here.
  constexpr int64_t kSoftCapMib = 1024, kHardCapMib = 4096;
  MemoryWatch memory(pid, kSoftCapMib, kHardCapMib);

  Tally tally;
  Failures failures;

  // Connections that send nothing, or stall inside a header or a frame, held
  // through the fuzzing; the server must drop them after --idle-timeout-s.
  const auto idle_since = Clock::now();
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 12; ++i) {
    idle.push_back(std::make_unique<Conn>(port));
    ++tally.connections;
    ASSERT_TRUE(idle.back()->ok()) << idle.back()->error();
    if (i >= 6) {
      idle.back()->send(i < 9 ? std::string("\0\0", 2) : be32(100) + std::string(10, 'z'), false);
    }
  }

  const auto start = Clock::now();
  std::vector<std::thread> threads;
  const int64_t quota = (target + kWorkers - 1) / kWorkers;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      Rng rng(splitmix(seed * 64 + static_cast<uint64_t>(w)));
      int64_t sent = 0;
      int refused = 0;
      while (sent < quota && refused < 10) {  // a dead server refuses every connection
        memory.wait_below_soft_cap();
        const int n = rng() % 4 == 0 ? checked_connection(port, rng, snap, tally, failures)
                                     : fuzz_connection(port, rng, tally, failures);
        refused += n < 0;
        sent += std::max(n, 0);
      }
    });
  }
  threads.emplace_back(
      [&] { slow_connections(port, splitmix(seed + 99), snap, tally, failures); });
  for (auto& t : threads) t.join();
  const double fuzz_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::printf("fuzzing took %.1f s over %lld connections:\n", fuzz_s,
              static_cast<long long>(tally.connections.load()));
  for (int k = 0; k < kNumKinds; ++k) {
    std::printf("  %7lld  %s\n", static_cast<long long>(tally.frames[k].load()), kKindNames[k]);
  }
  std::printf("  %7lld  total frames\n", static_cast<long long>(tally.total()));
  std::printf("replies checked %lld, drops checked %lld; fuzz connections ended by half-close "
              "%lld, close %lld, reset %lld\n",
              static_cast<long long>(tally.replies_checked.load()),
              static_cast<long long>(tally.drops_checked.load()),
              static_cast<long long>(tally.drained.load()),
              static_cast<long long>(tally.closed_early.load()),
              static_cast<long long>(tally.reset.load()));
  std::printf("server RSS: %lld MiB before fuzzing, peak %lld MiB; above %lld MiB %lld times\n",
              static_cast<long long>(rss_before >> 10), static_cast<long long>(memory.peak_mib()),
              static_cast<long long>(kSoftCapMib), static_cast<long long>(memory.episodes()));
  ASSERT_FALSE(memory.killed())
      << "the server's resident memory passed " << kHardCapMib
      << " MiB and the test killed it to protect the machine (see "
      << "ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit)";
  EXPECT_LT(memory.peak_mib(), kSoftCapMib)
      << "the server's resident memory peaked at " << memory.peak_mib()
      << " MiB under fuzzing (see ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit)";

  EXPECT_GE(tally.total(), kMinFrames);
  EXPECT_EQ(failures.count(), 0) << "first failures:\n" << failures.describe();
  const std::string ended = exit_of(pid);
  ASSERT_EQ(ended, "") << "the server died during fuzzing; its stderr:\n" << tail(read_file(log));

  // The idle and stalled connections must be gone by now.
  std::this_thread::sleep_until(idle_since + std::chrono::seconds(kIdleTimeoutS + 2));
  for (size_t i = 0; i < idle.size(); ++i) {
    EXPECT_EQ(idle[i]->drain(3000), Conn::Read::kClosed)
        << "idle connection " << i << " was still open " << kIdleTimeoutS + 2
        << " s after it last sent anything";
  }
  idle.clear();

  // Serving, with every row bit for bit as before.
  {
    PsClient client({{"127.0.0.1", port}}, client_options());
    const std::vector<ShardHealth> health = client.health();
    ASSERT_EQ(health.size(), 1u);
    EXPECT_TRUE(health[0].reachable) << health[0].error;
    EXPECT_EQ(health[0].shard_index, 0);
    EXPECT_EQ(health[0].num_shards, 1);
    EXPECT_EQ(health[0].wire_version, 1);

    std::vector<float> rows(static_cast<size_t>(kNumKeys) * kDim);
    client.pull(kTable, snap.keys.data(), kNumKeys, kDim, rows.data()).wait();
    const std::string after = pack(rows);
    int changed = 0;
    int first = -1;
    for (int i = 0; i < kNumKeys; ++i) {
      if (std::memcmp(after.data() + i * kDim * 4, snap.rows.data() + i * kDim * 4, kDim * 4)) {
        if (changed++ == 0) first = i;
      }
    }
    EXPECT_EQ(changed, 0) << changed << " rows changed, the first of key " << snap.keys[first];

    const wire::ServerStats stats = fetch_stats(port);
    EXPECT_EQ(rows_of(stats, kTable), kNumKeys);
    std::printf("server counters: %lld pulls, %lld pushes, %lld rejected requests, %zu tables\n",
                static_cast<long long>(stats.pull_requests),
                static_cast<long long>(stats.push_requests),
                static_cast<long long>(stats.rejected_requests), stats.tables.size());

    // And it still learns: a push to fresh keys moves their rows against the
    // gradient (all +1, so every value must drop).
    const std::set<int64_t> taken(snap.keys.begin(), snap.keys.end());
    std::vector<int64_t> fresh;
    for (int64_t k = 0x5a5a000000000000LL; fresh.size() < 100; ++k) {
      if (!taken.count(k)) fresh.push_back(k);
    }
    const int64_t n = static_cast<int64_t>(fresh.size());
    std::vector<float> r0(static_cast<size_t>(n) * kDim), r1(r0.size());
    const std::vector<float> ones(r0.size(), 1.0f);
    client.pull(kTable, fresh.data(), n, kDim, r0.data()).wait();
    client.push(kTable, fresh.data(), n, kDim, ones.data()).wait();
    client.pull(kTable, fresh.data(), n, kDim, r1.data()).wait();
    int moved = 0;
    for (size_t i = 0; i < r0.size(); ++i) moved += std::isfinite(r1[i]) && r1[i] < r0[i];
    EXPECT_EQ(moved, static_cast<int>(r0.size())) << "a normal push did not apply";
    EXPECT_EQ(rows_of(fetch_stats(port), kTable), kNumKeys + n);
  }

  // Graceful shutdown, with one idle connection open: stop() must wake it
  // rather than wait out its idle timeout.
  Conn idle_at_stop(port);
  ASSERT_TRUE(idle_at_stop.ok()) << idle_at_stop.error();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // accepted by now
  const auto stop_start = Clock::now();
  server->signal(SIGTERM);
  const bool exited = wait_for_exit(pid, 30);
  memory.stop();  // before the pid is reaped and could be reused
  if (!exited) {
    server->signal(SIGKILL);
    server->wait();
    FAIL() << "the server did not exit within 30 s of SIGTERM; its stderr:\n"
           << tail(read_file(log));
  }
  const double stop_s = std::chrono::duration<double>(Clock::now() - stop_start).count();
  std::printf("SIGTERM to exit: %.2f s\n", stop_s);
  EXPECT_EQ(server->wait(), 0) << tail(read_file(log));
  EXPECT_LT(stop_s, kIdleTimeoutS - 1.0) << "shutdown waited for the idle connection";
  check_server_log(log);
}

// Regression test for a fuzz finding. A string's length prefix is trusted
// before its bytes arrive: TBinaryProtocol::readStringBody (Thrift 0.17)
// checks it only against the protocol's string limit, which PsServer leaves
// at 0 (unlimited), then resizes the string to that length (zero-filling it)
// and waits for the bytes on following frames. A 25-byte frame can so make
// the server commit up to 2 GiB per connection, --threads connections at once.
TEST(PsFuzz, ATinyFrameCannotMakeTheServerAllocateBeyondTheFrameLimit) {
  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  auto server = start_server(log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib),
                                   "--idle-timeout-s", std::to_string(kIdleTimeoutS)});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server_pid();
  ASSERT_GT(pid, 0);
  const int64_t rss_before = vm_kib(pid, "VmRSS");

  // pull(table: <a string announced as 256 MiB>) and nothing more.
  constexpr uint32_t kAnnounced = 256u << 20;
  const std::string message =
      strict_message(0x80010001u, "pull", std::string("\x0b\x00\x01", 3) + be32(kAnnounced));
  Conn c(server->port());
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c.send(framed(message), false));
  // Give the server time to act on it (it then waits for the next frame).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int64_t peak = vm_kib(pid, "VmHWM");
  c.reset();
  EXPECT_LT(peak - rss_before, int64_t{64} << 10)
      << "a " << message.size() + 4 << "-byte frame raised the server's resident memory by "
      << (peak - rss_before) / 1024 << " MiB (the frame limit is " << kMaxFrameMib
      << " MiB): the protocol's string limit should be the frame limit";

  PsClient client({{"127.0.0.1", server->port()}}, client_options());
  EXPECT_TRUE(client.health()[0].reachable);
  server->signal(SIGTERM);
  if (!wait_for_exit(pid, 30)) server->signal(SIGKILL);
  EXPECT_EQ(server->wait(), 0);
  check_server_log(log);
}

// Regression test for a fuzz finding. --idle-timeout-s sets only the receive
// timeout of accepted sockets (TServerSocket::setRecvTimeout in PsServer), so a
// client that sends requests but never reads the replies leaves its server
// thread blocked in send() for good: it holds one of the --threads slots
// forever and SIGTERM's drain waits for it.
TEST(PsFuzz, AClientThatStopsReadingRepliesCannotHoldAConnectionForever) {
  constexpr int kShortIdleS = 2;
  TempDir dir;
  const std::string log = dir.path() + "/server.stderr";
  // One connection at a time, so a held connection locks everyone out.
  auto server = start_server(log, {"--port", "0", "--max-frame-mib", std::to_string(kMaxFrameMib),
                                   "--idle-timeout-s", std::to_string(kShortIdleS), "--threads",
                                   "1"});
  ASSERT_TRUE(server->running()) << tail(read_file(log));
  const pid_t pid = server_pid();
  ASSERT_GT(pid, 0);
  const int port = server->port();

  TableSpec wide = fuzz_spec();
  wide.dim = 1024;
  std::string reply;
  {
    Conn c(port);
    ASSERT_TRUE(c.ok()) << c.error();
    ASSERT_TRUE(c.send(framed(encode([&](auto& cl) { cl.send_create_table(to_wire(wide)); })),
                       false));
    ASSERT_EQ(c.read_frame(&reply, 10000), Conn::Read::kData);
  }

  // 1 MiB replies, requested until the socket buffers are full, never read.
  std::vector<int64_t> keys(256);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<int64_t>(i);
  const std::string pull = framed(encode([&](auto& cl) { cl.send_pull(kFuzzTable, pack(keys)); }));
  Conn greedy(port);
  ASSERT_TRUE(greedy.ok()) << greedy.error();
  int requests = 0;
  while (requests < 400 && greedy.send(pull, false, 1000)) ++requests;
  std::printf("%d pulls of 1 MiB rows sent without reading a reply\n", requests);

  // Well past the idle timeout: the server must have given up on that client.
  std::this_thread::sleep_for(std::chrono::seconds(kShortIdleS + 2));
  {
    Conn c(port);
    ASSERT_TRUE(c.ok()) << c.error();
    ASSERT_TRUE(c.send(framed(encode([](auto& cl) { cl.send_health(); })), false));
    const Conn::Read r = c.read_frame(&reply, 5000);
    EXPECT_EQ(r, Conn::Read::kData)
        << "health() got no reply (" << read_name(r) << ") " << kShortIdleS + 2
        << " s after a client stopped reading: that client still holds the only connection slot";
  }

  // Graceful shutdown, with the client still not reading.
  server->signal(SIGTERM);
  const bool exited = wait_for_exit(pid, kShortIdleS + 8);
  EXPECT_TRUE(exited) << "SIGTERM did not stop the server while a client was not reading";
  greedy.reset();  // lets a stuck server finish
  if (!wait_for_exit(pid, 30)) server->signal(SIGKILL);
  EXPECT_EQ(server->wait(), 0);
  check_server_log(log);
}

}  // namespace
}  // namespace hybrec::ps
