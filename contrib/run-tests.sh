#!/bin/bash
# Install what is missing, build, and run every test and every tool README names.
#
#   contrib/run-tests.sh          everything (what CI runs, .ci/run): make
#                                 check, clang-format, then the stages below
#   contrib/run-tests.sh --quick  make check and clang-format only
#
# Stages after make check, each logged to _build/stage-NAME.log: the
# benchmark's smoke run (every phase briefly, its counts checked), the
# fuzzer for FUZZ_SECONDS (30) over the seed corpus, ASan+UBSan, TSan and
# valgrind (contrib/check-sanitizers.sh), a soak of SOAK_SECONDS (60), and
# the Debian package test (contrib/package-test.sh).
# A failing stage fails the run and prints its log's tail. Ends with one
# line: "tests: N passed, N failed, N skipped" (assertions and stages).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
case ${1:-} in
--quick) quick=1 ;;
'') ;;
*)
	echo "usage: $0 [--quick]" >&2
	exit 2
	;;
esac
cd "$top" || exit 1
contrib/install-deps.sh test || exit 1
contrib/build.sh || exit 1
cd _build || exit 1

spassed=0 sfailed=0 sskipped=0
# stage NAME COMMAND...: run one stage (exit 77: skipped), timed and logged.
stage() {
	local name=$1 t0=$SECONDS rc
	shift
	echo "stage $name: $*"
	"$@" >"stage-$name.log" 2>&1
	rc=$?
	local took="$((SECONDS - t0)) s"
	if [ $rc -eq 0 ]; then
		spassed=$((spassed + 1))
		echo "PASS: stage $name ($took)"
	elif [ $rc -eq 77 ]; then
		sskipped=$((sskipped + 1))
		echo "SKIP: stage $name ($took): $(tail -1 "stage-$name.log")"
	else
		sfailed=$((sfailed + 1))
		echo "FAIL: stage $name ($took), exit $rc; the end of _build/stage-$name.log:"
		tail -40 "stage-$name.log" | sed 's/^/  /'
	fi
}

t0=$SECONDS
make -j"$(nproc)" check VERBOSE=1 >check.out 2>&1
check_status=$?
status=$check_status
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.out
echo "make check: $((SECONDS - t0)) s"
if ! make check-format >format.out 2>&1; then
	echo "FAIL: clang-format (run 'make format'):"
	head -20 format.out
	status=1
fi

if [ $quick -eq 0 ]; then
	stage bench make bench BENCH_FLAGS=--smoke
	stage fuzz make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
	stage asan "$top/contrib/check-sanitizers.sh" asan
	stage tsan "$top/contrib/check-sanitizers.sh" tsan
	stage valgrind "$top/contrib/check-sanitizers.sh" valgrind
	stage soak make soak DURATION="${SOAK_SECONDS:-60}"
	stage package "$top/contrib/package-test.sh"
	[ $sfailed -eq 0 ] || status=1
fi

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
if [ $check_status -ne 0 ]; then
	echo "--- test-suite.log ---"
	cat test-suite.log 2>/dev/null || tail -40 check.out
	[ $failed -eq 0 ] && failed=1
fi
passed=$((passed + spassed)) failed=$((failed + sfailed)) skipped=$((skipped + sskipped))
# A clang-format failure has no assertion to count.
[ $status -ne 0 ] && [ $failed -eq 0 ] && failed=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
