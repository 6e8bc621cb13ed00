#!/bin/bash
# xe-watch-firedrill from the build tree: the VM error and the device loss
# travel through the operator's drop-ins (here csv and exec); drop-ins that
# would reach a GPU or the production collectd are skipped; no simulated
# kernel, no drill.
. "$XW_SRCDIR/tests/integration/lib.sh"

drill=$XW_BUILDDIR/xe-watch-firedrill
[ -x "$drill" ] || xw_skip "$drill is not built"
export XW_DRILL_DIR=$XW_BUILDDIR/tests/fake/.libs XW_DRILL_INJECT=$XW_INJECT \
	XW_DRILL_PLUGINDIR=$XW_PLUGIN_DIR XW_DRILL_COLLECTD_PLUGINDIR=$XW_COLLECTD_PLUGINDIR \
	XW_DRILL_COLLECTD=$XW_COLLECTD_REAL TMPDIR=$T
conf=$T/conf.d
mkdir -p "$conf"
cat >"$conf/write-csv.conf" <<CONF
LoadPlugin csv
<Plugin csv>
  DataDir "$T/csv"
  StoreRates false
</Plugin>
CONF
cat >"$conf/alerts.conf" <<CONF
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody:nogroup" "$T/notif-sink"
</Plugin>
CONF
# A host's own xe_watch configuration, under another name, and a drop-in
# with the production collectd's socket: both must stay out of the drill.
printf 'LoadPlugin xe_watch\n<Plugin xe_watch>\n  AutoDiscover true\n</Plugin>\n' >"$conf/gpu.conf"
printf 'LoadPlugin unixsock\n<Plugin unixsock>\n  SocketFile "%s/prod.sock"\n</Plugin>\n' "$T" >"$conf/sock.conf"
cp "$XW_SRCDIR/contrib/collectd.conf.d/xe_watch.conf" "$conf/"

"$drill" --conf-dir "$conf" --hold 3 --hostname drill-node >"$T/drill.out" 2>&1
rc=$?
sed 's/^/# /' "$T/drill.out"
check "the drill completes" test $rc -eq 0
check "it sends through the write and alert drop-ins" \
	grep -q "sending through: $conf/alerts.conf $conf/write-csv.conf\$" "$T/drill.out"
check "it skips a drop-in configuring xe_watch" grep -q "skipping $conf/gpu.conf: it configures xe_watch" "$T/drill.out"
check "it skips a drop-in with a socket of the production collectd" grep -q "skipping $conf/sock.conf" "$T/drill.out"
check "no production socket was created" test ! -e "$T/prod.sock"
check "the VM error reached the exec drop-in, with the drill's host name" \
	xw_notifs_ge 1 "Host: drill-node" "VM 3 on renderD128 failed: ENOMEM" "errno: ENOMEM"
check "the device loss reached it" xw_notifs_ge 1 "Host: drill-node" "Not listening on renderD129"
check "and its end (OKAY)" xw_notifs_ge 1 "Severity: OKAY" "Listening for VM errors on renderD129"
check "the VM error reached the csv drop-in" \
	bash -c "tail -n 1 '$T'/csv/drill-node/xe_watch-renderD128/errors-vm_err-ENOMEM-* | grep -q ',1$'"
check "the drill leaves no collectd and no work directory" \
	bash -c "! pgrep -f '$T/[x]e-watch-firedrill' >/dev/null && ! ls -d '$T'/xe-watch-firedrill.* 2>/dev/null"
check "the drill says what to look for" grep -q "^What to look for" "$T/drill.out"

XW_DRILL_DIR=$T/nowhere "$drill" --no-conf-dir --hold 1 >"$T/refuse.out" 2>&1
rc=$?
check "without the simulated kernel it refuses (exit 1)" test $rc -eq 1
check "and says why" grep -q "refusing: the simulated kernel .* is missing" "$T/refuse.out"
check "and starts no collectd" test ! -e "$T/csv/$(hostname)-firedrill"
xw_done
