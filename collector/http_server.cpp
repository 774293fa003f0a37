#include "collector/http_server.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/time/time.h"
#include "collector/dashboard_assets.h"
#include "collector/query_params.h"
#include "common/yaml_config.h"

namespace plumbline::collector {

namespace {

constexpr size_t kMaxBodyBytes = 64 * 1024;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int HttpStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:  // e.g. closing a closed incident
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

const char* CodeName(int http) {
  switch (http) {
    case 400:
      return "invalid_argument";
    case 401:
      return "unauthenticated";
    case 403:
      return "permission_denied";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 429:
      return "resource_exhausted";
    case 503:
      return "unavailable";
    case 504:
      return "deadline_exceeded";
    default:
      return "internal";
  }
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}, {"code", CodeName(status)}}.dump() + "\n",
                  "application/json");
}

void SendMessage(httplib::Response& res, const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    SendError(res, 500, "cannot encode the answer as JSON");
    return;
  }
  res.set_content(json + "\n", "application/json");
}

// A call context carrying the HTTP request's bearer token to the Query
// service, which decides (the same way for both surfaces).
std::unique_ptr<grpc::ClientContext> Context(const std::string& authorization) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
  return ctx;
}

// Calls one Query method and answers with its response as JSON, or the error.
template <typename Request, typename Response, typename Call>
void Answer(const httplib::Request& http, httplib::Response& res, const Request& request,
            Call call) {
  Response response;
  auto ctx = Context(http.get_header_value("Authorization"));
  grpc::Status status = call(ctx.get(), request, &response);
  if (!status.ok()) {
    SendError(res, HttpStatus(status.error_code()), status.error_message());
    return;
  }
  SendMessage(res, response);
}

// A time query parameter into `*out` (unchanged when absent). False (and an
// error answer) when it is malformed.
bool TimeParam(const httplib::Request& req, httplib::Response& res, const char* name,
               int64_t now_ms, int64_t* out) {
  if (!req.has_param(name)) return true;
  const std::string text = req.get_param_value(name);
  if (!ParseWhen(text, now_ms, out)) {
    SendError(
        res, 400,
        StrCat(name, ": \"", text,
               "\" is not a time (RFC 3339, \"now\", \"-2h\" or milliseconds since the epoch)"));
    return false;
  }
  return true;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

// Every value of a repeatable parameter (collector/query_params.h).
std::vector<std::string> RawParams(const httplib::Request& req, std::string_view key) {
  return QueryParamValues(req.target, key);
}

// ---- The web dashboard (docs/dashboard.md) ----------------------------------

// The page may load only its own scripts and styles and talk only to this
// collector: no CDN, no inline script, not framed.
constexpr const char* kDashboardCsp =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

void SendAsset(const httplib::Request& req, httplib::Response& res, const DashboardAsset& asset) {
  const std::string etag(asset.etag);
  res.set_header("ETag", etag);
  // Hashed names never change content; index.html is revalidated each time.
  res.set_header("Cache-Control",
                 asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  if (asset.content_type.rfind("text/html", 0) == 0) {
    res.set_header("Content-Security-Policy", kDashboardCsp);
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
  }
  const std::string if_none_match = req.get_header_value("If-None-Match");
  if (!if_none_match.empty() &&
      (if_none_match == "*" || if_none_match.find(etag) != std::string::npos)) {
    res.status = 304;
    return;
  }
  res.set_content(reinterpret_cast<const char*>(asset.data), asset.size,
                  std::string(asset.content_type));
}

// GET / (index.html) and /assets/<file>; without a built dashboard, a short
// text page at / says so. The page needs no token: its data comes from the
// API, which checks the user's token on every call.
void DashboardRoutes(httplib::Server& s) {
  auto index = [](const httplib::Request& req, httplib::Response& res) {
    const DashboardAsset* asset = FindDashboardAsset("/index.html");
    if (asset == nullptr) {
      res.status = 404;
      res.set_content(
          "This plumbline-collector was built without the web dashboard "
          "(-DPLUMBLINE_DASHBOARD=OFF).\n"
          "The JSON API is at /api/v1/ (docs/api.md), Prometheus metrics at /metrics.\n",
          "text/plain; charset=utf-8");
      return;
    }
    SendAsset(req, res, *asset);
  };
  s.Get("/", index);
  s.Get("/index.html", index);
  s.Get(R"(/assets/([A-Za-z0-9._-]+))", [](const httplib::Request& req, httplib::Response& res) {
    const DashboardAsset* asset = FindDashboardAsset(StrCat("/assets/", req.matches[1].str()));
    if (asset == nullptr) {
      res.status = 404;
      res.set_content(StrCat("no such dashboard file: ", req.path, "\n"),
                      "text/plain; charset=utf-8");
      return;
    }
    SendAsset(req, res, *asset);
  });
}

// ---- end of the web dashboard -------------------------------------------------

}  // namespace

void AppendSample(std::string* out, const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& labels, double value) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) *out += ',';
      first = false;
      *out += k;
      *out += "=\"";
      for (char c : v) {
        if (c == '\\') {
          *out += "\\\\";
        } else if (c == '"') {
          *out += "\\\"";
        } else if (c == '\n') {
          *out += "\\n";
        } else {
          *out += c;
        }
      }
      *out += '"';
    }
    *out += '}';
  }
  *out += ' ';
  *out += FormatValue(value);
  *out += '\n';
}

HttpServer::HttpServer(std::shared_ptr<grpc::Channel> query_channel, Counters* counters,
                       std::function<bool()> ready)
    : stub_(v1::Query::NewStub(std::move(query_channel))),
      counters_(counters),
      ready_(std::move(ready)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& listen, const std::string& tls_cert,
                                      const std::string& tls_key) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError("http listen: expected host:port");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return absl::InvalidArgumentError(StrCat("http listen: bad port in \"", listen, "\""));
  }
  if (tls_cert.empty()) {
    server_ = std::make_unique<httplib::Server>();
  } else {
    auto https = std::make_unique<httplib::SSLServer>(tls_cert.c_str(), tls_key.c_str());
    if (!https->is_valid()) {
      return absl::InvalidArgumentError(
          StrCat("HTTPS: cannot use tls.cert ", tls_cert, " and tls.key ", tls_key));
    }
    server_ = std::move(https);
  }
  server_->set_payload_max_length(kMaxBodyBytes);
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  // A keep-alive connection holds its thread while idle: browsers open up to
  // six per host (the dashboard), so there are threads for a few of them and
  // idle connections give theirs back after 2 s.
  server_->set_keep_alive_timeout(2);
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  Routes();
  int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return absl::UnavailableError(StrCat("cannot listen for HTTP on ", listen));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

void HttpServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void HttpServer::Routes() {
  httplib::Server& s = *server_;
  v1::Query::Stub* stub = stub_.get();
  Counters* counters = counters_;

  s.set_logger([counters](const httplib::Request& req, const httplib::Response& res) {
    counters->Add("plumbline_http_requests_total", {{"code", std::to_string(res.status)}});
    if (res.status >= 500) spdlog::warn("http {} {}: {}", req.method, req.path, res.status);
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, 500, "internal error");
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      SendError(res, res.status,
                res.status == 404   ? StrCat("no such endpoint: ", req.path)
                : res.status == 413 ? "request body too large"
                                    : StrCat("HTTP ", res.status));
    }
  });

  DashboardRoutes(s);  // the web dashboard: /, /assets/...
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = ready_ && ready_();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    // The token check of the Query service, on a cheap call.
    v1::GetStatsResponse ignored;
    auto ctx = Context(req.get_header_value("Authorization"));
    grpc::Status allowed = stub_->GetStats(ctx.get(), {}, &ignored);
    if (allowed.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        allowed.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      SendError(res, HttpStatus(allowed.error_code()), allowed.error_message());
      return;
    }
    res.set_content(Metrics(req.get_header_value("Authorization")),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Get("/api/v1/services", [stub](const httplib::Request& req, httplib::Response& res) {
    Answer<v1::ListServicesRequest, v1::ListServicesResponse>(
        req, res, {},
        [stub](auto* c, const auto& q, auto* r) { return stub->ListServices(c, q, r); });
  });
  s.Get("/api/v1/agents", [stub](const httplib::Request& req, httplib::Response& res) {
    Answer<v1::ListAgentsRequest, v1::ListAgentsResponse>(
        req, res, {},
        [stub](auto* c, const auto& q, auto* r) { return stub->ListAgents(c, q, r); });
  });
  s.Get("/api/v1/stats", [stub](const httplib::Request& req, httplib::Response& res) {
    Answer<v1::GetStatsRequest, v1::GetStatsResponse>(
        req, res, {}, [stub](auto* c, const auto& q, auto* r) { return stub->GetStats(c, q, r); });
  });
  s.Get("/api/v1/slo", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetSloStatusRequest q;
    q.set_service(req.get_param_value("service"));
    int64_t at = 0;
    if (!TimeParam(req, res, "at", NowMs(), &at)) return;
    q.set_at_ms(at);
    Answer<v1::GetSloStatusRequest, v1::GetSloStatusResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->GetSloStatus(c, x, r); });
  });
  s.Get("/api/v1/sli", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetSliSeriesRequest q;
    q.set_service(req.get_param_value("service"));
    q.set_slo(req.get_param_value("slo"));
    int64_t from = 0, to = 0;
    const int64_t now = NowMs();
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    q.set_from_ms(from);
    q.set_to_ms(to);
    if (req.has_param("step")) {
      auto d = ParseDuration(req.get_param_value("step"));
      if (!d.ok()) {
        SendError(res, 400, StrCat("step: ", ToStd(d.status().message())));
        return;
      }
      q.set_step_ms(d->count());
    }
    Answer<v1::GetSliSeriesRequest, v1::GetSliSeriesResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->GetSliSeries(c, x, r); });
  });
  s.Get("/api/v1/health", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetHealthRequest q;
    q.set_service(req.get_param_value("service"));
    int64_t at = 0;
    if (!TimeParam(req, res, "at", NowMs(), &at)) return;
    q.set_at_ms(at);
    Answer<v1::GetHealthRequest, v1::GetHealthResponse>(
        req, res, q, [stub](auto* c, const auto& x, auto* r) { return stub->GetHealth(c, x, r); });
  });
  s.Get("/api/v1/incidents", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::ListIncidentsRequest q;
    int64_t from = 0, to = 0;
    const int64_t now = NowMs();
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    q.set_from_ms(from);
    q.set_to_ms(to);
    Answer<v1::ListIncidentsRequest, v1::ListIncidentsResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->ListIncidents(c, x, r); });
  });
  s.Post("/api/v1/incidents", [stub](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      SendError(res, 400, "the body must be a JSON object");
      return;
    }
    v1::DeclareIncidentRequest q;
    const int64_t now = NowMs();
    try {
      q.set_id(body.value("id", ""));
      q.set_title(body.value("title", ""));
      q.set_declared_by(body.value("declared_by", ""));
      for (const auto& svc : body.value("services", nlohmann::json::array())) {
        q.add_services(svc.get<std::string>());
      }
      for (const char* key : {"from", "to"}) {
        if (!body.contains(key)) continue;
        int64_t t = 0;
        std::string text = body[key].is_number() ? std::to_string(body[key].get<int64_t>())
                                                 : body[key].get<std::string>();
        if (!ParseWhen(text, now, &t)) {
          SendError(res, 400, StrCat(key, ": \"", text, "\" is not a time"));
          return;
        }
        if (std::string_view(key) == "from") {
          q.set_from_ms(t);
        } else {
          q.set_to_ms(t);
        }
      }
    } catch (const nlohmann::json::exception&) {
      SendError(res, 400,
                "id, title, declared_by, from and to are strings; services a list of strings");
      return;
    }
    Answer<v1::DeclareIncidentRequest, v1::DeclareIncidentResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->DeclareIncident(c, x, r); });
  });
  s.Get(R"(/api/v1/incidents/([A-Za-z0-9._-]+))",
        [stub](const httplib::Request& req, httplib::Response& res) {
          v1::GetIncidentRequest q;
          q.set_id(req.matches[1]);
          Answer<v1::GetIncidentRequest, v1::GetIncidentResponse>(
              req, res, q,
              [stub](auto* c, const auto& x, auto* r) { return stub->GetIncident(c, x, r); });
        });
  s.Post(R"(/api/v1/incidents/([A-Za-z0-9._-]+)/close)",
         [stub](const httplib::Request& req, httplib::Response& res) {
           nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
           if (body.is_discarded() || !body.is_object() ||
               !body.value("closed_by", nlohmann::json()).is_string() ||
               !body.value("reason", nlohmann::json("")).is_string() ||
               !body.value("at", nlohmann::json("now")).is_string()) {
             SendError(res, 400,
                       "the body must be a JSON object with closed_by and optionally reason "
                       "and at strings");
             return;
           }
           v1::CloseIncidentRequest q;
           q.set_id(req.matches[1]);
           q.set_closed_by(body["closed_by"].get<std::string>());
           q.set_reason(body.value("reason", ""));
           const std::string at = body.value("at", "now");
           int64_t at_ms = 0;
           if (!ParseWhen(at, NowMs(), &at_ms)) {
             SendError(res, 400, StrCat("at: \"", at, "\" is not a time"));
             return;
           }
           q.set_at_ms(at_ms);
           Answer<v1::CloseIncidentRequest, v1::CloseIncidentResponse>(
               req, res, q,
               [stub](auto* c, const auto& x, auto* r) { return stub->CloseIncident(c, x, r); });
         });
  s.Post(R"(/api/v1/incidents/([A-Za-z0-9._-]+)/notes)",
         [stub](const httplib::Request& req, httplib::Response& res) {
           nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
           if (body.is_discarded() || !body.is_object() ||
               !body.value("text", nlohmann::json()).is_string() ||
               !body.value("author", nlohmann::json()).is_string()) {
             SendError(res, 400, "the body must be a JSON object with text and author strings");
             return;
           }
           v1::AnnotateIncidentRequest q;
           q.set_incident_id(req.matches[1]);
           q.set_text(body["text"].get<std::string>());
           q.set_author(body["author"].get<std::string>());
           Answer<v1::AnnotateIncidentRequest, v1::AnnotateIncidentResponse>(
               req, res, q,
               [stub](auto* c, const auto& x, auto* r) { return stub->AnnotateIncident(c, x, r); });
         });
  s.Get("/api/v1/impact", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetImpactRequest q;
    q.set_incident_id(req.get_param_value("incident"));
    const int64_t now = NowMs();
    int64_t from = 0, to = 0;
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    if (q.incident_id().empty() && from == 0) {
      SendError(res, 400,
                "give incident=ID or from=TIME (and optionally to=TIME, service=ID, unit=ID)");
      return;
    }
    if (!q.incident_id().empty() && (from != 0 || to != 0)) {
      SendError(res, 400, "give either incident=ID or a window (from, to), not both");
      return;
    }
    q.set_business_unit(req.get_param_value("unit"));
    if (from != 0 && to != 0 && to <= from) {
      SendError(res, 400, "to must be after from");
      return;
    }
    q.set_from_ms(from);
    q.set_to_ms(to);
    for (size_t i = 0; i < req.get_param_value_count("service"); ++i) {
      q.add_services(req.get_param_value("service", i));
    }
    Answer<v1::GetImpactRequest, v1::GetImpactResponse>(
        req, res, q, [stub](auto* c, const auto& x, auto* r) { return stub->GetImpact(c, x, r); });
  });
  s.Get("/api/v1/chargeback", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetChargebackRequest q;
    q.set_month(req.get_param_value("month"));
    const int64_t now = NowMs();
    int64_t from = 0, to = 0;
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    q.set_from_ms(from);
    q.set_to_ms(to);
    const bool focus = req.get_param_value("format") == "focus";
    q.set_focus_csv(focus);
    if (!focus) {
      Answer<v1::GetChargebackRequest, v1::GetChargebackResponse>(
          req, res, q,
          [stub](auto* c, const auto& x, auto* r) { return stub->GetChargeback(c, x, r); });
      return;
    }
    v1::GetChargebackResponse r;
    auto ctx = Context(req.get_header_value("Authorization"));
    grpc::Status st = stub->GetChargeback(ctx.get(), q, &r);
    if (!st.ok()) {
      SendError(res, HttpStatus(st.error_code()), st.error_message());
      return;
    }
    res.set_content(r.focus_csv(), "text/csv; charset=utf-8");
  });
  s.Get("/api/v1/report", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetServiceReportRequest q;
    q.set_month(req.get_param_value("month"));
    q.set_business_unit(req.get_param_value("unit"));
    const int64_t now = NowMs();
    int64_t from = 0, to = 0;
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    q.set_from_ms(from);
    q.set_to_ms(to);
    Answer<v1::GetServiceReportRequest, v1::GetServiceReportResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->GetServiceReport(c, x, r); });
  });
  s.Get("/api/v1/maturity", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetMaturityRequest q;
    if (req.has_param("window")) {
      auto d = ParseDuration(req.get_param_value("window"));
      if (!d.ok()) {
        SendError(res, 400, StrCat("window: ", ToStd(d.status().message())));
        return;
      }
      q.set_window_ms(d->count());
    }
    Answer<v1::GetMaturityRequest, v1::GetMaturityResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->GetMaturity(c, x, r); });
  });
  s.Get("/api/v1/capacity", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::GetCapacityRequest q;
    if (req.has_param("lookback")) {
      auto d = ParseDuration(req.get_param_value("lookback"));
      if (!d.ok()) {
        SendError(res, 400, StrCat("lookback: ", ToStd(d.status().message())));
        return;
      }
      q.set_lookback_ms(d->count());
    }
    Answer<v1::GetCapacityRequest, v1::GetCapacityResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->GetCapacity(c, x, r); });
  });
  s.Get("/api/v1/series", [stub](const httplib::Request& req, httplib::Response& res) {
    v1::QuerySeriesRequest q;
    q.set_name(req.get_param_value("name"));
    if (q.name().empty()) {
      SendError(res, 400, "name is required");
      return;
    }
    for (const std::string& m : RawParams(req, "match")) {
      size_t eq = m.find('=');
      if (eq == std::string::npos || eq == 0) {
        SendError(res, 400, StrCat("match: expected label=value, got \"", m, "\""));
        return;
      }
      v1::Label* l = q.add_match();
      l->set_name(m.substr(0, eq));
      l->set_value(m.substr(eq + 1));
    }
    const int64_t now = NowMs();
    int64_t from = 0, to = 0;
    if (!TimeParam(req, res, "from", now, &from) || !TimeParam(req, res, "to", now, &to)) return;
    q.set_from_ms(from);
    q.set_to_ms(to);
    if (req.has_param("limit")) {
      const std::string limit = req.get_param_value("limit");
      if (limit.empty() || limit.size() > 9 ||
          !std::all_of(limit.begin(), limit.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        SendError(res, 400, "limit: expected a number of points");
        return;
      }
      q.set_limit(static_cast<uint32_t>(std::stoul(limit)));
    }
    Answer<v1::QuerySeriesRequest, v1::QuerySeriesResponse>(
        req, res, q,
        [stub](auto* c, const auto& x, auto* r) { return stub->QuerySeries(c, x, r); });
  });
}

std::string HttpServer::Metrics(const std::string& authorization) {
  std::string out;
  std::set<std::string> typed;
  auto type = [&](const std::string& name, const char* kind, const char* help) {
    if (!typed.insert(name).second) return;
    out += StrCat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", kind, "\n");
  };

  // Business KPIs, straight from the engine.
  {
    v1::GetHealthResponse health;
    auto ctx = Context(authorization);
    if (stub_->GetHealth(ctx.get(), {}, &health).ok()) {
      type("plumbline_service_health_score", "gauge", "Health score 0-100 of a business service.");
      for (const auto& h : health.services()) {
        if (h.has_score())
          AppendSample(&out, "plumbline_service_health_score", {{"service", h.service()}},
                       h.score());
      }
      type("plumbline_service_health_status", "gauge",
           "1 for the service's current status (healthy, degraded, critical, no data).");
      for (const auto& h : health.services()) {
        AppendSample(&out, "plumbline_service_health_status",
                     {{"service", h.service()}, {"status", h.status()}}, 1);
      }
    }
  }
  {
    v1::GetSloStatusResponse slos;
    auto ctx = Context(authorization);
    if (stub_->GetSloStatus(ctx.get(), {}, &slos).ok()) {
      struct Kpi {
        const char* name;
        const char* help;
        double (*get)(const v1::SloStatus&);
      };
      const Kpi kpis[] = {
          {"plumbline_slo_attainment_ratio", "Good over valid events in the SLO period so far.",
           [](const v1::SloStatus& s) { return s.attainment(); }},
          {"plumbline_slo_target_ratio", "The SLO target.",
           [](const v1::SloStatus& s) { return s.target(); }},
          {"plumbline_slo_error_budget_remaining_ratio",
           "Share of the error budget left (1 untouched, 0 spent, negative overspent).",
           [](const v1::SloStatus& s) { return s.budget_remaining_ratio(); }},
          {"plumbline_slo_error_budget_remaining_seconds",
           "Error budget left, in seconds of full outage (Prometheus' base unit).",
           [](const v1::SloStatus& s) { return s.budget_minutes_remaining() * 60; }},
          {"plumbline_slo_burn_rate", "Burn rate over the fastest alert's long window.",
           [](const v1::SloStatus& s) { return s.burn_rate(); }},
      };
      for (const Kpi& k : kpis) {
        type(k.name, "gauge", k.help);
        for (const auto& s : slos.slos()) {
          AppendSample(&out, k.name, {{"service", s.service()}, {"slo", s.slo()}}, k.get(s));
        }
      }
      type("plumbline_slo_alert_firing", "gauge", "1 while a multi-window burn-rate alert fires.");
      for (const auto& s : slos.slos()) {
        for (const auto& a : s.alerts()) {
          AppendSample(
              &out, "plumbline_slo_alert_firing",
              {{"service", s.service()},
               {"slo", s.slo()},
               {"severity", a.severity()},
               {"long_window", FormatDuration(std::chrono::milliseconds(a.long_window_ms()))}},
              a.firing() ? 1 : 0);
        }
      }
    }
  }
  {
    v1::ListIncidentsResponse incidents;
    auto ctx = Context(authorization);
    if (stub_->ListIncidents(ctx.get(), {}, &incidents).ok()) {
      std::map<std::string, int> open;
      std::map<std::string, double> revenue;
      for (const auto& inc : incidents.incidents()) {
        if (!inc.open()) continue;
        for (const auto& svc : inc.affected_services()) open[svc] += 1;
        v1::GetImpactRequest q;
        q.set_incident_id(inc.id());
        v1::GetImpactResponse impact;
        auto ictx = Context(authorization);
        if (stub_->GetImpact(ictx.get(), q, &impact).ok()) {
          for (const auto& x : impact.services()) revenue[x.service()] += x.revenue_at_risk();
        }
      }
      type("plumbline_incidents_open", "gauge",
           "Open incidents affecting a service (last 7 days).");
      for (const auto& [svc, n] : open)
        AppendSample(&out, "plumbline_incidents_open", {{"service", svc}}, n);
      type("plumbline_open_incidents_revenue_at_risk", "gauge",
           "Revenue at risk so far in the open incidents affecting a service.");
      for (const auto& [svc, r] : revenue) {
        AppendSample(&out, "plumbline_open_incidents_revenue_at_risk", {{"service", svc}}, r);
      }
    }
  }

  {
    // Cost of the month so far (only with a rate card in the catalog).
    v1::GetChargebackRequest q;
    q.set_month(absl::FormatTime("%Y-%m", absl::Now(), absl::UTCTimeZone()));
    v1::GetChargebackResponse cb;
    auto ctx = Context(authorization);
    if (stub_->GetChargeback(ctx.get(), q, &cb).ok()) {
      const std::vector<std::pair<std::string, std::string>> currency = {
          {"currency", cb.currency()}};
      type("plumbline_cost_month_to_date", "gauge",
           "IT cost of the calendar month so far, by the rate card (currency units).");
      auto money = [](const std::string& text) { return std::strtod(text.c_str(), nullptr); };
      for (const auto& u : cb.business_units()) {
        AppendSample(&out, "plumbline_cost_month_to_date",
                     {{"business_unit", u.business_unit()}, {"currency", cb.currency()}},
                     money(u.cost()));
      }
      type("plumbline_service_cost_month_to_date", "gauge",
           "A service's IT cost of the calendar month so far (currency units).");
      type("plumbline_service_cost_per_1000_transactions", "gauge",
           "A service's IT cost per 1,000 transactions this month.");
      for (const auto& x : cb.services()) {
        AppendSample(&out, "plumbline_service_cost_month_to_date",
                     {{"service", x.service()}, {"currency", cb.currency()}}, money(x.cost()));
        if (x.has_cost_per_1000()) {
          AppendSample(&out, "plumbline_service_cost_per_1000_transactions",
                       {{"service", x.service()}, {"currency", cb.currency()}},
                       x.cost_per_1000_transactions());
        }
      }
      type("plumbline_cost_idle_month_to_date", "gauge", "Unused CPU capacity this month.");
      AppendSample(&out, "plumbline_cost_idle_month_to_date", currency, money(cb.idle()));
      type("plumbline_cost_unallocated_month_to_date", "gauge",
           "Hosts no service claims, this month.");
      AppendSample(&out, "plumbline_cost_unallocated_month_to_date", currency,
                   money(cb.unallocated()));
      type("plumbline_budget_projected_over", "gauge",
           "1 when a business unit's spend is projected above its monthly budget.");
      for (const auto& u : cb.business_units()) {
        if (u.has_budget()) {
          AppendSample(&out, "plumbline_budget_projected_over",
                       {{"business_unit", u.business_unit()}}, u.budget_alert() ? 1 : 0);
        }
      }
    }
  }

  {
    v1::GetMaturityResponse maturity;
    auto ctx = Context(authorization);
    if (stub_->GetMaturity(ctx.get(), {}, &maturity).ok()) {
      type("plumbline_service_maturity_level", "gauge",
           "Measurement maturity 0-5 of a service over the last 7 days.");
      for (const auto& m : maturity.services()) {
        AppendSample(&out, "plumbline_service_maturity_level", {{"service", m.service()}},
                     m.level());
      }
      type("plumbline_services_measurable_ratio", "gauge",
           "Share of services at maturity level 3 or above.");
      AppendSample(&out, "plumbline_services_measurable_ratio", {}, maturity.share_measurable());
    }
  }

  {
    v1::GetCapacityResponse capacity;
    auto ctx = Context(authorization);
    if (stub_->GetCapacity(ctx.get(), {}, &capacity).ok()) {
      type("plumbline_capacity_days_to_full", "gauge",
           "Days until a filesystem is full or a host's CPU or memory reaches 90%, at the 7-day "
           "trend.");
      for (const auto& f : capacity.forecasts()) {
        if (!f.has_days_to_full()) continue;
        AppendSample(&out, "plumbline_capacity_days_to_full",
                     {{"host", f.host()}, {"resource", f.resource()}, {"target", f.target()}},
                     f.days_to_full());
      }
    }
  }

  // The collector's own counters and gauges.
  std::map<std::string, std::vector<CounterValue>> by_name;
  for (CounterValue& c : counters_->Snapshot()) by_name[c.name].push_back(std::move(c));
  for (const auto& [name, values] : by_name) {
    const bool counter = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    type(name, counter ? "counter" : "gauge", "Collector operational metric.");
    for (const CounterValue& c : values) {
      std::vector<std::pair<std::string, std::string>> labels(c.labels.begin(), c.labels.end());
      AppendSample(&out, name, labels, c.value);
    }
  }
  return out;
}

}  // namespace plumbline::collector
