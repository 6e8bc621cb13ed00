#!/bin/bash
# vm-run: --timeout 240
# Attaching to workloads against the real kernel, under default settings:
# a job that opens the GPU, fails 1 s later and exits at 3 s is reported
# with its pid, and its pod UID when its cgroup is a pod's; a process
# holding 40 DRM files gets 16 watched and another workload is still
# watched; a collectd in its own PID namespace with the initial namespace's
# /proc says why it does not attach. Also prints whether fanotify and
# inotify hear another process's open of the render node on this kernel.
set -u
build=${XW_BUILDDIR:?} src=${XW_SRCDIR:?}
ctl=$src/tests/realkernel/xe-ctl
client=$build/tests/fake/xe-client
node=/dev/dri/renderD128
T=$(mktemp -d /tmp/xw-attach.XXXXXX)
passed=0 failed=0
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what" && passed=$((passed + 1))
	else
		echo "not ok - $what" && failed=$((failed + 1))
	fi
}
wait_for() { # wait_for SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
log_has() { grep -q -F -- "$1" "$T/collectd.log" 2>/dev/null; }
value() { # value TYPE-INSTANCE: the last value csv wrote
	local f
	for f in "$T"/csv/*/xe_watch-*/"$1"-[0-9][0-9][0-9][0-9]-*; do
		[ -f "$f" ] && tail -n 1 "$f" | cut -d, -f2 | cut -d. -f1 && return
	done
}
value_is() { [ "$(value "$1")" = "$2" ]; }
start() { # start [WRAPPER...]: collectd with a default <Plugin xe_watch>
	rm -rf "$T/csv" "$T/collectd.log"
	cat >"$T/collectd.conf" <<CONF
Hostname "guest"
FQDNLookup false
BaseDir "$T"
PIDFile "$T/collectd.pid"
Interval 1
TypesDB "${XW_TYPESDB:-/usr/share/collectd/types.db}"
PluginDir "${XW_COLLECTD_PLUGINDIR:-/usr/lib/collectd}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel "info"
  File "$T/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$T/csv"
  StoreRates false
</Plugin>
PluginDir "$build/.libs"
LoadPlugin xe_watch
<Plugin xe_watch>
  Device "$node"
  WatchUevents false
</Plugin>
CONF
	"$@" "${XW_COLLECTD:-/usr/sbin/collectd}" -f -C "$T/collectd.conf" >"$T/stdout" 2>&1 &
	pid=$!
}
stop() { # SIGTERM, and SIGKILL if it is not gone within 5 s
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

[ -e "$node" ] || { echo "no $node in the guest" && exit 1; }
[ -x "$client" ] || { echo "no $client" && exit 77; }

# What hears another process's open() of a DRM node on this kernel?
if command -v python3 >/dev/null; then
	python3 - "$node" <<'PY'
import ctypes, os, select, sys, time
libc = ctypes.CDLL(None, use_errno=True)
node = sys.argv[1].encode()
ino = libc.inotify_init1(0o4000)  # IN_NONBLOCK
libc.inotify_add_watch(ino, node, 0x20)  # IN_OPEN
fan = libc.fanotify_init(0x2, os.O_RDONLY)  # FAN_NONBLOCK, FAN_CLASS_NOTIF
if fan >= 0:
    libc.fanotify_mark(fan, 1, ctypes.c_uint64(0x20), -100, node)  # ADD, FAN_OPEN
if os.fork() == 0:
    fd = os.open(sys.argv[1], os.O_RDWR)
    os.close(fd)
    os._exit(0)
os.wait()
time.sleep(0.2)
def heard(fd):
    return fd >= 0 and bool(select.select([fd], [], [], 0.5)[0])
print("# inotify IN_OPEN heard another process's open of %s: %s" % (sys.argv[1], heard(ino)))
print("# fanotify FAN_OPEN heard it: %s (fanotify_init %s)" % (heard(fan), "ok" if fan >= 0 else "failed"))
PY
fi

# 1. Defaults: the job is attached when it opens the node.
start
check "collectd listens" wait_for 10 log_has "listening for VM errors"
check "it hears the node's opens (default scan 60 s)" wait_for 5 log_has \
	"attaching to a workload when it opens a device node, and by a scan of /proc every 60 s"
sleep 0.5
uid=1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d
cg=/sys/fs/cgroup/kubepods.slice/kubepods-pod${uid//-/_}.slice/cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope
mkdir -p "$cg"
t0=$(date +%s%N)
sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" --no-stdin --exit-after-ms 3000 "$3"' sh "$cg" "$client" "$node" >"$T/job.out" 2>&1 &
job=$!
check "the job opened the GPU" wait_for 5 grep -q '^client ' "$T/job.out"
check "attached within 1 s of its open, long before the 60 s scan" \
	wait_for 1 log_has "watching the VMs of pid $job (xe-client)"
echo "# attach latency: $(( ($(date +%s%N) - t0) / 1000000 )) ms from the job's start (incl. its exec)"
check "the attach names its pod" log_has ", pod $uid"
sleep 1
"$ctl" vm-err "pid:$job" 3 -12 >/dev/null
check "its VM error 1 s later is reported with its pid" \
	wait_for 5 log_has "VM 3 of pid $job (xe-client) on"
wait "$job"
check "it exited at 3 s; its watch ended" wait_for 5 log_has "pid $job (xe-client) released DRM client"

# 2. Fair: 40 files of one process, 16 watched; another workload still is.
"$client" --no-stdin --files 40 --exit-after-ms 15000 "$node" >"$T/hog.out" 2>&1 &
hog=$!
check "the hog opened 40 files" wait_for 10 bash -c "[ \$(grep -c '^client ' '$T/hog.out') -ge 40 ]"
check "16 of its files watched" wait_for 10 value_is gauge-clients 16
check "24 counted as quota" wait_for 10 value_is errors-unwatched-quota 24
"$client" --no-stdin --exit-after-ms 15000 "$node" >"$T/other.out" 2>&1 &
other=$!
check "another workload is watched" wait_for 5 log_has "watching the VMs of pid $other (xe-client)"
"$ctl" vm-err "pid:$other" 4 -28 >/dev/null
check "and its error reported" wait_for 5 log_has "VM 4 of pid $other (xe-client) on"
kill "$hog" "$other" 2>/dev/null
wait "$hog" "$other" 2>/dev/null
stop

# 3. Its own PID namespace, the initial namespace's /proc as ProcRoot.
if command -v unshare >/dev/null; then
	start unshare --pid --fork --kill-child
	check "collectd in its own PID namespace listens" wait_for 10 log_has "listening for VM errors"
	check "and says why it does not attach" wait_for 5 log_has \
		"shows another PID namespace than collectd's own"
	check "naming hostPID and --pid=host" log_has "(Kubernetes: hostPID: true; docker/podman: --pid=host)"
	stop
else
	echo "# no unshare: PID namespace case not run"
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
