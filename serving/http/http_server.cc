#include "serving/http/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>

#include "hybrec/kernels/error.h"
#include "serving/http/request_json.h"
#include "serving/http/web_page.h"

namespace hybrec::serving::http {

namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json";

// Strings from clients and the catalogue may be invalid UTF-8; they are
// replaced rather than failing the reply.
template <class Json>
std::string dump(const Json& doc) {
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void set_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(dump(json{{"error", message}}), kJson);
}

}  // namespace

HttpServer::HttpServer(ServedRun& served, Metrics& metrics, const HttpOptions& options)
    : served_(served),
      metrics_(metrics),
      options_(options),
      server_(std::make_unique<httplib::Server>()) {
  HYBREC_CHECK(options_.threads >= 1, "HttpServer: threads = ", options_.threads, " must be >= 1");
  const int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  // httplib's default sets SO_REUSEPORT, which lets a second server bind a
  // port already served and silently take half its connections; plain
  // SO_REUSEADDR only allows a restart over connections in TIME_WAIT.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // A reply goes out as headers and body in separate writes; with Nagle's
  // algorithm the body waits for the client's delayed ACK (40 ms on Linux)
  // whenever a keep-alive client asks again at once.
  server_->set_tcp_nodelay(true);
  add_routes();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  HYBREC_CHECK(port_ > 0, "cannot listen for HTTP on ", options_.host, ":", options_.port,
               " (address in use, or not an address of this machine?)");
}

HttpServer::~HttpServer() = default;

void HttpServer::serve() {
  HYBREC_CHECK(server_->listen_after_bind(), "the HTTP listener on ", options_.host, ":", port_,
               " failed");
}

bool HttpServer::running() const { return server_->is_running(); }

void HttpServer::stop() { server_->stop(); }

void HttpServer::add_routes() {
  // Runs one recommend call, answers its errors and records it in /metrics.
  const auto recommend = [this](httplib::Response& res,
                                const std::function<ParsedRequests()>& parse) {
    const auto start = std::chrono::steady_clock::now();
    Outcome outcome = Outcome::kOk;
    try {
      const ParsedRequests parsed = parse();
      const std::vector<RecommendReply> replies = served_.recommend(parsed.requests);
      nlohmann::ordered_json body;
      if (parsed.batch) {
        body = {{"replies", nlohmann::ordered_json::array()}};
        for (const RecommendReply& r : replies) body["replies"].push_back(reply_json(r, served_));
      } else {
        body = reply_json(replies.at(0), served_);
      }
      res.set_content(dump(body), kJson);
    } catch (const BadRequest& e) {
      outcome = Outcome::kBadRequest;
      set_error(res, 400, e.what());
    } catch (const std::exception& e) {
      outcome = Outcome::kError;
      set_error(res, 500, e.what());
    }
    metrics_.observe(Interface::kHttp, seconds_since(start), outcome);
  };

  server_->Get("/recommend", [recommend](const httplib::Request& req, httplib::Response& res) {
    recommend(res, [&] { return ParsedRequests{{request_from_params(req.params)}, false}; });
  });
  server_->Post("/recommend", [recommend](const httplib::Request& req, httplib::Response& res) {
    recommend(res, [&] {
      // Parameters a POST would silently ignore are refused instead.
      if (req.target.find('?') != std::string::npos) {
        throw BadRequest("POST /recommend takes its request in the JSON body; URL parameters (" +
                             req.target.substr(req.target.find('?') + 1, 80) +
                             ") are for GET /recommend",
                         __FILE__, __LINE__);
      }
      return requests_from_json(req.body);
    });
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(dump(health_json(served_.health(), options_.stale_after_s)), kJson);
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(served_.health()), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web_page(), "text/html; charset=utf-8");
  });

  // Statuses httplib sets itself (413 for a body over the limit, 404, 400
  // for a malformed request line) get a JSON body saying why; the handlers'
  // own errors already have one.
  const int64_t max_body = options_.max_body_bytes;
  const httplib::Server::HandlerWithResponse on_error = [max_body](const httplib::Request& req,
                                                                   httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string why;
    if (res.status == 413) {
      why = "request body larger than the limit of " + std::to_string(max_body) + " bytes";
    } else if (res.status == 404) {
      why = "no such endpoint: " + req.method + " " + req.path +
            " (endpoints: GET /, GET|POST /recommend, GET /health, GET /metrics)";
    } else {
      why = "request rejected by the HTTP layer (status " + std::to_string(res.status) + ")";
    }
    set_error(res, res.status, why);
    return httplib::Server::HandlerResponse::Handled;
  };
  server_->set_error_handler(on_error);
}

}  // namespace hybrec::serving::http
