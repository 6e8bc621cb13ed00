/* SPDX-License-Identifier: MIT */
/*
 * The listener, compiled into the benchmark with its per-record path made
 * reachable. handle_records() (decode, count, queue) is static in
 * src/listener.c; including that file here, as collectd's
 * pcie_errors_test.c includes the plugin it tests, lets the microbenchmark
 * time exactly the code the plugin runs rather than a copy that could
 * drift. This is the benchmark's only copy of the listener: src/listener.c
 * is not linked into xw-bench a second time.
 */
#include "listener.c"

#include "bench.h"

unsigned char *bench_listener_buf(struct xw_listener *l, size_t *len) {
  *len = sizeof(l->buf);
  return l->buf;
}

bool bench_handle_records(struct xw_listener *l, struct xw_device *dev,
                          size_t n, cdtime_t now) {
  return handle_records(l, dev, n, now);
}
