#!/bin/sh
# Regenerates BENCHMARKS.md's results from one benchmark run (make bench-md): the table, the real-kernel counts, the commit.
#
#   tests/bench/bench-md.sh BUILDDIR [xw-bench options...]
#
# Runs tests/bench/run-bench.sh (the simulated kernel, then the same counts
# on the real kernel in a QEMU guest) and replaces what lies between the
# "xw-bench results" markers in the source tree's BENCHMARKS.md with its
# output, headed by the commit, the date and the packages it was built
# with. The prose around the markers is kept. Nothing is written if the run
# fails.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || {
	echo "usage: $0 BUILDDIR [xw-bench options...]" >&2
	exit 2
}
md=$srcdir/BENCHMARKS.md
begin='<!-- xw-bench results: begin (make bench-md writes this part) -->'
end='<!-- xw-bench results: end -->'
grep -qxF "$begin" "$md" && grep -qxF "$end" "$md" || {
	echo "bench-md: $md lacks the result markers" >&2
	exit 1
}
tmp=$(mktemp "${TMPDIR:-/tmp}/xw-bench-md.XXXXXX")
trap 'rm -f "$tmp" "$tmp.md"' EXIT

commit=$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$srcdir" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
	commit="$commit plus uncommitted changes"
{
	echo "One run of \`make -C _build bench-md\` on commit \`$commit\`,"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'); pasted as printed. Built against"
	dpkg-query -W -f '${Package} ${Version}, ' collectd-dev libdrm-dev libudev-dev 2>/dev/null |
		sed 's/, $/./'
	echo
	echo
	"$srcdir/tests/bench/run-bench.sh" "$@"
} >"$tmp"

awk -v begin="$begin" -v end="$end" -v body="$tmp" '
	$0 == begin { print; while ((getline l < body) > 0) print l; skip = 1; next }
	$0 == end { skip = 0 }
	!skip { print }
' "$md" >"$tmp.md"
cat "$tmp.md" >"$md"
echo "bench-md: $md rewritten (commit $commit)" >&2
