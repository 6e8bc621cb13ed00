/* SPDX-License-Identifier: MIT */
#ifndef XE_WATCH_TRANSPORT_H
#define XE_WATCH_TRANSPORT_H

#include "device.h"

/**
 * Create a non-blocking, close-on-exec notification pipe sized to `notes`
 * (1..512) and filtered to Xe records.
 *
 * Both ends are returned: the write end must stay open for as long as the
 * read end is used, because reads return EOF once it is closed. Returns 0,
 * or a negative errno with *stage set; nothing is left open on failure.
 */
int xw_pipe_open(int notes, int fds[2], enum xw_stage *stage);

/** Subscribe pipe_fd to the DRM file behind drm_fd as watch_id (0..255).
 *  Returns 0 or a negative errno. */
int xw_subscribe(int drm_fd, int pipe_fd, unsigned watch_id);

#endif
