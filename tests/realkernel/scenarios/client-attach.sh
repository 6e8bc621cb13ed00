#!/bin/bash
# Real kernel: WatchClients attaches to a workload's DRM file through pidfd_getfd, attributes its VM errors to it, and keeps no descriptor of that file.
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
xw_check_listening $NODE
OWN=$(xw_own_client $NODE)
check "collectd's own DRM file known ($OWN)" test -n "$OWN"

xw_client 1 -- $NODE
CPID=$XW_CPID
xw_client_open 1
CID=$(xw_client_id 1)
check "the workload's drm-client-id ($CID) is the kernel's" \
	xw_kernel_has_file "$CID" "$CPID"
check "attach logged" xw_wait 20 xw_log_has \
	"$NODE ($SLOT): watching the VMs of pid $CPID (xe-client), DRM client $CID"
held=$(xw_fd_client_ids "$XW_PID" | tr '\n' ' ')
check "collectd's descriptors show its own DRM file ($held)" grep -qw -- "$OWN" <<<"$held"
check "collectd holds no descriptor of the workload's file ($held)" bash -c "! grep -qw -- '$CID' <<<'$held'"

xw_ctl vm-err "pid:$CPID" 5 -12 2
check "the workload's VM errors notified and attributed" xw_wait 20 xw_notifs_ge 2 \
	"Severity: FAILURE" "PluginInstance: $SLOT" "VM 5 of pid $CPID (xe-client) on $SLOT failed: ENOMEM" \
	"vm_id: 5" "error_code: -12" "pid: $CPID" "comm: xe-client" "drm_client_id: $CID"
check "errors-vm_err = 2" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 2
xw_post_vm_err $NODE 6 ENOSPC
check "collectd's own file's VM error is not attributed to a process" xw_wait 20 xw_notifs_ge 1 \
	"VM 6 on $SLOT failed: ENOSPC"
check "no pid meta on it" test "$(xw_notifs "vm_id: 6" "pid: ")" -eq 0
check "errors-vm_err = 3" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 3

xw_client_end 1
xw_stop_told
xw_done
