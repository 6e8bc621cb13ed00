#!/bin/sh
# Run the xe_watch benchmark (tests/bench/xw-bench.c) against the simulated
# xe kernel, building what is missing or stale in a configured build tree.
#
#   tests/bench/run-bench.sh BUILDDIR [xw-bench options...]
#   e.g. tests/bench/run-bench.sh _build --records 200000 --idle-seconds 3
#        tests/bench/run-bench.sh _build --smoke     # every phase briefly (CI)
#
# Prints the table (Markdown) on stdout, progress on stderr; about a minute
# on 2 cores. Then the counts again on the real kernel, in a QEMU guest
# (tests/bench/realkernel-bench.sh), printed beside the simulated kernel's;
# XW_BENCH_REAL_KERNEL=0 leaves them out. Exits non-zero if a phase or one
# of the run's sanity checks failed, here or in the guest. Figures are only as quiet as the machine: run it alone, or
# (as root) ahead of whatever else runs: nice -n -15 tests/bench/run-bench.sh
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -lt 1 ] || [ ! -f "$1/Makefile" ]; then
	echo "usage: $0 BUILDDIR [xw-bench options...]" >&2
	echo "BUILDDIR is a configured build tree, e.g.:" >&2
	echo "  mkdir -p _build && cd _build && $srcdir/configure && cd .." >&2
	exit 2
fi
builddir=$(cd "$1" && pwd)
shift

# Build output goes to stderr: stdout is the table.
make -s -C "$builddir" tests/fake/libxefake.la >&2
fake=$builddir/tests/fake/.libs/libxefake.so
bin=$builddir/tests/bench/xw-bench

make -s -C "$builddir" tests/bench/xw-bench tests/fake/xe-client >&2

# The guest's share: the same counts, smaller in a smoke run (TCG is slow).
rk_args="--records 25600 --devices 4 --idle-seconds 10"
for a in "$@"; do
	[ "$a" = --smoke ] && rk_args="--records 2560 --devices 2 --idle-seconds 2"
done
rk_out=$(mktemp "${TMPDIR:-/tmp}/xw-rk-results.XXXXXX")
trap 'rm -f "$rk_out" "$rk_out.err"' EXIT
rk=0
if [ "${XW_BENCH_REAL_KERNEL:-1}" = 0 ]; then
	set -- --real-kernel-skipped "XW_BENCH_REAL_KERNEL=0" "$@"
else
	echo "run-bench: the counts on the real kernel first (QEMU guest) ..." >&2
	# shellcheck disable=SC2086 # word splitting is wanted
	"$srcdir/tests/bench/realkernel-bench.sh" "$builddir" "$rk_out" $rk_args \
		2>"$rk_out.err" || rk=$?
	case $rk in
	0) set -- --real-kernel-results "$rk_out" "$@" ;;
	77) set -- --real-kernel-skipped "$(tail -n 1 "$rk_out.err")" "$@" ;;
	*)
		cat "$rk_out.err" >&2
		if [ -s "$rk_out" ]; then
			set -- --real-kernel-results "$rk_out" "$@"
		else
			set -- --real-kernel-skipped "the guest run failed (exit $rk)" "$@"
		fi
		;;
	esac
fi

st=0
"$bin" --fake "$fake" "$@" || st=$?
[ $rk -eq 0 ] || [ $rk -eq 77 ] || st=1
exit $st
