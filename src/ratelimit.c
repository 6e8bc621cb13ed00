/* SPDX-License-Identifier: MIT */
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
