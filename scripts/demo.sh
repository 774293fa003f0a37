#!/usr/bin/env bash
# The main job, on one machine: builds Plumbline if needed, starts a local
# collector on its embedded SQLite store (.demo/collector.db), an agent
# measuring this host, and a simulated fleet (plumbline-fleet-sim: 3 business
# units, 10 services, 50 hosts, 30 days of history with two incidents, a
# price change and a shared host, sent through the real ingest API and
# labelled as demo data), shows what arrives, and keeps everything running
# until Ctrl-C (or SIGTERM), then stops it cleanly.
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
  cmake --build --preset release -j "${PLUMBLINE_JOBS:-2}" --target plumbline-agent plumbline-collector plumb \
    plumbline-fleet-sim
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

# The demo catalog: this host's services plus the simulated fleet's.
"$bin/tools/plumbline-fleet-sim" catalog --base-catalog configs/demo/catalog.yaml \
  --local-host "$(hostname)" >.demo/catalog.yaml

rm -f .demo/collector.ready
"$bin/collector/plumbline-collector" --config configs/demo/collector.yaml \
  --catalog .demo/catalog.yaml --ready-file .demo/collector.ready >>.demo/collector.log 2>&1 &
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

# The simulated fleet: its 30-day history once (the collector rolls it up in
# the background, newest days first), then live data every 15 s.
days=30
[[ -f .demo/fleet-backfilled ]] && days=0
"$bin/tools/plumbline-fleet-sim" run --collector 127.0.0.1:7070 --days "$days" --live \
  >>.demo/fleet.log 2>&1 &
pids+=($!)
(
  while kill -0 "${pids[-1]}" 2>/dev/null; do
    grep -q 'points in' .demo/fleet.log 2>/dev/null && touch .demo/fleet-backfilled && break
    sleep 2
  done
) &

plumb="$bin/cli/plumb --collector 127.0.0.1:7070"
for _ in $(seq 60); do
  if $plumb agents --json 2>/dev/null | grep -q '"host_cpu_utilization"'; then break; fi
  sleep 0.5
done
$plumb agents

cat <<EOT

Plumbline is running: a collector (gRPC 127.0.0.1:7070, store .demo/collector.db,
demo catalog .demo/catalog.yaml), an agent on this host measuring it every 5 s,
and a simulated fleet (demo data: 3 business units, 10 services, 50 hosts) whose
30-day history is loading now, newest day first (about 3.5 minutes to send,
2.5 more to roll up). Dashboard: http://127.0.0.1:7071/

Look at it with plumb:
  $bin/cli/plumb agents            # agents, last seen, CPU and memory
  $bin/cli/plumb services          # the demo catalog (.demo/catalog.yaml)
  $bin/cli/plumb slo               # its SLOs: attainment, error budget, burn rate
  $bin/cli/plumb health --explain  # health 0-100 per service, through its dependencies
  $bin/cli/plumb incidents         # incidents detected from SLO breaches (stop the collector for 3 minutes to see one)
  $bin/cli/plumb impact --from 1h  # what the last hour's failures cost
  curl -s http://127.0.0.1:7071/api/v1/health   # the same over HTTP (docs/api.md)
  curl -s http://127.0.0.1:7071/metrics         # every KPI for Prometheus
  $bin/cli/plumb agents --json     # the same for scripts
  $bin/cli/plumb stats             # the collector's own counters
  $bin/cli/plumb incidents --since 30d   # the fleet's two incidents (once its history is in)
  $bin/cli/plumb chargeback --month $(date -u +%Y-%m)   # cost per business unit, service, host
Logs: .demo/collector.log, .demo/agent.log and .demo/fleet.log

Ctrl-C stops everything.
EOT

if [[ -n "${PLUMBLINE_DEMO_SECONDS:-}" ]]; then
  sleep "$PLUMBLINE_DEMO_SECONDS"
  exit 0
fi
wait -n "${pids[@]}"
echo "demo: a process exited unexpectedly; see .demo/*.log" >&2
exit 1
