#!/usr/bin/env bash
# Bytes on disk per sample, after compaction, for host metrics at 10 s
# (issue 5: at most 2 bytes per sample for the whole file).
#
# plumbline-load-gen --shape host (tools/load_series.h: CPU, memory,
# network, disk and file-system series as node_exporter names them) sends
# AGENTS agents x SERIES series at a 10 s interval, HOURS hours of history
# (timestamps from HOURS ago up to now, sent at max rate), to the release
# collector on a fresh SQLite store with its default settings. The script
# then waits until maintenance has done everything it does to that data:
# every closed 10-minute window of raw samples merged, every settled minute
# rolled up into minute and hour rollups, no late minute left to recompute.
# It stops the collector cleanly, runs VACUUM (a store that keeps running
# reuses its free pages; the figure is what the data takes), and prints the
# whole file and each table and index per acknowledged sample (batch
# identities: batch_ranges, one row per run of consecutive sequences).
#
#   bench/disk_bytes.sh [AGENTS] [SERIES] [HOURS]      # defaults: 20 103 24
#
# 103 series is what the agent sends by default on a small host. Nothing is
# deleted by retention within the defaults (raw samples are kept 7 days), so
# every sample is on disk three times: raw, in its minute and in its hour.
#
# With the default retention (raw 7 days, minutes 35, hours 400) every sample
# of the first week is on disk three times; after that raw samples go and
# each day costs its minutes and hours alone. DISK_BENCH_RAW_RETENTION and
# DISK_BENCH_MINUTE_RETENTION (durations, e.g. 288m and 25h) show that
# steady state in scale: HOURS of history standing for the 35 days of
# minutes, raw kept for the same fifth of it as 7 days are of 35. The history
# is sent and settled with the default retention first (as data arrives on
# time, each minute is complete before its raw samples expire); then the
# collector restarts with the given retention, and the script waits until
# retention has deleted the raw samples past their cutoff.
#
# Environment: PLUMBLINE_BUILD (build/release), DISK_BENCH_KEEP=DIR keeps the
# store in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-20}
series=${2:-103}
hours=${3:-24}

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binaries disk_bytes.sh

work=$(mktemp -d /tmp/plumbline-disk.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${DISK_BENCH_KEEP:-} ]]; then
    mkdir -p "$DISK_BENCH_KEEP"
    cp "$work/collector.db" "$DISK_BENCH_KEEP/" 2>/dev/null || true
    echo "kept: $DISK_BENCH_KEEP/collector.db"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raw_retention=${DISK_BENCH_RAW_RETENTION:-}
minute_retention=${DISK_BENCH_MINUTE_RETENTION:-}
cat >"$work/collector.yaml" <<EOF
storage:
  backend: sqlite
  path: $work/collector.db
EOF
if [[ -n $raw_retention || -n $minute_retention ]]; then
  {
    cat "$work/collector.yaml"
    echo "  retention:"
    [[ -n $raw_retention ]] && echo "    raw: $raw_retention"
    [[ -n $minute_retention ]] && echo "    minute: $minute_retention"
  } >"$work/retention.yaml"
fi
# The raw retention in ms (0: the default, 7 days, longer than any run).
raw_ms=0
if [[ -n $raw_retention ]]; then
  raw_ms=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", sys.argv[1])
if not m: sys.exit("DISK_BENCH_RAW_RETENTION: a number and ms, s, m, h or d")
print(int(m[1]) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[m[2]])' \
    "$raw_retention")
fi
bench_start_collector "$work/collector.yaml" "127.0.0.1:0" "$work"
address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' \
  "$work/collector.ready")

echo "disk bytes: $agents agents x $series series (host metrics, 10 s), $hours h of history"
start=$(date +%s)
# Each agent stops at the wall clock: HOURS * 360 batches, then real time.
"$load_bin" run --collector "$address" --agents "$agents" --series "$series" \
  --interval 10000 --max-rate --shape host --start-ago $((hours * 3600)) \
  --duration $((hours * 360 * agents / 1000 + 30)) --drain-timeout 60 \
  --status-every 30 | grep -v '^  summary' || true
echo "sent in $(($(date +%s) - start)) s"

# Done when no closed window is unmerged, no late minute is left, and the
# minute watermark is within the grace and step of now; with $1 = expired,
# also no raw sample is left past the retention.
query() { sqlite3 "file:$work/collector.db?mode=ro" "$1" 2>/dev/null || echo -1; }
settle() {
  start=$(date +%s)
  while :; do
    now_ms=$(($(date +%s) * 1000))
    unmerged=$(query "SELECT count(*) FROM sample_blocks WHERE shard = -1 AND win < $now_ms - 1320000")
    dirty=$(query "SELECT count(*) FROM dirty_minutes")
    behind=$(query "SELECT count(*) FROM rollup_state WHERE name = 'minute_watermark' AND value < $now_ms - 1320000")
    # Raw samples past the retention (with two windows' slack for the
    # lookback and whole windows) are gone.
    expired=0
    if [[ ${1:-} == expired ]] && ((raw_ms > 0)); then
      expired=$(query "SELECT count(*) FROM sample_blocks WHERE win < $now_ms - $raw_ms - 1200000")
    fi
    [[ $unmerged == 0 && $dirty == 0 && $behind == 0 && $expired == 0 ]] && break
    kill -0 "$collector_pid" 2>/dev/null || { echo "collector died"; tail "$work/collector.log"; exit 1; }
    sleep 5
  done
  echo "maintenance caught up $(($(date +%s) - start)) s later"
  kill -TERM "$collector_pid"
  wait "$collector_pid" 2>/dev/null || true
}
settle
if [[ -e $work/retention.yaml ]]; then
  echo "restarting with retention${raw_retention:+ raw $raw_retention}${minute_retention:+ minute $minute_retention}"
  rm -f "$work/collector.ready"
  bench_start_collector "$work/retention.yaml" "127.0.0.1:0" "$work"
  settle expired
fi

samples=$(query "SELECT sum(samples) FROM agents")
sqlite3 "$work/collector.db" 'PRAGMA wal_checkpoint(TRUNCATE); VACUUM;' >/dev/null
python3 - "$work/collector.db" "$samples" <<'EOF'
import os, sqlite3, sys
path, samples = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
size = os.path.getsize(path)
print(f"samples acknowledged {samples:,}")
kept = db.execute("SELECT coalesce(sum(samples), 0) FROM sample_blocks").fetchone()[0]
print(f"raw samples still on disk {kept:,} ({kept / samples:.1%})")
print(f"{'whole file':<32}{size / 1e6:10.1f} MB {size / samples:8.3f} B/sample")
for name, b in rows:
    if b / samples >= 0.001:
        print(f"  {name:<30}{b / 1e6:10.1f} MB {b / samples:8.3f} B/sample")
minutes = db.execute("SELECT coalesce(sum(buckets), 0), count(*) FROM rollup_1m_blocks").fetchone()
hours = db.execute("SELECT coalesce(sum(buckets), 0), count(*) FROM rollup_1h_blocks").fetchone()
print(f"minute rollups {minutes[0]:,} in {minutes[1]:,} blobs; hour rollups {hours[0]:,} in {hours[1]:,} blobs")
ranges = db.execute("SELECT coalesce(sum(last_sequence - first_sequence + 1), 0), count(*) "
                    "FROM batch_ranges").fetchone()
print(f"batch identities {ranges[0]:,} in {ranges[1]:,} ranges (batch_ranges)")
print(f"result {{\"samples\": {samples}, \"file_bytes\": {size}, \"bytes_per_sample\": {size / samples:.4f}}}")
EOF
