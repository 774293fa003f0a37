#!/usr/bin/env bash
# Ingest throughput: Plumbline's collector against Prometheus' remote-write
# receiver, the same load offered to each in turn (issue 5).
#
# plumbline-load-gen simulates AGENTS agents x SERIES host-metric series
# (tools/load_series.h, --shape host: CPU, memory, network, disk and
# file-system series as node_exporter names them, 10 s resolution), every
# agent sending its next batch as soon as the receiver acknowledges (max
# rate, bounded in flight), timestamps advancing 10 s per batch from
# START_AGO seconds in the past. For SECONDS each:
#   1. the release collector on a fresh SQLite store, default settings
#      (durable acknowledgements: every batch fsynced before its ack), over
#      its gRPC ingest stream;
#   2. Debian's prometheus (2.42) with --web.enable-remote-write-receiver on
#      a fresh TSDB, over remote write 1.0 (snappy protobuf over HTTP).
#
# Prints for each: acknowledged samples/s over the measured window, the ratio
# Plumbline/Prometheus, the server's peak RSS (VmHWM, and the highest VmRSS
# sampled every 0.5 s), its CPU seconds during the run, and its bytes on disk
# per acknowledged sample (SQLite file + WAL + SHM vs the TSDB directory) when
# the load ends and again after a clean stop. Goal (issue 5): >= 1,000,000
# samples/s at 1,000 agents x 500 series for 60 s, and >= 2x Prometheus.
#
#   bench/ingest.sh [SECONDS] [AGENTS] [SERIES]     # defaults: 60 1000 500
#
# Environment: PLUMBLINE_BUILD (build/release), INGEST_DURABILITY (full or
# relaxed, default full), INGEST_IN_FLIGHT (batches in flight per agent on
# the gRPC stream; default 4096/2/AGENTS within 1..32, which keeps every
# agent's batches within the collector's queue), INGEST_CHANNELS (gRPC
# connections, default one per 50 agents), INGEST_CONNECTIONS (HTTP
# connections to Prometheus, default 16), INGEST_START_AGO (seconds, default
# 21600), INGEST_ONLY (plumbline or prometheus: run one side only),
# INGEST_KEEP (set: keep the work directory, stores included),
# INGEST_MAINTENANCE_INTERVAL (the collector's storage.maintenance_interval,
# default its own 10s; e.g. 1h keeps roll-ups out of the run, a diagnostic of
# the ingest path alone, not a configuration to compare with).
#
# INGEST_BACKEND=postgres stores the Plumbline side in PostgreSQL instead of
# SQLite (storage.backend: postgres): a throwaway cluster of Debian's
# postgresql (the newest /usr/lib/postgresql/*/bin, or INGEST_PG_BIN),
# initdb'd in a temporary directory and started with pg_ctl on a free
# loopback port (as user nobody when run as root), with PostgreSQL's default
# settings, so fsync on, synchronous_commit on (the collector's durability
# full), shared_buffers 128MB. INGEST_PG_SETTINGS adds postgresql.conf lines
# (e.g. "fsync = off"). Then the collector's CPU and RSS columns are the
# collector's alone, and these lines follow: PostgreSQL's CPU seconds (its
# postmaster and every backend and background process, exited ones
# included), its peak memory (the sum of PSS over its processes, sampled
# every 0.5 s: shared buffers counted once), and its data directory's
# growth over the empty cluster (base/ and pg_wal/, as "on disk") per
# acknowledged sample, with pg_wal's share and pg_database_size. The cluster
# is stopped and deleted on exit.
#
# Installs Debian's prometheus package if missing (without starting its
# service), and postgresql for INGEST_BACKEND=postgres (scripts/install-deps.sh
# keeps both from starting system services); builds the release binaries if
# missing. Everything it starts is killed and its temporary directory removed
# on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
agents=${2:-1000}
series=${3:-500}
interval_ms=10000
durability=${INGEST_DURABILITY:-full}
in_flight=${INGEST_IN_FLIGHT:-$((4096 / 2 / agents))}
((in_flight < 1)) && in_flight=1
((in_flight > 32)) && in_flight=32
channels=${INGEST_CHANNELS:-$(((agents + 49) / 50))}
connections=${INGEST_CONNECTIONS:-16}
start_ago=${INGEST_START_AGO:-21600}
only=${INGEST_ONLY:-}
maintenance_interval=${INGEST_MAINTENANCE_INTERVAL:-}
backend=${INGEST_BACKEND:-sqlite}
case $backend in
  sqlite | postgres) ;;
  *) echo "ingest.sh: INGEST_BACKEND must be sqlite or postgres, not \"$backend\"" >&2; exit 2 ;;
esac

# --- prerequisites -------------------------------------------------------------
# Debian's prometheus comes with the project's dependencies (its service is
# not started: install-deps keeps invoke-rc.d from starting it).
if ! command -v prometheus >/dev/null 2>&1 && [[ $only != plumbline ]]; then
  scripts/install-deps.sh
fi
# The newest PostgreSQL server binaries (initdb, pg_ctl), as the store
# conformance tests find them (tests/store_conformance/postgres_server.cpp).
pg_bin_dir() {
  if [[ -n ${INGEST_PG_BIN:-} ]]; then
    echo "$INGEST_PG_BIN"
    return
  fi
  local d v best='' best_v=-1
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/pg_ctl ]] || continue
    v=${d#/usr/lib/postgresql/}
    v=${v%%[!0-9]*}
    if ((${v:-0} > best_v)); then
      best=$d
      best_v=${v:-0}
    fi
  done
  echo "$best"
}
pg_bin=
if [[ $backend == postgres && $only != prometheus ]]; then
  pg_bin=$(pg_bin_dir)
  if [[ -z $pg_bin ]]; then
    scripts/install-deps.sh
    pg_bin=$(pg_bin_dir)
  fi
  [[ -n $pg_bin ]] || { echo "ingest.sh: no PostgreSQL server binaries (initdb, pg_ctl)" >&2; exit 1; }
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_binaries ingest.sh

work=$(mktemp -d /tmp/plumbline-ingest.XXXXXX)
pids=()
pg_dir=      # the PostgreSQL cluster's directory, once created
pg_user=     # who runs it (empty: this user)
pg_started=0
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((pg_started)); then
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  fi
  if [[ -n $pg_dir ]]; then
    if [ -n "${INGEST_KEEP:-}" ]; then echo "kept: $pg_dir"; else rm -rf "$pg_dir"; fi
  fi
  if [ -n "${INGEST_KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
as_pg_user() {
  if [[ -n $pg_user ]]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
clock_ticks=$(getconf CLK_TCK)
# utime + stime of a live process, in seconds.
cpu_seconds() {
  awk -v hz="$clock_ticks" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
# Samples VmRSS of $1 every 0.5 s; the highest, in KiB, goes to file $2, and
# every sample ("seconds since the start, KiB") to $2.series.
sample_rss() {
  local pid=$1 out=$2 peak=0 rss start=$EPOCHREALTIME
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    awk -v a="$EPOCHREALTIME" -v b="$start" -v r="${rss:-0}" 'BEGIN { printf "%.1f %d\n", a - b, r }' \
      >>"$out.series"
    if ((${rss:-0} > peak)); then
      peak=$rss
      echo "$peak" >"$out"
    fi
    sleep 0.5
  done
}
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
bytes_of() { du -sb "$@" 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# PostgreSQL's processes: the postmaster $1 and its children.
pg_pids() { echo "$1"; ps -o pid= --ppid "$1" 2>/dev/null || true; }
# CPU seconds of the cluster whose postmaster is $1: its own and its exited
# children's (reaped, so in cutime + cstime), plus its live children's.
pg_cpu_seconds() {
  local p
  for p in $(pg_pids "$1"); do
    if [[ $p == "$1" ]]; then
      awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null
    else
      awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null
    fi
  done | awk -v hz="$clock_ticks" '{ s += $1 } END { printf "%.2f", s / hz }'
}
# Samples the sum of PSS over the cluster's processes every 0.5 s while the
# file $3 exists; the highest, in KiB, goes to file $2.
sample_pg_pss() {
  local pm=$1 out=$2 flag=$3 peak=0 pss
  while [[ -e $flag ]] && kill -0 "$pm" 2>/dev/null; do
    pss=$(for p in $(pg_pids "$pm"); do
      awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null
    done | awk '{ s += $1 } END { print s + 0 }')
    if ((${pss:-0} > peak)); then
      peak=$pss
      echo "$peak" >"$out"
    fi
    sleep 0.5
  done
}
load_common=(--agents "$agents" --series "$series" --interval "$interval_ms" --max-rate
  --shape host --start-ago "$start_ago" --duration "$duration" --drain-timeout 60
  --status-every 5)

echo "ingest benchmark: $agents agents x $series series (host metrics, 10 s per batch)," \
  "max rate, $duration s each; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs the load generator against the server $1 (pid) named $2 with the
# target arguments that follow; leaves results in $work/$2.*.
measure() {
  local pid=$1 name=$2
  shift 2
  sample_rss "$pid" "$work/$name.rss" &
  pids+=($!)
  local cpu_before
  cpu_before=$(cpu_seconds "$pid")
  local rc=0
  "$load_bin" run "$@" "${load_common[@]}" >"$work/$name.load.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$name.load_rc"
  awk -v a="$(cpu_seconds "$pid")" -v b="$cpu_before" 'BEGIN { printf "%.1f", a - b }' \
    >"$work/$name.cpu"
  hwm_kib "$pid" >"$work/$name.hwm"
  grep -E '^(load-gen|summary)' "$work/$name.load.log" | sed "s/^/  /" || true
  if [[ $rc -ne 0 ]]; then
    echo "  (load generator exit code $rc; last lines of its log:)"
    { grep -vE '^(status|summary|load-gen)' "$work/$name.load.log" || true; } | tail -5 |
      sed "s/^/    /"
  fi
}

# Sends SIGTERM to $1 and waits up to 60 s for it to exit.
stop_server() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# --- Plumbline -------------------------------------------------------------------
# A throwaway PostgreSQL cluster for INGEST_BACKEND=postgres: initdb as an
# unprivileged user in its own temporary directory, pg_ctl start on a free
# port (another try if the port was taken meanwhile), database plumbline.
start_postgres() {
  pg_dir=$(mktemp -d /tmp/plumbline-ingest-pg.XXXXXX)
  if [[ $(id -u) -eq 0 ]]; then
    pg_user=nobody  # PostgreSQL refuses to run as root
    chown "$pg_user:" "$pg_dir"
  fi
  chmod 700 "$pg_dir"
  if ! as_pg_user "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --no-locale \
    --no-sync >"$pg_dir/initdb.log" 2>&1; then
    echo "initdb failed:"; tail "$pg_dir/initdb.log"; exit 1
  fi
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$pg_dir'"
    if [[ -n ${INGEST_PG_SETTINGS:-} ]]; then printf '%s\n' "$INGEST_PG_SETTINGS"; fi
  } | as_pg_user tee -a "$pg_dir/data/postgresql.conf" >/dev/null
  for _ in 1 2 3; do
    pg_port=$(free_port)
    if as_pg_user "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
      -o "-p $pg_port" start >>"$pg_dir/pg_ctl.log" 2>&1; then
      pg_started=1
      break
    fi
  done
  ((pg_started)) || { echo "pg_ctl start failed:"; tail "$pg_dir/pg_ctl.log" "$pg_dir/server.log"; exit 1; }
  pg_postmaster=$(head -1 "$pg_dir/data/postmaster.pid")
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres plumbline
  pg_dsn="host=127.0.0.1 port=$pg_port user=postgres dbname=plumbline"
}
pg_query() { "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d plumbline -Atqc "$1"; }

if [[ $only != prometheus ]]; then
  mkdir -p "$work/plumbline"
  port=$(free_port)
  if [[ $backend == postgres ]]; then
    start_postgres
    pg_query CHECKPOINT
    bytes_of "$pg_dir/data" >"$work/plumbline.pg_base"
    cat >"$work/collector.yaml" <<EOF
storage:
  backend: postgres
  dsn: "$pg_dsn"
  durability: $durability
EOF
  else
    cat >"$work/collector.yaml" <<EOF
storage:
  backend: sqlite
  path: $work/plumbline/collector.db
  durability: $durability
EOF
  fi
  if [[ -n $maintenance_interval ]]; then
    echo "  maintenance_interval: $maintenance_interval" >>"$work/collector.yaml"
  fi
  bench_start_collector "$work/collector.yaml" "127.0.0.1:$port" "$work"
  if [[ $backend == postgres ]]; then
    store_name="PostgreSQL $(pg_query 'SHOW server_version') on 127.0.0.1:$pg_port"
    store_name+=" (fsync $(pg_query 'SHOW fsync'), shared_buffers $(pg_query 'SHOW shared_buffers'))"
  else
    store_name=SQLite
  fi
  echo "plumbline-collector ($store_name, durability $durability${maintenance_interval:+, maintenance every $maintenance_interval}) on 127.0.0.1:$port;" \
    "$channels gRPC connections, $in_flight batches in flight per agent"
  if [[ $backend == postgres ]]; then
    touch "$work/pg.sampling"
    sample_pg_pss "$pg_postmaster" "$work/plumbline.pg_pss" "$work/pg.sampling" &
    pids+=($!)
    pg_cpu_before=$(pg_cpu_seconds "$pg_postmaster")
  fi
  # gRPC's own default connect timeout (20 s): the load generator's 100 ms,
  # made for fast reconnects in the crash tests, gives up on handshakes that
  # a collector taking on 1,000 streams at once answers later.
  measure "$collector_pid" plumbline --target plumbline --collector "127.0.0.1:$port" \
    --channels "$channels" --max-in-flight "$in_flight" --connect-timeout 20000
  if [[ $backend == postgres ]]; then
    awk -v a="$(pg_cpu_seconds "$pg_postmaster")" -v b="$pg_cpu_before" \
      'BEGIN { printf "%.1f", a - b }' >"$work/plumbline.pg_cpu"
    rm -f "$work/pg.sampling"
    # On disk: what the cluster's data directory grew by (WAL included).
    echo $(($(bytes_of "$pg_dir/data") - $(cat "$work/plumbline.pg_base"))) \
      >"$work/plumbline.disk_running"
    bytes_of "$pg_dir/data/pg_wal" >"$work/plumbline.pg_wal_running"
    pg_query "SELECT pg_database_size('plumbline')" >"$work/plumbline.pg_db_running"
    stop_server "$collector_pid"
    pg_query "SELECT pg_database_size('plumbline')" >"$work/plumbline.pg_db_stopped"
    # A clean stop of the cluster too (a shutdown checkpoint).
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w -t 120 stop >/dev/null
    pg_started=0
    echo $(($(bytes_of "$pg_dir/data") - $(cat "$work/plumbline.pg_base"))) \
      >"$work/plumbline.disk_stopped"
  else
    bytes_of "$work/plumbline" >"$work/plumbline.disk_running"
    stop_server "$collector_pid"
    bytes_of "$work/plumbline" >"$work/plumbline.disk_stopped"
  fi
fi

# --- Prometheus ------------------------------------------------------------------
if [[ $only != plumbline ]]; then
  mkdir -p "$work/prometheus"
  port=$(free_port)
  printf 'global:\n  scrape_interval: 1m\n' >"$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --web.enable-remote-write-receiver \
    --storage.tsdb.path="$work/prometheus" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >"$work/prometheus.log" 2>&1 &
  prometheus_pid=$!
  pids+=("$prometheus_pid")
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
    kill -0 "$prometheus_pid" 2>/dev/null || { echo "prometheus died:"; tail "$work/prometheus.log"; exit 1; }
    sleep 0.1
  done
  echo "$(prometheus --version 2>&1 | head -1) on 127.0.0.1:$port; $connections HTTP connections"
  measure "$prometheus_pid" prometheus --target prometheus \
    --url "http://127.0.0.1:$port/api/v1/write" --connections "$connections"
  bytes_of "$work/prometheus" >"$work/prometheus.disk_running"
  blocks=$(find "$work/prometheus" -maxdepth 2 -name meta.json | wc -l)
  stop_server "$prometheus_pid"
  bytes_of "$work/prometheus" >"$work/prometheus.disk_stopped"
  echo "  prometheus cut $blocks persistent block(s) during the run"
fi

# --- results ---------------------------------------------------------------------
report() {
  python3 - "$work" "$agents" "$series" "$duration" "$durability" "$only" "$backend" <<'EOF'
import json, sys
work, agents, series, duration, durability, only, backend = sys.argv[1:8]
def read(name, kind, default=0.0):
    try:
        return float(open(f"{work}/{name}.{kind}").read().split()[0])
    except (OSError, ValueError, IndexError):
        return default
def summary(name):
    try:
        for line in open(f"{work}/{name}.load.log"):
            if line.startswith("summary "):
                return json.loads(line[len("summary "):])
    except OSError:
        pass
    return None
sides = [s for s in ("plumbline", "prometheus") if only in ("", s)]
rows = {}
for s in sides:
    sm = summary(s)
    if sm is None:
        continue
    acked = sm["samples_acked"]
    rows[s] = {
        "samples_per_s": sm["samples_per_s"],
        "samples_acked": acked,
        "errors": sm["errors"],
        "samples_dropped": sm["samples_dropped"],
        "samples_unacked": sm["samples_unacked"],
        "peak_rss_mib": max(read(s, "hwm"), read(s, "rss")) / 1024,
        "cpu_s": read(s, "cpu"),
        "load_gen_cpu_s": sm["load_gen_cpu_s"],
        "disk_bytes_running": read(s, "disk_running"),
        "disk_bytes_stopped": read(s, "disk_stopped"),
        "bytes_per_sample_running": read(s, "disk_running") / acked if acked else 0,
        "bytes_per_sample_stopped": read(s, "disk_stopped") / acked if acked else 0,
    }
print()
print(f"{'':38s}" + "".join(f"{s:>16s}" for s in rows))
def line(label, key, fmt):
    print(f"{label:38s}" + "".join(f"{format(r[key], fmt):>16s}" for r in rows.values()))
line("samples/s (acknowledged, window)", "samples_per_s", ",.0f")
line("samples acknowledged (with drain)", "samples_acked", ",")
line("errors (failed attempts)", "errors", ",")
line("  dropped samples", "samples_dropped", ",")
line("  never acknowledged samples", "samples_unacked", ",")
line("server peak RSS (MiB)", "peak_rss_mib", ",.0f")
# Memory under the sustained load: RSS at each quarter of the run, and the
# least-squares slope over its second half.
def rss_series(name):
    try:
        return [tuple(map(float, l.split())) for l in open(f"{work}/{name}.rss.series") if l.strip()]
    except OSError:
        return []
for s, r in rows.items():
    run = float(duration)
    pts = [(t, kib / 1024) for t, kib in rss_series(s) if t <= run]
    at = lambda f: min(pts, key=lambda p: abs(p[0] - f * run))[1] if pts else 0
    for q in (1, 2, 3, 4):
        r[f"rss_q{q}_mib"] = at(q / 4)
    half = [p for p in pts if p[0] >= run / 2]
    slope = 0.0
    if len(half) >= 2:
        mt = sum(p[0] for p in half) / len(half)
        mr = sum(p[1] for p in half) / len(half)
        den = sum((p[0] - mt) ** 2 for p in half)
        slope = sum((p[0] - mt) * (p[1] - mr) for p in half) / den * 60 if den else 0.0
    r["rss_slope_mib_per_min"] = slope
line("  RSS a quarter into the run (MiB)", "rss_q1_mib", ",.0f")
line("  RSS halfway (MiB)", "rss_q2_mib", ",.0f")
line("  RSS three quarters in (MiB)", "rss_q3_mib", ",.0f")
line("  RSS at the end of the load (MiB)", "rss_q4_mib", ",.0f")
line("  RSS slope, second half (MiB/min)", "rss_slope_mib_per_min", ",.1f")
for r in rows.values():
    r["cpu_us_per_sample"] = r["cpu_s"] * 1e6 / r["samples_acked"] if r["samples_acked"] else 0
line("server CPU seconds", "cpu_s", ".1f")
line("  server CPU microseconds per sample", "cpu_us_per_sample", ".2f")
line("load generator CPU seconds", "load_gen_cpu_s", ".1f")
for r in rows.values():
    r["disk_mb_running"] = r["disk_bytes_running"] / 1e6
line("on disk when the load ended (MB)", "disk_mb_running", ",.1f")
line("  bytes per sample", "bytes_per_sample_running", ".2f")
line("  bytes per sample after a clean stop", "bytes_per_sample_stopped", ".2f")
if backend == "postgres" and "plumbline" in rows:
    r = rows["plumbline"]
    acked = r["samples_acked"]
    per = lambda v: v / acked if acked else 0
    r["pg_cpu_s"] = read("plumbline", "pg_cpu")
    r["pg_peak_pss_mib"] = read("plumbline", "pg_pss") / 1024
    r["pg_base_bytes"] = read("plumbline", "pg_base")
    r["pg_wal_bytes_running"] = read("plumbline", "pg_wal_running")
    r["pg_db_bytes_running"] = read("plumbline", "pg_db_running")
    r["pg_db_bytes_stopped"] = read("plumbline", "pg_db_stopped")
    both = r["cpu_s"] + r["pg_cpu_s"]
    print("PostgreSQL, the Plumbline side's store (the server columns above are the collector's):")
    print(f"  CPU seconds (all its processes)             {r['pg_cpu_s']:.1f}"
          f" = {per(r['pg_cpu_s']) * 1e6:.2f} us/sample")
    print(f"  collector + PostgreSQL CPU seconds          {both:.1f}"
          f" = {per(both) * 1e6:.2f} us/sample")
    print(f"  peak memory (sum of PSS, MiB)               {r['pg_peak_pss_mib']:,.0f}")
    print(f"  empty cluster's data directory (MB)         {r['pg_base_bytes'] / 1e6:,.1f}"
          " (subtracted from \"on disk\" above)")
    print(f"  pg_wal when the load ended (MB)             {r['pg_wal_bytes_running'] / 1e6:,.1f}")
    print(f"  pg_database_size when the load ended (MB)   {r['pg_db_bytes_running'] / 1e6:,.1f}"
          f" = {per(r['pg_db_bytes_running']):.2f} bytes/sample")
    print(f"  pg_database_size, collector stopped (MB)    {r['pg_db_bytes_stopped'] / 1e6:,.1f}"
          f" = {per(r['pg_db_bytes_stopped']):.2f} bytes/sample")
result = {"agents": int(agents), "series": int(series), "duration_s": float(duration),
          "durability": durability, "backend": backend, **{s: r for s, r in rows.items()}}
if "plumbline" in rows and "prometheus" in rows and rows["prometheus"]["samples_per_s"] > 0:
    ratio = rows["plumbline"]["samples_per_s"] / rows["prometheus"]["samples_per_s"]
    result["ratio"] = ratio
    print(f"\nratio Plumbline/Prometheus samples/s: {ratio:.2f} (goal >= 2: "
          f"{'met' if ratio >= 2 else 'not met'})")
if "plumbline" in rows:
    rate = rows["plumbline"]["samples_per_s"]
    print(f"Plumbline {rate:,.0f} samples/s (goal >= 1,000,000 at 1,000 agents x 500 series "
          f"for 60 s: {'met' if rate >= 1e6 else 'not met'})")
print("result " + json.dumps(result))
EOF
}
report
