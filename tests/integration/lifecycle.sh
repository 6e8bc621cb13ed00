#!/bin/bash
# Removal, resubscription, and SIGTERM in the middle of a storm.
. "$XW_SRCDIR/tests/integration/lib.sh"

xw_devices "/dev/dri/renderD128 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  RetryInterval 0.2
  MaxRetryInterval 1
  NotificationLimit 5'
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
xw_inject vm-err /dev/dri/renderD128 --vm 1 --errno ENOMEM >/dev/null
check "counted before removal" xw_wait 10 xw_value_is renderD128 errors-vm_err 1

# An unplug (drm_dev_unplug) posts no removal record while our own fd holds
# the file: only the device check (DeviceCheckInterval, 5 s by default)
# hears the file's ENODEV, and the dead device's file must be let go.
xw_inject remove /dev/dri/renderD128 >/dev/null
check "unplug noticed with its cause" xw_wait 10 xw_log_has \
	"/dev/dri/renderD128 (renderD128): stopped listening: the device was unplugged or its driver unbound (its DRM file answers ENODEV"
check "FAILURE notification on unplug" xw_wait 10 xw_notifs_ge 1 \
	"Severity: FAILURE" "TypeInstance: listening" "unplugged"
check "gauge-listening drops to 0" xw_wait 10 xw_value_is renderD128 gauge-listening 0
check "the dead device's file is closed, not pinned" bash -c \
	"! ls -l /proc/$XW_PID/fd 2>/dev/null | grep -q 'xe-fake-drm:.*renderD128'"

xw_inject restore /dev/dri/renderD128 >/dev/null
check "resubscribed when the device is back" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "OKAY notification when listening again" xw_wait 10 xw_notifs_ge 2 \
	"Severity: OKAY" "Listening for VM errors on renderD128"
xw_inject vm-err /dev/dri/renderD128 --vm 2 --errno ENOSPC --count 3 >/dev/null
check "counters continue across the gap" xw_wait 10 xw_value_is renderD128 errors-vm_err 4
check "gauge-listening back to 1" xw_wait 10 xw_value_is renderD128 gauge-listening 1

# A storm well past the ring: counters exact for what was read, loss said.
out=$(xw_inject vm-err /dev/dri/renderD128 --vm 9 --errno ENOMEM --count 5000)
queued=$(echo "$out" | awk '{print $2}')
lost=$(echo "$out" | awk '{print $3}')
check "the storm overflowed the simulated ring ($queued queued, $lost dropped)" test "${lost:-0}" -gt 0
check "errors-vm_err counts every record read" \
	xw_wait 10 xw_value_is renderD128 errors-vm_err $((4 + queued))
check "loss records counted" xw_wait 10 xw_value_ge renderD128 errors-lost 1
check "loss announced with what to do" xw_wait 10 xw_log_has "Raise QueueSize"
check "notifications were rate limited" \
	test "$(xw_notifs "vm_id: 9")" -le 5

# Unplugged right behind a flood that fills the ring: the loss marker makes
# the listener ask at once, well before the next device check.
before=$(xw_value renderD128 errors-vm_err)
out=$(xw_inject remove /dev/dri/renderD128 --flood 5000)
queued=$(echo "$out" | awk '{print $2}')
check "the flood filled the ring before the unplug ($out)" test "$(echo "$out" | awk '{print $3}')" -gt 0
check "an unplug behind a full ring is noticed" xw_wait 10 xw_log_has \
	"renderD128): stopped listening: the device was unplugged or its driver unbound (its DRM file answers ENODEV"
check "FAILURE notification for it" xw_wait 10 xw_notifs_ge 2 \
	"Severity: FAILURE" "TypeInstance: listening" "answers ENODEV"
check "gauge-listening 0 after the silent unplug" xw_wait 10 xw_value_is renderD128 gauge-listening 0
check "every flood record read was counted" \
	xw_wait 10 xw_value_is renderD128 errors-vm_err $((before + queued))
xw_inject restore /dev/dri/renderD128 >/dev/null
check "resubscribed after the silent unplug" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "gauge-listening 1 again" xw_wait 10 xw_value_is renderD128 gauge-listening 1

# SIGTERM while records keep arriving.
(for _ in $(seq 200); do xw_inject vm-err /dev/dri/renderD128 --vm 10 --errno EIO --count 50 >/dev/null 2>&1 || break; done) &
storm=$!
sleep 0.5
ms=$(xw_stop)
kill "$storm" 2>/dev/null
wait "$storm" 2>/dev/null
check "exits within 1 s of SIGTERM during a storm (took $ms ms)" test "$ms" -lt 1000
xw_done
