#!/bin/bash
# Every test under AddressSanitizer+UBSan, ThreadSanitizer and valgrind: what
# a developer runs before a change to a thread, a buffer or a descriptor, and
# what the nightly job runs.
#
#   contrib/check-sanitizers.sh [asan] [tsan] [valgrind]     (default: all)
#
# Stages (each in its own build directory under $XW_SAN_DIR, default
# /tmp/xe_watch-sanitizers, configured from this tree out of tree):
#
#  asan      gcc -fsanitize=address,undefined, `make check`: every C test
#            binary instrumented (LeakSanitizer on); the plugin and the
#            simulated kernel instrumented inside the REAL, uninstrumented
#            collectd of the integration tests, with the ASan runtime put
#            first in collectd's LD_PRELOAD only (XW_PRELOAD_FIRST), reports
#            written to the test's directory and failing the test
#            (XW_CHECK_EXIT, tests/integration/lib.sh).
#  tsan      clang -fsanitize=thread: the threaded C tests (unit-tests with
#            its two-thread queue test, fake-listener's listener thread,
#            fake-threads: listener + dispatcher + read callback against the
#            simulated kernel, the simulated kernel's own suite, and
#            state-stress: 200 000 listener state transitions against the
#            dispatcher under TSan).
#  valgrind  a plain -O1 -g build; C tests under memcheck, and every
#            integration test with collectd under memcheck
#            (XW_COLLECTD_WRAPPER): errors, definite leaks, and descriptors
#            the plugin opened and left open at exit fail the test.
#
# Prints a summary per stage; exits non-zero if any stage fails.
# Environment: XW_SAN_DIR, JOBS (make -j for builds, default: nproc),
# CHECK_JOBS (tests at once, default 1), STORM_RECORDS (20000), CC_TSAN (clang),
# XW_SAN_TIMEOUT (seconds for one stage's make check, default 3600).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
root=${XW_SAN_DIR:-${TMPDIR:-/tmp}/xe_watch-sanitizers}
jobs=${JOBS:-$(nproc)}
# Tests one at a time: instrumented, two timing-bound tests side by side
# (the storm beside an end-to-end test) starve each other on 2 CPUs.
check_jobs=${CHECK_JOBS:-1}
# The storm's 100 000 records at 5-20x the cost would mostly measure the
# sanitizer; 20 000 still overflow the ring and exercise every path.
export STORM_RECORDS=${STORM_RECORDS:-20000}
runner=$top/contrib/sanitizer-run-test
# A hung test (a deadlocked thread) must fail the nightly job, not stall it.
stage_timeout=${XW_SAN_TIMEOUT:-3600}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(asan tsan valgrind)
for s in "${stages[@]}"; do
	case $s in asan | tsan | valgrind) ;; *)
		echo "usage: $0 [asan] [tsan] [valgrind]" >&2
		exit 2
		;;
	esac
done

declare -A result
say() { printf '%s\n' "$*"; }
hr() { say "======== $* ========"; }

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) || exit 1

# build DIR CONFIGURE-ARG...: configure (again only when the arguments or
# configure changed) and make.
build() {
	local dir=$1
	shift
	mkdir -p "$dir" || return 1
	local want
	# The source tree is part of what the build was configured for: a tree
	# configured from another checkout runs that checkout's test scripts.
	want="$top $(printf '%q ' "$@")"
	if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/Makefile" ] ||
		[ "$(cat "$dir/.xw-configure-args" 2>/dev/null)" != "$want" ]; then
		(cd "$dir" && "$top/configure" "$@" >configure.out 2>&1) || {
			tail -30 "$dir/configure.out"
			return 1
		}
		printf '%s' "$want" >"$dir/.xw-configure-args"
	fi
	(cd "$dir" && make -j"$jobs" >make.out 2>&1) || {
		grep -E 'error|Error' "$dir/make.out" | head -30
		return 1
	}
}

# make_var DIR VAR: a variable of the configured Makefile.
make_var() {
	make -s -C "$1" -f Makefile -f - xw-print-var XW_VAR="$2" <<'MK' 2>/dev/null
xw-print-var:
	@echo $($(XW_VAR))
MK
}

# instrumented_tests DIR [TEST...]: the tree's TESTS but the ones named and
# the real-kernel suite (tests/realkernel/: it runs the build in a QEMU
# guest under TCG, where an instrumented collectd would only time out).
instrumented_tests() {
	local dir=$1 t list=
	shift
	for t in $(make_var "$dir" TESTS); do
		case " $* " in *" $t "*) continue ;; esac
		case $t in tests/realkernel/*) continue ;; esac
		list="$list $t"
	done
	echo "${list# }"
}

# check DIR [VAR=VALUE...]: `make check` through the sanitizer runner with
# these variables in the tests' environment (and $check_tests as TESTS if
# set). Sets npass, nfail, nskip and checked_logs.
check() {
	local dir=$1
	shift
	local targs=()
	[ -n "${check_tests:-}" ] && targs=(TESTS="$check_tests")
	(cd "$dir" && env "$@" timeout -k 30 "$stage_timeout" make -k -j"$check_jobs" check LOG_COMPILER="$runner" \
		SH_LOG_COMPILER="$runner" "${targs[@]}" >check.out 2>&1)
	local st=$?
	npass=$(grep -c '^PASS:' "$dir/check.out")
	nfail=$(grep -cE '^(FAIL|ERROR|XPASS):' "$dir/check.out")
	nskip=$(grep -c '^SKIP:' "$dir/check.out")
	[ $st -eq 0 ] || [ "$nfail" -gt 0 ] || nfail=1
	checked_logs=$(sed -n 's/^\(PASS\|FAIL\|ERROR\|SKIP\|XFAIL\|XPASS\): \(.*\)$/\2/p' "$dir/check.out" |
		sed 's/\.sh$//; s/$/.log/')
	grep -E '^(PASS|FAIL|ERROR|XPASS|XFAIL|SKIP):' "$dir/check.out" | sed 's/^/  /'
}

# count DIR REGEX: matching lines in the checked logs.
count() {
	local n=0 f c
	for f in $checked_logs; do
		c=$(grep -cE -- "$2" "$1/$f" 2>/dev/null)
		n=$((n + ${c:-0}))
	done
	echo "$n"
}

# ---- asan --------------------------------------------------------------------
stage_asan() {
	local dir=$root/asan asan
	hr "asan: AddressSanitizer + UBSan (gcc), make check ($dir)"
	asan=$(gcc -print-file-name=libasan.so)
	[ -f "$asan" ] || { say "no libasan.so (apt-get install libasan8)"; return 1; }
	build "$dir" CC=gcc \
		CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
		LDFLAGS='-fsanitize=address,undefined' || return 1
	# C tests: instrumented binaries, leaks checked at exit (also in Check's
	# forked children). collectd: not instrumented, so the runtime must come
	# first in its LD_PRELOAD, and its fast unwinder cannot walk collectd's
	# frames: use the slow one for complete leak stacks. Reports go to the
	# test's directory, where xw_done finds them. handle_abort: a stack for
	# assert() failures too. collectd's own leaks at exit are suppressed in
	# contrib/lsan-collectd.supp, each with the collectd leak it hides.
	# verify_asan_link_order=0, for test programs only: the helpers that
	# shell tests start with the simulated kernel preloaded (xe-client) and
	# the umockdev-* tests (umockdev-wrapper prepends its own preload) are
	# ASan-linked executables, whose runtime is in their DT_NEEDED and
	# interposes malloc whatever the order; the order check is too strict
	# for them. collectd keeps the runtime first. XW_STOP_RELAXED: collectd's
	# exit includes LeakSanitizer's scan of the heap, so the 1 s SIGTERM
	# bound (asserted by the plain make check) is printed, not asserted.
	local common='detect_leaks=1:handle_abort=1:allow_user_segv_handler=0:detect_stack_use_after_return=1'
	local ubsan='print_stacktrace=1:halt_on_error=1'
	local lsan="suppressions=$top/contrib/lsan-collectd.supp:print_suppressions=0"
	check_tests=$(instrumented_tests "$dir")
	check "$dir" \
		XW_SAN_PRELOAD="$asan" \
		ASAN_OPTIONS="$common:verify_asan_link_order=0" UBSAN_OPTIONS="$ubsan" \
		LSAN_OPTIONS="$lsan" \
		XW_PRELOAD_FIRST="$asan" XW_CHECK_EXIT=1 XW_STOP_RELAXED=1 \
		XW_COLLECTD_ENV="ASAN_OPTIONS=$common:fast_unwind_on_malloc=0:log_path=\$T/asan UBSAN_OPTIONS=$ubsan:log_path=\$T/ubsan LSAN_OPTIONS=$lsan"
	check_tests=
	local nasan nlsan nub
	nasan=$(count "$dir" 'ERROR: AddressSanitizer')
	nlsan=$(count "$dir" 'ERROR: LeakSanitizer')
	nub=$(count "$dir" 'runtime error:')
	say "asan: $npass passed, $nfail failed, $nskip skipped;" \
		"AddressSanitizer reports: $nasan, leak reports: $nlsan, UBSan reports: $nub"
	[ "$nfail" -eq 0 ] && [ "$nasan" -eq 0 ] && [ "$nlsan" -eq 0 ] && [ "$nub" -eq 0 ]
}

# ---- tsan --------------------------------------------------------------------
stage_tsan() {
	local dir=$root/tsan cc=${CC_TSAN:-clang}
	hr "tsan: ThreadSanitizer ($cc), the threaded C tests ($dir)"
	build "$dir" CC="$cc" CFLAGS='-O1 -g -fsanitize=thread -fno-omit-frame-pointer' \
		LDFLAGS='-fsanitize=thread' || return 1
	# clang, not gcc: gcc's TSan symbolizes a report with libbacktrace, which
	# open()s /proc/self/exe through the simulated kernel's interposed open;
	# its instrumented locking, run inside the report with TSan's
	# interceptors off, raises a second report that deadlocks the first. So
	# under gcc a real race in a fake-* test hangs instead of failing.
	# clang's runtime symbolizes with raw system calls. Nothing is
	# preloaded: clang links the runtime into each test binary. The
	# simulated kernel's fork hand-over test starts threads after fork():
	# allowed (die_after_fork=0).
	local opts='halt_on_error=1 second_deadlock_stack=1 die_after_fork=0'
	check_tests='tests/unit-tests tests/fake-listener tests/fake/fake-selftest tests/fake-threads tests/state-stress'
	check "$dir" TSAN_OPTIONS="$opts"
	check_tests=''
	local n
	n=$(count "$dir" 'WARNING: ThreadSanitizer')
	say "tsan: $npass passed, $nfail failed, $nskip skipped; ThreadSanitizer reports: $n"
	[ "$nfail" -eq 0 ] && [ "$n" -eq 0 ]
}

# ---- valgrind ----------------------------------------------------------------
stage_valgrind() {
	local dir=$root/valgrind
	hr "valgrind: memcheck, C tests and collectd in every integration test ($dir)"
	command -v valgrind >/dev/null || { say "valgrind is not installed"; return 1; }
	build "$dir" CC=gcc CFLAGS='-O1 -g -fno-omit-frame-pointer' || return 1

	# Attaching to workloads (WatchClients) needs pidfd_open/pidfd_getfd,
	# which valgrind 3.19 (Debian 12) does not know (ENOSYS): skip what
	# needs them when this valgrind lacks them.
	local skip_tests='' exclude_suite='' no_pidfd=''
	printf '#define _GNU_SOURCE\n#include <sys/syscall.h>\n#include <unistd.h>\nint main(void){int p=(int)syscall(SYS_pidfd_open,getpid(),0);return p<0||syscall(SYS_pidfd_getfd,p,0,0)<0;}\n' >"$dir/pidfd-probe.c"
	if gcc -o "$dir/pidfd-probe" "$dir/pidfd-probe.c" 2>/dev/null &&
		! "$top/tests/valgrind/valgrind-run" -q "$dir/pidfd-probe" 2>/dev/null; then
		skip_tests='tests/integration/clients.sh tests/integration/attach-safe.sh
			tests/integration/attach-fair.sh tests/integration/attach-prompt.sh
			tests/integration/attach-pipes.sh tests/integration/attach-refused.sh
			tests/integration/capabilities.sh'
		exclude_suite='clients attach'
		# WatchClients is on by default: the other tests run with it off
		# (lib.sh), or the plugin's "cannot attach" ERROR fails them.
		no_pidfd=1
		say "  this valgrind lacks pidfd_open/pidfd_getfd: not running" $skip_tests \
			"nor the unit tests' '$exclude_suite' suites (attaching to workloads) under it;" \
			"the other tests run with WatchClients false"
	fi
	# shellcheck disable=SC2086 # one word per test
	check_tests=$(instrumented_tests "$dir" $skip_tests)

	local vg="$top/tests/valgrind/valgrind-run --error-exitcode=97 --leak-check=full"
	vg="$vg --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=yes"
	vg="$vg --child-silent-after-fork=yes --num-callers=30 --log-file=\$T/valgrind.%p.log"
	[ -s "$top/tests/valgrind/collectd.supp" ] && vg="$vg --suppressions=$top/tests/valgrind/collectd.supp"
	# XW_STOP_RELAXED: under memcheck collectd takes 0.2-0.9 s to stop, too
	# close to the 1 s bound: the time is printed, not asserted.
	check "$dir" XW_SAN_VALGRIND=1 ${exclude_suite:+XW_SAN_EXCLUDE_SUITES="$exclude_suite"} \
		${no_pidfd:+XW_NO_PIDFD=1} \
		XW_CHECK_EXIT=1 XW_STOP_TIMEOUT=30 XW_STOP_RELAXED=1 \
		XW_COLLECTD_WRAPPER="$vg"
	check_tests=
	local nerr nleak nfd nrel
	nerr=$(count "$dir" '^(#   )?==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap)')
	nleak=$(count "$dir" 'definitely lost in loss record')
	nfd=$(count "$dir" 'descriptor\(s\) opened by the plugin still open')
	nrel=$(cat "$dir"/tests/integration/*.log 2>/dev/null | grep -c 'XW_STOP_RELAXED')
	say "valgrind: $npass passed, $nfail failed, $nskip skipped; memory errors: $nerr," \
		"definite leak records: $nleak, plugin descriptors open at exit: $nfd" \
		"(SIGTERM times not asserted in $nrel stops; see 'collectd took' in the logs)"
	[ "$nfail" -eq 0 ] && [ "$nerr" -eq 0 ] && [ "$nleak" -eq 0 ] && [ "$nfd" -eq 0 ]
}

status=0
for s in "${stages[@]}"; do
	if "stage_$s"; then result[$s]=PASS; else result[$s]=FAIL; status=1; fi
	say ""
done
hr summary
for s in "${stages[@]}"; do
	say "  $s: ${result[$s]}    (logs: $root/$s/tests/, $root/$s/check.out)"
done
exit $status
