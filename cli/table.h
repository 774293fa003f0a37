// Output for plumb: aligned text tables for people, CSV for scripts.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace plumbline::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // Columns padded to their widest cell; numeric-looking cells right-aligned.
  void PrintText(std::ostream& out) const;
  // RFC 4180: fields with comma, quote or newline are quoted.
  void PrintCsv(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// "3s ago", "5m ago", "2h ago", "4d ago".
std::string Ago(int64_t now_ms, int64_t then_ms);
// "15.6 GiB"
std::string HumanBytes(double bytes);

}  // namespace plumbline::cli
