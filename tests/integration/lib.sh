# shellcheck shell=bash
# Shared by the integration tests: a real collectd with the built plugin,
# against the simulated xe kernel (tests/fake) or, in tests/realkernel's
# guest, the real one; its output read back from the csv plugin (values),
# the exec plugin (notifications, with meta) and the logfile plugin (log
# lines).
set -u

# XW_BACKEND: the kernel collectd runs against. "real" where the xe test
# driver's controls exist (a tests/realkernel guest): collectd runs
# unchanged and tests/realkernel/xe-ctl drives the kernel. Else "fake":
# tests/fake is preloaded into collectd and xe-inject drives it.
if [ -z "${XW_BACKEND:-}" ]; then
	if [ -d /sys/kernel/debug/xe_test ]; then XW_BACKEND=real; else XW_BACKEND=fake; fi
fi

: "${XW_BUILDDIR:?run through make check}"
: "${XW_SRCDIR:=$XW_BUILDDIR}"
: "${XW_COLLECTD:=}"
: "${XW_COLLECTD_PLUGINDIR:=/usr/lib/collectd}"
: "${XW_TYPESDB:=/usr/share/collectd/types.db}"

XW_FAKE_LIB=$XW_BUILDDIR/tests/fake/.libs/libxefake.so
XW_INJECT=$XW_BUILDDIR/tests/fake/xe-inject
XW_CLIENT=$XW_BUILDDIR/tests/fake/xe-client
XW_PLUGIN_DIR=$XW_BUILDDIR/.libs
XW_HOST=xwtest

xw_skip() { echo "SKIP: $*"; exit 77; }
xw_real_only() { [ "$XW_BACKEND" = real ] || xw_skip "needs the real kernel (tests/realkernel runs it)"; }

[ -n "$XW_COLLECTD" ] && [ -x "$XW_COLLECTD" ] || xw_skip "no collectd binary (apt-get install collectd-core)"
XW_CTL=$XW_SRCDIR/tests/realkernel/xe-ctl
if [ "$XW_BACKEND" = real ]; then
	XW_KERNEL_PRELOAD=
	[ -d /sys/kernel/debug/xe_test ] || xw_skip "XW_BACKEND=real outside a tests/realkernel guest"
else
	XW_KERNEL_PRELOAD=$XW_FAKE_LIB
	[ "${XW_NO_FAKE:-0}" = 1 ] || [ -f "$XW_FAKE_LIB" ] || xw_skip "$XW_FAKE_LIB is not built"
fi
[ -f "$XW_PLUGIN_DIR/xe_watch.so" ] || xw_skip "xe_watch.so is not built"
[ -f "$XW_COLLECTD_PLUGINDIR/exec.so" ] || xw_skip "collectd's exec plugin is missing"
id nobody >/dev/null 2>&1 || xw_skip "no user 'nobody' for collectd's exec plugin"

T=$(mktemp -d "${TMPDIR:-/tmp}/xe_watch-test.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/notifs" "$T/csv"
chmod 1777 "$T/notifs"
export XE_FAKE_CTL=$T/fake.sock
export XE_FAKE_DEVICES=$T/devices
XW_PID=
XW_FAILED=0
XW_PASSED=0

# Opt-in checking of collectd itself (contrib/check-sanitizers.sh sets
# these; unset, nothing below changes what the tests do):
#  XW_PRELOAD_FIRST     libraries put first in collectd's LD_PRELOAD, before
#                       $LD_PRELOAD and the simulated kernel: the ASan
#                       runtime, since collectd itself is not instrumented.
#  XW_COLLECTD_ENV      VAR=VALUE words for collectd's environment only.
#  XW_COLLECTD_WRAPPER  command words run in front of collectd. collectd is
#                       started as `WRAPPER env LD_PRELOAD=... collectd ...`
#                       so that the wrapper itself never loads the simulated
#                       kernel (which takes itself out of LD_PRELOAD): the
#                       wrapper must give that environment to collectd only.
#                       Plain valgrind cannot (its launcher is dynamically
#                       linked); tests/valgrind/valgrind-run can.
#  Both are expanded when collectd starts, so they may refer to $T.
#  XW_CHECK_EXIT=1      record collectd's exit status on every start; xw_done
#                       fails the test for a non-zero one, for an ASan/UBSan
#                       report ($T/asan.*, $T/ubsan.*), for a valgrind log
#                       ($T/valgrind.*.log) with errors, or for a descriptor
#                       the plugin opened and valgrind found open at exit.
#  XW_STOP_TIMEOUT      seconds xw_stop waits for collectd to exit (5).
#  XW_STOP_RELAXED=1    under a slow wrapper: xw_stop still waits for the
#                       exit and prints how long it took on stderr, but
#                       prints 0 to the caller, so "exits within 1 s of
#                       SIGTERM" assertions are not made (say so in reports).
: "${XW_PRELOAD_FIRST:=}"
: "${XW_COLLECTD_ENV:=}"
: "${XW_COLLECTD_WRAPPER:=}"
: "${XW_CHECK_EXIT:=0}"
: "${XW_STOP_TIMEOUT:=5}"
: "${XW_STOP_RELAXED:=0}"
XW_RUN=0
XW_COLLECTD_REAL=$XW_COLLECTD
xw_wrapped() { [ -n "$XW_PRELOAD_FIRST$XW_COLLECTD_ENV$XW_COLLECTD_WRAPPER" ]; }
# Tests that run "$XW_COLLECTD" themselves (config-test.sh) get the same
# preload, environment and wrapper through a small script.
if xw_wrapped; then
	{
		echo '#!/bin/bash'
		echo '# written by tests/integration/lib.sh: collectd as xw_start runs it'
		printf 'T=%q\n' "$T"
		printf 'first=%q\n' "$XW_PRELOAD_FIRST"
		printf 'real=%q\n' "$XW_COLLECTD_REAL"
		printf 'eval "exec env %s %s env \\${pre:+LD_PRELOAD=\\"\\$pre\\"} \\"\\$real\\" \\"\\$@\\""\n' \
			"${XW_COLLECTD_ENV//\"/\\\"}" "${XW_COLLECTD_WRAPPER//\"/\\\"}"
	} >"$T/collectd"
	sed -i '/^real=/a pre=$first${LD_PRELOAD:+${first:+:}$LD_PRELOAD}' "$T/collectd"
	chmod 755 "$T/collectd"
	XW_COLLECTD=$T/collectd
fi

# One file per notification: exec runs a sink process per notification, and
# separate files keep concurrent sinks from interleaving.
cat >"$T/notif-sink" <<SINK
#!/bin/sh
cat > "$T/notifs/n.\$\$.\$(date +%s%N)"
SINK
chmod 755 "$T/notif-sink"

xw_cleanup() {
	if [ -n "$XW_PID" ] && kill -0 "$XW_PID" 2>/dev/null; then
		kill -KILL "$XW_PID" 2>/dev/null
		wait "$XW_PID" 2>/dev/null
	fi
	if [ "$XW_FAILED" -ne 0 ]; then
		# A guest's /tmp vanishes with it: vm-run carries $XW_VM_OUT out.
		# (9p refuses to create fifos: the workloads' stdins go first.)
		if [ -n "${XW_VM_OUT:-}" ] && find "$T" -type p -delete && cp -a "$T" "$XW_VM_OUT/" 2>/dev/null; then
			echo "# kept $XW_VM_OUT/$(basename "$T") for inspection; collectd.log:"
		else
			echo "# kept $T for inspection; collectd.log:"
		fi
		sed 's/^/#   /' "$T/collectd.log" 2>/dev/null | tail -40
	else
		rm -rf "$T"
	fi
}
trap xw_cleanup EXIT

ok() { XW_PASSED=$((XW_PASSED + 1)); echo "ok - $*"; }
not_ok() { XW_FAILED=$((XW_FAILED + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: one assertion.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
xw_done() {
	[ "$XW_CHECK_EXIT" = 1 ] && xw_check_reports
	echo "# $XW_PASSED passed, $XW_FAILED failed"
	[ "$XW_FAILED" -eq 0 ]
}

# xw_wait SECONDS COMMAND...: poll until COMMAND succeeds; bounded.
xw_wait() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# xw_devices LINE...: the simulated kernel's device table (the real kernel
# has its own devices).
xw_devices() { [ "$XW_BACKEND" = real ] || printf '%s\n' "$@" >"$XE_FAKE_DEVICES"; }

# xw_config PLUGIN-BLOCK-LINES [MORE-CONFIG]: a collectd.conf with logfile,
# csv, exec, then MORE-CONFIG (other plugins, from collectd's PluginDir),
# then xe_watch.
# Under a valgrind without pidfd_getfd (XW_NO_PIDFD, set by
# check-sanitizers.sh), attaching cannot work and the plugin says so with an
# ERROR: a test that does not set WatchClients runs with it off there.
xw_no_pidfd_config() {
	[ -n "${XW_NO_PIDFD:-}" ] && ! grep -qi WatchClients <<<"$1" && echo "  WatchClients false"
	return 0
}

xw_config() {
	cat >"$T/collectd.conf" <<CONF
Hostname "$XW_HOST"
FQDNLookup false
BaseDir "$T"
PIDFile "$T/collectd.pid"
Interval 1
TypesDB "$XW_TYPESDB"
PluginDir "$XW_COLLECTD_PLUGINDIR"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$T/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$T/csv"
  StoreRates false
</Plugin>
LoadPlugin exec
<Plugin exec>
  NotificationExec "nobody:nogroup" "$T/notif-sink"
</Plugin>
${2:-}
PluginDir "$XW_PLUGIN_DIR"
LoadPlugin xe_watch
<Plugin xe_watch>
$1
$(xw_no_pidfd_config "$1")
</Plugin>
CONF
}

# xw_start [ENV=VALUE...]: collectd in the foreground, in the background.
xw_start() {
	local pre=${LD_PRELOAD:-}
	[ -n "$XW_KERNEL_PRELOAD" ] && pre=${pre:+$pre:}$XW_KERNEL_PRELOAD
	if ! xw_wrapped && [ "$XW_CHECK_EXIT" != 1 ]; then
		env "$@" ${pre:+LD_PRELOAD="$pre"} \
			"$XW_COLLECTD" -f -C "$T/collectd.conf" >"$T/stdout" 2>&1 &
		XW_PID=$!
	else
		xw_start_checked "$@"
	fi
	# The real kernel has no control socket to wait for; collectd says
	# when every plugin's init has run (slowly under TCG).
	if [ "$XW_BACKEND" = real ]; then
		xw_wait 60 xw_log_has "Initialization complete"
	else
		xw_wait 10 test -S "$XE_FAKE_CTL"
	fi || {
		not_ok "collectd started with the $XW_BACKEND kernel"
		cat "$T/stdout"
		exit 1
	}
}

# xw_stop: SIGTERM; prints the milliseconds collectd took to exit, 99999
# if it had to be killed.
xw_stop() {
	local t0 t1 ms
	t0=$(date +%s%N)
	kill -TERM "$XW_PID"
	if xw_wait "$XW_STOP_TIMEOUT" xw_gone; then
		t1=$(date +%s%N)
		wait "$XW_PID" 2>/dev/null
		XW_PID=
		ms=$(((t1 - t0) / 1000000))
		if [ "$XW_STOP_RELAXED" = 1 ]; then
			echo "# XW_STOP_RELAXED: collectd took $ms ms to exit; the time is not asserted" >&2
			ms=0
		fi
		echo "$ms"
	else
		echo 99999
	fi
}
xw_gone() { ! kill -0 "$XW_PID" 2>/dev/null || grep -q "^[0-9]* (.*) Z" "/proc/$XW_PID/stat" 2>/dev/null; }
xw_alive() { kill -0 "$XW_PID" 2>/dev/null; }

xw_inject() { "$XW_INJECT" -s "$XE_FAKE_CTL" "$@"; }
xw_watches_ge() { xw_inject wait-watches "$1" "$2" --timeout-ms 100 >/dev/null 2>&1; }

# ---- one injector, two kernels -----------------------------------------------

# xw_errno_number NAME: the errno's number, from the kernel's own header.
xw_errno_number() {
	sed -n "s/^#define[[:space:]]\{1,\}$1[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p" \
		/usr/include/asm-generic/errno-base.h /usr/include/asm-generic/errno.h | head -n 1
}
# xw_ctl ARGS...: the real kernel's test controls (tests/realkernel/xe-ctl).
xw_ctl() { "$XW_CTL" "$@"; }
# xw_own_client NODE: the drm-client-id of the DRM file collectd holds on
# NODE's GPU, from its fdinfo (the kernel's clients list names the opening
# thread, not the process).
xw_own_client() {
	local fd slot
	slot=$(xw_slot "$1")
	for fd in /proc/"$XW_PID"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in
		/dev/dri/*)
			awk -v slot="$slot" '$1 == "drm-client-id:" { id = $2 }
				$1 == "drm-pdev:" && $2 == slot { hit = 1 }
				END { if (hit && id != "") print id }' "/proc/$XW_PID/fdinfo/${fd##*/}" 2>/dev/null
			;;
		esac
	done | head -n 1
}
# xw_slot NODE: the PCI slot of NODE's GPU (sysfs), or "" when it has none.
xw_slot() {
	local l
	l=$(readlink -f "/sys/class/drm/$(basename "$(readlink -f "$1")")/device" 2>/dev/null) || return 0
	[ -e "$l" ] && basename "$l"
}
# xw_fd_client_ids PID: the drm-client-id of every DRM file PID holds a
# descriptor of, one per line (real kernel: /proc fd links and fdinfo).
xw_fd_client_ids() {
	local fd
	for fd in /proc/"$1"/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in
		/dev/dri/*) sed -n 's/^drm-client-id:[[:space:]]*//p' "/proc/$1/fdinfo/${fd##*/}" 2>/dev/null ;;
		esac
	done
}
# xw_holds_dri PID: PID has a descriptor of any DRM node, live or deleted.
xw_holds_dri() { ls -l /proc/"$1"/fd 2>/dev/null | grep -q ' -> /dev/dri/'; }
# xw_name NODE: the plugin instance NODE's GPU is reported under: its PCI
# slot on the real kernel, the node's name on the fake (which has no sysfs).
xw_name() {
	if [ "$XW_BACKEND" = real ]; then xw_slot "$1"; else basename "$1"; fi
}
# xw_client N [ENV=VALUE...] -- NODE...: workload N, tests/fake/xe-client
# (preloaded with the fake kernel when that is the backend), holding one DRM
# file of each NODE until xw_client_end N closes its stdin, a fifo. Its
# "client PID ID NODE FD" lines go to $T/clientN.out. Sets XW_CPID. Start
# every workload before xw_client_open gives any its writer, so none
# inherits another's.
xw_client() {
	local n=$1 envs=()
	shift
	while [ "$1" != -- ]; do envs+=("$1") && shift; done
	shift
	mkfifo "$T/client$n.in"
	env -u XE_FAKE_CTL "${envs[@]}" \
		${XW_KERNEL_PRELOAD:+LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$XW_KERNEL_PRELOAD"} \
		"$XW_CLIENT" "$@" <"$T/client$n.in" >"$T/client$n.out" 2>&1 &
	XW_CPID=$!
	eval "XW_CPID_$n=\$XW_CPID"
}
# xw_client_open N: give workload N's stdin its writer; one check that it
# opened its files.
xw_client_open() {
	local fd
	exec {fd}>"$T/client$1.in"
	eval "XW_CFD_$1=\$fd"
	check "workload $1 opened its DRM files" xw_wait 20 grep -q '^client ' "$T/client$1.out"
}
# xw_client_id N: workload N's (first) drm-client-id.
xw_client_id() { awk '/^client /{print $3; exit}' "$T/client$1.out"; }
# xw_exited PID: gone, or a zombie (a child not yet reaped).
xw_exited() { ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
# xw_client_end N: close workload N's stdin; a bounded wait for its exit
# (one check); one that does not exit is killed, never hangs the test.
xw_client_end() {
	local pid fd
	eval "pid=\$XW_CPID_$1 fd=\$XW_CFD_$1"
	exec {fd}>&-
	check "workload $1 (pid $pid) exits when its stdin closes" xw_wait 20 xw_exited "$pid"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
# xw_kernel_has_file ID [PID]: the real kernel lists an open DRM file with
# drm-client-id ID (opened by PID).
xw_kernel_has_file() {
	xw_ctl clients | awk -v id="$1" -v pid="${2:-}" \
		'$1 == id && (pid == "" || $2 == pid) { f = 1 } END { exit !f }'
}
# xw_check_listening NODE: one check that collectd listens on NODE under
# the name xw_name gives.
xw_check_listening() {
	local name
	name=$(xw_name "$1")
	check "listening on $1 as $name" xw_wait 30 xw_log_has "$1 ($name): listening for VM errors"
}
# xw_stop_told: xw_stop, and say how long collectd took.
xw_stop_told() { echo "# collectd exited $(xw_stop) ms after SIGTERM"; }
# xw_post_vm_err NODE VM ERRNO-NAME [COUNT]: COUNT (1) VM_ERR records for
# VM, posted to collectd's own DRM file of NODE by either kernel.
xw_post_vm_err() {
	if [ "$XW_BACKEND" = real ]; then
		local id
		id=$(xw_own_client "$1")
		[ -n "$id" ] || { echo "# no DRM file of collectd on $1" >&2; return 1; }
		xw_ctl vm-err "client:$id" "$2" "-$(xw_errno_number "$3")" "${4:-1}"
	else
		xw_inject vm-err "$1" --vm "$2" --errno "$3" --count "${4:-1}" >/dev/null
	fi
}
# xw_post_vm_err_client ID VM ERRNO-NAME [COUNT]: the same, to the DRM file
# with drm-client-id ID (a workload's).
xw_post_vm_err_client() {
	if [ "$XW_BACKEND" = real ]; then
		xw_ctl vm-err "client:$1" "$2" "-$(xw_errno_number "$3")" "${4:-1}"
	else
		xw_inject vm-err --client "$1" --vm "$2" --errno "$3" --count "${4:-1}" >/dev/null
	fi
}

# xw_value INSTANCE TYPE-TYPE_INSTANCE: the newest value csv wrote, or "".
xw_value() {
	local f
	for f in "$T/csv/$XW_HOST/xe_watch-$1/$2"-[0-9][0-9][0-9][0-9]-*; do
		[ -f "$f" ] && tail -n 1 "$f" | cut -d, -f2 | cut -d. -f1
		return
	done
}
xw_value_is() { [ "$(xw_value "$1" "$2")" = "$3" ]; }
# xw_instances: the plugin instances csv has series for, one per line.
xw_instances() {
	local d
	for d in "$T/csv/$XW_HOST"/xe_watch-*; do
		[ -d "$d" ] && echo "${d##*/xe_watch-}"
	done
}
xw_value_ge() { local v; v=$(xw_value "$1" "$2"); [ -n "$v" ] && [ "$v" -ge "$3" ]; }

# xw_notifs PATTERN...: number of notifications whose text has every pattern.
xw_notifs() {
	local n=0 f p hit
	for f in "$T"/notifs/n.*; do
		[ -f "$f" ] || continue
		hit=1
		for p in "$@"; do
			grep -q -- "$p" "$f" || { hit=0; break; }
		done
		n=$((n + hit))
	done
	echo "$n"
}
xw_notifs_ge() { local want=$1; shift; [ "$(xw_notifs "$@")" -ge "$want" ]; }
xw_log_has() { grep -q -- "$1" "$T/collectd.log" 2>/dev/null; }

# ---- opt-in checking (XW_CHECK_EXIT=1 and friends, see the top) -----------

# xw_start_checked [ENV=VALUE...]: xw_start under XW_PRELOAD_FIRST,
# XW_COLLECTD_ENV and XW_COLLECTD_WRAPPER; a watcher subshell records the
# exit status in $T/exit.N (XW_PID stays collectd's own pid).
xw_start_checked() {
	local pre
	XW_RUN=$((XW_RUN + 1))
	pre=$XW_PRELOAD_FIRST${LD_PRELOAD:+${XW_PRELOAD_FIRST:+:}$LD_PRELOAD}
	[ -n "$XW_KERNEL_PRELOAD" ] && pre=${pre:+$pre:}$XW_KERNEL_PRELOAD
	rm -f "$T/pid.$XW_RUN" "$T/exit.$XW_RUN"
	(
		# exec: $! must be collectd (or its wrapper, which execs it).
		eval "exec env \"\$@\" $XW_COLLECTD_ENV $XW_COLLECTD_WRAPPER env \${pre:+LD_PRELOAD=\"\$pre\"} \
			\"\$XW_COLLECTD_REAL\" -f -C \"\$T/collectd.conf\"" >"$T/stdout" 2>&1 &
		echo $! >"$T/pid.$XW_RUN"
		wait $!
		echo $? >"$T/exit.$XW_RUN"
	) &
	xw_wait 10 test -s "$T/pid.$XW_RUN"
	XW_PID=$(cat "$T/pid.$XW_RUN")
}

# xw_check_reports: one assertion per run of collectd and per report file.
xw_check_reports() {
	local i st f n leaked
	for ((i = 1; i <= XW_RUN; i++)); do
		# A stop that is still under way (valgrind's exit-time scans).
		xw_wait "$XW_STOP_TIMEOUT" test -s "$T/exit.$i" || continue
		st=$(cat "$T/exit.$i")
		if [ "$st" = 0 ]; then
			ok "collectd run $i exited with status 0"
		else
			not_ok "collectd run $i exited with status $st"
		fi
	done
	for f in "$T"/asan.* "$T"/ubsan.*; do
		[ -f "$f" ] || continue
		not_ok "sanitizer report $(basename "$f")"
		sed 's/^/#   /' "$f" | head -60
	done
	for f in "$T"/valgrind.*.log; do
		[ -f "$f" ] || continue
		n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n 1)
		if [ -n "$n" ] && [ "$n" != 0 ]; then
			not_ok "valgrind: $n error(s) in $(basename "$f")"
			sed 's/^/#   /' "$f" | grep -v '^#   ==[0-9]*== *$' | head -80
		fi
		# Open descriptors at exit whose creation stack passes through the
		# plugin's sources: the plugin leaked them.
		leaked=$(awk '
			/Open (file descriptor|AF_UNIX socket|AF_INET socket)/ { blk = $0; inblk = 1; next }
			inblk && /==[0-9]+== *$/ { if (hit) print blk; blk = ""; inblk = 0; hit = 0; next }
			inblk { blk = blk "\n" $0; if ($0 ~ /: xw_[a-z0-9_]+ \(/ || $0 ~ /\((clients|decode|device|dispatch|listener|notify|options|queue|ratelimit|transport|uevents|xe_watch)\.c:[0-9]+\)/) hit = 1 }
		' "$f")
		if [ -n "$leaked" ]; then
			not_ok "valgrind: descriptor(s) opened by the plugin still open at exit ($(basename "$f"))"
			printf '%b\n' "$leaked" | sed 's/^/#   /' | head -40
		fi
	done
}
