/* SPDX-License-Identifier: MIT */
/* The listener's per-record path, reachable by the benchmark (not part of the
 * plugin's API). */
#ifndef XE_WATCH_LISTENER_INTERNAL_H
#define XE_WATCH_LISTENER_INTERNAL_H

#include "listener.h"

/* Compiled from src/listener.c itself: tests/bench times the plugin's code,
 * not a copy, and a change to the per-record path that the benchmark does
 * not follow breaks the build instead of the benchmark alone. */

/* Processes scanned per event-loop round: a scan of thousands takes a
 * hundred ms or more, so it runs in slices of a ms or two with the pipes
 * read between them. */
#define XW_SCAN_SLICE 64

/** True while a client scan is in progress: it runs in slices, one per
 *  round of xw_listener_dispatch(), with the pipes read between them. */
bool xw_listener_scanning(const struct xw_listener *l);

/** The listener's read buffer (what one read() fills) and its size. */
unsigned char *xw_listener_buf(struct xw_listener *l, size_t *len);

/**
 * The per-record path: decode n bytes of the read buffer for dev, count
 * them, queue VM errors. Returns true if dev's own watch was removed; sets
 * *lost when a loss record was among them.
 */
bool xw_listener_handle_records(struct xw_listener *l, struct xw_device *dev,
                                size_t n, cdtime_t now, bool *lost);

#endif
