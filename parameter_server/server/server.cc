#include "parameter_server/server/server.h"

#include <thrift/TConfiguration.h>
#include <thrift/concurrency/ThreadFactory.h>
#include <thrift/concurrency/ThreadManager.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TNonblockingServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TNonblockingSSLServerSocket.h>
#include <thrift/transport/TNonblockingServerSocket.h>
#include <thrift/transport/TSSLSocket.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "hybrec/kernels/error.h"
#include "parameter_server/server/connections.h"
#include "parameter_server/server/processor.h"
#include "parameter_server/wire/auth_token.h"
#include "parameter_server/wire/frame_limits.h"
#include "parameter_server/wire/huge_pages.h"
#include "parameter_server/wire/wire_convert.h"

namespace hybrec::ps {

namespace at = apache::thrift;
namespace att = apache::thrift::transport;

namespace {

// A listening socket that listens as soon as it is made, so the constructor
// reports a taken port and port() is known before serve(), and that hands
// each accepted socket to the connection registry.
template <typename Base>
class EagerListener : public Base {
 public:
  template <typename... Args>
  explicit EagerListener(Args&&... args) : Base(std::forward<Args>(args)...) {
    Base::listen();
  }
  void listen() override {}  // already listening

 protected:
  std::shared_ptr<att::TSocket> createSocket(THRIFT_SOCKET client) override {
    ConnectionRegistry::note_accepted(static_cast<int>(client));
    return Base::createSocket(client);
  }
};

// Tells the watcher when the event loops run (stop() before that would not
// reach them).
class ServingRegistry : public ConnectionRegistry {
 public:
  void preServe() override { serving = true; }
  std::atomic<bool> serving{false};
};

}  // namespace

bool is_loopback_address(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

PsServer::PsServer(ServerOptions options) : options_(std::move(options)) {
  silence_thrift_output();
  reuse_large_allocations();
  HYBREC_CHECK(options_.port >= 0 && options_.port <= 65535, "port ", options_.port,
               " out of range [0, 65535]");
  HYBREC_CHECK(options_.threads >= 1, "--threads must be at least 1, got ", options_.threads);
  HYBREC_CHECK(options_.io_threads >= 1 && options_.io_threads <= 64, "--io-threads ",
               options_.io_threads, " out of range [1, 64]");
  HYBREC_CHECK(options_.max_frame_bytes >= (1 << 20) && options_.max_frame_bytes <= (1LL << 31) - 1,
               "maximum frame size ", options_.max_frame_bytes,
               " bytes out of range [1 MiB, 2 GiB)");
  HYBREC_CHECK(options_.idle_timeout_ms >= 1, "idle timeout ", options_.idle_timeout_ms,
               " ms must be positive");
  HYBREC_CHECK(options_.checkpoint_interval_s >= 0, "checkpoint interval ",
               options_.checkpoint_interval_s, " s is negative");
  HYBREC_CHECK(options_.checkpoint_interval_s == 0 || !options_.checkpoint_dir.empty(),
               "a checkpoint interval needs --checkpoint-dir");
  const bool tls = options_.tls.enabled();
  const bool token = !options_.auth_token_file.empty();
  HYBREC_CHECK(tls || token || options_.insecure || is_loopback_address(options_.bind_address),
               "refusing to serve on ", options_.bind_address,
               " without authentication: anyone who can reach the port could push, assign, "
               "load and save. Give --tls-cert, --tls-key and --tls-ca (mutual TLS, "
               "scripts/make-certs.sh) or --auth-token-file FILE, or --insecure to serve "
               "unauthenticated anyway");
  // The credentials first: a bad file fails before the checkpoint is read.
  std::shared_ptr<att::TSSLSocketFactory> tls_factory;
  if (tls) tls_factory = make_tls_factory(options_.tls, true);
  const std::string secret = token ? read_token_file(options_.auth_token_file) : std::string();

  ServiceOptions service_options;
  service_options.shard = options_.shard;
  service_options.checkpoint_dir = options_.checkpoint_dir;
  // Every key carries at least 8 bytes; the frame cap bounds the rest.
  service_options.max_keys_per_request = options_.max_frame_bytes / 8;
  service_ = std::make_shared<PsService>(service_options);
  restored_ = service_->restore_latest();

  std::shared_ptr<att::TNonblockingServerSocket> socket;
  try {
    if (tls) {
      socket = std::make_shared<EagerListener<att::TNonblockingSSLServerSocket>>(
          options_.bind_address, options_.port, tls_factory);
    } else {
      socket = std::make_shared<EagerListener<att::TNonblockingServerSocket>>(options_.bind_address,
                                                                              options_.port);
    }
  } catch (const at::TException& e) {
    HYBREC_THROW("cannot listen on ", options_.bind_address, ":", options_.port, ": ", e.what());
  }
  port_ = socket->getListenPort();

  workers_ =
      at::concurrency::ThreadManager::newSimpleThreadManager(static_cast<size_t>(options_.threads));
  workers_->threadFactory(std::make_shared<at::concurrency::ThreadFactory>());
  workers_->start();

  const int limit = static_cast<int>(options_.max_frame_bytes);
  auto config = std::make_shared<at::TConfiguration>(limit, limit);
  connections_ = std::make_shared<ServingRegistry>();
  server_ = std::make_shared<at::server::TNonblockingServer>(
      std::make_shared<PsProcessor>(service_, secret),
      // The string and container limits matter: Thrift checks a string's
      // declared length only against them, so without them a 27-byte frame
      // announcing a 2 GiB string could make the server allocate 2 GiB
      // (found by tests/ps/fuzz_test.cc).
      std::make_shared<at::protocol::TBinaryProtocolFactoryT<att::TMemoryBuffer>>(limit, limit,
                                                                                  true, true),
      socket, workers_);
  server_->setInputTransportFactory(std::make_shared<FrameBoundedInputFactory>(config));
  server_->setMaxFrameSize(static_cast<size_t>(limit));
  server_->setNumIOThreads(static_cast<size_t>(options_.io_threads));
  server_->setServerEventHandler(connections_);
}

PsServer::~PsServer() {
  stop();
  if (watcher_.joinable()) watcher_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (workers_) workers_->stop();
}

void PsServer::checkpoint_loop() {
  const auto interval = std::chrono::duration<double>(options_.checkpoint_interval_s);
  std::unique_lock<std::mutex> lock(stop_mutex_);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      service_->save_latest();
    } catch (const std::exception& e) {
      // A failed periodic checkpoint must not take the shard down: the last
      // good one is intact (atomic rename) and the next interval retries.
      std::cerr << "hybrec ps: periodic checkpoint failed: " << e.what() << std::endl;
    }
    lock.lock();
  }
}

// Drops idle connections; after stop(), drains: no connection reads another
// request, each closes once its reply is out, and when none is left (or a
// reply has waited idle_timeout_ms for its reader) the event loops stop.
void PsServer::watch_loop() {
  auto& registry = static_cast<ServingRegistry&>(*connections_);
  const auto tick = std::chrono::milliseconds(std::clamp(options_.idle_timeout_ms / 4, 5, 1000));
  int64_t drain_deadline_ms = -1;
  std::unique_lock<std::mutex> lock(stop_mutex_);
  for (;;) {
    // Draining, check often: stop() should return as soon as it is done.
    stop_cv_.wait_for(lock, drain_deadline_ms < 0 ? tick : std::chrono::milliseconds(5));
    const bool stopping = stopping_;
    lock.unlock();
    registry.drop_idle(options_.idle_timeout_ms);
    if (stopping) {
      if (drain_deadline_ms < 0) {
        registry.stop_reading();
        drain_deadline_ms = steady_now_ms() + options_.idle_timeout_ms;
      }
      const bool drained = registry.size() == 0 && workers_->totalTaskCount() == 0;
      if (registry.serving && (drained || steady_now_ms() >= drain_deadline_ms)) {
        // TNonblockingServer::stop() breaks only the event loops already
        // running: an I/O thread that had not entered its loop yet would
        // wait in epoll for ever and serve() in its join (seen as a hang
        // at the end of test_ps_auth). Ask again until serve() returns.
        while (!serve_returned_.load()) {
          server_->stop();
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return;
      }
    }
    lock.lock();
  }
}

void PsServer::serve() {
  if (options_.checkpoint_interval_s > 0) {
    checkpointer_ = std::thread([this] { checkpoint_loop(); });
  }
  watcher_ = std::thread([this] { watch_loop(); });
  server_->serve();
  serve_returned_ = true;
  stop();
  watcher_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  service_->save_latest();
}

void PsServer::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
}

}  // namespace hybrec::ps
