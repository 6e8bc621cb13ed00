#!/bin/bash
# Every configured Device absent at start (a GPU whose driver binds later):
# collectd stays up, each node is said once, as a warning, then retried
# quietly, and is watched as soon as it appears.
. "$XW_SRCDIR/tests/integration/lib.sh"

xw_devices "/dev/dri/renderD128 driver=xe state=absent" \
	"/dev/dri/renderD129 driver=xe state=absent"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  RetryInterval 0.05
  MaxRetryInterval 0.1'
xw_start
check "the absent node is said" xw_wait 10 xw_log_has \
	"/dev/dri/renderD128: no such device node (ENOENT)"
sleep 3 # some 30 retries per node
n=$(grep -c "xe_watch plugin: /dev/dri/renderD128: no such device node" "$T/collectd.log")
check "said once in 3 s of retries (said $n time(s))" test "$n" -eq 1
check "as a warning, not an error" test "$(grep -c '\[error\] xe_watch' "$T/collectd.log")" -eq 0
check "collectd keeps running" xw_alive
xw_inject restore /dev/dri/renderD128 >/dev/null
check "watched once it appears" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "OKAY when it comes up" xw_wait 10 xw_notifs_ge 1 \
	"Severity: OKAY" "PluginInstance: renderD128"
ms=$(xw_stop)
check "exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
