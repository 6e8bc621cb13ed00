#!/bin/bash
# More than 255 workload files on one GPU: when every watch id of its pipe
# is taken, a second pipe carries the rest, and a VM error on a file
# attached through it names the right process.
. "$XW_SRCDIR/tests/integration/lib.sh"

XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"

xw_devices "/dev/dri/renderD128 driver=xe pdev=0000:03:00.0"
xw_config "  Device \"/dev/dri/renderD128\"
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2
  MaxClientsPerProcess 0
  MaxClientsPerCgroup 0"
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

# start_client N ARGS...: xe-client ARGS until fifo N closes.
start_client() {
	local n=$1
	shift
	mkfifo "$T/client$n.in"
	(
		for h in "${HOLDS[@]}"; do exec {h}>&-; done
		exec env -u XE_FAKE_CTL XE_FAKE_CGROUP="0::/work$n.slice" \
			LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
			"$XW_CLIENT" "$@" /dev/dri/renderD128 <"$T/client$n.in" >"$T/client$n.out" 2>&1
	) &
	PIDS+=($!)
	exec {HOLD}>"$T/client$n.in"
	HOLDS+=("$HOLD")
}
opened() { [ "$(grep -c '^client ' "$T/client$1.out" 2>/dev/null)" -ge "$2" ]; }
PIDS=() HOLDS=()

# 300 files in two processes (xe-client holds at most 256).
start_client 1 --files 150
start_client 2 --files 150
check "client 1 opened 150 files" xw_wait 20 opened 1 150
check "client 2 opened 150 files" xw_wait 20 opened 2 150
check "all 300 are watched" xw_wait 20 xw_value_is renderD128 gauge-clients 300
check "a second pipe was opened" xw_log_has \
	"the 255 watch ids of 1 notification pipes are taken; opened pipe 2"

# Pipe 0's ids are all taken: this file is on the second pipe.
start_client 3
check "client 3 opened its file" xw_wait 10 opened 3 1
check "and it is watched" xw_wait 10 xw_value_is renderD128 gauge-clients 301
ID=$(awk '/^client /{print $3; exit}' "$T/client3.out")
xw_inject vm-err --client "$ID" --vm 7 --errno ENOMEM >/dev/null
check "its error names its pid" xw_wait 10 xw_notifs_ge 1 "VM 7 of pid ${PIDS[2]} (xe-client)"
check "nothing counted as no_free_id" xw_value_is renderD128 errors-unwatched-no_free_id 0

# Removal records on the second pipe free its ids.
for h in "${HOLDS[@]}"; do exec {h}>&-; done
check "every watch ended" xw_wait 20 xw_value_is renderD128 gauge-clients 0
check "no removal record went unknown" xw_value_is renderD128 errors-unknown 0
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
xw_stop >/dev/null
xw_done
