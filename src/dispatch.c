/* SPDX-License-Identifier: MIT */
/* The notification thread: drains the listener's queue, rate-limits, and
 * is the only caller of plugin_dispatch_notification. */
#include "collectd.h"

#include "dispatch.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <poll.h>
#include <sys/eventfd.h>

#include "decode.h"
#include "notify.h"
#include "ratelimit.h"
#include "vmrepeat.h"

/* VMs whose failures are counted at once (all devices): beyond this many
 * failing in one window, the least recently failed are forgotten. */
#define XW_VM_REPEAT_SLOTS 1024

/* What the dispatcher has already told about one counter. */
struct xw_told {
  uint64_t seen;
  cdtime_t at;
};

struct xw_report {
  uint64_t seen_seq;
  int seen_state;
  cdtime_t state_told; /* when "not listening" was last sent */
  struct xw_told lost, dropped, malformed, unknown;
  /* Per workload (pid; 0 for the node's own file) and errno: one
   * workload's storm does not cost another its first error. */
  struct xw_window_set wins;
  _Atomic uint64_t suppressed;
};

struct xw_dispatcher {
  const struct xw_config *cfg;
  struct xw_device **devs;
  size_t ndev;
  struct xw_queue *queue;
  int wake_fd, stop_fd;
  atomic_bool stopping;
  bool running;
  pthread_t thread;
  struct xw_report *rep;
  _Atomic size_t *live_ndev; /* NULL: all ndev devices exist */
  struct xw_vm_repeats repeats;
};

int xw_dispatcher_create(struct xw_dispatcher **out,
                         const struct xw_config *cfg, struct xw_device **devs,
                         size_t ndev, struct xw_queue *q, int wake_fd) {
  struct xw_dispatcher *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return -ENOMEM;
  d->rep = calloc(ndev, sizeof(*d->rep));
  d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int rerr = xw_vm_repeats_init(&d->repeats, XW_VM_REPEAT_SLOTS);
  if (d->rep == NULL || d->stop_fd < 0 || rerr != 0) {
    int err = d->rep == NULL || rerr != 0 ? -ENOMEM : -errno;
    if (d->stop_fd >= 0)
      close(d->stop_fd);
    xw_vm_repeats_destroy(&d->repeats);
    free(d->rep);
    free(d);
    return err;
  }
  d->cfg = cfg;
  d->devs = devs;
  d->ndev = ndev;
  d->queue = q;
  d->wake_fd = wake_fd;
  *out = d;
  return 0;
}

uint64_t xw_dispatcher_suppressed(const struct xw_dispatcher *d, size_t i) {
  return atomic_load_explicit(&d->rep[i].suppressed, memory_order_relaxed);
}

static bool stopping(struct xw_dispatcher *d) {
  return atomic_load_explicit(&d->stopping, memory_order_acquire);
}

/* A window key: the workload (pid, 0 for the node's own file) and the
 * errno slot. */
static uint64_t window_key(pid_t pid, unsigned slot) {
  return (uint64_t)(uint32_t)pid << 8 | slot;
}

/* Tell what a window suppressed: n VM errors of errno slot s. */
static void tell_suppressed(struct xw_dispatcher *d, size_t i, unsigned s,
                            uint64_t n) {
  struct xw_device *dev = d->devs[i];
  if (n > 0 && d->cfg->send_notification && !stopping(d)) {
    char name[XW_NAME_LEN];
    xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
    xw_notify_suppressed(name, dev->node, -(int)s, n, d->cfg->notify_window,
                         xw_config_severity(d->cfg, -(int)s));
  }
}

/* Close window w (key) of device i if it has ended, and tell what it
 * suppressed. */
static void close_window(struct xw_dispatcher *d, size_t i, struct xw_window *w,
                         uint64_t key, cdtime_t now) {
  tell_suppressed(d, i, (unsigned)(key & 0xff),
                  xw_window_expire(w, now, d->cfg->notify_window));
}

static void flush_windows(struct xw_dispatcher *d, size_t i, cdtime_t now,
                          cdtime_t *next) {
  struct xw_report *r = &d->rep[i];
  for (unsigned e = 0; e < XW_WINDOW_KEYS; e++) {
    struct xw_window *w = &r->wins.e[e].w;
    if (xw_window_idle(w))
      continue;
    close_window(d, i, w, r->wins.e[e].key, now);
    cdtime_t due = xw_window_due(w, d->cfg->notify_window);
    if (due != 0 && (*next == 0 || due < *next))
      *next = due;
  }
}

static void drain_queue(struct xw_dispatcher *d, cdtime_t now) {
  struct xw_qitem it;
  char name[XW_NAME_LEN];
  while (!stopping(d) && xw_queue_pop(d->queue, &it)) {
    if (it.device >= d->ndev)
      continue;
    struct xw_device *dev = d->devs[it.device];
    struct xw_report *r = &d->rep[it.device];
    if (it.kind != XW_Q_VM_ERR) {
      xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
      if (it.kind == XW_Q_WEDGED)
        xw_notify_wedged(name, dev->node, it.detail, it.time);
      else
        xw_notify_coredump(name, dev->node, it.detail, it.time);
      continue;
    }
    struct xw_client_attr client;
    bool is_client = it.watch_id != 0 &&
                     xw_device_client(dev, it.watch_id, it.serial, &client);
    /* Counted before rate limiting: a suppressed failure still happened. */
    struct xw_vm_key vmk = {.device = it.device,
                            .serial = it.serial,
                            .vm_id = it.vm_id,
                            .watch_id = it.watch_id};
    uint32_t nth =
        xw_vm_repeats_hit(&d->repeats, &vmk, it.time, d->cfg->notify_window);
    unsigned slot = xw_errno_slot(it.error_code);
    uint64_t key = window_key(is_client ? client.pid : 0, slot), old_key,
             evicted;
    struct xw_window *w = xw_window_set_get(&r->wins, key, &old_key, &evicted);
    if (evicted > 0) /* more workloads failing than windows: tell it now */
      tell_suppressed(d, it.device, (unsigned)(old_key & 0xff), evicted);
    /* An ended window's summary goes out before its successor opens:
     * admitting first would reset the window and lose the count. */
    close_window(d, it.device, w, key, now);
    if (!xw_window_admit(w, now, d->cfg->notify_window, d->cfg->notify_limit)) {
      atomic_fetch_add_explicit(&r->suppressed, 1, memory_order_relaxed);
      continue;
    }
    xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
    xw_notify_vm_err(name, dev->node, &it, is_client ? &client : NULL,
                     xw_config_severity(d->cfg, it.error_code), nth,
                     d->cfg->notify_window);
  }
}

/* A counter that moved since the last report is told at most once a window,
 * with the total since then: nothing is lost, nothing floods. Returns the
 * delta to report now, 0 if none or not yet due (then *next is lowered). */
static uint64_t delta_due(struct xw_told *t, uint64_t now_count, cdtime_t now,
                          cdtime_t window, cdtime_t *next) {
  if (now_count == t->seen)
    return 0;
  if (t->at != 0 && now < t->at + window) {
    if (*next == 0 || t->at + window < *next)
      *next = t->at + window;
    return 0;
  }
  uint64_t delta = now_count - t->seen;
  t->seen = now_count;
  t->at = now;
  return delta;
}

static void check_device(struct xw_dispatcher *d, size_t i, cdtime_t now,
                         cdtime_t *next) {
  struct xw_device *dev = d->devs[i];
  struct xw_report *r = &d->rep[i];
  const struct xw_counters *c = &dev->ctr;
  cdtime_t win = d->cfg->notify_window;
  char name[XW_NAME_LEN], cause[256], msg[NOTIF_MAX_MSG_LEN];
  bool notify = d->cfg->send_notification;

  /* A transition is told at once; "not listening" is told again every
   * window while it lasts, so an alert pipeline that missed it (or expires
   * alerts that are not refreshed) still shows it. */
  uint64_t word = atomic_load(&dev->state_word);
  uint64_t seq = xw_state_seq(word);
  int st = xw_state_of(word);
  bool changed = seq != r->seen_seq && st != r->seen_state;
  bool repeat = st == XW_DEV_RETRYING && r->seen_state == XW_DEV_RETRYING &&
                r->state_told != 0 && now >= r->state_told + win;
  r->seen_seq = seq;
  if ((changed && st != XW_DEV_STARTING) || repeat) {
    char code[24];
    xw_device_snapshot(dev, name, sizeof(name), cause, sizeof(cause));
    xw_device_cause_code(dev, code, sizeof(code));
    if (notify)
      xw_notify_state(name, dev->node, st == XW_DEV_LISTENING, cause, code);
    r->state_told = st == XW_DEV_RETRYING ? now : 0;
  }
  r->seen_state = st;
  if (st == XW_DEV_RETRYING && r->state_told != 0 &&
      (*next == 0 || r->state_told + win < *next))
    *next = r->state_told + win;

  uint64_t n;
  n = delta_due(&r->lost, atomic_load(&c->lost), now, win, next);
  if (n > 0) {
    xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
    snprintf(msg, sizeof(msg),
             "The kernel dropped VM error records on %s: %" PRIu64
             " loss record(s), each for an unknown number of records. "
             "Raise QueueSize (now %d, maximum 512).",
             name, n, d->cfg->queue_size);
    WARNING("xe_watch plugin: %s: %s", dev->node, msg);
    if (notify)
      xw_notify_warning(name, dev->node, "lost", msg);
  }
  n = delta_due(&r->dropped, atomic_load(&c->dropped), now, win, next);
  if (n > 0) {
    xw_device_snapshot(dev, name, sizeof(name), NULL, 0);
    snprintf(msg, sizeof(msg),
             "%" PRIu64 " VM errors on %s were counted but not notified: the "
             "notification queue (NotificationQueueLength %u) was full.",
             n, name, d->cfg->notify_queue);
    WARNING("xe_watch plugin: %s: %s", dev->node, msg);
  }
  n = delta_due(&r->malformed, atomic_load(&c->malformed), now, win, next);
  if (n > 0)
    WARNING("xe_watch plugin: %s: skipped %" PRIu64
            " malformed record(s) (last: %s); counted in errors-malformed",
            dev->node, n,
            xw_malformed_reason_str(atomic_load(&dev->last_malformed)));
  n = delta_due(&r->unknown, atomic_load(&c->unknown), now, win, next);
  if (n > 0)
    NOTICE("xe_watch plugin: %s: %" PRIu64
           " record(s) of a kind this plugin does not know (a newer kernel?);"
           " counted in errors-unknown",
           dev->node, n);
}

void xw_dispatcher_follow(struct xw_dispatcher *d, _Atomic size_t *ndev) {
  d->live_ndev = ndev;
}

cdtime_t xw_dispatcher_run_once(struct xw_dispatcher *d, cdtime_t now) {
  cdtime_t next = 0;
  size_t ndev = d->ndev;
  if (d->live_ndev != NULL) {
    size_t live = atomic_load_explicit(d->live_ndev, memory_order_acquire);
    if (live < ndev)
      ndev = live;
  }
  if (d->queue != NULL)
    drain_queue(d, now);
  for (size_t i = 0; i < ndev && !stopping(d); i++) {
    flush_windows(d, i, now, &next);
    check_device(d, i, now, &next);
  }
  return next;
}

cdtime_t xw_monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

/* Back-off after a failed poll(): short enough that notifications are late
 * by at most this, long enough not to spin on an error that persists. */
#define XW_POLL_RETRY_MS 100

static void *dispatcher_main(void *arg) {
  struct xw_dispatcher *d = arg;
  cdtime_t next = 0;
  c_complain_t poll_complaint = C_COMPLAIN_INIT_STATIC;
  while (!stopping(d)) {
    int timeout = -1;
    if (next != 0) {
      cdtime_t now = xw_monotonic_now();
      timeout = next > now ? (int)CDTIME_T_TO_MS(next - now) + 1 : 0;
    }
    struct pollfd p[2] = {{.fd = d->wake_fd, .events = POLLIN},
                          {.fd = d->stop_fd, .events = POLLIN}};
    if (poll(p, 2, timeout) < 0) {
      if (errno != EINTR) {
        /* A transient failure (ENOMEM) must not end the notifications
         * while values keep flowing: say so, wait a little, go on. */
        c_complain(LOG_ERR, &poll_complaint,
                   "xe_watch plugin: the notification thread's poll() failed: "
                   "%s; retrying every %d ms",
                   STRERRNO, XW_POLL_RETRY_MS);
        struct timespec ts = {0, XW_POLL_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
      }
      p[0].revents = POLLIN; /* look at everything once more */
    } else {
      c_release(LOG_INFO, &poll_complaint,
                "xe_watch plugin: the notification thread's poll() works "
                "again");
    }
    if (p[0].revents & POLLIN) {
      uint64_t v;
      if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        ERROR("xe_watch plugin: dispatcher wake: %s", STRERRNO);
    }
    next = xw_dispatcher_run_once(d, xw_monotonic_now());
  }
  return NULL;
}

int xw_dispatcher_start(struct xw_dispatcher *d) {
  int err =
      plugin_thread_create(&d->thread, dispatcher_main, d, "xe_watch notify");
  if (err != 0)
    return -err;
  d->running = true;
  return 0;
}

void xw_dispatcher_stop(struct xw_dispatcher *d) {
  if (d == NULL)
    return;
  atomic_store_explicit(&d->stopping, true, memory_order_release);
  if (!d->running)
    return;
  uint64_t one = 1;
  if (write(d->stop_fd, &one, sizeof(one)) < 0)
    ERROR("xe_watch plugin: cannot signal the dispatcher: %s", STRERRNO);
  pthread_join(d->thread, NULL);
  d->running = false;
}

void xw_dispatcher_destroy(struct xw_dispatcher *d) {
  if (d == NULL)
    return;
  xw_dispatcher_stop(d);
  close(d->stop_fd);
  xw_vm_repeats_destroy(&d->repeats);
  free(d->rep);
  free(d);
}
