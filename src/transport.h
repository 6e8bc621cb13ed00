/* SPDX-License-Identifier: MIT */
/* The kernel's notification pipe: create, size, subscribe. */
#ifndef XE_WATCH_TRANSPORT_H
#define XE_WATCH_TRANSPORT_H

#include "device.h"

/**
 * Create a non-blocking, close-on-exec notification pipe sized to `notes`
 * (1..512). No kernel filter is set: records of any type are read.
 *
 * Both ends are returned: the write end must stay open for as long as the
 * read end is used, because reads return EOF once it is closed. Returns 0,
 * or a negative errno with *stage set; nothing is left open on failure.
 */
int xw_pipe_open(int notes, int fds[2], enum xw_stage *stage);

/** Subscribe pipe_fd to the DRM file behind drm_fd as watch_id (0..255)
 *  with the watch ioctl at `request` (a uAPI revision's number). Returns 0
 *  or a negative errno: the ioctl's answer, which for a number the kernel
 *  serves with another ioctl may be anything (EINVAL, ENOENT, EFAULT...). */
int xw_subscribe_as(int drm_fd, int pipe_fd, unsigned watch_id,
                    unsigned long request);

/** xw_subscribe_as with the bundled default revision's number. */
int xw_subscribe(int drm_fd, int pipe_fd, unsigned watch_id);

#endif
