#!/bin/bash
# Watch ids are shared: a process holding 200 DRM files gets
# MaxClientsPerProcess (16 by default) of them watched, a cgroup
# MaxClientsPerCgroup, the rest are counted as quota, and another
# workload is still watched; the notification limit is per workload, so
# one's storm does not cost another its first error.
. "$XW_SRCDIR/tests/integration/lib.sh"

XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"

xw_devices "/dev/dri/renderD128 driver=xe pdev=0000:03:00.0"
xw_config "  Device \"/dev/dri/renderD128\"
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2
  MaxClientsPerCgroup 24
  NotificationLimit 10
  NotificationWindow 600"
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

# start_client N CGROUP ARGS...: xe-client ARGS in CGROUP until fifo N closes.
start_client() {
	local n=$1 cg=$2
	shift 2
	mkfifo "$T/client$n.in"
	# Without the earlier clients' fifos: each sees EOF when its own closes.
	(
		for h in "${HOLDS[@]}"; do exec {h}>&-; done
		exec env -u XE_FAKE_CTL XE_FAKE_CGROUP="0::$cg" \
			LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
			"$XW_CLIENT" "$@" /dev/dri/renderD128 <"$T/client$n.in" >"$T/client$n.out" 2>&1
	) &
	PIDS+=($!)
	exec {HOLD}>"$T/client$n.in"
	HOLDS+=("$HOLD")
}
opened() { [ "$(grep -c '^client ' "$T/client$1.out" 2>/dev/null)" -ge "$2" ]; }
PIDS=() HOLDS=()

start_client 1 /hog.slice --files 200
HOG=${PIDS[0]}
check "the hog opened 200 files" xw_wait 20 opened 1 200
check "16 of them are watched" xw_wait 10 xw_value_is renderD128 gauge-clients 16
check "the other 184 counted as quota, once each" xw_wait 10 xw_value_is renderD128 errors-unwatched-quota 184
check "the cap is logged with the process" xw_log_has \
	"pid $HOG (xe-client), cgroup /hog.slice, has 16 watched DRM files (MaxClientsPerProcess 16)"

start_client 2 /work.slice
check "another workload is watched" xw_wait 10 xw_value_is renderD128 gauge-clients 17
ID=$(awk '/^client /{print $3; exit}' "$T/client2.out")
xw_inject vm-err --client "$ID" --vm 9 --errno ENOMEM >/dev/null
check "and its first error is reported" xw_wait 10 xw_notifs_ge 1 "VM 9 of pid ${PIDS[1]} (xe-client)"

# The hog storms: 100 ENOMEM errors on one file, NotificationLimit 10.
HOG_ID=$(sed -n "s/.*watching the VMs of pid $HOG (xe-client), DRM client \([0-9]*\).*/\1/p" \
	"$T/collectd.log" | head -n 1)
WORK_ID=$ID
xw_inject vm-err --client "$HOG_ID" --vm 1 --errno ENOMEM --count 100 >/dev/null
check "the hog's storm is limited to 10 notifications" \
	xw_wait 10 xw_notifs_ge 10 "VM 1 of pid $HOG (xe-client)"
# ...which must not cost another workload its first error of that errno.
xw_inject vm-err --client "$WORK_ID" --vm 2 --errno ENOMEM >/dev/null
check "the other workload's first ENOMEM is reported in the storm's window" \
	xw_wait 10 xw_notifs_ge 1 "VM 2 of pid ${PIDS[1]} (xe-client) on renderD128 failed: ENOMEM"
check "the hog got no more than its 10" test "$(xw_notifs "VM 1 of pid $HOG")" -eq 10

# Two processes of one cgroup: 24 files between them (MaxClientsPerCgroup).
start_client 3 /shared.slice --files 16
check "client 3 opened 16" xw_wait 10 opened 3 16
check "all of client 3's watched" xw_wait 10 xw_value_is renderD128 gauge-clients 33
start_client 4 /shared.slice --files 16
check "client 4 opened 16" xw_wait 10 opened 4 16
check "client 4 gets the cgroup's remaining 8" xw_wait 10 xw_value_is renderD128 gauge-clients 41
check "its other 8 counted as quota" xw_wait 10 xw_value_is renderD128 errors-unwatched-quota 192
check "nothing counted as no_free_id" xw_value_is renderD128 errors-unwatched-no_free_id 0

# The hog exits: its ids come back.
exec {HOLDS[0]}>&-
check "the hog's watches ended" xw_wait 10 xw_value_is renderD128 gauge-clients 25
for h in "${HOLDS[@]:1}"; do exec {h}>&-; done
check "every watch ended" xw_wait 10 xw_value_is renderD128 gauge-clients 0
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
xw_stop >/dev/null
xw_done
