# shellcheck shell=bash
# Pieces the bench scripts share. Source it from the repository root:
#   source bench/lib.sh
# Uses and sets the caller's globals named below.

# Sets build, collector_bin and load_bin from PLUMBLINE_BUILD (default
# build/release); builds the release collector and load generator when they
# are missing there, and fails (naming SCRIPT) when another build lacks them.
#   bench_binaries SCRIPT
bench_binaries() {
  build=${PLUMBLINE_BUILD:-build/release}
  collector_bin=$build/collector/plumbline-collector
  load_bin=$build/tools/plumbline-load-gen
  [[ -x $collector_bin && -x $load_bin ]] && return 0
  if [[ $build != build/release ]]; then
    echo "$1: $collector_bin or $load_bin missing" >&2
    exit 1
  fi
  echo "building the release collector and load generator"
  cmake --preset release >/dev/null
  cmake --build build/release -j2 --target plumbline-collector plumbline-load-gen >/dev/null
}

# Starts $collector_bin with CONFIG on LISTEN (host:port, port 0 for any),
# logging to WORK/collector.log; appends its pid to pids, sets
# collector_pid, and waits until it has written WORK/collector.ready (exits
# if it dies or does not start within 30 s).
#   bench_start_collector CONFIG LISTEN WORK
bench_start_collector() {
  local config=$1 listen=$2 work=$3
  "$collector_bin" -c "$config" --listen "$listen" --http-listen "" \
    --ready-file "$work/collector.ready" --log-level warn >"$work/collector.log" 2>&1 &
  collector_pid=$!
  pids+=("$collector_pid")
  for _ in $(seq 1 600); do
    [[ -s $work/collector.ready ]] && break
    kill -0 "$collector_pid" 2>/dev/null || { echo "collector died:"; tail "$work/collector.log"; exit 1; }
    sleep 0.05
  done
  [[ -s $work/collector.ready ]] || { echo "collector did not start"; exit 1; }
}
