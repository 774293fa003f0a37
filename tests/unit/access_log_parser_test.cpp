#include "agent/access_log_parser.h"

#include <gtest/gtest.h>

namespace plumbline::agent {
namespace {

constexpr char kNginxLine[] =
    R"(203.0.113.9 - alice [10/Oct/2023:13:55:36 +0200] "GET /cart?id=7 HTTP/1.1" 200 2326 )"
    R"x("https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)")x";

AccessLogFormat Format(std::string_view spec) {
  auto f = AccessLogFormat::Parse(spec);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : *AccessLogFormat::Parse("$status");
}

TEST(AccessLogParser, ParsesTheCombinedFormat) {
  AccessLogFormat f = Format("combined");
  EXPECT_FALSE(f.has_request_time());
  auto r = f.ParseLine(kNginxLine);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->bytes, 2326u);
  EXPECT_FALSE(r->request_time_seconds.has_value());
}

TEST(AccessLogParser, NginxRequestTimeIsSeconds) {
  AccessLogFormat f = Format("combined_request_time");
  EXPECT_TRUE(f.has_request_time());
  auto r = f.ParseLine(std::string(kNginxLine) + " 0.123");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(*r->request_time_seconds, 0.123);
}

TEST(AccessLogParser, ApacheMicrosecondsBecomeSeconds) {
  auto r = Format("combined_request_time_us").ParseLine(std::string(kNginxLine) + " 52000");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(*r->request_time_seconds, 0.052);
}

TEST(AccessLogParser, MissingRequestTimeAtTheEndIsAbsentNotAnError) {
  AccessLogFormat f = Format("combined_request_time");
  auto r = f.ParseLine(kNginxLine);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->request_time_seconds.has_value());
  auto dash = f.ParseLine(std::string(kNginxLine) + " -");
  ASSERT_TRUE(dash.ok()) << dash.status();
  EXPECT_FALSE(dash->request_time_seconds.has_value());
}

TEST(AccessLogParser, ExtraFieldsAfterTheFormatAreIgnored) {
  auto r = Format("combined").ParseLine(std::string(kNginxLine) + " 0.5 \"upstream\" extra");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(AccessLogParser, EscapedQuotesStayInsideTheirField) {
  auto r =
      Format("combined")
          .ParseLine(
              R"(::1 - - [10/Oct/2023:13:55:36 +0200] "GET /a\"b\" c HTTP/1.1" 404 0 "-" "curl \"x\" 8")");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

TEST(AccessLogParser, DashBytesAreZeroAndOddMethodsAreOther) {
  auto r =
      Format("combined")
          .ParseLine(
              R"(198.51.100.7 - - [10/Oct/2023:13:55:36 +0200] "\x16\x03\x01\x00" 400 - "-" "-")");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->bytes, 0u);
  EXPECT_EQ(r->method, "OTHER");
  auto propfind =
      Format("combined")
          .ParseLine(
              R"(198.51.100.7 - - [10/Oct/2023:13:55:36 +0200] "PROPFIND / HTTP/1.1" 207 10 "-" "-")");
  ASSERT_TRUE(propfind.ok());
  EXPECT_EQ(propfind->method, "OTHER");
  auto dash = Format("combined")
                  .ParseLine(R"(198.51.100.7 - - [10/Oct/2023:13:55:36 +0200] "-" 408 0 "-" "-")");
  ASSERT_TRUE(dash.ok());
  EXPECT_EQ(dash->method, "OTHER");
}

TEST(AccessLogParser, CustomNginxFormat) {
  AccessLogFormat f =
      Format("$request_method $status ${body_bytes_sent} rt=$request_time u=$upstream_addr");
  auto r = f.ParseLine("POST 503 17 rt=1.500 u=10.0.0.1:8080");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "POST");
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->bytes, 17u);
  EXPECT_DOUBLE_EQ(*r->request_time_seconds, 1.5);
}

TEST(AccessLogParser, CustomApacheFormat) {
  AccessLogFormat f =
      Format(R"(%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %{ms}T 100%%)");
  EXPECT_TRUE(f.has_request_time());
  auto r = f.ParseLine(
      R"(10.1.2.3 - - [10/Oct/2023:13:55:36 +0200] "DELETE /x HTTP/1.1" 204 - "-" "k6" 250 100%)");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "DELETE");
  EXPECT_EQ(r->status, 204);
  EXPECT_DOUBLE_EQ(*r->request_time_seconds, 0.25);
}

TEST(AccessLogParser, BytesSentIsUsedWhenThereIsNoBodyBytes) {
  auto r = Format("$status $bytes_sent").ParseLine("200 512");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->bytes, 512u);
}

TEST(AccessLogParser, GarbageLinesAreClearErrors) {
  AccessLogFormat f = Format("combined_request_time");
  auto empty = f.ParseLine("");
  ASSERT_FALSE(empty.ok());
  auto text = f.ParseLine("this is not an access log line");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "expected \" - \" after column 1");
  auto status = f.ParseLine(
      R"(1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] "GET / HTTP/1.1" 2000 1 "-" "-" 0.1)");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.status().message(), "bad status \"2000\"");
  auto bytes = f.ParseLine(
      R"(1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] "GET / HTTP/1.1" 200 12k "-" "-" 0.1)");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().message(), "bad byte count \"12k\"");
  auto time = f.ParseLine(
      R"(1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] "GET / HTTP/1.1" 200 1 "-" "-" fast)");
  ASSERT_FALSE(time.ok());
  EXPECT_EQ(time.status().message(), "bad request time \"fast\"");
  auto negative = f.ParseLine(
      R"(1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] "GET / HTTP/1.1" 200 1 "-" "-" -0.5)");
  EXPECT_FALSE(negative.ok());
  auto cut = f.ParseLine(R"(1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] "GET / HTTP/1.1)");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().message(), R"(expected "\" " after column 43)");
  auto trailing = Format("$status").ParseLine("200x");
  EXPECT_FALSE(trailing.ok());
}

TEST(AccessLogParser, BadFormatsAreRejected) {
  EXPECT_EQ(AccessLogFormat::Parse("$remote_addr $body_bytes_sent").status().message(),
            "format: needs a status field ($status or %>s)");
  EXPECT_EQ(AccessLogFormat::Parse("$status$body_bytes_sent").status().message(),
            "format: field $body_bytes_sent needs text between it and the field before");
  EXPECT_FALSE(AccessLogFormat::Parse("${status").ok());
  EXPECT_FALSE(AccessLogFormat::Parse("%>s %{foo").ok());
  EXPECT_FALSE(AccessLogFormat::Parse("%>s %").ok());
  EXPECT_FALSE(AccessLogFormat::Parse("").ok());
}

TEST(AccessLogParser, StatusClasses) {
  EXPECT_EQ(StatusClass(101), "1xx");
  EXPECT_EQ(StatusClass(204), "2xx");
  EXPECT_EQ(StatusClass(304), "3xx");
  EXPECT_EQ(StatusClass(429), "4xx");
  EXPECT_EQ(StatusClass(599), "5xx");
}

}  // namespace
}  // namespace plumbline::agent
