/* SPDX-License-Identifier: MIT */
/* Per-key notification windows with suppressed counts. */
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

/* Windows per workload and errno, in bounded memory: enough for the
 * workloads that fail at once on one GPU; the least recently used gives way
 * when more do. */
#define XW_WINDOW_KEYS 64

struct xw_window_set {
  struct {
    uint64_t key;
    uint64_t used; /* set->tick at the last lookup */
    struct xw_window w;
  } e[XW_WINDOW_KEYS];
  uint64_t tick;
};

/** Whether a window counts nothing (never used, or expired). */
static inline bool xw_window_idle(const struct xw_window *w) {
  return w->sent == 0 && w->suppressed == 0;
}

/**
 * The window of `key` in s: its own if it has one, else an idle one, else
 * the least recently used one is taken over. *evicted_n is then what that
 * one had suppressed (0 otherwise) and *evicted_key its key, for the
 * caller to summarise at once. Never allocates.
 */
struct xw_window *xw_window_set_get(struct xw_window_set *s, uint64_t key,
                                    uint64_t *evicted_key, uint64_t *evicted_n);

#endif
