#!/bin/bash
# One name per GPU: a device that fails at start is named by its PCI slot
# (read from sysfs by the node's device number, without opening it) from the
# first notification and value on, and keeps that name when it comes up.
. "$XW_SRCDIR/tests/integration/lib.sh"

# A real character node with a DRM device number, and a sysfs tree that puts
# it on PCI slot 0000:03:00.0 (SysfsRoot); the simulated kernel serves it.
mkdir -p "$T/dev" "$T/sys/dev/char" "$T/sys/bus/pci"
mknod "$T/dev/renderD128" c 226 128 2>/dev/null || xw_skip "cannot mknod (not root?)"
gpu=$T/sys/devices/pci0000:00/0000:03:00.0
mkdir -p "$gpu/drm/renderD128"
ln -s ../../../bus/pci "$gpu/subsystem"
ln -s ../../../0000:03:00.0 "$gpu/drm/renderD128/device"
ln -s ../../devices/pci0000:00/0000:03:00.0/drm/renderD128 "$T/sys/dev/char/226:128"

node=$T/dev/renderD128
xw_devices "$node driver=xe pdev=0000:03:00.0 state=absent"
xw_config "  Device \"$node\"
  SysfsRoot \"$T/sys\"
  RetryInterval 0.1
  MaxRetryInterval 0.2"
xw_start
check "FAILURE names the PCI slot while the node cannot be opened" xw_wait 10 \
	xw_notifs_ge 1 "Severity: FAILURE" "PluginInstance: 0000:03:00.0" \
	"TypeInstance: listening" "Not listening on 0000:03:00.0"
check "values name the PCI slot while it fails" xw_wait 10 \
	xw_value_is 0000:03:00.0 gauge-listening 0
xw_inject restore "$node" >/dev/null
check "OKAY names the same PCI slot" xw_wait 10 \
	xw_notifs_ge 1 "Severity: OKAY" "PluginInstance: 0000:03:00.0" "TypeInstance: listening"
check "values keep the name once listening" xw_wait 10 \
	xw_value_is 0000:03:00.0 gauge-listening 1
xw_inject vm-err "$node" --vm 3 --errno ENOMEM >/dev/null
check "VM errors name the PCI slot" xw_wait 10 \
	xw_notifs_ge 1 "PluginInstance: 0000:03:00.0" "TypeInstance: vm_err"
sleep 1.5 # one more read interval
no_node_series() {
	local d
	for d in "$T/csv/$XW_HOST"/xe_watch-*; do
		[ "$d" = "$T/csv/$XW_HOST/xe_watch-0000:03:00.0" ] || { echo "# found $d"; return 1; }
	done
}
check "no series named after the node" no_node_series
check "no notification named after the node" \
	test "$(xw_notifs "PluginInstance: renderD128")" -eq 0
xw_stop >/dev/null
xw_done
