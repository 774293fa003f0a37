// Query parameters of the HTTP API, from the raw request target.
#include "collector/query_params.h"

#include <gtest/gtest.h>

#include "common/yaml_config.h"

namespace plumbline::collector {
namespace {

TEST(QueryParams, RepeatedValuesKeepTheirOwnEqualsSignsAndAreDecoded) {
  EXPECT_EQ(QueryParamValues("/api/v1/series?name=x&match=mode%3Duser&match=host=web+01&matchx=1",
                             "match"),
            (std::vector<std::string>{"mode=user", "host=web 01"}));
  EXPECT_TRUE(QueryParamValues("/api/v1/series", "match").empty());
  EXPECT_TRUE(QueryParamValues("/api/v1/series?match", "match").empty());
  EXPECT_EQ(QueryParamValues("/?match=&&match=a", "match"), (std::vector<std::string>{"", "a"}));
}

TEST(QueryParams, BrokenPercentEscapesStayAsTheyAre) {
  EXPECT_EQ(DecodeQueryComponent("100%"), "100%");
  EXPECT_EQ(DecodeQueryComponent("%zz%4"), "%zz%4");
  EXPECT_EQ(DecodeQueryComponent("%41%6a"), "Aj");
}

TEST(QueryParams, TimesAreRfc3339NowAgoOrEpochMilliseconds) {
  constexpr int64_t kNow = 1800000000000;
  int64_t ms = 0;
  ASSERT_TRUE(ParseWhen("2026-11-27T08:00:00Z", kNow, &ms));
  EXPECT_EQ(ms, 1795766400000);
  ASSERT_TRUE(ParseWhen("-2h", kNow, &ms));
  EXPECT_EQ(ms, kNow - 7200000);
  ASSERT_TRUE(ParseWhen("now", kNow, &ms));
  EXPECT_EQ(ms, kNow);
  EXPECT_FALSE(ParseWhen("", kNow, &ms));
  EXPECT_FALSE(ParseWhen("-0s", kNow, &ms));
  EXPECT_FALSE(ParseWhen("9999999999999999", kNow, &ms));  // 16 digits
}

}  // namespace
}  // namespace plumbline::collector
