#include "parameter_server/server/local_servers.h"

#include <iostream>

#include "parameter_server/server/server.h"

namespace hybrec::ps {

LocalServers::LocalServers(int shards, const std::string& checkpoint_dir, int64_t max_frame_bytes) {
  for (int i = 0; i < shards; ++i) {
    ServerOptions options;
    options.port = 0;
    options.shard = ShardId{i, shards};
    options.checkpoint_dir = checkpoint_dir;
    options.max_frame_bytes = max_frame_bytes;
    servers_.push_back(std::make_unique<PsServer>(options));
    endpoints_.push_back(Endpoint{"127.0.0.1", servers_.back()->port()});
  }
  for (auto& server : servers_) {
    threads_.emplace_back([s = server.get()] {
      try {
        s->serve();
      } catch (const std::exception& e) {
        std::cerr << "hybrec: local parameter-server shard: " << e.what() << "\n";
      }
    });
  }
}

LocalServers::~LocalServers() {
  for (auto& server : servers_) server->stop();
  for (auto& thread : threads_) thread.join();
}

}  // namespace hybrec::ps
