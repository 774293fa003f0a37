#!/usr/bin/env bash
# Installs every Debian 12 package Plumbline needs to build, test and run.
# Fast when everything is present (checks with dpkg first). Needs root for
# apt-get; safe to run repeatedly.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libasio-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev sqlite3 libpq-dev libcpp-httplib-dev libssl-dev
  # the load generator's Prometheus remote-write mode (snappy block compression)
  libsnappy-dev
  # tests, fuzzing and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3
  # the security tests make their certificates with the openssl command
  openssl
  # the store conformance tests start their own throwaway PostgreSQL server
  postgresql
  # promtool checks the collector's /metrics; bench/ingest.sh compares the
  # collector with Prometheus' remote-write receiver
  prometheus
  # the web dashboard: built with npm (esbuild), tested in headless Chromium
  chromium nodejs
)
# npm: Debian's package, unless a node that brings its own npm is installed
# (NodeSource's nodejs conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to install packages (run as root or with sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Installing postgresql must not start a system-wide server (the tests run
# their own): invoke-rc.d asks policy-rc.d, and 101 means "don't start".
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
remove_policy() { if ((created_policy)); then rm -f "$policy"; fi; }
trap remove_policy EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
