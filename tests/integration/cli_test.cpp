// The plumb CLI against a real collector: incident show and close, impact
// limited to a business unit, relative times, exit codes, and the bash
// completion script it generates (run in a real bash).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/process.h"

namespace plumbline::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCatalog = R"(
business_units: [{id: retail, name: Retail}, {id: finance, name: Finance}]
services:
  - id: payments
    business_unit: retail
    slis: [{id: up, kind: probe, probe: pay-http}]
    slos: [{id: availability, sli: up, target: 99.9}]
  - id: ledger
    business_unit: finance
    dependencies: [{service: payments}]
)";

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.File("catalog.yaml"), kCatalog);
    auto c =
        StartCollector(dir_, &address_, "127.0.0.1:0", {"--catalog", dir_.File("catalog.yaml")});
    ASSERT_TRUE(c.ok()) << c.status();
    collector_ = std::make_unique<Process>(std::move(*c));
  }
  void TearDown() override {
    if (collector_) {
      EXPECT_EQ(collector_->Stop(SIGTERM, 20s), 0) << collector_->Log();
    }
  }
  // plumb's stdout (stderr dropped) and exit code.
  std::string Run(const std::string& args, int* rc) {
    return Plumb("--collector " + address_ + " " + args + " 2>/dev/null", rc);
  }
  nlohmann::json Json(const std::string& args) {
    int rc = -1;
    std::string out = Run("--json " + args, &rc);
    EXPECT_EQ(rc, 0) << args << ": " << out;
    return nlohmann::json::parse(out, nullptr, false);
  }

  TempDir dir_{"cli"};
  std::string address_;
  std::unique_ptr<Process> collector_;
};

TEST_F(Cli, IncidentsAreDeclaredShownAndClosedWithRelativeTimes) {
  int rc = -1;
  std::string id =
      Run("incident declare --title 'ledger stuck' --service ledger --from -30m --by alice", &rc);
  ASSERT_EQ(rc, 0) << id;
  id.erase(id.find_last_not_of('\n') + 1);
  ASSERT_EQ(id.rfind("decl-ledger-", 0), 0u) << id;

  nlohmann::json shown = Json("incident show " + id);
  // Its impact, by id: as an argument or with --incident.
  EXPECT_EQ(Json("impact " + id)["incident"], id);
  EXPECT_EQ(Json("impact --incident " + id)["incident"], id);
  EXPECT_EQ(shown["title"], "ledger stuck");
  EXPECT_TRUE(shown["open"].get<bool>());
  // -30m: thirty minutes ago, to the minute.
  EXPECT_NEAR(static_cast<double>(shown["from_ms"].get<int64_t>()),
              static_cast<double>(NowMs() - 30 * 60000), 90000);
  EXPECT_EQ(shown["affected_services"], nlohmann::json({"ledger"}));
  EXPECT_EQ(shown["impact"]["revenue_at_risk"], 0);

  std::string text = Run("incident show " + id, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(text.find("declared, open"), std::string::npos) << text;
  EXPECT_NE(text.find("started (declared by alice)"), std::string::npos) << text;

  nlohmann::json closed = Json("incident close " + id + " --at -5m --reason 'restarted' --by bob");
  EXPECT_FALSE(closed["open"].get<bool>());
  EXPECT_NEAR(static_cast<double>(closed["to_ms"].get<int64_t>()),
              static_cast<double>(NowMs() - 5 * 60000), 90000);
  ASSERT_EQ(closed["notes"].size(), 1u);
  EXPECT_EQ(closed["notes"][0]["author"], "bob");

  // The timeline now ends, and the close is a note on it.
  text = Run("incident show " + id, &rc);
  EXPECT_NE(text.find("bob: closed, ended"), std::string::npos) << text;
  EXPECT_NE(text.find("ended\n"), std::string::npos) << text;

  // Closing again is refused by the collector: exit 1 with the reason.
  std::string again = Plumb("--collector " + address_ + " incident close " + id, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(again.find("already closed"), std::string::npos) << again;
}

TEST_F(Cli, ImpactIsLimitedToABusinessUnit) {
  int rc = -1;
  nlohmann::json retail = Json("impact --from -2h --unit retail");
  ASSERT_EQ(retail["services"].size(), 1u) << retail.dump();
  EXPECT_EQ(retail["services"][0]["service"], "payments");
  nlohmann::json finance = Json("impact --from -2h --to now --unit finance");
  ASSERT_EQ(finance["services"].size(), 1u) << finance.dump();
  EXPECT_EQ(finance["services"][0]["service"], "ledger");
  std::string out = Plumb("--collector " + address_ + " impact --from -2h --unit nope", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("unknown business unit \"nope\""), std::string::npos) << out;
}

TEST_F(Cli, ExitCodesScriptsCanRelyOn) {
  int rc = -1;
  Run("health", &rc);
  EXPECT_EQ(rc, 0);
  Run("health nope", &rc);  // the collector says no
  EXPECT_EQ(rc, 1);
  Run("impact --from yesterday", &rc);  // not a time
  EXPECT_EQ(rc, 2);
  Run("incident frobnicate", &rc);  // no such command
  EXPECT_EQ(rc, 2);
  Plumb("--collector 127.0.0.1:1 --timeout 2 health 2>/dev/null", &rc);
  EXPECT_EQ(rc, 3);
  std::string help = Plumb("--help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("Exit codes: 0 success"), std::string::npos) << help;
}

TEST_F(Cli, BudgetWithoutARateCardSaysWhatIsMissing) {
  int rc = -1;
  std::string out = Plumb("--collector " + address_ + " budget", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("the catalog has no costs: section"), std::string::npos) << out;
}

// Completes what a user types, by running the generated script in bash.
std::string Complete(const std::string& line) {
  const std::string script = std::string(PLUMB_BIN) + " completion bash";
  int rc = -1;
  std::string out =
      RunShell("bash -c 'source <(" + script + ") && COMP_WORDS=(" + line +
                   ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _plumb && printf \"%s\\n\" "
                   "\"${COMPREPLY[@]}\"'",
               &rc);
  EXPECT_EQ(rc, 0) << out;
  return out;
}

TEST(CliCompletion, BashCompletesCommandsAndOptionsAtEachLevel) {
  std::string top = Complete("plumb inc");
  EXPECT_EQ(top, "incidents\nincident\n");
  std::string sub = Complete("plumb incident c");
  EXPECT_EQ(sub, "close\n");
  std::string options = Complete("plumb impact --u");
  EXPECT_EQ(options, "--unit\n");
  std::string global = Complete("plumb health --js");  // global flags after a command
  EXPECT_EQ(global, "--json\n");
  std::string nested = Complete("plumb --json incident close ID --re");
  EXPECT_EQ(nested, "--reason\n");
}

}  // namespace
}  // namespace plumbline::testing
