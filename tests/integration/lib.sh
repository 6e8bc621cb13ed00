# shellcheck shell=bash
# Shared by the integration tests: a real collectd with the built plugin,
# against the simulated xe kernel (tests/fake), its output read back from
# the csv plugin (values), the exec plugin (notifications, with meta) and
# the logfile plugin (log lines).
set -u

: "${XW_BUILDDIR:?run through make check}"
: "${XW_SRCDIR:=$XW_BUILDDIR}"
: "${XW_COLLECTD:=}"
: "${XW_COLLECTD_PLUGINDIR:=/usr/lib/collectd}"
: "${XW_TYPESDB:=/usr/share/collectd/types.db}"

XW_FAKE_LIB=$XW_BUILDDIR/tests/fake/.libs/libxefake.so
XW_INJECT=$XW_BUILDDIR/tests/fake/xe-inject
XW_PLUGIN_DIR=$XW_BUILDDIR/.libs
XW_HOST=xwtest

xw_skip() { echo "SKIP: $*"; exit 77; }

[ -n "$XW_COLLECTD" ] && [ -x "$XW_COLLECTD" ] || xw_skip "no collectd binary (apt-get install collectd-core)"
[ "${XW_NO_FAKE:-0}" = 1 ] || [ -f "$XW_FAKE_LIB" ] || xw_skip "$XW_FAKE_LIB is not built"
[ -f "$XW_PLUGIN_DIR/xe_watch.so" ] || xw_skip "xe_watch.so is not built"
[ -f "$XW_COLLECTD_PLUGINDIR/exec.so" ] || xw_skip "collectd's exec plugin is missing"
id nobody >/dev/null 2>&1 || xw_skip "no user 'nobody' for collectd's exec plugin"

T=$(mktemp -d "${TMPDIR:-/tmp}/xe_watch-test.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/notifs" "$T/csv"
chmod 1777 "$T/notifs"
export XE_FAKE_CTL=$T/fake.sock
export XE_FAKE_DEVICES=$T/devices
XW_PID=
XW_FAILED=0
XW_PASSED=0

# One file per notification: exec runs a sink process per notification, and
# separate files keep concurrent sinks from interleaving.
cat >"$T/notif-sink" <<SINK
#!/bin/sh
cat > "$T/notifs/n.\$\$.\$(date +%s%N)"
SINK
chmod 755 "$T/notif-sink"

xw_cleanup() {
	if [ -n "$XW_PID" ] && kill -0 "$XW_PID" 2>/dev/null; then
		kill -KILL "$XW_PID" 2>/dev/null
		wait "$XW_PID" 2>/dev/null
	fi
	if [ "$XW_FAILED" -ne 0 ]; then
		echo "# kept $T for inspection; collectd.log:"
		sed 's/^/#   /' "$T/collectd.log" 2>/dev/null | tail -40
	else
		rm -rf "$T"
	fi
}
trap xw_cleanup EXIT

ok() { XW_PASSED=$((XW_PASSED + 1)); echo "ok - $*"; }
not_ok() { XW_FAILED=$((XW_FAILED + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
xw_done() {
	echo "# $XW_PASSED passed, $XW_FAILED failed"
	[ "$XW_FAILED" -eq 0 ]
}

# xw_wait SECONDS COMMAND...: poll until COMMAND succeeds; bounded.
xw_wait() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# xw_devices LINE...: the simulated kernel's device table.
xw_devices() { printf '%s\n' "$@" >"$XE_FAKE_DEVICES"; }

# xw_config PLUGIN-BLOCK-LINES [MORE-CONFIG]: a collectd.conf with logfile,
# csv, exec, then MORE-CONFIG (other plugins, from collectd's PluginDir),
# then xe_watch.
xw_config() {
	cat >"$T/collectd.conf" <<CONF
Hostname "$XW_HOST"
FQDNLookup false
BaseDir "$T"
PIDFile "$T/collectd.pid"
Interval 1
TypesDB "$XW_TYPESDB"
PluginDir "$XW_COLLECTD_PLUGINDIR"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$T/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$T/csv"
  StoreRates false
</Plugin>
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody:nogroup" "$T/notif-sink"
</Plugin>
${2:-}
PluginDir "$XW_PLUGIN_DIR"
LoadPlugin xe_watch
<Plugin xe_watch>
$1
</Plugin>
CONF
}

# xw_start [ENV=VALUE...]: collectd in the foreground, in the background.
xw_start() {
	env "$@" LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
		"$XW_COLLECTD" -f -C "$T/collectd.conf" >"$T/stdout" 2>&1 &
	XW_PID=$!
	xw_wait 10 test -S "$XE_FAKE_CTL" || {
		not_ok "collectd started with the simulated kernel"
		cat "$T/stdout"
		exit 1
	}
}

# xw_stop: SIGTERM; prints the milliseconds collectd took to exit, 99999
# if it had to be killed.
xw_stop() {
	local t0 t1
	t0=$(date +%s%N)
	kill -TERM "$XW_PID"
	if xw_wait 5 xw_gone; then
		t1=$(date +%s%N)
		wait "$XW_PID" 2>/dev/null
		XW_PID=
		echo $(((t1 - t0) / 1000000))
	else
		echo 99999
	fi
}
xw_gone() { ! kill -0 "$XW_PID" 2>/dev/null || grep -q "^[0-9]* (.*) Z" "/proc/$XW_PID/stat" 2>/dev/null; }
xw_alive() { kill -0 "$XW_PID" 2>/dev/null; }

xw_inject() { "$XW_INJECT" -s "$XE_FAKE_CTL" "$@"; }
xw_watches_ge() { xw_inject wait-watches "$1" "$2" --timeout-ms 100 >/dev/null 2>&1; }

# xw_value INSTANCE TYPE-TYPE_INSTANCE: the newest value csv wrote, or "".
xw_value() {
	local f
	for f in "$T/csv/$XW_HOST/xe_watch-$1/$2"-[0-9][0-9][0-9][0-9]-*; do
		[ -f "$f" ] && tail -n 1 "$f" | cut -d, -f2 | cut -d. -f1
		return
	done
}
xw_value_is() { [ "$(xw_value "$1" "$2")" = "$3" ]; }
xw_value_ge() { local v; v=$(xw_value "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

# xw_notifs PATTERN...: number of notifications whose text has every pattern.
xw_notifs() {
	local n=0 f p hit
	for f in "$T"/notifs/n.*; do
		[ -f "$f" ] || continue
		hit=1
		for p in "$@"; do
			grep -q -- "$p" "$f" || { hit=0; break; }
		done
		n=$((n + hit))
	done
	echo "$n"
}
xw_notifs_ge() { local want=$1; shift; [ "$(xw_notifs "$@")" -ge "$want" ]; }
xw_log_has() { grep -q -- "$1" "$T/collectd.log" 2>/dev/null; }
