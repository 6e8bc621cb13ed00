/* SPDX-License-Identifier: MIT */
/* Kept apart from the collectd glue: this file talks to the kernel's watch
 * queue and is the only one that needs the uAPI ioctl definitions. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "xe_watch_uapi.h"

/* No IOC_WATCH_QUEUE_SET_FILTER: the kernel silently drops a filter's types
 * it does not know, and a filter then rejects everything unmatched, so a
 * filter on the xe type turns into "reject everything" on a kernel that
 * numbers that type differently, with no error anywhere. The pipe carries
 * only the watches this plugin subscribes (and META records pass any
 * filter), so a filter would save nothing; without one a renumbered record
 * type is read, counted as unknown and logged. */

int xw_pipe_open(int notes, int fds[2], enum xw_stage *stage) {
  int p[2];
  if (pipe2(p, O_NOTIFICATION_PIPE | O_CLOEXEC | O_NONBLOCK) != 0) {
    *stage = XW_STAGE_PIPE;
    return -errno;
  }
  /* Size before subscribing: an unsized queue drops every record. */
  int err = 0;
  if (ioctl(p[0], IOC_WATCH_QUEUE_SET_SIZE, notes) != 0) {
    err = -errno;
    *stage = XW_STAGE_SIZE;
  }
  if (err != 0) {
    close(p[0]);
    close(p[1]);
    return err;
  }
  fds[0] = p[0];
  fds[1] = p[1];
  *stage = XW_STAGE_NONE;
  return 0;
}

int xw_subscribe_as(int drm_fd, int pipe_fd, unsigned watch_id,
                    unsigned long request) {
  struct drm_xe_watch_queue wq = {
      .fd = (__u32)pipe_fd, .watch_id = watch_id, .flags = 0, .pad = 0};
  if (watch_id > DRM_XE_WATCH_ID_MAX)
    return -EINVAL;
  return ioctl(drm_fd, request, &wq) == 0 ? 0 : -errno;
}

int xw_subscribe(int drm_fd, int pipe_fd, unsigned watch_id) {
  return xw_subscribe_as(drm_fd, pipe_fd, watch_id, DRM_IOCTL_XE_WATCH_QUEUE);
}
