#!/bin/bash
# Install what is missing, build, and run every test (unit, simulated
# kernel, real collectd). Ends with one line: "tests: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
contrib/install-deps.sh || exit 1
contrib/build.sh || exit 1
cd _build
make -j"$(nproc)" check VERBOSE=1 >check.out 2>&1
status=$?
if ! make check-format >format.out 2>&1; then
	echo "FAIL: clang-format (run 'make format'):"
	head -20 format.out
	status=1
fi
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.out

# Count assertions: Check's "Checks: N, Failures: F, Errors: E" lines and the
# integration tests' "# N passed, N failed" lines.
passed=0 failed=0
while read -r n f e; do
	passed=$((passed + n - f - e)); failed=$((failed + f + e))
done < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' tests/*.log tests/*/*.log 2>/dev/null)
while read -r p f; do
	passed=$((passed + p)); failed=$((failed + f))
done < <(sed -n 's/^\(# \)\{0,1\}\([0-9]*\) passed, \([0-9]*\) failed$/\2 \3/p' tests/*.log tests/*/*.log 2>/dev/null)
skipped=$(grep -c '^SKIP:' check.out)
if [ $status -ne 0 ]; then
	echo "--- test-suite.log ---"
	cat test-suite.log
	[ $failed -eq 0 ] && failed=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
