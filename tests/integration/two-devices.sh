#!/bin/bash
# Two simulated xe devices: per-device notifications with meta, exact
# counters, a clean and quick exit on SIGTERM.
. "$XW_SRCDIR/tests/integration/lib.sh"

xw_devices "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  NotificationLimit 100'
xw_start

check "renderD128 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "renderD129 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD129 1
check "log says it listens on renderD128" \
	xw_wait 5 xw_log_has "/dev/dri/renderD128 (renderD128): listening for VM errors"

xw_inject vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM --count 5 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC --count 2 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 8 --errno ETIME >/dev/null

check "renderD128 errors-vm_err = 5" xw_wait 10 xw_value_is renderD128 errors-vm_err 5
check "renderD129 errors-vm_err = 3" xw_wait 10 xw_value_is renderD129 errors-vm_err 3
check "renderD128 errors-vm_err-ENOMEM = 5" xw_wait 10 xw_value_is renderD128 errors-vm_err-ENOMEM 5
check "renderD129 errors-vm_err-ENOSPC = 2" xw_wait 10 xw_value_is renderD129 errors-vm_err-ENOSPC 2
check "renderD129 errors-vm_err-ETIME = 1" xw_wait 10 xw_value_is renderD129 errors-vm_err-ETIME 1
check "renderD129 errors-vm_err-ENOMEM = 0 (expected errnos start at 0)" xw_wait 10 xw_value_is renderD129 errors-vm_err-ENOMEM 0
check "renderD129 has no EIO series (not seen)" test -z "$(xw_value renderD129 errors-vm_err-EIO)"
check "renderD128 errors-lost = 0" xw_wait 10 xw_value_is renderD128 errors-lost 0
check "renderD128 gauge-listening = 1" xw_wait 10 xw_value_is renderD128 gauge-listening 1

check "5 FAILURE notifications for VM 3 on renderD128, with meta" \
	xw_wait 10 xw_notifs_ge 5 "Severity: FAILURE" "Plugin: xe_watch" \
	"PluginInstance: renderD128" "TypeInstance: vm_err" "vm_id: 3" \
	"error_code: -12" "errno: ENOMEM" "device: /dev/dri/renderD128" \
	"VM 3 on renderD128 failed: ENOMEM (Cannot allocate memory)"
check "2 notifications for VM 7 on renderD129" \
	xw_wait 10 xw_notifs_ge 2 "PluginInstance: renderD129" "vm_id: 7" \
	"VM 7 on renderD129 failed: ENOSPC (No space left on device)"
check "ETIME named in its notification" \
	xw_wait 10 xw_notifs_ge 1 "VM 8 on renderD129 failed: ETIME (Timer expired)"
check "no notification crossed devices" \
	test "$(xw_notifs "PluginInstance: renderD129" "vm_id: 3")" -eq 0
check "OKAY 'listening' notification per device" \
	xw_notifs_ge 1 "Severity: OKAY" "PluginInstance: renderD128" "Listening for VM errors"

ms=$(xw_stop)
check "collectd exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
check "no ERROR in the log" bash -c "! grep -q '\[error\]' '$T/collectd.log'"
xw_done
