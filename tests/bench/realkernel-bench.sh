#!/bin/sh
# Runs the benchmark's counts on the real kernel: xw-bench --real-kernel in a QEMU guest (tests/realkernel/vm-run).
#
#   tests/bench/realkernel-bench.sh BUILDDIR OUT [xw-bench options...]
#
# Writes the guest's key=value results to OUT, for `xw-bench
# --real-kernel-results OUT` to print beside the simulated kernel's counts
# (run-bench.sh does both). Builds the test kernel first if it is not
# cached (tests/realkernel/build-kernel: ~5 min cold). Exits 77 with the
# reason on stderr when the test bed cannot run here (no QEMU, no
# tests/realkernel), 1 if the run or one of its checks failed.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] && [ -f "$1/Makefile" ] || {
	echo "usage: $0 BUILDDIR OUT [xw-bench options...]" >&2
	exit 2
}
builddir=$(cd "$1" && pwd)
out=$2
shift 2
vmrun=$srcdir/tests/realkernel/vm-run
[ -x "$vmrun" ] || {
	echo "no real-kernel test bed in this tree ($vmrun)" >&2
	exit 77
}
make -s -C "$builddir" tests/bench/xw-bench >&2

# One GPU per device the idle phase watches (--devices, default 4).
gpus=4 prev=
for a in "$@"; do
	[ "$prev" = --devices ] && gpus=$a
	prev=$a
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/xw-rk-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
rc=0
# The results go to the writable output directory, not to vm-run's stdout
# (which carries the guest's progress too).
XW_VM_OUT=$dir XW_RK_BENCH_OUT=$dir/results "$vmrun" --gpus "$gpus" \
	--timeout "${XW_RK_BENCH_TIMEOUT:-600}" -- \
	sh -c 'exec "$0" "$@" >"$XW_RK_BENCH_OUT"' \
	"$builddir/tests/bench/xw-bench" --real-kernel "$@" >&2 || rc=$?
[ $rc -eq 77 ] && exit 77
cp "$dir/results" "$out" 2>/dev/null || : >"$out"
if [ $rc -ne 0 ]; then
	echo "realkernel-bench: the guest run failed (exit $rc)" >&2
	[ -f "$dir/dmesg" ] && tail -20 "$dir/dmesg" >&2
	exit 1
fi
