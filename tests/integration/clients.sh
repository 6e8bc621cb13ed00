#!/bin/bash
# WatchClients: two separate client processes holding xe DRM files are
# found in procfs, attached without collectd keeping their files open,
# reported with their pid and cgroup, and released when they exit.
. "$XW_SRCDIR/tests/integration/lib.sh"

[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
ID64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"

xw_devices "/dev/dri/renderD128 driver=xe pdev=0000:03:00.0"
xw_config "  Device \"/dev/dri/renderD128\"
  WatchClients true
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2
  QueueSize 32
  NotificationLimit 100"
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

xw_client 1 XE_FAKE_CGROUP="0::/system.slice/docker-$ID64.scope" -- /dev/dri/renderD128
PID1=$XW_CPID
xw_client 2 XE_FAKE_CGROUP="0::/user.slice/user-1000.slice/session-2.scope" -- /dev/dri/renderD128
PID2=$XW_CPID
xw_client_open 1
xw_client_open 2
ID1=$(xw_client_id 1)
ID2=$(xw_client_id 2)
check "two clients with distinct ids ($ID1, $ID2)" test "$ID1" != "$ID2"

check "both clients attached" xw_wait 10 \
	bash -c "'$XW_INJECT' -s '$XE_FAKE_CTL' wait-clients 2 --timeout-ms 100 >/dev/null 2>&1"
check "attach logged with pid and cgroup" xw_wait 5 xw_log_has \
	"watching the VMs of pid $PID1 (xe-client), DRM client $ID1, cgroup /system.slice/docker-$ID64.scope"
check "collectd holds no duplicate of either client's file" bash -c \
	"! ls -l /proc/$XW_PID/fd 2>/dev/null | grep -qE 'xe-fake-drm:($ID1|$ID2):'"

xw_inject vm-err --client "$ID1" --vm 3 --errno ENOMEM --count 2 >/dev/null
xw_inject vm-err --client "$ID2" --vm 9 --errno ENOSPC >/dev/null
check "client 1's errors attributed: pid, comm, cgroup, container" \
	xw_wait 10 xw_notifs_ge 2 "VM 3 of pid $PID1 (xe-client) on renderD128 failed: ENOMEM" \
	"pid: $PID1" "comm: xe-client" "cgroup: /system.slice/docker-$ID64.scope" \
	"container_id: $ID64" "drm_client_id: $ID1"
check "client 2's error attributed, no container id" \
	xw_wait 10 xw_notifs_ge 1 "VM 9 of pid $PID2 (xe-client)" "pid: $PID2" \
	"cgroup: /user.slice/user-1000.slice/session-2.scope"
check "no container_id for client 2" \
	test "$(xw_notifs "pid: $PID2" "container_id:")" -eq 0
check "counters per device: errors-vm_err = 3" xw_wait 10 xw_value_is renderD128 errors-vm_err 3

# Client 1 exits: its watch ends, client 2's goes on.
xw_client_end 1
check "client 1's release logged" xw_wait 10 xw_log_has \
	"pid $PID1 (xe-client) released DRM client $ID1; its watch ended"
# The simulated kernel either has no such file any more or no watch on it.
out=$(xw_inject vm-err --client "$ID1" --vm 4 --errno EIO 2>&1)
check "nothing watches client 1 any more ($out)" bash -c "! grep -q '^ok [1-9]' <<<'$out'"
xw_inject vm-err --client "$ID2" --vm 10 --errno EFAULT >/dev/null
check "client 2 still reported" xw_wait 10 xw_notifs_ge 1 "VM 10 of pid $PID2"

# Client 2 exits while the ring is full (the listener off the CPU): the
# kernel loses its removal record with the flood; the next scan finds no
# process holding the file and ends the watch.
client_listed() { xw_inject clients 2>/dev/null | grep -qw -- "$1"; }
before=4 # client 1's two, client 2's two; none for the unwatched one
check "errors-vm_err = $before before the flood" xw_wait 10 xw_value_is renderD128 errors-vm_err $before
xw_inject pause-reads on >/dev/null
out=$(xw_inject vm-err --client "$ID2" --vm 11 --errno ENOMEM --count 100)
queued=$(echo "$out" | awk '{print $2}')
check "the flood filled the ring ($out)" test "$(echo "$out" | awk '{print $3}')" -gt 0
xw_client_end 2
check "the simulated kernel released client 2's file" xw_wait 10 eval '! client_listed "$ID2"'
xw_inject pause-reads off >/dev/null
check "every flood record read was counted" \
	xw_wait 10 xw_value_is renderD128 errors-vm_err $((before + queued))
# Also keeps SIGTERM below from finding exec notification threads in
# flight: collectd 5.12's exec plugin frees its program list at shutdown
# while such threads still use it (a use-after-free in exec.so).
check "each of the $queued flood records notified, attributed to client 2" \
	xw_wait 30 xw_notifs_ge "$queued" "VM 11 of pid $PID2 (xe-client)"
check "client 2's release found though its removal record was lost" xw_wait 10 xw_log_has \
	"pid $PID2 (xe-client) released DRM client $ID2; its watch ended (no process holds it any more"
check "the loss did not end the device's own watch" xw_watches_ge /dev/dri/renderD128 1
check "the device's own watch is unaffected" xw_value_is renderD128 gauge-listening 1
ms=$(xw_stop)
check "collectd exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
