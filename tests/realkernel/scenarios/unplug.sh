#!/bin/bash
# Real kernel: a GPU removed from the PCI bus is noticed within seconds (gauge-listening 0, FAILURE, its DRM file closed) and, rescanned, listened to again under the same name.
# vm-run: --gpus 1 --udev --timeout 240
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
xw_config "  Device \"$NODE\"
  RetryInterval 0.5
  MaxRetryInterval 1
  NotificationLimit 100"
xw_start
xw_check_listening $NODE
xw_post_vm_err $NODE 1 ENOMEM
check "errors-vm_err = 1 before the unplug" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 1
check "collectd holds its DRM file" xw_holds_dri "$XW_PID"

t0=$(date +%s%N)
echo 1 >"/sys/bus/pci/devices/$SLOT/remove"
if xw_wait 10 xw_notifs_ge 1 "Severity: FAILURE" "PluginInstance: $SLOT" "TypeInstance: listening"; then
	ok "FAILURE notification after the unplug ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	not_ok "FAILURE notification within 10 s of the unplug"
fi
check "gauge-listening = 0" xw_wait 10 xw_value_is "$SLOT" gauge-listening 0
check "collectd closed the dead device's file" xw_wait 10 eval '! xw_holds_dri "$XW_PID"'
check "the kernel released every DRM file of the dead device" \
	xw_wait 10 eval '! xw_ctl clients | grep -q .'

echo 1 >/sys/bus/pci/rescan
check "rescan brought the GPU back at $SLOT as renderD128" xw_wait 20 eval \
	'test -e $NODE && test "$(xw_slot $NODE)" = "$SLOT"'
if xw_wait 20 xw_notifs_ge 2 "Severity: OKAY" "PluginInstance: $SLOT" "Listening for VM errors on $SLOT"; then
	ok "OKAY notification when listening again ($((($(date +%s%N) - t0) / 1000000)) ms after the unplug)"
else
	not_ok "OKAY notification within 20 s of the rescan"
fi
check "gauge-listening = 1 again" xw_wait 10 xw_value_is "$SLOT" gauge-listening 1
xw_post_vm_err $NODE 2 ENOSPC
check "VM_ERR heard again on the new device" xw_wait 20 xw_notifs_ge 1 \
	"PluginInstance: $SLOT" "VM 2 on $SLOT failed: ENOSPC"
check "errors-vm_err = 2, one series across the gap" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 2
xw_stop_told
check "one series directory, named $SLOT" test "$(xw_instances)" = "$SLOT"
xw_done
