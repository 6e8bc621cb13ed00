/* SPDX-License-Identifier: MIT */
/* Per-key notification windows: a limit per window and a count of what
 * was suppressed. */
#include "ratelimit.h"

uint64_t xw_window_expire(struct xw_window *w, uint64_t now, uint64_t len) {
  if (w->sent == 0 && w->suppressed == 0)
    return 0;
  if (now < w->start + len)
    return 0;
  uint64_t n = w->suppressed;
  w->sent = 0;
  w->suppressed = 0;
  return n;
}

bool xw_window_admit(struct xw_window *w, uint64_t now, uint64_t len,
                     uint32_t limit) {
  if (limit == 0)
    return true;
  if (w->sent == 0 && w->suppressed == 0)
    w->start = now;
  else if (now >= w->start + len) {
    /* The caller skipped xw_window_expire: open a new window anyway. */
    w->start = now;
    w->sent = 0;
    w->suppressed = 0;
  }
  if (w->sent < limit) {
    w->sent++;
    return true;
  }
  w->suppressed++;
  return false;
}

uint64_t xw_window_due(const struct xw_window *w, uint64_t len) {
  return w->suppressed > 0 ? w->start + len : 0;
}

struct xw_window *xw_window_set_get(struct xw_window_set *s, uint64_t key,
                                    uint64_t *evicted_key,
                                    uint64_t *evicted_n) {
  unsigned idle = XW_WINDOW_KEYS, lru = 0;
  *evicted_n = 0;
  s->tick++;
  for (unsigned i = 0; i < XW_WINDOW_KEYS; i++) {
    if (s->e[i].key == key && !xw_window_idle(&s->e[i].w)) {
      s->e[i].used = s->tick;
      return &s->e[i].w;
    }
    if (idle == XW_WINDOW_KEYS && xw_window_idle(&s->e[i].w))
      idle = i;
    if (s->e[i].used < s->e[lru].used)
      lru = i;
  }
  unsigned i = idle < XW_WINDOW_KEYS ? idle : lru;
  if (idle == XW_WINDOW_KEYS) {
    *evicted_key = s->e[i].key;
    *evicted_n = s->e[i].w.suppressed;
  }
  s->e[i].key = key;
  s->e[i].used = s->tick;
  s->e[i].w = (struct xw_window){0};
  return &s->e[i].w;
}
