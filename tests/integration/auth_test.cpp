// Bearer tokens with roles on the query surfaces: the same decisions over
// gRPC (the real plumb) and HTTP; denials are counted.
#include "collector/auth.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

TEST(Auth, RolesDecideOverGrpcAndHttpAlike) {
  TempDir dir("auth");
  WriteFile(dir.File("catalog.yaml"),
            "business_units: [{id: r}]\nservices:\n  - {id: shop, business_unit: r}\n");
  WriteFile(dir.File("collector.yaml"),
            "auth:\n  tokens:\n"
            "    - {name: grafana, role: viewer, sha256: " +
                collector::Sha256Hex("view-secret") +
                "}\n"
                "    - {name: oncall, role: sre, sha256: " +
                collector::Sha256Hex("sre-secret") +
                "}\n"
                "    - {name: root, role: admin, sha256: " +
                collector::Sha256Hex("admin-secret") + "}\n");
  WriteFile(dir.File("sre.token"), "sre-secret\n");
  std::string grpc;
  auto collector = StartCollector(
      dir, &grpc, "127.0.0.1:0",
      {"--config", dir.File("collector.yaml"), "--catalog", dir.File("catalog.yaml")});
  ASSERT_TRUE(collector.ok()) << collector.status();
  const std::string plumb = "--collector " + grpc + " ";
  int rc = -1;

  // gRPC, through plumb.
  EXPECT_EQ(Plumb(plumb + "services", &rc),
            "plumb: a bearer token is required (plumb --token, or the Authorization header)\n");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(Plumb(plumb + "--token wrong services", &rc), "plumb: the bearer token is not valid\n");
  EXPECT_EQ(rc, 1);
  Plumb(plumb + "--token view-secret services --json", &rc);
  EXPECT_EQ(rc, 0);
  std::string denied =
      Plumb(plumb + "--token view-secret incident declare --title x --service shop --from 1h", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(denied,
            "plumb: DeclareIncident needs the sre role; the token of \"grafana\" has viewer\n");
  std::string id = Plumb(plumb + "--token-file " + dir.File("sre.token") +
                             " incident declare --title x --service shop --from 1h",
                         &rc);
  EXPECT_EQ(rc, 0) << id;
  EXPECT_EQ(id.rfind("decl-shop-", 0), 0u) << id;

  // HTTP: the same decisions.
  std::string http = nlohmann::json::parse(ReadFile(dir.File("collector.ready")))["http"];
  httplib::Client client("http://" + http);
  auto none = client.Get("/api/v1/services");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(nlohmann::json::parse(none->body)["code"], "unauthenticated");
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  EXPECT_EQ(client.Get("/healthz")->status, 200);  // probes stay open
  httplib::Headers viewer = {{"Authorization", "Bearer view-secret"}};
  EXPECT_EQ(client.Get("/api/v1/services", viewer)->status, 200);
  EXPECT_EQ(client.Get("/metrics", viewer)->status, 200);
  auto post =
      client.Post("/api/v1/incidents", viewer,
                  R"({"title": "x", "services": ["shop"], "from": "-1h", "declared_by": "v"})",
                  "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403);
  EXPECT_EQ(nlohmann::json::parse(post->body)["error"],
            "DeclareIncident needs the sre role; the token of \"grafana\" has viewer");

  // Every denial was counted by method and reason.
  auto stats = nlohmann::json::parse(Plumb(plumb + "--token admin-secret stats --json", &rc));
  ASSERT_EQ(rc, 0);
  // Keys look like name{method="...",reason="..."}.
  double role = 0, missing = 0, unknown = 0;
  for (const auto& [key, value] : stats.items()) {
    if (key.rfind("plumbline_auth_denied_total{", 0) != 0) continue;
    const double v = value.get<double>();
    if (key.find("reason=\"role\"") != std::string::npos) role += v;
    if (key.find("reason=\"missing\"") != std::string::npos) missing += v;
    if (key.find("reason=\"unknown\"") != std::string::npos) unknown += v;
  }
  // The collector's log names the token holder, never the token.
  EXPECT_EQ(collector->Log().find("view-secret"), std::string::npos);
  EXPECT_NE(collector->Log().find("denied DeclareIncident: role for token grafana"),
            std::string::npos)
      << collector->Log();
  EXPECT_EQ(collector->Stop(SIGTERM, 20s), 0);
}

TEST(Auth, BadTokenConfigurationIsAConfigError) {
  TempDir dir("auth_bad");
  WriteFile(dir.File("collector.yaml"),
            "auth:\n  tokens:\n    - {name: a, role: superuser, sha256: abc}\n");
  auto p = Process::Start({PLUMBLINE_COLLECTOR_BIN, "--config", dir.File("collector.yaml")},
                          dir.File("out.log"));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WaitFor([&] { return !p->Running(); }, 10s));
  EXPECT_EQ(p->Stop(SIGTERM, 1s), 2);
  std::string log = ReadFile(dir.File("out.log"));
  EXPECT_NE(log.find("auth.tokens[0].role: expected viewer, sre or admin, got \"superuser\""),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("auth.tokens[0].sha256: expected 64 hex digits"), std::string::npos) << log;
}

}  // namespace
}  // namespace plumbline::testing
