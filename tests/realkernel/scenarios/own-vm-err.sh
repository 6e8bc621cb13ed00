#!/bin/bash
# A VM_ERR posted to collectd's own DRM file is notified with its meta and counted exactly under the GPU's one name, and another process's file is not heard without WatchClients (real kernel and fake).
# vm-run: --gpus 1
. "$XW_SRCDIR/tests/integration/lib.sh"

NODE=/dev/dri/renderD128
xw_devices "$NODE driver=xe"
SLOT=$(xw_name $NODE)
check "renderD128 has a name ($SLOT)" test -n "$SLOT"
xw_config "  Device \"$NODE\"
  WatchClients false
  NotificationLimit 100"
xw_start
xw_check_listening $NODE
[ "$XW_BACKEND" = real ] && check "collectd's own DRM file is in the kernel's client list" \
	xw_kernel_has_file "$(xw_own_client $NODE)"

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

# Scope: another process's DRM file, not attached (WatchClients false; it
# is on by default).
# The fake only knows the DRM files of the process it is preloaded in.
if [ "$XW_BACKEND" = real ]; then
	xw_client 1 -- $NODE
	xw_client_open 1
	xw_post_vm_err_client "$(xw_client_id 1)" 9 ENOMEM 4
	xw_post_vm_err $NODE 8 ETIME
	check "VM 8 (own file, posted after the workload's) heard" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 4
	check "the workload's VM errors are not heard (WatchClients false)" \
		test "$(xw_notifs "vm_id: 9")" -eq 0
	xw_client_end 1
	check "no series named after the node" bash -c "! ls '$T/csv/$XW_HOST' | grep -q render"
fi
check "one series directory, named $SLOT" test "$(xw_instances)" = "$SLOT"
xw_stop_told
check "no ERROR in the log" bash -c "! grep -q '\[error\]' '$T/collectd.log'"
xw_done
