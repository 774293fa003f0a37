#!/usr/bin/env bash
# Packaging test: builds the .deb and .rpm packages, checks them statically
# (lintian, rpm queries, file lists and modes, systemd-analyze verify and
# security), then installs, upgrades, removes and purges them in a clean
# Debian 12 (bookworm, minbase) chroot.
#
#   tests/packaging/test_packages.sh               build, then test
#   tests/packaging/test_packages.sh --no-build    test the packages already in
#                                                  build/package/packages
#
# Needs root (debootstrap, chroot, mount) and the Debian mirror. The bootstrapped
# chroot is cached as build/pkg-cache/bookworm-minbase.tar, downloaded .debs in
# build/pkg-cache/apt-archives; delete build/pkg-cache to start over. Scratch
# space is build/pkg-test (logs of the last run); the chroot itself is a tmpfs
# mounted there for the run, always unmounted at exit.
# Prints PASS/FAIL per check and exits 1 if any check failed.

# Checks are written as `check WHAT eval '...'`: single quotes on purpose.
# shellcheck disable=SC2016,SC2317,SC2034
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 2
readonly src=$PWD
readonly pkg_dir=$src/build/package/packages
readonly cache=$src/build/pkg-cache
readonly work=$src/build/pkg-test
readonly root=$work/root
readonly mirror=http://deb.debian.org/debian
readonly suite=bookworm

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test_packages.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "test_packages.sh: must run as root (debootstrap, chroot, mount)" >&2
  exit 2
fi

failures=0
started=$SECONDS
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
# check DESCRIPTION COMMAND...: PASS if the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
section() { printf '\n=== %s  [%ss]\n' "$*" "$((SECONDS - started))"; }

# --- Cleanup: mounts and processes in the chroot, even on failure -------------

mounts=()
cleanup() {
  local pid i
  # Processes this test started inside the chroot (normally none are left).
  if [ -d "$root" ]; then
    for pid in /proc/[0-9]*; do
      if [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ]; then
        kill -KILL "${pid#/proc/}" 2>/dev/null || true
      fi
    done
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    if mountpoint -q "${mounts[i]}"; then
      umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true
    fi
  done
  mounts=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

mount_proc() {  # mount_proc DIR
  mkdir -p "$1/proc"
  mount -t proc proc "$1/proc" && mounts+=("$1/proc")
}

# One run at a time: they share build/pkg-test and build/pkg-cache.
mkdir -p "$work" "$cache"
rm -f "$work"/*.log
exec 9>"$work/.lock"
if ! flock -n 9; then
  echo "test_packages.sh: another run holds $work/.lock" >&2
  exit 2
fi

# --- Build --------------------------------------------------------------------

section "build"
if [ "$build" -eq 0 ]; then
  scripts/package.sh --tools-only || { fail "installing the packaging tools"; exit 1; }
elif scripts/package.sh; then
  pass "scripts/package.sh built the packages"
else
  fail "scripts/package.sh"
  exit 1
fi
version=$(sed -n 's/^project(plumbline VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
agent_deb=$pkg_dir/plumbline-agent_${version}_amd64.deb
collector_deb=$pkg_dir/plumbline-collector_${version}_amd64.deb
agent_rpm=$pkg_dir/plumbline-agent-${version}-1.x86_64.rpm
collector_rpm=$pkg_dir/plumbline-collector-${version}-1.x86_64.rpm
for f in "$agent_deb" "$collector_deb" "$agent_rpm" "$collector_rpm"; do
  check "package exists: ${f#"$src"/}" test -f "$f"
done
[ "$failures" -eq 0 ] || exit 1

# --- lintian ------------------------------------------------------------------

section "lintian"
# One run for both packages (lintian's start-up dominates); split per package.
lintian_out=$(lintian --fail-on error,warning --display-info --pedantic --show-overrides \
  "$agent_deb" "$collector_deb" 2>&1)
lintian_rc=$?
all_tags=$(printf '%s\n' "$lintian_out" | grep -E '^[EWIPXO]: ' | sort -u)
printf '%s\n' "$lintian_out" | grep -vE '^[EWIPXON]: |running with root privileges' | sed 's/^/    /'
check "lintian exit status 0 (--fail-on error,warning)" [ "$lintian_rc" -eq 0 ]
for deb in "$agent_deb" "$collector_deb"; do
  name=$(basename "$deb")
  tags=$(printf '%s\n' "$all_tags" | grep -E "^[EWIPXO]: ${name%%_*}( \\(binary\\))?: ")
  [ -n "$tags" ] && printf '%s\n' "$tags" | sed 's/^/    /'
  errors=$(printf '%s\n' "$tags" | grep -c '^E: ')
  warnings=$(printf '%s\n' "$tags" | grep -c '^W: ')
  infos=$(printf '%s\n' "$tags" | grep -cE '^[IP]: ')
  overridden=$(printf '%s\n' "$tags" | grep -c '^O: ')
  check "lintian $name: $errors errors" [ "$errors" -eq 0 ]
  # Warnings that are justified are overridden (packaging/lintian/); any other
  # one is a packaging bug or needs a justification in docs/packaging.md.
  check "lintian $name: $warnings warnings ($infos info/pedantic, $overridden overridden)" \
    [ "$warnings" -eq 0 ]
done

# --- .deb contents ------------------------------------------------------------

section "deb contents"
# has_entry LISTING MODE OWNER PATH: one line of `dpkg-deb -c` / `tar -tv`.
has_entry() {
  printf '%s\n' "$1" | awk -v m="$2" -v o="$3" -v p="$4" \
    '$1 == m && $2 == o && ($6 == p || $6 == "./" p) { found = 1 } END { exit !found }'
}
check_deb() {  # check_deb DEB PACKAGE CONFIG PROGRAM...
  local deb=$1 pkg=$2 config=$3
  shift 3
  local name listing control conffiles depends program etc_files
  name=$(basename "$deb")
  listing=$(dpkg-deb -c "$deb")
  control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -tvf -)
  conffiles=$(dpkg-deb -I "$deb" conffiles)
  check "$name: Package $pkg, Version $version" \
    [ "$(dpkg-deb -f "$deb" Package)/$(dpkg-deb -f "$deb" Version)" = "$pkg/$version" ]
  depends=$(dpkg-deb -f "$deb" Depends)
  echo "    Depends: $depends"
  if [ "$pkg" = plumbline-agent ]; then
    # The release preset links gRPC, protobuf, Abseil and yaml-cpp into the
    # agent (PLUMBLINE_STATIC_AGENT, docs/packaging.md); OpenSSL stays shared.
    check "$name: Depends from dpkg-shlibdeps (libc6, libssl3; gRPC, protobuf, Abseil, yaml-cpp linked in)" \
      eval '[[ "$depends" == *libc6* && "$depends" == *libssl3* && "$depends" != *libgrpc* &&
               "$depends" != *libprotobuf* && "$depends" != *libabsl* && "$depends" != *libyaml-cpp* ]]'
  else
    check "$name: Depends from dpkg-shlibdeps (libc6, libgrpc++)" \
      eval '[[ "$depends" == *libc6* && "$depends" == *libgrpc++* ]]'
  fi
  for program in "$@"; do
    check "$name: /usr/bin/$program is 0755 root:root" \
      has_entry "$listing" -rwxr-xr-x root/root "usr/bin/$program"
    check "$name: man page for $program" \
      has_entry "$listing" -rw-r--r-- root/root "usr/share/man/man1/$program.1.gz"
  done
  check "$name: unit /usr/lib/systemd/system/$pkg.service is 0644" \
    has_entry "$listing" -rw-r--r-- root/root "usr/lib/systemd/system/$pkg.service"
  check "$name: /etc/plumbline/$config is in the package" \
    has_entry "$listing" -rw-r--r-- root/root "etc/plumbline/$config"
  check "$name: conffiles lists exactly /etc/plumbline/$config" \
    [ "$conffiles" = "/etc/plumbline/$config" ]
  etc_files=$(printf '%s\n' "$listing" | awk '$1 !~ /^d/ && $6 ~ /^\.\/etc\// { sub(/^\./, "", $6); print $6 }')
  check "$name: every file in /etc is a conffile" [ "$etc_files" = "$conffiles" ]
  check "$name: /usr/share/doc/$pkg/changelog.gz" \
    has_entry "$listing" -rw-r--r-- root/root "usr/share/doc/$pkg/changelog.gz"
  check "$name: /usr/share/doc/$pkg/copyright" \
    has_entry "$listing" -rw-r--r-- root/root "usr/share/doc/$pkg/copyright"
  check "$name: changelog.gz is the packaging changelog" \
    cmp -s <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/share/doc/$pkg/changelog.gz" | gzip -dc) \
    packaging/changelog
  for script in postinst prerm postrm; do
    check "$name: maintainer script $script is 0755" \
      has_entry "$control" -rwxr-xr-x root/root "$script"
  done
  check "$name: nothing owned by anyone but root" \
    eval '! printf "%s\n" "$listing" | awk "\$2 != \"root/root\"" | grep -q .'
}
check_deb "$agent_deb" plumbline-agent agent.yaml plumbline-agent
check_deb "$collector_deb" plumbline-collector collector.yaml plumbline-collector plumb
collector_listing=$(dpkg-deb -c "$collector_deb")
check "$(basename "$collector_deb"): plumb's bash completion" \
  has_entry "$collector_listing" -rw-r--r-- root/root usr/share/bash-completion/completions/plumb
check "$(basename "$collector_deb"): the Grafana dashboard" \
  has_entry "$collector_listing" -rw-r--r-- root/root usr/share/plumbline/grafana/plumbline-dashboard.json

# --- .rpm ---------------------------------------------------------------------

section "rpm"
check_rpm() {  # check_rpm RPM PACKAGE CONFIG PROGRAM...
  local rpm_file=$1 pkg=$2 config=$3
  shift 3
  local name files scripts program
  name=$(basename "$rpm_file")
  rpm -qip "$rpm_file" 2>/dev/null | sed -n '/^Name\|^Version\|^Release\|^Architecture\|^License\|^Summary/s/^/    /p'
  rpm -qlp "$rpm_file" 2>/dev/null | sed 's/^/    /'
  check "$name: rpm -qip reads it, name $pkg, version $version, license Apache-2.0" \
    [ "$(rpm -qp --qf '%{NAME}/%{VERSION}/%{LICENSE}' "$rpm_file" 2>/dev/null)" = "$pkg/$version/Apache-2.0" ]
  files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' \
    "$rpm_file" 2>/dev/null)
  for program in "$@"; do
    check "$name: /usr/bin/$program is 0755 root:root" \
      grep -qx -- "-rwxr-xr-x root:root  /usr/bin/$program" <<<"$files"
  done
  check "$name: /etc/plumbline/$config is %config(noreplace), 0640 root:plumbline" \
    grep -qx -- "-rw-r----- root:plumbline cn /etc/plumbline/$config" <<<"$files"
  check "$name: unit in /usr/lib/systemd/system, not %config" \
    grep -qx -- "-rw-r--r-- root:root  /usr/lib/systemd/system/$pkg.service" <<<"$files"
  check "$name: license text is %license" \
    grep -qx -- "-rw-r--r-- root:root l /usr/share/licenses/$pkg/LICENSE" <<<"$files"
  check "$name: the only config file is /etc/plumbline/$config" \
    [ "$(rpm -qp --configfiles "$rpm_file" 2>/dev/null)" = "/etc/plumbline/$config" ]
  scripts=$(rpm -qp --scripts "$rpm_file" 2>/dev/null)
  check "$name: %pre creates the user, %post/%preun/%postun handle $pkg.service" \
    eval '[[ "$scripts" == *"preinstall scriptlet"*useradd* &&
             "$scripts" == *"postinstall scriptlet"*"enable $pkg.service"* &&
             "$scripts" == *"preuninstall scriptlet"*"disable --now $pkg.service"* &&
             "$scripts" == *"postuninstall scriptlet"*"try-restart $pkg.service"* ]]'
  check "$name: requires the user tools for %pre" \
    eval 'rpm -qp --requires "$rpm_file" 2>/dev/null | grep -q "^/usr/sbin/useradd"'
  check "$name: scriptlets are valid sh (sh -n)" eval '
    for tag in PREIN POSTIN PREUN POSTUN; do
      rpm -qp --qf "%{$tag}" "$rpm_file" 2>/dev/null | sh -n || exit 1
    done'
  check "$name: changelog in the header" \
    eval 'rpm -qp --changelog "$rpm_file" 2>/dev/null | grep -q -- "- $version-1"'
}
check_rpm "$agent_rpm" plumbline-agent agent.yaml plumbline-agent
check_rpm "$collector_rpm" plumbline-collector collector.yaml plumbline-collector plumb

# --- systemd units ------------------------------------------------------------

section "systemd units"
rm -rf "$work/unpacked"
mkdir -p "$work/unpacked/deb" "$work/unpacked/rpm"
for deb in "$agent_deb" "$collector_deb"; do dpkg-deb -x "$deb" "$work/unpacked/deb"; done
for rpm_file in "$agent_rpm" "$collector_rpm"; do
  (cd "$work/unpacked/rpm" && rpm2cpio "$rpm_file" | cpio -idm --quiet)
done
# verify resolves ExecStart= in --root and looks up the standard targets
# there, so the unpacked tree gets the host's units next to the shipped ones.
cp -an /usr/lib/systemd/system/. "$work/unpacked/deb/usr/lib/systemd/system/"
# ExecReload= runs /bin/kill, which the packages' procps dependency provides.
mkdir -p "$work/unpacked/deb/bin" && cp -a "$(readlink -f /bin/kill)" "$work/unpacked/deb/bin/kill"
for unit in plumbline-agent.service plumbline-collector.service; do
  shipped=$work/unpacked/deb/usr/lib/systemd/system/$unit
  check "$unit: .deb and .rpm ship packaging/systemd/$unit unchanged" \
    eval 'cmp -s "$shipped" "packaging/systemd/$unit" &&
          cmp -s "$work/unpacked/rpm/usr/lib/systemd/system/$unit" "packaging/systemd/$unit"'
  out=$(MANPATH=$work/unpacked/deb/usr/share/man \
        systemd-analyze verify --root="$work/unpacked/deb" "$unit" 2>&1)
  rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
  check "systemd-analyze verify $unit: clean (exit $rc, no messages)" \
    eval '[ "$rc" -eq 0 ] && [ -z "$out" ]'
  out=$(LC_ALL=C.UTF-8 systemd-analyze security --offline=true --no-pager "$shipped" 2>&1)
  overall=$(printf '%s\n' "$out" | grep 'Overall exposure level' | sed 's/^→ //')
  printf '%s\n' "$out" | grep '✗' | sed 's/  */ /g; s/^/    /'
  echo "    $overall"
  rating=$(printf '%s\n' "$overall" | awk '{ print $(NF - 1) }')
  check "systemd-analyze security $unit: rating OK or better ($rating)" \
    eval '[[ "$rating" == PERFECT || "$rating" == SAFE || "$rating" == OK ]]'
done
grep_unit() { grep -qx -- "$2" "packaging/systemd/$1"; }
check "agent unit: MemoryMax= set" eval 'grep -q "^MemoryMax=" packaging/systemd/plumbline-agent.service'
for unit in plumbline-agent.service plumbline-collector.service; do
  for setting in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
      CapabilityBoundingSet= SystemCallFilter=@system-service Restart=on-failure User=plumbline; do
    check "$unit: $setting" grep_unit "$unit" "$setting"
  done
done

# --- Install, upgrade, remove, purge in a clean bookworm chroot ---------------

section "clean $suite chroot"
readonly tarball=$cache/$suite-minbase.tar
if [ ! -f "$tarball" ]; then
  echo "    bootstrapping $suite (minbase) from $mirror; cached for later runs"
  rm -rf "$cache/bootstrap"
  if debootstrap --variant=minbase "$suite" "$cache/bootstrap" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    cat >"$cache/bootstrap/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
    cp /etc/resolv.conf "$cache/bootstrap/etc/resolv.conf"
    chroot "$cache/bootstrap" apt-get update -qq >>"$cache/debootstrap.log" 2>&1 &&
      chroot "$cache/bootstrap" apt-get clean &&
      tar -C "$cache/bootstrap" --numeric-owner -cf "$tarball.tmp" . &&
      mv "$tarball.tmp" "$tarball"
  fi
  rm -rf "$cache/bootstrap"
fi
if [ ! -f "$tarball" ]; then
  fail "debootstrap $suite (log: ${cache#"$src"/}/debootstrap.log)"
  exit 1
fi

# The chroot lives on a tmpfs: unpacking it and throwing it away cost no disk
# I/O, and unmounting it is the cleanup.
rm -rf "$root"
mkdir -p "$root"
if mount -t tmpfs -o size=2g,mode=0755 plumbline-pkg-test "$root"; then
  mounts+=("$root")
else
  fail "mount a tmpfs on ${root#"$src"/}"
  exit 1
fi
tar -C "$root" --numeric-owner -xf "$tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Services must never start from a maintainer script here.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount_proc "$root" || { fail "mount /proc in the chroot"; exit 1; }
mkdir -p "$cache/apt-archives"
cp -n "$cache"/apt-archives/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
cp "$agent_deb" "$collector_deb" "$root/tmp/"

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
# in_root, output shown only when the command fails.
in_root_quiet() {
  in_root "$@" >"$work/command.log" 2>&1 && return 0
  sed 's/^/    /' "$work/command.log"
  return 1
}
as_plumbline() { in_root setpriv --reuid=plumbline --regid=plumbline --init-groups -- "$@"; }
# apt-get install with the package's Depends; refresh stale indexes once.
apt_install() {
  in_root apt-get install -y -qq --no-install-recommends "$@" >"$work/apt.log" 2>&1 ||
    { in_root apt-get update -qq >>"$work/apt.log" 2>&1 &&
      in_root apt-get install -y -qq --no-install-recommends "$@" >>"$work/apt.log" 2>&1; }
  local rc=$?
  cp -n "$root"/var/cache/apt/archives/*.deb "$cache/apt-archives/" 2>/dev/null || true
  return $rc
}
status_of() { in_root dpkg-query -f '${db:Status-Status}' -W "$1" 2>/dev/null || echo not-installed; }
# Owner names as the chroot knows them (its uids differ from the host's).
stat_of() { in_root stat -c '%U:%G %a' "$1" 2>/dev/null; }
gone() { [ ! -e "$root$1" ] && [ ! -L "$root$1" ]; }
no_user() { ! in_root getent passwd plumbline >/dev/null && ! in_root getent group plumbline >/dev/null; }
agent_deb_in=/tmp/$(basename "$agent_deb")
collector_deb_in=/tmp/$(basename "$collector_deb")

section "chroot: plumbline-agent alone"
if apt_install "$agent_deb_in"; then pass "apt-get install ./$(basename "$agent_deb") (Depends resolved)"; else
  sed 's/^/    /' "$work/apt.log"
  fail "apt-get install ./$(basename "$agent_deb")"
fi
check "dpkg: plumbline-agent installed" [ "$(status_of plumbline-agent)" = installed ]
passwd_line=$(in_root getent passwd plumbline)
echo "    $passwd_line"
check "user plumbline: system uid, home /var/lib/plumbline, no login shell" \
  eval '[[ "$passwd_line" =~ ^plumbline:x:([0-9]+):[0-9]+:[^:]*:/var/lib/plumbline:/usr/sbin/nologin$ ]] &&
        [ "${BASH_REMATCH[1]}" -lt 1000 ]'
check "/var/lib/plumbline is plumbline:plumbline 750" [ "$(stat_of /var/lib/plumbline)" = "plumbline:plumbline 750" ]
check "/var/lib/plumbline/agent is plumbline:plumbline 750" \
  [ "$(stat_of /var/lib/plumbline/agent)" = "plumbline:plumbline 750" ]
check "/etc/plumbline/agent.yaml is root:plumbline 640" \
  [ "$(stat_of /etc/plumbline/agent.yaml)" = "root:plumbline 640" ]
check "dpkg registers /etc/plumbline/agent.yaml as a conffile" \
  eval 'in_root dpkg-query -W -f="\${Conffiles}\n" plumbline-agent | grep -q "^ /etc/plumbline/agent.yaml "'
check "unit enabled (multi-user.target.wants symlink), not started (no systemd)" \
  test -L "$root/etc/systemd/system/multi-user.target.wants/plumbline-agent.service"
out=$(in_root plumbline-agent --version 2>&1)
echo "    \$ plumbline-agent --version"
echo "    $out"
check "plumbline-agent --version prints $version" [ "$out" = "plumbline-agent $version" ]
echo "    \$ setpriv --reuid=plumbline ... plumbline-agent --config /etc/plumbline/agent.yaml --dry-run"
out=$(as_plumbline plumbline-agent --config /etc/plumbline/agent.yaml --dry-run 2>&1)
rc=$?
printf '%s\n' "$out" | head -12 | sed 's/^/    /'
echo "    ... ($(printf '%s\n' "$out" | grep -c '"name": "host_') host_* series)"
check "--dry-run as user plumbline exits 0 with host series" \
  eval '[ "$rc" -eq 0 ] && printf "%s\n" "$out" | grep -q "\"name\": \"host_cpu_seconds_total\""'
check "agent.yaml is not readable by other users" \
  eval '! in_root setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat /etc/plumbline/agent.yaml >/dev/null 2>&1'

# Upgrade: the same package as version $version+upgradetest; a locally changed
# conffile must survive, the state must stay.
echo "# changed by the packaging test" >>"$root/etc/plumbline/agent.yaml"
echo marker >"$root/var/lib/plumbline/agent/marker"
rm -rf "$work/upgrade"
dpkg-deb -R "$agent_deb" "$work/upgrade"
sed -i "s/^Version: .*/Version: $version+upgradetest/" "$work/upgrade/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/upgrade" "$root/tmp/upgrade.deb" >/dev/null
rm -rf "$work/upgrade"
check "upgrade to $version+upgradetest (dpkg -i)" in_root_quiet dpkg -i /tmp/upgrade.deb
check "after upgrade: version $version+upgradetest" \
  [ "$(in_root dpkg-query -f '${Version}' -W plumbline-agent)" = "$version+upgradetest" ]
check "after upgrade: the changed agent.yaml is kept, no .dpkg-* files" \
  eval 'grep -q "changed by the packaging test" "$root/etc/plumbline/agent.yaml" &&
        ! ls "$root"/etc/plumbline/*.dpkg-* >/dev/null 2>&1'
check "after upgrade: state kept" test -f "$root/var/lib/plumbline/agent/marker"

check "dpkg --remove plumbline-agent" in_root_quiet dpkg --remove plumbline-agent
check "after remove: binary gone, status config-files" \
  eval 'gone /usr/bin/plumbline-agent && [ "$(status_of plumbline-agent)" = config-files ]'
check "after remove: configuration, state and user kept" \
  eval '[ -f "$root/etc/plumbline/agent.yaml" ] && [ -f "$root/var/lib/plumbline/agent/marker" ] &&
        in_root getent passwd plumbline >/dev/null'

check "dpkg --purge plumbline-agent" in_root_quiet dpkg --purge plumbline-agent
check "after purge: status not-installed" [ "$(status_of plumbline-agent)" = not-installed ]
check "after purge: user and group plumbline gone" no_user
check "after purge: /etc/plumbline gone" gone /etc/plumbline
check "after purge: /var/lib/plumbline gone" gone /var/lib/plumbline
check "after purge: systemd enablement symlinks and state gone" \
  eval 'gone /etc/systemd/system/multi-user.target.wants/plumbline-agent.service &&
        gone /var/lib/systemd/deb-systemd-helper-enabled/plumbline-agent.service.dsh-also'

section "chroot: agent and collector share the user and /var/lib/plumbline"
if apt_install "$agent_deb_in" "$collector_deb_in"; then pass "apt-get install both packages"; else
  sed 's/^/    /' "$work/apt.log"
  fail "apt-get install both packages"
fi
check "plumbline-collector --version prints $version" \
  [ "$(in_root plumbline-collector --version 2>&1)" = "plumbline-collector $version" ]
check "plumb --version prints $version" [ "$(in_root plumb --version 2>&1)" = "plumb $version" ]
# The collector as user plumbline creates its database in /var/lib/plumbline
# and stops cleanly on SIGTERM. Port 0: no clash with anything on the host.
as_plumbline timeout -k 5 3 plumbline-collector --config /etc/plumbline/collector.yaml \
  --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$work/collector.log" 2>&1
rc=$?
sed 's/^/    /' "$work/collector.log"
check "collector ran as plumbline until SIGTERM (timeout exit 124)" [ "$rc" -eq 124 ]
check "collector created /var/lib/plumbline/collector.db owned by plumbline" \
  eval '[ "$(stat_of /var/lib/plumbline/collector.db | cut -d" " -f1)" = plumbline:plumbline ]'
check "dpkg --purge plumbline-agent" in_root_quiet dpkg --purge plumbline-agent
check "collector still installed: user, collector.yaml, collector.db kept; agent state gone" \
  eval 'in_root getent passwd plumbline >/dev/null && [ -f "$root/etc/plumbline/collector.yaml" ] &&
        [ -f "$root/var/lib/plumbline/collector.db" ] && gone /var/lib/plumbline/agent &&
        gone /etc/plumbline/agent.yaml'
check "dpkg --purge plumbline-collector" \
  in_root_quiet dpkg --purge plumbline-collector
check "after purging both: user, /etc/plumbline, /var/lib/plumbline gone" \
  eval 'no_user && gone /etc/plumbline && gone /var/lib/plumbline'

cleanup
rmdir "$root" 2>/dev/null || true
section "result"
elapsed=$((SECONDS - started))
if [ "$failures" -eq 0 ]; then
  echo "PASS: all packaging checks (${elapsed}s)"
  exit 0
fi
echo "FAIL: $failures packaging check(s) failed (${elapsed}s); logs in ${work#"$src"/}"
exit 1
