#!/bin/bash
# A workload is attached when it opens the node, not at the next periodic
# scan: with the default settings (a 60 s safety-net scan) a job that opens
# the GPU, fails 1 s later and exits at 3 s is reported with its pid.
. "$XW_SRCDIR/tests/integration/lib.sh"

XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT" "$T/dri"
# A real file at the node's path: the fake opens it on every open of the
# node, so inotify hears the opens as it would a kernel node's.
NODE=$T/dri/renderD128
: >"$NODE"

xw_devices "$NODE driver=xe pdev=0000:03:00.0"
xw_config "  Device \"$NODE\"
  ProcRoot \"$XE_FAKE_PROCROOT\""
xw_start
check "subscribed" xw_wait 10 xw_watches_ge "$NODE" 1
check "it says how workloads are found" xw_wait 5 xw_log_has \
	"attaching to a workload when it opens a device node, and by a scan of $XE_FAKE_PROCROOT every 60 s"
# Let the scan that follows the device coming up pass.
sleep 0.5

env -u XE_FAKE_CTL LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
	"$XW_CLIENT" --no-stdin --exit-after-ms 3000 "$NODE" >"$T/client.out" 2>&1 &
CPID=$!
check "the job started" xw_wait 5 grep -q '^client ' "$T/client.out"
ID=$(awk '/^client /{print $3; exit}' "$T/client.out")
check "attached within 1 s of its open, long before the 60 s scan" \
	xw_wait 1 xw_log_has "watching the VMs of pid $CPID (xe-client), DRM client $ID"
sleep 1
xw_inject vm-err --client "$ID" --vm 5 --errno ENOMEM >/dev/null
check "its VM error 1 s after the open is reported with its pid" \
	xw_wait 5 xw_notifs_ge 1 "VM 5 of pid $CPID (xe-client) on renderD128 failed: ENOMEM" "pid: $CPID"
wait "$CPID"
check "the job exited at 3 s; its watch ended" xw_wait 5 xw_log_has "pid $CPID (xe-client) released DRM client $ID"
xw_stop >/dev/null
xw_done
