#!/bin/bash
# Real kernel: two GPUs are named by PCI slot from the first value and notification on, even the one whose driver was unbound when collectd started; no series is ever named after a node.
# vm-run: --gpus 2 --udev --timeout 240
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

S0=$(xw_slot /dev/dri/renderD128)
S1=$(xw_slot /dev/dri/renderD129)
check "two GPUs on distinct PCI slots ($S0, $S1)" test -n "$S0" -a -n "$S1" -a "$S0" != "$S1"
# The second GPU is configured by its stable udev path, which names its
# slot even while the GPU is unbound and the link is gone.
LINK=/dev/dri/by-path/pci-$S1-render
check "udev made $LINK" xw_wait 30 test -e "$LINK"
echo "$S1" >/sys/bus/pci/drivers/xe/unbind
check "unbinding $S1 removed its node" xw_wait 10 eval '! test -e /dev/dri/renderD129 && ! test -e "$LINK"'

xw_config "  Device \"/dev/dri/renderD128\"
  Device \"$LINK\"
  RetryInterval 0.5
  MaxRetryInterval 1
  NotificationLimit 100"
xw_start
xw_check_listening /dev/dri/renderD128
check "FAILURE for the unbound GPU, named $S1" xw_wait 20 xw_notifs_ge 1 \
	"Severity: FAILURE" "PluginInstance: $S1" "TypeInstance: listening" "Not listening on $S1"
check "values dispatched while it is unbound, gauge-listening $S1 = 0" \
	xw_wait 10 xw_value_is "$S1" gauge-listening 0

echo "$S1" >/sys/bus/pci/drivers/xe/bind
check "binding $S1 again brought back its link" xw_wait 30 test -e "$LINK"
check "OKAY for it once bound, named $S1" xw_wait 30 xw_notifs_ge 1 \
	"Severity: OKAY" "PluginInstance: $S1" "TypeInstance: listening" "Listening for VM errors on $S1"
check "gauge-listening $S1 = 1" xw_wait 10 xw_value_is "$S1" gauge-listening 1

xw_post_vm_err /dev/dri/renderD128 3 ENOMEM 2
xw_post_vm_err "$LINK" 7 ENOSPC
check "$S0 errors-vm_err = 2" xw_wait 20 xw_value_is "$S0" errors-vm_err 2
check "$S1 errors-vm_err = 1" xw_wait 20 xw_value_is "$S1" errors-vm_err 1
check "$S0's notifications name $S0" xw_wait 20 xw_notifs_ge 2 \
	"PluginInstance: $S0" "vm_id: 3" "VM 3 on $S0 failed: ENOMEM"
check "$S1's notification names $S1" xw_wait 20 xw_notifs_ge 1 \
	"PluginInstance: $S1" "vm_id: 7" "VM 7 on $S1 failed: ENOSPC"
check "no notification crossed GPUs" test "$(xw_notifs "PluginInstance: $S0" "vm_id: 7")" -eq 0

xw_stop_told
# Every name collectd's consumers ever saw.
slots=$(printf '%s\n' "$S0" "$S1" | sort | tr '\n' ' ')
names=$(sed -n 's/^PluginInstance: //p' "$T"/notifs/n.* | sort -u | tr '\n' ' ')
check "notifications name only the two slots ($names)" test "$names" = "$slots"
series=$(xw_instances | sort | tr '\n' ' ')
check "csv series named only by the two slots ($series)" test "$series" = "$slots"
check "no series named after a node" bash -c "! ls '$T/csv/$XW_HOST' | grep -q -e render -e card -e pci-"
xw_done
