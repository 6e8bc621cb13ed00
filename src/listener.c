/* SPDX-License-Identifier: MIT */
/* The listener thread: one epoll loop that reads every device's
 * notification pipe, runs the device state machine, counts and queues. */
#include "collectd.h"

#include "listener.h"
#include "listener-internal.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include "decode.h"
#include "discovery.h"
#include "node.h"
#include "transport.h"
#include "uevents.h"

/* Large enough for a full 512-note ring of VM_ERR records in one read(),
 * and never below the 128 bytes that always hold one record (no ENOBUFS). */
#define XW_READ_BUF 8192

#define XW_SRC_STOP UINT64_MAX
#define XW_SRC_TIMER (UINT64_MAX - 1)
#define XW_SRC_SCAN (UINT64_MAX - 2)
#define XW_SRC_UEVENT (UINT64_MAX - 3)
#define XW_SRC_CHECK (UINT64_MAX - 4)
#define XW_SRC_OPENED (UINT64_MAX - 5)

/* A node was opened: scan this soon after, once the workload's new fd is
 * in its table (the kernel reports the open before installing the fd), and
 * not more often than every XW_PROMPT_GAP however busy the nodes are. */
#define XW_PROMPT_DELAY MS_TO_CDTIME_T(20)
#define XW_PROMPT_GAP MS_TO_CDTIME_T(100)
/* ClientScanInterval by default: the safety net when opens are heard, the
 * only way when they are not. */
#define XW_SCAN_WITH_OPENS TIME_T_TO_CDTIME_T(60)
#define XW_SCAN_WITHOUT_OPENS TIME_T_TO_CDTIME_T(10)

struct xw_listener {
  struct xw_device **devs;
  size_t ndev;
  struct xw_queue *queue;
  struct xw_listener_config cfg;

  int epfd, stop_fd, timer_fd, wake_fd, scan_fd, check_fd;
  int opened_fd;            /* inotify: IN_OPEN of the nodes, -1 if none */
  cdtime_t prompt_at;       /* when the last open-triggered scan was due */
  struct xw_attach *attach; /* NULL unless WatchClients */
  bool scanning;            /* a scan is in progress, sliced */
  bool scan_again;          /* one was asked for meanwhile */
  bool wake_pending;        /* records or events queued in this round */
  struct xw_uevents *uevents;
  pthread_t thread;
  bool running;
  unsigned char buf[XW_READ_BUF];
};

/* Single writer per counter: a plain load+store avoids a locked RMW on the
 * per-record path while staying race-free for relaxed readers. */
static inline void ctr_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

struct xw_device *xw_device_new(const char *node, unsigned index) {
  struct xw_device *dev = calloc(1, sizeof(*dev));
  if (dev == NULL)
    return NULL;
  dev->node = strdup(node);
  if (dev->node == NULL) {
    free(dev);
    return NULL;
  }
  dev->index = index;
  pthread_mutex_init(&dev->lock, NULL);
  /* Named once, from sysfs, before anything is dispatched: the name never
   * changes when the device comes up, so alerts and series stay whole. */
  xw_node_display_name(node, dev->name, sizeof(dev->name));
  sstrncpy(dev->cause, "not started", sizeof(dev->cause));
  dev->drm_fd = dev->pipe_rd = dev->pipe_wr = -1;
  for (unsigned p = 0; p < XW_PIPES_MAX; p++)
    dev->xpipe_rd[p] = dev->xpipe_wr[p] = -1;
  dev->complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  return dev;
}

void xw_device_free(struct xw_device *dev) {
  if (dev == NULL)
    return;
  xw_watch_slots_free(&dev->watches);
  pthread_mutex_destroy(&dev->lock);
  free(dev->node);
  free(dev);
}

void xw_device_snapshot(struct xw_device *dev, char *name, size_t name_len,
                        char *cause, size_t cause_len) {
  pthread_mutex_lock(&dev->lock);
  if (name != NULL)
    sstrncpy(name, dev->name, name_len);
  if (cause != NULL)
    sstrncpy(cause, dev->cause, cause_len);
  pthread_mutex_unlock(&dev->lock);
}

void xw_device_cause_code(struct xw_device *dev, char *code, size_t len) {
  pthread_mutex_lock(&dev->lock);
  sstrncpy(code, dev->cause_code, len);
  pthread_mutex_unlock(&dev->lock);
}

/* A short, stable name for a failure, for routing rules. */
static void cause_code(enum xw_stage stage, int err, char *out, size_t len) {
  char nb[16];
  if (stage == XW_STAGE_DRIVER)
    sstrncpy(out, "not-xe", len);
  else if (stage == XW_STAGE_REMOVED || stage == XW_STAGE_UNPLUGGED)
    sstrncpy(out, "removed", len);
  else if (stage == XW_STAGE_PRIMARY)
    sstrncpy(out, "primary-node", len);
  else if (stage == XW_STAGE_READ && err == 0)
    sstrncpy(out, "eof", len);
  else
    sstrncpy(out, xw_errno_name(err, nb, sizeof(nb)), len);
}

static void wake(struct xw_listener *l) {
  uint64_t one = 1;
  /* EAGAIN means the counter is saturated: the reader is woken anyway. */
  if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
    ERROR("xe_watch plugin: cannot wake the dispatcher: %s", STRERRNO);
}

void xw_device_set_state(struct xw_device *dev, enum xw_dev_state st) {
  uint64_t w = atomic_load_explicit(&dev->state_word, memory_order_relaxed);
  atomic_store(&dev->state, st);
  atomic_store(&dev->state_word,
               ((xw_state_seq(w) + 1) << XW_STATE_BITS) | (uint64_t)st);
}

static void set_state(struct xw_listener *l, struct xw_device *dev,
                      enum xw_dev_state st) {
  xw_device_set_state(dev, st);
  wake(l);
}

static void close_fd(int *fd) {
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

static void teardown(struct xw_listener *l, struct xw_device *dev) {
  if (dev->pipe_rd >= 0)
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, dev->pipe_rd, NULL);
  close_fd(&dev->drm_fd);
  close_fd(&dev->pipe_rd);
  close_fd(&dev->pipe_wr);
  xw_attach_pipe_closed(dev, l->epfd);
}

static void arm_timer(struct xw_listener *l) {
  cdtime_t next = 0;
  for (size_t i = 0; i < l->ndev; i++) {
    struct xw_device *d = l->devs[i];
    if (atomic_load(&d->state) == XW_DEV_RETRYING &&
        (next == 0 || d->retry_at < next))
      next = d->retry_at;
  }
  struct itimerspec its = {0};
  if (next != 0) {
    its.it_value = CDTIME_T_TO_TIMESPEC(next);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
      its.it_value.tv_nsec = 1; /* zero would disarm */
  }
  if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
    ERROR("xe_watch plugin: cannot arm the retry timer: %s", STRERRNO);
}

static cdtime_t mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

/* Move dev to RETRYING: one log line per distinct cause (c_complain keeps a
 * persisting one quiet), one state change for the dispatcher to notify. */
static void fail(struct xw_listener *l, struct xw_device *dev,
                 enum xw_stage stage, int err, const char *driver) {
  bool was_listening = atomic_load(&dev->state) == XW_DEV_LISTENING;
  /* A node that does not exist (yet) is said once, then retried quietly. */
  bool absent = stage == XW_STAGE_OPEN && (err == -ENOENT || err == -ENXIO);
  teardown(l, dev);

  char text[256];
  if (stage == XW_STAGE_SUBSCRIBE)
    xw_uapi_subscribe_text(l->cfg.uapi, err, text, sizeof(text));
  else
    xw_failure_text(stage, err, driver, l->cfg.queue_notes, text, sizeof(text));

  if (stage != dev->fail_stage || err != dev->fail_err)
    dev->complaint = (c_complain_t)C_COMPLAIN_INIT_STATIC;
  dev->fail_stage = stage;
  dev->fail_err = err;

  if (was_listening || dev->backoff == 0)
    dev->backoff = l->cfg.retry_min;
  else if (dev->backoff < l->cfg.retry_max)
    dev->backoff = dev->backoff * 2 > l->cfg.retry_max ? l->cfg.retry_max
                                                       : dev->backoff * 2;
  dev->retry_at = mono_now() + dev->backoff;

  pthread_mutex_lock(&dev->lock);
  sstrncpy(dev->cause, text, sizeof(dev->cause));
  cause_code(stage, err, dev->cause_code, sizeof(dev->cause_code));
  pthread_mutex_unlock(&dev->lock);

  if (was_listening)
    ERROR("xe_watch plugin: %s (%s): stopped listening: %s; retrying in "
          "%.0f s",
          dev->node, dev->name, text, CDTIME_T_TO_DOUBLE(dev->backoff));
  else if (stage == XW_STAGE_SUBSCRIBE && xw_uapi_not_this_number(err))
    /* Wrong ioctl number: retrying cannot fix it, so one line says it
     * (until the cause changes), however long the retries go on. */
    c_complain_once(LOG_ERR, &dev->complaint,
                    "xe_watch plugin: %s: %s; retrying with back-off up to "
                    "%.0f s",
                    dev->node, text, CDTIME_T_TO_DOUBLE(l->cfg.retry_max));
  else if (!absent || !dev->complaint.complained_once)
    c_complain(absent ? LOG_WARNING : LOG_ERR, &dev->complaint,
               "xe_watch plugin: %s: %s; retrying with back-off up to %.0f "
               "s%s",
               dev->node, text, CDTIME_T_TO_DOUBLE(l->cfg.retry_max),
               absent ? " (said once: a node may appear later, e.g. when "
                        "the driver binds)"
                      : "");

  if (atomic_load(&dev->state) != XW_DEV_RETRYING || was_listening)
    set_state(l, dev, XW_DEV_RETRYING);
}

/* Look for clients right away (a device just came up), then every
 * ClientScanInterval. */
static void scan_soon(struct xw_listener *l) {
  if (l->scan_fd < 0)
    return;
  struct itimerspec its = {.it_value = {0, 1000000}};
  its.it_interval = CDTIME_T_TO_TIMESPEC(l->cfg.client_scan);
  if (timerfd_settime(l->scan_fd, 0, &its, NULL) != 0)
    ERROR("xe_watch plugin: cannot arm the client scan timer: %s", STRERRNO);
}

/* Someone opened a watched node: scan soon for the new DRM file. */
static void scan_prompt(struct xw_listener *l) {
  if (!xw_discovery_opened(l->opened_fd) || l->scan_fd < 0)
    return;
  cdtime_t now = mono_now(), at = now + XW_PROMPT_DELAY;
  if (l->prompt_at != 0 && at < l->prompt_at + XW_PROMPT_GAP)
    at = l->prompt_at + XW_PROMPT_GAP;
  struct itimerspec cur;
  if (timerfd_gettime(l->scan_fd, &cur) == 0 &&
      (cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec != 0) &&
      now + TIMESPEC_TO_CDTIME_T(&cur.it_value) <= at)
    return; /* a scan is due sooner anyway */
  l->prompt_at = at;
  struct itimerspec its = {.it_value = CDTIME_T_TO_TIMESPEC(at - now)};
  its.it_interval = CDTIME_T_TO_TIMESPEC(l->cfg.client_scan);
  if (timerfd_settime(l->scan_fd, 0, &its, NULL) != 0)
    ERROR("xe_watch plugin: cannot arm the client scan timer: %s", STRERRNO);
}

static void attempt(struct xw_listener *l, struct xw_device *dev) {
  struct xw_identity id;
  enum xw_stage stage;
  int fds[2];

  /* A primary node is never opened: its first opener becomes DRM master. */
  char render[PATH_MAX];
  int via =
      xw_node_render_of(dev->node, xw_sysfs_root(), render, sizeof(render));
  if (via < 0) {
    fail(l, dev, XW_STAGE_PRIMARY, via, NULL);
    return;
  }
  const char *path = via > 0 ? render : dev->node;
  int fd = xw_device_open(path, &id, &stage);
  if (fd < 0) {
    fail(l, dev, stage, fd, id.driver);
    return;
  }
  int err = xw_pipe_open(l->cfg.queue_notes, fds, &stage);
  if (err != 0) {
    close(fd);
    fail(l, dev, stage, err, NULL);
    return;
  }
  dev->drm_fd = fd;
  dev->pipe_rd = fds[0];
  dev->pipe_wr = fds[1];
  dev->watch_id = 0;
  dev->watches.npipes = 1;

  err = xw_subscribe_as(dev->drm_fd, dev->pipe_rd, dev->watch_id,
                        l->cfg.uapi->ioctl);
  if (err != 0) {
    fail(l, dev, XW_STAGE_SUBSCRIBE, err, NULL);
    return;
  }

  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = dev->index};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, dev->pipe_rd, &ev) != 0) {
    err = -errno;
    fail(l, dev, XW_STAGE_READ, err, NULL);
    return;
  }

  pthread_mutex_lock(&dev->lock);
  dev->cause[0] = '\0';
  dev->cause_code[0] = '\0';
  pthread_mutex_unlock(&dev->lock);
  char real[PATH_MAX];
  if (l->opened_fd >= 0) /* a node made since start, or made anew */
    xw_discovery_watch_node(l->opened_fd, dev->node);
  sstrncpy(dev->node_real, realpath(path, real) ? real : path,
           sizeof(dev->node_real));

  dev->node_gen++;
  dev->backoff = 0;
  dev->fail_stage = XW_STAGE_NONE;
  dev->fail_err = 0;
  c_release(LOG_INFO, &dev->complaint,
            "xe_watch plugin: %s: the earlier failure is resolved", dev->node);
  if (via > 0)
    INFO("xe_watch plugin: %s: watching %s through %s (a primary node would "
         "make collectd DRM master)",
         dev->node, strrchr(dev->node, '/') + 1, strrchr(render, '/') + 1);
  INFO("xe_watch plugin: %s (%s): listening for VM errors (queue %d notes) "
       "with uAPI revision %s, ioctl 0x%08lx",
       dev->node, dev->name, l->cfg.queue_notes, l->cfg.uapi->name,
       l->cfg.uapi->ioctl);
  set_state(l, dev, XW_DEV_LISTENING);
  scan_soon(l);
}

void xw_listener_attempt_due(struct xw_listener *l) {
  cdtime_t now = mono_now();
  for (size_t i = 0; i < l->ndev; i++) {
    struct xw_device *d = l->devs[i];
    int st = atomic_load(&d->state);
    if (st == XW_DEV_STARTING || (st == XW_DEV_RETRYING && d->retry_at <= now))
      attempt(l, d);
  }
  arm_timer(l);
}

/* The first record of each unknown (type, subtype) is logged with both
 * numbers: a kernel that renumbered the xe type shows up within one record,
 * not as silence. The rest are only counted (errors-unknown). */
static void unknown_seen(struct xw_listener *l, struct xw_device *dev,
                         const struct xw_event *ev) {
  uint32_t kind = ev->type << 8 | ev->subtype;
  /* nunknown_kinds never exceeds the array: with it one past the end, this
   * loop's read past the array was undefined and GCC dropped the bound
   * check below on that ground (the array overran into the next device). */
  for (unsigned i = 0; i < dev->nunknown_kinds; i++)
    if (dev->unknown_kinds[i] == kind)
      return;
  if (dev->nunknown_kinds >= XW_UNKNOWN_KINDS) {
    if (!dev->unknown_kinds_full)
      WARNING("xe_watch plugin: %s (%s): more than %d kinds of unknown "
              "record; further kinds are only counted in errors-unknown",
              dev->node, dev->name, XW_UNKNOWN_KINDS);
    dev->unknown_kinds_full = true;
    return;
  }
  dev->unknown_kinds[dev->nunknown_kinds++] = kind;
  const struct xw_uapi *u = l->cfg.uapi;
  WARNING("xe_watch plugin: %s (%s): record of type %" PRIu32 ", subtype %u "
          "unknown to uAPI revision %s (xe records: type %" PRIu32
          ", VM_ERR subtype %u); counted in errors-unknown. A kernel "
          "with another revision of the Xe watch-queue series may number "
          "them differently: see UAPIRevision",
          dev->node, dev->name, ev->type, (unsigned)ev->subtype, u->name,
          u->xe_type, (unsigned)u->vm_err_subtype);
}

/* Decode one read()'s bytes from dev's pipe `pipe`. Returns true if the
 * node's own watch was removed; sets *lost when a loss record was among
 * them. */
static bool handle_records(struct xw_listener *l, struct xw_device *dev,
                           unsigned pipe, size_t n, cdtime_t now, bool *lost) {
  struct xw_counters *c = &dev->ctr;
  struct xw_event ev;
  size_t off = 0;
  bool removed = false;

  ctr_add(&c->reads, 1);
  while (xw_decode_next_as(l->buf, n, &off, &ev, l->cfg.uapi->xe_type,
                           l->cfg.uapi->vm_err_subtype)) {
    switch (ev.kind) {
    case XW_EV_VM_ERR: {
      ctr_add(&c->vm_err, 1);
      ctr_add(&c->by_errno[xw_errno_slot(ev.error_code)], 1);
      if (l->queue == NULL)
        break;
      unsigned slot = pipe * XW_WATCH_SLOTS + ev.watch_id;
      struct xw_qitem it = {
          .time = now,
          .device = dev->index,
          .vm_id = ev.vm_id,
          .error_code = ev.error_code,
          /* Names the DRM file: vm ids restart in a
           * new one (VM repeat counting). */
          .serial =
              slot == 0 ? dev->node_gen : xw_watch_serial(&dev->watches, slot),
          .watch_id = (uint16_t)slot};
      if (!xw_queue_push(l->queue, &it))
        ctr_add(&c->dropped, 1);
      break;
    }
    case XW_EV_LOSS:
      ctr_add(&c->lost, 1);
      *lost = true;
      break;
    case XW_EV_REMOVAL:
      if (pipe == 0 && ev.watch_id == dev->watch_id)
        removed = true;
      else if (!xw_attach_removed(dev, pipe * XW_WATCH_SLOTS + ev.watch_id))
        ctr_add(&c->unknown, 1);
      break;
    case XW_EV_UNKNOWN:
      ctr_add(&c->unknown, 1);
      unknown_seen(l, dev, &ev);
      break;
    case XW_EV_MALFORMED:
      ctr_add(&c->malformed, 1);
      atomic_store_explicit(&dev->last_malformed, ev.reason,
                            memory_order_relaxed);
      break;
    }
  }
  return removed;
}

/* Read until the pipe says EAGAIN, not just once per wakeup: the kernel
 * hands out a pending loss record only on a read() after the one that
 * emptied the ring, and poll() does not report it, so a single read would
 * leave the loss unseen until the next record arrives. A cap keeps one
 * device in a storm from starving the others; level-triggered epoll brings
 * the loop back while records remain. */
#define XW_READS_PER_WAKEUP 16

static void handle_readable(struct xw_listener *l, struct xw_device *dev,
                            unsigned pipe) {
  if (dev->pipe_rd < 0 || (pipe > 0 && pipe >= dev->watches.npipes))
    return; /* torn down earlier in this batch */
  int fd = pipe == 0 ? dev->pipe_rd : dev->xpipe_rd[pipe];
  cdtime_t now = cdtime();
  bool got = false, removed = false, lost = false;
  ssize_t n = 0;
  int err = 0;

  for (int i = 0; i < XW_READS_PER_WAKEUP; i++) {
    n = read(fd, l->buf, sizeof(l->buf));
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    got = true;
    if (handle_records(l, dev, pipe, (size_t)n, now, &lost)) {
      removed = true;
      break;
    }
  }
  if (got)
    l->wake_pending = true;
  if (removed) {
    fail(l, dev, XW_STAGE_REMOVED, 0, NULL);
    arm_timer(l);
    return;
  }
  /* A storm is when GPUs fail and get pulled: ask at once rather than at
   * the next device check. Losses are rare (once per overflow), so the
   * ioctl costs nothing in the steady state. */
  if (lost && xw_device_gone(dev->drm_fd)) {
    fail(l, dev, XW_STAGE_UNPLUGGED, -ENODEV, NULL);
    arm_timer(l);
    return;
  }
  if (lost)
    xw_attach_lost(dev);
  if (n > 0 || err == EAGAIN || err == EINTR)
    return;
  /* EOF, or an error that would repeat on every wakeup (ENOBUFS cannot
   * happen with this buffer): start over with a fresh pipe. */
  fail(l, dev, XW_STAGE_READ, -err, NULL);
  arm_timer(l);
}

/* An unplugged GPU (drm_dev_unplug) sends no removal record while any fd of
 * a file is open, and our own fd is one: only ENODEV from an ioctl tells.
 * udev's "remove" says it at once; this probe is the safety net where udev
 * events do not reach us (no udevd, a container's own network namespace). */
static void check_devices(struct xw_listener *l) {
  uint64_t ticks;
  if (read(l->check_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
    ERROR("xe_watch plugin: device check timer: %s", STRERRNO);
  bool failed = false;
  for (size_t i = 0; i < l->ndev; i++) {
    struct xw_device *d = l->devs[i];
    if (atomic_load(&d->state) == XW_DEV_LISTENING &&
        xw_device_gone(d->drm_fd)) {
      fail(l, d, XW_STAGE_UNPLUGGED, -ENODEV, NULL);
      failed = true;
    }
  }
  if (failed)
    arm_timer(l);
}

static struct xw_device *device_of(struct xw_listener *l,
                                   const struct xw_uevent *ev) {
  for (size_t i = 0; i < l->ndev; i++) {
    struct xw_device *d = l->devs[i];
    if ((ev->pci_slot[0] != '\0' && strcmp(ev->pci_slot, d->name) == 0) ||
        (ev->devnode[0] != '\0' && (strcmp(ev->devnode, d->node) == 0 ||
                                    strcmp(ev->devnode, d->node_real) == 0)))
      return d;
  }
  return NULL;
}

/* AutoDiscover: the xe driver bound a GPU after start (or a GPU was
 * plugged in): watch its render node like one found at start. */
static void adopt(struct xw_listener *l, const struct xw_uevent *ev) {
  if (l->cfg.max_devices == 0 || strcmp(ev->driver, "xe") != 0 ||
      strncmp(ev->sysname, "renderD", 7) != 0 || ev->devnode[0] == '\0')
    return;
  if (l->ndev >= l->cfg.max_devices) {
    WARNING("xe_watch plugin: AutoDiscover: %s appeared, but %zu devices "
            "are watched already, the most for this run; restart collectd "
            "to watch it",
            ev->devnode, l->ndev);
    return;
  }
  struct xw_device *dev = xw_device_new(ev->devnode, (unsigned)l->ndev);
  if (dev == NULL)
    return;
  l->devs[l->ndev++] = dev;
  atomic_store_explicit(l->cfg.ndev_published, l->ndev, memory_order_release);
  INFO("xe_watch plugin: AutoDiscover: found %s (%s), bound to xe after "
       "start",
       dev->node, dev->name);
  xw_listener_attempt_due(l);
}

/* Rare, device-wide events: logged here at once (the queue might be full in
 * a storm), counted, and queued for a notification. */
static void handle_uevents(struct xw_listener *l) {
  struct xw_uevent ev;
  char advice[160];
  while (xw_uevents_next(l->uevents, &ev)) {
    if (ev.kind == XW_UEVENT_OTHER)
      continue;
    struct xw_device *dev = device_of(l, &ev);
    if (dev == NULL && ev.kind == XW_UEVENT_ADDED)
      adopt(l, &ev);
    if (dev == NULL)
      continue; /* another GPU: not ours to report */
    if (ev.kind == XW_UEVENT_REMOVED) {
      /* Only the node we hold: the card's or another node's removal says
       * nothing about our file. */
      if (atomic_load(&dev->state) == XW_DEV_LISTENING &&
          ev.devnode[0] != '\0' &&
          (strcmp(ev.devnode, dev->node) == 0 ||
           strcmp(ev.devnode, dev->node_real) == 0)) {
        fail(l, dev, XW_STAGE_UNPLUGGED, 0, NULL);
        arm_timer(l);
      }
      continue;
    }
    if (ev.kind == XW_UEVENT_ADDED) {
      /* A node of a device we wait for appeared: try now, not after the
       * back-off. */
      if (atomic_load(&dev->state) == XW_DEV_RETRYING) {
        dev->retry_at = 0;
        xw_listener_attempt_due(l);
      }
      continue;
    }
    struct xw_qitem it = {.time = cdtime(), .device = dev->index};
    if (ev.kind == XW_UEVENT_WEDGED) {
      ctr_add(&dev->ctr.wedged, 1);
      ERROR("xe_watch plugin: %s (%s) is wedged; recovery: %s", dev->node,
            dev->name, xw_wedge_advice(ev.methods, advice, sizeof(advice)));
      it.kind = XW_Q_WEDGED;
      it.detail = ev.methods;
    } else {
      ctr_add(&dev->ctr.coredumps, 1);
      WARNING("xe_watch plugin: %s (%s) wrote a device coredump: "
              "/sys/class/devcoredump/%s/data (the kernel drops it after 5 "
              "minutes)",
              dev->node, dev->name, ev.sysname);
      it.kind = XW_Q_COREDUMP;
      it.detail = (uint32_t)strtoul(
          ev.sysname + strcspn(ev.sysname, "0123456789"), NULL, 10);
    }
    if (l->queue != NULL && !xw_queue_push(l->queue, &it))
      ctr_add(&dev->ctr.dropped, 1);
    l->wake_pending = true;
  }
}

/* One slice of the scan in progress, after this round's reads. */
static void scan_slice(struct xw_listener *l) {
  if (!l->scanning || xw_attach_scan_step(l->attach, XW_SCAN_SLICE))
    return;
  l->scanning = false;
  if (l->scan_again) {
    l->scan_again = false;
    l->scanning = xw_attach_scan_begin(l->attach);
  }
}

bool xw_listener_dispatch(struct xw_listener *l, int timeout_ms) {
  struct epoll_event evs[16];
  if (l->scanning)
    timeout_ms = 0; /* only look for records before the next slice */
  int n = epoll_wait(l->epfd, evs, STATIC_ARRAY_SIZE(evs), timeout_ms);
  if (n < 0) {
    if (errno != EINTR)
      ERROR("xe_watch plugin: epoll_wait failed: %s", STRERRNO);
    return true;
  }
  bool keep_going = true;
  for (int i = 0; i < n; i++) {
    uint64_t src = evs[i].data.u64;
    if (src == XW_SRC_STOP) {
      keep_going = false;
    } else if (src == XW_SRC_TIMER) {
      uint64_t ticks;
      if (read(l->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        ERROR("xe_watch plugin: retry timer: %s", STRERRNO);
      xw_listener_attempt_due(l);
    } else if (src == XW_SRC_UEVENT) {
      handle_uevents(l);
    } else if (src == XW_SRC_CHECK) {
      check_devices(l);
    } else if (src == XW_SRC_OPENED) {
      scan_prompt(l);
    } else if (src == XW_SRC_SCAN) {
      uint64_t ticks;
      if (read(l->scan_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
        ERROR("xe_watch plugin: client scan timer: %s", STRERRNO);
      /* A scan in progress may have passed the process that asked:
       * another follows it. */
      if (l->scanning)
        l->scan_again = true;
      else
        l->scanning = xw_attach_scan_begin(l->attach);
    } else if ((src & UINT32_MAX) < l->ndev) {
      handle_readable(l, l->devs[src & UINT32_MAX], (unsigned)(src >> 32));
    }
  }
  scan_slice(l);
  /* One wakeup for everything this round queued, however many devices. */
  if (l->wake_pending) {
    l->wake_pending = false;
    wake(l);
  }
  return keep_going;
}

static void *listener_main(void *arg) {
  struct xw_listener *l = arg;
  xw_listener_attempt_due(l);
  while (xw_listener_dispatch(l, -1))
    ;
  return NULL;
}

static int add_source(int epfd, int fd, uint64_t tag) {
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

/* Hear the workloads open the nodes, to attach within milliseconds rather
 * than at the next periodic scan; ClientScanInterval's default follows. */
static void watch_opens(struct xw_listener *l) {
  int fd = xw_discovery_open_watch();
  int err = fd;
  if (fd >= 0 && (err = add_source(l->epfd, fd, XW_SRC_OPENED)) == 0)
    l->opened_fd = fd;
  else if (fd >= 0)
    close(fd);
  /* Nodes that do not exist yet are added when their device comes up. */
  bool hearing = false;
  for (size_t i = 0; l->opened_fd >= 0 && i < l->ndev; i++) {
    int e = xw_discovery_watch_node(l->opened_fd, l->devs[i]->node);
    hearing |= e == 0;
    if (e != 0)
      err = e;
  }
  if (l->cfg.client_scan == 0)
    l->cfg.client_scan = hearing ? XW_SCAN_WITH_OPENS : XW_SCAN_WITHOUT_OPENS;
  if (hearing)
    INFO("xe_watch plugin: WatchClients: attaching to a workload when it "
         "opens a device node, and by a scan of %s every %.0f s",
         l->cfg.proc_root, CDTIME_T_TO_DOUBLE(l->cfg.client_scan));
  else
    INFO("xe_watch plugin: WatchClients: cannot hear the device nodes' "
         "opens (%s); new workloads are found by a scan of %s every %.0f s",
         STRERROR(-err), l->cfg.proc_root,
         CDTIME_T_TO_DOUBLE(l->cfg.client_scan));
}

int xw_listener_create(struct xw_listener **out, struct xw_device **devs,
                       size_t ndev, struct xw_queue *q,
                       const struct xw_listener_config *cfg) {
  struct xw_listener *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return -ENOMEM;
  l->devs = devs;
  l->ndev = ndev;
  l->queue = cfg->queue_vm_errs ? q : NULL;
  l->cfg = *cfg;
  if (l->cfg.uapi == NULL)
    l->cfg.uapi = xw_uapi_default();
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  l->scan_fd = -1;
  l->opened_fd = -1;
  l->check_fd = -1;
  int err = 0;
  if (l->epfd < 0 || l->stop_fd < 0 || l->wake_fd < 0 || l->timer_fd < 0)
    err = -errno;
  if (err == 0)
    err = add_source(l->epfd, l->stop_fd, XW_SRC_STOP);
  if (err == 0)
    err = add_source(l->epfd, l->timer_fd, XW_SRC_TIMER);
  if (err == 0 && cfg->uevents) {
    int uerr = xw_uevents_open(&l->uevents);
    if (uerr != 0)
      WARNING("xe_watch plugin: cannot listen to udev events (%s): wedged "
              "GPUs and device coredumps will not be reported",
              STRERROR(-uerr));
    else
      err = add_source(l->epfd, xw_uevents_fd(l->uevents), XW_SRC_UEVENT);
  }
  if (err == 0 && cfg->device_check > 0) {
    l->check_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec its = {
        .it_value = CDTIME_T_TO_TIMESPEC(cfg->device_check),
        .it_interval = CDTIME_T_TO_TIMESPEC(cfg->device_check)};
    if (l->check_fd < 0 || timerfd_settime(l->check_fd, 0, &its, NULL) != 0)
      err = -errno;
    else
      err = add_source(l->epfd, l->check_fd, XW_SRC_CHECK);
  }
  if (err == 0 && cfg->proc_root != NULL) {
    struct xw_attach_config ac = {.proc_root = cfg->proc_root,
                                  .client_process = cfg->client_process,
                                  .client_cgroup = cfg->client_cgroup,
                                  .max_per_process =
                                      cfg->client_max_per_process,
                                  .max_per_cgroup = cfg->client_max_per_cgroup,
                                  .watch_ioctl = l->cfg.uapi->ioctl,
                                  .queue_notes = cfg->queue_notes,
                                  .epfd = l->epfd};
    err = xw_attach_create(&l->attach, devs, ndev, &ac);
  }
  if (err == 0 && cfg->proc_root != NULL) {
    l->scan_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    err =
        l->scan_fd < 0 ? -errno : add_source(l->epfd, l->scan_fd, XW_SRC_SCAN);
  }
  if (err == 0 && cfg->proc_root != NULL)
    watch_opens(l);
  if (err != 0) {
    xw_listener_destroy(l);
    return err;
  }
  *out = l;
  return 0;
}

int xw_listener_wake_fd(const struct xw_listener *l) { return l->wake_fd; }

int xw_listener_start(struct xw_listener *l) {
  int err =
      plugin_thread_create(&l->thread, listener_main, l, "xe_watch listen");
  if (err != 0)
    return -err;
  l->running = true;
  return 0;
}

void xw_listener_stop(struct xw_listener *l) {
  if (l == NULL || !l->running)
    return;
  uint64_t one = 1;
  if (write(l->stop_fd, &one, sizeof(one)) < 0)
    ERROR("xe_watch plugin: cannot signal the listener to stop: %s", STRERRNO);
  pthread_join(l->thread, NULL);
  l->running = false;
}

void xw_listener_destroy(struct xw_listener *l) {
  if (l == NULL)
    return;
  xw_listener_stop(l);
  for (size_t i = 0; i < l->ndev; i++)
    teardown(l, l->devs[i]);
  close_fd(&l->epfd);
  close_fd(&l->stop_fd);
  close_fd(&l->wake_fd);
  close_fd(&l->timer_fd);
  close_fd(&l->scan_fd);
  close_fd(&l->opened_fd);
  close_fd(&l->check_fd);
  xw_uevents_close(l->uevents);
  xw_attach_destroy(l->attach);
  free(l);
}

bool xw_listener_scanning(const struct xw_listener *l) { return l->scanning; }

unsigned char *xw_listener_buf(struct xw_listener *l, size_t *len) {
  *len = sizeof(l->buf);
  return l->buf;
}

bool xw_listener_handle_records(struct xw_listener *l, struct xw_device *dev,
                                size_t n, cdtime_t now, bool *lost) {
  return handle_records(l, dev, 0, n, now, lost);
}
