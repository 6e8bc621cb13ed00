#!/bin/bash
# A storm of 100 000 VM_ERR records on two devices against a real collectd:
# counters exact for every record the kernel queued (per device and errno),
# notifications bounded by NotificationLimit per window plus one summary per
# window, every record either notified, rate limited or dropped, kernel loss
# counted and announced, and a quick exit on SIGTERM in the middle of it.
#
# STORM_RECORDS (100000) and STORM_CHUNK (250: half the 512-note ring, each
# device getting every other chunk) may be changed for a quick run.
. "$XW_SRCDIR/tests/integration/lib.sh"

records=${STORM_RECORDS:-100000}
chunk=${STORM_CHUNK:-250}
ring=512
limit=10
window=2
devs=(renderD128 renderD129)
errnos=(ENOMEM ENOSPC ETIME EFAULT)

xw_devices "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe"
xw_config "  Device \"/dev/dri/renderD128\"
  Device \"/dev/dri/renderD129\"
  QueueSize $ring
  NotificationLimit $limit
  NotificationWindow $window"
xw_start
for d in "${devs[@]}"; do
	check "$d subscribed" xw_wait 10 xw_watches_ge "/dev/dri/$d" 1
done

declare -A queued_by # "dev errno" -> records the kernel queued
declare -A queued    # dev -> records the kernel queued
declare -A lost      # dev -> records the kernel dropped
for d in "${devs[@]}"; do
	queued[$d]=0 lost[$d]=0
	for e in "${errnos[@]}"; do queued_by["$d $e"]=0; done
done
paced_lost=0
bad_replies=0

# post DEV ERRNO COUNT: one xe-inject, its "ok QUEUED LOST" added up.
post() {
	local reply q l
	reply=$(xw_inject vm-err "/dev/dri/$1" --vm $((RANDOM % 64)) --errno "$2" --count "$3") ||
		{ bad_replies=$((bad_replies + 1)); return 1; }
	read -r _ q l <<<"$reply"
	queued[$1]=$((queued[$1] + q))
	queued_by["$1 $2"]=$((queued_by["$1 $2"] + q))
	lost[$1]=$((lost[$1] + l))
	LAST_LOST=$l
}

# 1. The storm, in chunks well below the ring: the listener keeps up.
t0=$(date +%s%N)
sent=0 i=0
while [ "$sent" -lt "$records" ]; do
	n=$((records - sent < chunk ? records - sent : chunk))
	d=${devs[$((i % 2))]}
	e=${errnos[$(((i / 2) % 4))]}
	post "$d" "$e" "$n"
	paced_lost=$((paced_lost + ${LAST_LOST:-0}))
	sent=$((sent + n))
	i=$((i + 1))
done
t1=$(date +%s%N)
storm_ms=$(((t1 - t0) / 1000000))
echo "# $records records in $i chunks of up to $chunk in $storm_ms ms;" \
	"queued ${queued[renderD128]} + ${queued[renderD129]}, lost in the ring $paced_lost"
check "every chunk was answered" test "$bad_replies" -eq 0
if [ -z "$XW_COLLECTD_WRAPPER" ]; then
	# Chunks leave half the ring free: only a listener off the CPU for two
	# chunks loses any. On a loaded 2-core CI machine that can happen once.
	check "the listener kept up: $paced_lost of $records records lost in the ring (<= 1 %)" \
		test "$paced_lost" -le $((records / 100))
else
	echo "# under XW_COLLECTD_WRAPPER the listener may fall behind: $paced_lost records lost in the ring (not asserted)"
fi

# 2. One burst ten times the ring: the kernel drops, and says so.
post renderD128 ENOMEM $((ring * 10))
burst_lost=$LAST_LOST
check "the burst overflowed the ring ($burst_lost dropped by the kernel)" test "${burst_lost:-0}" -gt 0
t2=$(date +%s%N)

for d in "${devs[@]}"; do
	check "$d errors-vm_err = ${queued[$d]}, every record queued" \
		xw_wait 30 xw_value_is "$d" errors-vm_err "${queued[$d]}"
	for e in "${errnos[@]}"; do
		check "$d errors-vm_err-$e = ${queued_by["$d $e"]}" \
			xw_wait 10 xw_value_is "$d" "errors-vm_err-$e" "${queued_by["$d $e"]}"
	done
done
for d in "${devs[@]}"; do
	if [ "${lost[$d]}" -gt 0 ]; then
		check "$d: kernel loss counted (${lost[$d]} dropped; errors-lost >= 1)" \
			xw_wait 10 xw_value_ge "$d" errors-lost 1
	else
		check "$d: no kernel loss, none counted" xw_value_is "$d" errors-lost 0
	fi
done
check "kernel loss announced with what to do" xw_wait 10 xw_log_has "Raise QueueSize"
check "no malformed records" xw_value_is renderD128 errors-malformed 0

# Every record read was notified, rate limited or dropped (once the last
# windows have ended and their summaries have gone out; under valgrind the
# exec plugin takes tens of seconds to deliver the backlog).
singles() { echo $(($(xw_notifs "PluginInstance: $1" "TypeInstance: vm_err") - $(xw_notifs "PluginInstance: $1" "TypeInstance: vm_err" "suppressed: "))); }
conserved() {
	local s r d
	s=$(xw_value "$1" errors-suppressed) d=$(xw_value "$1" errors-dropped) r=$(xw_value "$1" errors-vm_err)
	[ -n "$s" ] && [ -n "$d" ] && [ -n "$r" ] && [ $(($(singles "$1") + s + d)) -eq "$r" ]
}
for d in "${devs[@]}"; do
	check "$d: every record notified, rate limited or dropped" xw_wait 60 conserved "$d"
done
sleep $((window + 1)) # the last summaries

# Notifications: at most NotificationLimit per device, errno and window,
# plus at most one summary per window.
t3=$(date +%s%N)
windows=$((((t3 - t0) / 1000000000) / window + 2))
for d in "${devs[@]}"; do
	single=$(singles "$d")
	summaries=$(xw_notifs "PluginInstance: $d" "TypeInstance: vm_err" "suppressed: ")
	supp=$(xw_value "$d" errors-suppressed)
	dropped=$(xw_value "$d" errors-dropped)
	read_n=$(xw_value "$d" errors-vm_err)
	summed=0
	for f in "$T"/notifs/n.*; do
		grep -q "PluginInstance: $d" "$f" || continue
		s=$(sed -n 's/^suppressed: \([0-9]*\)$/\1/p' "$f")
		summed=$((summed + ${s:-0}))
	done
	echo "# $d: $read_n read = $single notified + ${supp:-?} rate limited" \
		"(in $summaries summaries totalling $summed) + ${dropped:-?} dropped; $windows windows at most"
	bound=$((${#errnos[@]} * limit * windows))
	check "$d: $single VM error notifications <= $bound (limit $limit x ${#errnos[@]} errnos x $windows windows)" \
		test "$single" -le "$bound"
	check "$d: $summaries summaries <= $((${#errnos[@]} * windows))" \
		test "$summaries" -le $((${#errnos[@]} * windows))
	check "$d: rate limiting summarised ($summaries summaries)" test "$summaries" -ge 1
	check "$d: summaries tell no more than was rate limited ($summed <= ${supp:-0})" \
		test "$summed" -le "${supp:-0}"
done

# 3. SIGTERM in the middle of another storm.
(
	for _ in $(seq 400); do
		xw_inject vm-err /dev/dri/renderD128 --errno EIO --count 200 >/dev/null 2>&1 || break
	done
) &
storm=$!
sleep 0.5
ms=$(xw_stop)
kill "$storm" 2>/dev/null
wait "$storm" 2>/dev/null
check "exits within 1 s of SIGTERM during a storm (took $ms ms)" test "$ms" -lt 1000
echo "# storm phase $storm_ms ms, accounting $(((t3 - t2) / 1000000)) ms"
xw_done
