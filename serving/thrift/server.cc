#include "serving/thrift/server.h"

#include <thrift/TConfiguration.h>
#include <thrift/concurrency/ThreadFactory.h>
#include <thrift/concurrency/ThreadManager.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TNonblockingServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TNonblockingServerSocket.h>

#include <condition_variable>
#include <exception>
#include <mutex>

#include "hybrec/kernels/error.h"
#include "parameter_server/wire/wire_convert.h"
#include "parameter_server/wire/frame_limits.h"
#include "serving/thrift/handler.h"

namespace hybrec::serving {

namespace at = apache::thrift;
namespace att = apache::thrift::transport;

namespace {

// Listens as soon as it is made, so the constructor reports a taken port and
// knows the bound one before the event loops start.
class EagerListener : public att::TNonblockingServerSocket {
 public:
  EagerListener(const std::string& address, int port) : TNonblockingServerSocket(address, port) {
    TNonblockingServerSocket::listen();
  }
  void listen() override {}  // already listening
};

// Tells the constructor when the event loops are set up: from then on
// stop() reaches them.
class StartSignal : public at::server::TServerEventHandler {
 public:
  void preServe() override {
    std::lock_guard<std::mutex> lock(mutex);
    started = true;
    cv.notify_all();
  }
  std::mutex mutex;
  std::condition_variable cv;
  bool started = false;
  std::exception_ptr failure;  // serve() threw before or instead of starting
};

}  // namespace

ThriftServer::ThriftServer(ServedRun& run, ThriftServerOptions options)
    : options_(std::move(options)) {
  // Malformed frames make Thrift print to stderr; a hostile client must not
  // be able to flood the server's log.
  ps::silence_thrift_output();
  HYBREC_CHECK(options_.port >= 0 && options_.port <= 65535, "Thrift port ", options_.port,
               " out of range [0, 65535]");
  HYBREC_CHECK(options_.threads >= 1, "Thrift threads must be at least 1, got ", options_.threads);
  HYBREC_CHECK(options_.io_threads >= 1 && options_.io_threads <= 64, "Thrift io threads ",
               options_.io_threads, " out of range [1, 64]");
  HYBREC_CHECK(
      options_.max_frame_bytes >= (64 << 10) && options_.max_frame_bytes <= (1LL << 31) - 1,
      "maximum Thrift frame size ", options_.max_frame_bytes,
      " bytes out of range [64 KiB, 2 GiB)");
  HYBREC_CHECK(options_.max_batch >= 1, "maximum batch ", options_.max_batch,
               " must be at least 1");

  std::shared_ptr<att::TNonblockingServerSocket> socket;
  try {
    socket = std::make_shared<EagerListener>(options_.bind_address, options_.port);
  } catch (const at::TException& e) {
    HYBREC_THROW("cannot listen on ", options_.bind_address, ":", options_.port, ": ", e.what());
  }
  port_ = socket->getListenPort();

  workers_ =
      at::concurrency::ThreadManager::newSimpleThreadManager(static_cast<size_t>(options_.threads));
  workers_->threadFactory(std::make_shared<at::concurrency::ThreadFactory>());
  workers_->start();

  const int limit = static_cast<int>(options_.max_frame_bytes);
  auto handler = std::make_shared<RecommenderHandler>(run);
  server_ = std::make_shared<at::server::TNonblockingServer>(
      std::make_shared<RecommenderProcessor>(handler, options_.max_batch, options_.observer),
      // String and list lengths are checked against these limits (and the
      // frame's remaining bytes, parameter_server/wire/frame_limits.h) before they are allocated.
      std::make_shared<at::protocol::TBinaryProtocolFactoryT<att::TMemoryBuffer>>(limit, limit,
                                                                                  true, true),
      socket, workers_);
  server_->setInputTransportFactory(std::make_shared<ps::FrameBoundedInputFactory>(
      std::make_shared<at::TConfiguration>(limit, limit)));
  server_->setMaxFrameSize(static_cast<size_t>(limit));
  server_->setNumIOThreads(static_cast<size_t>(options_.io_threads));
  auto signal = std::make_shared<StartSignal>();
  server_->setServerEventHandler(signal);

  thread_ = std::thread([this, signal] {
    try {
      server_->serve();
    } catch (...) {
      std::lock_guard<std::mutex> lock(signal->mutex);
      signal->failure = std::current_exception();
      signal->cv.notify_all();
    }
  });
  std::unique_lock<std::mutex> lock(signal->mutex);
  signal->cv.wait(lock, [&] { return signal->started || signal->failure; });
  if (signal->failure && !signal->started) {
    lock.unlock();
    thread_.join();
    workers_->stop();
    try {
      std::rethrow_exception(signal->failure);
    } catch (const std::exception& e) {
      HYBREC_THROW("the Thrift server on ", options_.bind_address, ":", port_,
                   " failed to start: ", e.what());
    }
  }
}

ThriftServer::~ThriftServer() { stop(); }

void ThriftServer::stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
  workers_->stop();
}

}  // namespace hybrec::serving
