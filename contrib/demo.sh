#!/bin/bash
# See xe_watch work without an Xe GPU: a real collectd loads the plugin,
# which watches two simulated xe devices (the project's simulated kernel,
# loaded with LD_PRELOAD); a scripted fire drill then injects VM errors,
# a storm, and a device removal. collectd's log (notifications and values)
# streams to the terminal. Runs about 20 seconds, then stops collectd.
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
export XE_FAKE_CTL=$d/fake.sock XE_FAKE_DEVICES=$d/devices
# Where the simulated kernel shows its DRM clients, as /proc does.
export XE_FAKE_PROCROOT=$d/proc
mkdir -p "$XE_FAKE_PROCROOT"
printf '%s\n' "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe" >"$XE_FAKE_DEVICES"

cat >"$d/collectd.conf" <<CONF
Hostname "demo-node"
FQDNLookup false
BaseDir "$d"
PIDFile "$d/collectd.pid"
Interval 5
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File STDOUT
  Timestamp true
  PrintSeverity true
</Plugin>
# Values, as every write plugin (network to InfluxDB, write_http...) gets
# them: csv prints them to the terminal as PUTVAL lines.
LoadPlugin csv
<Plugin csv>
  DataDir "stdout"
  StoreRates false
</Plugin>
PluginDir "$b/.libs"
LoadPlugin xe_watch
<Plugin xe_watch>
  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  NotificationLimit 3
  NotificationWindow 10
  RetryInterval 1
  WatchClients true
  ProcRoot "$XE_FAKE_PROCROOT"
  ClientScanInterval 1
</Plugin>
CONF

LD_PRELOAD=$b/tests/fake/.libs/libxefake.so "$collectd" -f -C "$d/collectd.conf" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$d"' EXIT
for _ in $(seq 100); do [ -S "$XE_FAKE_CTL" ] && break; sleep 0.1; done
"$inject" wait-watches /dev/dri/renderD128 1 --timeout-ms 10000 >/dev/null
"$inject" wait-watches /dev/dri/renderD129 1 --timeout-ms 10000 >/dev/null

step() { sleep "$1"; shift; printf '\n>>> fire drill: %s\n' "$*"; }
step 1 "VM 3 on renderD128 fails with ENOMEM"
"$inject" vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM >/dev/null
step 1 "VM 7 on renderD129 fails with ENOSPC"
"$inject" vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC >/dev/null
step 2 "a storm: 40 ENOMEM on renderD128 (3 notified, the rest counted and summed up)"
"$inject" vm-err /dev/dri/renderD128 --vm 4 --errno ENOMEM --count 40 >/dev/null
step 3 "a workload (xe-client) opens renderD128; its own VM 5 fails with ETIME"
env -u XE_FAKE_CTL LD_PRELOAD=$b/tests/fake/.libs/libxefake.so \
	"$b/tests/fake/xe-client" --no-stdin --exit-after-ms 4000 /dev/dri/renderD128 >"$d/client.out" &
for _ in $(seq 50); do grep -q '^client ' "$d/client.out" 2>/dev/null && break; sleep 0.1; done
cid=$(awk '/^client /{print $3; exit}' "$d/client.out")
"$inject" wait-clients 1 --timeout-ms 5000 >/dev/null
"$inject" vm-err --client "$cid" --vm 5 --errno ETIME >/dev/null
step 5 "renderD129 is removed, then comes back"
"$inject" remove /dev/dri/renderD129 >/dev/null
step 6 "renderD129 restored (the unplug was noticed by the device check, DeviceCheckInterval 5 s)"
"$inject" restore /dev/dri/renderD129 >/dev/null
step 9 "stopping collectd"
kill -TERM $pid
wait $pid 2>/dev/null || true
trap 'rm -rf "$d"' EXIT
echo
echo "xe_watch demo: done. Options: man -l doc/collectd-xe_watch.5"
