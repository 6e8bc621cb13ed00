#!/bin/bash
# The real-kernel suite: builds the test kernel if its cache lacks it, then runs the conformance probe and every scenario in QEMU guests.
#
# Run by `make check` through tests/run-test (XW_SRCDIR and XW_BUILDDIR set),
# or by hand from a build directory:
#   XW_SRCDIR=$PWD/.. XW_BUILDDIR=$PWD bash ../tests/realkernel/realkernel.sh [SCENARIO...]
# Each scenario tests/realkernel/scenarios/*.sh runs in its own guest; a line
# "# vm-run: OPTIONS" in its header gives vm-run's options (--gpus 2 --udev).
# A scenario exits 0 (pass), 77 (skip) or anything else (fail).
# Prints "# N passed, M failed"; exits 77 with the reason when QEMU cannot run.
set -u
src=${XW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${XW_BUILDDIR:-$src/_build}
here=$src/tests/realkernel
. "$here/lib.sh"

skip() {
	echo "SKIP: $*"
	exit 77
}
[ "${XW_REALKERNEL:-1}" = 0 ] && skip "XW_REALKERNEL=0"
command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg ||
	skip "qemu-system-x86_64 cannot run guests here (no TCG accelerator)"
[ -r /usr/src/linux-source-6.1.tar.xz ] || [ -n "${XW_KERNEL:-}" ] ||
	skip "linux-source-6.1 is missing (apt-get install linux-source-6.1)"
/bin/busybox --list 2>/dev/null | grep -qx switch_root ||
	skip "busybox-static is missing (apt-get install busybox-static)"
[ -x "$build/tests/fake-probe" ] || skip "$build/tests/fake-probe is not built (make check builds it)"

# One heavy job at a time on this machine: a kernel build or a series of boots.
xw_heavy_lock
start=$(date +%s)
if [ -z "${XW_KERNEL:-}" ]; then
	XW_KERNEL=$("$here/build-kernel") || {
		echo "not ok - build-kernel failed"
		echo "# 0 passed, 1 failed"
		exit 1
	}
fi
export XW_KERNEL XW_SRCDIR=$src XW_BUILDDIR=$build
echo "# kernel $XW_KERNEL (ready after $(($(date +%s) - start)) s)"

passed=0 failed=0 skipped=0
# run NAME VM-RUN-ARGS...: one guest; its "# N passed, M failed" line (the
# probe's, a scenario's) is added to ours and renamed, so contrib/run-tests.sh
# counts each assertion once; a guest without one counts as one.
run() {
	local name=$1 out rc t0 p f
	shift
	out=$(mktemp -d "${TMPDIR:-/tmp}/xw-rk.XXXXXX")
	t0=$(date +%s)
	# 9>&-: nothing the guest run leaves behind may hold the heavy lock.
	XW_VM_OUT=$out "$here/vm-run" "$@" >"$out/log" 2>&1 9>&-
	rc=$?
	sed 's/^\(# \)\{0,1\}\([0-9]* passed, [0-9]* failed\)$/#   guest: \2/' "$out/log"
	read -r p f < <(sed -n 's/^\(# \)\{0,1\}\([0-9]*\) passed, \([0-9]*\) failed$/\2 \3/p' "$out/log" | tail -n 1)
	echo "# $name: $(($(date +%s) - t0)) s"
	case $rc in
	0) echo "ok - $name" ;;
	77) echo "ok - $name # SKIP" && skipped=$((skipped + 1)) ;;
	*) echo "not ok - $name (exit $rc)" ;;
	esac
	if [ -n "${p:-}" ]; then
		passed=$((passed + p)) failed=$((failed + f))
		[ "$rc" = 0 ] || [ "$rc" = 77 ] || [ "$f" != 0 ] || failed=$((failed + 1))
	elif [ "$rc" = 0 ]; then
		passed=$((passed + 1))
	elif [ "$rc" != 77 ]; then
		failed=$((failed + 1))
	fi
	rm -rf "$out"
}

# The probe, once per uAPI revision the test driver can play.
for uapi in 1 2; do
	run "probe-uapi$uapi" --gpus 1 --append "xe.uapi=$uapi" --timeout 180 -- \
		"$build/tests/fake-probe" --backend kernel --uapi "$uapi"
done

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
	for s in "$here"/scenarios/*.sh; do
		[ -f "$s" ] && scenarios+=("$s")
	done
fi
for s in "${scenarios[@]}"; do
	# shellcheck disable=SC2207
	opts=($(sed -n 's/^# vm-run:[[:space:]]*//p' "$s" | head -n 1))
	run "$(basename "$s" .sh)" "${opts[@]}" -- bash "$s"
done

echo "# real kernel: $(($(date +%s) - start)) s in all"
echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
