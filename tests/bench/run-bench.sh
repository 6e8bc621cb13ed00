#!/bin/sh
# Run the xe_watch benchmark (tests/bench/xw-bench.c) against the simulated
# xe kernel, building what is missing or stale in a configured build tree.
#
#   tests/bench/run-bench.sh BUILDDIR [xw-bench options...]
#   e.g. tests/bench/run-bench.sh _build --records 200000 --idle-seconds 3
#
# Prints the table (Markdown) on stdout, progress on stderr; about a minute
# on 2 cores. Figures are only as quiet as the machine: run it alone, or
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

make -s -C "$builddir" tests/bench/xw-bench >&2

exec "$bin" --fake "$fake" "$@"
