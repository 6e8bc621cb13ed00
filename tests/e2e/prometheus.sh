#!/bin/bash
# xe_watch -> collectd write_prometheus -> /metrics (exact counters, as
# write_prometheus names them); the shipped alerting rules pass promtool's
# checks and unit tests; a real Prometheus on loopback, configured from the
# shipped example, scrapes collectd, fires XeVmErrors for the injected
# errors, sees a device stop listening, and hands the alert to a real
# Alertmanager.
. "$XW_SRCDIR/tests/e2e/e2e-lib.sh"

e2e_need prometheus "apt-get install prometheus"
e2e_need promtool "apt-get install prometheus"
am=$(command -v prometheus-alertmanager || command -v alertmanager) ||
	xw_skip "no Alertmanager (apt-get install prometheus-alertmanager)"
e2e_need curl "apt-get install curl"
e2e_need python3 "apt-get install python3"
[ -f "$XW_COLLECTD_PLUGINDIR/write_prometheus.so" ] || xw_skip "collectd's write_prometheus plugin is missing"
if ldd "$XW_COLLECTD_PLUGINDIR/write_prometheus.so" | grep -q 'not found'; then
	xw_skip "write_prometheus.so cannot load: $(ldd "$XW_COLLECTD_PLUGINDIR/write_prometheus.so" |
		awk '/not found/ {print $1}' | tr '\n' ' ')(apt-get install libmicrohttpd12 libprotobuf-c1)"
fi

rules=$XW_SRCDIR/contrib/prometheus/xe_watch.rules.yml

# 1. The rules, offline.
promtool check rules "$rules" >"$T/promtool-check.out" 2>&1
check "promtool check rules xe_watch.rules.yml" grep -Eq 'SUCCESS: [0-9]+ rules found' "$T/promtool-check.out"
grep -q SUCCESS "$T/promtool-check.out" || sed 's/^/# /' "$T/promtool-check.out"
(cd "$XW_SRCDIR/contrib/prometheus" && promtool test rules xe_watch.rules.test.yml) >"$T/promtool-test.out" 2>&1
check "promtool test rules xe_watch.rules.test.yml" grep -q SUCCESS "$T/promtool-test.out"
grep -q SUCCESS "$T/promtool-test.out" || sed 's/^/# /' "$T/promtool-test.out"

# 2. collectd's /metrics.
exp_port=$(e2e_free_port tcp)
prom_port=$(e2e_free_port tcp)
am_port=$(e2e_free_port tcp)
snippet=$(e2e_snippet "$E2E_CONFD/prometheus.conf" \
	"s/Host \"0.0.0.0\"/Host \"127.0.0.1\"/" \
	"s/Port \"9103\"/Port \"$exp_port\"/") ||
	{ not_ok "prometheus.conf has the lines the test replaces"; exit 1; }
metrics_url=http://127.0.0.1:$exp_port/metrics

check "doc/pipelines.md shows the lines of contrib/collectd.conf.d/prometheus.conf" e2e_doc_shows "$E2E_CONFD/prometheus.conf"
xw_devices "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  RetryInterval 0.2
  NotificationLimit 100' "$snippet"
xw_start
check "renderD128 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "renderD129 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD129 1

# metric NAME LABELS: the sample's value in collectd's /metrics (labels in
# write_prometheus's order), or "".
metric() {
	curl -fsS -m 5 "$metrics_url" 2>/dev/null >"$T/metrics.now" || return 0
	awk -v k="$1{$2}" '$1 == k { print $2 }' "$T/metrics.now"
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
errors() { echo "xe_watch=\"$1\",type=\"$2\",instance=\"$XW_HOST\""; }

check "/metrics has collectd_xe_watch_errors_total{$(errors renderD128 vm_err)} 0" \
	xw_wait 10 metric_is collectd_xe_watch_errors_total "$(errors renderD128 vm_err)" 0

# 3. A real Prometheus (with the shipped rules) and Alertmanager.
e2e_snippet "$XW_SRCDIR/contrib/prometheus/prometheus.example.yml" \
	"s/scrape_interval: 30s/scrape_interval: 1s/" \
	"s/evaluation_interval: 30s/evaluation_interval: 1s/" \
	"s#/etc/prometheus/xe_watch.rules.yml#$rules#" \
	"s/alertmanager.example.org:9093/127.0.0.1:$am_port/" \
	"s/gpu-node1.example.org:9103/127.0.0.1:$exp_port/" >"$T/prometheus.yml" ||
	{ not_ok "prometheus.example.yml has the lines the test replaces"; exit 1; }
cat >"$T/alertmanager.yml" <<'YML'
route:
  receiver: default
receivers:
  - name: default
YML
mkdir -p "$T/prom-data" "$T/am-data"
e2e_start alertmanager "$am" --config.file="$T/alertmanager.yml" \
	--storage.path="$T/am-data" --web.listen-address="127.0.0.1:$am_port" \
	--cluster.listen-address= --log.level=warn
e2e_start prometheus prometheus --config.file="$T/prometheus.yml" \
	--storage.tsdb.path="$T/prom-data" --web.listen-address="127.0.0.1:$prom_port" \
	--log.level=warn
e2e_up alertmanager 30 "http://127.0.0.1:$am_port/-/ready"
e2e_up prometheus 30 "http://127.0.0.1:$prom_port/-/ready"

# promql QUERY: "labels value" per sample of an instant query.
promql() {
	curl -fsS -m 5 -G "http://127.0.0.1:$prom_port/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    m = r["metric"]
    print(",".join("%s=%s" % kv for kv in sorted(m.items())), r["value"][1])'
}
promql_is() { [ "$(promql "$1")" = "$2" ]; }
# prom_alerts: "alertname state device instance severity" per alert.
prom_alerts() {
	curl -fsS -m 5 "http://127.0.0.1:$prom_port/api/v1/alerts" 2>/dev/null | python3 -c '
import json, sys
for a in json.load(sys.stdin)["data"]["alerts"]:
    l = a["labels"]
    print(l["alertname"], a["state"], l.get("device", "-"), l.get("instance", "-"), l.get("severity", "-"))'
}
prom_alert_is() { prom_alerts | grep -qx -- "$1"; }
am_has() {
	curl -fsS -m 5 "http://127.0.0.1:$am_port/api/v2/alerts" 2>/dev/null | python3 -c '
import json, sys
want = dict(kv.split("=", 1) for kv in sys.argv[1:])
sys.exit(0 if any(all(a["labels"].get(k) == v for k, v in want.items())
                  for a in json.load(sys.stdin)) else 1)' "$@"
}

vm_err_sel="collectd_xe_watch_errors_total{type=\"vm_err\"}"
zeros="__name__=collectd_xe_watch_errors_total,instance=$XW_HOST,job=collectd,type=vm_err,xe_watch=renderD128 0
__name__=collectd_xe_watch_errors_total,instance=$XW_HOST,job=collectd,type=vm_err,xe_watch=renderD129 0"
check "Prometheus scraped errors vm_err = 0 for both devices, instance = collectd's Hostname (honor_labels)" \
	xw_wait 20 promql_is "$vm_err_sel" "$zeros"
check "Prometheus has scraped at least twice (increase() needs a base)" \
	xw_wait 10 promql_is "count_over_time(${vm_err_sel}[1m]) >= 2" "$(echo "$zeros" | sed 's/__name__=collectd_xe_watch_errors_total,//; s/ 0$/ 2/')"
check "no alert before any error" test -z "$(prom_alerts)"

t0=$(e2e_now)
xw_inject vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM --count 5 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC --count 2 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 8 --errno ETIME >/dev/null

# Exact values, as write_prometheus names and labels them.
check "/metrics: collectd_xe_watch_errors_total{$(errors renderD128 vm_err)} 5" \
	xw_wait 10 metric_is collectd_xe_watch_errors_total "$(errors renderD128 vm_err)" 5
check "/metrics: ...{$(errors renderD129 vm_err)} 3" \
	xw_wait 10 metric_is collectd_xe_watch_errors_total "$(errors renderD129 vm_err)" 3
check "/metrics: ...{$(errors renderD128 vm_err-ENOMEM)} 5" \
	metric_is collectd_xe_watch_errors_total "$(errors renderD128 vm_err-ENOMEM)" 5
check "/metrics: ...{$(errors renderD129 vm_err-ENOSPC)} 2" \
	metric_is collectd_xe_watch_errors_total "$(errors renderD129 vm_err-ENOSPC)" 2
check "/metrics: ...{$(errors renderD129 vm_err-ETIME)} 1" \
	metric_is collectd_xe_watch_errors_total "$(errors renderD129 vm_err-ETIME)" 1
check "/metrics: renderD129's ENOMEM series exists from the start at 0" \
	metric_is collectd_xe_watch_errors_total "$(errors renderD129 vm_err-ENOMEM)" 0
check "/metrics: no EIO series (not an expected errno, never seen)" \
	test -z "$(metric collectd_xe_watch_errors_total "$(errors renderD129 vm_err-EIO)")"
for ti in lost malformed unknown wedged coredump dropped suppressed; do
	check "/metrics: ...{$(errors renderD128 $ti)} 0" \
		metric_is collectd_xe_watch_errors_total "$(errors renderD128 $ti)" 0
done
check "/metrics: collectd_xe_watch_gauge{$(errors renderD128 listening)} 1" \
	metric_is collectd_xe_watch_gauge "$(errors renderD128 listening)" 1
check "/metrics: collectd_xe_watch_errors_total is TYPE counter" \
	grep -qx '# TYPE collectd_xe_watch_errors_total counter' "$T/metrics.now"
check "/metrics: collectd_xe_watch_gauge is TYPE gauge" \
	grep -qx '# TYPE collectd_xe_watch_gauge gauge' "$T/metrics.now"
check "/metrics: the 4 expected errno series per device, nothing else (8)" \
	test "$(grep -c '^collectd_xe_watch_errors_total{.*type="vm_err-' "$T/metrics.now")" -eq 8

check "Prometheus: XeVmErrors firing for renderD128 (critical, instance $XW_HOST)" \
	xw_wait 20 prom_alert_is "XeVmErrors firing renderD128 $XW_HOST critical"
check "Prometheus: XeVmErrors firing for renderD129" \
	xw_wait 10 prom_alert_is "XeVmErrors firing renderD129 $XW_HOST critical"
echo "# injection to XeVmErrors firing in Prometheus: $(e2e_ms_since "$t0") ms (Interval 1, scrape and evaluation 1s)"
check "Prometheus: per-errno series make no alerts of their own (2 alerts)" \
	test "$(prom_alerts | grep -c '^XeVmErrors ')" -eq 2
check "Prometheus: ENOMEM = 5 for renderD128" promql_is \
	'collectd_xe_watch_errors_total{type="vm_err-ENOMEM",xe_watch="renderD128"}' \
	"__name__=collectd_xe_watch_errors_total,instance=$XW_HOST,job=collectd,type=vm_err-ENOMEM,xe_watch=renderD128 5"
check "Alertmanager got XeVmErrors for renderD128 from Prometheus" \
	xw_wait 20 am_has alertname=XeVmErrors device=renderD128 xe_watch=renderD128 \
	instance="$XW_HOST" severity=critical type=vm_err

xw_inject remove /dev/dri/renderD129 >/dev/null
check "Prometheus: listening gauge = 0 for renderD129 after removal" \
	xw_wait 20 promql_is 'collectd_xe_watch_gauge{type="listening",xe_watch="renderD129"}' \
	"__name__=collectd_xe_watch_gauge,instance=$XW_HOST,job=collectd,type=listening,xe_watch=renderD129 0"
check "Prometheus: XeWatchNotListening pending for renderD129 (for: 2m)" \
	xw_wait 10 prom_alert_is "XeWatchNotListening pending renderD129 $XW_HOST warning"
check "Prometheus: renderD128 is not said to be down" \
	bash -c "! curl -fsS -m 5 'http://127.0.0.1:$prom_port/api/v1/alerts' | grep -q 'XeWatchNotListening.*renderD128'"

ms=$(xw_stop)
check "collectd with write_prometheus exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
e2e_stop prometheus
e2e_stop alertmanager
xw_done
