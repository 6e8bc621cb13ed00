#!/bin/bash
# uAPI revisions against a simulated kernel that serves RFC v2's numbers
# (watch ioctl at 0x11, another ioctl at 0x0f): configured for v1 the plugin
# logs one line naming the mismatch and the option; configured for v2 it
# reports VM errors, with v2's severities and repeat counts. No kernel
# filter: records of a kind the plugin does not know are counted and logged.
. "$XW_SRCDIR/tests/integration/lib.sh"

xw_devices "/dev/dri/renderD128 driver=xe uapi=2"

# 1. The wrong revision, retried every 0.1-0.2 s.
xw_config '  Device "/dev/dri/renderD128"
  UAPIRevision "v1"
  RetryInterval 0.1
  MaxRetryInterval 0.2'
xw_start
check "start-up line names revision v1 and its ioctl number" xw_wait 5 xw_log_has \
	"xe_watch plugin: speaking uAPI revision v1 (RFC v1 as posted, March 2026): watch ioctl 0x4010644f (DRM_COMMAND_BASE + 0x0f)"
mismatch='/dev/dri/renderD128: the kernel does not implement the watch ioctl at 0x4010644f (uAPI revision v1; it answered ENOENT): if it carries another revision of the Xe watch-queue series, set UAPIRevision "v2"'
check "the mismatch is named with the option to change" xw_wait 5 xw_log_has "$mismatch"
sleep 2
n=$(grep -c -F -- "xe_watch plugin: $mismatch" "$T/collectd.log")
check "logged once over 2 s of retries ($n lines)" test "$n" -eq 1
check "no line blames the pipe or permissions" \
	bash -c "! grep -iE 'xe_watch.*(pipe|permission)' '$T/collectd.log'"
check "one FAILURE notification with the cause" xw_wait 5 xw_notifs_ge 1 \
	"Severity: FAILURE" "TypeInstance: listening" "set UAPIRevision"
xw_stop >/dev/null

# 2. The right revision.
rm -f "$T"/notifs/n.* "$T/collectd.log"
xw_config '  Device "/dev/dri/renderD128"
  UAPIRevision "v2"
  NotificationLimit 100'
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "listening line names revision v2 and 0x40106451" xw_wait 5 xw_log_has \
	"/dev/dri/renderD128 (renderD128): listening for VM errors (queue 256 notes) with uAPI revision v2, ioctl 0x40106451"
xw_inject vm-err renderD128 --vm 5 --errno ENOMEM --count 3 >/dev/null
xw_inject vm-err renderD128 --vm 6 --errno EFAULT >/dev/null
check "VM errors counted" xw_wait 10 xw_value_is renderD128 errors-vm_err 4
check "v2: a restartable VM's ENOMEM is a WARNING" xw_wait 10 xw_notifs_ge 3 \
	"Severity: WARNING" "vm_id: 5" "errno: ENOMEM"
check "the third failure of VM 5 says so" xw_wait 10 xw_notifs_ge 1 \
	"vm_failures_in_window: 3" "failure 3 of this VM in 60 s"
check "EFAULT stays a FAILURE" xw_wait 10 xw_notifs_ge 1 \
	"Severity: FAILURE" "vm_id: 6" "vm_failures_in_window: 1"
check "vm_id is no value's label" \
	bash -c "! ls '$T/csv/$XW_HOST/xe_watch-renderD128/' | grep -q -- '-5-\\|vm_5\\|vm-5'"

# 3. Records of kinds the plugin does not know reach errors-unknown.
check "an unknown xe subtype is delivered (no filter)" \
	bash -c "'$XW_INJECT' -s '$XE_FAKE_CTL' record renderD128 xe 7 | grep -q '^ok 1 0'"
check "a record of another type is delivered (no filter)" \
	bash -c "'$XW_INJECT' -s '$XE_FAKE_CTL' record renderD128 9 0 0102030405060708 | grep -q '^ok 1 0'"
xw_inject record renderD128 xe 7 >/dev/null
check "counted in errors-unknown" xw_wait 10 xw_value_is renderD128 errors-unknown 3
check "type 2, subtype 7 logged with both numbers" xw_wait 5 xw_log_has \
	"record of type 2, subtype 7 unknown to uAPI revision v2 (xe records: type 2, VM_ERR subtype 0); counted in errors-unknown"
check "type 9, subtype 0 logged" xw_wait 5 xw_log_has "record of type 9, subtype 0 unknown"
n=$(grep -c -F -- "xe_watch plugin: /dev/dri/renderD128 (renderD128): record of type 2, subtype 7" "$T/collectd.log")
check "each kind logged once ($n lines for 2 records)" test "$n" -eq 1
check "still listening" xw_value_is renderD128 gauge-listening 1

ms=$(xw_stop)
check "collectd exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
