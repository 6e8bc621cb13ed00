#!/bin/bash
# xe_watch notifications -> collectd exec -> contrib/alertmanager adapter ->
# a real Prometheus Alertmanager on loopback -> its webhook receiver: VM
# errors become alerts labelled for routing (alertname, severity, host,
# instance, device, errno, and pod_uid for a workload in a pod) with the
# message and vm_id as annotations; a
# device that stops listening raises an alert that its recovery resolves.
. "$XW_SRCDIR/tests/e2e/e2e-lib.sh"

am=$(command -v prometheus-alertmanager || command -v alertmanager) ||
	xw_skip "no Alertmanager (apt-get install prometheus-alertmanager)"
e2e_need curl "apt-get install curl"
e2e_need python3 "apt-get install python3"
[ -x /usr/bin/env ] || xw_skip "no /usr/bin/env for the adapter's #! line"

am_port=$(e2e_free_port tcp)
hook_port=$(e2e_free_port tcp)
am_url=http://127.0.0.1:$am_port
mkdir -p "$T/webhook" "$T/am-data"

# A webhook receiver standing in for the pager.
e2e_start webhook python3 "$E2E_DIR/webhook-sink.py" "$hook_port" "$T/webhook"
e2e_up webhook 10 "http://127.0.0.1:$hook_port/"

# The shipped routing example, waits shortened, pager replaced.
e2e_snippet "$XW_SRCDIR/contrib/alertmanager/alertmanager.example.yml" \
	"s#http://pager.example.org:8080/xe_watch#http://127.0.0.1:$hook_port/xe_watch#" \
	"s/group_wait: 30s/group_wait: 0s/" \
	"s/group_interval: 5m/group_interval: 1s/" >"$T/alertmanager.yml" ||
	{ not_ok "alertmanager.example.yml has the lines the test replaces"; exit 1; }
e2e_start alertmanager "$am" --config.file="$T/alertmanager.yml" \
	--storage.path="$T/am-data" --web.listen-address="127.0.0.1:$am_port" \
	--cluster.listen-address= --log.level=warn
e2e_up alertmanager 30 "$am_url/-/ready"

# exec runs the adapter as nobody: a copy nobody can read, wherever the
# source tree is.
install -m 755 "$XW_SRCDIR/contrib/alertmanager/xe_watch-alertmanager" "$T/xe_watch-alertmanager"
snippet=$(e2e_snippet "$E2E_CONFD/alertmanager.conf" \
	"s#\"/usr/local/bin/xe_watch-alertmanager\"#\"$T/xe_watch-alertmanager\"#" \
	"s#\"http://alertmanager.example.org:9093\"#\"$am_url\"#") ||
	{ not_ok "alertmanager.conf has the lines the test replaces"; exit 1; }
adapter_log=$T/notifs/adapter.log

# am_alerts: the active alerts, one line each, fields separated by '|':
# alertname severity host instance device errno vm_id error_code node
# description cause state seconds(endsAt-startsAt) labelnames
am_alerts() {
	curl -fsS -m 5 "$am_url/api/v2/alerts" | python3 -c '
import datetime, json, re, sys
def ts(s):  # RFC 3339, any number of fraction digits
    m = re.match(r"(.{19})(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").timestamp()
    off = 0 if m.group(3) == "Z" else (1 if m.group(3)[0] == "+" else -1) * (
        int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return t + float(m.group(2) or 0) - off
for a in json.load(sys.stdin):
    l, n = a["labels"], a["annotations"]
    span = ts(a["endsAt"]) - ts(a["startsAt"])
    print("|".join([l.get("alertname", ""), l.get("severity", ""), l.get("host", ""),
        l.get("instance", ""), l.get("device", ""), l.get("errno", ""),
        n.get("vm_id", ""), n.get("error_code", ""), n.get("node", ""),
        n.get("description", ""), n.get("cause", ""), a["status"]["state"],
        "%.0f" % span, ",".join(sorted(l))]))'
}
# am_has PATTERN: some active alert line matches the (grep -E) pattern.
am_has() { am_alerts >"$T/am.now" && grep -Eq -- "$1" "$T/am.now"; }
am_none() { am_alerts >"$T/am.now" && ! grep -Eq -- "$1" "$T/am.now"; }
am_count() { am_alerts >"$T/am.now" && grep -Ec -- "$1" "$T/am.now"; }
# adapter_posted N: the adapter logged at least N deliveries.
adapter_posted() { local n; n=$(grep -c ' posted ' "$adapter_log" 2>/dev/null); [ "${n:-0}" -ge "$1" ]; }
# hook_has RECEIVER STATUS ALERTNAME DEVICE: the webhook got that alert.
hook_has() {
	python3 - "$T/webhook" "$@" <<'PY'
import glob, json, sys
d, receiver, status, name, device = sys.argv[1:]
for f in sorted(glob.glob(d + "/*.json")):
    m = json.load(open(f))
    for a in m.get("alerts", []):
        if (m.get("receiver") == receiver and a["status"] == status
                and a["labels"].get("alertname") == name
                and a["labels"].get("device") == device):
            sys.exit(0)
sys.exit(1)
PY
}

check "doc/pipelines.md shows the lines of contrib/collectd.conf.d/alertmanager.conf" e2e_doc_shows "$E2E_CONFD/alertmanager.conf"
xw_devices "/dev/dri/renderD128 driver=xe" "/dev/dri/renderD129 driver=xe"
xw_config '  Device "/dev/dri/renderD128"
  Device "/dev/dri/renderD129"
  RetryInterval 0.2
  MaxRetryInterval 1
  NotificationLimit 100' "$snippet"
xw_start XE_WATCH_ALERTMANAGER_LOG="$adapter_log"

check "renderD128 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "renderD129 subscribed" xw_wait 10 xw_watches_ge /dev/dri/renderD129 1
# The start-up OKAY "listening" notifications went through the adapter...
check "the adapter posted the start-up OKAY notifications" xw_wait 10 adapter_posted 2
# ...and, as resolved alerts, raised nothing.
check "no alert is active before anything went wrong" test -z "$(am_alerts)"

t0=$(e2e_now)
xw_inject vm-err /dev/dri/renderD128 --vm 3 --errno ENOMEM --count 2 >/dev/null
xw_inject vm-err /dev/dri/renderD129 --vm 7 --errno ENOSPC >/dev/null

# Two failures of VM 3: the alert carries whichever notification came last,
# the second saying how often this VM failed in the window.
vm3="^XeVmError\|critical\|$XW_HOST\|$XW_HOST\|renderD128\|ENOMEM\|3\|-12\|/dev/dri/renderD128\|VM 3 on renderD128 failed: ENOMEM \(Cannot allocate memory\)(; failure 2 of this VM in 60 s)?\|\|active\|"
vm7="^XeVmError\|critical\|$XW_HOST\|$XW_HOST\|renderD129\|ENOSPC\|7\|-28\|/dev/dri/renderD129\|VM 7 on renderD129 failed: ENOSPC \(No space left on device\)\|\|active\|"
check "Alertmanager has XeVmError for renderD128: critical, host, instance, device, errno ENOMEM; vm_id 3 and the message as annotations" \
	xw_wait 15 am_has "$vm3"
check "Alertmanager has XeVmError for renderD129: errno ENOSPC, vm_id 7" xw_wait 15 am_has "$vm7"
echo "# injection to both alerts in Alertmanager: $(e2e_ms_since "$t0") ms"
check "XeVmError labels are exactly alertname,device,errno,host,instance,severity" \
	am_has "${vm3}3600\|alertname,device,errno,host,instance,severity$"
check "a VM error alert lasts --event-ttl, default 3600 s (endsAt - startsAt)" am_has "${vm7}3600\|"
check "two errors with one errno on one device are one alert" test "$(am_count '^XeVmError\|')" -eq 2
check "the pager (webhook, route gpu-oncall) got XeVmError for renderD128 firing" \
	xw_wait 10 hook_has gpu-oncall firing XeVmError renderD128
check "the pager got XeVmError for renderD129 firing" xw_wait 10 hook_has gpu-oncall firing XeVmError renderD129

# The listener goes down, and comes back.
xw_inject remove /dev/dri/renderD128 >/dev/null
down="^XeWatchNotListening\|warning\|$XW_HOST\|$XW_HOST\|renderD128\|\|\|\|/dev/dri/renderD128\|Not listening on renderD128 \(/dev/dri/renderD128\): [^|]*unplugged[^|]*\|[^|]*unplugged[^|]*\|active\|86400\|alertname,device,host,instance,severity$"
check "removal: XeWatchNotListening for renderD128 with the cause, lasting --state-ttl (86400 s)" \
	xw_wait 15 am_has "$down"
check "the pager got XeWatchNotListening for renderD128 firing" \
	xw_wait 10 hook_has gpu-oncall firing XeWatchNotListening renderD128
check "renderD129 is not said to be down" test "$(am_count '^XeWatchNotListening\|.*\|renderD129\|')" -eq 0

t0=$(e2e_now)
xw_inject restore /dev/dri/renderD128 >/dev/null
check "resubscribed when the device is back" xw_wait 10 xw_watches_ge /dev/dri/renderD128 1
check "recovery: the OKAY notification resolved XeWatchNotListening" \
	xw_wait 15 am_none '^XeWatchNotListening\|'
check "the pager got XeWatchNotListening for renderD128 resolved" \
	xw_wait 10 hook_has gpu-oncall resolved XeWatchNotListening renderD128
echo "# device restored to 'resolved' at the pager: $(e2e_ms_since "$t0") ms (RetryInterval 0.2, group_interval 1s)"
check "the VM error alerts are still active (only the listener alert resolved)" \
	test "$(am_count '^XeVmError\|.*\|active\|')" -eq 2

# Wedged GPUs and device coredumps come from udev, which the simulated
# kernel does not drive: hand the adapter those notifications exactly as
# collectd 5.12's exec plugin writes them (collectd-xe_watch(5)).
notif() { # SEVERITY TYPE_INSTANCE PLUGIN META-LINES MESSAGE
	local nl=$'\n'
	printf 'Severity: %s\nTime: %s\nHost: %s\nPlugin: %s\nPluginInstance: renderD128\nType: errors\nTypeInstance: %s\n%s\n%s\n' \
		"$1" "$(date +%s.%3N)" "$XW_HOST" "$3" "$2" "${4:+$4$nl}" "$5"
}
notif FAILURE wedged xe_watch $'recovery: rebind\ndevice: /dev/dri/renderD128' \
	"GPU renderD128 is wedged; recovery: rebind: unbind and rebind the xe driver" |
	XE_WATCH_ALERTMANAGER_LOG=$adapter_log "$T/xe_watch-alertmanager" --url "$am_url"
check "a wedged notification becomes XeGpuWedged, critical, with the recovery method" \
	xw_wait 10 am_has "^XeGpuWedged\|critical\|$XW_HOST\|$XW_HOST\|renderD128\|\|\|\|/dev/dri/renderD128\|GPU renderD128 is wedged; recovery: rebind: unbind and rebind the xe driver\|\|active\|3600\|alertname,device,host,instance,severity$"
notif WARNING coredump xe_watch $'coredump: /sys/class/devcoredump/devcd1/data\ndevice: /dev/dri/renderD128' \
	"GPU renderD128 wrote a device coredump: /sys/class/devcoredump/devcd1/data" |
	XE_WATCH_ALERTMANAGER_LOG=$adapter_log "$T/xe_watch-alertmanager" --url "$am_url"
check "a coredump notification becomes XeGpuCoredump, warning" \
	xw_wait 10 am_has "^XeGpuCoredump\|warning\|$XW_HOST\|$XW_HOST\|renderD128\|"
check "the pager (route gpu-oncall) got XeGpuWedged" xw_wait 10 hook_has gpu-oncall firing XeGpuWedged renderD128
check "the coredump path is an annotation" bash -c \
	"curl -fsS '$am_url/api/v2/alerts?filter=alertname=%22XeGpuCoredump%22' | grep -q '\"coredump\":\"/sys/class/devcoredump/devcd1/data\"'"
# A workload's VM error (WatchClients) in a Kubernetes pod: pod_uid is a
# label, so two pods' errors are two alerts and routes can match it.
pod=1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d
for p in "$pod" 00000000-0000-4000-8000-000000000001; do
	notif FAILURE vm_err xe_watch "vm_id: 4
error_code: -12
errno: ENOMEM
device: /dev/dri/renderD128
watch_id: 3
pid: 4242
comm: llama-server
cgroup: /kubepods.slice/kubepods-pod${p//-/_}.slice/cri-containerd-0123.scope
pod_uid: $p
drm_client_id: 17" "VM 4 of pid 4242 (llama-server) on renderD128 failed: ENOMEM (Cannot allocate memory)" |
		XE_WATCH_ALERTMANAGER_LOG=$adapter_log "$T/xe_watch-alertmanager" --url "$am_url"
done
check "a workload's VM error is labelled with its pod_uid" xw_wait 10 bash -c \
	"curl -fsS '$am_url/api/v2/alerts?filter=pod_uid=%22$pod%22' | grep -q '\"comm\":\"llama-server\"'"
check "two pods' errors are two alerts" xw_wait 10 bash -c \
	"[ \$(curl -fsS '$am_url/api/v2/alerts?filter=alertname=%22XeVmError%22' | grep -o '\"pod_uid\"' | wc -l) -eq 2 ]"
notif FAILURE temperature cpu "" "CPU too hot" |
	XE_WATCH_ALERTMANAGER_LOG=$adapter_log "$T/xe_watch-alertmanager" --url "$am_url"
rc=$?
check "another plugin's notification is ignored (exit $rc, no alert)" \
	bash -c "[ $rc -eq 0 ] && ! curl -fsS '$am_url/api/v2/alerts' | grep -q 'CPU too hot'"

check "the adapter logged no error" bash -c "! grep -q ' error ' '$adapter_log'"
ms=$(xw_stop)
check "collectd exits within 1 s of SIGTERM (took $ms ms)" test "$ms" -lt 1000
e2e_stop alertmanager
e2e_stop webhook
xw_done
