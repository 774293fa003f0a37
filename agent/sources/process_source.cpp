#include "agent/sources/process_source.h"

#include <algorithm>
#include <charconv>

#include "common/labels.h"

namespace plumbline::agent {

namespace {

constexpr size_t kCommMax = 15;            // TASK_COMM_LEN - 1
constexpr size_t kCmdlineMatchMax = 4096;  // bytes of the command line a pattern sees

bool IsPid(std::string_view s) {
  return !s.empty() && s.size() <= 10 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::optional<std::regex> Compile(const std::string& pattern, std::string* error) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    *error = StrCat("bad regular expression \"", pattern, "\": ", e.what());
    return std::nullopt;
  }
}

// What is known about one /proc/PID during one Collect; each file is read at
// most once, and only if some matcher needs it.
struct Candidate {
  int64_t pid = 0;
  std::optional<std::string> comm, cmdline, cgroup;
};

}  // namespace

void ParseProcessSourceOptions(ConfigMap section, ProcessSourceOptions* out) {
  std::vector<ConfigMap> items = section.MapList("match");
  std::set<std::string> names;
  for (ConfigMap& item : items) {
    ProcessMatcher m;
    item.Require("name");
    item.String("name", &m.name);
    if (item.Has("name")) {
      absl::Status s = ValidateLabelValue(m.name);
      if (!s.ok() || m.name.empty()) {
        item.Error("name", s.ok() ? std::string_view("must not be empty") : ToStd(s.message()));
      } else if (!names.insert(m.name).second) {
        item.Error("name", StrCat("\"", m.name, "\" is used by another matcher"));
      }
    }
    const std::pair<const char*, ProcessMatcher::Kind> kinds[] = {
        {"comm", ProcessMatcher::Kind::kComm},
        {"cmdline", ProcessMatcher::Kind::kCmdline},
        {"pidfile", ProcessMatcher::Kind::kPidfile},
        {"systemd_unit", ProcessMatcher::Kind::kSystemdUnit}};
    int given = 0;
    for (const auto& [key, kind] : kinds) {
      if (!item.Has(key)) continue;
      ++given;
      m.kind = kind;
      item.String(key, &m.pattern);
      if (m.pattern.empty()) item.Error(key, "must not be empty");
    }
    if (given != 1) {
      item.Error("", "needs exactly one of comm, cmdline, pidfile, systemd_unit");
      continue;
    }
    std::string error;
    if (m.kind == ProcessMatcher::Kind::kCmdline && !Compile(m.pattern, &error)) {
      item.Error("cmdline", error);
    }
    if (m.kind == ProcessMatcher::Kind::kPidfile && m.pattern[0] != '/') {
      item.Error("pidfile", "must be an absolute path");
    }
    if (m.kind == ProcessMatcher::Kind::kSystemdUnit && m.pattern.find('.') == std::string::npos) {
      m.pattern += ".service";
    }
    out->match.push_back(std::move(m));
  }
}

ProcessSource::ProcessSource(ProcFs fs, ProcessSourceOptions options, double ticks_per_second,
                             uint64_t page_size)
    : fs_(std::move(fs)),
      options_(std::move(options)),
      ticks_per_second_(ticks_per_second > 0 ? ticks_per_second : 100),
      page_size_(page_size > 0 ? page_size : 4096),
      states_(options_.match.size()) {
  for (const ProcessMatcher& m : options_.match) {
    std::optional<std::regex> pattern;
    if (m.kind == ProcessMatcher::Kind::kCmdline) {
      std::string error;
      pattern = Compile(m.pattern, &error);
      if (!pattern && patterns_status_.ok()) {
        patterns_status_ = absl::InvalidArgumentError(StrCat("process ", m.name, ": ", error));
      }
    }
    cmdline_patterns_.push_back(std::move(pattern));
  }
}

absl::Status ProcessSource::Start() { return patterns_status_; }

absl::Status ProcessSource::Collect(MetricWriter& out) {
  if (!boot_time_s_) {
    absl::StatusOr<std::string> stat_text = fs_.Read("/proc/stat");
    if (stat_text.ok()) {
      absl::StatusOr<ProcStat> stat = ParseProcStat(*stat_text, ticks_per_second_);
      if (stat.ok()) boot_time_s_ = stat->boot_time_s;
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> entries, fs_.List("/proc"));
  std::vector<Candidate> candidates;
  for (const std::string& e : entries) {
    if (!IsPid(e)) continue;
    Candidate c;
    std::from_chars(e.data(), e.data() + e.size(), c.pid);
    candidates.push_back(std::move(c));
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.pid < b.pid; });

  // A vanished process reads as "" (no match), which is what it is now.
  auto read = [&](int64_t pid, const char* file) -> std::string {
    absl::StatusOr<std::string> text = fs_.Read(StrCat("/proc/", pid, "/", file));
    return text.ok() ? *std::move(text) : std::string();
  };

  // Matched pids per matcher.
  std::vector<std::vector<int64_t>> matched(options_.match.size());
  for (size_t i = 0; i < options_.match.size(); ++i) {
    const ProcessMatcher& m = options_.match[i];
    if (m.kind == ProcessMatcher::Kind::kPidfile) {
      absl::StatusOr<std::string> text = ProcFs().Read(m.pattern);
      int64_t pid = 0;
      // The first line holds the pid (PostgreSQL's has more lines after it).
      std::string_view digits = text.ok() ? Trim(Split(*text, '\n')[0]) : std::string_view();
      if (IsPid(digits)) std::from_chars(digits.data(), digits.data() + digits.size(), pid);
      auto it = std::lower_bound(candidates.begin(), candidates.end(), pid,
                                 [](const Candidate& c, int64_t p) { return c.pid < p; });
      if (pid > 0 && it != candidates.end() && it->pid == pid) matched[i].push_back(pid);
      continue;
    }
    for (Candidate& c : candidates) {
      bool hit = false;
      switch (m.kind) {
        case ProcessMatcher::Kind::kComm:
          if (!c.comm) c.comm = std::string(Trim(read(c.pid, "comm")));
          hit = !c.comm->empty() && *c.comm == std::string_view(m.pattern).substr(0, kCommMax);
          break;
        case ProcessMatcher::Kind::kCmdline:
          if (!c.cmdline) {
            c.cmdline = JoinCmdline(read(c.pid, "cmdline"));
            if (c.cmdline->size() > kCmdlineMatchMax) c.cmdline->resize(kCmdlineMatchMax);
          }
          hit = !c.cmdline->empty() && std::regex_search(*c.cmdline, *cmdline_patterns_[i]);
          break;
        case ProcessMatcher::Kind::kSystemdUnit:
          if (!c.cgroup) c.cgroup = read(c.pid, "cgroup");
          hit = CgroupHasUnit(*c.cgroup, m.pattern);
          break;
        case ProcessMatcher::Kind::kPidfile:
          break;
      }
      if (hit) matched[i].push_back(c.pid);
    }
  }

  // /proc/PID/stat and fd counts of every matched pid, read once.
  struct Usage {
    PidStat stat;
    std::optional<uint64_t> fds;  // absent when not permitted
  };
  std::map<int64_t, std::optional<Usage>> usage;
  for (const auto& pids : matched) {
    for (int64_t pid : pids) usage.emplace(pid, std::nullopt);
  }
  for (auto& [pid, u] : usage) {
    absl::StatusOr<std::string> text = fs_.Read(StrCat("/proc/", pid, "/stat"));
    if (!text.ok()) continue;  // exited since the listing
    absl::StatusOr<PidStat> stat = ParsePidStat(*text, ticks_per_second_);
    if (!stat.ok() || stat->state == 'Z' || stat->state == 'X') continue;  // gone or a zombie
    Usage found{*std::move(stat), std::nullopt};
    absl::StatusOr<std::vector<std::string>> fds = fs_.List(StrCat("/proc/", pid, "/fd"));
    if (fds.ok()) found.fds = fds->size();
    u = std::move(found);
  }

  for (size_t i = 0; i < options_.match.size(); ++i) {
    Labels labels = {{"process", options_.match[i].name}};
    std::vector<const Usage*> live;
    std::set<int64_t> live_pids;
    for (int64_t pid : matched[i]) {
      const std::optional<Usage>& u = usage[pid];
      if (!u) continue;
      live.push_back(&*u);
      live_pids.insert(pid);
    }
    Identity roots;
    double cpu = 0, rss = 0, threads = 0, fds = 0;
    bool fds_known = true;
    uint64_t earliest_start = UINT64_MAX;
    for (const Usage* u : live) {
      cpu += u->stat.utime_s + u->stat.stime_s;
      rss += static_cast<double>(u->stat.rss_pages) * static_cast<double>(page_size_);
      threads += static_cast<double>(u->stat.num_threads);
      if (u->fds) {
        fds += static_cast<double>(*u->fds);
      } else {
        fds_known = false;
      }
      if (live_pids.count(u->stat.ppid) == 0) {
        roots.emplace(u->stat.pid, u->stat.start_ticks);
        earliest_start = std::min(earliest_start, u->stat.start_ticks);
      }
    }

    MatcherState& state = states_[i];
    if (!roots.empty()) {
      if (!state.last_roots.empty()) {
        // A restart is a top process gone and a new one in its place; an
        // extra instance starting, or one of several stopping, is not.
        size_t gone = 0, added = 0;
        for (const auto& r : state.last_roots) gone += roots.count(r) == 0 ? 1 : 0;
        for (const auto& r : roots) added += state.last_roots.count(r) == 0 ? 1 : 0;
        state.restarts += std::min(gone, added);
      }
      state.last_roots = roots;
    }

    out.Gauge("process_up", live.empty() ? 0 : 1, labels);
    out.Gauge("process_count", static_cast<double>(live.size()), labels);
    out.Counter("process_restarts_total", static_cast<double>(state.restarts), labels);
    if (live.empty()) continue;
    out.Counter("process_cpu_seconds_total", cpu, labels, "seconds");
    out.Gauge("process_resident_memory_bytes", rss, labels, "bytes");
    out.Gauge("process_threads", threads, labels);
    if (fds_known) out.Gauge("process_open_fds", fds, labels);
    if (boot_time_s_ && earliest_start != UINT64_MAX) {
      out.Gauge("process_start_time_seconds",
                static_cast<double>(*boot_time_s_) +
                    static_cast<double>(earliest_start) / ticks_per_second_,
                labels, "seconds");
    }
  }
  return absl::OkStatus();
}

}  // namespace plumbline::agent
