#!/usr/bin/env bash
# Delivery under repeated collector crashes, at fleet scale:
#   plumbline-load-gen simulates AGENTS agents x SERIES series, one batch per
#   agent every INTERVAL ms, for SECONDS; the collector (SQLite, durability
#   full) is killed with SIGKILL every 10 +/- 5 s and restarted on the same
#   database and port (0.5 s later). Then the kills stop, the agents drain
#   their backlogs, and the oracle (`plumbline-load-gen verify`) compares
#   every sample produced with what the store holds.
#
# Prints: kills, batches and samples produced, the time from the last restart
# until every agent was caught up (oldest unacknowledged batch younger than
# 3 intervals; goal <= 60 s), the collector's peak RSS, and lost and
# duplicated batches and samples from the oracle (goal: 0 and 0).
#
#   bench/reliability.sh [SECONDS] [AGENTS] [SERIES] [INTERVAL_MS]
#   # defaults: 600 1000 100 1000 (the 10-minute run of docs/reliability.md)
#
# Builds the release preset if needed; PLUMBLINE_BUILD=build/debug for another.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}
agents=${2:-1000}
series=${3:-100}
interval_ms=${4:-1000}

build=${PLUMBLINE_BUILD:-build/release}
if [[ ! -x $build/tools/plumbline-load-gen && $build == build/release ]]; then
  cmake --preset release >/dev/null && cmake --build --preset release -j2 \
    --target plumbline-collector plumbline-load-gen >/dev/null
fi
collector_bin=$build/collector/plumbline-collector
load_bin=$build/tools/plumbline-load-gen

work=$(mktemp -d /tmp/plumbline-reliability.XXXXXX)
collector_pid=
load_pid=
sampler_pid=
cleanup() {
  for p in $sampler_pid $load_pid $collector_pid; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# Starts the collector on $1 (host:port; port 0 the first time) and waits
# until it serves; sets collector_pid and address.
start_collector() {
  rm -f "$work/ready"
  "$collector_bin" --listen "$1" --http-listen "" --db "$work/collector.db" \
    --ready-file "$work/ready" --log-level warn >>"$work/collector.log" 2>&1 &
  collector_pid=$!
  for _ in $(seq 1 600); do
    [[ -s $work/ready ]] && break
    kill -0 "$collector_pid" 2>/dev/null || { echo "collector died:"; tail "$work/collector.log"; exit 1; }
    sleep 0.05
  done
  [[ -s $work/ready ]] || { echo "collector did not start"; exit 1; }
  address=$(sed -E 's/.*"grpc": "([^"]+)".*/\1/' "$work/ready")
}

start_collector 127.0.0.1:0
port_address=$address  # every restart reuses the port the OS gave the first start
echo "collector on $address; $agents agents x $series series every $interval_ms ms for $duration s"

# Peak RSS of whichever collector runs, sampled every second.
(
  peak=0
  while true; do
    pid=$(sed -E 's/.*"pid": ([0-9]+).*/\1/' "$work/ready" 2>/dev/null || true)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    ((rss > peak)) && peak=$rss && echo "$peak" >"$work/peak_rss"
    sleep 1
  done
) &
sampler_pid=$!

channels=$(((agents + 49) / 50))
"$load_bin" run --collector "$address" --agents "$agents" --series "$series" --interval "$interval_ms" \
  --duration "$duration" --drain-timeout 600 --channels "$channels" --report "$work/report.json" \
  >"$work/load.log" 2>&1 &
load_pid=$!
started_ms=$(now_ms)

kills=0
last_restart_ms=$started_ms
# Kill every 10 +/- 5 s while the agents produce; the last kill at least 5 s
# before they stop.
while (($(now_ms) - started_ms + 15000 < duration * 1000)); do
  sleep "$((5 + RANDOM % 11))"
  ((($(now_ms) - started_ms + 5000 < duration * 1000))) || break
  kill -9 "$collector_pid"
  wait "$collector_pid" 2>/dev/null || true
  kills=$((kills + 1))
  sleep 0.5
  start_collector "$port_address"
  last_restart_ms=$(now_ms)
done
echo "kills: $kills; last restart $(((last_restart_ms - started_ms) / 1000)) s into the run"

load_rc=0
wait "$load_pid" || load_rc=$?
load_pid=
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
kill -TERM "$collector_pid"
wait "$collector_pid" || true
collector_pid=

# Caught up: the first status line after the last restart whose oldest
# unacknowledged batch is younger than 3 intervals.
catch_up_limit=$((3 * interval_ms))
catch_up_ms=$(awk -v since="$last_restart_ms" -v limit="$catch_up_limit" '
  /^status / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["t_ms"] > since && v["oldest_unacked_age_ms"] <= limit) { print v["t_ms"] - since; exit }
  }' "$work/load.log")
if [[ -z $catch_up_ms && -s $work/report.json ]]; then
  # Still behind when the agents stopped producing: caught up when the
  # backlog was drained.
  production_s=$(sed -nE 's/.*"production_s": ([0-9.]+).*/\1/p' "$work/report.json")
  drain_s=$(sed -nE 's/.*"drain_s": ([0-9.-]+).*/\1/p' "$work/report.json")
  catch_up_ms=$(awk -v s="$started_ms" -v p="$production_s" -v d="$drain_s" -v r="$last_restart_ms" \
    'BEGIN { if (d >= 0) printf "%d", s + (p + d) * 1000 - r }')
fi
max_backlog=$(awk -v since="$last_restart_ms" '
  /^status / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if (v["t_ms"] > since && v["unacked"] > m) m = v["unacked"]
  } END { print m + 0 }' "$work/load.log")

grep '^load-gen:' "$work/load.log" || true
echo "load generator exit code: $load_rc (0: every batch acknowledged)"
echo "backlog after the last restart: up to $max_backlog unacknowledged batches;" \
  "caught up after ${catch_up_ms:-never} ms (goal <= 60000)"
echo "collector peak RSS: $(($(cat "$work/peak_rss" 2>/dev/null || echo 0) / 1024)) MiB;" \
  "database $(du -m "$work/collector.db" | cut -f1) MiB"
verify_rc=0
"$load_bin" verify --db "$work/collector.db" --report "$work/report.json" || verify_rc=$?
echo "oracle exit code: $verify_rc (0: nothing lost, nothing duplicated, integrity ok)"
