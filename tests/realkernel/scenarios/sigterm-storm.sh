#!/bin/bash
# Real kernel: SIGTERM while VM errors pour in ends collectd within a bound, and nothing of it stays behind (no DRM file, no process).
# vm-run: --gpus 1
XW_STOP_TIMEOUT=30
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
xw_config "  Device \"$NODE\"
  WatchClients true
  ClientScanInterval 0.5
  NotificationLimit 5"
xw_start
xw_check_listening $NODE
OWN=$(xw_own_client $NODE)
check "collectd's own DRM file known ($OWN)" test -n "$OWN"
xw_client 1 -- $NODE
CPID=$XW_CPID
xw_client_open 1
check "a workload attached" xw_wait 20 xw_log_has "watching the VMs of pid $CPID (xe-client)"

# The storm: collectd's own file and the workload's, until stopped.
(
	while :; do
		xw_ctl vm-err "client:$OWN" 1 -5 100 >/dev/null 2>&1 || exit
		xw_ctl vm-err "pid:$CPID" 2 -12 100 >/dev/null 2>&1 || exit
	done
) &
storm=$!
check "the storm is counted" xw_wait 20 xw_value_ge "$SLOT" errors-vm_err 200
ms=$(xw_stop)
kill "$storm" 2>/dev/null
wait "$storm" 2>/dev/null
echo "# collectd exited $ms ms after SIGTERM in a storm"
check "collectd exits within 10 s of SIGTERM in a storm (took $ms ms)" test "$ms" -lt 10000
check "the kernel released collectd's DRM file ($OWN)" \
	xw_wait 10 eval '! xw_kernel_has_file "$OWN"'
holders() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$CPID" ] && continue
		xw_holds_dri "${p#/proc/}" && echo "${p#/proc/}"
	done
}
check "no process but the workload holds a DRM node ($(holders | tr '\n' ' '))" \
	xw_wait 10 eval 'test -z "$(holders)"'
check "no process of collectd's left" xw_wait 10 eval '! pgrep -f "$T/collectd.conf" >/dev/null'
check "the workload's file is still open and its own" \
	xw_kernel_has_file "$(xw_client_id 1)" "$CPID"
xw_client_end 1
xw_done
