# shellcheck shell=bash
# Shared by the end-to-end tests: everything lib.sh gives (a real collectd
# with the built plugin against the simulated xe kernel), plus real servers
# (InfluxDB, Alertmanager, Prometheus...) that the test starts itself on
# 127.0.0.1, on ports found free, and always stops: on success, failure or
# interruption.
. "$XW_SRCDIR/tests/integration/lib.sh"

E2E_DIR=$XW_SRCDIR/tests/e2e
E2E_CONFD=$XW_SRCDIR/contrib/collectd.conf.d
E2E_NAMES=()
E2E_PIDS=()

# e2e_need PROGRAM [HINT]: skips the test (77) without PROGRAM on PATH.
# Not in $(...): the skip must end the test, not a subshell.
e2e_need() { command -v "$1" >/dev/null 2>&1 || xw_skip "no $1${2:+ ($2)}"; }

# Stops every server this test started (bounded), then lib.sh's cleanup.
e2e_cleanup() {
	local i
	for i in "${!E2E_PIDS[@]}"; do
		e2e_stop_pid "${E2E_PIDS[$i]}"
	done
	if [ "$XW_FAILED" -ne 0 ]; then
		for i in "${!E2E_NAMES[@]}"; do
			echo "# ${E2E_NAMES[$i]}.log (last lines):"
			tail -15 "$T/${E2E_NAMES[$i]}.log" 2>/dev/null | sed 's/^/#   /'
		done
	fi
	xw_cleanup
}
trap e2e_cleanup EXIT

# e2e_stop_pid PID [NAME [SECONDS]]: SIGTERM, up to SECONDS (default 5),
# then SIGKILL. Only our own children. Prints how long it took on a "# "
# line when NAME is given.
e2e_stop_pid() {
	local pid=$1 name=${2:-} secs=${3:-5} t0 deadline how=SIGTERM
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	t0=$(date +%s%N)
	kill -TERM "$pid" 2>/dev/null
	deadline=$((t0 + secs * 1000000000))
	while kill -0 "$pid" 2>/dev/null && [ "$(date +%s%N)" -lt "$deadline" ]; do
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		how=SIGKILL
	fi
	wait "$pid" 2>/dev/null
	[ -z "$name" ] || echo "# $name stopped ($how) in $((($(date +%s%N) - t0) / 1000000)) ms"
	return 0
}

# e2e_free_port tcp|udp: a port nobody listens on at 127.0.0.1 right now
# (the kernel picks it; the server binds it a moment later).
e2e_free_port() {
	python3 -c '
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' "${1:-tcp}"
}

# e2e_start NAME COMMAND...: a server in the background, its output in
# $T/NAME.log; stopped by e2e_stop NAME or at exit.
e2e_start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	E2E_NAMES+=("$name")
	E2E_PIDS+=("$!")
}

e2e_pid() {
	local i
	for i in "${!E2E_NAMES[@]}"; do
		[ "${E2E_NAMES[$i]}" = "$1" ] && echo "${E2E_PIDS[$i]}" && return 0
	done
	return 1
}

# e2e_stop NAME [SECONDS]: stop the server NAME (see e2e_stop_pid).
e2e_stop() { e2e_stop_pid "$(e2e_pid "$1")" "$1" "${2:-5}"; }

# e2e_up NAME SECONDS URL: wait (bounded) until URL answers 2xx while the
# server NAME is alive. On failure the test cannot go on: says why, exits 1.
e2e_up() {
	local name=$1 secs=$2 url=$3 pid
	pid=$(e2e_pid "$name")
	if xw_wait "$secs" e2e_answers "$pid" "$url" && kill -0 "$pid" 2>/dev/null; then
		ok "$name answers on $url"
		return 0
	fi
	not_ok "$name answers on $url within $secs s"
	exit 1
}
e2e_answers() { ! kill -0 "$1" 2>/dev/null || curl -fsS -m 2 -o /dev/null "$2" 2>/dev/null; }

# e2e_snippet FILE 'SED-EXPR'...: a shipped collectd.conf.d example, as the
# test uses it: the same text with only the given substitutions (server
# addresses, ports, paths). Every substitution must hit, so the test notices
# when the example changes under it.
e2e_snippet() {
	local file=$1 text expr
	shift
	text=$(cat "$file") || return 1
	for expr in "$@"; do
		local new
		new=$(printf '%s\n' "$text" | sed -e "$expr")
		if [ "$new" = "$text" ]; then
			echo "e2e_snippet: '$expr' changes nothing in $file" >&2
			return 1
		fi
		text=$new
	done
	printf '%s\n' "$text"
}

# e2e_json_get URL PYTHON-EXPR: GET URL, parse its JSON as j, print the
# value of the expression (strings as-is, others as JSON). Empty on error.
e2e_json_get() {
	curl -fsS -m 5 "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
    v = eval(sys.argv[1], {"j": j})
except Exception as e:
    sys.exit(1)
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$2"
}

# e2e_doc_shows FILE: doc/pipelines.md shows FILE's configuration lines
# (comment lines left out) as one block, so the page cannot drift from the
# example the test runs.
e2e_doc_shows() {
	python3 - "$1" "$XW_SRCDIR/doc/pipelines.md" <<'PY'
import sys
conf = [l for l in open(sys.argv[1]).read().splitlines()
        if l.strip() and not l.lstrip().startswith("#")]
doc = open(sys.argv[2]).read()
sys.exit(0 if conf and ("\n" + "\n".join(conf) + "\n") in doc else 1)
PY
}

# e2e_now; e2e_ms_since T0: timings for the log ("# ..." lines).
e2e_now() { date +%s%N; }
e2e_ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
