#include "common/labels.h"

#include <gtest/gtest.h>

namespace plumbline {
namespace {

TEST(Labels, MetricNamesFollowPrometheusRules) {
  EXPECT_TRUE(ValidateMetricName("host_cpu_seconds_total").ok());
  EXPECT_TRUE(ValidateMetricName("job:rate5m").ok());
  EXPECT_EQ(ValidateMetricName("").message(), "empty metric name");
  EXPECT_FALSE(ValidateMetricName("9lives").ok());
  EXPECT_FALSE(ValidateMetricName("has space").ok());
  EXPECT_FALSE(ValidateMetricName(std::string(201, 'a')).ok());
}

TEST(Labels, LabelNamesRejectColonsAndReservedPrefix) {
  EXPECT_TRUE(ValidateLabelName("mode").ok());
  EXPECT_FALSE(ValidateLabelName("a:b").ok());
  EXPECT_FALSE(ValidateLabelName("__name__").ok());
  EXPECT_FALSE(ValidateLabelName("").ok());
}

TEST(Labels, HostileValuesAreRejectedWithAPrintableMessage) {
  EXPECT_TRUE(ValidateLabelValue("ok value ünïcode").ok());
  absl::Status s = ValidateLabelValue(std::string("bad\x01value", 9));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "control character in label value \"bad\\x01value\"");
  EXPECT_FALSE(ValidateLabelValue("\xff\xfe").ok());      // not UTF-8
  EXPECT_FALSE(ValidateLabelValue("\xc0\xaf").ok());      // overlong
  EXPECT_FALSE(ValidateLabelValue("\xed\xa0\x80").ok());  // surrogate
  EXPECT_FALSE(ValidateLabelValue(std::string(1025, 'x')).ok());
}

TEST(Labels, CanonicalFormIsSortedEscapedAndReversible) {
  LabelSet labels = {{"z", "a\"b"}, {"a", "line\nbreak\\"}};
  ASSERT_TRUE(SortLabels(&labels).ok());
  std::string text = CanonicalLabels(labels);
  EXPECT_EQ(text, "a=\"line\\nbreak\\\\\",z=\"a\\\"b\"");
  auto parsed = ParseCanonicalLabels(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, labels);
}

TEST(Labels, DuplicateNamesAreRejected) {
  LabelSet labels = {{"a", "1"}, {"a", "2"}};
  EXPECT_FALSE(SortLabels(&labels).ok());
}

TEST(Labels, MalformedCanonicalTextIsAnError) {
  EXPECT_FALSE(ParseCanonicalLabels("a=1").ok());
  EXPECT_FALSE(ParseCanonicalLabels("a=\"unterminated").ok());
  EXPECT_TRUE(ParseCanonicalLabels("").ok());
}

TEST(Labels, SanitizeMakesAValidName) {
  EXPECT_EQ(SanitizeLabelName("9-bad name"), "__bad_name");
  EXPECT_TRUE(ValidateLabelName(SanitizeLabelName("x.y")).ok());
}

}  // namespace
}  // namespace plumbline
