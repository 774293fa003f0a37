#include "agent/statsd_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace plumbline::agent {
namespace {

StatsdMetric Parse(std::string_view line) {
  absl::StatusOr<StatsdMetric> m = ParseStatsdLine(line);
  EXPECT_TRUE(m.ok()) << line << ": " << m.status();
  return m.ok() ? *m : StatsdMetric{};
}

std::string ErrorOf(std::string_view line) {
  absl::StatusOr<StatsdMetric> m = ParseStatsdLine(line);
  EXPECT_FALSE(m.ok()) << line << " parsed";
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << line;
  return std::string(m.status().message());
}

TEST(StatsdParser, CounterWithSampleRate) {
  StatsdMetric m = Parse("orders.placed:3|c|@0.1");
  EXPECT_EQ(m.name, "orders.placed");
  EXPECT_EQ(m.type, StatsdType::kCounter);
  EXPECT_DOUBLE_EQ(m.value, 3);
  EXPECT_DOUBLE_EQ(m.sample_rate, 0.1);
  EXPECT_TRUE(m.tags.empty());
}

TEST(StatsdParser, GaugeSetAndDeltas) {
  StatsdMetric set = Parse("queue.depth:42|g");
  EXPECT_EQ(set.type, StatsdType::kGauge);
  EXPECT_FALSE(set.gauge_delta);
  EXPECT_DOUBLE_EQ(set.value, 42);
  StatsdMetric up = Parse("queue.depth:+5|g");
  EXPECT_TRUE(up.gauge_delta);
  EXPECT_DOUBLE_EQ(up.value, 5);
  StatsdMetric down = Parse("queue.depth:-2.5|g");
  EXPECT_TRUE(down.gauge_delta);
  EXPECT_DOUBLE_EQ(down.value, -2.5);
}

TEST(StatsdParser, TimersHistogramsDistributionsAndSets) {
  EXPECT_EQ(Parse("db.query:12.5|ms").type, StatsdType::kTimer);
  EXPECT_DOUBLE_EQ(Parse("db.query:12.5|ms").value, 12.5);
  EXPECT_EQ(Parse("payload:512|h").type, StatsdType::kHistogram);
  EXPECT_EQ(Parse("payload:512|d").type, StatsdType::kDistribution);
  StatsdMetric set = Parse("users.online:alice|s");
  EXPECT_EQ(set.type, StatsdType::kSet);
  EXPECT_EQ(set.set_member, "alice");
}

TEST(StatsdParser, DogStatsdTagsInOrderAndValuelessTags) {
  StatsdMetric m = Parse("checkout.latency:250|ms|@0.5|#env:prod,region:eu-west:1,canary");
  ASSERT_EQ(m.tags.size(), 3u);
  EXPECT_EQ(m.tags[0].first, "env");
  EXPECT_EQ(m.tags[0].second, "prod");
  EXPECT_EQ(m.tags[1].first, "region");
  EXPECT_EQ(m.tags[1].second, "eu-west:1") << "only the first ':' separates";
  EXPECT_EQ(m.tags[2].first, "canary");
  EXPECT_EQ(m.tags[2].second, "");
  EXPECT_DOUBLE_EQ(m.sample_rate, 0.5);
  // Tags before the sample rate are fine too.
  StatsdMetric swapped = Parse("a:1|c|#k:v|@0.25");
  EXPECT_DOUBLE_EQ(swapped.sample_rate, 0.25);
  EXPECT_EQ(swapped.tags.size(), 1u);
}

TEST(StatsdParser, DogStatsdContainerAndTimestampFieldsAreIgnored) {
  StatsdMetric m = Parse("a:1|c|#k:v|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c|T1656581400");
  EXPECT_EQ(m.tags.size(), 1u);
}

TEST(StatsdParser, EventsAndServiceChecksAreUnsupportedNotErrors) {
  EXPECT_EQ(ParseStatsdLine("_e{5,4}:title|text").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseStatsdLine("_sc|redis.can_connect|0").status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(StatsdParser, PacketWithSeveralLinesCountsTheBadOnes) {
  StatsdPacket p = ParseStatsdPacket("a:1|c\r\n\nb:2|g\nbroken\nc:3|ms\n_e{1,1}:a|b\nd:x|c\n");
  ASSERT_EQ(p.metrics.size(), 3u);
  EXPECT_EQ(p.metrics[0].name, "a");
  EXPECT_EQ(p.metrics[1].name, "b");
  EXPECT_EQ(p.metrics[2].name, "c");
  EXPECT_EQ(p.errors, 2u);
  EXPECT_EQ(p.unsupported, 1u);
  EXPECT_NE(p.first_error.find("broken"), std::string::npos) << p.first_error;
}

TEST(StatsdParser, MalformedLinesSayWhatIsWrong) {
  EXPECT_NE(ErrorOf("no_colon").find("no ':'"), std::string::npos);
  EXPECT_NE(ErrorOf(":1|c").find("empty metric name"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1").find("'|<type>'"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|").find("unknown metric type"), std::string::npos);  // truncated
  EXPECT_NE(ErrorOf("a:1|x").find("unknown metric type"), std::string::npos);
  EXPECT_NE(ErrorOf("a:|c").find("empty value"), std::string::npos);
  EXPECT_NE(ErrorOf("a:abc|c").find("bad value"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|@").find("sample rate"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|@0").find("sample rate"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|@1.5").find("sample rate"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|@-0.5").find("sample rate"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|@0.5|@0.5").find("two sample rates"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|#a:b|#c:d").find("two tag sections"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c||").find("empty field"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|zzz").find("unknown field"), std::string::npos);
  EXPECT_NE(ErrorOf("a:1|c|#:v").find("tag without a name"), std::string::npos);
  EXPECT_NE(ErrorOf("a:-1|c").find("negative"), std::string::npos);
  EXPECT_NE(ErrorOf("a:-1|ms").find("negative"), std::string::npos);
  EXPECT_NE(ErrorOf("a b:1|c").find("printable"), std::string::npos);
}

TEST(StatsdParser, AbsurdNumbersAreErrors) {
  ErrorOf("a:1e999|c");
  ErrorOf("a:nan|g");
  ErrorOf("a:inf|ms");
  ErrorOf("a:--1|g");
  ErrorOf("a:+-1|g");
  ErrorOf("a:0x10|c");
  ErrorOf("a:1|c|@1e-999");
  EXPECT_DOUBLE_EQ(Parse("a:1e300|g").value, 1e300);
}

TEST(StatsdParser, InvalidUtf8AndControlBytesInNamesAreErrors) {
  ErrorOf("caf\xc3\xa9:1|c");
  ErrorOf("\xff\xfe:1|c");
  ErrorOf(std::string("a\0b:1|c", 7));
  // Bytes after the name end up in tag values, which the aggregator checks.
  EXPECT_EQ(Parse("a:1|c|#k:\xff").tags[0].second, "\xff");
}

TEST(StatsdParser, HugeLinesAndTooManyTagsAreErrors) {
  std::string long_name(kMaxStatsdNameLength + 1, 'a');
  EXPECT_NE(ErrorOf(long_name + ":1|c").find("longer than"), std::string::npos);
  std::string huge(1 << 20, 'x');
  ErrorOf(huge);
  ErrorOf("a:" + huge + "|c");
  std::string tags = "a:1|c|#";
  for (size_t i = 0; i <= kMaxStatsdTags; ++i) tags += "t" + std::to_string(i) + ":v,";
  EXPECT_NE(ErrorOf(tags).find("tags"), std::string::npos);
  // One very long packet of good lines parses.
  std::string packet;
  for (int i = 0; i < 2000; ++i) packet += "m" + std::to_string(i) + ":1|c\n";
  EXPECT_EQ(ParseStatsdPacket(packet).metrics.size(), 2000u);
}

TEST(StatsdParser, BinaryGarbageNeverCrashes) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 256));
  StatsdPacket p = ParseStatsdPacket(garbage);
  EXPECT_GT(p.errors, 0u);
  for (const auto& m : p.metrics) EXPECT_FALSE(m.name.empty());
}

}  // namespace
}  // namespace plumbline::agent
