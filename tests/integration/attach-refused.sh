#!/bin/bash
# When attaching cannot work -- here a ProcRoot that shows another PID
# namespace than collectd's, as a host /proc in a container without
# hostPID -- one ERROR says why and what to change, no workload is
# attached, and the device node is watched as ever. WatchClients false
# turns attaching off without a word.
. "$XW_SRCDIR/tests/integration/lib.sh"

XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"
# Our pid, as that procfs names it, is not getpid(): another namespace.
ln -s 4194000 "$XE_FAKE_PROCROOT/self"

xw_devices "/dev/dri/renderD128 driver=xe pdev=0000:03:00.0"
mkfifo "$T/client.in"
env -u XE_FAKE_CTL LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
	"$XW_CLIENT" /dev/dri/renderD128 <"$T/client.in" >"$T/client.out" 2>&1 &
CPID=$!
exec {HOLD}>"$T/client.in"
check "a workload holds an xe file" xw_wait 10 grep -q '^client ' "$T/client.out"

config() {
	xw_config "  Device \"/dev/dri/renderD128\"$1"
}
config "
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2"
xw_start
check "the node is watched" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
msg="not attaching to workloads' DRM files (WatchClients): ProcRoot \"$XE_FAKE_PROCROOT\" shows another PID namespace than collectd's own"
check "one ERROR says why" xw_wait 10 xw_log_has "\[error\] xe_watch plugin: $msg"
check "... and what to change" xw_log_has "(Kubernetes: hostPID: true; docker/podman: --pid=host)"
xw_inject vm-err renderD128 --vm 2 --errno ENOMEM >/dev/null
check "the node's errors are reported" xw_wait 10 xw_notifs_ge 1 "VM 2 on renderD128 failed: ENOMEM"
check "gauge-clients says nothing is watched" xw_wait 10 xw_value_is renderD128 gauge-clients 0
check "the workload is not attached" test "$(xw_inject watches renderD128)" = "ok 1"
check "said once" test "$(grep -c "$msg" "$T/collectd.log")" -eq 1
check "nothing was attached" bash -c "! grep -q 'watching the VMs of pid' '$T/collectd.log'"
xw_stop >/dev/null

# WatchClients false: off, silently; no client values either.
rm -rf "$T/csv" "$T/collectd.log"
mkdir -p "$T/csv"
config "
  WatchClients false"
xw_start
check "the node is watched (WatchClients false)" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "values are written" xw_wait 10 xw_value_is renderD128 gauge-listening 1
check "no word about attaching" bash -c "! grep -q 'WatchClients\|attach' '$T/collectd.log'"
check "no gauge-clients" bash -c "! ls '$T/csv/$XW_HOST/xe_watch-renderD128/' | grep -q gauge-clients"
xw_stop >/dev/null
exec {HOLD}>&-
wait "$CPID" 2>/dev/null
xw_done
