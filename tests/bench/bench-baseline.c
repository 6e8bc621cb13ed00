/* SPDX-License-Identifier: MIT */
/*
 * The baseline: a reader built the way the RFC's igt listener works, for
 * side-by-side figures. One thread per device; poll() with a 200 ms timeout
 * (so the thread can notice a stop flag); one 512-byte read() per wakeup;
 * one callback per record, and the callback does the consumer's work (here:
 * build and dispatch the notification) synchronously before the next read.
 *
 * Setup (open, size, filter, subscribe) and the record decoder are the
 * plugin's own, so the figures differ only by how the records are read and
 * where the consumer runs.
 */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include "bench.h"

#include <poll.h>

#include "decode.h"
#include "device.h"
#include "notify.h"
#include "transport.h"

/* One writer per counter (the device's thread): load+store is enough. */
static inline void bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static void on_record(struct bl_dev *d, const struct xw_event *ev,
                      cdtime_t now) {
  bump(&d->records, 1);
  if (ev->kind == XW_EV_LOSS) {
    bump(&d->lost, 1);
    return;
  }
  if (ev->kind != XW_EV_VM_ERR)
    return;
  bump(&d->vm_err, 1);
  struct xw_qitem it = {.time = now,
                        .device = 0,
                        .vm_id = ev->vm_id,
                        .error_code = ev->error_code,
                        .watch_id = ev->watch_id};
  xw_notify_vm_err(d->name, d->node, &it, NULL, NOTIF_FAILURE, 1, 0);
}

void bl_handle_chunk(struct bl_dev *d, const unsigned char *buf, size_t n) {
  cdtime_t now = cdtime();
  struct xw_event ev;
  size_t off = 0;
  while (xw_decode_next(buf, n, &off, &ev))
    on_record(d, &ev, now);
}

static void *bl_main(void *arg) {
  struct bl_dev *d = arg;
  char tname[96];
  snprintf(tname, sizeof(tname), "baseline %s", d->name);
  bench_thread_register(tname, d->time_reads);
  unsigned char buf[BL_READ_BUF];

  while (!atomic_load_explicit(d->stop, memory_order_relaxed)) {
    struct pollfd p = {.fd = d->pipe_rd, .events = POLLIN};
    int n = poll(&p, 1, BL_POLL_TIMEOUT_MS);
    bump(&d->polls, 1);
    if (n <= 0 || !(p.revents & POLLIN))
      continue;
    ssize_t len = read(d->pipe_rd, buf, sizeof(buf));
    if (len <= 0)
      continue;
    bump(&d->reads, 1);
    bl_handle_chunk(d, buf, (size_t)len);
  }
  return NULL;
}

static void bl_close(struct bl_dev *d) {
  if (d->pipe_rd >= 0)
    close(d->pipe_rd);
  if (d->pipe_wr >= 0)
    close(d->pipe_wr);
  if (d->drm_fd >= 0)
    close(d->drm_fd);
  d->drm_fd = d->pipe_rd = d->pipe_wr = -1;
}

static int bl_open(struct bl_dev *d, int notes) {
  struct xw_identity id;
  enum xw_stage stage;
  int fds[2];
  int fd = xw_device_open(d->node, &id, &stage);
  if (fd < 0)
    return fd;
  sstrncpy(d->name, id.name, sizeof(d->name));
  int err = xw_pipe_open(notes, fds, &stage);
  if (err != 0) {
    close(fd);
    return err;
  }
  d->drm_fd = fd;
  d->pipe_rd = fds[0];
  d->pipe_wr = fds[1];
  err = xw_subscribe(d->drm_fd, d->pipe_rd, 0);
  if (err != 0)
    bl_close(d);
  return err;
}

int bl_create(struct bl_reader **out, char *const *nodes, size_t n, int notes,
              bool time_reads) {
  struct bl_reader *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return -ENOMEM;
  r->devs = calloc(n, sizeof(*r->devs));
  if (r->devs == NULL) {
    free(r);
    return -ENOMEM;
  }
  r->ndev = n;
  r->time_reads = time_reads;
  int err = 0;
  for (size_t i = 0; i < n && err == 0; i++) {
    struct bl_dev *d = &r->devs[i];
    d->drm_fd = d->pipe_rd = d->pipe_wr = -1;
    d->stop = &r->stop;
    d->node = strdup(nodes[i]);
    if (d->node == NULL) {
      err = -ENOMEM;
      break;
    }
    err = bl_open(d, notes);
    if (err != 0)
      ERROR("xw-bench baseline: %s: %s", nodes[i], STRERROR(-err));
  }
  if (err != 0) {
    bl_destroy(r);
    return err;
  }
  *out = r;
  return 0;
}

int bl_start(struct bl_reader *r) {
  for (size_t i = 0; i < r->ndev; i++) {
    struct bl_dev *d = &r->devs[i];
    d->time_reads = r->time_reads;
    int err = pthread_create(&d->thread, NULL, bl_main, d);
    if (err != 0) {
      bl_stop(r);
      return -err;
    }
    d->started = true;
  }
  return 0;
}

void bl_stop(struct bl_reader *r) {
  atomic_store(&r->stop, true);
  for (size_t i = 0; i < r->ndev; i++) {
    if (r->devs[i].started)
      pthread_join(r->devs[i].thread, NULL);
    r->devs[i].started = false;
  }
}

void bl_destroy(struct bl_reader *r) {
  if (r == NULL)
    return;
  bl_stop(r);
  for (size_t i = 0; i < r->ndev; i++) {
    bl_close(&r->devs[i]);
    free(r->devs[i].node);
  }
  free(r->devs);
  free(r);
}

uint64_t bl_sum(const struct bl_reader *r, size_t field_offset) {
  uint64_t sum = 0;
  for (size_t i = 0; i < r->ndev; i++) {
    const _Atomic uint64_t *c =
        (const _Atomic uint64_t *)((const char *)&r->devs[i] + field_offset);
    sum += atomic_load_explicit(c, memory_order_relaxed);
  }
  return sum;
}
