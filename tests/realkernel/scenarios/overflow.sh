#!/bin/bash
# Real kernel: a burst past the ring while collectd is stopped is counted exactly for what the ring held, the kernel's loss record is counted, and a WARNING says to raise QueueSize.
# vm-run: --gpus 1
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
# 32 notes is one page of the kernel's ring: it holds 32 records.
ring=32
burst=100
xw_config "  Device \"$NODE\"
  QueueSize $ring
  NotificationLimit 3
  NotificationWindow 2"
xw_start
check "listening with a $ring-note ring" xw_wait 30 xw_log_has \
	"$NODE ($SLOT): listening for VM errors (queue $ring notes)"
xw_post_vm_err $NODE 1 ENOSPC
check "errors-vm_err = 1 before the burst" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 1

# Every thread of collectd stopped: nothing reads the ring during the burst.
stopped() {
	local t
	for t in /proc/"$XW_PID"/task/*/stat; do
		grep -q '^[0-9]* (.*) [Tt] ' "$t" || return 1
	done
}
kill -STOP "$XW_PID"
check "collectd stopped" xw_wait 10 stopped
xw_post_vm_err $NODE 2 ENOMEM $burst
kill -CONT "$XW_PID"
check "errors-vm_err = 1 + $ring: what the ring held of $burst" \
	xw_wait 30 xw_value_is "$SLOT" errors-vm_err $((1 + ring))
check "errors-vm_err-ENOMEM = $ring" xw_wait 10 xw_value_is "$SLOT" errors-vm_err-ENOMEM $ring
check "the kernel's loss counted: errors-lost >= 1" xw_wait 10 xw_value_ge "$SLOT" errors-lost 1
check "loss logged as a WARNING with what to do" xw_wait 20 \
	grep -q "\[warning\] xe_watch plugin: $NODE: The kernel dropped VM error records on $SLOT: .* Raise QueueSize (now $ring" "$T/collectd.log"
check "WARNING notification for the loss" xw_wait 20 xw_notifs_ge 1 \
	"Severity: WARNING" "PluginInstance: $SLOT" "TypeInstance: lost" "Raise QueueSize"

# The ring works on after the loss.
xw_post_vm_err $NODE 3 ETIME 2
check "errors-vm_err = $((3 + ring)) after the burst" xw_wait 20 xw_value_is "$SLOT" errors-vm_err $((3 + ring))
check "still listening" xw_value_is "$SLOT" gauge-listening 1
xw_stop_told
xw_done
