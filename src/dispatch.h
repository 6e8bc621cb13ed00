/* SPDX-License-Identifier: MIT */
/* The notification thread. */
#ifndef XE_WATCH_DISPATCH_H
#define XE_WATCH_DISPATCH_H

#include "options.h"
#include "listener.h"
#include "queue.h"

/* The only thread that calls plugin_dispatch_notification: collectd runs
 * every notification consumer synchronously in the dispatching thread, so
 * a slow consumer slows this thread, never the listener. */

struct xw_dispatcher;

/** Create a dispatcher over borrowed devs, queue and the listener's wake
 *  fd. Returns 0 or a negative errno. */
int xw_dispatcher_create(struct xw_dispatcher **out,
                         const struct xw_config *cfg, struct xw_device **devs,
                         size_t ndev, struct xw_queue *q, int wake_fd);
/** Follow a device count that grows (AutoDiscover): only devs[0..*ndev)
 *  are looked at, never more than the ndev given at creation. */
void xw_dispatcher_follow(struct xw_dispatcher *d, _Atomic size_t *ndev);
/** CLOCK_MONOTONIC in cdtime_t units: rate-limit windows and repeats are
 *  measured on it, so a step of the wall clock neither suppresses nor
 *  floods notifications. Timestamps stay collectd's (cdtime). */
cdtime_t xw_monotonic_now(void);
/** Handle everything pending at `now` (xw_monotonic_now's units): queued VM
 * errors (rate limited), due summaries, state changes, loss/drop warnings.
 * Returns when the next summary falls due (0: nothing pending). */
cdtime_t xw_dispatcher_run_once(struct xw_dispatcher *d, cdtime_t now);
/** Notifications suppressed so far on device i (for the values). */
uint64_t xw_dispatcher_suppressed(const struct xw_dispatcher *d, size_t i);
int xw_dispatcher_start(struct xw_dispatcher *d);
/** Stop and join; after it returns nothing more is dispatched. Idempotent. */
void xw_dispatcher_stop(struct xw_dispatcher *d);
void xw_dispatcher_destroy(struct xw_dispatcher *d);

#endif
