#!/bin/bash
# Every malformed record shape is skipped, counted and logged; good records
# after it are still decoded, and collectd never stops.
. "$XW_SRCDIR/tests/integration/lib.sh"

xw_devices "/dev/dri/renderD128 driver=xe"
xw_config '  Device "/dev/dri/renderD128"'
xw_start
check "subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1

# Little-endian records: header = type:24|subtype:8, info = len|id<<8.
shapes=(
	"02000000 00000000 01000000 f4ffffff"       # zero length
	"02000000 04000000"                         # length below the header
	"02000000 10000000"                         # length past the bytes read
	"02000000 0c000000 01000000"                # VM_ERR shorter than 16
	"02000000 10000000 01000000 0c000000"       # positive error code
	"02000000 7f000000 01000000 f4ffffff"       # length 127, 16 bytes there
	"000000"                                    # 3 bytes: truncated header
)
i=0
for s in "${shapes[@]}"; do
	i=$((i + 1))
	xw_inject raw /dev/dri/renderD128 "${s// /}" >/dev/null
	check "malformed shape $i counted" xw_wait 10 xw_value_is renderD128 errors-malformed "$i"
done
check "collectd alive after every shape" xw_alive
check "malformed records logged as skipped" xw_wait 5 xw_log_has "malformed record(s)"

# Well-formed but unknown: a future Xe subtype.
xw_inject record /dev/dri/renderD128 2 9 0102030405060708 >/dev/null
check "unknown subtype counted" xw_wait 10 xw_value_is renderD128 errors-unknown 1
check "unknown kinds logged" xw_wait 5 xw_log_has "of a kind this plugin does not know"

xw_inject vm-err /dev/dri/renderD128 --vm 5 --errno ENOMEM >/dev/null
check "a good record after all that is counted" xw_wait 10 xw_value_is renderD128 errors-vm_err 1
check "and notified" xw_wait 10 xw_notifs_ge 1 "vm_id: 5" "errno: ENOMEM"
check "malformed records notified nobody" test "$(xw_notifs "TypeInstance: vm_err")" -eq 1
ms=$(xw_stop)
check "exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
