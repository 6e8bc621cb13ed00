#!/bin/bash
# vm-run: --append "xe.uapi=2" --timeout 240
# The kernel serves RFC v2's numbers (watch ioctl 0x11; 0x0f is a stand-in
# VM_GET_PROPERTY answering ENOENT): the plugin configured for v1 logs one
# line naming the mismatch and the option; configured for v2 it reports VM
# errors (ENOMEM a WARNING), and a record of an unknown subtype reaches
# errors-unknown and is logged.
set -u
build=${XW_BUILDDIR:?} src=${XW_SRCDIR:?}
ctl=$src/tests/realkernel/xe-ctl
T=$(mktemp -d /tmp/xw-uapi.XXXXXX)
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
wait_for() { # wait_for SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}
log_has() { grep -q -F -- "$1" "$T/collectd.log" 2>/dev/null; }
value() { # value TYPE-INSTANCE: the last value in csv, any plugin instance
	local f
	for f in "$T"/csv/*/xe_watch-*/"$1"-[0-9][0-9][0-9][0-9]-*; do
		[ -f "$f" ] && tail -n 1 "$f" | cut -d, -f2 | cut -d. -f1 && return
	done
}
value_is() { [ "$(value "$1")" = "$2" ]; }
start() { # start UAPIREVISION
	rm -rf "$T/csv" "$T/collectd.log"
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
LoadPlugin csv
<Plugin csv>
  DataDir "$T/csv"
  StoreRates false
</Plugin>
PluginDir "$build/.libs"
LoadPlugin xe_watch
<Plugin xe_watch>
  Device "/dev/dri/renderD128"
  UAPIRevision "$1"
  RetryInterval 0.2
  MaxRetryInterval 0.5
  WatchUevents false
</Plugin>
CONF
	"${XW_COLLECTD:-/usr/sbin/collectd}" -f -C "$T/collectd.conf" >"$T/stdout" 2>&1 &
	pid=$!
}
stop() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

[ -e /dev/dri/renderD128 ] || { echo "no /dev/dri/renderD128 in the guest" && exit 1; }

# 1. v1 against a v2 kernel.
start v1
# 0x0f is another ioctl here: ENOENT (no such VM) or EINVAL (bad fields).
mismatch='xe_watch plugin: /dev/dri/renderD128: the kernel does not implement the watch ioctl at 0x4010644f (uAPI revision v1; it answered E[A-Z]*): if it carries another revision of the Xe watch-queue series, set UAPIRevision "v2"'
mismatch_logged() { grep -q -- "$mismatch" "$T/collectd.log" 2>/dev/null; }
check "v1: start-up line names the revision and 0x4010644f" wait_for 30 log_has \
	"speaking uAPI revision v1 (RFC v1 as posted, March 2026): watch ioctl 0x4010644f"
check "v1: the mismatch is named with the option to change" wait_for 30 mismatch_logged
sleep 3 # several retries at 0.2-0.5 s
n=$(grep -c -- "$mismatch" "$T/collectd.log")
check "v1: one line for it over 3 s of retries ($n)" test "$n" -eq 1
check "v1: nothing blames the pipe or permissions" \
	bash -c "! grep -iE 'xe_watch plugin:.*(pipe|permission)' '$T/collectd.log'"
check "v1: gauge-listening is 0" wait_for 10 value_is gauge-listening 0
stop
cp "$T/collectd.log" "$XW_VM_OUT/collectd-v1.log" 2>/dev/null

# 2. v2 against a v2 kernel.
start v2
check "v2: listening through 0x40106451" wait_for 30 log_has \
	"notes) with uAPI revision v2, ioctl 0x40106451"
# collectd's DRM file, by client id: the driver knows the file by the
# thread that opened it (the listener), not by collectd's pid.
client=
while read -r id p _; do
	[ -d "/proc/$pid/task/$p" ] && client=$id
done < <("$ctl" clients)
check "v2: collectd's DRM file is among the driver's clients" test -n "$client"
"$ctl" vm-err "client:$client" 3 -12 2
"$ctl" vm-err "client:$client" 4 -14 1
check "v2: VM errors counted" wait_for 20 value_is errors-vm_err 3
check "v2: ENOMEM notified as a WARNING" wait_for 10 log_has \
	"severity = WARNING, host = guest, plugin = xe_watch"
check "v2: the second failure of VM 3 is recognisable" wait_for 10 log_has \
	"failed: ENOMEM (Cannot allocate memory); failure 2 of this VM in 60 s"
check "v2: EFAULT notified as a FAILURE" wait_for 10 bash -c \
	"grep -F 'severity = FAILURE' '$T/collectd.log' | grep -q -F 'VM 4 on '"
"$ctl" unknown "client:$client" 7
check "v2: an unknown subtype reaches errors-unknown" wait_for 20 value_is errors-unknown 1
check "v2: and is logged with type and subtype" wait_for 10 log_has \
	"record of type 2, subtype 7 unknown to uAPI revision v2"
stop
cp "$T/collectd.log" "$XW_VM_OUT/collectd-v2.log" 2>/dev/null
[ "$failed" = 0 ] || sed 's/^/#   /' "$T/collectd.log"
echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
