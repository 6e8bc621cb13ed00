#!/bin/bash
# Real kernel and real udev: a WEDGED= change uevent and a devcoredump of the GPU become a FAILURE and a WARNING notification and their counters.
# vm-run: --gpus 1 --udev
. "$XW_SRCDIR/tests/integration/lib.sh"
xw_real_only

NODE=/dev/dri/renderD128
SLOT=$(xw_slot $NODE)
xw_config "  Device \"$NODE\"
  WatchUevents true"
xw_start
xw_check_listening $NODE
check "no udev warning" eval '! xw_log_has "cannot listen to udev events"'
check "errors-wedged = 0 at start" xw_wait 20 xw_value_is "$SLOT" errors-wedged 0

xw_ctl wedged "$SLOT" rebind
check "FAILURE notification for the wedged GPU, with recovery meta" xw_wait 20 xw_notifs_ge 1 \
	"Severity: FAILURE" "PluginInstance: $SLOT" "TypeInstance: wedged" \
	"recovery: rebind" "device: $NODE" "GPU $SLOT is wedged; recovery: rebind"
check "errors-wedged = 1" xw_wait 20 xw_value_is "$SLOT" errors-wedged 1
check "wedged logged" xw_log_has "$NODE ($SLOT) is wedged; recovery: rebind"

xw_ctl coredump "$SLOT"
check "WARNING notification for the coredump" xw_wait 20 xw_notifs_ge 1 \
	"Severity: WARNING" "PluginInstance: $SLOT" "TypeInstance: coredump" \
	"coredump: /sys/class/devcoredump/devcd" "GPU $SLOT wrote a device coredump"
path=$(sed -n 's/^coredump: //p' "$T"/notifs/n.* | head -n 1)
check "the coredump it names exists ($path)" test -e "$path"
check "errors-coredump = 1" xw_wait 20 xw_value_is "$SLOT" errors-coredump 1
check "errors-wedged still 1" xw_value_is "$SLOT" errors-wedged 1
xw_stop_told
xw_done
