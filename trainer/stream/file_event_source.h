// The embedded event log: an append-only JSON-lines file ("file:PATH"), one
// encode_event line per event, tailed by readers while writers append.
//
// Position = line number (1-based). A reader returns a line only once its
// newline is there, so a writer caught mid-line is never read half-written;
// a line that is not a valid event stops the reader with decode_event's
// error naming the file and line. The file must only grow: a reader that
// finds it shorter than what it already read throws, naming the file.
#pragma once

#include <memory>
#include <string>

#include "trainer/stream/event_source.h"

namespace hybrec::trainer {

// Opens PATH for reading after options.start_after lines (the file must
// exist; it may hold fewer lines yet: those are waited for). durable_name
// is not used: the reader's checkpoint holds its position.
std::unique_ptr<EventSource> open_file_event_source(const std::string& path,
                                                    const EventSourceOptions& options);

// Appends to PATH (created when missing); each publish writes one line and
// flushes and fsyncs it before returning.
std::unique_ptr<EventSink> open_file_event_sink(const std::string& path);

}  // namespace hybrec::trainer
