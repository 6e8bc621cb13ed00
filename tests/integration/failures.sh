#!/bin/bash
# Every way a device can fail is logged once, in an operator's words, and
# neither stops the other devices nor collectd.
. "$XW_SRCDIR/tests/integration/lib.sh"

# 1. A kernel without CONFIG_WATCH_QUEUE (this machine's real answer).
xw_devices "/dev/dri/renderD128 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  RetryInterval 0.1
  MaxRetryInterval 0.2'
t0=$(date +%s)
xw_start XE_FAKE_WATCH_QUEUE=0
check "ENOPKG explained" xw_wait 10 xw_log_has \
	"/dev/dri/renderD128: the kernel has no watch queue support (CONFIG_WATCH_QUEUE is not set)"
check "FAILURE notification for the listener, with a cause code" xw_wait 10 xw_notifs_ge 1 \
	"Severity: FAILURE" "TypeInstance: listening" "Not listening on renderD128" \
	"cause_code: ENOPKG"
check "gauge-listening = 0" xw_wait 10 xw_value_is renderD128 gauge-listening 0
sleep 2
check "collectd keeps running" xw_alive
# c_complain doubles its interval: about log2(seconds) lines, where logging
# every attempt (every 0.1-0.2 s) would give five or more per second. The
# bound follows the time really taken (slow under valgrind or ASan).
n=$(grep -c "xe_watch plugin: /dev/dri/renderD128: the kernel has no watch queue" "$T/collectd.log")
secs=$(($(date +%s) - t0))
bound=2
for ((p = 1; p <= secs; p *= 2)); do bound=$((bound + 1)); done
check "retrying every 0.1-0.2 s is not logged every time ($n lines in $secs s, at most $bound)" test "$n" -le "$bound"
check "one FAILURE notification, not one per retry" \
	test "$(xw_notifs "TypeInstance: listening" "Severity: FAILURE")" -eq 1
ms=$(xw_stop)
check "exits within 1 s of SIGTERM while retrying (took $ms ms)" test "$ms" -lt 1000

# 2. Many broken devices beside a good one.
rm -f "$T"/notifs/n.* "$T/collectd.log"
xw_devices "/dev/dri/renderD128 driver=xe state=einval" \
	"/dev/dri/renderD129 driver=i915" \
	"/dev/dri/renderD130 driver=xe state=absent" \
	"/dev/dri/renderD131 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  Device "/dev/dri/renderD130"
  Device "/dev/null"
  Device "/dev/dri/renderD131"'
xw_start
check "good device subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD131 1
check "EINVAL: no watch ioctl at this number" xw_wait 5 xw_log_has \
	"/dev/dri/renderD128: the kernel does not implement the watch ioctl at 0x4010644f (uAPI revision v1; it answered EINVAL)"
check "non-xe driver named" xw_wait 5 xw_log_has \
	"/dev/dri/renderD129: driven by 'i915', not 'xe'"
check "missing node" xw_wait 5 xw_log_has \
	"/dev/dri/renderD130: no such device node (ENOENT)"
check "not a DRM device" xw_wait 5 xw_log_has \
	"/dev/null: not a DRM device: DRM_IOCTL_VERSION failed with ENOTTY"
xw_inject vm-err /dev/dri/renderD131 --vm 1 --errno EFAULT >/dev/null
check "the good device still reports" xw_wait 10 xw_notifs_ge 1 \
	"PluginInstance: renderD131" "failed: EFAULT (Bad address)"
check "and counts" xw_wait 10 xw_value_is renderD131 errors-vm_err 1
check "collectd keeps running" xw_alive

# 3. The missing node appears: picked up on a retry, without a restart.
xw_inject restore /dev/dri/renderD130 >/dev/null
check "late device subscribed after back-off" xw_wait 10 xw_watches_ge /dev/dri/renderD130 1
check "OKAY when it comes up" xw_wait 10 xw_notifs_ge 1 \
	"Severity: OKAY" "PluginInstance: renderD130"
ms=$(xw_stop)
check "exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
