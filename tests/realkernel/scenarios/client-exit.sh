#!/bin/bash
# Real kernel: a workload's exit releases its DRM file, whose removal record ends the plugin's watch on it, while other workloads' watches go on; a file shared by two processes ends only when the last lets go.
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

# Workload 3 forks once its file is open: parent and child share it.
xw_client 1 -- $NODE
PID1=$XW_CPID
xw_client 2 -- $NODE
PID2=$XW_CPID
xw_client 3 -- --fork $NODE
PID3=$XW_CPID
for i in 1 2 3; do
	xw_client_open $i
	eval "ID$i=\$(xw_client_id $i)"
done
check "workload 3 forked" xw_wait 20 grep -q '^forked ' "$T/client3.out"
CHILD3=$(awk '/^forked /{print $3}' "$T/client3.out")
check "all three attached" xw_wait 20 eval 'xw_log_has "pid $PID1 (xe-client), DRM client $ID1" &&
	xw_log_has "pid $PID2 (xe-client), DRM client $ID2" && xw_log_has "DRM client $ID3"'
attached() { grep -c "watching the VMs of pid [0-9]* (xe-client), DRM client $1\\(,\\|\$\\)" "$T/collectd.log"; }

xw_client_end 1
check "the kernel released workload 1's file" \
	xw_wait 10 eval '! xw_kernel_has_file "$ID1"'
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

# The shared file outlives the parent: no removal, still watched, once.
kill -TERM "$PID3"
check "workload 3's parent exits" xw_wait 20 xw_exited "$PID3"
wait "$PID3" 2>/dev/null
xw_post_vm_err_client "$ID3" 11 ENOMEM 2
check "the shared file's VM errors still heard after the parent's exit" xw_wait 20 xw_notifs_ge 2 \
	"vm_id: 11" "drm_client_id: $ID3"
check "errors-vm_err = 3" xw_wait 20 xw_value_is "$SLOT" errors-vm_err 3
check "its watch not ended while the child holds it" eval '! xw_log_has "released DRM client $ID3"'
check "the shared file attached once ($(attached "$ID3") times)" test "$(attached "$ID3")" -eq 1
xw_client_end 3 # the child reads the same stdin
check "workload 3's child exits" xw_wait 20 xw_exited "$CHILD3"
check "the shared file's watch ended with the child" xw_wait 20 xw_log_has \
	"released DRM client $ID3; its watch ended"

xw_client_end 2
check "workload 2's watch ended too" xw_wait 20 xw_log_has \
	"pid $PID2 (xe-client) released DRM client $ID2; its watch ended"
xw_stop_told
xw_done
