#!/usr/bin/env python3
"""A webhook receiver for tests: listens on 127.0.0.1:PORT and writes the
body of each POST to DIR/NNNN.json (Alertmanager's webhook notifications).
Python 3 standard library only. Usage: webhook-sink.py PORT DIR"""
import http.server
import itertools
import os
import sys

port, out = int(sys.argv[1]), sys.argv[2]
seq = itertools.count()


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = os.path.join(out, "%04d.json" % next(seq))
        with open(name + ".tmp", "wb") as f:
            f.write(body)
        os.rename(name + ".tmp", name)
        self.send_response(200)
        self.end_headers()

    def do_GET(self):  # readiness probe
        self.send_response(200)
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Sink).serve_forever()
