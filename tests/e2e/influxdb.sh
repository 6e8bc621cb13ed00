#!/bin/bash
# xe_watch -> collectd network plugin -> a real InfluxDB 1.x (collectd
# input) on loopback: the exact counters per device arrive as the series
# operators query, and every InfluxQL query of the shipped Grafana
# dashboard runs against them without error and with data.
. "$XW_SRCDIR/tests/e2e/e2e-lib.sh"

e2e_need influxd "apt-get install influxdb"
e2e_need curl "apt-get install curl"
e2e_need python3 "apt-get install python3"
[ -f "$XW_COLLECTD_PLUGINDIR/network.so" ] || xw_skip "collectd's network plugin is missing"

http_port=$(e2e_free_port tcp)
rpc_port=$(e2e_free_port tcp)
cd_port=$(e2e_free_port udp)
db=collectd
mkdir -p "$T/influxdb"

# Everything under $T, everything on 127.0.0.1, only the listeners we test.
cat >"$T/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$T/influxdb/meta"
[data]
  dir = "$T/influxdb/data"
  wal-dir = "$T/influxdb/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http_port"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$cd_port"
  database = "$db"
  typesdb = "$XW_TYPESDB"
  batch-size = 100
  batch-timeout = "200ms"
[[graphite]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
CONF

e2e_start influxd influxd -config "$T/influxdb.conf"
e2e_up influxd 30 "http://127.0.0.1:$http_port/ping"

# influx_q QUERY: InfluxDB's JSON answer.
influx_q() {
	curl -sS -m 5 -G "http://127.0.0.1:$http_port/query" \
		--data-urlencode "db=$db" --data-urlencode "q=$1"
}
# influx_last INSTANCE TYPE TYPE_INSTANCE: newest stored value, or "".
influx_last() {
	influx_q "SELECT last(\"value\") FROM \"xe_watch_value\" WHERE \"host\" = '$XW_HOST' AND \"instance\" = '$1' AND \"type\" = '$2' AND \"type_instance\" = '$3'" |
		python3 -c '
import json, sys
try:
    print(int(json.load(sys.stdin)["results"][0]["series"][0]["values"][0][1]))
except Exception:
    pass'
}
influx_is() { [ "$(influx_last "$1" "$2" "$3")" = "$4" ]; }

# The shipped example, as the test runs it: only the server changes.
net=$(e2e_snippet "$E2E_CONFD/network-to-influxdb.conf" \
	"s/\"influxdb.example.org\" \"25826\"/\"127.0.0.1\" \"$cd_port\"/") ||
	{ not_ok "network-to-influxdb.conf has the Server line the test replaces"; exit 1; }

check "doc/pipelines.md shows the lines of contrib/collectd.conf.d/network-to-influxdb.conf" e2e_doc_shows "$E2E_CONFD/network-to-influxdb.conf"
xw_devices "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  RetryInterval 0.2
  NotificationLimit 100' "$net"
xw_start

check "renderD128 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "renderD129 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD129 1
# Zeros first, so the dashboard's per-interval differences see the rise.
for dev in renderD128 renderD129; do
	check "$dev errors vm_err = 0 in InfluxDB before any error" \
		xw_wait 20 influx_is $dev errors vm_err 0
done

t0=$(e2e_now)
xw_inject vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM --count 5 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC --count 2 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 8 --errno ETIME >/dev/null

check "InfluxDB: renderD128 errors vm_err = 5" xw_wait 20 influx_is renderD128 errors vm_err 5
check "InfluxDB: renderD129 errors vm_err = 3" xw_wait 20 influx_is renderD129 errors vm_err 3
echo "# injection to exact counts in InfluxDB: $(e2e_ms_since "$t0") ms (Interval 1)"
check "InfluxDB: renderD128 errors vm_err-ENOMEM = 5" xw_wait 10 influx_is renderD128 errors vm_err-ENOMEM 5
check "InfluxDB: renderD129 errors vm_err-ENOSPC = 2" xw_wait 10 influx_is renderD129 errors vm_err-ENOSPC 2
check "InfluxDB: renderD129 errors vm_err-ETIME = 1" xw_wait 10 influx_is renderD129 errors vm_err-ETIME 1
check "InfluxDB: renderD129 ENOMEM exists from the start at 0" xw_wait 10 influx_is renderD129 errors vm_err-ENOMEM 0
check "InfluxDB: renderD129 has no EIO series (never seen)" test -z "$(influx_last renderD129 errors vm_err-EIO)"
for ti in lost malformed unknown wedged coredump dropped suppressed; do
	check "InfluxDB: renderD128 errors $ti = 0" influx_is renderD128 errors $ti 0
done
check "InfluxDB: renderD128 gauge listening = 1" influx_is renderD128 gauge listening 1
check "InfluxDB: renderD129 gauge listening = 1" influx_is renderD129 gauge listening 1
tags=$(influx_q 'SHOW TAG KEYS FROM "xe_watch_value"' | python3 -c '
import json, sys
print(" ".join(v[0] for v in json.load(sys.stdin)["results"][0]["series"][0]["values"]))' 2>/dev/null)
check "measurement xe_watch_value has tags host instance type type_instance (got: $tags)" \
	test "$tags" = "host instance type type_instance"

# The dashboard: every InfluxQL query, Grafana's macros and variables
# replaced with what Grafana would send ($device "All" = both devices).
dash=$XW_SRCDIR/contrib/grafana/xe_watch-influxdb.json
gq() {
	python3 "$E2E_DIR/grafana-influxql.py" --url "http://127.0.0.1:$http_port" \
		--db "$db" --time-filter "time > now() - 15m" --interval 1s \
		--var host="($XW_HOST)" --var device='(renderD128|renderD129)' "$@"
}
# dash_col OUT WHERE TAGS COLUMN: a column of one series line of gq's output
# (4 rows, 5 last value, 6 sum).
dash_col() { awk -F'\t' -v w="$2" -v t="$3" -v c="$4" '$1 == "series" && $2 == w && $3 == t { print $c }' "$1"; }
dash_is() { [ "$(dash_col "$1" "$2" "$3" "$4")" = "$5" ]; }
dash_ok() {
	gq "$dash" >"$1"
	[ "$(grep -c $'^query\tok' "$1")" -eq "$(grep -c '^query' "$1")" ]
}

gq --query 'SELECT nonsense( FROM "xe_watch_value"' >"$T/dash-broken.out"
check "the dashboard checker fails a broken query" grep -q $'^query\terror: ' "$T/dash-broken.out"
gq --query 'SELECT last("value") FROM "$nosuchvariable"' >"$T/dash-unresolved.out"
check "the dashboard checker fails a query with an unknown variable" \
	grep -q $'^query\tunresolved: \$nosuchvariable' "$T/dash-unresolved.out"

out=$T/dash.out
# Differences need two points in a series: the per-errno ones are young.
xw_wait 10 dash_ok "$out"
nq=$(grep -c '^query' "$out")
check "every dashboard query runs and returns data ($(grep -c $'^query\tok' "$out") of $nq)" dash_ok "$out"
grep $'^query\t' "$out" | grep -v $'^query\tok' | sed 's/^/# /'
check "the checker found the dashboard's 11 queries (9 panels, 2 variables; got $nq)" test "$nq" -eq 11
w="panel VM errors per device A"
check "'VM errors per device' sums to 5 for renderD128" dash_is "$out" "$w" "host=$XW_HOST,instance=renderD128" 6 5
check "'VM errors per device' sums to 3 for renderD129" dash_is "$out" "$w" "host=$XW_HOST,instance=renderD129" 6 3
w="panel VM errors per errno A"
check "'VM errors per errno' has renderD129 ETIME" \
	test -n "$(dash_col "$out" "$w" "host=$XW_HOST,instance=renderD129,type_instance=vm_err-ETIME" 4)"
w="panel VM errors by errno since collectd started A"
check "errno table: renderD128 ENOMEM 5" dash_is "$out" "$w" "host=$XW_HOST,instance=renderD128,type_instance=vm_err-ENOMEM" 5 5
check "errno table: renderD129 ENOSPC 2" dash_is "$out" "$w" "host=$XW_HOST,instance=renderD129,type_instance=vm_err-ENOSPC" 5 2
check "errno table: renderD129 ETIME 1" dash_is "$out" "$w" "host=$XW_HOST,instance=renderD129,type_instance=vm_err-ETIME" 5 1
check "errno table: the 4 expected errnos per device, no others (8 rows)" test "$(grep -c $'^series\tpanel VM errors by errno since' "$out")" -eq 8
check "'Kernel loss records' sums to 0" dash_is "$out" "panel Kernel loss records A" "host=$XW_HOST,instance=renderD128" 6 0
check "'Listener (now)' shows 1 for renderD129" dash_is "$out" "panel Listener (now) A" "host=$XW_HOST,instance=renderD129" 5 1
check "variable host lists $XW_HOST" dash_is "$out" "variable host" "-" 5 "$XW_HOST"
check "variable device lists both devices" dash_is "$out" "variable device" "-" 4 2

# A device goes away: the listener panels turn to 0 for it only.
xw_inject remove /dev/dri/renderD129 >/dev/null
check "InfluxDB: renderD129 gauge listening = 0 after removal" xw_wait 20 influx_is renderD129 gauge listening 0
gq "$dash" >"$out"
check "'Listener (now)' shows 0 for renderD129" dash_is "$out" "panel Listener (now) A" "host=$XW_HOST,instance=renderD129" 5 0
check "'Listener (now)' still shows 1 for renderD128" dash_is "$out" "panel Listener (now) A" "host=$XW_HOST,instance=renderD128" 5 1
check "'Listener state over time' ends in 0 for renderD129" \
	dash_is "$out" "panel Listener state over time A" "host=$XW_HOST,instance=renderD129" 5 0

ms=$(xw_stop)
check "collectd with the network plugin exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
# influxd 1.6 with collectd input that received data does not finish its
# clean shutdown (it hangs after "Closing retention policy enforcement
# service"): the database is throw-away, so SIGKILL after 1 s.
e2e_stop influxd 1
xw_done
