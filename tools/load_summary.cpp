#include "tools/load_summary.h"

#include <sys/resource.h>

namespace plumbline::load_gen {

namespace {

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

double Seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

}  // namespace

void PrintRunSummary(const RunSummary& s, std::FILE* out) {
  std::fprintf(out,
               "summary {\"target\": \"%s\", \"shape\": \"%s\", \"agents\": %d, \"series\": %d, "
               "\"max_rate\": %s, \"window_s\": %.3f, \"elapsed_s\": %.3f, \"requests\": %llu, "
               "\"samples_sent\": %llu, \"samples_acked\": %llu, "
               "\"samples_acked_in_window\": %llu, \"samples_per_s\": %.1f, \"errors\": %llu, "
               "\"retries\": %llu, \"samples_dropped\": %llu, \"samples_unacked\": %llu, "
               "\"load_gen_cpu_s\": %.2f}\n",
               s.target.c_str(), s.shape.c_str(), s.agents, s.series, s.max_rate ? "true" : "false",
               s.window_s, s.elapsed_s, U(s.requests), U(s.samples_sent), U(s.samples_acked),
               U(s.samples_acked_in_window), s.SamplesPerSecond(), U(s.errors), U(s.retries),
               U(s.samples_dropped), U(s.samples_unacked), s.load_gen_cpu_s);
  std::fprintf(out,
               "load-gen %s: %d agents x %d series (%s), %s: %llu samples acknowledged in the "
               "%.1f s window = %.0f samples/s; %llu sent in %llu requests, %llu acknowledged in "
               "all, %llu errors (%llu retried), %llu dropped, %llu never acknowledged; "
               "load generator CPU %.1f s\n",
               s.target.c_str(), s.agents, s.series, s.shape.c_str(),
               s.max_rate ? "max rate" : "fixed interval", U(s.samples_acked_in_window), s.window_s,
               s.SamplesPerSecond(), U(s.samples_sent), U(s.requests), U(s.samples_acked),
               U(s.errors), U(s.retries), U(s.samples_dropped), U(s.samples_unacked),
               s.load_gen_cpu_s);
  std::fflush(out);
}

double ProcessCpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
}

}  // namespace plumbline::load_gen
