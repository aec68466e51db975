// The file event log: tailing, a line still being written, a malformed
// line named by file and line, resuming after a position, the sink's
// appends, and the factories' schemes.
#include "trainer/stream/file_event_source.h"

#include <gtest/gtest.h>

#include <fstream>

#include "hybrec/kernels/error.h"
#include "testing/temp_dir.h"
#include "trainer/stream/event_source.h"

namespace hybrec::trainer {
namespace {

using namespace std::chrono_literals;

StreamEvent event(int64_t user, int64_t item, std::string text = "") {
  StreamEvent e;
  e.user = user;
  e.item = item;
  e.timestamp = 1000 + user;
  e.item_text = std::move(text);
  return e;
}

void append(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << bytes;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class FileEventSourceTest : public ::testing::Test {
 protected:
  hybrec::testing::TempDir dir_{"hybrec-stream"};
  std::string path_ = dir_.path() + "/events.jsonl";
  std::string url_ = "file:" + path_;
};

TEST_F(FileEventSourceTest, SinkAppendsLinesThatTheSourceReadsBackWithLinePositions) {
  auto sink = open_event_sink(url_);
  sink->publish(event(1, 2));
  sink->publish(event(3, 40, "a new item"));
  auto source = open_event_source(url_, {});
  const auto events = source->poll(10, 0ms);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].user, 1);
  EXPECT_EQ(events[0].item, 2);
  EXPECT_EQ(events[0].timestamp, 1001);
  EXPECT_EQ(events[0].position, 1u);
  EXPECT_EQ(events[1].item_text, "a new item");
  EXPECT_EQ(events[1].position, 2u);
  EXPECT_EQ(source->describe(), url_);
  EXPECT_EQ(sink->describe(), url_);
}

TEST_F(FileEventSourceTest, TailsLinesAppendedAfterItOpenedAndReturnsAtMostMax) {
  append(path_, "");
  auto source = open_event_source(url_, {});
  EXPECT_TRUE(source->poll(10, 20ms).empty());
  auto sink = open_event_sink(url_);
  for (int i = 0; i < 5; ++i) sink->publish(event(i, i));
  auto first = source->poll(3, 0ms);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[2].position, 3u);
  sink->publish(event(5, 5));
  auto rest = source->poll(10, 0ms);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].position, 4u);
  EXPECT_EQ(rest[2].user, 5);
  EXPECT_TRUE(source->poll(10, 0ms).empty());
}

TEST_F(FileEventSourceTest, ALineWithoutItsNewlineIsNotReturnedUntilComplete) {
  append(path_, encode_event(event(1, 1)) + "\n{\"user\": 7, \"it");
  auto source = open_event_source(url_, {});
  auto events = source->poll(10, 10ms);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(source->poll(10, 10ms).empty());
  append(path_, "em\": 8}\n");
  events = source->poll(10, 0ms);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].user, 7);
  EXPECT_EQ(events[0].item, 8);
  EXPECT_EQ(events[0].position, 2u);
}

TEST_F(FileEventSourceTest, AMalformedLineIsAnErrorNamingTheFileAndLine) {
  append(path_, encode_event(event(1, 1)) + "\nnot json\n");
  auto source = open_event_source(url_, {});
  const std::string message = error_of([&] { source->poll(10, 0ms); });
  EXPECT_NE(message.find(path_ + " line 2"), std::string::npos) << message;
  EXPECT_NE(message.find("not a JSON object"), std::string::npos) << message;
  append(dir_.path() + "/neg.jsonl", "{\"user\": -1, \"item\": 2}\n");
  auto negative = open_event_source("file:" + dir_.path() + "/neg.jsonl", {});
  const std::string neg = error_of([&] { negative->poll(10, 0ms); });
  EXPECT_NE(neg.find("neg.jsonl line 1"), std::string::npos) << neg;
  EXPECT_NE(neg.find("negative"), std::string::npos) << neg;
}

TEST_F(FileEventSourceTest, AReaderStartedAfterPositionPGetsExactlyTheEventsAfterP) {
  auto sink = open_event_sink(url_);
  for (int i = 1; i <= 6; ++i) sink->publish(event(i, 10 * i));
  EventSourceOptions options;
  options.start_after = 4;
  auto source = open_event_source(url_, options);
  auto events = source->poll(10, 0ms);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].position, 5u);
  EXPECT_EQ(events[0].user, 5);
  EXPECT_EQ(events[1].position, 6u);
  // Past the end: it waits for the lines still to come, then skips them.
  options.start_after = 8;
  auto ahead = open_event_source(url_, options);
  EXPECT_TRUE(ahead->poll(10, 0ms).empty());
  for (int i = 7; i <= 9; ++i) sink->publish(event(i, i));
  events = ahead->poll(10, 0ms);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].position, 9u);
}

TEST_F(FileEventSourceTest, AFileThatShrankIsAnError) {
  auto sink = open_event_sink(url_);
  sink->publish(event(1, 1));
  sink->publish(event(2, 2));
  auto source = open_event_source(url_, {});
  ASSERT_EQ(source->poll(10, 0ms).size(), 2u);
  std::ofstream(path_, std::ios::trunc) << "";
  const std::string message = error_of([&] { source->poll(10, 0ms); });
  EXPECT_NE(message.find("shrank"), std::string::npos) << message;
}

TEST_F(FileEventSourceTest, UrlsAreCheckedByScheme) {
  EXPECT_NE(error_of([&] {
              open_event_source("file:" + dir_.path() + "/missing", {});
            }).find("cannot open"),
            std::string::npos);
  EXPECT_NE(error_of([] { open_event_source("kafka://x", {}); }).find("unknown scheme"),
            std::string::npos);
  EXPECT_NE(error_of([] { open_event_sink("file:"); }).find("needs a path"), std::string::npos);
  // nats:// goes to the JetStream source, whose URL check names the URL.
  EXPECT_NE(error_of([] { open_event_source("nats://127.0.0.1:4222", {}); }).find("NATS URL"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer
