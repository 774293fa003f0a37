#!/usr/bin/env bash
# Builds Plumbline and runs every test: unit and integration tests in a
# release build and again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then each fuzz target for a short bounded time. Installs missing packages.
#
#   scripts/test.sh            # everything
#   PLUMBLINE_PRESETS=release scripts/test.sh   # one preset only
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

presets=${PLUMBLINE_PRESETS:-"release asan-ubsan fuzz"}
jobs=${PLUMBLINE_JOBS:-2}
start=$(date +%s)

for preset in $presets; do
  echo "=== preset $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== preset $preset: test"
  ctest --preset "$preset" -j "$jobs"
done

echo "=== all tests passed in $(( $(date +%s) - start )) s"
