#!/bin/bash
# Real kernel: a VM_ERR posted to collectd's own DRM file is notified with its meta and counted exactly, under the GPU's PCI slot; another process's file is not heard without WatchClients.
# vm-run: --gpus 1
XW_KERNEL=real
. "$XW_SRCDIR/tests/integration/lib.sh"

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
check "renderD128 sits on a PCI slot ($SLOT)" test -n "$SLOT"
xw_config "  Device \"$NODE\"
  NotificationLimit 100"
xw_start
check "listening on $NODE as $SLOT" xw_wait 30 xw_log_has "$NODE ($SLOT): listening for VM errors"
check "collectd's own DRM file is in the kernel's client list" test -n "$(xw_own_client $NODE)"

xw_post_vm_err $NODE 3 ENOMEM 2
xw_post_vm_err $NODE 7 ENOSPC
check "2 FAILURE notifications for VM 3, with meta" xw_wait 20 xw_notifs_ge 2 \
	"Severity: FAILURE" "Plugin: xe_watch" "PluginInstance: $SLOT" "TypeInstance: vm_err" \
	"vm_id: 3" "error_code: -12" "errno: ENOMEM" "device: $NODE" \
	"VM 3 on $SLOT failed: ENOMEM (Cannot allocate memory)"
check "1 notification for VM 7" xw_wait 20 xw_notifs_ge 1 "PluginInstance: $SLOT" \
	"vm_id: 7" "error_code: -28" "VM 7 on $SLOT failed: ENOSPC (No space left on device)"
check "errors-vm_err = 3" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 3
check "errors-vm_err-ENOMEM = 2" xw_wait 10 xw_value_is "$SLOT" errors-vm_err-ENOMEM 2
check "errors-vm_err-ENOSPC = 1" xw_wait 10 xw_value_is "$SLOT" errors-vm_err-ENOSPC 1
check "errors-lost = 0" xw_value_is "$SLOT" errors-lost 0
check "gauge-listening = 1" xw_value_is "$SLOT" gauge-listening 1

# Scope: another process's DRM file, not attached (WatchClients false).
mkfifo "$T/client.in"
"$XW_BUILDDIR/tests/fake/xe-client" $NODE <"$T/client.in" >"$T/client.out" 2>&1 &
CPID=$!
exec {CFD}>"$T/client.in"
check "a workload opened $NODE" xw_wait 20 grep -q '^client ' "$T/client.out"
xw_ctl vm-err "pid:$CPID" 9 -12 4
xw_post_vm_err $NODE 8 ETIME
check "VM 8 (own file, posted after the workload's) heard" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 4
check "the workload's VM errors are not heard (WatchClients false)" \
	test "$(xw_notifs "vm_id: 9")" -eq 0
exec {CFD}>&-
wait "$CPID"

check "no series named after the node" bash -c "! ls '$T/csv/$XW_HOST' | grep -q render"
check "one series directory, named $SLOT" test "$(xw_instances)" = "$SLOT"
ms=$(xw_stop)
echo "# collectd exited $ms ms after SIGTERM"
check "no ERROR in the log" bash -c "! grep -q '\[error\]' '$T/collectd.log'"
xw_done
