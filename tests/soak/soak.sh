#!/bin/bash
# Soak: a real collectd with the plugin watching several simulated xe
# devices for DURATION seconds (default 600) of mixed VM errors, bursts past
# the ring (kernel loss), malformed and unknown records, and device removals
# and restorations. Not part of `make check`: run by hand or nightly.
#
#   tests/soak/soak.sh                      # from a build directory
#   XW_BUILDDIR=/path/to/build DURATION=60 tests/soak/soak.sh
#
# Prints collectd's RSS and open descriptors at the start (after a warm-up),
# every SAMPLE seconds, and at the end, and every counter against what the
# simulated kernel says it queued. Fails (exit 1) if
#  - RSS grew by more than RSS_GROWTH_KB (default 8192 KiB) from the
#    warmed-up baseline to the end: a leak of 16 bytes per record would
#    pass that bound after ~500 000 records, and a soak sends millions;
#  - collectd holds more descriptors at the end than at the start, once
#    every device is listening again;
#  - any counter differs from the records queued (errors-vm_err, each
#    errors-vm_err-ERRNO, errors-malformed, errors-unknown, per device), a
#    device is not listening again at the end, or collectd does not exit
#    within 1 s of SIGTERM.
# Environment: DURATION, SAMPLE (DURATION/6), WARMUP (10), RSS_GROWTH_KB,
# DEVICES (4), SOAK_SEED (random), and lib.sh's XW_* variables. Half the
# removals (unplugs: no removal record while collectd's fd is open) come
# right behind a burst that fills the ring, so a loss marker precedes them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${XW_SRCDIR:=$(cd "$here/../.." && pwd)}"
if [ -z "${XW_BUILDDIR:-}" ]; then
	for b in "$PWD" "$XW_SRCDIR/_build" "$XW_SRCDIR"; do
		[ -x "$b/tests/fake/xe-inject" ] && XW_BUILDDIR=$b && break
	done
fi
: "${XW_BUILDDIR:?no build directory with tests/fake/xe-inject: set XW_BUILDDIR}"
: "${XW_COLLECTD:=$(command -v collectd || echo /usr/sbin/collectd)}"
export XW_SRCDIR XW_BUILDDIR XW_COLLECTD
. "$XW_SRCDIR/tests/integration/lib.sh"

duration=${DURATION:-600}
sample=${SAMPLE:-$((duration / 6 > 5 ? duration / 6 : 5))}
warmup=${WARMUP:-10}
rss_growth_kb=${RSS_GROWTH_KB:-8192}
ndev=${DEVICES:-4}
ring=256
RANDOM=${SOAK_SEED:-$$}
errnos=(ENOMEM ENOSPC ETIME EFAULT EIO EDEADLK)
# Malformed records that keep the walk going (the decoder skips them by
# their length, so records after them in the same read() still count):
malformed=("020000000c00000001000000"         # VM_ERR of 12 bytes
	"02000000100000000100000005000000")   # positive error code

devs=() lines=()
for ((i = 0; i < ndev; i++)); do
	devs+=("renderD$((128 + i))")
	lines+=("/dev/dri/renderD$((128 + i)) driver=xe")
done
xw_devices "${lines[@]}"
cfg=
for d in "${devs[@]}"; do cfg+="  Device \"/dev/dri/$d\""$'\n'; done
xw_config "${cfg}  QueueSize $ring
  RetryInterval 0.2
  MaxRetryInterval 1
  NotificationLimit 10
  NotificationWindow 10"
xw_start
for d in "${devs[@]}"; do
	xw_wait 10 xw_watches_ge "/dev/dri/$d" 1 || { not_ok "$d subscribed"; xw_done; exit 1; }
done

declare -A vm bad unk down by
for d in "${devs[@]}"; do
	vm[$d]=0 bad[$d]=0 unk[$d]=0 down[$d]=0
	for e in "${errnos[@]}"; do by["$d $e"]=0; done
done
ops=0 records=0 lost_total=0 removals=0 lost_removals=0 injections_failed=0

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$XW_PID/status" 2>/dev/null; }
nfds() { ls "/proc/$XW_PID/fd" 2>/dev/null | wc -l; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$XW_PID/status" 2>/dev/null; }
now() { date +%s; }
report() { printf '# %-8s t=%4ss  RSS %6s KiB  fds %3s  threads %2s  records %9s  ops %7s\n' \
	"$1" "$(($(now) - t_start))" "$(rss)" "$(nfds)" "$(threads)" "$records" "$ops"; }

# q CMD...: one posting command; Q = the records queued; adds up loss.
q() {
	local r _ a b
	Q=0
	r=$(xw_inject "$@" 2>/dev/null) || { injections_failed=$((injections_failed + 1)); return; }
	read -r _ a b <<<"$r"
	lost_total=$((lost_total + ${b:-0}))
	Q=${a:-0}
}

one_op() {
	local d=${devs[$((RANDOM % ndev))]} n e r
	r=$((RANDOM % 100))
	if [ "${down[$d]}" = 1 ]; then
		if [ $r -lt 30 ]; then # back again
			xw_inject restore "/dev/dri/$d" >/dev/null && down[$d]=0
			return
		fi
	fi
	if [ $r -lt 80 ]; then # VM errors, now and then a burst past the ring
		e=${errnos[$((RANDOM % ${#errnos[@]}))]}
		n=$((RANDOM % 100 < 3 ? ring * 4 : 1 + RANDOM % 200))
		records=$((records + n))
		q vm-err "/dev/dri/$d" --vm $((RANDOM % 32)) --errno "$e" --count "$n"
		n=$Q
		vm[$d]=$((vm[$d] + n))
		by["$d $e"]=$((by["$d $e"] + n))
	elif [ $r -lt 88 ]; then
		q raw "/dev/dri/$d" "${malformed[$((RANDOM % 2))]}"
		n=$Q
		bad[$d]=$((bad[$d] + n))
		records=$((records + 1))
	elif [ $r -lt 94 ]; then
		q record "/dev/dri/$d" xe $((1 + RANDOM % 200)) 0011223344556677
		n=$Q
		unk[$d]=$((unk[$d] + n))
		records=$((records + 1))
	elif [ "${down[$d]}" = 0 ] && [ $r -lt 97 ]; then
		if [ $((RANDOM % 2)) = 0 ]; then
			xw_inject remove "/dev/dri/$d" >/dev/null && down[$d]=1 removals=$((removals + 1))
		else # unplugged right behind a burst that filled the ring
			n=$((ring * 2))
			records=$((records + n))
			e=$injections_failed
			q remove "/dev/dri/$d" --flood $n
			if [ "$injections_failed" = "$e" ]; then
				down[$d]=1 removals=$((removals + 1))
				[ "$Q" -ge $ring ] && lost_removals=$((lost_removals + 1))
			fi
			vm[$d]=$((vm[$d] + Q))
			by["$d ENOMEM"]=$((by["$d ENOMEM"] + Q))
		fi
	fi
	ops=$((ops + 1))
}

t_start=$(now)
report start
# Warm-up: allocator arenas, csv files, exec children settle first.
while [ $(($(now) - t_start)) -lt "$warmup" ]; do one_op; done
for d in "${devs[@]}"; do
	[ "${down[$d]}" = 1 ] && xw_inject restore "/dev/dri/$d" >/dev/null && down[$d]=0
done
for d in "${devs[@]}"; do xw_wait 10 xw_watches_ge "/dev/dri/$d" 1; done
sleep 1
rss0=$(rss) fd0=$(nfds)
report baseline

t_next=$(($(now) + sample))
t_end=$((t_start + warmup + duration))
while [ "$(now)" -lt "$t_end" ]; do
	one_op
	if [ "$(now)" -ge "$t_next" ]; then
		report sample
		t_next=$(($(now) + sample))
	fi
done

# Everything back, everything read.
for d in "${devs[@]}"; do
	[ "${down[$d]}" = 1 ] && xw_inject restore "/dev/dri/$d" >/dev/null && down[$d]=0
done
for d in "${devs[@]}"; do
	check "$d listening again at the end" xw_wait 10 xw_watches_ge "/dev/dri/$d" 1
	check "$d gauge-listening = 1" xw_wait 10 xw_value_is "$d" gauge-listening 1
done
sleep 1
rss1=$(rss) fd1=$(nfds)
report end
echo "# $records records in $ops operations over $((t_end - t_start)) s;" \
	"$lost_total dropped by the kernel's ring; $removals removals" \
	"($lost_removals of them right behind a burst that filled the ring);" \
	"$injections_failed injections refused"

for d in "${devs[@]}"; do
	check "$d errors-vm_err = ${vm[$d]} (records queued)" xw_wait 20 xw_value_is "$d" errors-vm_err "${vm[$d]}"
	for e in "${errnos[@]}"; do
		w=${by["$d $e"]}
		if [ "$w" -eq 0 ]; then
			# never seen: no series, or one at 0 (zero baseline)
			check "$d errors-vm_err-$e = 0" bash -c "v=\$1; [ -z \"\$v\" ] || [ \"\$v\" = 0 ]" _ "$(xw_value "$d" "errors-vm_err-$e")"
		else
			check "$d errors-vm_err-$e = $w" xw_wait 5 xw_value_is "$d" "errors-vm_err-$e" "$w"
		fi
	done
	check "$d errors-malformed = ${bad[$d]}" xw_wait 5 xw_value_is "$d" errors-malformed "${bad[$d]}"
	check "$d errors-unknown = ${unk[$d]}" xw_wait 5 xw_value_is "$d" errors-unknown "${unk[$d]}"
	echo "# $d: vm_err ${vm[$d]}, malformed ${bad[$d]}, unknown ${unk[$d]}; lost $(xw_value "$d" errors-lost)," \
		"dropped $(xw_value "$d" errors-dropped), suppressed $(xw_value "$d" errors-suppressed)"
done
any_lost() { local d; for d in "${devs[@]}"; do xw_value_ge "$d" errors-lost 1 && return 0; done; return 1; }
[ "$lost_total" -gt 0 ] && check "kernel loss counted (errors-lost >= 1 somewhere)" xw_wait 5 any_lost

growth=$((rss1 - rss0))
echo "# RSS: baseline $rss0 KiB, end $rss1 KiB, growth $growth KiB (bound $rss_growth_kb KiB)"
echo "# descriptors: baseline $fd0, end $fd1"
check "RSS growth $growth KiB <= $rss_growth_kb KiB" test "$growth" -le "$rss_growth_kb"
check "no descriptor leaked ($fd0 at the start, $fd1 at the end)" test "$fd1" -le "$fd0"
check "collectd still running" xw_alive
ms=$(xw_stop)
check "exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
xw_done
