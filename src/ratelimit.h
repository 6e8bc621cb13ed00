/* SPDX-License-Identifier: MIT */
#ifndef XE_WATCH_RATELIMIT_H
#define XE_WATCH_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/** A fixed window admitting `limit` events, counting the rest. Times are
 *  cdtime_t-compatible (any monotonic 64-bit unit works). */
struct xw_window {
  uint64_t start;
  uint32_t sent;
  uint64_t suppressed;
};

/**
 * Take the summary of a window that has ended: returns how many events it
 * suppressed (0 if none, or if the window is still open) and resets it.
 */
uint64_t xw_window_expire(struct xw_window *w, uint64_t now, uint64_t len);

/**
 * Decide on one event at `now`. A limit of 0 admits everything. Call
 * xw_window_expire first so a finished window's summary is not lost.
 * Returns true when the event may be sent.
 */
bool xw_window_admit(struct xw_window *w, uint64_t now, uint64_t len,
                     uint32_t limit);

/** When the window's summary falls due (0: nothing suppressed). */
uint64_t xw_window_due(const struct xw_window *w, uint64_t len);

#endif
