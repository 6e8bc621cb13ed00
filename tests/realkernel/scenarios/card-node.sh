#!/bin/bash
# vm-run: --timeout 240
# A card node configured: collectd watches through the render node and
# never becomes DRM master, so another process can (DRM_IOCTL_SET_MASTER
# succeeds). The same check first proves it can fail: while a first opener
# holds the card, SET_MASTER from another opener gives EBUSY.
set -u
build=${XW_BUILDDIR:?}
T=$(mktemp -d /tmp/xw-card.XXXXXX)
passed=0 failed=0
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what" && passed=$((passed + 1))
	else
		echo "not ok - $what" && failed=$((failed + 1))
	fi
}
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}
log_has() { grep -q -F -- "$1" "$T/collectd.log" 2>/dev/null; }
# set_master NODE: open NODE and ask to be DRM master; prints 0 or the errno
# name. DRM_IOCTL_SET_MASTER is _IO('d', 0x1e).
set_master() {
	python3 - "$1" <<'PY'
import errno, fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CLOEXEC)
try:
    fcntl.ioctl(fd, 0x641e)
    print(0)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
PY
}

card=$(ls /dev/dri/card* 2>/dev/null | head -n 1)
[ -n "$card" ] || { echo "no /dev/dri/card* in the guest" && exit 1; }

# The check can fail: a first opener is master, and a second cannot be.
exec 8<>"$card"
r=$(set_master "$card")
check "control: SET_MASTER while another holds the card gives EBUSY ($r)" test "$r" = EBUSY
exec 8>&-

cat >"$T/collectd.conf" <<CONF
Hostname "guest"
FQDNLookup false
BaseDir "$T"
PIDFile "$T/collectd.pid"
Interval 1
TypesDB "${XW_TYPESDB:-/usr/share/collectd/types.db}"
PluginDir "${XW_COLLECTD_PLUGINDIR:-/usr/lib/collectd}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$T/collectd.log"
  PrintSeverity true
</Plugin>
PluginDir "$build/.libs"
LoadPlugin xe_watch
<Plugin xe_watch>
  Device "$card"
  WatchUevents false
</Plugin>
CONF
"${XW_COLLECTD:-/usr/sbin/collectd}" -f -C "$T/collectd.conf" >"$T/stdout" 2>&1 &
pid=$!
name=${card##*/}
check "collectd watches $name through a render node" wait_for 30 log_has \
	"xe_watch plugin: $card: watching $name through renderD"
check "and listens" wait_for 10 log_has "listening for VM errors"
check "collectd holds no fd to $card" \
	bash -c "! ls -l /proc/$pid/fd 2>/dev/null | grep -q -- '-> $card\$'"
r=$(set_master "$card")
check "another process becomes DRM master while collectd runs ($r)" test "$r" = 0
check "collectd still runs" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid" 2>/dev/null
cp "$T/collectd.log" "$XW_VM_OUT/collectd-card.log" 2>/dev/null
[ "$failed" = 0 ] || sed 's/^/#   /' "$T/collectd.log"
echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
