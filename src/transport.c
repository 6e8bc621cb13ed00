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

static int set_filter(int fd) {
  struct {
    struct watch_notification_filter f;
    struct watch_notification_type_filter t[1];
  } flt;
  memset(&flt, 0, sizeof(flt));
  flt.f.nr_filters = 1;
  flt.t[0].type = WATCH_TYPE_DRM_XE_NOTIFY;
  /* Every subtype: a subtype newer than this plugin is still counted (as
   * unknown), telling operators the kernel has grown new events. */
  memset(flt.t[0].subtype_filter, 0xff, sizeof(flt.t[0].subtype_filter));
  return ioctl(fd, IOC_WATCH_QUEUE_SET_FILTER, &flt.f) == 0 ? 0 : -errno;
}

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
  } else if ((err = set_filter(p[0])) != 0) {
    *stage = XW_STAGE_FILTER;
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

int xw_subscribe(int drm_fd, int pipe_fd, unsigned watch_id) {
  struct drm_xe_watch_queue wq = {
      .fd = (__u32)pipe_fd, .watch_id = watch_id, .flags = 0, .pad = 0};
  if (watch_id > DRM_XE_WATCH_ID_MAX)
    return -EINVAL;
  return ioctl(drm_fd, DRM_IOCTL_XE_WATCH_QUEUE, &wq) == 0 ? 0 : -errno;
}
