#!/bin/bash
# Package test: build the .deb, lintian it, install it into a fresh Debian 12 root, use it there, purge it.
#
# As root, with the Debian mirror apt uses reachable. Steps (each an "ok" or
# "not ok" line, then "# N passed, N failed" and the time taken):
#  1. dpkg-buildpackage -us -uc -b in a copy of the tree (nothing is written
#     beside the checkout);
#  2. lintian on the .changes: no error, no warning;
#  3. a clean bookworm root from debootstrap (--variant=minbase), cached as
#     ~/.cache/xe_watch/debootstrap-bookworm-ARCH-DATE.tgz (XW_CACHE), with
#     collectd (Debian's collectd.conf) installed in it, then the package;
#  4. the files where Debian wants them, the drop-in a conffile;
#  5. collectd in the root (chroot) with the shipped drop-in on this
#     GPU-less host: plugin loaded, collectd running, no xe_watch warning;
#  6. xe-watch-firedrill in the root with a csv drop-in standing for the
#     operator's write plugin: the simulated VM error reaches csv;
#  7. apt-get purge --autoremove: the root's files are what they were
#     before (libdrm2, pulled in for the plugin, goes too).
# XW_KEEP_ROOT=1 keeps the root for a look afterwards. A stage of the full
# contrib/run-tests.sh (log: _build/stage-package.log).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
arch=$(dpkg --print-architecture)
cache=${XW_CACHE:-$HOME/.cache/xe_watch}
base=$cache/debootstrap-bookworm-$arch-$(date +%Y%m%d).tgz
passed=0 failed=0

ok() { echo "ok - $*"; passed=$((passed + 1)); }
stage() { echo "# $1 after $(($(date +%s) - start)) s"; }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip() {
	echo "SKIP: $*"
	exit 77
}
finish() {
	echo "# $passed passed, $failed failed"
	echo "package-test: $(($(date +%s) - start)) s ($warm)"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot)"
for t in dpkg-buildpackage lintian debootstrap; do
	command -v $t >/dev/null || skip "$t is missing (contrib/install-deps.sh test)"
done
# The mirror apt uses here (deb822 or one-line sources).
mirror=${XW_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
	sed -n -e 's#^URIs: *\(http[^ ]*/debian\)/*$#\1#p' -e 's#^deb  *\(http[^ ]*/debian\)/* .*#\1#p' | head -1)}
[ -n "$mirror" ] || skip "no Debian mirror in /etc/apt/sources.list*"

w=$(mktemp -d /tmp/xw-package-test.XXXXXX)
root=$w/root
mounted=()
# Every process left in the root (a collectd this script started) is
# killed before its mounts go: none may outlive the test (it would also
# hold whatever lock the caller passed down).
kill_in_root() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
}
cleanup() {
	local m
	kill_in_root
	for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null; done
	if [ "${XW_KEEP_ROOT:-0}" = 1 ]; then echo "# root kept: $root"; else rm -rf "$w"; fi
}
trap cleanup EXIT
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

# ---- 1. build ----------------------------------------------------------------
version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$top/debian/changelog")
src=$w/build/xe-watch-$version
mkdir -p "$src"
(cd "$top" && git ls-files -co --exclude-standard -z | grep -zv '^_build/' |
	xargs -0 cp --parents -t "$src")
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$w/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	not_ok "dpkg-buildpackage -us -uc -b"; tail -30 "$w/build.log"; warm=no root; finish
fi
deb=$(ls "$w"/build/collectd-xe-watch_"$version"_*.deb)
changes=$(ls "$w"/build/xe-watch_"$version"_*.changes)

stage "build"
# ---- 2. lintian --------------------------------------------------------------
lintian --pedantic --display-info "$changes" >"$w/lintian.out" 2>&1
sed 's/^/# lintian: /' "$w/lintian.out"
echo "# lintian: $(grep -c '^E:' "$w/lintian.out") errors, $(grep -c '^W:' "$w/lintian.out") warnings," \
	"$(grep -c '^I:' "$w/lintian.out") info, $(grep -c '^P:' "$w/lintian.out") pedantic"
check "lintian: no error and no warning" eval '! grep -q "^[EW]:" "$w/lintian.out"'

stage "lintian"
# ---- 3. a clean Debian 12 root ----------------------------------------------
mkdir -p "$cache" "$cache/apt-archives"
if [ -f "$base" ]; then
	warm=warm
else
	warm=cold
	rm -f "$cache"/debootstrap-bookworm-"$arch"-*.tgz
	if ! debootstrap --variant=minbase bookworm "$w/base" "$mirror" >"$w/debootstrap.log" 2>&1; then
		not_ok "debootstrap bookworm from $mirror"; tail -20 "$w/debootstrap.log"; finish
	fi
	tar -C "$w/base" -czf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$w/base"
fi
mkdir -p "$root"
tar -C "$root" -xzf "$base"
for m in proc sys dev; do
	mount --bind "/$m" "$root/$m" && mounted=("$root/$m" "${mounted[@]}")
done
# apt's downloads are kept for the next run; no daemon starts in the root.
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" &&
	mounted=("$root/var/cache/apt/archives" "${mounted[@]}")
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
if ! { in_root apt-get update -qq && in_root apt-get install -y -qq --no-install-recommends collectd; } \
	>"$w/apt.log" 2>&1; then
	not_ok "install collectd in the root"; tail -20 "$w/apt.log"; finish
fi
check "Debian's collectd.conf includes /etc/collectd/collectd.conf.d/*.conf" \
	grep -qx '<Include "/etc/collectd/collectd.conf.d">' "$root/etc/collectd/collectd.conf"

# What the root holds before the package, to compare after the purge.
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
		-o -path ./var/cache -o -path ./var/log -o -path ./var/lib/apt \) -prune -o -print |
		grep -v -e '^./var/lib/dpkg/' -e '^./etc/ld.so.cache$' | sort)
}
snapshot >"$w/before"
cp "$deb" "$root/tmp/"
if in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" >"$w/install.log" 2>&1; then
	ok "apt-get install collectd-xe-watch into a fresh bookworm root"
else
	not_ok "apt-get install collectd-xe-watch into a fresh bookworm root"; tail -20 "$w/install.log"; finish
fi

stage "root ready, package installed"
# ---- 4. files ----------------------------------------------------------------
for f in /usr/lib/collectd/xe_watch.so /etc/collectd/collectd.conf.d/xe_watch.conf \
	/usr/bin/xe-watch-firedrill /usr/lib/collectd-xe-watch/libxefake.so \
	/usr/lib/collectd-xe-watch/xe-inject /usr/share/man/man5/collectd-xe_watch.5.gz \
	/usr/share/man/man1/xe-watch-firedrill.1.gz /usr/share/collectd-xe-watch/xe_watch-alertmanager \
	/usr/share/collectd-xe-watch/grafana/xe_watch-influxdb.json \
	/usr/share/collectd-xe-watch/prometheus/xe_watch.rules.yml \
	/usr/share/doc/collectd-xe-watch/examples/collectd.conf.d/alertmanager.conf \
	/usr/share/doc/collectd-xe-watch/examples/systemd/xe_watch.conf \
	/usr/share/doc/collectd-xe-watch/copyright; do
	check "installed: $f" test -e "$root$f"
done
check "no libtool archive is installed" eval '! in_root dpkg -L collectd-xe-watch | grep -q "\.la$"'
check "the drop-in is a conffile" eval \
	'in_root dpkg-query -W -f="\${Conffiles}" collectd-xe-watch | grep -q " /etc/collectd/collectd.conf.d/xe_watch.conf "'
check "the Alertmanager adapter is executable" test -x "$root/usr/share/collectd-xe-watch/xe_watch-alertmanager"
check "the packaged alertmanager.conf runs the packaged adapter" grep -q \
	'"/usr/share/collectd-xe-watch/xe_watch-alertmanager"' \
	"$root/usr/share/doc/collectd-xe-watch/examples/collectd.conf.d/alertmanager.conf"
check "man collectd-xe_watch renders" eval 'zcat "$root/usr/share/man/man5/collectd-xe_watch.5.gz" | grep -q "^.SH NAME"'

# ---- 5. GPU-less host: the shipped drop-in, plugin loaded and quiet ----------
# Debian's own collectd.conf logs to syslog; this one keeps the same Include
# and logs to a file.
mkdir -p "$root/var/lib/xw-test"
cat >"$root/etc/collectd/xw-test.conf" <<'CONF'
Hostname "xw-package-test"
FQDNLookup false
BaseDir "/var/lib/xw-test"
PIDFile "/var/lib/xw-test/collectd.pid"
Interval 2
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "/var/lib/xw-test/collectd.log"
  PrintSeverity true
</Plugin>
<Include "/etc/collectd/collectd.conf.d">
	Filter "*.conf"
</Include>
CONF
xe_gpu=$(ls /sys/bus/pci/drivers/xe 2>/dev/null | grep -c ':' || true)
# Started without a subshell, so that $! is collectd itself.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
	collectd -f -C /etc/collectd/xw-test.conf >"$root/var/lib/xw-test/stdout" 2>&1 &
cpid=$!
sleep 5
check "collectd runs with the shipped drop-in" kill -0 $cpid
kill -TERM $cpid 2>/dev/null
# running PID: alive and not a zombie waiting for us.
running() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
for _ in $(seq 50); do running $cpid || break; sleep 0.1; done
check "collectd stops on SIGTERM" eval '! running $cpid'
kill -KILL $cpid 2>/dev/null
wait $cpid 2>/dev/null
log=$root/var/lib/xw-test/collectd.log
check "the drop-in loads xe_watch" grep -q 'plugin "xe_watch" successfully loaded' "$log"
if [ "$xe_gpu" -eq 0 ]; then
	check "GPU-less: xe_watch stays loaded (its init does not fail)" \
		eval '! grep -q "Initialization of plugin .xe_watch. failed" "$log"'
	check "GPU-less: no xe_watch warning or error" \
		eval '! grep -E "\[(warning|error)\]" "$log" | grep -q "xe_watch"'
	check "GPU-less: no collectd error" eval '! grep -q "\[error\]" "$log"'
else
	echo "# this host has an xe GPU: the GPU-less checks do not apply"
fi
grep -i 'xe_watch' "$log" | sed 's/^/# collectd: /'

# ---- 6. the fire drill, through an operator's write drop-in ------------------
cat >"$root/etc/collectd/collectd.conf.d/zz-xw-test-csv.conf" <<'CONF'
LoadPlugin csv
<Plugin csv>
  DataDir "/var/lib/xw-test/csv"
  StoreRates false
</Plugin>
CONF
in_root xe-watch-firedrill --hold 6 --hostname drill-test >"$w/drill.out" 2>&1
drill_rc=$?
sed 's/^/# drill: /' "$w/drill.out"
check "xe-watch-firedrill completes" test $drill_rc -eq 0
check "the drill names the operator's csv drop-in" grep -q 'sending through: .*zz-xw-test-csv.conf' "$w/drill.out"
check "the drill's notification: VM 3 on renderD128 failed: ENOMEM" grep -q 'VM 3 on renderD128 failed: ENOMEM' "$w/drill.out"
check "the drill's device loss: not listening on renderD129" grep -q 'severity = FAILURE.*Not listening on renderD129' "$w/drill.out"
vm_csv=$(ls "$root"/var/lib/xw-test/csv/drill-test/xe_watch-renderD128/errors-vm_err-ENOMEM-* 2>/dev/null | head -1)
check "the simulated VM error reached the csv write plugin" \
	eval '[ -n "$vm_csv" ] && tail -n +2 "$vm_csv" | cut -d, -f2 | grep -qx "1\(\.0*\)\{0,1\}"'
check "no process is left in the root" eval '[ -z "$(for p in /proc/[0-9]*; do [ "$(readlink $p/root)" = "$root" ] && echo $p; done)" ]'
rm -rf "$root/etc/collectd/collectd.conf.d/zz-xw-test-csv.conf" "$root/etc/collectd/xw-test.conf" \
	"$root/var/lib/xw-test"

stage "collectd runs and fire drill"
# ---- 7. purge ------------------------------------------------------------------
rm -f "$root/tmp/$(basename "$deb")"
if in_root apt-get purge -y -qq --autoremove collectd-xe-watch >"$w/purge.log" 2>&1; then
	ok "apt-get purge --autoremove collectd-xe-watch"
else
	not_ok "apt-get purge --autoremove collectd-xe-watch"; tail "$w/purge.log"
fi
snapshot >"$w/after"
if diff "$w/before" "$w/after" >"$w/diff"; then
	ok "the purge leaves the root as it was"
else
	not_ok "the purge leaves the root as it was"; sed 's/^/# /' "$w/diff"
fi
finish
