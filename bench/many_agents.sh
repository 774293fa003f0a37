#!/usr/bin/env bash
# Many connected agents: the collector's memory and ingest with a large fleet
# at a realistic rate (issue 5).
#
# The release collector on a fresh SQLite store (default settings: durable
# acknowledgements, maintenance every 10 s) takes AGENTS simulated agents
# from plumbline-load-gen, each with SERIES host-metric series (--shape host:
# node_exporter's CPU, memory, network, disk and file-system names) and one
# batch every 10 s on the clock (not max rate), timestamps at the wall clock,
# for SECONDS. By default every agent has its own gRPC connection, as real
# agents do (MANY_AGENTS_PER_CONNECTION > 1 lets that many share one). One
# load generator ticks all of its agents at the same instant, which a real
# fleet does not; so the agents are split over MANY_GROUPS load generators
# started interval/MANY_GROUPS apart, each sending its agents' batches in
# its own slot of the 10 s.
#
# Every 5 s (t from the first load generator's start) the script samples the
# collector's VmRSS (and RssAnon, RssFile, threads, open descriptors) and the
# streams connected; it prints a line a minute while running, then: RSS
# before the agents connected, at 1 min, at the end of the load (the last
# sample before t = SECONDS, when the first load generator stops), peak
# (sampled and VmHWM), the least-squares slope of RSS over the last half of
# the load (KiB/min), RSS 15 s after the agents disconnected; samples/s
# acknowledged against offered; batches sent, acknowledged, answered
# ACK_RETRY, rejected and never acknowledged, stream failures and connects
# (and, if streams failed, when and the reasons the load generators logged);
# the collector's CPU and the store's size. A last line `result {...}` has
# it all as JSON.
#
#   bench/many_agents.sh [SECONDS] [AGENTS] [SERIES]     # defaults: 600 10000 20
#
# Environment: PLUMBLINE_BUILD (build/release), MANY_INTERVAL_MS (an agent's
# batch interval, default 10000), MANY_AGENTS_PER_CONNECTION (default 1),
# MANY_GROUPS (load generators, default 10), MANY_DURABILITY (full or
# relaxed, default full), MANY_KEEP (set: keep the work directory).
#
# Needs AGENTS / MANY_AGENTS_PER_CONNECTION file descriptors in the collector
# (raises the soft limit to the hard one). Builds the release binaries if
# missing. Everything it starts is killed and its temporary directory removed
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
agents=${2:-10000}
series=${3:-20}
interval_ms=${MANY_INTERVAL_MS:-10000}
per_connection=${MANY_AGENTS_PER_CONNECTION:-1}
groups=${MANY_GROUPS:-10}
durability=${MANY_DURABILITY:-full}
((groups > agents)) && groups=$agents
((groups < 1)) && groups=1

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binaries many_agents.sh

# One descriptor per connection in the collector, plus its store and logs.
connections=$(((agents + per_connection - 1) / per_connection))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < connections + 512)); then
  echo "many_agents.sh: $connections connections need more than $(ulimit -n) file descriptors" \
    "(ulimit -n; or set MANY_AGENTS_PER_CONNECTION)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/plumbline-many.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${MANY_KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clock_ticks=$(getconf CLK_TCK)
cpu_seconds() {
  awk -v hz="$clock_ticks" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
bytes_of() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# Streams connected and batches acknowledged so far, over every load
# generator's last status line.
load_status() {
  local f
  for f in "$work"/load-*.log; do
    [[ -e $f ]] || continue
    tail -n 20 "$f" | grep '^status ' | tail -1 || true
  done | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=")
                  if (kv[1] == "connected") { split(kv[2], c, "/"); conn += c[1] }
                  if (kv[1] == "acked") acked += kv[2] } }
              END { printf "%d %d\n", conn, acked }'
}

# --- the collector -------------------------------------------------------------------
mkdir -p "$work/store"
cat >"$work/collector.yaml" <<EOF
storage:
  backend: sqlite
  path: $work/store/collector.db
  durability: $durability
EOF
bench_start_collector "$work/collector.yaml" 127.0.0.1:0 "$work"
address=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["grpc"])' \
  "$work/collector.ready")

offered=$(awk -v a="$agents" -v s="$series" -v i="$interval_ms" 'BEGIN { printf "%.0f", a * s * 1000 / i }')
echo "many agents: $agents agents x $series series (host metrics), one batch per" \
  "$((interval_ms / 1000)) s each (offered $offered samples/s), $duration s;" \
  "$connections gRPC connections ($per_connection agent(s) each), $groups load generators" \
  "$((interval_ms / groups)) ms apart; collector on $address (SQLite, durability $durability);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"

sleep 2
rss_idle=$(status_kib "$collector_pid" VmRSS)
cpu_before=$(cpu_seconds "$collector_pid")
t0=$EPOCHREALTIME
echo "$t0" >"$work/t0"

# --- sampling: every 5 s, the collector's memory and the fleet's state ---------------
(
  n=0
  while kill -0 "$collector_pid" 2>/dev/null; do
    t=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
    read -r connected acked < <(load_status)
    fds=$(find "/proc/$collector_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    rss=$(status_kib "$collector_pid" VmRSS)
    printf '%s %s %s %s %s %s %s %s\n' "$t" "${rss:-0}" "$(status_kib "$collector_pid" RssAnon)" \
      "$(status_kib "$collector_pid" RssFile)" "$(status_kib "$collector_pid" Threads)" \
      "$fds" "$connected" "$acked" >>"$work/samples.tsv"
    if ((n % 12 == 0)); then
      printf '  t=%4.0fs  collector RSS %6.1f MiB  streams connected %6d  batches acknowledged %d\n' \
        "$t" "$(awk -v r="${rss:-0}" 'BEGIN { print r / 1024 }')" "$connected" "$acked"
    fi
    n=$((n + 1))
    # On a 5-s grid from t0, however long the sample took.
    sleep "$(awk -v t0="$t0" -v n="$n" -v now="$EPOCHREALTIME" \
      'BEGIN { d = t0 + 5 * n - now; printf "%.3f", (d > 0 ? d : 0) }')"
  done
) &
sampler_pid=$!
pids+=("$sampler_pid")

# --- the fleet ----------------------------------------------------------------------------
load_pids=()
for ((g = 0; g < groups; g++)); do
  n=$((agents / groups + (g < agents % groups ? 1 : 0)))
  channels=$(((n + per_connection - 1) / per_connection))
  # Its own slot of the interval.
  target_start=$(awk -v t0="$t0" -v g="$g" -v i="$interval_ms" -v k="$groups" \
    'BEGIN { printf "%.3f", t0 + g * i / k / 1000 }')
  wait_s=$(awk -v a="$target_start" -v b="$EPOCHREALTIME" 'BEGIN { d = a - b; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$wait_s"
  # gRPC's own connect timeout (20 s), as in bench/ingest.sh: the load
  # generator's 100 ms is for fast reconnects in the crash tests.
  "$load_bin" run --collector "$address" --prefix "many-g$g" --agents "$n" --series "$series" \
    --interval "$interval_ms" --shape host --duration "$duration" --drain-timeout 60 \
    --channels "$channels" --connect-timeout 20000 --status-every 5 \
    >"$work/load-$g.log" 2>&1 &
  load_pids+=($!)
  pids+=($!)
done
load_rcs=()
for p in "${load_pids[@]}"; do
  rc=0
  wait "$p" || rc=$?
  load_rcs+=("$rc")
done
load_end=$EPOCHREALTIME
cpu_after=$(cpu_seconds "$collector_pid")
hwm=$(status_kib "$collector_pid" VmHWM)
disk_running=$(bytes_of "$work/store")
# The load generators exit without closing their streams; the kernel does.
sleep 15
rss_after=$(status_kib "$collector_pid" VmRSS)
kill "$sampler_pid" 2>/dev/null || true
kill -TERM "$collector_pid" 2>/dev/null || true
for _ in $(seq 1 600); do
  kill -0 "$collector_pid" 2>/dev/null || break
  sleep 0.1
done
kill -9 "$collector_pid" 2>/dev/null || true
wait "$collector_pid" 2>/dev/null || true
disk_stopped=$(bytes_of "$work/store")

# --- results ----------------------------------------------------------------------------
python3 - "$work" "$agents" "$series" "$interval_ms" "$duration" "$groups" "$per_connection" \
  "$rss_idle" "$rss_after" "$hwm" "$cpu_before" "$cpu_after" "$t0" "$load_end" \
  "$disk_running" "$disk_stopped" "${load_rcs[*]}" <<'EOF'
import glob, json, re, sys
(work, agents, series, interval_ms, duration, groups, per_connection, rss_idle, rss_after, hwm,
 cpu_before, cpu_after, t0, load_end, disk_running, disk_stopped, rcs) = sys.argv[1:18]
agents, series, groups, per_connection = int(agents), int(series), int(groups), int(per_connection)
interval_ms, duration = float(interval_ms), float(duration)
rows = []
for line in open(f"{work}/samples.tsv"):
    f = line.split()
    if len(f) == 8:
        rows.append([float(f[0])] + [int(x) for x in f[1:]])
# Up to just before the first load generator stops (its connections close).
during = [r for r in rows if r[0] <= duration - 2]
def at(t):
    return min(during, key=lambda r: abs(r[0] - t)) if during else None
def mib(kib):
    return kib / 1024
one_min = at(60) if duration >= 60 else None
end = during[-1] if during else None
peak = max((r[1] for r in rows), default=0)
half = [r for r in during if r[0] >= duration / 2]
slope = 0.0
if len(half) >= 2:
    n = len(half)
    mt = sum(r[0] for r in half) / n
    mr = sum(r[1] for r in half) / n
    den = sum((r[0] - mt) ** 2 for r in half)
    slope = sum((r[0] - mt) * (r[1] - mr) for r in half) / den * 60 if den else 0.0
summaries, connects = [], 0
for path in sorted(glob.glob(f"{work}/load-*.log")):
    for line in open(path):
        if line.startswith("summary "):
            summaries.append(json.loads(line[len("summary "):]))
        m = re.search(r" (\d+) connects,", line)
        if line.startswith("load-gen: ") and m:
            connects += int(m.group(1))
tot = lambda k: sum(s[k] for s in summaries)
batches_sent = tot("requests")
acked_batches = tot("samples_acked") // series
retries = tot("retries")
rejected = tot("samples_dropped") // series
unacked = tot("samples_unacked") // series
stream_failures = tot("errors") - retries - rejected
rate = tot("samples_per_s")
offered = agents * series * 1000 / interval_ms
cpu = float(cpu_after) - float(cpu_before)
elapsed = float(load_end) - float(t0)
print()
def row(label, value, note=""):
    print(f"  {label:38s}{value:>10s}{note}")
print("collector RSS (VmRSS, sampled every 5 s; t from the first load generator's start)")
row("before the agents connected", f"{mib(int(rss_idle)):.1f} MiB")
if one_min:
    row(f"at 1 min (t={one_min[0]:.0f} s)", f"{mib(one_min[1]):.1f} MiB")
if end:
    row(f"at the end of the load (t={end[0]:.0f} s)", f"{mib(end[1]):.1f} MiB",
        f"  (anon {mib(end[2]):.1f}, file {mib(end[3]):.1f}; {end[4]} threads, {end[5]} fds)")
row("peak, sampled", f"{mib(peak):.1f} MiB", f"  (VmHWM {mib(int(hwm)):.1f} MiB)")
row(f"slope over the last half", f"{slope:.1f} KiB/min",
    f"  ({len(half)} samples, t={duration / 2:.0f}..{duration:.0f} s)")
row("15 s after the agents disconnected", f"{mib(int(rss_after)):.1f} MiB")
if end:
    print(f"streams connected at the end: {end[6]}/{agents}; connects {connects}"
          f" (stream failures {stream_failures})")
print(f"samples/s acknowledged: {rate:,.0f} (offered {offered:,.0f})")
print(f"batches: sent {batches_sent:,}, acknowledged {acked_batches:,}, ACK_RETRY {retries:,},"
      f" rejected {rejected:,}, never acknowledged {unacked:,}")
print(f"collector CPU: {cpu:.1f} s over {elapsed:.0f} s = {100 * cpu / elapsed:.1f} % of a core")
print(f"store: {int(disk_running) / 1e6:,.1f} MB when the load ended,"
      f" {int(disk_stopped) / 1e6:,.1f} MB after a clean stop")
print(f"load generators' exit codes: {rcs}")
# When streams failed: when (the 5-s samples with fewer streams connected than
# before, once all were), and why (each load generator logs its first five).
full = next((r[0] for r in rows if r[6] >= agents), None)
if full is not None:
    dips = [r for r in during if r[0] > full and r[6] < agents]
    if dips:
        print(f"streams connected dipped below {agents} in {len(dips)} samples after t={full:.0f} s:"
              + "".join(f" t={r[0]:.0f} s {r[6]} ({r[5]} fds);" for r in dips[:12])
              + (" ..." if len(dips) > 12 else ""))
reasons = {}
for path in sorted(glob.glob(f"{work}/load-*.log")):
    for line in open(path):
        m = re.match(r"load-gen: \S+: (stream ended: .*|batch \d+ rejected: .*)", line)
        if m:
            key = re.sub(r"\d{4,}", "N", m.group(1))[:160]
            reasons[key] = reasons.get(key, 0) + 1
for key, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
    print(f"  {n} x {key} (first five per load generator)")
result = {
    "agents": agents, "series": series, "interval_ms": interval_ms, "duration_s": duration,
    "groups": groups, "agents_per_connection": per_connection,
    "rss_kib": {"idle": int(rss_idle), "one_min": one_min[1] if one_min else None,
                "end": end[1] if end else None, "end_anon": end[2] if end else None,
                "peak_sampled": peak, "vm_hwm": int(hwm), "after_disconnect": int(rss_after)},
    "rss_slope_kib_per_min_last_half": round(slope, 1),
    "threads_end": end[4] if end else None, "fds_end": end[5] if end else None,
    "connected_end": end[6] if end else None, "connects": connects,
    "samples_per_s": rate, "offered_samples_per_s": offered,
    "batches_sent": batches_sent, "batches_acked": acked_batches, "retry_acks": retries,
    "rejected": rejected, "unacked_batches": unacked, "stream_failures": stream_failures,
    "collector_cpu_s": round(cpu, 2), "store_bytes_running": int(disk_running),
    "store_bytes_stopped": int(disk_stopped),
}
print("result " + json.dumps(result))
EOF
