#!/usr/bin/env python3
"""Run every InfluxQL query of a Grafana dashboard against a live InfluxDB 1.x.

Used by tests/e2e/influxdb.sh so that a broken dashboard query fails the
build. Collects the queries of every panel target (rows included) and of
every "query" template variable, replaces Grafana's macros and variables
with concrete values ($timeFilter, $__interval, and --var NAME=VALUE for
the dashboard's own variables), refuses a query with a variable left over,
and runs each through /query. Python 3 standard library only.

Output, one line per query, tab-separated:
  query  STATUS  WHERE  SERIES          STATUS: ok, empty, error: ..., unresolved: ...
and one line per series returned:
  series  WHERE  TAGS  ROWS  LAST  SUM   TAGS: k=v,k=v; LAST/SUM of the last column
WHERE is "panel <title> <refId>" or "variable <name>".
Exit status 0 when every query ran and returned data, else 1.
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request


def queries(dash):
    """(where, query) for every InfluxQL query in the dashboard."""
    out = []

    def walk(panels):
        for p in panels or []:
            for t in p.get("targets") or []:
                q = t.get("query")
                if not q:
                    continue
                if not t.get("rawQuery", False):
                    raise SystemExit(
                        "panel %r target %s uses the query builder, not raw InfluxQL"
                        % (p.get("title"), t.get("refId")))
                out.append(("panel %s %s" % (p.get("title"), t.get("refId")), q))
            walk(p.get("panels"))

    walk(dash.get("panels"))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") == "query":
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            out.append(("variable %s" % v.get("name"), q))
    return out


def substitute(q, variables, time_filter, interval):
    macros = dict(variables)
    macros["timeFilter"] = time_filter
    macros["__interval"] = interval
    # Grafana's three spellings: $name, ${name} (optionally ${name:fmt}), [[name]].
    for name in sorted(macros, key=len, reverse=True):
        val = macros[name]
        q = re.sub(r"\$\{%s(:[^}]*)?\}" % re.escape(name), lambda m: val, q)
        q = re.sub(r"\[\[%s\]\]" % re.escape(name), lambda m: val, q)
        q = re.sub(r"\$%s(?![A-Za-z0-9_])" % re.escape(name), lambda m: val, q)
    return q


def run(url, db, q):
    full = url.rstrip("/") + "/query?" + urllib.parse.urlencode(
        {"db": db, "q": q, "epoch": "s"})
    try:
        with urllib.request.urlopen(full, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except Exception:
            return "error: HTTP %d" % e.code, []
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        return "error: %s" % e, []
    if "error" in body:
        return "error: %s" % body["error"], []
    series = []
    for res in body.get("results", []):
        if "error" in res:
            return "error: %s" % res["error"], []
        series.extend(res.get("series", []))
    return ("ok" if series else "empty"), series


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="InfluxDB base URL")
    ap.add_argument("--db", required=True)
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="value of a dashboard variable (as Grafana would format it)")
    ap.add_argument("--time-filter", default="time > now() - 1h")
    ap.add_argument("--interval", default="10s")
    ap.add_argument("--query", help="run this one query instead of a dashboard's")
    ap.add_argument("dashboard", nargs="?")
    a = ap.parse_args()

    variables = dict(v.split("=", 1) for v in a.var)
    if a.query:
        todo = [("query", a.query)]
    else:
        with open(a.dashboard, encoding="utf-8") as f:
            todo = queries(json.load(f))
        if not todo:
            print("query\terror: no InfluxQL query in %s\t-\t0" % a.dashboard)
            return 1
    failed = 0
    for where, q in todo:
        q = substitute(q, variables, a.time_filter, a.interval)
        left = re.findall(r"\$\{?[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]+\]\]", q)
        if left:
            status, series = "unresolved: %s in %s" % (" ".join(left), q), []
        else:
            status, series = run(a.url, a.db, q)
            if status != "ok":
                status += " in " + q
        print("query\t%s\t%s\t%d" % (status, where, len(series)))
        failed += status != "ok"
        for s in series:
            tags = ",".join("%s=%s" % kv for kv in sorted((s.get("tags") or {}).items()))
            vals = [row[-1] for row in s.get("values", []) if row[-1] is not None]
            nums = [v for v in vals if isinstance(v, (int, float))]
            last = vals[-1] if vals else ""
            print("series\t%s\t%s\t%d\t%s\t%s" % (
                where, tags or "-", len(s.get("values", [])), last,
                ("%g" % sum(nums)) if nums else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
