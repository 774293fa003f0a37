#!/usr/bin/env bash
# Builds Plumbline and runs every test: unit and integration tests in a
# release build and again under AddressSanitizer + UndefinedBehaviorSanitizer,
# each fuzz target for a short bounded time, then the packaging test (builds
# the .deb/.rpm, lintian, installs into a debootstrap root and purges).
# Installs missing packages.
#
#   scripts/test.sh                                  # everything
#   PLUMBLINE_PRESETS=release scripts/test.sh        # one preset only
#   PLUMBLINE_PACKAGING=0 scripts/test.sh            # skip the packaging test
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

if [[ "${PLUMBLINE_PACKAGING:-1}" != 0 ]]; then
  echo "=== packaging test"
  tests/packaging/test_packages.sh
fi

echo "=== all tests passed in $(( $(date +%s) - start )) s"
