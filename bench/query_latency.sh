#!/usr/bin/env bash
# Query latency of plumb's report, impact and chargeback commands over a
# 30-day window of a 1,000-host fleet, on the embedded SQLite store.
#
# plumbline-fleet-sim builds the fleet (10 business units, 100 services,
# 1,000 hosts, one shared; two incidents; a price change) and sends 30 days of
# history through the collector's real ingest API: host usage hourly, request
# counters every 15 minutes. Once the collector has rolled it all up, each
# command runs several times and the script prints min / median / max wall
# time, the store size and the ingest and rollup times.
#
# The 30-day service report (plumb report: the last 30 whole days) is timed
# three ways: the first time after the collector starts (its background
# warm-up off: every day read from the rollups), then as it runs (the days
# kept in the day cache), and computed from raw points (the collector
# restarted with storage.query_rollups: false; raw samples are kept for the
# whole history here). RAW_RUNS (default 1) sets how often the last runs.
#
#   bench/query_latency.sh [HOSTS] [DAYS] [RUNS]      # default 1000 30 5
#
# QUERY_BENCH_KEEP=DIR keeps the catalog and the store in DIR afterwards (to
# profile queries against them without building the fleet again).
#
# Builds the release preset if needed (PLUMBLINE_BUILD=dir for another build).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-1000}
days=${2:-30}
runs=${3:-5}
services=$((hosts / 10))
units=10

command -v sqlite3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null
build=${PLUMBLINE_BUILD:-build/release}
if [[ $build == build/release ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target plumbline-collector plumb plumbline-fleet-sim >/dev/null
fi
collector_bin=$build/collector/plumbline-collector
plumb_bin=$build/cli/plumb
sim_bin=$build/tools/plumbline-fleet-sim

work=$(mktemp -d /tmp/plumbline-query-bench.XXXXXX)
collector_pid=
cleanup() {
  [[ -n $collector_pid ]] && kill -TERM "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
  if [[ -n ${QUERY_BENCH_KEEP:-} ]]; then
    mkdir -p "$QUERY_BENCH_KEEP" && cp "$work"/catalog.yaml "$work"/collector.db* "$QUERY_BENCH_KEEP"/
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$sim_bin" catalog --hosts "$hosts" --services "$services" --units "$units" >"$work/catalog.yaml"
# Raw samples kept for the whole history, so that the report can also be
# computed from them; the background warm-up off, to time a cold report.
keep="$((days + 10))d"
write_config() { # QUERY_ROLLUPS
  cat >"$work/collector.yaml" <<YAML
storage:
  retention: {raw: $keep, minute: $keep, hour: 400d}
  query_rollups: $1
  report_warm_interval: 0s
YAML
}
# start_collector: (re)starts it on the store; sets address.
start_collector() {
  rm -f "$work/ready"
  "$collector_bin" --config "$work/collector.yaml" --listen 127.0.0.1:0 --http-listen "" \
    --db "$work/collector.db" --catalog "$work/catalog.yaml" --ready-file "$work/ready" \
    >>"$work/collector.log" 2>&1 &
  collector_pid=$!
  for _ in $(seq 600); do [[ -s $work/ready ]] && break; sleep 0.1; done
  address=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$work/ready")
}
stop_collector() {
  kill -TERM "$collector_pid" && wait "$collector_pid" || true
  collector_pid=
}
write_config true
start_collector
plumb() { "$plumb_bin" --collector "$address" --timeout 3600 "$@"; }

echo "== $hosts hosts, $services services, $units business units, $days days of history"
start=$(date +%s.%N)
"$sim_bin" run --collector "$address" --hosts "$hosts" --services "$services" --units "$units" \
  --days "$days" --step 3600 --sli-step 900 --threads 4
ingest_s=$(echo "$(date +%s.%N) - $start" | bc)

# Rolled up: no late minutes or hours left to recompute, the minute watermark within
# the grace and the 10-minute step of now (queries compute minutes after it
# from raw samples), and every closed window of raw samples merged.
query() { sqlite3 "file:$work/collector.db?mode=ro" "$1" 2>/dev/null || echo -1; }
start=$(date +%s.%N)
while :; do
  now_ms=$(($(date +%s) * 1000))
  dirty=$(query 'SELECT (SELECT count(*) FROM dirty_minutes) + (SELECT count(*) FROM dirty_hours)')
  behind=$(query "SELECT count(*) FROM rollup_state WHERE name = 'minute_watermark' AND value < $now_ms - 1320000")
  unmerged=$(query "SELECT count(*) FROM sample_blocks WHERE shard = -1 AND win < $now_ms - 1320000")
  [[ $dirty == 0 && $behind == 0 && $unmerged == 0 ]] && break
  sleep 5
done
rollup_s=$(echo "$(date +%s.%N) - $start" | bc)
db_mb=$(du -sm "$work" | cut -f1)
wal_mb=$(du -sm "$work/collector.db-wal" 2>/dev/null | cut -f1)
echo "write-ahead log at that point: ${wal_mb:-0} MB"
printf 'ingest %.0f s, rollups caught up %.0f s later, store %s MB\n' "$ingest_s" "$rollup_s" "$db_mb"

incident=$(plumb --json incidents --since "${days}d" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[-1]["id"] if d else "")')
month=$(date -u +%Y-%m)

# time_runs LABEL ARGS...: min / median / max wall seconds over $runs runs.
time_runs() {
  local label=$1
  shift
  local times=()
  for _ in $(seq "${n:-$runs}"); do
    local t0 t1
    t0=$(date +%s.%N)
    plumb "$@" >/dev/null
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" '
    { t[NR] = $1 } END { printf "%-46s min %7.3f s  median %7.3f s  max %7.3f s\n",
                         label, t[1], t[int((NR + 1) / 2)], t[NR] }' | tee -a "$work/times"
}
median_of() { grep -F "$1" "$work/times" | tail -1 | sed -E 's/.* median +([0-9.]+) s .*/\1/'; }

# The 30-day service report: cold (first after a restart), kept, from raw.
stop_collector
start_collector
n=1 time_runs "plumb report (first after start: rollups)" report
time_runs "plumb report (days kept)" report
time_runs "plumb report --from -${days}d (days kept, 2 partial)" report --from "-${days}d"
time_runs "plumb impact --from -${days}d (every service)" impact --from "-${days}d"
time_runs "plumb impact --from -${days}d --unit demo-retail" impact --from "-${days}d" --unit demo-retail
[[ -n $incident ]] && time_runs "plumb impact $incident" impact "$incident"
time_runs "plumb chargeback --from -${days}d" chargeback --from "-${days}d"
time_runs "plumb chargeback --month $month" chargeback --month "$month"
time_runs "plumb incidents --since ${days}d" incidents --since "${days}d"

stop_collector
write_config false
start_collector
n=${RAW_RUNS:-1} time_runs "plumb report (from raw points)" report
raw=$(median_of "from raw points")
cold=$(median_of "first after start")
kept=$(median_of "(days kept)")
echo "report from raw points / from rollups: $(echo "scale=1; $raw / $cold" | bc)x first after start, $(echo "scale=1; $raw / $kept" | bc)x with days kept"
