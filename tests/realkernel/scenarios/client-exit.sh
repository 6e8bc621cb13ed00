#!/bin/bash
# Real kernel: a workload's exit releases its DRM file, whose removal record ends the plugin's watch on it; another workload's watch goes on.
# vm-run: --gpus 1
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
xw_config "  Device \"$NODE\"
  WatchClients true
  ClientScanInterval 0.5
  NotificationLimit 100"
xw_start
check "listening on $NODE as $SLOT" xw_wait 30 xw_log_has "$NODE ($SLOT): listening for VM errors"

for i in 1 2; do
	xw_client $i -- $NODE
	eval "PID$i=\$XW_CPID"
done
for i in 1 2; do
	xw_client_open $i
	eval "ID$i=\$(xw_client_id $i)"
done
check "both attached" xw_wait 20 eval 'xw_log_has "pid $PID1 (xe-client), DRM client $ID1" &&
	xw_log_has "pid $PID2 (xe-client), DRM client $ID2"'

xw_client_end 1
check "the kernel released workload 1's file" \
	xw_wait 10 eval "! xw_ctl clients | awk '\$1 == \"$ID1\"' | grep -q ."
# The removal record, not a later scan, ended it: no "(no process holds it
# any more ...)" after the line.
check "its watch ended by the kernel's removal record" xw_wait 20 \
	grep -q "pid $PID1 (xe-client) released DRM client $ID1; its watch ended\$" "$T/collectd.log"

xw_ctl vm-err "pid:$PID2" 10 -14
check "workload 2 still heard" xw_wait 20 xw_notifs_ge 1 \
	"VM 10 of pid $PID2 (xe-client) on $SLOT failed: EFAULT" "drm_client_id: $ID2"
check "errors-vm_err = 1" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 1
check "no release logged for workload 2" eval '! xw_log_has "released DRM client $ID2"'
check "gauge-listening = 1" xw_value_is "$SLOT" gauge-listening 1

xw_client_end 2
check "workload 2's watch ended too" xw_wait 20 xw_log_has \
	"pid $PID2 (xe-client) released DRM client $ID2; its watch ended"
ms=$(xw_stop)
echo "# collectd exited $ms ms after SIGTERM"
xw_done
