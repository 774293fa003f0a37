#!/usr/bin/env bash
# Agent footprint next to its peers, doing the same work in the same run:
#   plumbline-agent   host metrics, 5 probes, StatsD and one access log, 10 s interval
#   node_exporter     (Debian's prometheus-node-exporter) scraped every 10 s
#   collectd          10 s interval, its default plugins plus statsd and tail,
#                     fed the same StatsD packets and the same access log
# Traffic: 1,000 StatsD packets/s to the agent and to collectd, 200 access-log
# lines/s appended to one file both tail. Every 10 s the script samples each
# process' RSS (VmRSS), PSS (smaps_rollup) and CPU time (utime + stime), and
# prints per process: settled RSS and PSS (medians of the last third), CPU
# seconds per minute, and RSS growth from the end of the first minute to the end;
# then the agent's RSS and PSS by mapping at the end of the run (its executable,
# the largest shared libraries, anonymous memory). PSS splits a shared page
# among the processes that map it: here the collector maps the shared libraries
# it has in common with the agent (libc, libstdc++, OpenSSL; gRPC, protobuf and
# Abseil too if the agent is linked dynamically), which an agent host has not.
#
#   bench/footprint.sh [SECONDS]     # default 600 (the 10-minute run of docs/benchmarks.md)
#
# Needs root only to install missing packages; builds the release preset if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-600}

need=()
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v collectd >/dev/null || need+=(collectd-core)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  # Installed servers must not start on their own (no systemd here anyway).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
build=${PLUMBLINE_BUILD:-build/release}  # another build directory: PLUMBLINE_BUILD=build/debug
if [[ ! -x $build/agent/plumbline-agent && $build == build/release ]]; then
  cmake --preset release >/dev/null && cmake --build --preset release -j2 \
    --target plumbline-agent plumbline-collector >/dev/null
fi
agent_bin=$build/agent/plumbline-agent
collector_bin=$build/collector/plumbline-collector
collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)
plugins=/usr/lib/collectd

work=$(mktemp -d /tmp/plumbline-footprint.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Probe targets: one small HTTP server (python) answering on its port.
http_port=$(free_port)
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
pids+=($!)

# A collector for the agent to deliver to (not measured).
"$collector_bin" --listen 127.0.0.1:0 --http-listen "" --db "$work/collector.db" --ready-file "$work/ready" \
  --log-level warn >"$work/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
collector=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$work/ready")

agent_statsd=$(free_udp_port)
collectd_statsd=$(free_udp_port)
touch "$work/access.log"
cat >"$work/agent.yaml" <<EOF
agent_id: footprint
interval: 10s
state_dir: $work/agent-state
log_level: warn
collector:
  addresses: ["$collector"]
sources:
  host: {enabled: true}
  probes:
    tcp:
      - {name: tcp-1, address: "127.0.0.1:$http_port"}
      - {name: tcp-2, address: "127.0.0.1:$http_port"}
      - {name: tcp-3, address: "127.0.0.1:$http_port"}
    http:
      - {name: http-1, url: "http://127.0.0.1:$http_port/"}
      - {name: http-2, url: "http://127.0.0.1:$http_port/"}
  statsd: {enabled: true, listen: "127.0.0.1:$agent_statsd"}
  access_logs:
    logs:
      - {name: web, path: $work/access.log, format: combined_request_time}
EOF
"$agent_bin" --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=($agent_pid)

ne_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port" >"$work/node_exporter.log" 2>&1 &
ne_pid=$!
pids+=($ne_pid)
( while sleep 10; do curl -s -o /dev/null "http://127.0.0.1:$ne_port/metrics"; done ) &
pids+=($!)

# collectd: its Debian default plugin set (cpu, df, disk, entropy, interface,
# irq, load, memory, processes, swap, users) plus statsd and tail, written to CSV.
mkdir -p "$work/collectd-csv"
cat >"$work/collectd.conf" <<EOF
Interval 10
BaseDir "$work"
PIDFile "$work/collectd.pid"
PluginDir "$plugins"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel warning
  File "$work/collectd.log"
</Plugin>
LoadPlugin cpu
LoadPlugin df
LoadPlugin disk
LoadPlugin entropy
LoadPlugin interface
LoadPlugin irq
LoadPlugin load
LoadPlugin memory
LoadPlugin processes
LoadPlugin swap
LoadPlugin users
LoadPlugin csv
<Plugin csv>
  DataDir "$work/collectd-csv"
</Plugin>
LoadPlugin statsd
<Plugin statsd>
  Host "127.0.0.1"
  Port "$collectd_statsd"
  TimerPercentile 90
</Plugin>
LoadPlugin tail
<Plugin tail>
  <File "$work/access.log">
    Instance "web"
    <Match>
      Regex "\" (2[0-9][0-9]) "
      DSType "CounterInc"
      Type "counter"
      Instance "2xx"
    </Match>
    <Match>
      Regex "\" (5[0-9][0-9]) "
      DSType "CounterInc"
      Type "counter"
      Instance "5xx"
    </Match>
    <Match>
      Regex " ([0-9.]+)\$"
      DSType "GaugeAverage"
      Type "delay"
      Instance "request_time"
    </Match>
  </File>
</Plugin>
EOF
"$collectd_bin" -f -C "$work/collectd.conf" >"$work/collectd.out" 2>&1 &
collectd_pid=$!
pids+=($collectd_pid)

# The same traffic to both: 1,000 StatsD packets/s, 200 log lines/s.
cat >"$work/traffic.py" <<'EOF'
import socket, sys, time
ports = [int(p) for p in sys.argv[1].split(",")]
log = open(sys.argv[2], "a", buffering=1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
kinds = ["orders.placed:1|c", "checkout.latency:%d|ms", "queue.depth:%d|g", "logins:1|c|@0.5",
         "users.active:u%d|s"]
tick, i = time.monotonic(), 0
while True:
    for _ in range(100):  # 100 packets every 0.1 s
        k = kinds[i % len(kinds)]
        packet = (k % (i % 500) if "%d" in k else k) + "|#env:bench"
        for p in ports:
            sock.sendto(packet.encode(), ("127.0.0.1", p))
        i += 1
    for j in range(20):  # 20 lines every 0.1 s
        status = 500 if (i + j) % 50 == 0 else 200
        log.write('10.0.0.%d - - [27/Nov/2026:08:00:00 +0000] "GET /shop/item/%d HTTP/1.1" %d 612 '
                  '"-" "bench" %.3f\n' % (j, i, status, ((i + j) % 300) / 1000))
    tick += 0.1
    time.sleep(max(0, tick - time.monotonic()))
EOF
python3 "$work/traffic.py" "$agent_statsd,$collectd_statsd" "$work/access.log" &
pids+=($!)

sleep 3
for p in "$agent_pid" "$ne_pid" "$collectd_pid"; do
  kill -0 "$p" 2>/dev/null || { echo "a measured process did not start; logs in $work" >&2; cat "$work"/*.log >&2; exit 1; }
done

# Sample every 10 s: elapsed, then rss_kib pss_kib cpu_ticks for each process.
samples="$work/samples.txt"
sample() {
  local line="$1"
  for p in "$agent_pid" "$ne_pid" "$collectd_pid"; do
    local rss pss ticks
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")
    ticks=$(awk '{print $14 + $15}' "/proc/$p/stat")
    line+=" $rss $pss $ticks"
  done
  echo "$line" >>"$samples"
}
start=$(date +%s)
echo "footprint: running ${duration}s (agent pid $agent_pid, node_exporter $ne_pid, collectd $collectd_pid)"
while (( $(date +%s) - start < duration )); do
  sample "$(( $(date +%s) - start ))"
  sleep 10
done
sample "$(( $(date +%s) - start ))"
# Where the agent's memory is, at the end of the run (printed last).
cp "/proc/$agent_pid/smaps" "$work/agent.smaps"
agent_threads=$(ls "/proc/$agent_pid/task" | wc -l)

python3 - "$samples" "$(getconf CLK_TCK)" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
hz = float(sys.argv[2])
names = ["plumbline-agent", "node_exporter", "collectd"]
t0, t1 = rows[0][0], rows[-1][0]
warm = [r for r in rows if r[0] >= 60] or rows
tail = rows[len(rows) * 2 // 3:]
res = {}
print("%-16s %10s %10s %12s %14s" % ("process", "RSS MiB", "PSS MiB", "CPU s/min", "RSS growth KiB"))
for i, n in enumerate(names):
    rss = statistics.median(r[1 + 3 * i] for r in tail) / 1024
    pss = statistics.median(r[2 + 3 * i] for r in tail) / 1024
    cpu = (rows[-1][3 + 3 * i] - rows[0][3 + 3 * i]) / hz / ((t1 - t0) / 60)
    growth = warm[-1][1 + 3 * i] - warm[0][1 + 3 * i]
    res[n] = (rss, pss, cpu)
    print("%-16s %10.1f %10.1f %12.3f %14.0f" % (n, rss, pss, cpu, growth))
a, ne, cd = res["plumbline-agent"], res["node_exporter"], res["collectd"]
print("ratios: agent RSS / node_exporter RSS = %.2f (goal <= 0.75); agent PSS / collectd PSS = %.2f "
      "(goal <= 1); agent CPU / collectd CPU = %.2f (goal <= 1)" % (a[0] / ne[0], a[1] / cd[1], a[2] / cd[2]))
EOF

# The agent's RSS and PSS by mapping: its own executable, each shared library,
# and anonymous memory (malloc heap and arenas, thread stacks, relocated data).
python3 - "$work/agent.smaps" "$agent_threads" "$(readlink -f "$agent_bin")" <<'EOF'
import collections, os, re, sys
by = collections.defaultdict(collections.Counter)
name = ""
for line in open(sys.argv[1]):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        fields = line.split(maxsplit=5)
        name = fields[5].strip() if len(fields) > 5 else ""
    elif line.startswith(("Rss:", "Pss:", "Anonymous:")):
        key, kib = line.split()[:2]
        by[name][key[:-1]] += int(kib)
# Copy-on-write pages of a file mapping (relocated data) count as anonymous.
anon = collections.Counter()
for n, c in by.items():
    anon["Rss"] += c["Anonymous"] if n.startswith("/") else c["Rss"]
    anon["Pss"] += c["Anonymous"] if n.startswith("/") else c["Pss"]
files = sorted(((n, c) for n, c in by.items() if n.startswith("/")), key=lambda nc: -nc[1]["Rss"])
def mib(kib): return "%5.1f" % (kib / 1024)
print("agent RSS / PSS MiB by mapping (%s threads):" % sys.argv[2])
print("  %-34s %s / %s" % ("anonymous: heap, stacks, COW data", mib(anon["Rss"]), mib(anon["Pss"])))
for n, c in files[:8]:
    label = "the executable" if os.path.realpath(n) == sys.argv[3] else os.path.basename(n)
    print("  %-34s %s / %s" % (label, mib(c["Rss"] - c["Anonymous"]), mib(c["Pss"] - c["Anonymous"])))
rest = files[8:]
print("  %-34s %s / %s" % ("%d other files" % len(rest), mib(sum(c["Rss"] - c["Anonymous"] for _, c in rest)),
                           mib(sum(c["Pss"] - c["Anonymous"] for _, c in rest))))
EOF
