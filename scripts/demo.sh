#!/usr/bin/env bash
# The main job, on one machine: builds Plumbline if needed, starts a local
# collector on its embedded SQLite store (.demo/collector.db) and an agent
# measuring this host, shows what arrives, and keeps both running until
# Ctrl-C (or SIGTERM), then stops them cleanly.
#
#   scripts/demo.sh               # foreground, Ctrl-C to stop
#   PLUMBLINE_DEMO_SECONDS=30 scripts/demo.sh   # stop by itself after 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
if [[ ! -x build/release/agent/plumbline-agent || -n "$(find agent collector cli common proto \
      -newer build/release/agent/plumbline-agent -print -quit 2>/dev/null)" ]]; then
  echo "demo: building (release preset)..."
  cmake --preset release >/dev/null
  cmake --build --preset release -j "${PLUMBLINE_JOBS:-2}" --target plumbline-agent plumbline-collector plumb
fi
bin=$root/build/release
mkdir -p .demo

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: stopped (data kept in .demo/)"
}
trap cleanup INT TERM EXIT

rm -f .demo/collector.ready
"$bin/collector/plumbline-collector" --config configs/demo/collector.yaml \
  --ready-file .demo/collector.ready >>.demo/collector.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [[ -f .demo/collector.ready ]] && break
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "demo: the collector did not start; its log (.demo/collector.log) says:" >&2
    tail -5 .demo/collector.log >&2
    exit 1
  fi
  sleep 0.1
done
"$bin/agent/plumbline-agent" --config configs/demo/agent.yaml >>.demo/agent.log 2>&1 &
pids+=($!)

plumb="$bin/cli/plumb --collector 127.0.0.1:7070"
for _ in $(seq 60); do
  if $plumb agents --json 2>/dev/null | grep -q '"host_cpu_utilization"'; then break; fi
  sleep 0.5
done
$plumb agents

cat <<EOT

Plumbline is running: a collector (gRPC 127.0.0.1:7070, store .demo/collector.db,
demo catalog configs/demo/catalog.yaml) and an agent on this host measuring it every 5 s.

Look at it with plumb:
  $bin/cli/plumb agents            # agents, last seen, CPU and memory
  $bin/cli/plumb services          # the demo catalog (configs/demo/catalog.yaml)
  $bin/cli/plumb slo               # its SLOs: attainment, error budget, burn rate
  $bin/cli/plumb health --explain  # health 0-100 per service, through its dependencies
  $bin/cli/plumb incidents         # incidents detected from SLO breaches (stop the collector for 3 minutes to see one)
  $bin/cli/plumb impact --from 1h  # what the last hour's failures cost
  curl -s http://127.0.0.1:7071/api/v1/health   # the same over HTTP (docs/api.md)
  curl -s http://127.0.0.1:7071/metrics         # every KPI for Prometheus
  $bin/cli/plumb agents --json     # the same for scripts
  $bin/cli/plumb stats             # the collector's own counters
Logs: .demo/collector.log and .demo/agent.log

Ctrl-C stops both.
EOT

if [[ -n "${PLUMBLINE_DEMO_SECONDS:-}" ]]; then
  sleep "$PLUMBLINE_DEMO_SECONDS"
  exit 0
fi
wait -n "${pids[@]}"
echo "demo: a process exited unexpectedly; see .demo/*.log" >&2
exit 1
