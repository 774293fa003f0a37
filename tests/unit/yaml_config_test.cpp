#include "common/yaml_config.h"

#include <gtest/gtest.h>

namespace plumbline {
namespace {

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_EQ(ParseDuration("10s")->count(), 10000);
  EXPECT_EQ(ParseDuration("1.5s")->count(), 1500);
  EXPECT_EQ(ParseDuration("5m")->count(), 300000);
  EXPECT_EQ(ParseDuration("2h")->count(), 7200000);
  EXPECT_EQ(ParseDuration("7d")->count(), 604800000);
}

TEST(ParseDuration, RejectsMissingUnitNegativeAndGarbage) {
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("ten seconds").ok());
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("1e300d").ok());
}

TEST(ParseByteSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseByteSize("512"), 512u);
  EXPECT_EQ(*ParseByteSize("64KiB"), 65536u);
  EXPECT_EQ(*ParseByteSize("256MiB"), 256ull << 20);
  EXPECT_EQ(*ParseByteSize("1GB"), 1000000000ull);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("5 parsecs").ok());
}

TEST(FormatDuration, RoundTripsWithParse) {
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(10000)), "10s");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(3600000)), "1h");
}

TEST(YamlDocument, ReadsTypedValuesAndNestedMaps) {
  auto doc = YamlDocument::Parse(
      "name: web\nport: 80\nratio: 0.5\non: true\n"
      "every: 10s\nnested:\n  list: [a, b]\n  map: {k: v}\n",
      "t.yaml");
  ASSERT_TRUE(doc.ok()) << doc.status();
  ConfigMap root = doc->Root();
  std::string name;
  int64_t port = 0;
  double ratio = 0;
  bool on = false;
  std::chrono::milliseconds every{0};
  std::vector<std::string> list;
  std::map<std::string, std::string> map;
  root.String("name", &name);
  root.Int("port", &port, 1, 65535);
  root.Double("ratio", &ratio, 0, 1);
  root.Bool("on", &on);
  root.Duration("every", &every);
  ConfigMap nested = root.Map("nested");
  nested.StringList("list", &list);
  nested.StringMap("map", &map);
  ASSERT_TRUE(doc->Finish().ok()) << doc->Finish();
  EXPECT_EQ(name, "web");
  EXPECT_EQ(port, 80);
  EXPECT_EQ(ratio, 0.5);
  EXPECT_TRUE(on);
  EXPECT_EQ(every.count(), 10000);
  EXPECT_EQ(list, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(map.at("k"), "v");
}

TEST(YamlDocument, ErrorsNameFileLineAndKey) {
  auto doc = YamlDocument::Parse("a: 1\nnested:\n  port: 99999\n  every: soon\n", "cfg.yaml");
  ASSERT_TRUE(doc.ok());
  ConfigMap root = doc->Root();
  int64_t a = 0, port = 0;
  std::chrono::milliseconds every{0};
  root.Int("a", &a, 0, 10);
  ConfigMap nested = root.Map("nested");
  nested.Int("port", &port, 1, 65535);
  nested.Duration("every", &every);
  absl::Status s = doc->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "cfg.yaml:3: nested.port: must be between 1 and 65535, got 99999\n"
            "cfg.yaml:4: nested.every: expected a duration such as 10s or 500ms, got \"soon\"");
}

TEST(YamlDocument, UnknownKeysAreReportedWithTheirLine) {
  auto doc = YamlDocument::Parse("interval: 10s\nintreval: 5s\nsub:\n  typo: 1\n", "a.yaml");
  ASSERT_TRUE(doc.ok());
  ConfigMap root = doc->Root();
  std::chrono::milliseconds d{0};
  root.Duration("interval", &d);
  root.Map("sub");
  absl::Status s = doc->Finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "a.yaml:2: intreval: unknown key\na.yaml:4: sub.typo: unknown key");
}

TEST(YamlDocument, SyntaxErrorNamesLineAndColumn) {
  auto doc = YamlDocument::Parse("a: [1, 2\nb: 3\n", "broken.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(std::string(doc.status().message()).find("broken.yaml:"), std::string::npos);
  EXPECT_NE(std::string(doc.status().message()).find("YAML syntax error"), std::string::npos);
}

TEST(YamlDocument, TopLevelMustBeAMapping) {
  auto doc = YamlDocument::Parse("- a\n- b\n", "list.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message(), "list.yaml:1: expected a mapping at the top level, got a list");
}

TEST(YamlDocument, EmptyDocumentIsAnEmptyMap) {
  auto doc = YamlDocument::Parse("", "empty.yaml");
  ASSERT_TRUE(doc.ok());
  std::string v = "default";
  doc->Root().String("x", &v);
  EXPECT_TRUE(doc->Finish().ok());
  EXPECT_EQ(v, "default");
}

TEST(YamlDocument, WrongTypesAreReported) {
  auto doc = YamlDocument::Parse("m: [1]\nl: {a: 1}\nb: maybe\n", "t.yaml");
  ASSERT_TRUE(doc.ok());
  ConfigMap root = doc->Root();
  root.Map("m");
  std::vector<std::string> l;
  root.StringList("l", &l);
  bool b = false;
  root.Bool("b", &b);
  absl::Status s = doc->Finish();
  EXPECT_EQ(s.message(),
            "t.yaml:1: m: expected a mapping, got a list\n"
            "t.yaml:2: l: expected a list of strings, got a mapping\n"
            "t.yaml:3: b: expected true or false, got \"maybe\"");
}

TEST(YamlDocument, MissingFileIsNotFound) {
  auto doc = YamlDocument::Load("/nonexistent/plumbline.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace plumbline
