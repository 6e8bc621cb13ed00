#!/bin/bash
# Real kernel: AutoDiscover finds both GPUs bound to xe through sysfs and names them by PCI slot.
# vm-run: --gpus 2
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

S0=$(xw_slot /dev/dri/renderD128)
S1=$(xw_slot /dev/dri/renderD129)
check "two GPUs on distinct PCI slots ($S0, $S1)" test -n "$S0" -a -n "$S1" -a "$S0" != "$S1"
xw_config "  AutoDiscover true
  NotificationLimit 100"
xw_start
check "found renderD128" xw_wait 30 xw_log_has "AutoDiscover: found /dev/dri/renderD128"
check "found renderD129" xw_wait 30 xw_log_has "AutoDiscover: found /dev/dri/renderD129"
xw_check_listening /dev/dri/renderD128
xw_check_listening /dev/dri/renderD129
check "no card node discovered" eval '! xw_log_has "AutoDiscover: found /dev/dri/card"'

xw_post_vm_err /dev/dri/renderD128 1 ENOMEM
xw_post_vm_err /dev/dri/renderD129 2 EFAULT 2
check "$S0 errors-vm_err = 1" xw_wait 20 xw_value_is "$S0" errors-vm_err 1
check "$S1 errors-vm_err = 2" xw_wait 20 xw_value_is "$S1" errors-vm_err 2
check "$S1 notified under its slot" xw_wait 20 xw_notifs_ge 2 \
	"PluginInstance: $S1" "VM 2 on $S1 failed: EFAULT"
xw_stop_told
series=$(xw_instances | sort | tr '\n' ' ')
check "series named by the two slots only ($series)" \
	test "$series" = "$(printf '%s\n' "$S0" "$S1" | sort | tr '\n' ' ')"
xw_done
