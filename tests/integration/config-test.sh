#!/bin/bash
# `collectd -t` accepts a good configuration and rejects a bad one with a
# message that says what to fix.
#
# collectd 5.12.0 (Debian 12) exits from -t before reading the file (fixed
# upstream in 3f575419e, "Fix broken -t option"); there -T, which reads the
# file, runs init and one read, is the validator, and this test uses it.
XW_NO_FAKE=1
. "$XW_SRCDIR/tests/integration/lib.sh"

printf 'BaseDir "%s"\nNoSuchGlobalOption 1\n' "$T" >"$T/probe.conf"
if "$XW_COLLECTD" -t -C "$T/probe.conf" >/dev/null 2>&1; then
	XW_TEST_FLAG=-T
	echo "# this collectd's -t does not read the configuration; validating with -T"
else
	XW_TEST_FLAG=-t
fi

# conf_test BLOCK: runs collectd -t; leaves its output in $T/t.out.
conf_test() {
	cat >"$T/t.conf" <<CONF
Hostname "$XW_HOST"
FQDNLookup false
BaseDir "$T"
PIDFile "$T/t.pid"
TypesDB "$XW_TYPESDB"
PluginDir "$XW_PLUGIN_DIR"
LoadPlugin xe_watch
<Plugin xe_watch>
$1
</Plugin>
CONF
	timeout 20 "$XW_COLLECTD" "$XW_TEST_FLAG" -C "$T/t.conf" >"$T/t.out" 2>&1
}
# passes BLOCK: accepted; otherwise prints what collectd said.
passes() {
	conf_test "$1" || { sed 's/^/#   /' "$T/t.out"; return 1; }
}
rejects() {
	local block=$1 says=$2
	if conf_test "$block"; then
		echo "# accepted: $block"
		return 1
	fi
	grep -qF -- "$says" "$T/t.out" || { sed 's/^/#   /' "$T/t.out"; return 1; }
}

check "a good configuration passes" passes '  Device "/dev/dri/renderD128"
  Device "/dev/dri/by-path/pci-0000:03:00.0-render"
  QueueSize 512
  Severity "warning"
  SendNotification true
  DispatchValues true
  RetryInterval 2
  MaxRetryInterval 600
  NotificationLimit 20
  NotificationWindow 300
  NotificationQueueLength 8192
  UAPIRevision "v2"
  SeverityByErrno "ENOMEM" "failure"
  SeverityByErrno "ETIME" "warning"'
check "unknown UAPIRevision" rejects '  Device "/dev/dri/renderD128"
  UAPIRevision "v9"' 'UAPIRevision "v9" is not known; this build knows'
check "SeverityByErrno with one string" rejects '  Device "/dev/dri/renderD128"
  SeverityByErrno "ENOMEM"' 'SeverityByErrno needs two strings'
check "SeverityByErrno with no errno" rejects '  Device "/dev/dri/renderD128"
  SeverityByErrno "ENOPE" "warning"' '"ENOPE" is not an errno'
check "no Device" rejects '  QueueSize 64' "no Device configured; add one such as"
check "QueueSize out of range" rejects '  Device "/dev/dri/renderD128"
  QueueSize 1024' "QueueSize 1024 is out of range; use 1 to 512"
check "unknown Severity" rejects '  Device "/dev/dri/renderD128"
  Severity "critical"' 'use "failure" or "warning"'
check "unknown option" rejects '  Device "/dev/dri/renderD128"
  Devices "/dev/dri/renderD129"' 'unknown option "Devices"'
check "relative Device path" rejects '  Device "renderD128"' "is not an absolute path"
check "Device listed twice" rejects '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD128"' "listed twice"
check "back-off cap below its start" rejects '  Device "/dev/dri/renderD128"
  RetryInterval 30
  MaxRetryInterval 10' "raise MaxRetryInterval"
check "a count quotes what was written" rejects '  Device "/dev/dri/renderD128"
  QueueSize 99999999999' "QueueSize 99999999999 is out of range; use 1 to 512"
check "a count is a whole number" rejects '  Device "/dev/dri/renderD128"
  QueueSize 2.7' "QueueSize 2.7 is not a whole number"
check "a time is bounded" rejects '  Device "/dev/dri/renderD128"
  NotificationWindow 99999999999' "NotificationWindow 99999999999 is out of range; use 0.001 to 86400 seconds"
check "a ProcRoot that does not exist" rejects '  Device "/dev/dri/renderD128"
  WatchClients true
  ProcRoot "/nonexistent/proc"' 'ProcRoot "/nonexistent/proc" does not exist'
# One file for a fleet: on a host without an xe GPU (this one, and CI),
# AutoDiscover loads quietly and -T succeeds.
if ls /sys/bus/pci/drivers/xe/0000:* >/dev/null 2>&1; then
	echo "# this host has an xe GPU; skipping the GPU-less AutoDiscover check"
else
	quiet_without_gpu() {
		passes '  AutoDiscover true' || return 1
		grep -q "AutoDiscover found no GPU bound to the xe driver on this host" "$T/t.out" &&
			! grep -qi "error" "$T/t.out" || { sed 's/^/#   /' "$T/t.out"; return 1; }
	}
	check "AutoDiscover without an xe GPU: loaded, one notice, no error" quiet_without_gpu
fi
xw_done
