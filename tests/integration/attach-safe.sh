#!/bin/bash
# Attaching is on by default and safe: a workload's fd swapped for another
# file between its fdinfo and the duplicate is never subscribed through
# (each case counted as a mismatch), and workloads' control characters
# never reach the log or the notifications as such.
. "$XW_SRCDIR/tests/integration/lib.sh"

XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"

xw_devices "/dev/dri/renderD128 driver=xe pdev=0000:03:00.0"
# No WatchClients line: on by default.
xw_config "  Device \"/dev/dri/renderD128\"
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2
  NotificationLimit 100"
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

# start_client N ARGS...: a workload (xe-client ARGS) that exits when its
# stdin (fifo N) closes; sets CPID, holds the fifo on fd variable FDN.
start_client() {
	local n=$1
	shift
	mkfifo "$T/client$n.in"
	env -u XE_FAKE_CTL ${CGROUP:+XE_FAKE_CGROUP="$CGROUP"} \
		LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
		"$XW_CLIENT" "$@" <"$T/client$n.in" >"$T/client$n.out" 2>&1 &
	CPID=$!
	exec {HOLD}>"$T/client$n.in"
	eval "FD$n=$HOLD"
}
field() { awk -v n="$2" '/^client /{if (++i == n) {print $'"$3"'; exit}}' "$T/client$1.out"; }

# Client 1 learns which fds a client's two files get (the same in every
# client started alike), then exits.
start_client 1 --files 2 /dev/dri/renderD128
check "client 1 started" xw_wait 10 grep -c '^client ' "$T/client1.out"
xw_wait 10 bash -c "[ \$(grep -c '^client ' '$T/client1.out') -ge 2 ]"
check "client 1 attached by default, without WatchClients" \
	xw_wait 10 xw_value_is renderD128 gauge-clients 2
# A = the fd the scan reaches first (procfs order), B = the other: a swap
# of A for B subscribes B's file under A's name unless the plugin checks.
first=$(sed -n "s/.*watching the VMs of pid $CPID (xe-client), DRM client \([0-9]*\).*/\1/p" \
	"$T/collectd.log" | head -n 1)
if [ "$first" = "$(field 1 1 3)" ]; then A=$(field 1 1 5) B=$(field 1 2 5); else A=$(field 1 2 5) B=$(field 1 1 5); fi
exec {FD1}>&-
wait "$CPID" 2>/dev/null

# Client 2: between the plugin's fdinfo read of fd A and its duplicate,
# A is replaced by B's file (another DRM file, another client id).
# It runs in a Kubernetes pod (systemd cgroup driver, Guaranteed QoS).
xw_inject swap-getfd "$B" "$A" >/dev/null
UID_=1b2c3d4e_5f60_4a7b_8c9d_0e1f2a3b4c5d
ID64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
CGROUP="0::/kubepods.slice/kubepods-pod$UID_.slice/cri-containerd-$ID64.scope" \
	start_client 2 --files 2 /dev/dri/renderD128
PID2=$CPID
check "client 2 started" xw_wait 10 bash -c "[ \$(grep -c '^client ' '$T/client2.out') -ge 2 ]"
check "client 2's files are at client 1's fds" test "$(field 2 1 5) $(field 2 2 5)" = "$(field 1 1 5) $(field 1 2 5)"
for i in 1 2; do
	[ "$(field 2 $i 5)" = "$A" ] && ID_A=$(field 2 $i 3)
	[ "$(field 2 $i 5)" = "$B" ] && ID_B=$(field 2 $i 3)
done
check "the swapped duplicate is refused and said so" xw_wait 10 xw_log_has \
	"fd $A of pid $PID2 (xe-client) changed between its fdinfo and the duplicate (another DRM client id); not watched"
check "counted: errors-unwatched-mismatch = 1" xw_wait 10 xw_value_is renderD128 errors-unwatched-mismatch 1
# The next scan finds fd A again and attaches it through a true duplicate.
check "both files watched at last" xw_wait 10 xw_value_is renderD128 gauge-clients 2
xw_inject vm-err --client "$ID_B" --vm 5 --errno ENOSPC >/dev/null
check "B's error is B's: drm_client_id $ID_B" \
	xw_wait 10 xw_notifs_ge 1 "VM 5 of pid $PID2" "drm_client_id: $ID_B"
check "never attributed to A's client id" test "$(xw_notifs "VM 5 of pid $PID2" "drm_client_id: $ID_A")" -eq 0
xw_inject vm-err --client "$ID_A" --vm 6 --errno ENOSPC >/dev/null
check "the attach log names the pod" xw_log_has \
	"watching the VMs of pid $PID2 (xe-client), DRM client $ID_A, cgroup /kubepods.slice/kubepods-pod$UID_.slice/cri-containerd-$ID64.scope, pod ${UID_//_/-}"
check "A's error is A's, with its pod UID and container id" xw_wait 10 xw_notifs_ge 1 \
	"VM 6 of pid $PID2" "drm_client_id: $ID_A" "pod_uid: ${UID_//_/-}" "container_id: $ID64"

# Client 3: fd A's duplicate is its stdin, a fifo: not a character device.
# It names itself with an escape sequence and a newline (a forged log line).
xw_inject swap-getfd 0 "$A" >/dev/null
start_client 3 --files 2 --comm $'ev\e[2J\nERROR' /dev/dri/renderD128
PID3=$CPID
COMM3='ev\x1b[2J\x0aERROR'
log_has_text() { grep -qF -- "$1" "$T/collectd.log" 2>/dev/null; }
check "client 3's fifo refused" xw_wait 10 log_has_text \
	"fd $A of pid $PID3 ($COMM3) changed between its fdinfo and the duplicate (not a character device)"
check "counted: errors-unwatched-mismatch = 2" xw_wait 10 xw_value_is renderD128 errors-unwatched-mismatch 2
check "all four files watched at last" xw_wait 10 xw_value_is renderD128 gauge-clients 4
for r in refused no_free_id quota; do
	check "nothing counted as $r" xw_value_is renderD128 errors-unwatched-$r 0
done
check "no raw control character in the log" bash -c "! grep -q \$'\\e' '$T/collectd.log'"
ID3=$(field 3 1 3)
xw_inject vm-err --client "$ID3" --vm 7 --errno EFAULT >/dev/null
check "client 3's comm escaped in the notification" xw_wait 10 bash -c \
	"grep -lF 'VM 7 of pid $PID3 ($COMM3)' '$T'/notifs/n.* | xargs grep -qF 'comm: $COMM3'"

exec {FD2}>&- {FD3}>&-
check "both clients' watches ended" xw_wait 10 xw_value_is renderD128 gauge-clients 0
ms=$(xw_stop)
xw_done
