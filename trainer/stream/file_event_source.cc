#include "trainer/stream/file_event_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace {

// How often an idle poll looks at the file again: short against a
// micro-batch's max wait, long against a stat call.
constexpr std::chrono::milliseconds kTailInterval{5};
constexpr std::size_t kReadChunk = 1 << 16;

class FileEventSource final : public EventSource {
 public:
  FileEventSource(std::string path, uint64_t start_after)
      : path_(std::move(path)), skip_(start_after) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    HYBREC_CHECK(fd_ >= 0, "event source file:", path_, ": cannot open (", std::strerror(errno),
                 ")");
  }
  ~FileEventSource() override { ::close(fd_); }

  std::vector<StreamEvent> poll(std::size_t max, std::chrono::milliseconds timeout) override {
    std::vector<StreamEvent> events;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      read_lines(max, events);
      if (!events.empty() || std::chrono::steady_clock::now() >= deadline) return events;
      std::this_thread::sleep_for(kTailInterval);
    }
  }

  void ack(uint64_t) override {}  // the reader's checkpoint holds the position

  std::string describe() const override { return "file:" + path_; }

 private:
  // Appends up to max - events.size() complete lines after offset_ (the
  // first skip_ of them only counted) and moves offset_ past them.
  void read_lines(std::size_t max, std::vector<StreamEvent>& events) {
    struct stat st {};
    HYBREC_CHECK(::fstat(fd_, &st) == 0, "event source file:", path_, ": cannot stat (",
                 std::strerror(errno), ")");
    const auto size = static_cast<uint64_t>(st.st_size);
    HYBREC_CHECK(size >= offset_, "event source file:", path_, ": the file shrank to ", size,
                 " bytes after ", offset_, " were read (an event log is append-only)");
    while (events.size() < max && offset_ < size) {
      pending_.resize(kReadChunk);
      const ssize_t got = ::pread(fd_, pending_.data(), kReadChunk, static_cast<off_t>(offset_));
      HYBREC_CHECK(got >= 0, "event source file:", path_, ": read failed (", std::strerror(errno),
                   ")");
      pending_.resize(static_cast<std::size_t>(got));
      std::size_t begin = 0;
      while (events.size() < max) {
        const std::size_t end = pending_.find('\n', begin);
        if (end == std::string::npos) break;  // no newline yet: not a whole line
        ++line_;
        if (skip_ > 0) {
          --skip_;
        } else {
          StreamEvent e = decode_event(pending_.substr(begin, end - begin),
                                       path_ + " line " + std::to_string(line_));
          e.position = line_;
          events.push_back(std::move(e));
        }
        begin = end + 1;
      }
      if (begin == 0) {
        // A chunk without a newline: the rest of a long line, or a line
        // still being written. Read on only if it is a long line.
        HYBREC_CHECK(static_cast<std::size_t>(got) < kReadChunk, "event source file:", path_,
                     " line ", line_ + 1, ": longer than ", kReadChunk, " bytes");
        return;
      }
      offset_ += begin;
    }
  }

  std::string path_;
  int fd_ = -1;
  uint64_t skip_;        // lines still to pass over (start_after)
  uint64_t offset_ = 0;  // bytes of whole lines consumed
  uint64_t line_ = 0;    // lines consumed (the last position)
  std::string pending_;  // the bytes of the last read
};

class FileEventSink final : public EventSink {
 public:
  explicit FileEventSink(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    HYBREC_CHECK(fd_ >= 0, "event sink file:", path_, ": cannot open for appending (",
                 std::strerror(errno), ")");
  }
  ~FileEventSink() override { ::close(fd_); }

  void publish(const StreamEvent& event) override {
    const std::string line = encode_event(event) + "\n";
    // O_APPEND writes one line at the end even with other writers; a short
    // write (a full disk) finishes the line or fails naming the file.
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      HYBREC_CHECK(n > 0, "event sink file:", path_, ": write failed (", std::strerror(errno), ")");
      done += static_cast<std::size_t>(n);
    }
    HYBREC_CHECK(::fsync(fd_) == 0, "event sink file:", path_, ": fsync failed (",
                 std::strerror(errno), ")");
  }

  std::string describe() const override { return "file:" + path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<EventSource> open_file_event_source(const std::string& path,
                                                    const EventSourceOptions& options) {
  return std::make_unique<FileEventSource>(path, options.start_after);
}

std::unique_ptr<EventSink> open_file_event_sink(const std::string& path) {
  return std::make_unique<FileEventSink>(path);
}

}  // namespace hybrec::trainer
