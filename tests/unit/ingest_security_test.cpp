// Who may write (enrollment tokens), how much (rate and cardinality limits),
// and with which timestamps; and the configuration of all three.
#include <gtest/gtest.h>

#include "agent/config.h"
#include "collector/agent_auth.h"
#include "collector/auth.h"
#include "collector/batch_validator.h"
#include "collector/config.h"
#include "collector/ingest_limiter.h"

namespace plumbline::collector {
namespace {

constexpr int64_t kNow = 1700000000000;

EnrollmentEntry Token(const std::string& name, const std::string& secret, const std::string& id,
                      const std::string& prefix = "") {
  return {name, Sha256(secret), id, prefix};
}

TEST(CollectorConfig, ReadsTlsEnrollmentAndLimits) {
  auto c = ParseCollectorConfig(
      "tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem, require_client_cert: true, "
      "reload_interval: 5s}\n"
      "enrollment:\n  tokens:\n"
      "    - {name: web, sha256: " +
          Sha256Hex("web-secret") +
          ", id_prefix: web-}\n"
          "    - {name: db1, sha256: " +
          Sha256Hex("db-secret") + ", agent_id: db-01}\n  revoked: [" + Sha256Hex("old") +
          "]\n"
          "ingest: {max_future_skew: 1m, max_sample_age: 2d, max_new_series_per_minute: 50, "
          "max_batches_per_second: 7}\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.cert, "/c.pem");
  EXPECT_EQ(c->tls.client_ca, "/ca.pem");
  EXPECT_TRUE(c->tls.require_client_cert);
  EXPECT_EQ(c->tls.reload_interval.count(), 5000);
  ASSERT_EQ(c->enrollment.tokens.size(), 2u);
  EXPECT_EQ(c->enrollment.tokens[0].id_prefix, "web-");
  EXPECT_EQ(c->enrollment.tokens[1].agent_id, "db-01");
  EXPECT_EQ(c->enrollment.revoked, std::vector<std::string>{Sha256Hex("old")});
  EXPECT_EQ(c->ingest.max_future_skew.count(), 60000);
  EXPECT_EQ(c->ingest.max_sample_age.count(), 2 * 86400000LL);
  EXPECT_EQ(c->ingest.max_new_series_per_minute, 50);
  EXPECT_EQ(c->ingest.max_batches_per_second, 7);
}

TEST(CollectorConfig, InconsistentTlsAndTokensAreNamed) {
  auto c = ParseCollectorConfig(
      "tls:\n  cert: /c.pem\n  require_client_cert: true\n"
      "enrollment:\n  tokens:\n    - {name: a, sha256: 12}\n    - {name: b, sha256: " +
          Sha256Hex("x") + ", agent_id: a, id_prefix: b}\n",
      "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()),
            "c.yaml:2: tls.key: cert and key go together\n"
            "c.yaml:3: tls.require_client_cert: needs client_ca\n"
            "c.yaml:6: enrollment.tokens[0].sha256: expected 64 hex digits (printf %s TOKEN | "
            "sha256sum)\n"
            "c.yaml:6: enrollment.tokens[0].agent_id: give exactly one of agent_id and id_prefix\n"
            "c.yaml:7: enrollment.tokens[1].id_prefix: give exactly one of agent_id and id_prefix");
}

TEST(CollectorConfig, AnnotatedFileShowsTheDefaults) {
  auto annotated =
      LoadCollectorConfig(std::string(PLUMBLINE_FIXTURES) + "/../../configs/collector.yaml");
  ASSERT_TRUE(annotated.ok()) << annotated.status();
  auto defaults = ParseCollectorConfig("", "<defaults>");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(annotated->tls.enabled(), defaults->tls.enabled());
  EXPECT_EQ(annotated->tls.reload_interval, defaults->tls.reload_interval);
  EXPECT_EQ(annotated->enrollment.tokens.size(), 0u);
  EXPECT_EQ(annotated->ingest.max_future_skew, defaults->ingest.max_future_skew);
  EXPECT_EQ(annotated->ingest.max_sample_age, defaults->ingest.max_sample_age);
  EXPECT_EQ(annotated->ingest.max_new_series_per_minute,
            defaults->ingest.max_new_series_per_minute);
  EXPECT_EQ(annotated->ingest.max_batches_per_second, defaults->ingest.max_batches_per_second);
}

TEST(AgentAuthenticator, WithoutTokensOrRequiredCertificatesEveryoneMayWriteAsAnyId) {
  Counters counters;
  FakeClock clock(kNow);
  AgentAuthenticator auth({}, &counters, &clock);
  ASSERT_TRUE(auth.Init().ok());
  EXPECT_FALSE(auth.required());
  auto grant = auth.Authenticate("", "", "");
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(grant->Allows("anything"));
  EXPECT_EQ(grant->Describe(), "no authentication");
}

TEST(AgentAuthenticator, ATokenGrantsItsIdOrPrefixOnly) {
  Counters counters;
  FakeClock clock(kNow);
  AgentAuthOptions options;
  options.tokens = {Token("db1", "db-secret", "db-01"), Token("web", "web-secret", "", "web-")};
  AgentAuthenticator auth(options, &counters, &clock);
  EXPECT_TRUE(auth.required());
  auto db = auth.Authenticate("", "", "Bearer db-secret");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_TRUE(db->Allows("db-01"));
  EXPECT_FALSE(db->Allows("db-02"));
  EXPECT_FALSE(db->Allows("db-0"));
  EXPECT_EQ(db->Describe(), "enrollment token \"db1\"");
  auto web = auth.Authenticate("", "", "Bearer web-secret");
  ASSERT_TRUE(web.ok());
  EXPECT_TRUE(web->Allows("web-17"));
  EXPECT_FALSE(web->Allows("db-01"));
  EXPECT_FALSE(web->Allows("web"));
}

TEST(AgentAuthenticator, MissingUnknownAndRevokedTokensAreRefusedAndCounted) {
  Counters counters;
  FakeClock clock(kNow);
  AgentAuthOptions options;
  options.tokens = {Token("db1", "db-secret", "db-01"), Token("old", "old-secret", "db-02")};
  options.revoked = {Sha256("old-secret")};
  AgentAuthenticator auth(options, &counters, &clock);
  auto none = auth.Authenticate("", "", "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(none.status().message(),
            "this collector requires a client certificate or an enrollment token (agent "
            "tls.cert/tls.key or enrollment_token_file)");
  EXPECT_EQ(auth.Authenticate("", "", "Bearer wrong").status().message(),
            "the enrollment token is not valid");
  EXPECT_EQ(auth.Authenticate("", "", "Bearer old-secret").status().message(),
            "the enrollment token has been revoked");
  EXPECT_EQ(auth.Authenticate("", "", "Basic db-secret").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(counters.Get("plumbline_ingest_auth_denied_total", {{"reason", "no_credentials"}}), 2);
  EXPECT_EQ(counters.Get("plumbline_ingest_auth_denied_total", {{"reason", "token_unknown"}}), 1);
  EXPECT_EQ(counters.Get("plumbline_ingest_auth_denied_total", {{"reason", "token_revoked"}}), 1);
}

TEST(AgentAuthenticator, RevokingOrRemovingATokenEndsItsGrant) {
  Counters counters;
  FakeClock clock(kNow);
  AgentAuthOptions options;
  options.tokens = {Token("db1", "db-secret", "db-01"), Token("db2", "db2-secret", "db-02")};
  AgentAuthenticator auth(options, &counters, &clock);
  auto one = auth.Authenticate("", "", "Bearer db-secret");
  auto two = auth.Authenticate("", "", "Bearer db2-secret");
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(auth.StillValid(*one).ok());
  auth.SetEnrollment({Token("db2", "db2-secret", "db-02")}, {});
  EXPECT_EQ(auth.StillValid(*one).message(), "the enrollment token is no longer configured");
  EXPECT_TRUE(auth.StillValid(*two).ok());
  auth.SetEnrollment({Token("db2", "db2-secret", "db-02")}, {Sha256("db2-secret")});
  EXPECT_EQ(auth.StillValid(*two).message(), "the enrollment token has been revoked");
  EXPECT_FALSE(auth.Authenticate("", "", "Bearer db2-secret").ok());
}

TEST(AgentAuthenticator, AnUnparsableCertificateIsRefused) {
  Counters counters;
  FakeClock clock(kNow);
  AgentAuthenticator auth({}, &counters, &clock);
  auto r = auth.Authenticate("-----BEGIN CERTIFICATE-----\nnot base64\n", "", "");
  EXPECT_EQ(r.status().message(), "the client certificate cannot be parsed");
  EXPECT_EQ(counters.Get("plumbline_ingest_auth_denied_total", {{"reason", "certificate_invalid"}}),
            1);
}

v1::Series* AddSeries(v1::Batch* b, const std::string& name, const std::string& label_value) {
  v1::Series* s = b->add_series();
  s->set_name(name);
  s->set_type(v1::METRIC_TYPE_GAUGE);
  auto* l = s->add_labels();
  l->set_name("k");
  l->set_value(label_value);
  auto* p = s->add_points();
  p->set_timestamp_ms(kNow);
  p->set_number(1);
  return s;
}

std::vector<int> All(const v1::Batch& b) {
  std::vector<int> out(static_cast<size_t>(b.series_size()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int>(i);
  return out;
}

TEST(IngestLimiter, BatchRateIsATokenBucketPerAgent) {
  FakeClock clock(kNow);
  IngestLimiter limiter({/*max_batches_per_second=*/4, /*max_new_series_per_minute=*/0}, &clock);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(limiter.AdmitBatch("a"), 0u) << i;
  EXPECT_EQ(limiter.AdmitBatch("a"), 250u);  // one token refills in 1/4 s
  EXPECT_EQ(limiter.AdmitBatch("b"), 0u);    // other agents are not affected
  clock.Advance(500);
  EXPECT_EQ(limiter.AdmitBatch("a"), 0u);
  EXPECT_EQ(limiter.AdmitBatch("a"), 0u);
  EXPECT_EQ(limiter.AdmitBatch("a"), 250u);
}

TEST(IngestLimiter, SeriesKeyIgnoresLabelOrderButNotValues) {
  v1::Batch b;
  v1::Series* one = AddSeries(&b, "m", "x");
  auto* l = one->add_labels();
  l->set_name("z");
  l->set_value("1");
  v1::Series two = *one;
  std::swap(*two.mutable_labels(0), *two.mutable_labels(1));
  EXPECT_EQ(IngestLimiter::SeriesKey(*one), IngestLimiter::SeriesKey(two));
  two.mutable_labels(0)->set_value("2");
  EXPECT_NE(IngestLimiter::SeriesKey(*one), IngestLimiter::SeriesKey(two));
}

TEST(IngestLimiter, NewSeriesBeyondTheBudgetAreRetriedLaterOrRefused) {
  FakeClock clock(kNow);
  IngestLimiter limiter({0, /*max_new_series_per_minute=*/10}, &clock);
  v1::Batch six;
  for (int i = 0; i < 6; ++i) AddSeries(&six, "m", "a" + std::to_string(i));
  auto first = limiter.AdmitSeries("a", six, All(six));
  EXPECT_EQ(first.retry_after_ms, 0u);
  EXPECT_TRUE(first.refused.empty());
  // Known series pass without using the budget.
  EXPECT_EQ(limiter.AdmitSeries("a", six, All(six)).retry_after_ms, 0u);
  // 6 new ones with 4 left: would fit a full budget, so retry once 2 refilled.
  v1::Batch next;
  for (int i = 0; i < 6; ++i) AddSeries(&next, "m", "b" + std::to_string(i));
  auto later = limiter.AdmitSeries("a", next, All(next));
  EXPECT_EQ(later.retry_after_ms, 12000u);  // 2 series at 10 per minute
  EXPECT_TRUE(later.refused.empty());
  clock.Advance(12000);
  EXPECT_EQ(limiter.AdmitSeries("a", next, All(next)).retry_after_ms, 0u);
  // An exploding label set larger than a whole budget: what fits is admitted,
  // the rest refused (each occurrence of a refused series).
  clock.Advance(60000);
  v1::Batch explosion;
  for (int i = 0; i < 15; ++i) AddSeries(&explosion, "m", "c" + std::to_string(i));
  AddSeries(&explosion, "m", "c14");
  auto boom = limiter.AdmitSeries("a", explosion, All(explosion));
  EXPECT_EQ(boom.retry_after_ms, 0u);
  EXPECT_EQ(boom.refused, (std::vector<size_t>{10, 11, 12, 13, 14, 15}));
  // Another agent has its own budget.
  EXPECT_TRUE(limiter.AdmitSeries("b", explosion, All(explosion)).refused.size() == 6);
}

TEST(BatchValidator, TimestampsOutsideTheSkewWindowAreRefusedWithAReason) {
  v1::Batch b;
  b.set_agent_id("a");
  b.set_epoch(1);
  b.set_sequence(1);
  AddSeries(&b, "now", "x");
  AddSeries(&b, "future", "x")->mutable_points(0)->set_timestamp_ms(kNow + 11 * 60000);
  AddSeries(&b, "old", "x")->mutable_points(0)->set_timestamp_ms(kNow - 3 * 86400000LL);
  ValidationLimits limits;
  limits.max_future_skew_ms = 10 * 60000;
  limits.max_sample_age_ms = 2 * 86400000LL;
  ValidationResult r = ValidateBatch(b, limits, kNow);
  EXPECT_EQ(r.valid_series, std::vector<int>{0});
  EXPECT_EQ(r.rejected_series, 2u);
  EXPECT_EQ(r.errors[0],
            "series[1]: future: timestamp 1700000660000 is 660 s ahead of the collector's clock "
            "(at most 600 s; check the agent's clock)");
  EXPECT_EQ(r.errors[1],
            "series[2]: old: timestamp 1699740800000 is older than ingest.max_sample_age "
            "(172800 s)");
  EXPECT_EQ(r.reasons, (std::vector<std::pair<std::string, uint32_t>>{{"timestamp_future", 1},
                                                                      {"timestamp_old", 1}}));
  // Without a clock only the plausibility range applies.
  EXPECT_EQ(ValidateBatch(b, limits).rejected_series, 0u);
}

}  // namespace
}  // namespace plumbline::collector

namespace plumbline::agent {
namespace {

TEST(AgentConfig, ReadsTlsAndEnrollmentTokenFile) {
  auto c = ParseAgentConfig("tls: {ca: /etc/hostname, server_name: collector.example}\n", "a.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->tls.enabled());
  EXPECT_EQ(c->tls.server_name, "collector.example");
  auto bad = ParseAgentConfig(
      "tls:\n  cert: /etc/hostname\n  ca: /no/such/ca.pem\nenrollment_token_file: /no/such\n",
      "a.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "a.yaml:2: tls.key: cert and key go together\n"
            "a.yaml:3: tls.ca: cannot read /no/such/ca.pem\n"
            "a.yaml:4: enrollment_token_file: cannot read /no/such");
}

TEST(AgentConfig, PlaintextWithoutTls) {
  auto c = ParseAgentConfig("", "a.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->tls.enabled());
  EXPECT_EQ(c->enrollment_token_file, "");
}

}  // namespace
}  // namespace plumbline::agent
