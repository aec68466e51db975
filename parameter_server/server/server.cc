#include "parameter_server/server/server.h"

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TSocket.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "hybrec/kernels/error.h"
#include "parameter_server/server/processor.h"
#include "parameter_server/server/reply_frame.h"
#include "parameter_server/wire/huge_pages.h"
#include "parameter_server/wire/wire_convert.h"

namespace hybrec::ps {

namespace at = apache::thrift;

namespace {

// Thrift's stock factory builds each TFramedTransport with the default
// TConfiguration (16 MB frames); this one applies the server's limits.
class LimitedFramedTransportFactory : public at::transport::TTransportFactory {
 public:
  explicit LimitedFramedTransportFactory(std::shared_ptr<at::TConfiguration> config)
      : config_(std::move(config)) {}
  std::shared_ptr<at::transport::TTransport> getTransport(
      std::shared_ptr<at::transport::TTransport> trans) override {
    return std::make_shared<ReplyFrameTransport>(std::move(trans), config_);
  }

 private:
  std::shared_ptr<at::TConfiguration> config_;
};

// A server socket that listens as soon as it is made, so the constructor
// reports a taken port and port() is known before serve().
class EagerServerSocket : public at::transport::TServerSocket {
 public:
  EagerServerSocket(const std::string& address, int port, std::shared_ptr<at::TConfiguration> c)
      : TServerSocket(address, port), config_(std::move(c)) {
    TServerSocket::listen();
  }
  void listen() override {}  // already listening

 protected:
  std::shared_ptr<at::transport::TSocket> createSocket(THRIFT_SOCKET client) override {
    auto socket = TServerSocket::createSocket(client);
    socket->setConfiguration(config_);
    return socket;
  }

 private:
  std::shared_ptr<at::TConfiguration> config_;
};

}  // namespace

PsServer::PsServer(ServerOptions options) : options_(std::move(options)) {
  silence_thrift_output();
  reuse_large_allocations();
  HYBREC_CHECK(options_.port >= 0 && options_.port <= 65535, "port ", options_.port,
               " out of range [0, 65535]");
  HYBREC_CHECK(options_.max_connections >= 1, "--threads must be at least 1, got ",
               options_.max_connections);
  HYBREC_CHECK(options_.max_frame_bytes >= (1 << 20) && options_.max_frame_bytes <= (1LL << 31) - 1,
               "maximum frame size ", options_.max_frame_bytes,
               " bytes out of range [1 MiB, 2 GiB)");
  HYBREC_CHECK(options_.checkpoint_interval_s >= 0, "checkpoint interval ",
               options_.checkpoint_interval_s, " s is negative");
  HYBREC_CHECK(options_.checkpoint_interval_s == 0 || !options_.checkpoint_dir.empty(),
               "a checkpoint interval needs --checkpoint-dir");

  ServiceOptions service_options;
  service_options.shard = options_.shard;
  service_options.checkpoint_dir = options_.checkpoint_dir;
  // Every key carries at least 8 bytes; the frame cap bounds the rest.
  service_options.max_keys_per_request = options_.max_frame_bytes / 8;
  service_ = std::make_shared<PsService>(service_options);
  restored_ = service_->restore_latest();

  const int limit = static_cast<int>(options_.max_frame_bytes);
  auto config = std::make_shared<at::TConfiguration>(limit, limit);
  std::shared_ptr<EagerServerSocket> socket;
  try {
    socket = std::make_shared<EagerServerSocket>(options_.bind_address, options_.port, config);
  } catch (const at::TException& e) {
    HYBREC_THROW("cannot listen on ", options_.bind_address, ":", options_.port, ": ", e.what());
  }
  // Both directions: a client that stops reading its replies must not hold
  // a connection thread (and shutdown) forever.
  socket->setRecvTimeout(options_.idle_timeout_ms);
  socket->setSendTimeout(options_.idle_timeout_ms);
  port_ = socket->getPort();

  auto processor = std::make_shared<PsProcessor>(service_);
  server_ = std::make_shared<at::server::TThreadedServer>(
      processor, socket, std::make_shared<LimitedFramedTransportFactory>(config),
      // The string and container limits matter: Thrift checks a string's
      // declared length only against them, and a string may span frames, so
      // without them a 27-byte frame announcing a 2 GiB string would make the
      // server allocate 2 GiB (found by tests/ps/fuzz_test.cc).
      std::make_shared<at::protocol::TBinaryProtocolFactoryT<at::transport::TFramedTransport>>(
          limit, limit, true, true));
  server_->setConcurrentClientLimit(options_.max_connections);
}

PsServer::~PsServer() {
  stop();
  if (checkpointer_.joinable()) checkpointer_.join();
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

void PsServer::serve() {
  if (options_.checkpoint_interval_s > 0) {
    checkpointer_ = std::thread([this] { checkpoint_loop(); });
  }
  server_->serve();
  stop();
  if (checkpointer_.joinable()) checkpointer_.join();
  service_->save_latest();
}

void PsServer::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (server_) server_->stop();
}

}  // namespace hybrec::ps
