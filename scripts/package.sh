#!/usr/bin/env bash
# Builds the Plumbline .deb and .rpm packages (plumbline-agent,
# plumbline-collector) into build/package/packages/.
#
#   scripts/package.sh            configure (release preset, own build dir), build, cpack
#   scripts/package.sh --no-apt   never call apt-get (fail if a tool is missing)
#   scripts/package.sh --tools-only   only install the packaging tools
#
# Installs the packaging tools it needs with apt-get when they are missing
# (checked with dpkg -s first, so a second run does not touch apt). See
# docs/packaging.md.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly source_dir=$PWD
# Its own build directory: the distribution flags below must not leak into the
# developers' release build.
readonly build_dir=$source_dir/build/package
readonly out_dir=$build_dir/packages

use_apt=1
tools_only=0
for arg in "$@"; do
  case "$arg" in
    --no-apt) use_apt=0 ;;
    --tools-only) tools_only=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf '==> %s\n' "$*"; }

# Tools for building (dpkg-dev: dpkg-shlibdeps, dpkg-buildflags,
# dpkg-parsechangelog; rpm: rpmbuild; help2man, gzip: man pages) and for
# checking (lintian, cpio: rpm2cpio, debootstrap, systemd: systemd-analyze) the packages.
readonly tools=(dpkg-dev rpm cpio fakeroot file help2man gzip lintian debootstrap systemd)

ensure_tools() {
  local missing=() pkg
  for pkg in "${tools[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$use_apt" -eq 0 ]; then
    echo "package.sh: missing packages: ${missing[*]} (run without --no-apt to install them)" >&2
    exit 1
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null ||
    { "${sudo[@]}" apt-get update -qq &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; }
}

ensure_tools
[ "$tools_only" -eq 0 ] || exit 0

# Distribution builds use the distribution's hardening flags (stack protector,
# _FORTIFY_SOURCE, full RELRO, bind-now), and no -Werror: a warning that a newer
# compiler adds must not stop a package build. The debug, asan-ubsan and fuzz
# presets keep -Werror.
hardening=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)
eval "$hardening"

log "configuring (preset release, in build/package)"
cmake --preset release -B "$build_dir" \
  -DPLUMBLINE_WERROR=OFF \
  -DCMAKE_C_FLAGS="$CFLAGS $CPPFLAGS" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS $CPPFLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
  -DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS" >/dev/null

log "building plumbline-agent, plumbline-collector, plumb, man pages"
# Only what the packages contain; `cmake --build --preset release` builds the tests too.
cmake --build "$build_dir" -j2 \
  --target plumbline-agent plumbline-collector plumb plumbline-package-files

log "running cpack (DEB, RPM)"
rm -f "$out_dir"/*.deb "$out_dir"/*.rpm
(cd "$build_dir" && cpack -G "DEB;RPM" >"$build_dir/cpack.log" 2>&1) || {
  cat "$build_dir/cpack.log" >&2
  echo "package.sh: cpack failed (log: $build_dir/cpack.log)" >&2
  exit 1
}

log "packages in ${out_dir#"$source_dir"/}:"
(cd "$out_dir" && ls -l -- *.deb *.rpm)
