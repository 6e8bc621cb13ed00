#!/bin/bash
# See xe_watch work without an Xe GPU: a real collectd loads the plugin,
# which watches two simulated xe devices (the project's simulated kernel,
# loaded with LD_PRELOAD); a scripted fire drill then injects VM errors,
# a storm, a workload's error and a device removal. After each step the
# demo prints what collectd's plugins received: the notifications with
# their meta (exec), the values that changed (csv) and xe_watch's warnings.
# Runs about 25 seconds, then stops collectd.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
contrib/install-deps.sh demo
echo "xe_watch demo: building..."
contrib/build.sh

b=$top/_build
collectd=$(command -v collectd || echo /usr/sbin/collectd)
inject=$b/tests/fake/xe-inject
d=$(mktemp -d /tmp/xe_watch-demo.XXXXXX)
# exec runs the notification sink as nobody: it must reach $d/notifs.
chmod 755 "$d"
mkdir -p "$d/notifs" "$d/csv"
chmod 1777 "$d/notifs"
export XE_FAKE_CTL=$d/fake.sock XE_FAKE_DEVICES=$d/devices
# Where the simulated kernel shows its DRM clients, as /proc does.
export XE_FAKE_PROCROOT=$d/proc
mkdir -p "$XE_FAKE_PROCROOT"
printf '%s\n' "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe" >"$XE_FAKE_DEVICES"
# One file per notification, as collectd's exec plugin hands it over:
# header, meta ("name: value"), a blank line, the message.
printf '#!/bin/sh\ncat >"%s/notifs/n.$(date +%%s%%N).$$"\n' "$d" >"$d/notif-sink"
chmod 755 "$d/notif-sink"

cat >"$d/collectd.conf" <<CONF
Hostname "demo-node"
FQDNLookup false
BaseDir "$d"
PIDFile "$d/collectd.pid"
Interval 1
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$d/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
# Values, as every write plugin (network to InfluxDB, write_http...) gets
# them; the demo prints those that change.
LoadPlugin csv
<Plugin csv>
  DataDir "$d/csv"
  StoreRates false
</Plugin>
# Notifications with their meta, as an alert pipeline gets them.
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody:nogroup" "$d/notif-sink"
</Plugin>
PluginDir "$b/.libs"
LoadPlugin xe_watch
<Plugin xe_watch>
  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  NotificationLimit 3
  NotificationWindow 10
  RetryInterval 1
  DeviceCheckInterval 1
  WatchClients true
  ProcRoot "$XE_FAKE_PROCROOT"
  ClientScanInterval 1
</Plugin>
CONF

LD_PRELOAD=$b/tests/fake/.libs/libxefake.so "$collectd" -f -C "$d/collectd.conf" >"$d/stdout" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$d"' EXIT
for _ in $(seq 100); do [ -S "$XE_FAKE_CTL" ] && break; sleep 0.1; done
"$inject" wait-watches /dev/dri/renderD128 1 --timeout-ms 10000 >/dev/null
"$inject" wait-watches /dev/dri/renderD129 1 --timeout-ms 10000 >/dev/null

# What the demo has shown already: notification files, values, log lines.
declare -A shown_value
shown_notifs=0 shown_log=0
# values: "device name value" for the latest sample of every value.
values() {
	local f dir dev name
	for f in "$d"/csv/*/xe_watch-*/*; do
		[ -f "$f" ] || continue
		dir=${f%/*}
		dev=${dir##*/xe_watch-}
		name=${f##*/}
		name=${name%-????-??-??}
		printf '%s %s %s\n' "$dev" "$name" "$(tail -n 1 "$f" | cut -d, -f2 | sed 's/\.0*$//')"
	done
}
# show: what arrived since the last call: notifications with their meta,
# values that changed, xe_watch's warnings and errors.
show() {
	local f key val n=0 dev name v line
	for f in $(ls "$d"/notifs/n.* 2>/dev/null | sort -t. -k2 -n); do
		n=$((n + 1))
		[ "$n" -le "$shown_notifs" ] && continue
		awk '
			/^$/ { body = 1; next }
			body { msg = msg $0; next }
			/^Severity: / { sev = $2; next }
			/^(Time|Host|Plugin|PluginInstance|Type|TypeInstance): / { next }
			{ sub(/: /, "="); meta = meta " " $0 }
			END { printf "  notification %-7s %s\n               meta:%s\n", sev, msg, meta }' "$f"
	done
	shown_notifs=$n
	while read -r dev name v; do
		key="$dev/$name"
		if [ "${shown_value[$key]-}" != "$v" ]; then
			[ "${1-}" = quiet ] || printf '  value        %-11s %-22s %s -> %s\n' "$dev" "$name" "${shown_value[$key]-none}" "$v"
			shown_value[$key]=$v
		fi
	done < <(values)
	n=0
	while IFS= read -r line; do
		n=$((n + 1))
		[ "$n" -le "$shown_log" ] && continue
		case $line in *"[warning] xe_watch"* | *"[error] xe_watch"*) printf '  log          %s\n' "${line#*] }" ;; esac
	done <"$d/collectd.log"
	shown_log=$n
}
# wait_notif PATTERN [N]: until N notifications (default 1) match, then one
# more read interval so that the values caught up.
wait_notif() {
	local i
	for i in $(seq 100); do
		[ "$(grep -l -- "$1" "$d"/notifs/n.* 2>/dev/null | wc -l)" -ge "${2:-1}" ] && break
		sleep 0.1
	done
	sleep 1.5
}
step() { printf '\n>>> %s\n' "$*"; }

printf '\nxe_watch demo: after each step, what collectd received: notifications\n'
printf '(with their meta, as exec hands them over), values that changed (csv)\n'
printf 'and the plugin'"'"'s warnings and errors (log).\n'
# collectd's very first samples can predate the subscription (listening 0):
# the demo starts from the state once both devices listen.
step "collectd starts; it listens on renderD128 and renderD129 (simulated)"
wait_notif "Listening for VM errors" 2
show quiet
for dev in renderD128 renderD129; do
	values | awk -v dev=$dev '$1 == dev && $2 == "gauge-listening" { l = $3 }
		$1 == dev && $2 ~ /^errors/ { n++; if ($3 != 0) nz++ }
		END { printf "  value        %-11s gauge-listening %s, %d counters, %d of them not 0\n", dev, l, n, nz }'
done

step "VM 3 on renderD128 fails with ENOMEM"
"$inject" vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM >/dev/null
wait_notif "VM 3 on renderD128"
show
step "VM 7 on renderD129 fails with ENOSPC"
"$inject" vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC >/dev/null
wait_notif "VM 7 on renderD129"
show
step "a storm: 40 EFAULT on renderD128; NotificationLimit 3: 3 notified, all 40 counted"
"$inject" vm-err /dev/dri/renderD128 --vm 4 --errno EFAULT --count 40 >/dev/null
wait_notif "VM 4 on renderD128" 3
show
step "the 10 s NotificationWindow ends: one summary of the 37 suppressed"
wait_notif "suppressed"
show
step "a workload (xe-client) opens renderD128; its own VM 5 fails with ETIME"
env -u XE_FAKE_CTL LD_PRELOAD=$b/tests/fake/.libs/libxefake.so \
	"$b/tests/fake/xe-client" --no-stdin --exit-after-ms 6000 /dev/dri/renderD128 >"$d/client.out" &
for _ in $(seq 50); do grep -q '^client ' "$d/client.out" 2>/dev/null && break; sleep 0.1; done
cid=$(awk '/^client /{print $3; exit}' "$d/client.out")
"$inject" wait-clients 1 --timeout-ms 5000 >/dev/null
"$inject" vm-err --client "$cid" --vm 5 --errno ETIME >/dev/null
wait_notif "VM 5 of pid"
show
step "renderD129 is removed"
"$inject" remove /dev/dri/renderD129 >/dev/null
wait_notif "Not listening on renderD129"
show
step "renderD129 comes back"
"$inject" restore /dev/dri/renderD129 >/dev/null
wait_notif "Listening for VM errors on renderD129" 2
show
kill -TERM $pid
wait $pid 2>/dev/null || true
trap 'rm -rf "$d"' EXIT
echo
echo "xe_watch demo: done. Options: man -l doc/collectd-xe_watch.5"
