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

# The Makefile builds it once it knows the target (make bench); until then,
# or in a tree configured before, compile it here with the tree's flags.
# shellcheck disable=SC2016 # $(EXEEXT) is make's, not the shell's
if grep -q '^tests/bench/xw-bench\$(EXEEXT):' "$builddir/Makefile"; then
	make -s -C "$builddir" tests/bench/xw-bench >&2
else
	mk() { sed -n "s/^$1 = //p" "$builddir/Makefile" | head -n 1; }
	# The plugin's core sources as Makefile.am lists them, except
	# listener.c, which bench-listener.c compiles in (see there).
	# shellcheck disable=SC1003,SC2020 # backslashes and blanks to newlines
	core=$(awk '/^core_sources =/ { on = 1 }
		on { print; if ($0 !~ /\\$/) exit }' "$srcdir/Makefile.am" |
		tr ' \t\\' '\n\n\n' | grep '^src/.*\.c$' | grep -v '^src/listener\.c$')
	srcs=
	for f in xw-bench.c bench-mock.c bench-baseline.c bench-listener.c; do
		srcs="$srcs $srcdir/tests/bench/$f"
	done
	for f in $core; do
		srcs="$srcs $srcdir/$f"
	done
	if [ ! -x "$bin" ] || [ -n "$(find "$srcdir/tests/bench" "$srcdir/src" \
		"$srcdir/include" -name '*.[ch]' -newer "$bin" | head -n 1)" ]; then
		echo "run-bench: compiling $bin" >&2
		mkdir -p "$builddir/tests/bench"
		# shellcheck disable=SC2046,SC2086 # word splitting is wanted
		$(mk CC) -std=gnu11 $(mk CFLAGS) $(mk WARN_CFLAGS) -D_GNU_SOURCE \
			$(mk COLLECTD_CPPFLAGS) -I"$srcdir/include" -I"$srcdir/src" \
			$(mk DRM_CFLAGS) $(mk UDEV_CFLAGS) $srcs \
			-o "$bin" $(mk DRM_LIBS) $(mk UDEV_LIBS) -lpthread
	fi
fi

exec "$bin" --fake "$fake" "$@"
