#!/bin/bash
# The shipped systemd drop-in (contrib/systemd/xe_watch.conf) applied to a
# root collectd with setpriv, as systemd would: WatchClients still attaches
# and the exec plugin still runs its notification program as nobody.
drop_in=$XW_SRCDIR/contrib/systemd/xe_watch.conf
caps_of() { sed -n "s/^$1=//p" "$drop_in" | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)/\L\1/p' | paste -sd, -; }
ambient=$(caps_of AmbientCapabilities)
bounding=$(caps_of CapabilityBoundingSet)
wrap="setpriv"
[ -z "$bounding" ] || wrap="$wrap --bounding-set -all,+${bounding//,/,+}"
[ -z "$ambient" ] || wrap="$wrap --inh-caps +${ambient//,/,+} --ambient-caps +${ambient//,/,+}"
XW_COLLECTD_WRAPPER="$wrap${XW_COLLECTD_WRAPPER:+ $XW_COLLECTD_WRAPPER}"
. "$XW_SRCDIR/tests/integration/lib.sh"

command -v setpriv >/dev/null || xw_skip "no setpriv (util-linux)"
[ "$(id -u)" -eq 0 ] || xw_skip "needs root, as Debian's collectd.service"
$wrap true 2>/dev/null || xw_skip "cannot apply the drop-in's capabilities here ($wrap)"
XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
[ -x "$XW_CLIENT" ] || xw_skip "$XW_CLIENT is not built"
echo "# collectd runs under: $wrap"
export XE_FAKE_PROCROOT=$T/proc
mkdir -p "$XE_FAKE_PROCROOT"

xw_devices "/dev/dri/renderD128 driver=xe"
xw_config "  Device \"/dev/dri/renderD128\"
  WatchClients true
  ProcRoot \"$XE_FAKE_PROCROOT\"
  ClientScanInterval 0.2"
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

mkfifo "$T/client.in"
env -u XE_FAKE_CTL LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_FAKE_LIB" \
	"$XW_CLIENT" /dev/dri/renderD128 <"$T/client.in" >"$T/client.out" 2>&1 &
CPID=$!
exec {FD}>"$T/client.in"
check "client started" xw_wait 10 grep -q '^client ' "$T/client.out"
CID=$(awk '/^client /{print $3; exit}' "$T/client.out")
check "the client is attached" xw_wait 10 \
	bash -c "'$XW_INJECT' -s '$XE_FAKE_CTL' wait-clients 1 --timeout-ms 100 >/dev/null 2>&1"
xw_inject vm-err --client "$CID" --vm 3 --errno ENOMEM >/dev/null
check "the exec plugin delivers the client's VM error (run as nobody)" \
	xw_wait 10 xw_notifs_ge 1 "VM 3 of pid $CPID (xe-client) on renderD128 failed: ENOMEM"
check "exec could switch to nobody" bash -c "! grep -q 'exec plugin: .*set\(uid\|gid\|groups\)' '$T/collectd.log'"
exec {FD}>&-
wait "$CPID" 2>/dev/null
xw_stop >/dev/null
xw_done
